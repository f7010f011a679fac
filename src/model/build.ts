// Kubernetes objects → ServiceModel. A pure function of its inputs (it only logs): the same objects
// always give the same model, which both the BPF tables and kube-proxy's rules are built from.
import type { V1EndpointSlice, V1Service, V1ServicePort } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { ClusterObjects } from "../k8s/objects.js";
import { ANNOTATION_ALGORITHM, ANNOTATION_MAGLEV_SIZE } from "../k8s/service.js";
import { SERVICE_NAME_LABEL } from "../k8s/endpointslice.js";
import { isIPv4 } from "../util/ip.js";
import { byEndpointString } from "./endpoints.js";
import { servicePortId, servicePortName } from "./service-port.js";
import {
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  DEFAULT_MAGLEV_TABLE_SIZE,
  type Endpoint,
  type LbAlgorithm,
  type Protocol,
  type ServiceModel,
  type ServicePort,
  type ServiceType,
  type TrafficPolicy,
} from "./types.js";

const sliceKey = (namespace: string, service: string) => `${namespace}/${service}`;

/** Slices grouped by `ns/service`; IPv6 and FQDN slices are skipped (IPv6 has not landed yet). */
function groupSlices(slices: V1EndpointSlice[], log: Logger): Map<string, V1EndpointSlice[]> {
  const bySvc = new Map<string, V1EndpointSlice[]>();
  for (const s of slices) {
    const ns = s.metadata?.namespace ?? "default";
    if (s.addressType !== "IPv4") {
      log.info({ slice: `${ns}/${s.metadata?.name}`, addressType: s.addressType }, "skipping non-IPv4 slice");
      continue;
    }
    const key = sliceKey(ns, s.metadata?.labels?.[SERVICE_NAME_LABEL] ?? "");
    const group = bySvc.get(key);
    if (group) group.push(s);
    else bySvc.set(key, [s]);
  }
  return bySvc;
}

/** The endpoints of one service port: matched by port name and protocol, in manifest order. */
function portEndpoints(
  slices: V1EndpointSlice[],
  portName: string,
  protocol: Protocol,
): { endpoints: Endpoint[]; duplicates: Endpoint[] } {
  const entries: Endpoint[] = [];
  for (const s of slices) {
    const sp = (s.ports ?? []).find((p) => (p.name ?? "") === portName && (p.protocol ?? "TCP") === protocol);
    if (!sp || sp.port === undefined || sp.port === null) continue;
    for (const e of s.endpoints ?? []) {
      const ip = e.addresses[0]; // kube-proxy uses the first address only
      if (ip === undefined) continue;
      const c = e.conditions ?? {};
      entries.push({
        ip,
        port: sp.port,
        nodeName: e.nodeName ?? null,
        zone: e.zone ?? null,
        ready: c.ready !== false,
        serving: c.serving !== false,
        terminating: c.terminating === true,
        targetName: e.targetRef?.name ?? null,
      });
    }
  }
  return collapseEndpoints(entries);
}

/** One port's entries (manifest order) → deduplicated and sorted endpoints, and every entry of an
 * address named more than once, in manifest order (see ServicePort). */
export function collapseEndpoints(entries: Endpoint[]): { endpoints: Endpoint[]; duplicates: Endpoint[] } {
  const byAddr = new Map<string, Endpoint>();
  // An address's entries: the one Endpoint, or a list once it is named again (a list per endpoint
  // was 100k short-lived arrays in a large read).
  const all = new Map<string, Endpoint | Endpoint[]>();
  for (const ep of entries) {
    const key = `${ep.ip}:${ep.port}`;
    const prev = byAddr.get(key);
    if (!prev || (prev.terminating && !ep.terminating)) byAddr.set(key, ep); // a non-terminating entry wins
    const had = all.get(key);
    if (had === undefined) all.set(key, ep);
    else if (Array.isArray(had)) had.push(ep);
    else all.set(key, [had, ep]);
  }
  const duplicates = [...all.values()].flatMap((e) => (Array.isArray(e) ? e : []));
  return { endpoints: [...byAddr.values()].sort(byEndpointString), duplicates };
}

