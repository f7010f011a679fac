// Plain-text tables for the terminal: one per suite, printed as the suite finishes.
import { seriesName, type Result } from "./types.js";

/** Columns before `leftColumns` are text (left-aligned); the rest are figures (right-aligned). */
export function formatTable(header: string[], rows: string[][], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Three significant figures, without exponent noise for the ranges benchmarks produce. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x))));
  return x.toFixed(Math.min(digits, 3));
}

function paramsText(p: Result["params"]): string {
  return p
    ? Object.entries(p)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")
    : "";
}

export const RESULT_COLUMNS = [
  "impl",
  "services",
  "eps/svc",
  "traffic",
  "metric",
  "median",
  "unit",
  "n",
  "params",
];

/** One result as the cells of RESULT_COLUMNS (the terminal table and the HTML report share it). */
export function resultCells(r: Result): string[] {
  return [
    seriesName(r),
    String(r.services),
    String(r.endpointsPerService),
    r.traffic,
    r.metric,
    fmt(r.value),
    r.unit,
    String(r.samples),
    paramsText(r.params),
  ];
}

/** A suite's results as a table: one row per result, in run order. */
export function resultsTable(results: Result[]): string {
  return formatTable(RESULT_COLUMNS, results.map(resultCells));
}
