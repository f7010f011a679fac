// One packet through the datapath, explained: the headers, the frontend and service it hit, the
// algorithm and the backend, the source NAT (or why none), the rewrite, the verdict, and the backend's
// reply on its way back; and the same packet's walk through kube-proxy's rules in both of its modes
// (iptables and nftables), each difference from maplb's verdict named. `maplb trace` prints this.
import { compile } from "../compile/compiler.js";
import { diff } from "../compile/diff.js";
import {
  Algorithm,
  BackendFlag,
  type BackendEntry,
  frontendKeyString,
  Scope,
  SvcFlag,
  type FrontendEntry,
  type LbTables,
  type MasterEntry,
} from "../compile/tables.js";
import { buildIptablesRules } from "../kubeproxy/iptables-rules.js";
import { buildNftRules } from "../kubeproxy/nft.js";
import type { KubeProxyVerdict } from "../kubeproxy/verdict.js";
import { iptablesWalker } from "../kubeproxy/walk-iptables.js";
import { nftWalker } from "../kubeproxy/walk-nft.js";
import { clusterCIDROfFamily, type NodeConfig, nodeIPsOfFamily, type ServiceModel } from "../model/types.js";
import { hostPort, ipInCidr } from "../util/ip.js";
import { familyOfAddress } from "../compile/tables.js";
import { wildcardOf } from "../compile/frontends.js";
import type { ReasonName, VerdictName } from "./abi.js";
import type { Datapath, DatapathKind } from "./datapath.js";
import { compareWithKubeProxy, missingFlags, packetFacts, type Difference } from "./kube-proxy-diff.js";
import { flowHash, maglevRow, randomSlot, type FlowTuple } from "./flow-hash.js";
import { DEFAULT_HASH_SEED, nodeSettings } from "./options.js";
import {
  buildFrame,
  type FrameSpec,
  IPPROTO_TCP,
  IPPROTO_UDP,
  parseFrame,
  type ParsedFrame,
} from "./packet.js";
import { buildFrame6, parseFrame6 } from "./packet6.js";

export interface TraceRequest {
  model: ServiceModel;
  node: NodeConfig;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  proto: "TCP" | "UDP";
  hashSeed?: number;
  /** ServiceCIDRs for kube-proxy's nftables ruleset: its drop of unallocated ClusterIPs. */
  serviceCIDRs?: string[];
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
  /** For a DNAT: the source the datapath gave the packet (null: the client's kept) and why. */
  snat: { to: string | null; why: string } | null;
  /** For a DNAT: the backend's answer run through the datapath, back to the client. */
  reply: { before: ParsedFrame; after: ParsedFrame; verdict: VerdictName } | null;
  /** kube-proxy in iptables mode: every hook and table the packet meets (walk-iptables.ts), in the
   * packet's family's proxier. */
  iptables: KubeProxyVerdict;
  /** kube-proxy in nftables mode (walk-nft.ts): the ip or ip6 table by the packet's family. */
  nftables: KubeProxyVerdict;
  /** Where kube-proxy's verdicts differ from maplb's, each named (and the known design ones, why). */
  differences: Difference[];
  /** Flags the trace could not do without (e.g. a NodePort with no --node-ip), in words. */
  notes: string[];
}

/** The frontend a packet meets, as the datapath looks it up (exact, wildcard NodePort, INT scope). */
export function frontendFor(
  tables: LbTables,
  node: NodeConfig,
  t: FlowTuple,
  /** Local sockets (socket LB) are always inside the cluster: the INT scope, whatever t.src. */
  internal?: boolean,
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
  const family = familyOfAddress(t.dst);
  const ext =
    find(t.dst, Scope.EXT) ??
    (nodeIPsOfFamily(node, family).includes(t.dst) ? find(wildcardOf(family), Scope.EXT) : null);
  if (!ext || !(ext.frontend.master.flags & SvcFlag.TWO_SCOPES)) return ext;
  const cidr = clusterCIDROfFamily(node, family);
  const inside = internal ?? (cidr !== null && ipInCidr(t.src, cidr));
  return (inside && find(ext.frontend.key.address, Scope.INT)) || ext;
}

/** Which Maglev row or random slot the flow hash picks (affinity aside); null without backends. */
export function choiceOf(master: MasterEntry | undefined, tuple: FlowTuple, seed: number): Trace["choice"] {
  if (!master || master.count === 0) return null;
  const hash = flowHash(tuple, seed);
  return master.algorithm === Algorithm.maglev
    ? { hash, maglevM: master.maglevSize, row: maglevRow(hash, master.maglevSize) }
    : { hash, slot: randomSlot(hash, master.count) };
}

