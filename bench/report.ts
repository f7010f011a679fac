// The HTML report: one self-contained file (Chart.js inlined, data inlined) that works offline.
// At the top, the headline: the connect latency each proxy adds, against services, and one sentence
// per finding. Then the targets (missed ones in red), a chart per suite/metric/traffic sweep, every
// suite's table and the machine description. One colour per implementation on every chart; a log
// axis only where the values span two decades or more, else a linear axis from zero; each target
// drawn as a dashed line on the charts of its metric; a caption under each chart saying what was
// measured and how.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ADDED_LATENCY_METRIC, addedLatency, headlineSentences, type Headline } from "./headline.js";
import type { Machine } from "./machine.js";
import { fmt, RESULT_COLUMNS, resultCells } from "./table.js";
import { familyOf, groupBy, seriesName, type Result, type Target } from "./types.js";

export interface ReportInput {
  machine: Machine;
  startedAt: string;
  command: string;
  results: Result[];
  skipped: { suite: string; reason: string }[];
  /** Suites that started and threw: their rows so far are kept, the error is shown (absent in old files). */
  failed?: { suite: string; reason: string }[];
  /** Targets checked against the measured figures (met or missed, with the figure). */
  targets: Target[];
  /** Each suite's one-line description of what it measures and how (its `title`). */
  suiteTitles?: Record<string, string>;
}

function suiteList(list: { suite: string; reason: string }[]): string {
  if (list.length === 0) return "<p>none</p>";
  return `<ul>${list.map((s) => `<li><b>${esc(s.suite)}</b>: ${esc(s.reason)}</li>`).join("")}</ul>`;
}

export interface SeriesSpec {
  label: string;
  color: string;
  points: { x: number; y: number }[];
  /** Set on a target's dashed line (not an implementation's figures): the target and its figure. */
  target?: { met: boolean; text: string };
  /** An IPv6 series: drawn dotted, in its implementation's colour. */
  ipv6?: boolean;
}

/** A chart: one series per impl, x = services or endpoints per service, y = the metric. */
export interface ChartSpec {
  id: string;
  title: string;
  caption: string;
  xLabel: string;
  yLabel: string;
  xLog: boolean;
  yLog: boolean;
  lowerIsBetter: boolean;
  series: SeriesSpec[];
  /** A target drawn on this chart is missed. */
  missed: boolean;
}

/** Fixed colours for the implementations the suites name; others take the rest in first-seen order. */
const IMPL_COLORS: Record<string, string> = {
  maplb: "#2ca02c",
  "baseline-no-service": "#7f7f7f",
  "kube-proxy-iptables-legacy": "#1f77b4",
  "kube-proxy-iptables-nft": "#ff7f0e",
  "kube-proxy-nftables": "#9467bd",
  "kube-proxy-chain-eval": "#8c564b",
};
const SPARE_COLORS = ["#17becf", "#e377c2", "#bcbd22", "#393b79", "#8c6d31", "#637939", "#7b4173"];
export const TARGET_MET_COLOR = "#444444";
export const TARGET_MISSED_COLOR = "#d00000";

/** One colour per implementation for the whole report. */
export function implColors(results: Result[]): Map<string, string> {
  const m = new Map<string, string>();
  let spare = 0;
  for (const r of results)
    if (!m.has(r.impl)) m.set(r.impl, IMPL_COLORS[r.impl] ?? SPARE_COLORS[spare++ % SPARE_COLORS.length]!);
  return m;
}

/** One series per implementation and family, points sorted by x: an IPv6 series keeps its
 * implementation's colour and is drawn dotted. */
function familySeries<R extends { impl: string; family?: Result["family"] }>(
  rows: R[],
  colors: Map<string, string>,
  point: (r: R) => { x: number; y: number },
): SeriesSpec[] {
  return [...groupBy(rows, seriesName)].map(([label, rs]) => ({
    label,
    color: colors.get(rs[0]!.impl) ?? SPARE_COLORS[0]!,
    points: rs.map(point).sort((a, b) => a.x - b.x),
    ...(familyOf(rs[0]!) === "IPv6" ? { ipv6: true } : {}),
  }));
}

/** The caption's note on IPv6 series, when a chart has any. */
const ipv6Note = (series: SeriesSpec[]) =>
  series.some((s) => s.ipv6)
    ? " Series marked (IPv6), dotted, are the same measurement over IPv6 (2001:db8::/32), beside the IPv4 ones."
    : "";

/** Rates (per second) are better higher; times, sizes and rule counts are better lower. */
export function lowerIsBetter(metric: string, unit: string): boolean {
  return !(/(^|_)(pps|per_s|per_sec|per_second)$/.test(metric) || unit.endsWith("/s"));
}

/** Log only when the values span two decades or more (and are all positive). */
export function spansDecades(values: number[]): boolean {
  const min = Math.min(...values);
  return min > 0 && Math.max(...values) / min >= 100;
}

