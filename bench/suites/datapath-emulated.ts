// datapath-emulated: ns per packet for maplb's pipeline (the host build of the same C the kernel
// runs, over simulated BPF maps) against kube-proxy's nat table walked by the native chain
// evaluator — in one process, each batch of packets through one FFI call.
//   grid: S ∈ {10, 100, 1k, 10k, 100k} services at 10 endpoints, E ∈ {1, 10, 100, 1000} at 1k services
//   traffic: uniform over services, and worst case (every packet to the service last in KUBE-SERVICES)
//   maplb rows: new flows (conntrack miss, service lookup, Maglev, DNAT) and established flows (hit)
//   chain-eval rows: new connections (only they walk the nat table; conntrack carries the rest)
//   IPv6 rows (family IPv6) at S=10 and 10k × 10: maplb's new and established flows over an IPv6
//   model of the same shape, in lb6 maps, beside the IPv4 rows of the same cell
import { Compiler } from "../../src/compile/compiler.js";
import { Scope } from "../../src/compile/tables.js";
import type { EmulatedDatapath } from "../../src/datapath/emulated.js";
import { emulatedConnectNs, SOCKET_LB_IMPL } from "../socket-lb-cost.js";
import { packFrames, type NativeDatapath } from "../../src/datapath/native-datapath.js";
import { openDatapath } from "../../src/datapath/open.js";
import { buildFrame } from "../../src/datapath/packet.js";
import { buildFrame6 } from "../../src/datapath/packet6.js";
import type { MapOp } from "../../src/compile/tables.js";
import { structSize } from "../../src/datapath/codec.js";
import type { NativeMapName } from "../../src/datapath/abi.js";
import { ChainEvaluator, packPackets, type IptPacket } from "../../src/iptables-eval/evaluator.js";
import { buildIptablesRules } from "../../src/kubeproxy/iptables-rules.js";
import {
  DEFAULT_NODE_CONFIG,
  type IpFamily,
  type NodeConfig,
  type ServiceModel,
} from "../../src/model/types.js";
import { intToIpv4, isIPv6 } from "../../src/util/ip.js";
import { datapathGrid, POD_PREFIX6, syntheticModel } from "../synthetic.js";
import { ipv4Rows, summarize, type Cell, type Mode, type Result, type Suite, type Target } from "../types.js";

const NODE: NodeConfig = {
  ...DEFAULT_NODE_CONFIG,
  clusterCIDR: "198.18.128.0/17",
  clusterCIDR6: POD_PREFIX6,
  nfacct: false,
};
/** The service counts (at 10 endpoints) that get an IPv6 row too. */
const IPV6_SERVICES = [10, 10000];
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

/** Client n's address: in 198.18.64.0/18, or (IPv6) 2001:db8:18:4000::/64; 16,384 ports each. */
function clientAddress(n: number, family: IpFamily): string {
  return family === "IPv6"
    ? `2001:db8:18:4000::${((n >>> 14) + 1).toString(16)}`
    : intToIpv4(0xc6120000 + 0x4000 + (n >>> 14));
}

