// The HTML report: one self-contained file (Chart.js inlined, data inlined) that works offline.
// Log-log charts of cost against services and against endpoints, one line per implementation,
// then every suite's table and the machine description.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Machine } from "./machine.js";
import { RESULT_COLUMNS, resultCells } from "./table.js";
import { groupBy, type Result, type Target } from "./types.js";

export interface ReportInput {
  machine: Machine;
  startedAt: string;
  command: string;
  results: Result[];
  skipped: { suite: string; reason: string }[];
  /** Targets checked against the measured figures (met or missed, with the figure). */
  targets: Target[];
}

/** A chart: one series per impl, x = services or endpoints per service, y = the metric. */
export interface ChartSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: { label: string; points: { x: number; y: number }[] }[];
}

/** The most frequent value: the "held fixed" coordinate of a sweep. */
function mode(xs: number[]): number {
  const counts = groupBy(xs, String);
  return Number([...counts.entries()].sort((a, b) => b[1].length - a[1].length)[0]![0]);
}

/** Sweeps over services (endpoints fixed) and over endpoints (services fixed), per suite/metric/traffic. */
export function chartSpecs(results: Result[]): ChartSpec[] {
  const specs: ChartSpec[] = [];
  const groups = groupBy(results, (r) => `${r.suite}|${r.metric}|${r.traffic}|${r.unit}`);
  for (const [key, rows] of groups) {
    const [suite, metric, traffic, unit] = key.split("|") as [string, string, string, string];
    const sweeps: [string, "services" | "endpointsPerService", "services" | "endpointsPerService"][] = [
      ["services", "services", "endpointsPerService"],
      ["endpoints per service", "endpointsPerService", "services"],
    ];
    for (const [xLabel, x, fixed] of sweeps) {
      const at = mode(rows.map((r) => r[fixed]));
      const sweep = rows.filter((r) => r[fixed] === at);
      if (new Set(sweep.map((r) => r[x])).size < 2) continue;
      const series = [...groupBy(sweep, (r) => r.impl)].map(([impl, rs]) => ({
        label: impl,
        points: rs.map((r) => ({ x: r[x], y: r.value })).sort((a, b) => a.x - b.x),
      }));
      specs.push({
        id: `c${specs.length}`,
        title: `${suite}: ${metric} (${traffic}) vs ${xLabel}, ${fixed === "services" ? "services" : "endpoints/service"} = ${at}`,
        xLabel,
        yLabel: `${metric} (${unit})`,
        series,
      });
    }
  }
  return specs;
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

function htmlTable(header: string[], rows: string[][]): string {
  const th = header.map((h) => `<th>${esc(h)}</th>`).join("");
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>${trs}</tbody></table>`;
}

function chartJsSource(): string {
  // The UMD build is not in chart.js's "exports"; it sits beside the CommonJS entry point.
  const main = createRequire(import.meta.url).resolve("chart.js");
  return readFileSync(join(dirname(main), "chart.umd.min.js"), "utf8");
}

// Runs in the page: draws each spec with log axes and counts the charts that got data.
const PAGE_SCRIPT = `
const specs = JSON.parse(document.getElementById("chart-data").textContent);
const palette = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];
let drawn = 0;
for (const spec of specs) {
  const canvas = document.getElementById(spec.id);
  const chart = new Chart(canvas, {
    type: "line",
    data: { datasets: spec.series.map((s, i) => ({ label: s.label, data: s.points, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], tension: 0 })) },
    options: {
      animation: false, parsing: { xAxisKey: "x", yAxisKey: "y" },
      plugins: { title: { display: true, text: spec.title } },
      scales: { x: { type: "logarithmic", title: { display: true, text: spec.xLabel } },
                y: { type: "logarithmic", title: { display: true, text: spec.yLabel } } },
    },
  });
  if (chart.data.datasets.some((d) => d.data.length > 0)) drawn++;
}
window.maplbChartsDrawn = drawn;
`;

export function renderReport(input: ReportInput): string {
  const specs = chartSpecs(input.results);
  const bySuite = groupBy(input.results, (r) => r.suite);
  const suiteTables = [...bySuite]
    .map(([suite, rows]) => `<h3>${esc(suite)}</h3>` + htmlTable(RESULT_COLUMNS, rows.map(resultCells)))
    .join("\n");
  const m = input.machine;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>maplb benchmark ${esc(input.startedAt)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; } .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.met { color: #2a7d2a; } .missed { color: #b22222; font-weight: bold; }
</style></head><body>
<h1>maplb: O(1) map lookups against O(n) kube-proxy chains</h1>
<p>Run <code>${esc(input.command)}</code> at ${esc(input.startedAt)} on ${esc(m.cpu)} (${m.cores} cores), kernel ${esc(m.kernel)}, Node ${esc(m.node)}. Every figure is a median unless its metric names a percentile.</p>
<h2>Charts</h2><div class="charts">${specs.map((s) => `<div><canvas id="${s.id}" width="520" height="360"></canvas></div>`).join("")}</div>
<h2>Targets</h2>${htmlTable(
    ["suite", "target", "measured", "status"],
    input.targets.map((t) => [t.suite, t.target, t.measured, t.met ? "met" : "MISSED"]),
  )}
<h2>Skipped suites</h2>${input.skipped.length ? `<ul>${input.skipped.map((s) => `<li><b>${esc(s.suite)}</b>: ${esc(s.reason)}</li>`).join("")}</ul>` : "<p>none</p>"}
<h2>Results</h2>${suiteTables}
<h2>Machine</h2>${htmlTable(["kernel", "cpu", "cores", "node"], [[m.kernel, m.cpu, String(m.cores), m.node]])}
<script>${chartJsSource()}</script>
<script type="application/json" id="chart-data">${JSON.stringify(specs).replace(/</g, "\\u003c")}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
