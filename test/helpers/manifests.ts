// Test helpers: write manifests to a temporary directory, and ready-made objects to vary.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function writeTemp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "maplb-test-"));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The repository's shared/ folder (scenarios and references), beside the checkout. */
export const SHARED = new URL("../../../../shared/", import.meta.url).pathname;
export const SCENARIOS = join(SHARED, "scenarios");

export function service(overrides: { metadata?: object; spec?: object; status?: object } = {}): object {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "shop", ...overrides.metadata },
    spec: {
      type: "ClusterIP",
      clusterIP: "10.96.0.10",
      ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
      ...overrides.spec,
    },
    ...(overrides.status ? { status: overrides.status } : {}),
  };
}

export function slice(
  overrides: { metadata?: object; ports?: object[]; endpoints?: object[]; addressType?: string } = {},
): object {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "web-abc",
      namespace: "shop",
      labels: { "kubernetes.io/service-name": "web" },
      ...overrides.metadata,
    },
    addressType: overrides.addressType ?? "IPv4",
    ports: overrides.ports ?? [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: overrides.endpoints ?? [
      { addresses: ["10.0.1.5"], conditions: { ready: true }, nodeName: "n1" },
    ],
  };
}
