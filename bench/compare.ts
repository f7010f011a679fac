// `maplb bench compare A.json B.json`: the change of every figure between two runs, as the ratio B/A,
// with a noise band from each figure's repeated samples. A figure is matched across the two files by
// suite, impl (and family), metric, traffic, services and endpoints per service (plus any parameter that tells
// apart rows that share those, such as the ffi suite's batch size).
//
// The noise band: a median of n samples whose interquartile range is IQR has a standard error of about
// 1.2533·σ/√n with σ ≈ IQR/1.349 (normal samples). Relative to the figure that is r = SE/value, and
// the ratio of two independent figures has a relative error of √(rA² + rB²). The band is
// 1 ± k·√(rA² + rB²) (k = 2 by default: about 95 %). A figure without a spread (one sample, or a suite
// that does not record it) has no band: its change is shown but not judged.
import { fmt, formatTable } from "./table.js";
import type { ResultsFile } from "./results-file.js";
import { groupBy, seriesName, type Result } from "./types.js";
import { printable } from "../src/util/escape.js";

const MEDIAN_SE_PER_IQR = 1.2533 / 1.349;

export type Verdict = "up" | "down" | "within" | "no band";

export interface FigureChange {
  suite: string;
  impl: string;
  metric: string;
  traffic: string;
  services: number;
  endpointsPerService: number;
  /** The parameters that, besides the fields above, tell this figure apart (e.g. batch). */
  coordinates: Record<string, string | number>;
  unit: string;
  a: number;
  b: number;
  /** b / a; null when a is 0 and b is not. */
  ratio: number | null;
  /** [low, high] of the ratio that noise alone explains; null without a spread on both sides. */
  band: [number, number] | null;
  /** Outside the band: "up" (B larger) or "down"; "within"; or "no band". */
  verdict: Verdict;
}

export interface TargetChange {
  suite: string;
  target: string;
  a: { met: boolean; measured: string } | null;
  b: { met: boolean; measured: string } | null;
}

export interface Comparison {
  a: string;
  b: string;
  /** The band's width in standard errors. */
  k: number;
  figures: FigureChange[];
  onlyInA: string[];
  onlyInB: string[];
  targets: TargetChange[];
}

/** The relative standard error of a figure's median, or null when its samples' spread is unknown. */
export function relativeError(r: Result): number | null {
  if (!r.spread || r.samples < 2 || r.value === 0) return null;
  return (MEDIAN_SE_PER_IQR * (r.spread.p75 - r.spread.p25)) / Math.sqrt(r.samples) / Math.abs(r.value);
}

const baseKey = (r: Result) =>
  [r.suite, seriesName(r), r.metric, r.traffic, r.services, r.endpointsPerService].join("\u0000");

/** Per base key, the parameter names whose values differ between rows sharing it. */
function differingParams(rows: Result[]): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const [key, group] of groupBy(rows, baseKey)) {
    if (group.length < 2) continue;
    const names = new Map<string, Set<string>>();
    for (const n of new Set(group.flatMap((r) => Object.keys(r.params ?? {})))) {
      const values = new Set(group.map((r) => String(r.params?.[n])));
      if (values.size > 1) names.set(n, values);
    }
    out.set(key, names);
  }
  return out;
}

const sameSet = (x: Set<string>, y: Set<string>) => x.size === y.size && [...x].every((v) => y.has(v));

/**
 * The parameters that are coordinates (batch = 1, 64, 1024) rather than measurements (failed = 0, 3):
 * per base key, those that tell rows apart in both files with the same values in both.
 */
function coordinateParams(a: Result[], b: Result[]): Map<string, string[]> {
  const da = differingParams(a);
  const db = differingParams(b);
  const out = new Map<string, string[]>();
  for (const [key, names] of da) {
    const other = db.get(key);
    if (!other) continue;
    out.set(
      key,
      [...names]
        .filter(([n, values]) => other.has(n) && sameSet(values, other.get(n)!))
        .map(([n]) => n)
        .sort(),
    );
  }
  return out;
}

function keyed(file: ResultsFile, params: Map<string, string[]>): Map<string, Result> {
  const out = new Map<string, Result>();
  for (const r of file.results) {
    const names = params.get(baseKey(r)) ?? [];
    const key = [baseKey(r), ...names.map((n) => `${n}=${r.params?.[n]}`)].join("\u0000");
    // A second row under the same key cannot be matched to one figure of the other file: keep the first.
    if (!out.has(key)) out.set(key, r);
  }
  return out;
}

/** A figure's name for the "only in" lists: suite/impl/metric/traffic S E and its coordinates. */
function figureName(r: Result, names: string[]): string {
  const extra = names.map((n) => ` ${n}=${r.params?.[n]}`).join("");
  return `${r.suite}/${seriesName(r)}/${r.metric}/${r.traffic} S=${r.services} E=${r.endpointsPerService}${extra}`;
}

