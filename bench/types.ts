// The benchmark's vocabulary: suites run cells (one point of the grid) and return results in the
// JSON schema documented in the README.
import type { IpFamily } from "../src/model/types.js";
import { median, percentile } from "../src/util/stats.js";

export type Mode = "quick" | "full";

/** `impl` names fixed by the README's schema. */
export type Impl =
  | "maplb"
  | "kube-proxy-iptables-legacy"
  | "kube-proxy-iptables-nft"
  | "kube-proxy-nftables"
  | "kube-proxy-chain-eval"
  | (string & {});

export interface Result {
  suite: string;
  impl: Impl;
  services: number;
  endpointsPerService: number;
  /** Traffic shape or scenario, e.g. "uniform", "worst-case", "established", "new", "one-endpoint-change". */
  traffic: string;
  /** The address family of the traffic or rules measured; absent means IPv4 (every row before IPv6). */
  family?: IpFamily;
  /** e.g. ns_per_packet, connect_p50_us, program_ms. */
  metric: string;
  /** The median over `samples` unless the metric says otherwise (p90, p99). */
  value: number;
  unit: string;
  samples: number;
  /** What else a reader needs to interpret the row: algorithm and Maglev M, batch size, … */
  params?: Record<string, string | number>;
  /**
   * The interquartile range of the samples behind `value` (same unit), when there were several:
   * `maplb bench compare` derives its noise band from it. Fill it with `summarize(samples)`.
   */
  spread?: { p25: number; p75: number };
}

/** One point of a suite's grid. */
export interface Cell {
  label: string;
  services: number;
  endpointsPerService: number;
  /** A rough duration, for the progress display's time-left estimate. */
  estimateSeconds: number;
  [extra: string]: unknown;
}

export interface SuiteContext {
  mode: Mode;
  /** Datapath chosen for the maplb rows ("kernel" or "emulated"). */
  datapath: "kernel" | "emulated";
  /** Reports progress inside a long cell (0..1). */
  tick(fraction: number): void;
}

export interface Suite {
  name: string;
  title: string;
  /** null when the suite can run here; otherwise the reason it is skipped (printed, never silent). */
  skipReason(ctx: SuiteContext): Promise<string | null>;
  cells(mode: Mode): Cell[];
  run(cell: Cell, ctx: SuiteContext): Promise<Result[]>;
  /** Optional set-up and tear-down around all cells (namespaces, loaded programs). */
  setup?(ctx: SuiteContext): Promise<void>;
  teardown?(): Promise<void>;
  /** The targets for this suite, checked against what was measured (never tuned to pass). */
  targets?(results: Result[]): Target[];
}

export interface Target {
  suite: string;
  target: string;
  measured: string;
  met: boolean;
  /** The measured figure as a number (a ratio, or a value in the line's unit), for `bench compare`. */
  value?: number;
  /**
   * Where the report draws the target: a horizontal line at `y` on this suite's charts of `metric`
   * (and of `traffic`, when given), in the metric's unit; red when the target is missed.
   */
  line?: { metric: string; traffic?: string; y: number };
}

export { median, percentile };

/** A row's family: IPv4 unless it says otherwise. */
export const familyOf = (r: Pick<Result, "family">): IpFamily => r.family ?? "IPv4";

/** The IPv4 rows: the ones the targets were set for (a suite's targets read these). */
export const ipv4Rows = (results: Result[]): Result[] => results.filter((r) => familyOf(r) === "IPv4");

/** How tables and legends name a row's implementation: `maplb`, or `maplb (IPv6)` for an IPv6 row. */
export function seriesName(r: Pick<Result, "impl" | "family">): string {
  return familyOf(r) === "IPv6" ? `${r.impl} (IPv6)` : r.impl;
}

/** A result's figure from its samples: the median, the count, and the interquartile spread. */
export function summarize(samples: number[]): Pick<Result, "value" | "samples" | "spread"> {
  const out = { value: median(samples), samples: samples.length };
  return samples.length > 1
    ? { ...out, spread: { p25: percentile(samples, 25), p75: percentile(samples, 75) } }
    : out;
}

/** Items grouped by a key, in first-seen order. */
export function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}
