// The fast path for reading manifests. The `yaml` library (yaml.ts) is exact and reports errors
// well, but builds a full document model first: about 1.5 ms per Service or EndpointSlice, so 10k
// Services took 30 s to parse. js-yaml builds plain objects directly, about ten times faster. So a
// document is read with js-yaml when nothing in it can read differently in the two libraries, else
// (anchors, tags, complex keys) with `yaml`; directives, and any error, send the whole text to the
// full parser in yaml.ts, which then reports the error.
//
// Documents are split at their `---` lines first. A document whose one top-level `kind:` line names a
// kind maplb does not read (Pod, ConfigMap, …) is not parsed at all: a stub `{ kind }` stands for it,
// which sortObjects ignores as it ignores the full object. (So its syntax is not checked either.)
import jsyaml from "js-yaml";
import { Beside } from "../util/beside.js";
import { parseYaml } from "./yaml.js";

/**
 * Scalars resolve as in `yaml`'s YAML 1.2 core schema (yaml/dist/schema/core), not js-yaml's own:
 * each tag's forms, tried in order (js-yaml keeps one type per tag, so they share one resolver).
 */
function scalar(tag: string, first: string, forms: [RegExp, (s: string) => unknown][]): jsyaml.Type {
  // js-yaml tries every implicit type on every plain scalar, then constructs with the one that
  // matched: a first-character check skips most, and the form found is kept for construct().
  let found: ((s: string) => unknown) | undefined;
  return new jsyaml.Type(`tag:yaml.org,2002:${tag}`, {
    kind: "scalar",
    resolve: (s: string | null) => {
      const text = s ?? "";
      if (text !== "" && !first.includes(text[0]!)) return false;
      found = forms.find(([re]) => re.test(text))?.[1];
      return found !== undefined;
    },
    construct: (s: string | null) => found!(s ?? ""),
  });
}

const CORE_1_2 = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar("null", "~nN", [[/^(?:~|[Nn]ull|NULL)?$/, () => null]]),
    scalar("bool", "tTfF", [[/^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === "t" || s[0] === "T"]]),
    scalar("int", "-+0123456789", [
      [/^0o[0-7]+$/, (s) => parseInt(s.slice(2), 8)],
      [/^[-+]?[0-9]+$/, (s) => parseInt(s, 10)],
      [/^0x[0-9a-fA-F]+$/, (s) => parseInt(s.slice(2), 16)],
    ]),
    scalar("float", "-+.0123456789", [
      [
        /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
        (s) => (s.slice(-3).toLowerCase() === "nan" ? NaN : s[0] === "-" ? -Infinity : Infinity),
      ],
      [/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/, parseFloat],
      [/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/, parseFloat],
    ]),
  ],
});

/** Directives and `...` ends change where documents split: such a text goes to the full parser whole. */
const SPLIT_UNSAFE = [/^%/m, /^\.\.\.(?:[ \t\r]|$)/m];

/**
 * What js-yaml may read differently or does not bound, in one document: anchors and aliases (`yaml`
 * caps alias expansion), tags, complex `?` keys, `<<` merge keys and null keys (`yaml` writes a null
 * key as "", js-yaml as "null"). Such a document is parsed by `yaml` alone (documents are independent).
 */
