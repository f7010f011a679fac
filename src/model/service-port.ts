// Building ServicePorts: the one place that knows how a port's id and kube-proxy name are spelled,
// and what a port with nothing special (ClusterIP, Cluster policies, no affinity, Maglev) looks like.
import { isIPv6 } from "../util/ip.js";
import {
  DEFAULT_MAGLEV_TABLE_SIZE,
  type Endpoint,
  type IpFamily,
  type Protocol,
  type ServicePort,
} from "./types.js";

/** `ns/name:portName/PROTO`, unique per service port; a dual-stack Service's IPv6 half adds `/IPv6`
 * (IPv4 ids are unchanged from before IPv6 landed, so existing tables and goldens keep theirs). */
export function servicePortId(
  namespace: string,
  name: string,
  portName: string,
  protocol: Protocol,
  family: IpFamily = "IPv4",
): string {
  const id = `${namespace}/${name}:${portName}/${protocol}`;
  return family === "IPv6" ? `${id}/IPv6` : id;
}

/** kube-proxy's ServicePortName: `ns/name`, plus `:portName` when the port is named. */
export function servicePortName(namespace: string, name: string, portName: string): string {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}

export interface ServicePortBasics {
  namespace: string;
  name: string;
  portName: string;
  protocol: Protocol;
  port: number;
  clusterIP: string | null;
  endpoints: Endpoint[];
}

/** A ClusterIP service port with default policies; `extra` sets anything else (type, nodePort, …).
 * Its family is its cluster IP's (IPv4 without one) unless `extra` says. */
export function newServicePort(b: ServicePortBasics, extra: Partial<ServicePort> = {}): ServicePort {
  const family = extra.family ?? (b.clusterIP !== null && isIPv6(b.clusterIP) ? "IPv6" : "IPv4");
  return {
    id: servicePortId(b.namespace, b.name, b.portName, b.protocol, family),
    family,
    spn: servicePortName(b.namespace, b.name, b.portName),
    type: "ClusterIP",
    nodePort: 0,
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    affinityTimeoutSeconds: null,
    healthCheckNodePort: 0,
    algorithm: "maglev",
    maglevTableSize: DEFAULT_MAGLEV_TABLE_SIZE,
    ...b,
    ...extra,
  };
}