/** BATCH packets of new connections to the cell's services; `round` makes every 5-tuple new. */
function packets(model: ServiceModel, shape: Shape, round: number): IptPacket[] {
  const out: IptPacket[] = [];
  for (let i = 0; i < BATCH; i++) {
    const p = model.ports[serviceOf(shape, i, model.ports.length)]!;
    out.push({
      srcIp: clientAddress(round * BATCH + i, p.family),
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
    pkts.map((p) => {
      const spec = { src: p.srcIp, dst: p.dstIp, sport: p.srcPort, dport: p.dstPort, proto: "TCP" as const };
      return isIPv6(p.dstIp) ? buildFrame6(spec) : buildFrame(spec);
    }),
  );
}

const nsSince = (t0: bigint) => Number(process.hrtime.bigint() - t0);

function result(
  cell: Cell,
  impl: string,
  traffic: string,
  samples: number[],
  params: Result["params"],
  family: IpFamily = "IPv4",
): Result {
  return {
    suite: "datapath-emulated",
    impl,
    ...(family === "IPv6" ? { family } : {}),
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

/** The cell's services compiled into one family's maps: the model and its MapOps. */
function compiled(cell: Cell, M: number, family: IpFamily): { model: ServiceModel; ops: MapOp[] } {
  const model = syntheticModel({
    services: cell.services,
    endpointsPerService: cell.endpointsPerService,
    algorithm: "maglev",
    maglevTableSize: M,
    family,
  });
  const rows = cell.services * M + 16;
  const limits = family === "IPv6" ? { maglevRows6: rows } : { maglevRows: rows };
  return { model, ops: new Compiler(NODE, undefined, limits).update(model.ports, []) };
}

/**
 * An emulated datapath whose maps of `family` fit the cell, programmed with `ops`. Each traffic
 * shape gets one of its own, programmed alike: sharing one, the second shape would find the first
 * one's flows in conntrack (a fuller table, its free entries scattered) and cost more whichever
 * shape it was.
 */
function programmed(cell: Cell, M: number, ops: MapOp[], family: IpFamily): NativeDatapath {
  const entries = cell.services * (cell.endpointsPerService + 1) + 16;
  const dp = openDatapath({
    kind: "emulated",
    mapMax: familyMapMax(family, {
      services: entries,
      backends: entries,
      reverseNat: cell.services + 16,
      maglev: cell.services * M + 16,
      ct: 2 * ROUNDS * BATCH,
    }),
  }) as NativeDatapath;
  dp.apply(ops);
  return dp;
}

/** Sizes for one family's load-balancing maps (lb4_* or lb6_*, and its conntrack when given). The
 * per-backend counters are keyed by backend id, one space for both families: sized as the backends. */
export function familyMapMax(
  family: IpFamily,
  n: { services: number; backends: number; reverseNat: number; maglev: number; ct?: number },
): Partial<Record<NativeMapName, number>> {
  const ct = n.ct === undefined ? {} : { [family === "IPv6" ? "ct6" : "ct4"]: n.ct };
  const lb =
    family === "IPv6"
      ? {
          lb6_services: n.services,
          lb6_backends: n.backends,
          lb6_reverse_nat: n.reverseNat,
          lb6_maglev: n.maglev,
        }
      : {
          lb4_services: n.services,
          lb4_backends: n.backends,
          lb4_reverse_nat: n.reverseNat,
          lb4_maglev: n.maglev,
        };
  return { ...lb, ...ct, lb4_backend_stats: n.backends };
}

/** maplb's rows of one family: new and established flows, worst-case and uniform traffic. */
function maplbRows(cell: Cell, M: number, family: IpFamily, params: Result["params"]): Result[] {
  const { model, ops } = compiled(cell, M, family);
  return (["worst-case", "uniform"] as const).flatMap((shape) => {
    const dp = programmed(cell, M, ops, family);
    try {
      const m = measureMaplb(dp, model, shape);
      return [
        result(cell, "maplb", `${shape}/new`, m.fresh, params, family),
        result(cell, "maplb", `${shape}/established`, m.established, params, family),
      ];
    } finally {
      dp.close();
    }
  });
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
    const params = { algorithm: "maglev", M, batch: BATCH };
    const results = maplbRows(cell, M, "IPv4", params);
    ctx.tick(0.3);
    if (cell.endpointsPerService === 10 && IPV6_SERVICES.includes(cell.services))
      results.push(...maplbRows(cell, M, "IPv6", params));
    ctx.tick(0.5);
    const { model, ops } = compiled(cell, M, "IPv4");
    const ev =
      cell.services <= (ctx.mode === "full" ? 100000 : 10000)
        ? new ChainEvaluator(buildIptablesRules(model, NODE).nat)
        : null;
    try {
      for (const shape of ["worst-case", "uniform"] as const) {
        if (ev)
          results.push(
            result(cell, "kube-proxy-chain-eval", `${shape}/new`, measureChainEval(ev, model, shape), {
              batch: "adaptive",
            }),
          );
        ctx.tick(shape === "worst-case" ? 0.75 : 1);
      }
    } finally {
      ev?.close();
    }
    const sock = programmed(cell, M, ops, "IPv4") as EmulatedDatapath;
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

  targets(all) {
    const results = ipv4Rows(all); // the targets were set for IPv4
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
