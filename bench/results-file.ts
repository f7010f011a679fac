// Reading a results.json written by `maplb bench` back in (for `bench compare`): every field the
// comparison uses is checked, and a bad one is named with its file and path, e.g.
// "a.json: results[3].value: must be a finite number (got "12 ms")".
import { readFileSync, statSync } from "node:fs";
import { MaplbError } from "../src/errors.js";
import { escapeJson, printable } from "../src/util/escape.js";
import type { Result, Target } from "./types.js";

/** The parts of results.json that `bench compare` reads. */
export interface ResultsFile {
  path: string;
  startedAt: string;
  mode: string;
  datapath: string;
  results: Result[];
  targets: Target[];
}

// Bounds: a full run writes a few thousand rows and well under a megabyte.
const MAX_BYTES = 64 << 20;
const MAX_ROWS = 1_000_000;
const MAX_TEXT = 1000;

type Obj = Record<string, unknown>;

class Reader {
  constructor(readonly file: string) {}

  fail(field: string, problem: string, got?: unknown): never {
    const shown = got === undefined ? "" : ` (got ${escapeJson(got).slice(0, 80)})`;
    throw new MaplbError("E_INPUT", `${printable(this.file)}: ${field}: ${problem}${shown}`, {
      file: this.file,
      field,
    });
  }

  object(v: unknown, field: string): Obj {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(field, "must be an object", v);
    return v as Obj;
  }

  array(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, "must be an array", v);
    if (v.length > MAX_ROWS) this.fail(field, `more than ${MAX_ROWS} entries`);
    return v;
  }

  text(o: Obj, key: string, at: string): string {
    const v = o[key];
    if (typeof v !== "string")
      this.fail(`${at}.${key}`, v === undefined ? "missing (must be a string)" : "must be a string", v);
    if (v.length > MAX_TEXT) this.fail(`${at}.${key}`, `longer than ${MAX_TEXT} characters`);
    return v;
  }

  number(o: Obj, key: string, at: string, min = -Infinity): number {
    const v = o[key];
    if (typeof v !== "number" || !Number.isFinite(v))
      this.fail(
        `${at}.${key}`,
        v === undefined ? "missing (must be a finite number)" : "must be a finite number",
        v,
      );
    if (v < min) this.fail(`${at}.${key}`, `must be ≥ ${min}`, v);
    return v;
  }

  result(v: unknown, at: string): Result {
    const o = this.object(v, at);
    const r: Result = {
      suite: this.text(o, "suite", at),
      impl: this.text(o, "impl", at),
      services: this.number(o, "services", at, 0),
      endpointsPerService: this.number(o, "endpointsPerService", at, 0),
      traffic: this.text(o, "traffic", at),
      metric: this.text(o, "metric", at),
      value: this.number(o, "value", at),
      unit: this.text(o, "unit", at),
      samples: this.number(o, "samples", at, 0),
    };
    if (o.family !== undefined) {
      if (o.family !== "IPv4" && o.family !== "IPv6")
        this.fail(`${at}.family`, "must be IPv4 or IPv6", o.family);
      r.family = o.family;
    }
    if (o.params !== undefined) {
      const p = this.object(o.params, `${at}.params`);
      for (const [k, x] of Object.entries(p))
        if (typeof x !== "number" && (typeof x !== "string" || x.length > MAX_TEXT))
          this.fail(`${at}.params.${printable(k)}`, "must be a number or a short string", x);
      r.params = p as Record<string, string | number>;
    }
    if (o.spread !== undefined) {
      const s = this.object(o.spread, `${at}.spread`);
      r.spread = { p25: this.number(s, "p25", `${at}.spread`), p75: this.number(s, "p75", `${at}.spread`) };
      if (r.spread.p75 < r.spread.p25) this.fail(`${at}.spread`, "p75 is below p25", o.spread);
    }
    return r;
  }

  target(v: unknown, at: string): Target {
    const o = this.object(v, at);
    if (typeof o.met !== "boolean") this.fail(`${at}.met`, "must be true or false", o.met);
    const t: Target = {
      suite: this.text(o, "suite", at),
      target: this.text(o, "target", at),
      measured: this.text(o, "measured", at),
      met: o.met,
    };
    if (o.value !== undefined) t.value = this.number(o, "value", at);
    return t;
  }
}

/** Parses and checks one results file's text; `file` names it in errors. */
export function parseResultsFile(text: string, file: string): ResultsFile {
  const rd = new Reader(file);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new MaplbError("E_INPUT", `${printable(file)}: not JSON: ${(err as Error).message}`, { file });
  }
  const top = rd.object(data, "(top level)");
  const optionalText = (key: string) => (top[key] === undefined ? "" : rd.text(top, key, "(top level)"));
  return {
    path: file,
    startedAt: optionalText("startedAt"),
    mode: optionalText("mode"),
    datapath: optionalText("datapath"),
    results: rd.array(top.results, "results").map((r, i) => rd.result(r, `results[${i}]`)),
    targets:
      top.targets === undefined
        ? []
        : rd.array(top.targets, "targets").map((t, i) => rd.target(t, `targets[${i}]`)),
  };
}

export function readResultsFile(path: string): ResultsFile {
  let text: string;
  try {
    if (statSync(path).size > MAX_BYTES) throw new Error(`larger than ${MAX_BYTES >> 20} MiB`);
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new MaplbError("E_INPUT", `${printable(path)}: cannot read: ${(err as Error).message}`, {
      file: path,
    });
  }
  return parseResultsFile(text, path);
}
