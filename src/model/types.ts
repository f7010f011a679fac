// The ServiceModel: one description of "which frontends lead to which endpoints, under which policies".
// Both designs are built from it: the BPF lookup tables (src/compile) and kube-proxy's rules (src/kubeproxy).
// It is plain data, built by a pure function from parsed Kubernetes objects (src/model/build.ts).
import { ipFamilyOf } from "../util/ip.js";

export type Protocol = "TCP" | "UDP" | "SCTP";
export type TrafficPolicy = "Cluster" | "Local";
export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
export type LbAlgorithm = "maglev" | "random";
/** A Service's `spec.ipFamilies` entries, and an EndpointSlice's IP `addressType`s. */
export type IpFamily = "IPv4" | "IPv6";
export const IP_FAMILIES: readonly IpFamily[] = ["IPv4", "IPv6"];

/** Cilium's default Maglev table size: a prime, so every backend's permutation covers all rows. */
export const DEFAULT_MAGLEV_TABLE_SIZE = 16381;
/** kube-proxy's default ClientIP affinity timeout (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

/** One address:port of an EndpointSlice, with its conditions resolved as kube-proxy resolves them. */
export interface Endpoint {
  ip: string;
  /** The EndpointSlice port number for this service port (the target port). */
  port: number;
  nodeName: string | null;
  zone: string | null;
  /** ready: unset or true. */
  ready: boolean;
  /** serving: unset or true. */
  serving: boolean;
  /** terminating: set and true. */
  terminating: boolean;
  /** targetRef name (a pod name), for display. */
  targetName: string | null;
}

/** One port of one Service: kube-proxy's unit ("ServicePortName") and ours. */
export interface ServicePort {
  /** Unique id: `ns/name:portName/PROTO`, and `/IPv6` after it for the IPv6 half (portName may be empty). */
  id: string;
  /** Which family this port serves: a dual-stack Service gives one ServicePort per family, each
   * with that family's cluster IP, external IPs, ingress IPs, source ranges and endpoints only, as
   * kube-proxy's per-family proxiers see it. */
  family: IpFamily;
  namespace: string;
  name: string;
  /** The port's name, "" when unnamed. */
  portName: string;
  /** kube-proxy's service port name: `ns/name`, plus `:portName` when the port is named. */
  spn: string;
  protocol: Protocol;
  type: ServiceType;
  port: number;
  /** 0 when the port has no NodePort. */
  nodePort: number;
  /** This family's cluster IP; null for headless services and ExternalName. */
  clusterIP: string | null;
  externalIPs: string[];
  loadBalancerIPs: string[];
  /** CIDRs, whitespace-trimmed, in the order the Service lists them. */
  loadBalancerSourceRanges: string[];
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  /** ClientIP session affinity timeout in seconds; null without affinity. */
  affinityTimeoutSeconds: number | null;
  /** 0 when none. */
  healthCheckNodePort: number;
  /** Backend choice, from the `maplb.io/lb-algorithm` annotation (default maglev). */
  algorithm: LbAlgorithm;
  /** Maglev table size M (a prime), from `maplb.io/maglev-table-size`. */
  maglevTableSize: number;
  /** Deduplicated (a non-terminating entry wins) and sorted as strings of `ip:port`. With
   * duplicateEndpoints, what one node serves is endpointsOnNode (model/endpoints.ts) instead. */
  endpoints: Endpoint[];
  /** Every entry of an `ip:port` that several EndpointSlice entries name, in manifest order; absent
   * when none repeats. Both designs pick among them by kube-proxy's rule (endpointsOnNode). */
  duplicateEndpoints?: Endpoint[];
}

/** The whole model: every service port of both families, sorted by id. Consumers that serve one
 * family (kube-proxy's rules are per family) take theirs with `portsOfFamily`. */
export interface ServiceModel {
  ports: ServicePort[];
}

/** One family's service ports, in model order. */
export function portsOfFamily(model: ServiceModel, family: IpFamily): ServicePort[] {
  return model.ports.filter((p) => p.family === family);
}

/** Node-level settings that change what either design builds. */
export interface NodeConfig {
  /** Decides which endpoints are local (`nodeName` of the endpoint). */
  nodeName: string;
  /** NodePort frontends of the datapath, of either family (each family's frontends take their own:
   * nodeIPsOfFamily). Not printed in kube-proxy's iptables text (its NodePorts match addrtype LOCAL). */
  nodeIPs: string[];
  /** kube-proxy's "local traffic" detector for IPv4: the pod CIDR; null for none. */
  clusterCIDR: string | null;
  /** The same for IPv6 (kube-proxy's --cluster-cidr takes one range per family). */
  clusterCIDR6: string | null;
  masqueradeAll: boolean;
  /** kube-proxy's nfacct counters on the INVALID drop and localhost NodePort rules. */
  nfacct: boolean;
  /** kube-proxy's localhost NodePorts (IPv4): the KUBE-FIREWALL rule and the 127.0.0.0/8 NodePort rule. */
  localhostNodePorts: boolean;
}

export const DEFAULT_NODE_CONFIG: NodeConfig = {
  nodeName: "node",
  nodeIPs: [],
  clusterCIDR: null,
  clusterCIDR6: null,
  masqueradeAll: false,
  nfacct: true,
  localhostNodePorts: true,
};

/** The node's addresses of one family, in the order given. */
export function nodeIPsOfFamily(node: NodeConfig, family: IpFamily): string[] {
  return node.nodeIPs.filter((ip) => ipFamilyOf(ip) === family);
}

/** The pod CIDR of one family, or null. */
export function clusterCIDROfFamily(node: NodeConfig, family: IpFamily): string | null {
  return family === "IPv4" ? node.clusterCIDR : node.clusterCIDR6;
}
