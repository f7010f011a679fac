// datapath-kernel: the kernel's own ns per packet for maplb's BPF program, from BPF_PROG_TEST_RUN
// with repeat (the kernel times the runs), on the datapath grid (capped at 1M backends), for
// established flows (conntrack hit) and new flows (every repeat a new source port).
// The frame goes to service 0, whose backends are the frontend itself, so a repeated run sees the
// same bytes after DNAT (see src/datapath/speed.ts); map lookups cost the same for any service.
// At S=10 and 10k × 10 the same runs over IPv6 too (rows with family IPv6): the state in lb6 maps,
// an IPv6 frame, beside the IPv4 rows of the cell.
import type { MapOp } from "../../src/compile/tables.js";
import type { MapMax } from "../../src/datapath/options.js";
import type { KernelDatapath } from "../../src/datapath/kernel.js";
import { openEmulated } from "../../src/datapath/emulated.js";
import { kernelUnavailableReason, openKernel } from "../../src/datapath/kernel.js";
import type { NativeDatapath } from "../../src/datapath/native-datapath.js";
import { type BenchMode, frontendOf, pipelineNsPerPacket, scaleOps } from "../../src/datapath/speed.js";
import { kernelConnectCost, SOCKET_LB_IMPL } from "../socket-lb-cost.js";
import { familyMapMax, maglevSizeFor } from "./datapath-emulated.js";
import { datapathGrid } from "../synthetic.js";
import type { IpFamily } from "../../src/model/types.js";
import {
  ipv4Rows,
  median,
  summarize,
  type Cell,
  type Mode,
  type Result,
  type Suite,
  type Target,
} from "../types.js";

const REPEAT = 100_000;
const SAMPLES = 3;
const MAX_BACKENDS = 1_000_000;
/** The service counts (at 10 endpoints) that get an IPv6 row too. */
const IPV6_SERVICES = [10, 10000];

function gridCells(mode: Mode): Cell[] {
  // Loading 100k services × 10 writes 2.3M kernel map entries one syscall at a time (minutes on
  // this machine): the full grid only.
  const services = mode === "full" ? [10, 100, 1000, 10000, 100000] : [10, 1000, 10000];
  return datapathGrid(services, mode === "full" ? [1, 10, 100, 1000] : [1, 100], 10).filter(
    (c) => c.services * c.endpointsPerService <= MAX_BACKENDS,
  );
}

/** The baseline's impl name in results: an XDP program that only returns XDP_PASS. */
const EMPTY_PROGRAM = "empty XDP program";
/** The host build of the same C on the same maps and frame, timed by its own clock around the loop. */
const HOST_BUILD = "maplb host build";

/** ns per packet of one impl on one target: SAMPLES runs of REPEAT repeats, timed by the target. */
function packetRow(
  cell: Cell,
  impl: string,
  target: NativeDatapath,
  mode: BenchMode,
  params: Result["params"],
  family: IpFamily = "IPv4",
): Result {
  return {
    suite: "datapath-kernel",
    impl,
    ...(family === "IPv6" ? { family } : {}),
    services: cell.services,
    endpointsPerService: cell.endpointsPerService,
    traffic: mode === "new" ? "new" : "established",
    metric: "ns_per_packet",
    ...summarize(Array.from({ length: SAMPLES }, () => pipelineNsPerPacket(target, mode, REPEAT, family))),
    unit: "ns",
    params: { ...params, repeat: REPEAT, hook: target.kind === "kernel" ? "xdp" : "host loop" },
  };
}

/** The kernel datapath and the host build, each with its own maps of `mapMax` programmed with `ops`,
 * for `measure`; both closed after. */
function onBothTargets(
  mapMax: MapMax,
  ops: MapOp[],
  measure: (dp: KernelDatapath, host: NativeDatapath) => Result[],
): Result[] {
  let dp: KernelDatapath | null = null;
  let host: NativeDatapath | null = null;
  try {
    dp = openKernel({ ephemeral: true, mapMax });
    dp.apply(ops);
    host = openEmulated({ mapMax });
    host.apply(ops);
    return measure(dp, host);
  } finally {
    dp?.close();
    host?.close();
  }
}

/** The cell's state in one family's maps: their sizes, and the MapOps that fill them. */
function cellState(cell: Cell, M: number, family: IpFamily): { mapMax: MapMax; ops: MapOp[] } {
  const backends = cell.services * cell.endpointsPerService;
  // IPv4: + one service's entries again, for the socket-LB measure copies service 0 as a UDP frontend.
  const extra = family === "IPv4" ? cell.endpointsPerService + 1 : 0;
  return {
    mapMax: familyMapMax(family, {
      services: cell.services + backends + extra + 16,
      backends: backends + 16,
      reverseNat: cell.services + 16,
      maglev: cell.services * M + 16,
    }),
    ops: scaleOps({
      services: cell.services,
      backendsPerService: cell.endpointsPerService,
      algorithm: "maglev",
      maglevM: M,
      family,
    }),
  };
}

/** maplb's IPv6 row: the cell's state in lb6 maps, the XDP program and the host build, both flows. */
function ipv6Rows(cell: Cell, M: number): Result[] {
  const { mapMax, ops } = cellState(cell, M, "IPv6");
  const params = { algorithm: "maglev", M };
  return onBothTargets(mapMax, ops, (dp, host) =>
    (["established", "new"] as const).flatMap((mode) => [
      packetRow(cell, "maplb", dp, mode, params, "IPv6"),
      packetRow(cell, HOST_BUILD, host, mode, params, "IPv6"),
    ]),
  );
}

