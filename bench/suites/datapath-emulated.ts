// datapath-emulated: ns per packet for maplb's pipeline (the host build of the same C the kernel
// runs, over simulated BPF maps) against kube-proxy's nat table walked by the native chain
// evaluator — in one process, each batch of packets through one FFI call.
//   grid: S ∈ {10, 100, 1k, 10k, 100k} services at 10 endpoints, E ∈ {1, 10, 100, 1000} at 1k services
//   traffic: uniform over services, and worst case (every packet to the service last in KUBE-SERVICES)
//   maplb rows: new flows (conntrack miss, service lookup, Maglev, DNAT) and established flows (hit)
//   chain-eval rows: new connections (only they walk the nat table; conntrack carries the rest)
import { Compiler } from "../../src/compile/compiler.js";
import { Scope } from "../../src/compile/tables.js";
import type { EmulatedDatapath } from "../../src/datapath/emulated.js";
import { emulatedConnectNs, SOCKET_LB_IMPL } from "../socket-lb-cost.js";
import { packFrames, type NativeDatapath } from "../../src/datapath/native-datapath.js";
import { openDatapath } from "../../src/datapath/open.js";
import { buildFrame } from "../../src/datapath/packet.js";
import { structSize } from "../../src/datapath/codec.js";
import { ChainEvaluator, packPackets, type IptPacket } from "../../src/iptables-eval/evaluator.js";
import { buildIptablesRules } from "../../src/kubeproxy/iptables-rules.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig, type ServiceModel } from "../../src/model/types.js";
import { intToIpv4 } from "../../src/util/ip.js";
import { datapathGrid, syntheticModel } from "../synthetic.js";
import { summarize, type Cell, type Mode, type Result, type Suite, type Target } from "../types.js";

const NODE: NodeConfig = { ...DEFAULT_NODE_CONFIG, clusterCIDR: "198.18.128.0/17", nfacct: false };
const BATCH = 8192;
const ROUNDS = 5;
/** Chain-eval rounds stop growing past this many rule evaluations, so 100k services stay bounded. */
const CHAIN_EVAL_BUDGET = 40e6;

/** Maglev M per cell: a prime at least ~25× the backends, from Cilium's list of sizes. */
export function maglevSizeFor(endpoints: number): number {
  return endpoints <= 10 ? 251 : endpoints <= 100 ? 4093 : 16381;
}

type Shape = "uniform" | "worst-case";

/** Service index of packet i. Uniform spreads packets over every service; worst case hits the last. */
function serviceOf(shape: Shape, i: number, services: number): number {
  return shape === "worst-case" ? services - 1 : (i * 7919) % services;
}

/** BATCH packets of new connections to the cell's services; `round` makes every 5-tuple new. */
function packets(model: ServiceModel, shape: Shape, round: number): IptPacket[] {
  const out: IptPacket[] = [];
  for (let i = 0; i < BATCH; i++) {
    const p = model.ports[serviceOf(shape, i, model.ports.length)]!;
    out.push({
      srcIp: intToIpv4(0xc6120000 + 0x4000 + ((round * BATCH + i) >>> 14)), // clients in 198.18.64.0/18
      dstIp: p.clusterIP!,
      srcPort: 1024 + ((round * BATCH + i) & 0x3fff),
      dstPort: p.port,
      protocol: "tcp",
    });
  }
  return out;
}

function frames(pkts: IptPacket[]) {
  return packFrames(
    pkts.map((p) =>
      buildFrame({ src: p.srcIp, dst: p.dstIp, sport: p.srcPort, dport: p.dstPort, proto: "TCP" }),
    ),
  );
}

const nsSince = (t0: bigint) => Number(process.hrtime.bigint() - t0);

function result(
  cell: Cell,
  impl: string,
  traffic: string,
  samples: number[],
  params: Result["params"],
): Result {
  return {
    suite: "datapath-emulated",
    impl,
    services: cell.services,
    endpointsPerService: cell.endpointsPerService,
    traffic,
    metric: "ns_per_packet",
    ...summarize(samples),
    unit: "ns",
    params,
  };
}

/** maplb: new flows (each round's 5-tuples are new) and established flows (the same batch again). */
function measureMaplb(
  dp: NativeDatapath,
  model: ServiceModel,
  shape: Shape,
): { fresh: number[]; established: number[] } {
  const fresh: number[] = [];
  const established: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const batch = frames(packets(model, shape, round + 1));
    const pristine = Uint8Array.from(batch.buffer);
    let t0 = process.hrtime.bigint();
    dp.processBatch(batch);
    fresh.push(nsSince(t0) / BATCH);
    batch.buffer.set(pristine); // frames are rewritten in place: send the originals again
    t0 = process.hrtime.bigint();
    dp.processBatch(batch);
    established.push(nsSince(t0) / BATCH);
  }
  return { fresh, established };
}

function measureChainEval(ev: ChainEvaluator, model: ServiceModel, shape: Shape): number[] {
  const samples: number[] = [];
  const rulesPerPacket = shape === "worst-case" ? model.ports.length : model.ports.length / 2;
  const n = Math.max(64, Math.min(BATCH, Math.floor(CHAIN_EVAL_BUDGET / (rulesPerPacket + 10))));
  const packed = packPackets(packets(model, shape, 0).slice(0, n));
  const results = new Uint8Array(structSize("ipt_result") * n);
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint();
    ev.evalBatch(packed, results);
    samples.push(nsSince(t0) / n);
  }
  return samples;
}

