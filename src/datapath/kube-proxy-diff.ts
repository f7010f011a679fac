// maplb's verdict beside kube-proxy's, for one new connection: where they differ, named. Some
// differences are the design's (DESIGN.md): each is listed once in KNOWN_DIFFERENCES with its reason
// and the packets it applies to; a difference that matches none of them is a bug in one of the two.
import { cidrContains } from "../kubeproxy/cidr.js";
import { planServicePort } from "../kubeproxy/policy.js";
import type { KubeProxyPacket, KubeProxyVerdict, VerdictClass } from "../kubeproxy/verdict.js";
import { endpointsOnNode, externalPolicyLocal } from "../model/endpoints.js";
import type { NodeConfig, ServiceModel, ServicePort } from "../model/types.js";
import type { ReasonName, VerdictName } from "./abi.js";

/** maplb's side: its datapath's verdict for the connection's first packet. */
export interface MaplbVerdict {
  verdict: VerdictName;
  reason: ReasonName;
  backend: string | null;
  /** The source address the datapath gave the packet (SNAT), or null when it kept the client's. */
  snat: string | null;
}

type Mode = KubeProxyVerdict["mode"];
/** What differs: the verdict class, the backend picked, or the source address the backend sees. */
export type Aspect = "verdict" | "backend" | "source";

export interface Difference {
  mode: Mode;
  aspect: Aspect;
  maplb: string;
  kubeProxy: string;
  /** The KNOWN_DIFFERENCES id that explains it, or null: a difference the design does not intend. */
  known: string | null;
  /** That row's reason (so JSON output stands alone), or null. */
  reason: string | null;
  text: string;
}

/** What a packet is, from the model alone: the facts the known differences depend on. */
export interface PacketFacts {
  /** The client is this node (kube-proxy's OUTPUT hook; maplb's socket-level hooks). */
  fromNode: boolean;
  /** The service port whose frontend the packet is addressed to, and which kind of frontend. */
  port: ServicePort | null;
  frontend: "clusterIP" | "external" | "nodePort" | null;
  /** The port has no usable endpoint on any node. */
  noEndpoints: boolean;
  /** A LoadBalancer IP with source ranges that do not hold the client. */
  sourceDenied: boolean;
  /** A ClusterIP, but no service port on it has this port and protocol. */
  clusterIPOtherPort: boolean;
  /** Inside a --service-cidr, but no service port holds it as its ClusterIP. */
  unallocatedClusterIP: boolean;
  /** maplb's backend is an endpoint on this node (--node-name), and not the client itself. */
  backendLocal: boolean;
  /** --cluster-cidr is set and does not hold the client. */
  clientOutsideCluster: boolean;
}

export interface KnownDifference {
  id: string;
  aspect: Aspect | "*";
  /** What each side shows, as in Difference. */
  maplb: string;
  kubeProxy: string;
  reason: string;
  /** The packets (and kube-proxy modes) it shows for; for them it must show, as described. */
  applies: (f: PacketFacts, mode: Mode) => boolean;
}

const SNAT = "SNAT to the node";
const KEPT = "client source kept";

/** The design differences between maplb and kube-proxy, each with its reason. */
export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    id: "no-icmp",
    aspect: "verdict",
    maplb: "DROP",
    kubeProxy: "REJECT",
    reason:
      "a service without endpoints: kube-proxy rejects (ICMP port unreachable); maplb drops and counts " +
      "the drop (DESIGN: the ICMP reply is optional)",
    // nftables mode drops a source outside loadBalancerSourceRanges even without endpoints.
    applies: (f, mode) =>
      !f.fromNode && f.noEndpoints && f.frontend !== null && !(mode === "nftables" && f.sourceDenied),
  },
  {
    id: "cluster-ip-other-port",
    aspect: "verdict",
    maplb: "PASS",
    kubeProxy: "REJECT",
    reason:
      "a ClusterIP on a port no service uses: nftables mode rejects it (cluster-ips-check); maplb " +
      "passes what is not a frontend untouched, as iptables mode does",
    applies: (f, mode) => !f.fromNode && mode === "nftables" && f.clusterIPOtherPort,
  },
  {
    id: "unallocated-cluster-ip",
    aspect: "verdict",
    maplb: "PASS",
    kubeProxy: "DROP",
    reason:
      "an address of a ServiceCIDR (--service-cidr) that no Service holds: nftables mode drops new " +
      "connections to it (cluster-ips-check); maplb passes what is not a frontend untouched (DESIGN: a " +
      "node datapath never breaks traffic it does not balance), as iptables mode does",
    applies: (f, mode) => !f.fromNode && mode === "nftables" && f.unallocatedClusterIP,
  },
  {
    id: "local-backend-keeps-source",
    aspect: "source",
    maplb: KEPT,
    kubeProxy: SNAT,
    reason:
      "a backend on this node answers through it anyway, so maplb keeps the client's address (as " +
      "Cilium does) where kube-proxy masquerades",
    applies: (f) => !f.fromNode && f.backendLocal && masqueradesAlways(f),
  },
  {
    id: "from-node",
    aspect: "*",
    maplb: "*",
    kubeProxy: "*",
    reason:
      "a connection from the node itself is for maplb's socket-level hooks (DESIGN), not for the packet " +
      "datapath that meets arriving traffic; the trace runs it as if it arrived, while kube-proxy's OUTPUT hook short-circuits " +
      "the node's traffic to cluster endpoints, masquerades it, and does not reject external destinations",
    applies: (f) => f.fromNode,
  },
];

