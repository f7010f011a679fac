// YAML (and JSON, a subset of it) into plain values, one per document. Every way a manifest can fail
// to parse becomes one MaplbError naming the file, the document and the line, never a stack trace:
// syntax errors (tabs, bad indentation, duplicate keys), bytes that are not UTF-8, aliases to an
// anchor that does not exist (anchors do not reach across documents), and alias bombs.
import { Alias, LineCounter, parseAllDocuments, visit, type Document } from "yaml";
import { MaplbError } from "../errors.js";
import { printable } from "../util/escape.js";

/** Alias expansions allowed per document: real manifests use a handful; a billion-laughs bomb needs millions. */
export const MAX_ALIAS_COUNT = 100;

/** Bytes to text; anything that is not UTF-8 is an error at its line (a BOM is dropped). */
export function decodeUtf8(file: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const lossy = new TextDecoder("utf-8").decode(bytes);
    const before = lossy.slice(0, Math.max(0, lossy.indexOf("\uFFFD")));
    const line = before.split("\n").length;
    throw new MaplbError("E_INPUT", `${file} line ${line}: not valid UTF-8 text`, { file, line });
  }
}

/** The error for document `doc` at character `offset` of the file. */
function yamlError(file: string, doc: number, lines: LineCounter, offset: number, what: string): MaplbError {
  const { line, col } = lines.linePos(offset);
  return new MaplbError(
    "E_INPUT",
    `${file} doc ${doc} line ${line} column ${col}: not valid YAML or JSON: ${printable(what)}`,
    { file, doc, line },
  );
}

/** The first alias of the document whose anchor is not defined before it, in the same document. */
function unresolvedAlias(d: Document): Alias | undefined {
  let found: Alias | undefined;
  visit(d, {
    Alias(_, node) {
      if (node.resolve(d) !== undefined) return undefined;
      found = node;
      return visit.BREAK;
    },
  });
  return found;
}

function firstAlias(d: Document): Alias | undefined {
  let found: Alias | undefined;
  visit(d, { Alias: (_, node) => ((found = node), visit.BREAK) });
  return found;
}

/** The documents of one file, as plain values (`null` for an empty document). */
export function parseYaml(file: string, text: string): unknown[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { prettyErrors: false, lineCounter: lines });
  if (!Array.isArray(docs)) return []; // an empty stream
  return docs.map((d, i) => {
    const err = d.errors[0];
    if (err) throw yamlError(file, i, lines, err.pos[0], err.message.split("\n")[0]!);
    const dangling = unresolvedAlias(d);
    if (dangling)
      throw yamlError(
        file,
        i,
        lines,
        dangling.range?.[0] ?? 0,
        `alias *${dangling.source} has no anchor &${dangling.source} before it in this document`,
      );
    try {
      return d.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
    } catch (e) {
      // toJS throws only on resource exhaustion here (aliases resolve, checked above).
      const at = firstAlias(d)?.range?.[0] ?? 0;
      throw yamlError(file, i, lines, at, `aliases expand too far (${(e as Error).message.split("\n")[0]})`);
    }
  });
}
