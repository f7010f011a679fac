// Test helpers for the kube-proxy rule generators: service ports and endpoints built in code.
import type { Endpoint, NodeConfig, ServicePort } from "../../src/model/types.js";
import { DEFAULT_NODE_CONFIG } from "../../src/model/types.js";

export function endpoint(ip: string, overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    ip,
    port: 8080,
    nodeName: "node-a",
    zone: null,
    ready: true,
    serving: true,
    terminating: false,
    targetName: null,
    ...overrides,
  };
}

/** A ClusterIP service port `ns1/svc1:p80` on 172.30.0.41:80/TCP; override what a case needs. */
export function servicePort(overrides: Partial<ServicePort> = {}): ServicePort {
  const namespace = overrides.namespace ?? "ns1";
  const name = overrides.name ?? "svc1";
  const portName = overrides.portName ?? "p80";
  const protocol = overrides.protocol ?? "TCP";
  const base = `${namespace}/${name}`;
  return {
    id: `${base}:${portName}/${protocol}`,
    namespace,
    name,
    portName,
    spn: portName ? `${base}:${portName}` : base,
    protocol,
    type: "ClusterIP",
    port: 80,
    nodePort: 0,
    clusterIP: "172.30.0.41",
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    affinityTimeoutSeconds: null,
    healthCheckNodePort: 0,
    algorithm: "maglev",
    maglevTableSize: 16381,
    endpoints: [endpoint("10.180.0.1")],
    ...overrides,
  };
}

export const NODE: NodeConfig = {
  ...DEFAULT_NODE_CONFIG,
  nodeName: "node-a",
  nodeIPs: ["192.168.0.2"],
  clusterCIDR: "10.0.0.0/8",
};
