// The lab's namespaces and links, built from the plan:
//
//   ext-1, ext-2 ──x1,x2── [node 0] ──peer── [node 1]        nodes route, and carry the proxy
//                           │ p0 p1 …          │ p0 p1 …
//                          pods               pods            each pod: eth0 <ip>/32, default via its node
//
// Pods are wired like a point-to-point CNI (Calico's or Cilium's): the node side of every pod veth has
// the node's pod gateway as a /32, and a /32 route per pod. External clients sit behind the first node,
// the cluster's edge. A reply must pass the node that translated its request: both proxies make sure of
// it by source-NATing to the node (its `ip`) where needed, e.g. towards a backend on the other node.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Topology } from "../netns/netns.js";
import {
  ETHERNET_ADVMSS6,
  ipv6Twin,
  LAB_RANGE,
  LAB_RANGE6,
  NODE_NETWORK_PREFIX,
  prefix6Twin,
  WORLD_ADDR,
  WORLD_GATEWAY,
} from "./addresses.js";
import { changesOffloads, ETHERNET_ADVMSS, tuneVeth, type VethEnd } from "./links.js";
import { resolvConf } from "./objects.js";
import type { LabExternal, LabNode, LabPlan, LabPod } from "./plan.js";

export const nodeNs = (prefix: string, n: Pick<LabNode, "name">): string => `${prefix}-node-${n.name}`;
export const podNs = (prefix: string, p: Pick<LabPod, "namespace" | "name">): string =>
  `${prefix}-${p.namespace}-${p.name}`;
export const externalNs = (prefix: string, e: Pick<LabExternal, "name">): string => `${prefix}-${e.name}`;
export const podIfname = (p: Pick<LabPod, "ifIndex">): string => `p${p.ifIndex}`;
export const externalIfname = (e: Pick<LabExternal, "index">): string => `x${e.index}`;
export const PEER_IFNAME = "peer";
const WORLD_IFNAME = "world";

/** `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf. */
export const netnsEtc = (ns: string): string => `/etc/netns/${ns}`;

const short = (ns: string, prefix: string) => ns.slice(prefix.length + 1);

