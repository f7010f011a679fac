// Endpoint selection, as kube-proxy does it (pkg/proxy/topology.go, CategorizeEndpoints).
// Both designs call this, so a backend gets traffic under maplb exactly when kube-proxy would send it traffic.
import type { Endpoint, ServicePort } from "./types.js";

export interface EndpointSelection {
  /** Ready endpoints; when there are none, the serving-and-terminating ones. */
  cluster: Endpoint[];
  /** Local and ready; when there are none, local, serving and terminating. */
  local: Endpoint[];
  /**
   * The port uses cluster endpoints for some traffic: `!ITPLocal || externallyAccessible`. Even with
   * ETP=Local, external traffic from local pods and from the node short-circuits to cluster endpoints
   * (kube-proxy's BaseServicePortInfo.UsesClusterEndpoints; its KUBE-EXT chain jumps to KUBE-SVC).
   */
  useCluster: boolean;
  /** The port uses local endpoints for some traffic: `ITPLocal || (externallyAccessible && ETPLocal)`. */
  useLocal: boolean;
  /** Every endpoint reachable through a chain or slot (the union of the used sets), sorted. */
  reachable: Endpoint[];
}

/** True when the port has a NodePort, a LoadBalancer IP or an externalIP. */
export function externallyAccessible(p: ServicePort): boolean {
  return p.nodePort !== 0 || p.loadBalancerIPs.length > 0 || p.externalIPs.length > 0;
}

/** ETP=Local only counts for externally accessible ports. */
export function externalPolicyLocal(p: ServicePort): boolean {
  return externallyAccessible(p) && p.externalTrafficPolicy === "Local";
}

export function internalPolicyLocal(p: ServicePort): boolean {
  return p.internalTrafficPolicy === "Local";
}

/**
 * The endpoints one node serves when EndpointSlices name one `ip:port` more than once: kube-proxy's
 * rule, which maplb's compiler follows too (so both designs balance over the same set). v1.35
 * (pkg/proxy/endpointslicecache.go addEndpoints) keeps the first entry unless a later one is local:
 * `if !exists || isLocal`. So a local entry wins whatever its conditions, even over a ready remote
 * one. (Slices are read in manifest order; kube-proxy reads them in Go map order, so between two
 * remote or two local duplicates in different slices its choice is not fixed.)
 *
 * Why maplb follows it instead of listing a design difference: its endpoint selection is kube-proxy's
 * by design (see above), DESIGN.md makes no exception for repeated addresses, and the compiler already
 * builds one node's tables (LOCAL backends, the Local scope), so this node's view costs nothing. Not
 * following it would change which backends exist, e.g. serve an entry this node's kube-proxy drops.
 */
export function endpointsOnNode(p: ServicePort, nodeName: string): Endpoint[] {
  if (!p.duplicateEndpoints) return p.endpoints;
  const kept = new Map<string, Endpoint>(p.endpoints.map((e) => [`${e.ip}:${e.port}`, e]));
  const seen = new Set<string>();
  for (const e of p.duplicateEndpoints) {
    const key = `${e.ip}:${e.port}`;
    if (!seen.has(key) || e.nodeName === nodeName) kept.set(key, e);
    seen.add(key);
  }
  return [...kept.values()].sort(byEndpointString);
}

/** The port as node `nodeName` sees it: its endpoints those of endpointsOnNode. */
export function portOnNode(p: ServicePort, nodeName: string): ServicePort {
  return p.duplicateEndpoints ? { ...p, endpoints: endpointsOnNode(p, nodeName) } : p;
}

/** Ready endpoints, or (falling back) the serving-and-terminating ones. */
function usable(eps: Endpoint[]): Endpoint[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length > 0 ? ready : eps.filter((e) => e.serving && e.terminating);
}

export function selectEndpoints(p: ServicePort, nodeName: string): EndpointSelection {
  const cluster = usable(p.endpoints);
  const local = usable(p.endpoints.filter((e) => e.nodeName === nodeName));
  const ext = externallyAccessible(p);
  const etpLocal = ext && p.externalTrafficPolicy === "Local";
  const itpLocal = internalPolicyLocal(p);
  const useCluster = !itpLocal || ext;
  const useLocal = itpLocal || etpLocal;
  const set = new Set<Endpoint>([...(useCluster ? cluster : []), ...(useLocal ? local : [])]);
  const reachable = p.endpoints.filter((e) => set.has(e));
  return { cluster, local, useCluster, useLocal, reachable };
}

/** `ip:port`, the string kube-proxy sorts endpoints by and puts in comments. */
export function endpointString(e: Pick<Endpoint, "ip" | "port">): string {
  return `${e.ip}:${e.port}`;
}

/** kube-proxy's endpoint order: plain string order of `ip:port` (so 10.0.1.10:80 sorts before 10.0.1.2:80). */
export function byEndpointString(a: Pick<Endpoint, "ip" | "port">, b: Pick<Endpoint, "ip" | "port">): number {
  const x = endpointString(a);
  const y = endpointString(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The most backends one Maglev table of the port can hold on any node: every backend set is either
 * ready endpoints or serving-and-terminating ones (see usable()).
 */
export function maglevCandidates(p: Pick<ServicePort, "endpoints">): number {
  const ready = p.endpoints.filter((e) => e.ready).length;
  return Math.max(ready, p.endpoints.filter((e) => e.serving && e.terminating).length);
}
