// Reading manifests: files or directories of multi-document YAML or JSON, including `kind: List`
// (what `kubectl get -o yaml|json` prints). Every object keeps where it came from, for error messages.
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { MaplbError } from "../errors.js";
import { fastDocuments } from "./fast-yaml.js";
import { InputReader, STDIN_PATH } from "./input.js";
import { decodeUtf8, parseYaml } from "./yaml.js";

/** One Kubernetes object and where it came from. */
export interface SourceObject {
  file: string;
  /** Document index in the file; items of a List read "2.items[3]". */
  doc: string;
  object: unknown;
}

const MANIFEST_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

/** Expands directories (recursively, sorted) into manifest files; plain file arguments are kept as given. */
export function manifestFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (p === STDIN_PATH) {
      out.push(p);
      continue;
    }
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new MaplbError("E_INPUT", `cannot read ${p}: no such file or directory`, { path: p });
    }
    if (!st.isDirectory()) {
      out.push(p);
      continue;
    }
    const entries = readdirSync(p, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const child = join(p, e.name);
      if (e.isDirectory()) out.push(...manifestFiles([child]));
      else if (MANIFEST_EXTENSIONS.has(extname(e.name))) out.push(child);
    }
  }
  return out;
}

function isList(o: unknown): o is { items: unknown[] } {
  if (typeof o !== "object" || o === null) return false;
  const kind = (o as { kind?: unknown }).kind;
  return typeof kind === "string" && kind.endsWith("List") && Array.isArray((o as { items?: unknown }).items);
}

/**
 * Parses one file's text (or its bytes, checked to be UTF-8). YAML is a superset of JSON, so a YAML
 * parser reads both: the fast path (fast-yaml.ts) when it can, else yaml.ts, which also reports every
 * error. Any failure, even one the YAML library did not foresee, is an E_INPUT error.
 */
export function parseManifest(file: string, content: string | Uint8Array): SourceObject[] {
  let values: unknown[];
  try {
    const text = typeof content === "string" ? content : decodeUtf8(file, content);
    values = fastDocuments(text) ?? parseYaml(file, text);
  } catch (err) {
    if (err instanceof MaplbError) throw err;
    throw new MaplbError("E_INPUT", `${file}: cannot parse: ${(err as Error).message.split("\n")[0]}`, {
      file,
    });
  }
  const out: SourceObject[] = [];
  values.forEach((obj, i) => {
    if (obj === null || obj === undefined) return; // an empty document, e.g. after a trailing ---
    if (isList(obj))
      obj.items.forEach((item, j) => out.push({ file, doc: `${i}.items[${j}]`, object: item }));
    else out.push({ file, doc: String(i), object: obj });
  });
  return out;
}

/** Reads and parses every manifest; `reader` bounds the bytes read (see input.ts). */
export function readManifests(paths: string[], reader = new InputReader()): SourceObject[] {
  return manifestFiles(paths).flatMap((f) => parseManifest(f === STDIN_PATH ? "<stdin>" : f, reader.read(f)));
}
