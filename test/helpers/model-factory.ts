// Test helper: ServicePorts and Endpoints built directly (no manifests), with defaults to vary.
import {
  DEFAULT_NODE_CONFIG,
  type Endpoint,
  type NodeConfig,
  type ServicePort,
} from "../../src/model/types.js";
import { byEndpointString } from "../../src/model/endpoints.js";
import { newServicePort } from "../../src/model/service-port.js";

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

/** A ClusterIP service port `shop/web:http/TCP` on 10.96.0.10:80; endpoints are sorted as the model sorts them. */
export function servicePort(overrides: Partial<ServicePort> = {}): ServicePort {
  const p = newServicePort(
    {
      namespace: overrides.namespace ?? "shop",
      name: overrides.name ?? "web",
      portName: overrides.portName ?? "http",
      protocol: overrides.protocol ?? "TCP",
      port: 80,
      clusterIP: "10.96.0.10",
      endpoints: [endpoint("10.0.1.1"), endpoint("10.0.1.2")],
    },
    { maglevTableSize: 251, ...overrides },
  );
  return { ...p, endpoints: [...p.endpoints].sort(byEndpointString) };
}

export function nodeConfig(overrides: Partial<NodeConfig> = {}): NodeConfig {
  return { ...DEFAULT_NODE_CONFIG, nodeName: "node-a", nodeIPs: ["192.0.2.10"], ...overrides };
}

/**
 * Three service ports that between them use most of the tables: web (Maglev, a terminating endpoint),
 * lb (LoadBalancer with a NodePort and a source range, externalTrafficPolicy Local, an endpoint on
 * another node) and rnd (random).
 */
export function threeServicePorts(): ServicePort[] {
  return [
    servicePort({ endpoints: [endpoint("10.0.1.1"), endpoint("10.0.1.2"), terminating("10.0.1.3")] }),
    servicePort({
      name: "lb",
      clusterIP: "10.96.0.20",
      type: "LoadBalancer",
      nodePort: 30080,
      loadBalancerIPs: ["203.0.113.7"],
      loadBalancerSourceRanges: ["198.51.100.0/24"],
      externalTrafficPolicy: "Local",
      endpoints: [endpoint("10.0.2.1"), endpoint("10.0.2.2", { nodeName: "node-b" })],
    }),
    servicePort({ name: "rnd", clusterIP: "10.96.0.30", algorithm: "random" }),
  ];
}

/** A node with an address of each family and a pod CIDR of each. */
export const dualStackNode = nodeConfig({
  nodeIPs: ["192.0.2.10", "2001:db8:ff::10"],
  clusterCIDR: "10.0.0.0/16",
  clusterCIDR6: "2001:db8:1::/64",
});

/** The two halves of one dual-stack LoadBalancer Service, as the model builds them. */
export function dualStackLb(
  overrides: { v4?: Partial<ServicePort>; v6?: Partial<ServicePort> } = {},
): ServicePort[] {
  const common: Partial<ServicePort> = {
    name: "lb",
    type: "LoadBalancer",
    nodePort: 30080,
    externalTrafficPolicy: "Local",
  };
  return [
    servicePort({
      ...common,
      clusterIP: "10.96.0.20",
      loadBalancerIPs: ["203.0.113.7"],
      loadBalancerSourceRanges: ["198.51.100.0/24"],
      endpoints: [endpoint("10.0.2.1"), endpoint("10.0.2.2", { nodeName: "node-b" })],
      ...overrides.v4,
    }),
    servicePort({
      ...common,
      family: "IPv6",
      clusterIP: "fd00:96::20",
      loadBalancerIPs: ["2001:db8:7::7"],
      loadBalancerSourceRanges: ["2001:db8:51::/48"],
      endpoints: [endpoint("2001:db8:1::1"), endpoint("2001:db8:1::2", { nodeName: "node-b" })],
      ...overrides.v6,
    }),
  ];
}
