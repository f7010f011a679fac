// What kube-proxy decides for one service port before writing any rule, in both of its modes
// (pkg/proxy/{iptables,nftables}/proxier.go syncProxyRules): which endpoint sets are in use, which
// policy serves internal (ClusterIP) and external (NodePort, externalIP, LoadBalancer) traffic, and
// what happens to traffic that finds no endpoint.
import {
  externallyAccessible,
  externalPolicyLocal,
  internalPolicyLocal,
  portOnNode,
  selectEndpoints,
  type EndpointSelection,
} from "../model/endpoints.js";
import type { ServicePort } from "../model/types.js";

/** Which endpoint set a kind of traffic is dispatched to: the "Cluster" or the "Local" policy chain. */
export type PolicySet = "cluster" | "local";

export interface ServicePortPlan {
  selection: EndpointSelection;
  /** Some endpoint is usable on some node. Without any, only filter rules reject the traffic. */
  hasEndpoints: boolean;
  /** The cluster policy chain (KUBE-SVC / service-…) exists. */
  usesClusterChain: boolean;
  /** The local policy chain (KUBE-SVL / local-…) exists. */
  usesLocalChain: boolean;
  internalPolicy: PolicySet;
  /** ClusterIP traffic has endpoints under its policy (ITP=Local needs a local one). */
  hasInternalEndpoints: boolean;
  externalPolicy: PolicySet;
  /** External traffic has endpoints under its policy (ETP=Local needs a local one). */
  hasExternalEndpoints: boolean;
  /** The external chain exists whenever there are endpoints: its short-circuits for traffic from
   * pods and from the node are needed even when ETP=Local leaves no local endpoint. */
  usesExternalChain: boolean;
  /** ETP=Local (for an externally accessible port): keep client source addresses. */
  externalPolicyLocal: boolean;
  /** For destinations without endpoints under their policy: reject when the service has none at all,
   * drop when only the local ones are missing. */
  noEndpointVerdict: "reject" | "drop";
}

export function planServicePort(p: ServicePort, nodeName: string): ServicePortPlan {
  const selection = selectEndpoints(portOnNode(p, nodeName), nodeName);
  // `cluster` is non-empty exactly when some endpoint is ready, or serving and terminating,
  // anywhere: kube-proxy's hasEndpoints.
  const hasEndpoints = selection.cluster.length > 0;
  const hasLocal = selection.local.length > 0;
  const itpLocal = internalPolicyLocal(p);
  const etpLocal = externalPolicyLocal(p);
  return {
    selection,
    hasEndpoints,
    usesClusterChain: hasEndpoints && selection.useCluster,
    usesLocalChain: hasLocal && selection.useLocal,
    internalPolicy: itpLocal ? "local" : "cluster",
    hasInternalEndpoints: hasEndpoints && (!itpLocal || hasLocal),
    externalPolicy: etpLocal ? "local" : "cluster",
    hasExternalEndpoints: hasEndpoints && (!etpLocal || hasLocal),
    usesExternalChain: hasEndpoints && externallyAccessible(p),
    externalPolicyLocal: etpLocal,
    noEndpointVerdict: hasEndpoints ? "drop" : "reject",
  };
}