/** The most frequent value: the "held fixed" coordinate of a sweep. */
function mode(xs: number[]): number {
  const counts = groupBy(xs, String);
  return Number([...counts.entries()].sort((a, b) => b[1].length - a[1].length)[0]![0]);
}

const METRIC_TEXT: Record<string, string> = {
  ns_per_packet: "time per packet",
  connect_p50_us: "TCP connect time, p50",
  connect_p90_us: "TCP connect time, p90",
  connect_p99_us: "TCP connect time, p99",
  connect_added_p50_us: "added connect time, p50",
  conn_per_s: "short connections per second",
  cpu_us_per_conn: "CPU time per connection",
  program_ms: "time to program",
  map_bytes_per_service: "map bytes per service",
  map_bytes_per_backend: "map bytes per backend",
  map_bytes_total: "map bytes in all",
  iptables_rules: "iptables rules",
  ns_per_call: "time per FFI call",
  ffi_overhead_ns_per_packet: "FFI overhead per packet",
};
const metricText = (m: string) => METRIC_TEXT[m] ?? m.replace(/_/g, " ");
const unitText = (u: string) => (u === "us" ? "µs" : u);

/** "the median of 5 samples", "the 99th percentile of 400 samples", "one measurement". */
function statText(metric: string, rows: { samples: number }[]): string {
  const ns = rows.map((r) => r.samples);
  const lo = Math.min(...ns);
  const hi = Math.max(...ns);
  if (hi <= 1) return "one measurement";
  const n = lo === hi ? `${lo}` : `${lo}–${hi}`;
  // Rates and costs per operation are totals over the run divided by the count, not a median.
  if (/(^|_)(pps|per_s|per_sec|per_second|per_conn)$/.test(metric)) return `measured over ${n} operations`;
  const p = /_p(\d+)_/.exec(metric)?.[1];
  return p && p !== "50" ? `the ${p}th percentile of ${n} samples` : `the median of ${n} samples`;
}

function axisText(xLog: boolean, yLog: boolean): string {
  const y = yLog ? "log y axis (the values span two decades or more)" : "linear y axis from zero";
  return `${xLog ? "log" : "linear"} x axis, ${y}`;
}

/** Dashed target lines across the chart's x range, for the targets that name this chart's metric. */
function targetSeries(
  targets: Target[],
  suite: string | null,
  metric: string,
  traffic: string | null,
  unit: string,
  xs: number[],
): SeriesSpec[] {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return targets
    .filter(
      (t) =>
        t.line &&
        t.line.metric === metric &&
        (suite === null || t.suite === suite) &&
        (t.line.traffic === undefined || traffic === null || t.line.traffic === traffic),
    )
    .map((t) => ({
      // Short in the legend (it must fit a small chart); the full text sits under the chart.
      label: `target ${fmt(t.line!.y)} ${unitText(unit)}${t.met ? " (met)" : " — MISSED"}`,
      color: t.met ? TARGET_MET_COLOR : TARGET_MISSED_COLOR,
      points: [
        { x: lo, y: t.line!.y },
        { x: hi, y: t.line!.y },
      ],
      target: { met: t.met, text: `${t.target} (measured ${t.measured})` },
    }));
}

function finishSpec(spec: Omit<ChartSpec, "xLog" | "yLog" | "missed">, targets: SeriesSpec[]): ChartSpec {
  const xs = spec.series.flatMap((s) => s.points.map((p) => p.x));
  // The data decides the y axis; a target line far below it (1 µs under 100 µs) must not make it log.
  const ys = spec.series.flatMap((s) => s.points.map((p) => p.y));
  const xLog = spansDecades(xs);
  const yLog = spansDecades(ys);
  return {
    ...spec,
    xLog,
    yLog,
    caption: `${spec.caption} ${axisText(xLog, yLog)}.${ipv6Note(spec.series)}`,
    series: [...spec.series, ...targets],
    missed: targets.some((t) => t.target && !t.target.met),
  };
}

/** The headline chart: added connect latency against services, one series per proxy. */
export function headlineSpec(h: Headline, input: Pick<ReportInput, "results" | "targets">): ChartSpec {
  const series = familySeries(h.rows, implColors(input.results), (r) => ({ x: r.services, y: r.us }));
  const how =
    h.source === "metric"
      ? `the ${h.suite} suite's metric ${ADDED_LATENCY_METRIC}`
      : `computed here: each proxy's connect_p50_us minus the no-service baseline's at the same service count, same run`;
  const caption =
    `Added connect latency: the p50 time of a TCP connect through a router namespace running the proxy, ` +
    `to the service last in kube-proxy's chain (its worst case), minus the p50 through the same router with ` +
    `no service at all; paths measured interleaved with one client and server; ${statText("p50", h.rows)} per point ` +
    `(${how}).`;
  const targets = targetSeries(
    input.targets,
    null,
    ADDED_LATENCY_METRIC,
    null,
    "us",
    h.rows.map((r) => r.services),
  );
  return finishSpec(
    {
      id: "headline",
      title: "Connect latency added by each proxy, against services",
      caption,
      xLabel: "services",
      yLabel: "added connect latency (µs)",
      lowerIsBetter: true,
      series,
    },
    targets,
  );
}

