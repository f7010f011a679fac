// The report's headline: the connect latency each proxy ADDS over a router with no service at all,
// against services, and one sentence per finding, generated from the figures. The absolute connect
// time is mostly the namespaces' own cost (the baseline), so ratios of absolute times understate the
// difference; the added latency is what a user of the proxy pays.
import { fmt } from "./table.js";
import type { IpFamily } from "../src/model/types.js";
import { familyOf, groupBy, seriesName, type Result, type Target } from "./types.js";

/** The metric a suite emits for the added latency (p50 through the proxy minus p50 of the baseline). */
export const ADDED_LATENCY_METRIC = "connect_added_p50_us";
/** When that metric is absent, the added latency is computed from these rows of the same run. */
export const CONNECT_METRIC = "connect_p50_us";
export const BASELINE_IMPL = "baseline-no-service";

export interface AddedLatency {
  impl: string;
  /** Absent for IPv4, as in Result. */
  family?: IpFamily;
  services: number;
  us: number;
  /** The baseline's p50 at the same service count, when the run has it. */
  baselineUs?: number;
  samples: number;
}

export interface Headline {
  rows: AddedLatency[];
  /** Where the figures come from: the suite's own metric, or computed here from p50 rows. */
  source: "metric" | "computed";
  suite: string;
}

/** The added latency per proxy and service count: the named metric, else proxy p50 − baseline p50. */
export function addedLatency(results: Result[]): Headline | null {
  // The baseline of the same family: an IPv6 connect is measured against an IPv6 connect.
  const baselineAt = (of: Result) =>
    results.find(
      (r) =>
        r.suite === of.suite &&
        r.impl === BASELINE_IMPL &&
        familyOf(r) === familyOf(of) &&
        r.metric === CONNECT_METRIC &&
        r.services === of.services,
    );
  const named = results.filter((r) => r.metric === ADDED_LATENCY_METRIC && r.impl !== BASELINE_IMPL);
  // The connects behind a difference of two medians: those of the proxy's own p50 row.
  const connects = (r: Result) =>
    results.find(
      (x) =>
        x.suite === r.suite &&
        seriesName(x) === seriesName(r) &&
        x.metric === CONNECT_METRIC &&
        x.services === r.services,
    )?.samples ?? r.samples;
  if (named.length > 0)
    return {
      source: "metric",
      suite: named[0]!.suite,
      rows: named.map((r) => ({
        impl: r.impl,
        ...(r.family ? { family: r.family } : {}),
        services: r.services,
        us: r.value,
        baselineUs: baselineAt(r)?.value,
        samples: connects(r),
      })),
    };
  const rows: AddedLatency[] = [];
  let suite = "";
  for (const r of results) {
    if (r.metric !== CONNECT_METRIC || r.impl === BASELINE_IMPL) continue;
    const base = baselineAt(r);
    if (!base) continue;
    suite = r.suite;
    rows.push({
      impl: r.impl,
      ...(r.family ? { family: r.family } : {}),
      services: r.services,
      us: r.value - base.value,
      baselineUs: base.value,
      samples: Math.min(r.samples, base.samples),
    });
  }
  return rows.length > 0 ? { source: "computed", suite, rows } : null;
}

/** "kube-proxy-iptables-legacy" → "iptables-legacy": the headline's sentences name the mode. */
export const shortImpl = (impl: string) => impl.replace(/^kube-proxy-/, "");

/** 10000 → "10k", 1500 → "1,500". */
export function servicesText(n: number): string {
  if (n >= 1000 && n % 1000 === 0) return `${n / 1000}k`;
  return n.toLocaleString("en-US");
}

const us = (x: number) => `${fmt(x)} µs`;

/** One sentence per finding, from the figures (never written by hand): IPv4's, then IPv6's
 * (each against its own family's baseline), then the targets. */
export function headlineSentences(h: Headline, targets: Target[]): string[] {
  const out: string[] = [];
  for (const rows of groupBy(h.rows, familyOf).values()) {
    const family = familyOf(rows[0]!);
    out.push(...familySentences(rows, family).map((s) => (family === "IPv6" ? `IPv6: ${s}` : s)));
  }
  const missed = targets.filter((t) => !t.met);
  if (targets.length > 0)
    out.push(
      `${targets.length - missed.length} of ${targets.length} targets met` +
        (missed.length ? `; missed: ${missed.map((t) => t.target).join("; ")}.` : "."),
    );
  return out;
}

/** The findings among one family's rows. */
function familySentences(all: AddedLatency[], family: IpFamily): string[] {
  // kube-proxy's IPv6 rules are ip6tables' ("iptables-legacy" over IPv6 is ip6tables-legacy).
  const name = (impl: string) =>
    family === "IPv6" ? shortImpl(impl).replace(/^iptables-/, "ip6tables-") : shortImpl(impl);
  const out: string[] = [];
  const byImpl = groupBy(all, (r) => r.impl);
  const top = Math.max(...all.map((r) => r.services));
  const atTop = all.filter((r) => r.services === top).sort((a, b) => b.us - a.us);
  const base = atTop.find((r) => r.baselineUs !== undefined)?.baselineUs;
  const [first, ...rest] = atTop;
  if (first)
    out.push(
      `At ${servicesText(top)} services ${name(first.impl)} adds ${us(first.us)} to a connect` +
        rest.map((r) => `, ${name(r.impl)} ${us(r.us)}`).join("") +
        (base !== undefined ? ` (p50, over the ${us(base)} of a connect through no service).` : " (p50)."),
    );
  const maplb = atTop.find((r) => r.impl === "maplb");
  const worse = atTop.filter((r) => r.impl !== "maplb" && r.us > 0);
  if (maplb && maplb.us > 0 && worse.length > 0)
    out.push(
      `At ${servicesText(top)} services ` +
        worse.map((r) => `${name(r.impl)} adds ${(r.us / maplb.us).toFixed(1)}×`).join(", ") +
        " what maplb adds.",
    );
  if (maplb && maplb.us <= 0)
    out.push(
      `At ${servicesText(top)} services maplb adds nothing measurable: its p50 is at or below the no-service baseline's.`,
    );
  for (const [impl, rows] of byImpl) {
    const most = Math.max(...rows.map((r) => r.services));
    if (most < top) {
      const r = rows.find((x) => x.services === most)!;
      out.push(`${name(impl)} was measured up to ${servicesText(most)} services, where it adds ${us(r.us)}.`);
    }
  }
  const growth = [...byImpl]
    .map(([impl, rows]) => {
      const sorted = [...rows].sort((a, b) => a.services - b.services);
      return { impl, from: sorted[0]!, to: sorted.at(-1)! };
    })
    .filter((g) => g.to.services > g.from.services)
    .sort((a, b) => b.to.us - b.from.us - (a.to.us - a.from.us));
  for (const g of growth) {
    const d = g.to.us - g.from.us;
    out.push(
      `From ${servicesText(g.from.services)} to ${servicesText(g.to.services)} services, ${name(g.impl)}'s added latency ` +
        `goes from ${us(g.from.us)} to ${us(g.to.us)} (${d >= 0 ? "+" : "−"}${us(Math.abs(d))}).`,
    );
  }
  return out;
}