/** Compiles the model into `dp` (which should be empty), runs the packet, and explains it. */
export function tracePacket(dp: Datapath, req: TraceRequest): Trace {
  const seed = req.hashSeed ?? DEFAULT_HASH_SEED;
  const tables = compile(req.model, req.node);
  const settings = nodeSettings(req.node, seed);
  dp.configure(settings);
  dp.apply(diff({ services: new Map() }, tables));

  const tuple: FlowTuple = {
    src: req.src,
    dst: req.dst,
    sport: req.sport,
    dport: req.dport,
    proto: req.proto,
  };
  const frame = frameOf({ ...tuple, proto: req.proto });
  const before = headersOf(frame)!;
  const [result] = dp.process([frame]);
  const { verdict, reason } = result!;

  const hit = frontendFor(tables, req.node, tuple);
  const master = hit?.frontend.master;
  const algorithm = master ? (master.algorithm === Algorithm.maglev ? "maglev" : "random") : null;
  const hash = flowHash(tuple, seed);
  const choice = choiceOf(master, tuple, seed);
  const after = verdict === "DROP" ? null : headersOf(frame);
  const backend =
    verdict === "DNAT" && after && hit
      ? tables.services
          .get(hit.service)
          ?.backends.find((b) => b.address === after.dst && b.port === after.dport)
      : undefined;
  const snat =
    verdict === "DNAT" && after && hit && backend
      ? {
          to:
            after.src !== before.src || after.sport !== before.sport
              ? hostPort(after.src, after.sport)
              : null,
          why: snatWhy(
            tuple,
            hit.frontend,
            backend,
            req.node,
            (familyOfAddress(tuple.dst) === "IPv6" ? settings.snatIP6 : settings.snatIP) ?? null,
          ),
        }
      : null;

  const maplb = {
    verdict,
    reason,
    backend: verdict === "DNAT" && after ? `${after.dst}:${after.dport}` : null,
    snat: snat?.to ? snat.to.split(":")[0]! : null,
  };
  const kubeProxy = kubeProxyHalf(req, tuple, hash, maplb);
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
    backend: maplb.backend,
    snat,
    reply: verdict === "DNAT" && after ? replyOf(dp, after) : null,
    ...kubeProxy,
    notes: missingFlags(req.model, req.node, tuple),
  };
}

/** The packet's walk through kube-proxy's rules in both modes, and where each differs from maplb. */
function kubeProxyHalf(
  req: TraceRequest,
  tuple: FlowTuple,
  hash: number,
  maplb: Parameters<typeof compareWithKubeProxy>[0],
): { iptables: KubeProxyVerdict; nftables: KubeProxyVerdict; differences: Difference[] } {
  // kube-proxy's random pick, made repeatable: by the same flow hash maplb chose with. The packet's
  // family picks which of kube-proxy's two proxiers (and so which tables) it meets.
  const family = familyOfAddress(req.dst);
  const iptables = iptablesWalker(buildIptablesRules(req.model, req.node, family), req.node)(tuple, hash);
  const serviceCIDRs = req.serviceCIDRs ?? [];
  const nftRules = buildNftRules(req.model, req.node, { serviceCIDRs }, family);
  const nftables = nftWalker(nftRules, req.node)(tuple, hash);
  const facts = packetFacts(req.model, req.node, tuple, maplb.backend, serviceCIDRs);
  const differences = [iptables, nftables].flatMap((kp) => compareWithKubeProxy(maplb, kp, facts));
  return { iptables, nftables, differences };
}

/** A frame of the tuple's family. */
function frameOf(spec: FrameSpec): Uint8Array {
  return familyOfAddress(spec.dst) === "IPv6" ? buildFrame6(spec) : buildFrame(spec);
}

/** A TCP/UDP frame's headers, of either family (IPv6 has no header checksum: ipChecksum 0). */
function headersOf(frame: Uint8Array): ParsedFrame | null {
  const p4 = parseFrame(frame);
  if (p4) return p4;
  const p6 = parseFrame6(frame);
  if (!p6 || (p6.proto !== IPPROTO_TCP && p6.proto !== IPPROTO_UDP)) return null;
  const proto = p6.proto === IPPROTO_TCP ? "TCP" : "UDP";
  const { src, dst, sport, dport, l4Checksum } = p6;
  return { src, dst, sport, dport, proto, ipChecksum: 0, l4Checksum };
}

/** The backend's answer to the rewritten packet, through the datapath: reverse (S)NAT to the client. */
function replyOf(dp: Datapath, request: ParsedFrame): NonNullable<Trace["reply"]> {
  const frame = frameOf({
    src: request.dst,
    sport: request.dport,
    dst: request.src,
    dport: request.sport,
    proto: request.proto,
    tcpFlags: 0x12, // SYN-ACK
  });
  const before = headersOf(frame)!;
  const [result] = dp.process([frame]);
  return { before, after: headersOf(frame)!, verdict: result!.verdict };
}

/** Why the datapath source-NATs a new flow to `backend`, or keeps the client: snat.h's rule in words. */
export function snatWhy(
  t: FlowTuple,
  frontend: FrontendEntry,
  backend: BackendEntry,
  node: NodeConfig,
  snatIP: string | null,
): string {
  const flags = frontend.master.flags;
  const family = familyOfAddress(t.dst);
  if (snatIP === null) return `SNAT is off: no SNAT address (the node's first ${family} --node-ip)`;
  if (t.src === backend.address)
    return "hairpin: the client is the backend, which would answer itself directly";
  if (backend.flags & BackendFlag.LOCAL)
    return "the backend runs on this node: its reply comes back through it";
  if (flags & SvcFlag.TWO_SCOPES) return "externalTrafficPolicy=Local keeps the client's address";
  if (flags & (SvcFlag.NODEPORT | SvcFlag.EXTERNAL))
    return "the backend runs on another node, and this external frontend has externalTrafficPolicy=Cluster";
  const cidr = clusterCIDROfFamily(node, family);
  if (cidr !== null && !ipInCidr(t.src, cidr))
    return "the backend runs on another node, and the client is outside the cluster CIDR";
  return "a ClusterIP reached from inside the cluster keeps the client's address";
}
