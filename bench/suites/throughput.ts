// throughput: packets per second on one core through maplb's XDP program with real frames, the
// figure Katran and Cilium publish. BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES runs the frame
// through the real XDP path (page pool, xdp_buff, and for XDP_PASS an skb into the stack), on the
// loopback device of a namespace of the suite's own, so the passed frames go nowhere. Beside maplb,
// the empty XDP program the same way: the harness's floor, and maplb's share of it.
import type { KernelDatapath } from "../../src/datapath/kernel.js";
import { kernelUnavailableReason, openKernel } from "../../src/datapath/kernel.js";
import { type BenchMode, liveNsPerFrame, scaleOps } from "../../src/datapath/speed.js";
import { Topology } from "../../src/netns/netns.js";
import { maglevSizeFor } from "./datapath-emulated.js";
import { datapathGrid } from "../synthetic.js";
import { median, summarize, type Cell, type Mode, type Result, type Suite } from "../types.js";

// New flows stamp each frame with the next 16-bit source port (maplb_bench_new_flows): a cell's
// warm-up and samples together stay under 65,536 frames, so every new-flow frame is a new flow.
const REPEAT = 20_000;
const SAMPLES = 3;
const ENDPOINTS = 10;
const EMPTY_PROGRAM = "empty XDP program";

let topo: Topology | null = null;
let netns: string | null = null;

function cells(mode: Mode): Cell[] {
  const services = mode === "full" ? [10, 1000, 10000, 100000] : [10, 1000, 10000];
  // Loading S×10 backends with Maglev rows costs ~1 s per 10k services here.
  return datapathGrid(services, [], 100);
}

export const throughput: Suite = {
  name: "throughput",
  title: "throughput: Mpps on one core through the XDP program with live frames (BPF_F_TEST_XDP_LIVE_FRAMES)",

  async skipReason() {
    return kernelUnavailableReason();
  },

  cells,

  async setup() {
    topo = new Topology("tput");
    netns = `/run/netns/${topo.addNamespace("live")}`;
  },

  async run(cell, ctx) {
    const M = maglevSizeFor(ENDPOINTS);
    const backends = cell.services * ENDPOINTS;
    let dp: KernelDatapath | null = null;
    try {
      dp = openKernel({
        ephemeral: true,
        mapMax: {
          lb4_services: cell.services + backends + 16,
          lb4_backends: backends + 16,
          lb4_reverse_nat: cell.services + 16,
          lb4_maglev: cell.services * M + 16,
          lb4_backend_stats: backends + 16,
        },
      });
      dp.apply(
        scaleOps({ services: cell.services, backendsPerService: ENDPOINTS, algorithm: "maglev", maglevM: M }),
      );
      ctx.tick(0.5);
      const row = (impl: string, mode: BenchMode, traffic: string, floorNs?: number): Result => {
        liveNsPerFrame(dp!, netns, mode, REPEAT / 10); // warm-up: page pool, JIT caches
        const ns = Array.from({ length: SAMPLES }, () => liveNsPerFrame(dp!, netns, mode, REPEAT));
        const nsMedian = median(ns);
        return {
          suite: "throughput",
          impl,
          services: cell.services,
          endpointsPerService: ENDPOINTS,
          traffic,
          metric: "packets_per_s", // a rate: the report draws it higher-is-better
          // Mpps from each sample's ns per frame, so the spread is in the figure's own unit.
          ...summarize(ns.map((n) => 1000 / n)),
          unit: "Mpps",
          params: {
            ns_per_frame: nsMedian,
            ...(floorNs !== undefined ? { of_empty: +(floorNs / nsMedian).toFixed(3) } : {}),
            algorithm: "maglev",
            M,
            repeat: REPEAT,
            hook: "xdp live frames, lo",
          },
        };
      };
      const empty = row(EMPTY_PROGRAM, "empty", "empty");
      const floorNs = empty.params!.ns_per_frame as number;
      return [
        empty,
        row("maplb", "established", "established", floorNs),
        row("maplb", "new", "new", floorNs),
      ];
    } finally {
      dp?.close();
    }
  },

  async teardown() {
    topo?.cleanup();
    topo = null;
    netns = null;
  },
};
