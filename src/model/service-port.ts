// Building ServicePorts: the one place that knows how a port's id and kube-proxy name are spelled,
// and what a port with nothing special (ClusterIP, Cluster policies, no affinity, Maglev) looks like.
import { DEFAULT_MAGLEV_TABLE_SIZE, type Endpoint, type Protocol, type ServicePort } from "./types.js";

/** `ns/name:portName/PROTO`: unique per service port. */
export function servicePortId(namespace: string, name: string, portName: string, protocol: Protocol): string {
  return `${namespace}/${name}:${portName}/${protocol}`;
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

/** A ClusterIP service port with default policies; `extra` sets anything else (type, nodePort, …). */
export function newServicePort(b: ServicePortBasics, extra: Partial<ServicePort> = {}): ServicePort {
  return {
    id: servicePortId(b.namespace, b.name, b.portName, b.protocol),
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