function verdictOf(a: number, b: number, ratio: number | null, band: [number, number] | null): Verdict {
  if (ratio === null) return b > a ? "up" : "down"; // from 0 to something: no band contains it
  if (!band) return "no band";
  if (ratio > band[1]) return "up";
  if (ratio < band[0]) return "down";
  return "within";
}

export function compareResults(a: ResultsFile, b: ResultsFile, k = 2): Comparison {
  const params = coordinateParams(a.results, b.results);
  const inA = keyed(a, params);
  const inB = keyed(b, params);
  const figures: FigureChange[] = [];
  for (const [key, ra] of inA) {
    const rb = inB.get(key);
    if (!rb) continue;
    const ratio = ra.value === 0 ? (rb.value === 0 ? 1 : null) : rb.value / ra.value;
    const ea = relativeError(ra);
    const eb = relativeError(rb);
    const half = ea === null || eb === null ? null : k * Math.hypot(ea, eb);
    const band: [number, number] | null = half === null ? null : [Math.max(0, 1 - half), 1 + half];
    const names = params.get(baseKey(ra)) ?? [];
    figures.push({
      suite: ra.suite,
      impl: seriesName(ra),
      metric: ra.metric,
      traffic: ra.traffic,
      services: ra.services,
      endpointsPerService: ra.endpointsPerService,
      coordinates: Object.fromEntries(names.map((n) => [n, ra.params?.[n] ?? ""])),
      unit: ra.unit === rb.unit ? ra.unit : `${ra.unit}→${rb.unit}`,
      a: ra.value,
      b: rb.value,
      ratio,
      band,
      verdict: verdictOf(ra.value, rb.value, ratio, band),
    });
  }
  const only = (x: Map<string, Result>, y: Map<string, Result>) =>
    [...x].filter(([key]) => !y.has(key)).map(([, r]) => figureName(r, params.get(baseKey(r)) ?? []));
  const targetKey = (t: { suite: string; target: string }) => `${t.suite}\u0000${t.target}`;
  const tb = new Map(b.targets.map((t) => [targetKey(t), t]));
  const ta = new Map(a.targets.map((t) => [targetKey(t), t]));
  const side = (t: { met: boolean; measured: string } | undefined) =>
    t ? { met: t.met, measured: t.measured } : null;
  const targets: TargetChange[] = [
    ...a.targets.map((t) => ({
      suite: t.suite,
      target: t.target,
      a: side(t),
      b: side(tb.get(targetKey(t))),
    })),
    ...b.targets
      .filter((t) => !ta.has(targetKey(t)))
      .map((t) => ({ suite: t.suite, target: t.target, a: null, b: side(t) })),
  ];
  return { a: a.path, b: b.path, k, figures, onlyInA: only(inA, inB), onlyInB: only(inB, inA), targets };
}

const ratioText = (x: number | null) => (x === null ? "∞" : `${x.toFixed(x >= 10 ? 1 : 3)}×`);

/** The comparison for a terminal: every figure, the ones outside the band marked, then the targets. */
export function comparisonText(c: Comparison): string {
  const p = printable;
  const rows = c.figures.map((f) => [
    p(f.suite),
    p(f.impl),
    p(f.metric),
    p(f.traffic),
    String(f.services),
    String(f.endpointsPerService),
    p(
      Object.entries(f.coordinates)
        .map(([n, v]) => `${n}=${v}`)
        .join(" "),
    ),
    fmt(f.a),
    fmt(f.b),
    p(f.unit),
    ratioText(f.ratio),
    f.band ? `${f.band[0].toFixed(3)}–${f.band[1].toFixed(3)}` : "–",
    f.verdict === "up" || f.verdict === "down" ? `${f.verdict.toUpperCase()} *` : f.verdict,
  ]);
  const outside = c.figures.filter((f) => f.verdict === "up" || f.verdict === "down");
  const unbanded = c.figures.filter((f) => f.verdict === "no band").length;
  const lines = [
    `A: ${p(c.a)}`,
    `B: ${p(c.b)}`,
    "",
    formatTable(
      ["suite", "impl", "metric", "traffic", "S", "E", "at", "A", "B", "unit", "B/A", "noise band", "change"],
      rows,
      4,
    ),
    "",
    `${c.figures.length} figures in both; ${outside.length} outside the noise band (* ; ±${c.k} standard errors of the medians), ` +
      `${unbanded} without a band (no spread recorded).`,
  ];
  for (const [title, names] of [
    ["only in A", c.onlyInA],
    ["only in B", c.onlyInB],
  ] as const)
    if (names.length > 0) lines.push(`${title}: ${names.length}`, ...names.map((n) => `  ${p(n)}`));
  const status = (s: TargetChange["a"]) => (s ? `${s.met ? "met" : "MISSED"} (${p(s.measured)})` : "absent");
  const changed = c.targets.filter((t) => t.a?.met !== t.b?.met);
  if (changed.length > 0) {
    lines.push("targets whose status changed:");
    for (const t of changed) lines.push(`  ${p(t.suite)}: ${p(t.target)}: ${status(t.a)} → ${status(t.b)}`);
  }
  return `${lines.join("\n")}\n`;
}