function gridCells(mode: Mode): Cell[] {
  return datapathGrid(
    [10, 100, 1000, 10000, 100000],
    mode === "full" ? [1, 10, 100, 1000] : [1, 10, 100],
    20,
  );
}

export const datapathEmulated: Suite = {
  name: "datapath-emulated",
  title: "datapath-emulated: ns per packet, maplb's host pipeline vs kube-proxy's chains (native evaluator)",

  async skipReason() {
    return null; // the host library is built by the set-up step; a missing one fails with its own message
  },

  cells: gridCells,

  async run(cell, ctx) {
    const M = maglevSizeFor(cell.endpointsPerService);
    const model = syntheticModel({
      services: cell.services,
      endpointsPerService: cell.endpointsPerService,
      algorithm: "maglev",
      maglevTableSize: M,
    });
    const entries = cell.services * (cell.endpointsPerService + 1);
    const ops = new Compiler(NODE, undefined, { maglevRows: cell.services * M + 16 }).update(model.ports, []);
    // Each traffic shape gets a datapath of its own, programmed alike: sharing one, the second shape
    // would find the first one's flows in conntrack (a fuller table, its free entries scattered)
    // and cost more whichever shape it was.
    const programmed = (): NativeDatapath => {
      const dp = openDatapath({
        kind: "emulated",
        mapMax: {
          lb4_services: entries + 16,
          lb4_backends: entries + 16,
          lb4_reverse_nat: cell.services + 16,
          lb4_maglev: cell.services * M + 16,
          lb4_backend_stats: entries + 16,
          ct4: 2 * ROUNDS * BATCH,
        },
      }) as NativeDatapath;
      dp.apply(ops);
      return dp;
    };
    const results: Result[] = [];
    const params = { algorithm: "maglev", M, batch: BATCH };
    ctx.tick(0.3);
    const ev =
      cell.services <= (ctx.mode === "full" ? 100000 : 10000)
        ? new ChainEvaluator(buildIptablesRules(model, NODE).nat)
        : null;
    try {
      for (const shape of ["worst-case", "uniform"] as const) {
        const dp = programmed();
        try {
          const m = measureMaplb(dp, model, shape);
          results.push(result(cell, "maplb", `${shape}/new`, m.fresh, params));
          results.push(result(cell, "maplb", `${shape}/established`, m.established, params));
        } finally {
          dp.close();
        }
        if (ev)
          results.push(
            result(cell, "kube-proxy-chain-eval", `${shape}/new`, measureChainEval(ev, model, shape), {
              batch: "adaptive",
            }),
          );
        ctx.tick(shape === "worst-case" ? 0.65 : 1);
      }
    } finally {
      ev?.close();
    }
    const sock = programmed() as EmulatedDatapath;
    try {
      const worst = model.ports.at(-1)!;
      const frontend = {
        address: worst.clusterIP!,
        port: worst.port,
        protocol: "TCP" as const,
        scope: Scope.EXT,
      };
      const ns = Array.from({ length: 5 }, () => emulatedConnectNs(sock, frontend, 20_000));
      results.push({ ...result(cell, SOCKET_LB_IMPL, "connect", ns, params), metric: "ns_per_connect" });
    } finally {
      sock.close();
    }
    return results;
  },

  targets(results) {
    const at = (impl: string, s: number, traffic: string) =>
      results.find(
        (r) => r.impl === impl && r.services === s && r.endpointsPerService === 10 && r.traffic === traffic,
      )?.value;
    const out: Target[] = [];
    const ratio = (
      target: string,
      a: number | undefined,
      b: number | undefined,
      limit: number,
      atMost = true,
    ) => {
      if (a === undefined || b === undefined) return;
      out.push({
        suite: "datapath-emulated",
        target,
        measured: `${(a / b).toFixed(2)}× (${a.toFixed(0)} vs ${b.toFixed(0)} ns)`,
        met: atMost ? a / b <= limit : a / b >= limit,
      });
    };
    ratio(
      "maplb ns/packet at 100k services within 1.3× of 10 services (new flows, worst case)",
      at("maplb", 100000, "worst-case/new"),
      at("maplb", 10, "worst-case/new"),
      1.3,
    );
    ratio(
      "at 10 services maplb within 1.5× of the chain walk (worst case, new connections)",
      at("maplb", 10, "worst-case/new"),
      at("kube-proxy-chain-eval", 10, "worst-case/new"),
      1.5,
    );
    for (const traffic of ["uniform/new", "uniform/established"])
      ratio(
        `maplb at 100k services within 2× of 10 services (${traffic})`,
        at("maplb", 100000, traffic),
        at("maplb", 10, traffic),
        2,
      );
    ratio(
      "at 10k services the chain evaluator ≥ 50× slower than maplb (worst case, new connections)",
      at("kube-proxy-chain-eval", 10000, "worst-case/new"),
      at("maplb", 10000, "worst-case/new"),
      50,
      false,
    );
    return out;
  },
};