const NEEDS_YAML_LIBRARY = new RegExp(
  [
    /(?:^|[\s[{,])[&*!]/,
    /(?:^|[\s[{,-])\?(?:[ \t\r]|$)/,
    /<</,
    /(?:^|[\s[{,])(?:~|[Nn]ull|NULL)?:(?:[ \t\r]|$)/,
  ]
    .map((re) => re.source)
    .join("|"),
  "m", // one pass over each document instead of four
);

/** A line that starts a document. */
const DOCUMENT_START = /^---(?=[ \t\r]|$)/gm;
/** A top-level `kind:` line, and the kinds maplb reads (a *List may hold them). */
const KIND_LINE = /^kind:[ \t]*(["']?)([A-Za-z0-9.-]*)\1[ \t]*(?:#.*)?\r?$/gm;
const READ_KINDS = new Set(["Service", "Endpoints", "EndpointSlice"]);

/** Content that is not only blank lines and comments. */
const hasContent = (s: string): boolean => /^[ \t]*[^\s#]/m.test(s);

/** Thrown inside fastDocuments to hand the whole text to the full parser. */
class UseFullParser extends Error {}

/** Texts from this many characters on have the second half of their documents read on a worker. */
export const MIN_BESIDE_CHARS = 4 * 2 ** 20;

/** The documents of `text` in order (null for an empty one), or null: use the full parser. */
export function fastDocuments(text: string, minBeside = MIN_BESIDE_CHARS): unknown[] | null {
  if (SPLIT_UNSAFE.some((re) => re.test(text))) return null;
  const starts = [...text.matchAll(DOCUMENT_START)].map((m) => m.index);
  const chunks: string[] = [];
  // Before the first `---` is a document only when it holds something.
  const head = text.slice(0, starts[0] ?? text.length);
  if (hasContent(head)) chunks.push(head);
  starts.forEach((start, i) => chunks.push(text.slice(start, starts[i + 1] ?? text.length)));
  // A document of a kind maplb ignores is a stub at once. The others are read independently: when
  // they are large, a worker thread reads the second half while this one reads the first (js-yaml
  // reads about 12 MB/s). Its values arrive structured-cloned, which keeps everything a document can
  // hold (own `__proto__` keys, NaN, -0).
  const values = chunks.map((c): unknown => {
    const kind = ignoredKind(c);
    return kind ? { kind } : undefined;
  });
  const toRead = chunks.flatMap((c, i) => (values[i] === undefined ? [i] : []));
  const bytes = toRead.reduce((sum, i) => sum + chunks[i]!.length, 0);
  const half = Math.ceil(toRead.length / 2);
  const theirs = toRead.slice(half);
  const worker =
    bytes >= minBeside && theirs.length > 0
      ? Beside.start<unknown[] | null>(
          "YAML documents",
          new URL("./fast-yaml-worker.js", import.meta.url),
          theirs.map((i) => chunks[i]!),
        )
      : null;
  const mine = worker ? toRead.slice(0, half) : toRead;
  try {
    const first = readDocuments(mine.map((i) => chunks[i]!));
    if (first === null) return null;
    mine.forEach((i, j) => (values[i] = first[j]));
    if (!worker) return values;
    // undefined: the worker failed, so its half is read here
    const second = worker.wait() ?? readDocuments(theirs.map((i) => chunks[i]!));
    if (second === null) return null;
    theirs.forEach((i, j) => (values[i] = second[j]));
    return values;
  } finally {
    worker?.close();
  }
}

/**
 * The values of these documents (none of an ignored kind), or null: one of them needs the full
 * parser, or does not parse.
 */
export function readDocuments(chunks: string[]): unknown[] | null {
  try {
    return chunks.map(readDocument);
  } catch {
    return null; // the full parser finds the error again and reports it with its file's line
  }
}

function readDocument(chunk: string): unknown {
  if (!NEEDS_YAML_LIBRARY.test(chunk)) return jsyaml.load(chunk, { schema: CORE_1_2 }) ?? null;
  // yaml.ts's checks (undefined aliases, alias bombs) apply; its errors would name this document's
  // lines, so the whole text goes to the full parser to report them.
  const values = parseYaml("", chunk);
  if (values.length !== 1) throw new UseFullParser();
  return values[0] ?? null;
}

/** The document's kind when it has exactly one top-level `kind:` line naming a kind maplb ignores. */
function ignoredKind(chunk: string): string | null {
  const lines = [...chunk.matchAll(KIND_LINE)];
  if (lines.length !== 1) return null;
  const kind = lines[0]![2]!;
  return kind !== "" && !READ_KINDS.has(kind) && !kind.endsWith("List") ? kind : null;
}
