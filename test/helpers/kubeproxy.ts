// Test helpers for the kube-proxy rule generators: service ports and endpoints built in code.
import type { Endpoint, NodeConfig, ServicePort } from "../../src/model/types.js";
import { newServicePort } from "../../src/model/service-port.js";
import { endpoint } from "./model-factory.js";

export { endpoint };
import { DEFAULT_NODE_CONFIG } from "../../src/model/types.js";

/** A ClusterIP service port `ns1/svc1:p80` on 172.30.0.41:80/TCP; override what a case needs. */
export function servicePort(overrides: Partial<ServicePort> = {}): ServicePort {
  const p = newServicePort({
    namespace: overrides.namespace ?? "ns1",
    name: overrides.name ?? "svc1",
    portName: overrides.portName ?? "p80",
    protocol: overrides.protocol ?? "TCP",
    port: 80,
    clusterIP: "172.30.0.41",
    endpoints: [endpoint("10.180.0.1")],
  });
  return { ...p, ...overrides };
}

export const NODE: NodeConfig = {
  ...DEFAULT_NODE_CONFIG,
  nodeName: "node-a",
  nodeIPs: ["192.168.0.2"],
  clusterCIDR: "10.0.0.0/8",
};

/** The node each seed scenario is rendered for (goldens and kernel tests); invented values use 192.0.2.0/24. */
export const SEED_NODES: { file: string; node: NodeConfig }[] = [
  {
    file: "seed-000-pod-to-pod.yaml",
    node: {
      ...DEFAULT_NODE_CONFIG,
      nodeName: "docker-desktop",
      nodeIPs: ["192.168.65.3"],
      clusterCIDR: "10.1.0.0/16",
    },
  },
  {
    file: "seed-001-gke-loadbalancer.yaml",
    node: {
      ...DEFAULT_NODE_CONFIG,
      nodeName: "gke-node-c",
      nodeIPs: ["10.128.0.2"],
      clusterCIDR: "10.52.0.0/14",
    },
  },
  {
    file: "seed-002-service-discovery.yaml",
    node: {
      ...DEFAULT_NODE_CONFIG,
      nodeName: "node-a",
      nodeIPs: ["192.0.2.10"],
      clusterCIDR: "10.40.0.0/16",
    },
  },
  {
    file: "seed-003-eks-services.yaml",
    node: {
      ...DEFAULT_NODE_CONFIG,
      nodeName: "ip-10-110-24-222",
      nodeIPs: ["10.110.24.222"],
      clusterCIDR: "10.110.0.0/16",
    },
  },
];

/** One service port per policy case, for tests that want every kind of rule at once. */
export function policyZoo(): ServicePort[] {
  const local = (ip: string, o: Partial<Endpoint> = {}) => endpoint(ip, { nodeName: "node-a", ...o });
  const remote = (ip: string, o: Partial<Endpoint> = {}) => endpoint(ip, { nodeName: "node-b", ...o });
  return [
    servicePort({ name: "plain", endpoints: [local("10.1.0.1"), remote("10.1.0.2"), remote("10.1.0.10")] }),
    servicePort({
      name: "none",
      type: "LoadBalancer",
      clusterIP: "172.30.0.42",
      nodePort: 30042,
      externalIPs: ["192.0.2.42"],
      loadBalancerIPs: ["203.0.113.42"],
      endpoints: [],
    }),
    servicePort({
      name: "itp",
      clusterIP: "172.30.0.43",
      internalTrafficPolicy: "Local",
      endpoints: [remote("10.1.0.3")],
    }),
    servicePort({
      name: "etp",
      type: "LoadBalancer",
      clusterIP: "172.30.0.44",
      nodePort: 30044,
      loadBalancerIPs: ["203.0.113.44"],
      externalTrafficPolicy: "Local",
      healthCheckNodePort: 30144,
      endpoints: [local("10.1.0.4"), remote("10.1.0.5")],
    }),
    servicePort({
      name: "etp-none-local",
      type: "NodePort",
      clusterIP: "172.30.0.45",
      nodePort: 30045,
      externalTrafficPolicy: "Local",
      internalTrafficPolicy: "Local",
      endpoints: [remote("10.1.0.6")],
    }),
    servicePort({
      name: "fw",
      type: "LoadBalancer",
      clusterIP: "172.30.0.46",
      nodePort: 30046,
      loadBalancerIPs: ["203.0.113.46"],
      loadBalancerSourceRanges: ["198.51.100.0/24", "192.168.0.0/16"],
      endpoints: [remote("10.1.0.7")],
    }),
    servicePort({
      name: "sticky",
      protocol: "UDP",
      portName: "dns",
      clusterIP: "172.30.0.47",
      port: 53,
      affinityTimeoutSeconds: 600,
      endpoints: [remote("10.1.0.8", { port: 5353 }), remote("10.1.0.9", { port: 5353 })],
    }),
    servicePort({
      name: "draining",
      clusterIP: "172.30.0.48",
      endpoints: [remote("10.1.0.11", { ready: false, serving: true, terminating: true })],
    }),
  ];
}

/**
 * An IPv4 address or CIDR moved into 2001:db8::/96 (its 32 bits the last two groups, a prefix +96),
 * so a test can build an IPv6 twin of any IPv4 case: 10.1.0.1 → 2001:db8::a01:1.
 */
export function v6(addr: string): string {
  const [ip, prefix] = addr.split("/");
  const [a, b, c, d] = ip!.split(".").map(Number);
  const group = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  const text = `2001:db8::${group(a!, b!)}:${group(c!, d!)}`;
  return prefix === undefined ? text : `${text}/${Number(prefix) + 96}`;
}

/** The IPv6 half of a dual-stack twin of `p`: the same port with every address moved by v6(). */
export function ipv6Twin(p: ServicePort): ServicePort {
  const ep = (e: Endpoint): Endpoint => ({ ...e, ip: v6(e.ip) });
  return {
    ...p,
    id: `${p.id}/IPv6`,
    family: "IPv6",
    clusterIP: p.clusterIP === null ? null : v6(p.clusterIP),
    externalIPs: p.externalIPs.map(v6),
    loadBalancerIPs: p.loadBalancerIPs.map(v6),
    loadBalancerSourceRanges: p.loadBalancerSourceRanges.map(v6),
    endpoints: p.endpoints.map(ep),
    ...(p.duplicateEndpoints ? { duplicateEndpoints: p.duplicateEndpoints.map(ep) } : {}),
  };
}

/** NODE with an IPv6 address and pod CIDR too (v6 of its IPv4 ones), for the IPv6 proxier. */
export const NODE_DUAL: NodeConfig = {
  ...NODE,
  nodeIPs: [...NODE.nodeIPs, v6(NODE.nodeIPs[0]!)],
  clusterCIDR6: v6(NODE.clusterCIDR!),
};
