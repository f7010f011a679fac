// Structural validation of a v1 Service. API-server policy (such as the NodePort range) is not
// checked: kube-proxy programs nodePort 3001 without complaint, and so do we.
import type { V1Service } from "@kubernetes/client-node";
import { isPrime } from "../util/prime.js";
import { Checker, PROTOCOLS, checkMetadata, isRecord, type Raw } from "./checker.js";
import { checkClusterIPs } from "./cluster-ips.js";
import { dns1035Label, dns1123Label, ianaSvcName } from "./names.js";

export const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] as const;
export const ANNOTATION_ALGORITHM = "maplb.io/lb-algorithm";
export const ANNOTATION_MAGLEV_SIZE = "maplb.io/maglev-table-size";
/** Largest Maglev table Cilium accepts; larger tables cost 4·M bytes per service for no gain. */
export const MAX_MAGLEV_TABLE_SIZE = 131071;

function checkPorts(c: Checker, spec: Raw): void {
  const ports = c.array(spec, "ports", "spec.ports");
  const names = new Map<string, number>();
  const portProto = new Map<string, number>();
  ports.forEach((raw, i) => {
    const path = `spec.ports[${i}]`;
    if (!isRecord(raw)) return void c.fail(path, raw, "must be an object");
    // As the API server: a DNS-1123 label, and required once a Service has more than one port.
    const name = c.name(raw, "name", `${path}.name`, dns1123Label, ports.length > 1) ?? "";
    const port = c.port(raw, "port", `${path}.port`, true);
    const protocol = c.oneOf(raw, "protocol", `${path}.protocol`, PROTOCOLS) ?? "TCP";
    c.int(raw, "nodePort", `${path}.nodePort`, 0, 65535);
    const target = raw.targetPort;
    if (typeof target === "number") c.port(raw, "targetPort", `${path}.targetPort`);
    else if (typeof target === "string" && target !== "")
      c.name(raw, "targetPort", `${path}.targetPort`, ianaSvcName);
    else if (target !== undefined && target !== null)
      c.fail(`${path}.targetPort`, target, "must be a port number or a port name");
    const seen = names.get(name);
    if (seen !== undefined)
      c.fail(`${path}.name`, name, `duplicate port name (also spec.ports[${seen}].name)`);
    else names.set(name, i);
    if (port !== undefined) {
      const key = `${port}/${protocol}`;
      const dup = portProto.get(key);
      if (dup !== undefined)
        c.fail(`${path}.port`, port, `duplicate port and protocol (also spec.ports[${dup}])`);
      else portProto.set(key, i);
    }
  });
}

function checkAnnotations(c: Checker, meta: Raw): void {
  const ann = c.record(meta, "annotations", "metadata.annotations");
  if (!ann) return;
  c.oneOf(ann, ANNOTATION_ALGORITHM, `metadata.annotations["${ANNOTATION_ALGORITHM}"]`, ["maglev", "random"]);
  const m = ann[ANNOTATION_MAGLEV_SIZE];
  if (m === undefined) return;
  const path = `metadata.annotations["${ANNOTATION_MAGLEV_SIZE}"]`;
  const n = typeof m === "string" && /^\d+$/.test(m) ? Number(m) : NaN;
  if (!(n >= 3 && n <= MAX_MAGLEV_TABLE_SIZE && isPrime(n)))
    c.fail(path, m, `must be a prime between 3 and ${MAX_MAGLEV_TABLE_SIZE} (for example "16381")`);
}

export function checkService(c: Checker, o: Raw): V1Service | undefined {
  const meta = checkMetadata(c, o, dns1035Label);
  if (meta) checkAnnotations(c, meta);
  const spec = c.record(o, "spec", "spec", true);
  if (!spec) return undefined;
  const type = c.oneOf(spec, "type", "spec.type", SERVICE_TYPES);
  checkClusterIPs(c, spec, type);
  checkPorts(c, spec);
  c.array(spec, "externalIPs", "spec.externalIPs").forEach((ip, i) =>
    c.endpointIP(ip, `spec.externalIPs[${i}]`),
  );
  c.array(spec, "loadBalancerSourceRanges", "spec.loadBalancerSourceRanges").forEach((r, i) =>
    c.cidr(r, `spec.loadBalancerSourceRanges[${i}]`),
  );
  c.oneOf(spec, "externalTrafficPolicy", "spec.externalTrafficPolicy", ["Cluster", "Local"]);
  c.oneOf(spec, "internalTrafficPolicy", "spec.internalTrafficPolicy", ["Cluster", "Local"]);
  c.oneOf(spec, "sessionAffinity", "spec.sessionAffinity", ["None", "ClientIP"]);
  const sac = c.record(spec, "sessionAffinityConfig", "spec.sessionAffinityConfig");
  const clientIP = sac && c.record(sac, "clientIP", "spec.sessionAffinityConfig.clientIP");
  if (clientIP)
    c.int(clientIP, "timeoutSeconds", "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 1, 86400);
  c.int(spec, "healthCheckNodePort", "spec.healthCheckNodePort", 0, 65535);
  const status = c.record(o, "status", "status");
  const lb = status && c.record(status, "loadBalancer", "status.loadBalancer");
  if (lb)
    c.array(lb, "ingress", "status.loadBalancer.ingress").forEach((ing, i) => {
      const path = `status.loadBalancer.ingress[${i}]`;
      if (!isRecord(ing)) return void c.fail(path, ing, "must be an object");
      if (ing.ip !== undefined) c.ip(ing.ip, `${path}.ip`);
    });
  // Validated field by field above; from here on the object has the shape of the Kubernetes type.
  return c.issues.length === 0 ? (o as V1Service) : undefined;
}