/** Sweeps over services (endpoints fixed) and over endpoints (services fixed), per suite/metric/traffic. */
export function chartSpecs(
  results: Result[],
  targets: Target[] = [],
  suiteTitles: Record<string, string> = {},
): ChartSpec[] {
  const colors = implColors(results);
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
      const series = familySeries(sweep, colors, (r) => ({ x: r[x], y: r.value }));
      // A suite's title reads "name: what it measures"; the caption wants the second half.
      const title = suiteTitles[suite];
      const how = title ? ` — ${title.replace(/^[^:]*:\s*/, "")}.` : ":";
      const held = fixed === "services" ? `services = ${at}` : `endpoints per service = ${at}`;
      const lines = targetSeries(
        targets,
        suite,
        metric,
        traffic,
        unit,
        sweep.map((r) => r[x]),
      );
      specs.push(
        finishSpec(
          {
            id: `c${specs.length}`,
            title: `${suite}: ${metricText(metric)}, ${traffic}, by ${x === "services" ? "services" : "endpoints"}`,
            caption:
              `${suite}${how} Plotted: ${metric} in ${unitText(unit)}, traffic ${traffic}, ${held}; ` +
              `each point is ${statText(metric, sweep)};`,
            xLabel,
            yLabel: `${metricText(metric)} (${unitText(unit)})`,
            lowerIsBetter: lowerIsBetter(metric, unit),
            series,
          },
          lines,
        ),
      );
    }
  }
  return specs;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function htmlTable(
  header: string[],
  rows: string[][],
  rowClass: (i: number) => string = () => "",
  tableClass = "",
): string {
  const th = header.map((h) => `<th>${esc(h)}</th>`).join("");
  const trs = rows
    .map((r, i) => {
      const cls = rowClass(i);
      return `<tr${cls ? ` class="${cls}"` : ""}>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`;
    })
    .join("\n");
  return `<table${tableClass ? ` class="${tableClass}"` : ""}><thead><tr>${th}</tr></thead><tbody>${trs}</tbody></table>`;
}

function chartJsSource(): string {
  // The UMD build is not in chart.js's "exports"; it sits beside the CommonJS entry point.
  const main = createRequire(import.meta.url).resolve("chart.js");
  return readFileSync(join(dirname(main), "chart.umd.min.js"), "utf8");
}

function chartBox(s: ChartSpec, wide = false): string {
  const cls = ["chart", s.missed ? "missed-chart" : "", wide ? "wide" : ""].filter(Boolean).join(" ");
  const lines = s.series.flatMap((x) => (x.target ? [x.target] : []));
  const flag = lines
    .map(
      (t) =>
        `<p class="${t.met ? "met" : "missed"}">${t.met ? "Target met" : "Target MISSED"}: ${esc(t.text)}</p>`,
    )
    .join("");
  const [w, h] = wide ? [1000, 420] : [520, 360];
  return `<figure class="${cls}" data-chart="${esc(s.id)}"><canvas id="${esc(s.id)}" width="${w}" height="${h}"></canvas>${flag}<figcaption>${esc(s.caption)}</figcaption></figure>`;
}

