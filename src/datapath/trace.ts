// One packet through the datapath, explained: the headers, the frontend and service it hit, the
// algorithm and the backend, the rewrite, the verdict; and the same packet's walk through
// kube-proxy's iptables rules, for comparison. `maplb trace` prints this.
import { compile } from "../compile/compiler.js";
import { diff } from "../compile/diff.js";
import {
  Algorithm,
  frontendKeyString,
  Scope,
  SvcFlag,
  type FrontendEntry,
  type LbTables,
} from "../compile/tables.js";
import { ChainEvaluator } from "../iptables-eval/evaluator.js";
import { buildIptablesRules } from "../kubeproxy/iptables-rules.js";
import type { NodeConfig, ServiceModel } from "../model/types.js";
import { cidrContains } from "../kubeproxy/cidr.js";
import type { ReasonName, VerdictName } from "./abi.js";
import type { Datapath, DatapathKind } from "./datapath.js";
import { flowHash, maglevRow, randomSlot, type FlowTuple } from "./flow-hash.js";
import { DEFAULT_HASH_SEED, nodeSettings } from "./options.js";
import { buildFrame, parseFrame, type ParsedFrame } from "./packet.js";

export interface TraceRequest {
  model: ServiceModel;
  node: NodeConfig;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  proto: "TCP" | "UDP";
  hashSeed?: number;
}

export interface Trace {
  datapath: DatapathKind;
  before: ParsedFrame;
  /** The headers after the datapath; null when it dropped the packet. */
  after: ParsedFrame | null;
  verdict: VerdictName;
  reason: ReasonName;
  dropReason: ReasonName | null;
  /** The service port (ns/name:port/PROTO) of the frontend hit, or null. */
  service: string | null;
  frontend: string | null;
  slotCount: number | null;
  algorithm: "maglev" | "random" | null;
  /** Maglev: M and the row h % M; random: the slot h % count + 1. */
  choice: { hash: number; maglevM?: number; row?: number; slot?: number } | null;
  backend: string | null;
  iptables: { target: string; backend: string | null; rulesEvaluated: number; path: string[] };
}

/** The frontend a packet meets, as the datapath looks it up (exact, wildcard NodePort, INT scope). */
export function frontendFor(
  tables: LbTables,
  node: NodeConfig,
  t: FlowTuple,
): { service: string; frontend: FrontendEntry } | null {
  const find = (address: string, scope: Scope) => {
    for (const [service, sp] of tables.services) {
      const f = sp.frontends.find(
        (fe) =>
          fe.key.address === address &&
          fe.key.port === t.dport &&
          fe.key.protocol === t.proto &&
          fe.key.scope === scope,
      );
      if (f) return { service, frontend: f };
    }
    return null;
  };
  const ext = find(t.dst, Scope.EXT) ?? (node.nodeIPs.includes(t.dst) ? find("0.0.0.0", Scope.EXT) : null);
  if (!ext || !(ext.frontend.master.flags & SvcFlag.TWO_SCOPES)) return ext;
  const internal = node.clusterCIDR && cidrContains(node.clusterCIDR, t.src);
  return (internal && find(ext.frontend.key.address, Scope.INT)) || ext;
}

/** Compiles the model into `dp` (which should be empty), runs the packet, and explains it. */
export function tracePacket(dp: Datapath, req: TraceRequest): Trace {
  const seed = req.hashSeed ?? DEFAULT_HASH_SEED;
  const tables = compile(req.model, req.node);
  dp.configure(nodeSettings(req.node, seed));
  dp.apply(diff({ services: new Map() }, tables));

  const tuple: FlowTuple = {
    src: req.src,
    dst: req.dst,
    sport: req.sport,
    dport: req.dport,
    proto: req.proto,
  };
  const frame = buildFrame({ ...tuple, proto: req.proto });
  const before = parseFrame(frame)!;
  const [result] = dp.process([frame]);
  const { verdict, reason } = result!;

  const hit = frontendFor(tables, req.node, tuple);
  const master = hit?.frontend.master;
  const algorithm = master ? (master.algorithm === Algorithm.maglev ? "maglev" : "random") : null;
  const hash = flowHash(tuple, seed);
  const choice =
    !master || master.count === 0
      ? null
      : algorithm === "maglev"
        ? { hash, maglevM: master.maglevSize, row: maglevRow(hash, master.maglevSize) }
        : { hash, slot: randomSlot(hash, master.count) };
  const after = verdict === "DROP" ? null : parseFrame(frame);

  return {
    datapath: dp.kind,
    before,
    after,
    verdict,
    reason,
    dropReason: verdict === "DROP" ? reason : null,
    service: hit?.service ?? null,
    frontend: hit ? frontendKeyString(hit.frontend.key) : null,
    slotCount: master?.count ?? null,
    algorithm,
    choice,
    backend: verdict === "DNAT" && after ? `${after.dst}:${after.dport}` : null,
    iptables: iptablesPath(req, tuple),
  };
}

function iptablesPath(req: TraceRequest, t: FlowTuple): Trace["iptables"] {
  const ev = new ChainEvaluator(buildIptablesRules(req.model, req.node).nat, req.node.nodeIPs);
  try {
    const v = ev.evaluate({
      srcIp: t.src,
      dstIp: t.dst,
      srcPort: t.sport,
      dstPort: t.dport,
      protocol: t.proto === "TCP" ? "tcp" : "udp",
    });
    const path = v.path.map((p) => {
      const jump = p.args[p.args.indexOf("-j") + 1] ?? "";
      const dnatTo = jump === "DNAT" ? ` ${p.args.at(-1)}` : "";
      return `${p.chain} rule ${p.index + 1} → ${jump}${dnatTo}`;
    });
    return { target: v.target, backend: v.to, rulesEvaluated: v.rulesEvaluated, path };
  } finally {
    ev.close();
  }
}
