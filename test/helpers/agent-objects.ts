// Test helper: Services and EndpointSlices as the API server would hold them, small enough to vary.

export function svc(
  name: string,
  clusterIP: string,
  opts: {
    namespace?: string;
    labels?: Record<string, string>;
    ports?: object[];
    type?: string;
    spec?: object;
  } = {},
): object {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: opts.namespace ?? "shop", ...(opts.labels ? { labels: opts.labels } : {}) },
    spec: {
      type: opts.type ?? "ClusterIP",
      clusterIP,
      ports: opts.ports ?? [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
      ...opts.spec,
    },
  };
}

/** A slice of `service` with one endpoint per address (ready unless listed in `terminating`). */
export function slice(
  name: string,
  service: string,
  addresses: string[],
  opts: { namespace?: string; port?: number; terminating?: string[]; labels?: Record<string, string> } = {},
): object {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace: opts.namespace ?? "shop",
      labels: { "kubernetes.io/service-name": service, ...opts.labels },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: opts.port ?? 8080, protocol: "TCP" }],
    endpoints: addresses.map((ip) => {
      const t = opts.terminating?.includes(ip) ?? false;
      return {
        addresses: [ip],
        nodeName: "node-a",
        conditions: { ready: !t, serving: true, terminating: t },
      };
    }),
  };
}

/** `n` addresses 10.0.<third>.1 … n. */
export function ips(n: number, third = 1): string[] {
  return Array.from({ length: n }, (_, i) => `10.0.${third}.${i + 1}`);
}
