// results.md: the run's figures as compact Markdown tables — one per suite, metric and traffic
// shape, a row per grid point and a column per implementation — for the README and for reviews —
// after the report's headline sentences.
import { addedLatency, headlineSentences } from "./headline.js";
import { fmt } from "./table.js";
import { groupBy, seriesName, type Result, type Target } from "./types.js";

function pivot(rows: Result[]): string {
  const impls = [...new Set(rows.map(seriesName))];
  // A grid point is S×E; the ffi suite has no services, and its points are batch sizes.
  const points = [
    ...groupBy(rows, (r) =>
      r.services > 0 ? `${r.services}|${r.endpointsPerService}` : `batch ${r.params?.batch}`,
    ),
  ];
  const head = `| grid point | ${impls.join(" | ")} |`;
  const rule = `|---|${impls.map(() => "---:").join("|")}|`;
  const body = points.map(([, rs]) => {
    const cells = impls.map((i) => {
      const r = rs.find((x) => seriesName(x) === i);
      return r ? fmt(r.value) : "–";
    });
    const r = rs[0]!;
    const where =
      r.services > 0 ? `S=${r.services} E=${r.endpointsPerService}` : `batch=${r.params?.batch ?? "?"}`;
    return `| ${where} | ${cells.join(" | ")} |`;
  });
  return [head, rule, ...body].join("\n");
}

export function resultsMarkdown(results: Result[], targets: Target[], header: string): string {
  const out = [header, ""];
  // The report's headline, the same sentences: what each proxy adds to a connect.
  const h = addedLatency(results);
  if (h)
    out.push(
      "**Headline** — connect latency each proxy adds over a router with no service",
      "",
      ...headlineSentences(h, targets).map((s) => `- ${s}`),
      "",
    );
  for (const [key, rows] of groupBy(results, (r) => `${r.suite}|${r.metric}|${r.traffic}|${r.unit}`)) {
    const [suite, metric, traffic, unit] = key.split("|");
    // Parameters shared by every row of the table; per-cell ones (Maglev M, batch) show in the rows.
    const impl = rows.find((r) => r.impl === "maplb")?.impl ?? rows[0]!.impl;
    const own = rows.filter((r) => r.impl === impl);
    const common = Object.entries(own[0]?.params ?? {}).filter(([k, v]) =>
      own.every((r) => r.params?.[k] === v),
    );
    const note = common.length ? ` (${common.map(([k, v]) => `${k}=${v}`).join(", ")})` : "";
    out.push(`**${suite}** — ${metric} in ${unit}, ${traffic}${note}`, "", pivot(rows), "");
  }
  if (targets.length > 0) {
    out.push("**Targets**", "", "| target | measured | status |", "|---|---|---|");
    for (const t of targets) out.push(`| ${t.target} | ${t.measured} | ${t.met ? "met" : "**missed**"} |`);
    out.push("");
  }
  return out.join("\n");
}