function ipv4Only(ips: string[], what: string, svc: string, log: Logger): string[] {
  const v4 = ips.filter(isIPv4);
  if (v4.length !== ips.length) log.info({ service: svc, what }, "skipping IPv6 addresses");
  return v4;
}

function servicePort(
  svc: V1Service,
  p: V1ServicePort,
  { endpoints, duplicates }: { endpoints: Endpoint[]; duplicates: Endpoint[] },
  log: Logger,
): ServicePort {
  const namespace = svc.metadata?.namespace ?? "default";
  const name = svc.metadata?.name ?? "";
  const spec = svc.spec!;
  const type = (spec.type ?? "ClusterIP") as ServiceType;
  const protocol = (p.protocol ?? "TCP") as Protocol;
  const portName = p.name ?? "";
  const isLB = type === "LoadBalancer";
  const etp = (spec.externalTrafficPolicy ?? "Cluster") as TrafficPolicy;
  const ann = svc.metadata?.annotations ?? {};
  const id = `${namespace}/${name}`;
  return {
    id: servicePortId(namespace, name, portName, protocol),
    namespace,
    name,
    portName,
    spn: servicePortName(namespace, name, portName),
    protocol,
    type,
    port: p.port,
    nodePort: type === "NodePort" || isLB ? (p.nodePort ?? 0) : 0,
    clusterIP: spec.clusterIP!,
    externalIPs: ipv4Only(spec.externalIPs ?? [], "externalIPs", id, log),
    loadBalancerIPs: isLB
      ? ipv4Only(
          (svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : [])),
          "loadBalancer ingress",
          id,
          log,
        )
      : [],
    loadBalancerSourceRanges: isLB ? (spec.loadBalancerSourceRanges ?? []).map((r) => r.trim()) : [],
    externalTrafficPolicy: etp,
    internalTrafficPolicy: (spec.internalTrafficPolicy ?? "Cluster") as TrafficPolicy,
    affinityTimeoutSeconds:
      spec.sessionAffinity === "ClientIP"
        ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS)
        : null,
    healthCheckNodePort: isLB && etp === "Local" ? (spec.healthCheckNodePort ?? 0) : 0,
    algorithm: (ann[ANNOTATION_ALGORITHM] ?? "maglev") as LbAlgorithm,
    maglevTableSize: Number(ann[ANNOTATION_MAGLEV_SIZE] ?? DEFAULT_MAGLEV_TABLE_SIZE),
    endpoints,
    ...(duplicates.length > 0 ? { duplicateEndpoints: duplicates } : {}),
  };
}

/** Why a Service builds no frontends, or null when it does. */
function skipReason(svc: V1Service): string | null {
  const spec = svc.spec!;
  if (spec.type === "ExternalName") return "ExternalName service: a DNS alias, no frontends";
  if (spec.clusterIP === "None") return "headless service: no frontends";
  if (!spec.clusterIP) return "no spec.clusterIP (not allocated yet): no frontends";
  if (!isIPv4(spec.clusterIP)) return "IPv6 clusterIP: skipped until IPv6 lands";
  return null;
}

export function buildModel(objects: ClusterObjects, log: Logger): ServiceModel {
  const slices = groupSlices(objects.slices, log);
  const legacy = groupSlices(objects.legacySlices, log);
  const ports: ServicePort[] = [];
  for (const svc of objects.services) {
    const id = `${svc.metadata?.namespace ?? "default"}/${svc.metadata?.name}`;
    const reason = skipReason(svc);
    if (reason) {
      log.debug({ service: id }, reason);
      continue;
    }
    // Real slices win; legacy Endpoints are read only for Services without any.
    const own = slices.get(id) ?? legacy.get(id) ?? [];
    for (const p of svc.spec!.ports ?? []) {
      const eps = portEndpoints(own, p.name ?? "", (p.protocol ?? "TCP") as Protocol);
      ports.push(servicePort(svc, p, eps, log));
    }
  }
  ports.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { ports };
}
