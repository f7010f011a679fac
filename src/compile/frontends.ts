// Which frontends a service port gets, and which backend set each scope of each frontend reads.
// A port serves one family (an IPv6 port's frontends are all IPv6: its node IPs and the :: wildcard).
// This is where kube-proxy's traffic policies turn into lookup keys:
// - ClusterIP reads the local endpoints when internalTrafficPolicy=Local, else the cluster endpoints.
// - External frontends (NodePort on each node IP and the 0.0.0.0 or :: wildcard, LoadBalancer ingress IPs,
//   externalIPs) read the cluster endpoints with externalTrafficPolicy=Cluster. With ETP=Local they get
//   two scopes: EXT holds the local endpoints, INT the cluster ones, and the datapath uses INT for
//   sources inside the cluster CIDR — kube-proxy's "pod traffic for external destinations" rule.
import { type FrontendKey, Scope, SvcFlag } from "./tables.js";
import { type IpFamily, type NodeConfig, nodeIPsOfFamily, type ServicePort } from "../model/types.js";
import { canonicalIp } from "../util/ip.js";

export type FrontendKind = "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalIP";

/** The endpoint set a lookup scope sees (see selectEndpoints). */
export type BackendSet = "cluster" | "local";

/** One frontend address:port of a service port, before ids are given out. */
export interface FrontendPlan {
  kind: FrontendKind;
  address: string;
  port: number;
  flags: number;
  scopes: { scope: Scope; set: BackendSet }[];
}

/** The IPv4 NodePort wildcard: matches any local address not listed as a node IP. */
export const WILDCARD_ADDRESS = "0.0.0.0";
/** The IPv6 one (daddr in node_addrs6). */
export const WILDCARD_ADDRESS6 = "::";

export function wildcardOf(family: IpFamily): string {
  return family === "IPv6" ? WILDCARD_ADDRESS6 : WILDCARD_ADDRESS;
}

/** `address:port/PROTO`: a frontend regardless of scope; the unit a rev-NAT id names. */
export function frontendName(address: string, port: number, protocol: string): string {
  return `${address}:${port}/${protocol}`;
}

/** The frontend a lookup key belongs to, whatever its scope. */
export function frontendOf(key: FrontendKey): string {
  return frontendName(key.address, key.port, key.protocol);
}

/** The frontends of one service port, in a fixed order: ClusterIP, NodePorts, LoadBalancer IPs, externalIPs. */
export function planFrontends(p: ServicePort, node: NodeConfig): FrontendPlan[] {
  if (p.protocol === "SCTP") return []; // accepted in the model; the datapath parses TCP and UDP only
  const affinity = p.affinityTimeoutSeconds !== null ? SvcFlag.AFFINITY : 0;
  const external: FrontendPlan["scopes"] =
    p.externalTrafficPolicy === "Local"
      ? [
          { scope: Scope.EXT, set: "local" },
          { scope: Scope.INT, set: "cluster" },
        ]
      : [{ scope: Scope.EXT, set: "cluster" }];
  const twoScopes = external.length === 2 ? SvcFlag.TWO_SCOPES : 0;
  const sourceRange = p.loadBalancerSourceRanges.length > 0 ? SvcFlag.SOURCE_RANGE : 0;

  const plans: FrontendPlan[] = [];
  const seen = new Set<string>();
  const add = (
    kind: FrontendKind,
    address: string,
    port: number,
    flags: number,
    scopes: FrontendPlan["scopes"],
  ) => {
    address = canonicalIp(address);
    const name = frontendName(address, port, p.protocol);
    if (seen.has(name)) return; // e.g. an externalIP that is also a LoadBalancer IP: one frontend
    seen.add(name);
    plans.push({ kind, address, port, flags: flags | affinity, scopes });
  };

  if (p.clusterIP !== null)
    add("ClusterIP", p.clusterIP, p.port, 0, [
      { scope: Scope.EXT, set: p.internalTrafficPolicy === "Local" ? "local" : "cluster" },
    ]);
  if (p.nodePort !== 0)
    for (const ip of [...nodeIPsOfFamily(node, p.family), wildcardOf(p.family)])
      add("NodePort", ip, p.nodePort, SvcFlag.NODEPORT | twoScopes, external);
  for (const ip of p.loadBalancerIPs)
    add("LoadBalancer", ip, p.port, SvcFlag.EXTERNAL | twoScopes | sourceRange, external);
  for (const ip of p.externalIPs) add("ExternalIP", ip, p.port, SvcFlag.EXTERNAL | twoScopes, external);
  return plans;
}
