// The end-to-end tests' scenario: one Service per behaviour, on two nodes, written with addresses
// outside the lab range (10.x, 203.0.113.x) so the lab's re-addressing is exercised as for the seeds.
// Source ranges name lab addresses: 198.19.129.0/30 is ext-1's link, so ext-1 is in and ext-2 is out.
import { stringify } from "yaml";
import { writeTemp } from "./manifests.js";

/** A Service with one port (http: 80 → 8080/TCP), and its endpoints. */
export interface ScenarioService {
  name: string;
  spec: Record<string, unknown>;
  lbIp?: string;
  /** [ip, node] per endpoint. */
  endpoints: [string, string][];
}

const SERVICES: ScenarioService[] = [
  {
    name: "web",
    spec: { type: "LoadBalancer", clusterIP: "10.96.0.20", externalIPs: ["203.0.113.20"] },
    lbIp: "203.0.113.10",
    endpoints: [
      ["10.244.1.11", "node-a"],
      ["10.244.1.12", "node-a"],
      ["10.244.2.13", "node-b"],
    ],
  },
  {
    name: "local",
    spec: { type: "LoadBalancer", clusterIP: "10.96.0.21", externalTrafficPolicy: "Local" },
    lbIp: "203.0.113.11",
    endpoints: [
      ["10.244.1.21", "node-a"],
      ["10.244.1.22", "node-a"],
      ["10.244.2.23", "node-b"],
    ],
  },
  {
    name: "sticky",
    spec: { type: "ClusterIP", clusterIP: "10.96.0.22", sessionAffinity: "ClientIP" },
    endpoints: [
      ["10.244.1.31", "node-a"],
      ["10.244.2.32", "node-b"],
      ["10.244.2.33", "node-b"],
    ],
  },
  {
    name: "fenced",
    spec: { type: "LoadBalancer", clusterIP: "10.96.0.23", loadBalancerSourceRanges: ["198.19.129.0/30"] },
    lbIp: "203.0.113.12",
    endpoints: [
      ["10.244.1.41", "node-a"],
      ["10.244.2.42", "node-b"],
    ],
  },
  { name: "empty", spec: { type: "ClusterIP", clusterIP: "10.96.0.24" }, endpoints: [] },
  {
    name: "scaled",
    spec: { type: "ClusterIP", clusterIP: "10.96.0.25" },
    endpoints: [["10.244.1.51", "node-a"]],
  },
];

/** Writes the scenario to a temporary file and returns its path. */
export function writeLabScenario(): string {
  return writeServices("lab-e2e.yaml", SERVICES);
}

/** Writes Services and their EndpointSlices (namespace default) to a temporary file; returns its path. */
export function writeServices(file: string, services: ScenarioService[]): string {
  const docs = services.flatMap((s) => [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: s.name, namespace: "default" },
      spec: { ...s.spec, ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }] },
      ...(s.lbIp ? { status: { loadBalancer: { ingress: [{ ip: s.lbIp }] } } } : {}),
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${s.name}-x`,
        namespace: "default",
        labels: { "kubernetes.io/service-name": s.name },
      },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: s.endpoints.map(([ip, nodeName]) => ({
        addresses: [ip],
        conditions: { ready: true },
        nodeName,
      })),
    },
  ]);
  return writeTemp(file, docs.map((d) => stringify(d)).join("---\n"));
}
