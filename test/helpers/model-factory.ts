// Test helper: ServicePorts and Endpoints built directly (no manifests), with defaults to vary.
import {
  DEFAULT_NODE_CONFIG,
  type Endpoint,
  type NodeConfig,
  type ServicePort,
} from "../../src/model/types.js";

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

/** A terminating endpoint that still serves (kube-proxy's fallback when nothing is ready). */
export function terminating(ip: string, overrides: Partial<Endpoint> = {}): Endpoint {
  return endpoint(ip, { ready: false, serving: true, terminating: true, ...overrides });
}

const byIpPort = (a: Endpoint, b: Endpoint) => {
  const x = `${a.ip}:${a.port}`;
  const y = `${b.ip}:${b.port}`;
  return x < y ? -1 : x > y ? 1 : 0;
};

/** A ClusterIP service port `shop/web:http/TCP` on 10.96.0.10:80; endpoints are sorted as the model sorts them. */
export function servicePort(overrides: Partial<ServicePort> = {}): ServicePort {
  const namespace = overrides.namespace ?? "shop";
  const name = overrides.name ?? "web";
  const portName = overrides.portName ?? "http";
  const protocol = overrides.protocol ?? "TCP";
  return {
    namespace,
    name,
    portName,
    spn: portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`,
    protocol,
    type: "ClusterIP",
    port: 80,
    nodePort: 0,
    clusterIP: "10.96.0.10",
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    affinityTimeoutSeconds: null,
    healthCheckNodePort: 0,
    algorithm: "maglev",
    maglevTableSize: 251,
    ...overrides,
    id: overrides.id ?? `${namespace}/${name}:${portName}/${protocol}`,
    endpoints: [...(overrides.endpoints ?? [endpoint("10.0.1.1"), endpoint("10.0.1.2")])].sort(byIpPort),
  };
}

export function nodeConfig(overrides: Partial<NodeConfig> = {}): NodeConfig {
  return { ...DEFAULT_NODE_CONFIG, nodeName: "node-a", nodeIPs: ["192.0.2.10"], ...overrides };
}