// Runs in the page: draws each spec and counts the charts that got data. Ticks: on a log axis only
// 1, 2 and 5 × 10^k are labelled; every label is compact (2k, 1.5M).
const PAGE_SCRIPT = `
const specs = JSON.parse(document.getElementById("chart-data").textContent);
const compact = (v) => {
  const a = Math.abs(v);
  if (a >= 1e6) return +(v / 1e6).toPrecision(3) + "M";
  if (a >= 1e3) return +(v / 1e3).toPrecision(3) + "k";
  return String(+v.toPrecision(3));
};
const logTick = (steps) => (v) => {
  const m = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
  return steps.some((k) => Math.abs(m - k) < 1e-6) ? compact(v) : "";
};
// x (services, endpoints): powers of ten; y: 1, 2 and 5 × 10^k.
const axis = (log, label, steps) => ({
  type: log ? "logarithmic" : "linear",
  ...(log ? {} : { beginAtZero: true, min: 0 }),
  title: { display: true, text: label },
  ticks: { callback: log ? logTick(steps) : compact, autoSkip: true, maxRotation: 0 },
  // Unlabelled log ticks (3, 4, 30 …) keep a faint grid line: the scale stays readable, not busy.
  grid: { color: (c) => (c.tick && c.tick.label === "" ? "rgba(0,0,0,0.04)" : "rgba(0,0,0,0.14)") },
});
let drawn = 0;
for (const spec of specs) {
  const chart = new Chart(document.getElementById(spec.id), {
    type: "line",
    data: { datasets: spec.series.map((s) => ({
      label: s.label, data: s.points, borderColor: s.color, backgroundColor: s.color, tension: 0,
      borderWidth: s.target ? 2 : 2.5, borderDash: s.target ? [6, 4] : s.ipv6 ? [2, 3] : [], pointRadius: s.target ? 0 : 3,
      pointStyle: s.ipv6 ? "triangle" : "circle",
      maplbTarget: s.target ? s.target.met : undefined,
    })) },
    options: {
      animation: false, responsive: false, parsing: { xAxisKey: "x", yAxisKey: "y" },
      plugins: {
        title: { display: true, text: spec.title, font: { size: 14 } },
        legend: { position: "bottom", labels: { usePointStyle: true, pointStyle: "line", pointStyleWidth: 32 }, title: { display: true, text: spec.lowerIsBetter ? "lower is better" : "higher is better", font: { weight: "bold" } } },
      },
      scales: { x: axis(spec.xLog, spec.xLabel, [1]), y: axis(spec.yLog, spec.yLabel, [1, 2, 5]) },
    },
  });
  if (chart.data.datasets.some((d) => d.data.length > 0)) drawn++;
}
window.maplbChartsDrawn = drawn;
`;

function headlineHtml(h: Headline | null, spec: ChartSpec | null, targets: Target[]): string {
  if (!h || !spec)
    return `<p>No connect-latency figures in this run (the netfilter-real suite did not run), so no headline.</p>`;
  const items = headlineSentences(h, targets).map((s) => `<li>${esc(s)}</li>`);
  return `<ul class="findings">${items.join("")}</ul>${chartBox(spec, true)}`;
}

export function renderReport(input: ReportInput): string {
  const h = addedLatency(input.results);
  const head = h ? headlineSpec(h, input) : null;
  const specs = [...(head ? [head] : []), ...chartSpecs(input.results, input.targets, input.suiteTitles)];
  const bySuite = groupBy(input.results, (r) => r.suite);
  const suiteTables = [...bySuite]
    .map(([suite, rows]) => `<h3>${esc(suite)}</h3>` + htmlTable(RESULT_COLUMNS, rows.map(resultCells)))
    .join("\n");
  const m = input.machine;
  const missed = input.targets.filter((t) => !t.met).length;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>maplb benchmark ${esc(input.startedAt)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
td:first-child, th:first-child, table.text td, table.text th { text-align: left; } .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
figure.chart { margin: 0; padding: 6px; border: 1px solid #ddd; } figure.wide { max-width: 1012px; }
figure.missed-chart { border: 2px solid ${TARGET_MISSED_COLOR}; background: #fff5f5; }
figcaption { font-size: 12px; color: #444; margin-top: 4px; }
.findings li { margin: 0.2em 0; font-size: 15px; }
figure p.met { color: #2a7d2a; margin: 4px 0; } figure p.missed { margin: 4px 0; }
tr.missed td { background: #ffe5e5; } .missed { color: ${TARGET_MISSED_COLOR}; font-weight: bold; }
</style></head><body>
<h1>maplb: O(1) map lookups against O(n) kube-proxy chains</h1>
<p>Run <code>${esc(input.command)}</code> at ${esc(input.startedAt)} on ${esc(m.cpu)} (${m.cores} cores), kernel ${esc(m.kernel)}, Node ${esc(m.node)}. Every figure is a median unless its metric names a percentile.</p>
<h2>Headline</h2>${headlineHtml(h, head, input.targets)}
<h2>Targets${missed ? ` <span class="missed">(${missed} missed)</span>` : ""}</h2>${htmlTable(
    ["suite", "target", "measured", "status"],
    input.targets.map((t) => [t.suite, t.target, t.measured, t.met ? "met" : "MISSED"]),
    (i) => (input.targets[i]!.met ? "" : "missed"),
    "text",
  )}
<h2>Charts</h2><div class="charts">${specs
    .filter((s) => s !== head)
    .map((s) => chartBox(s))
    .join("")}</div>
<h2>Failed suites</h2>${suiteList(input.failed ?? [])}
<h2>Skipped suites</h2>${suiteList(input.skipped)}
<h2>Results</h2>${suiteTables}
<h2>Machine</h2>${htmlTable(["kernel", "cpu", "cores", "node"], [[m.kernel, m.cpu, String(m.cores), m.node]])}
<script>${chartJsSource()}</script>
<script type="application/json" id="chart-data">${JSON.stringify(specs).replace(/</g, "\\u003c")}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