/** kube-proxy marks for masquerade whatever backend it picks (a hairpin aside). */
function masqueradesAlways(f: PacketFacts): boolean {
  const p = f.port;
  if (!p) return false;
  return f.frontend === "clusterIP" ? f.clientOutsideCluster : !externalPolicyLocal(p);
}

/** The facts of KNOWN_DIFFERENCES for one packet (`backend`: maplb's, or null; `serviceCIDRs`: those
 * kube-proxy was given, as `maplb nft --service-cidr`). */
export function packetFacts(
  model: ServiceModel,
  node: NodeConfig,
  pkt: KubeProxyPacket,
  backend: string | null,
  serviceCIDRs: readonly string[] = [],
): PacketFacts {
  const local = (ip: string) => cidrContains("127.0.0.0/8", ip) || node.nodeIPs.includes(ip);
  const serves = (p: ServicePort) => p.protocol === pkt.proto;
  let frontend: PacketFacts["frontend"] = null;
  const port =
    model.ports.find((p) => {
      if (!serves(p)) return false;
      if (p.clusterIP === pkt.dst && p.port === pkt.dport) frontend = "clusterIP";
      else if ([...p.externalIPs, ...p.loadBalancerIPs].includes(pkt.dst) && p.port === pkt.dport)
        frontend = "external";
      else if (p.nodePort === pkt.dport && local(pkt.dst)) frontend = "nodePort";
      return frontend !== null;
    }) ?? null;
  const ranges = port?.loadBalancerSourceRanges ?? [];
  const sourceDenied =
    !!port?.loadBalancerIPs.includes(pkt.dst) &&
    ranges.length > 0 &&
    !ranges.some((r) => cidrContains(r, pkt.src));
  const endpoint = port && endpointsOnNode(port, node.nodeName).find((e) => `${e.ip}:${e.port}` === backend);
  const allocated = model.ports.some((p) => p.clusterIP === pkt.dst);
  return {
    fromNode: local(pkt.src),
    port,
    frontend,
    noEndpoints: port !== null && !planServicePort(port, node.nodeName).hasEndpoints,
    sourceDenied,
    clusterIPOtherPort: !port && allocated,
    unallocatedClusterIP: !allocated && serviceCIDRs.some((c) => cidrContains(c, pkt.dst)),
    backendLocal: !!endpoint && endpoint.nodeName === node.nodeName && endpoint.ip !== pkt.src,
    clientOutsideCluster: !!node.clusterCIDR && !cidrContains(node.clusterCIDR, pkt.src),
  };
}

/** maplb's verdict in the same four classes as kube-proxy's. */
export function maplbClass(v: Pick<MaplbVerdict, "verdict">): VerdictClass {
  return v.verdict === "REVNAT" ? "DNAT" : v.verdict;
}

function knownFor(
  facts: PacketFacts,
  mode: Mode,
  aspect: Aspect,
  maplb: string,
  kp: string,
): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find(
    (k) =>
      (k.aspect === "*" || k.aspect === aspect) &&
      (k.maplb === "*" || k.maplb === maplb) &&
      (k.kubeProxy === "*" || k.kubeProxy === kp) &&
      k.applies(facts, mode),
  );
}

/** Every way kube-proxy's verdict in one mode differs from maplb's: verdict class, backend, source. */
export function compareWithKubeProxy(
  m: MaplbVerdict,
  kp: KubeProxyVerdict,
  facts: PacketFacts,
): Difference[] {
  const add = (aspect: Aspect, maplb: string, kubeProxy: string, text: string): Difference => {
    const row = knownFor(facts, kp.mode, aspect, maplb, kubeProxy);
    return {
      mode: kp.mode,
      aspect,
      maplb,
      kubeProxy,
      known: row?.id ?? null,
      reason: row?.reason ?? null,
      text,
    };
  };
  const mine = maplbClass(m);
  if (mine !== kp.verdict) {
    const why = m.verdict === "DROP" ? ` (${m.reason})` : "";
    return [add("verdict", mine, kp.verdict, `maplb ${mine}${why}, kube-proxy (${kp.mode}) ${kp.verdict}`)];
  }
  if (mine !== "DNAT" || !m.backend) return [];
  const choices = kp.candidates.map((c) => c.backend);
  const same = kp.candidates.find((c) => c.backend === m.backend);
  if (!same)
    return [
      add(
        "backend",
        m.backend,
        choices.join(" "),
        `maplb picked ${m.backend}, which kube-proxy (${kp.mode}) never picks (it picks among ${choices.join(", ")})`,
      ),
    ];
  // The source kube-proxy gives the same backend (a hairpin masquerades only for its own pod).
  const maplbSnat = m.snat !== null;
  if (maplbSnat === same.masquerade) return [];
  return [
    add(
      "source",
      maplbSnat ? SNAT : KEPT,
      same.masquerade ? SNAT : KEPT,
      `kube-proxy (${kp.mode}) would ${same.masquerade ? "SNAT to the node address" : "keep the client's address"} ` +
        `here; maplb ${maplbSnat ? "does SNAT" : "does not"}`,
    ),
  ];
}

/** What the trace needs and was not told, in words: a NodePort with no --node-ip. */
export function missingFlags(model: ServiceModel, node: NodeConfig, pkt: KubeProxyPacket): string[] {
  if (node.nodeIPs.length > 0) return [];
  const p = model.ports.find((x) => x.nodePort === pkt.dport && x.protocol === pkt.proto);
  if (!p) return [];
  return [
    `port ${pkt.dport}/${pkt.proto} is the NodePort of '${p.spn}', but no --node-ip names this node's ` +
      `addresses, so neither maplb nor kube-proxy treats '${pkt.dst}' as this node: pass --node-ip`,
  ];
}