export const datapathKernel: Suite = {
  name: "datapath-kernel",
  title: "datapath-kernel: maplb's BPF program, ns per packet from BPF_PROG_TEST_RUN (repeat)",

  async skipReason() {
    return kernelUnavailableReason();
  },

  cells: gridCells,

  async run(cell, ctx) {
    const M = maglevSizeFor(cell.endpointsPerService);
    const { mapMax, ops } = cellState(cell, M, "IPv4");
    const rows = onBothTargets(mapMax, ops, (dp, host) => {
      ctx.tick(0.5);
      const row = (impl: string, mode: BenchMode, params: Result["params"], target: NativeDatapath = dp) =>
        packetRow(cell, impl, target, mode, params);
      // One connect() translation by the socket-LB hooks (a UDP connect(): no packet), against the
      // same call without hooks and with hooks that find no frontend.
      const cost = kernelConnectCost(dp, frontendOf(0), 100_000, SAMPLES);
      const connect = (impl: string, traffic: string, value: number, metric = "ns_per_connect"): Result => ({
        suite: "datapath-kernel",
        impl,
        services: cell.services,
        endpointsPerService: cell.endpointsPerService,
        traffic,
        metric,
        value,
        unit: "ns",
        samples: SAMPLES,
        params: { algorithm: "maglev", M, repeat: 100_000, hook: "cgroup/connect4 (UDP connect)" },
      });
      return [
        connect("no hooks", "connect", cost.none),
        connect(SOCKET_LB_IMPL, "connect/miss", cost.miss),
        connect(SOCKET_LB_IMPL, "connect/translated", cost.translated),
        // The program's own share of the two figures above (run_time_ns / run_cnt).
        connect(SOCKET_LB_IMPL, "connect/miss", cost.hookMiss, "hook_ns_per_connect"),
        connect(SOCKET_LB_IMPL, "connect/translated", cost.hookTranslated, "hook_ns_per_connect"),
        row("maplb", "established", { algorithm: "maglev", M }),
        row("maplb", "new", { algorithm: "maglev", M }),
        // BPF_PROG_TEST_RUN's own cost per run, beside maplb's: a program that only returns XDP_PASS.
        row(EMPTY_PROGRAM, "empty", {}),
        row(HOST_BUILD, "established", { algorithm: "maglev", M }, host),
        row(HOST_BUILD, "new", { algorithm: "maglev", M }, host),
      ];
    });
    ctx.tick(0.8);
    if (cell.endpointsPerService === 10 && IPV6_SERVICES.includes(cell.services))
      rows.push(...ipv6Rows(cell, M));
    return rows;
  },

  targets(all) {
    const results = ipv4Rows(all); // the targets were set for IPv4
    const at = (impl: string, s: number, e: number, traffic: string) =>
      results.find(
        (r) => r.impl === impl && r.services === s && r.endpointsPerService === e && r.traffic === traffic,
      )?.value;
    const out: Target[] = [];
    const of = (impl: string, traffic: string) =>
      results.filter((r) => r.impl === impl && r.traffic === traffic).map((r) => r.value);
    const est = of("maplb", "established");
    const fresh = of("maplb", "new");
    const empty = median(results.filter((r) => r.impl === EMPTY_PROGRAM).map((r) => r.value));
    const worstOf = (limit: number, values: number[], what: string, traffic: string) => {
      if (values.length === 0) return;
      const worst = Math.max(...values);
      out.push({
        suite: "datapath-kernel",
        target: `${what} within ${limit} ns per packet, harness included (every cell)`,
        measured: `worst cell ${worst.toFixed(1)} ns (an empty XDP program: ${empty.toFixed(1)} ns)`,
        met: worst <= limit,
        value: worst,
        line: { metric: "ns_per_packet", traffic, y: limit },
      });
    };
    worstOf(60, est, "established flows", "established");
    worstOf(200, fresh, "new flows", "new");
    if (est.length > 0) {
      const ratio = Math.max(...est) / Math.min(...est);
      out.push({
        suite: "datapath-kernel",
        target: "flat within 1.3× across the grid (established)",
        measured: `${ratio.toFixed(2)}× (max/min)`,
        met: ratio <= 1.3,
      });
    }
    // The host build against the kernel, cell by cell, on the same maps and frame: the worst ratio.
    for (const traffic of ["established", "new"]) {
      const ratios = results
        .filter((r) => r.impl === HOST_BUILD && r.traffic === traffic)
        .flatMap((r) => {
          const k = at("maplb", r.services, r.endpointsPerService, traffic);
          return k === undefined ? [] : [{ r: r.value / k, host: r.value, kernel: k }];
        });
      if (ratios.length === 0) continue;
      const worst = ratios.reduce((a, b) => (b.r > a.r ? b : a));
      out.push({
        suite: "datapath-kernel",
        target: `the host build at least as fast as the kernel on the same path (${traffic}, every cell)`,
        measured: `worst cell ${worst.r.toFixed(2)}× (${worst.host.toFixed(1)} vs ${worst.kernel.toFixed(1)} ns)`,
        met: worst.r <= 1,
      });
    }
    const big = at("maplb", 100000, 10, "established");
    const small = at("maplb", 10, 10, "established");
    if (big !== undefined && small !== undefined)
      out.push({
        suite: "datapath-kernel",
        target: "100k×10 within 1.3× of 10×10 (established)",
        measured: `${(big / small).toFixed(2)}× (${big.toFixed(1)} vs ${small.toFixed(1)} ns)`,
        met: big / small <= 1.3,
      });
    return out;
  },
};