function sysctls(topo: Topology, plan: LabPlan, ns: string, router: boolean): void {
  const set = [
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
    // accept_local: a NodePort reply that maplb reverse-NATs on ingress, and a request it source-NATs
    // there, have the node's own address as their source; without this the node's stack drops them
    // as martians before forwarding them.
    ...(router ? ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.accept_local=1"] : []),
    // No duplicate address detection: an address is usable the moment it is added (each is added
    // with nodad too; these cover the link-local ones the kernel adds itself).
    ...(plan.dualStack
      ? [
          "net.ipv6.conf.all.accept_dad=0",
          "net.ipv6.conf.default.accept_dad=0",
          ...(router ? ["net.ipv6.conf.all.forwarding=1"] : []),
        ]
      : []),
  ];
  topo.exec(ns, "sysctl", ["-qw", ...set]);
}

/** An IPv6 address on a link, usable at once (no DAD: the lab's addresses are unique by plan). */
function addAddr6(topo: Topology, ns: string, ifname: string, cidr: string): void {
  topo.exec(ns, "ip", ["-6", "addr", "add", cidr, "dev", ifname, "nodad"]);
}

function route6(topo: Topology, ns: string, args: string[]): void {
  topo.exec(ns, "ip", ["-6", "route", "add", ...args]);
}

/** The node namespaces, the link between them and their routes to each other's pods. */
export function buildNodes(topo: Topology, plan: LabPlan, say: (msg: string) => void): void {
  const prefix = topo.prefix;
  for (const n of plan.nodes) {
    topo.addNamespace(short(nodeNs(prefix, n), prefix));
    sysctls(topo, plan, nodeNs(prefix, n), true);
  }
  const [a, b] = plan.nodes;
  // The edge node's way to "the rest of the world": a veth whose other end stays down, so what is
  // sent there goes nowhere. A real node has a default route, so a packet for a ClusterIP without
  // endpoints is routed and reaches kube-proxy's REJECT in FORWARD, instead of failing routing
  // first (ENETUNREACH).
  if (a) {
    const edge = nodeNs(prefix, a);
    topo.exec(edge, "ip", [
      "link",
      "add",
      WORLD_IFNAME,
      "type",
      "veth",
      "peer",
      "name",
      `${WORLD_IFNAME}-end`,
    ]);
    topo.exec(edge, "ip", ["addr", "add", `${WORLD_ADDR}/30`, "dev", WORLD_IFNAME]);
    topo.exec(edge, "ip", ["link", "set", WORLD_IFNAME, "up"]);
    topo.exec(edge, "ip", ["route", "add", "default", "via", WORLD_GATEWAY, "dev", WORLD_IFNAME, "onlink"]);
    if (plan.dualStack) {
      addAddr6(topo, edge, WORLD_IFNAME, `${ipv6Twin(WORLD_ADDR)}/${prefix6Twin(30)}`);
      route6(topo, edge, ["default", "via", ipv6Twin(WORLD_GATEWAY), "dev", WORLD_IFNAME, "onlink"]);
    }
  }
  if (a && b) {
    topo.link(
      { ns: nodeNs(prefix, a), ifname: PEER_IFNAME, addr: `${a.ip}/${NODE_NETWORK_PREFIX}` },
      { ns: nodeNs(prefix, b), ifname: PEER_IFNAME, addr: `${b.ip}/${NODE_NETWORK_PREFIX}` },
    );
    for (const n of [a, b])
      tuneLink(topo, plan, { ns: nodeNs(prefix, n), ifname: PEER_IFNAME, side: "node" });
    topo.exec(nodeNs(prefix, a), "ip", ["route", "add", b.podSubnet, "via", b.ip]);
    topo.exec(nodeNs(prefix, b), "ip", ["route", "add", a.podSubnet, "via", a.ip]);
    // Everything outside the cluster (the external clients) is reached through the edge node.
    topo.exec(nodeNs(prefix, b), "ip", ["route", "add", "default", "via", a.ip]);
    if (a.ip6 && b.ip6) {
      for (const n of [a, b])
        addAddr6(topo, nodeNs(prefix, n), PEER_IFNAME, `${n.ip6}/${prefix6Twin(NODE_NETWORK_PREFIX)}`);
      route6(topo, nodeNs(prefix, a), [b.podSubnet6!, "via", b.ip6]);
      route6(topo, nodeNs(prefix, b), [a.podSubnet6!, "via", a.ip6]);
      route6(topo, nodeNs(prefix, b), ["default", "via", a.ip6]);
    }
  } else if (a) {
    topo.exec(nodeNs(prefix, a), "ip", ["addr", "add", `${a.ip}/32`, "dev", "lo"]);
    if (a.ip6) addAddr6(topo, nodeNs(prefix, a), "lo", `${a.ip6}/128`);
  }
  for (const n of plan.nodes) say(`node ${n.name}: ${nodeNs(prefix, n)}, ${n.ip}, pods ${n.podSubnet}`);
}

/** One pod namespace, wired to its node, with the cluster DNS in its resolv.conf. */
export function buildPod(topo: Topology, plan: LabPlan, pod: LabPod, dnsIp: string): string {
  const prefix = topo.prefix;
  const node = plan.nodes.find((n) => n.name === pod.node)!;
  const ns = podNs(prefix, pod);
  mkdirSync(netnsEtc(ns), { recursive: true });
  writeFileSync(`${netnsEtc(ns)}/resolv.conf`, resolvConf(pod.namespace, dnsIp));
  topo.addNamespace(short(ns, prefix));
  sysctls(topo, plan, ns, false);
  const host = nodeNs(prefix, node);
  topo.link(
    { ns: host, ifname: podIfname(pod), addr: `${node.gateway}/32` },
    { ns, ifname: "eth0", addr: `${pod.ip}/32` },
  );
  const ends = podVethEnds(topo.prefix, plan, pod);
  for (const end of ends) tuneLink(topo, plan, end);
  // --pod-mtu: the narrow hop, hidden from TCP's handshake by advertising a 1500-byte path's MSS.
  const mtu = plan.links?.podMtu?.node === pod.node ? plan.links.podMtu.mtu : null;
  if (mtu !== null)
    for (const end of ends) topo.exec(end.ns, "ip", ["link", "set", end.ifname, "mtu", String(mtu)]);
  const advmss = mtu !== null ? ["advmss", String(ETHERNET_ADVMSS)] : [];
  topo.exec(host, "ip", ["route", "add", `${pod.ip}/32`, "dev", podIfname(pod)]);
  topo.exec(ns, "ip", ["route", "add", node.gateway, "dev", "eth0", "scope", "link", ...advmss]);
  topo.exec(ns, "ip", ["route", "add", "default", "via", node.gateway, "dev", "eth0", ...advmss]);
  if (pod.ip6 && node.gateway6) {
    const advmss6 = mtu !== null ? ["advmss", String(ETHERNET_ADVMSS6)] : [];
    addAddr6(topo, host, podIfname(pod), `${node.gateway6}/128`);
    addAddr6(topo, ns, "eth0", `${pod.ip6}/128`);
    route6(topo, host, [`${pod.ip6}/128`, "dev", podIfname(pod)]);
    route6(topo, ns, [node.gateway6, "dev", "eth0", ...advmss6]);
    route6(topo, ns, ["default", "via", node.gateway6, "dev", "eth0", ...advmss6]);
  }
  return ns;
}

export function removePod(topo: Topology, pod: LabPod): void {
  const ns = podNs(topo.prefix, pod);
  topo.removeNamespace(ns);
  rmSync(netnsEtc(ns), { recursive: true, force: true });
}

/** An external client on its own /30 to the edge node; it routes the whole lab range there. */
export function buildExternal(topo: Topology, plan: LabPlan, ext: LabExternal): string {
  const prefix = topo.prefix;
  const ns = externalNs(prefix, ext);
  topo.addNamespace(short(ns, prefix));
  const edge = nodeNs(prefix, plan.nodes[0]!);
  topo.link(
    { ns: edge, ifname: externalIfname(ext), addr: `${ext.gateway}/30` },
    { ns, ifname: "eth0", addr: `${ext.ip}/30` },
  );
  for (const end of externalVethEnds(prefix, plan, ext)) tuneLink(topo, plan, end);
  topo.exec(ns, "ip", ["route", "add", LAB_RANGE, "via", ext.gateway]);
  if (ext.ip6 && ext.gateway6) {
    addAddr6(topo, edge, externalIfname(ext), `${ext.gateway6}/${prefix6Twin(30)}`);
    addAddr6(topo, ns, "eth0", `${ext.ip6}/${prefix6Twin(30)}`);
    route6(topo, ns, [LAB_RANGE6, "via", ext.gateway6]);
  }
  return ns;
}

/** A new veth end gets the run's offloads; with the kernel's defaults, ethtool is not needed at all. */
function tuneLink(topo: Topology, plan: LabPlan, end: VethEnd): void {
  if (changesOffloads(plan.links)) tuneVeth(topo, plan.links, end);
}

function podVethEnds(prefix: string, plan: LabPlan, pod: LabPod): VethEnd[] {
  const node = plan.nodes.find((n) => n.name === pod.node)!;
  return [
    { ns: nodeNs(prefix, node), ifname: podIfname(pod), side: "node" },
    { ns: podNs(prefix, pod), ifname: "eth0", side: "host" },
  ];
}

function externalVethEnds(prefix: string, plan: LabPlan, ext: LabExternal): VethEnd[] {
  return [
    { ns: nodeNs(prefix, plan.nodes[0]!), ifname: externalIfname(ext), side: "node" },
    { ns: externalNs(prefix, ext), ifname: "eth0", side: "host" },
  ];
}

/** Every veth end the lab carries traffic over (not the edge node's dead-end "world" link). */
export function vethEnds(prefix: string, plan: LabPlan): VethEnd[] {
  return [
    ...(plan.nodes.length > 1
      ? plan.nodes.map((n): VethEnd => ({ ns: nodeNs(prefix, n), ifname: PEER_IFNAME, side: "node" }))
      : []),
    ...plan.pods.flatMap((p) => podVethEnds(prefix, plan, p)),
    ...plan.externals.flatMap((e) => externalVethEnds(prefix, plan, e)),
  ];
}

/** The interfaces of a node that traffic enters by: where a proxy without netfilter attaches. */
export function nodeIfnames(plan: LabPlan, node: LabNode): string[] {
  return [
    ...plan.pods.filter((p) => p.node === node.name).map(podIfname),
    ...(plan.nodes.length > 1 ? [PEER_IFNAME] : []),
    ...(node.index === 0 ? plan.externals.map(externalIfname) : []),
  ];
}
