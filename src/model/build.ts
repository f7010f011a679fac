// Kubernetes objects → ServiceModel. A pure function of its inputs (it only logs): the same objects
// always give the same model, which both the BPF tables and kube-proxy's rules are built from.
import type { V1EndpointSlice, V1Service, V1ServicePort } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { ClusterObjects } from "../k8s/objects.js";
import { ANNOTATION_ALGORITHM, ANNOTATION_MAGLEV_SIZE } from "../k8s/service.js";
import { SERVICE_NAME_LABEL } from "../k8s/endpointslice.js";
import { ipFamilyOf } from "../util/ip.js";
import { byEndpointString } from "./endpoints.js";
import { servicePortId, servicePortName } from "./service-port.js";
import {
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  DEFAULT_MAGLEV_TABLE_SIZE,
  IP_FAMILIES,
  type Endpoint,
  type IpFamily,
  type LbAlgorithm,
  type Protocol,
  type ServiceModel,
  type ServicePort,
  type ServiceType,
  type TrafficPolicy,
} from "./types.js";

/** Slices are grouped by family and `ns/service`: each family's ports read only that family's slices. */
const sliceKey = (family: string, namespace: string, service: string) => `${family} ${namespace}/${service}`;

/** Slices grouped by family and `ns/service`; FQDN slices are skipped (kube-proxy ignores them too). */
function groupSlices(slices: V1EndpointSlice[], log: Logger): Map<string, V1EndpointSlice[]> {
  const bySvc = new Map<string, V1EndpointSlice[]>();
  for (const s of slices) {
    const ns = s.metadata?.namespace ?? "default";
    if (s.addressType !== "IPv4" && s.addressType !== "IPv6") {
      log.info({ slice: `${ns}/${s.metadata?.name}`, addressType: s.addressType }, "skipping non-IP slice");
      continue;
    }
    const key = sliceKey(s.addressType, ns, s.metadata?.labels?.[SERVICE_NAME_LABEL] ?? "");
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

/** The addresses (or CIDRs) of one family: a dual-stack Service lists both, and each family's proxier
 * keeps its own, as kube-proxy's newBaseServiceInfo does (the others are logged at debug, as it does). */
function ofFamily(list: string[], family: IpFamily, what: string, svc: string, log: Logger): string[] {
  const kept = list.filter((a) => ipFamilyOf(a) === family);
  if (kept.length !== list.length)
    log.debug({ service: svc, family, what }, "ignoring the other family's entries");
  return kept;
}

/**
 * The cluster IP a Service has in `family`, or null: kube-proxy's GetClusterIPByFamily. With
 * `spec.ipFamilies`, the cluster IP at the same index of `spec.clusterIPs`; without (an object from
 * before dual-stack), `spec.clusterIP` when it is of that family.
 */
export function clusterIPOfFamily(svc: V1Service, family: IpFamily): string | null {
  const spec = svc.spec!;
  const families = spec.ipFamilies ?? [];
  if (families.length === 0) {
    const ip = spec.clusterIP;
    return ip && ip !== "None" && ipFamilyOf(ip) === family ? ip : null;
  }
  const i = families.indexOf(family);
  const ip = i < 0 ? undefined : (spec.clusterIPs ?? [])[i];
  return ip && ip !== "None" ? ip : null;
}

function servicePort(
  svc: V1Service,
  p: V1ServicePort,
  family: IpFamily,
  clusterIP: string,
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
    id: servicePortId(namespace, name, portName, protocol, family),
    family,
    namespace,
    name,
    portName,
    spn: servicePortName(namespace, name, portName),
    protocol,
    type,
    port: p.port,
    nodePort: type === "NodePort" || isLB ? (p.nodePort ?? 0) : 0,
    clusterIP,
    externalIPs: ofFamily(spec.externalIPs ?? [], family, "externalIPs", id, log),
    loadBalancerIPs: isLB ? ofFamily(ingressIPs(svc), family, "loadBalancer ingress", id, log) : [],
    loadBalancerSourceRanges: isLB
      ? ofFamily(
          (spec.loadBalancerSourceRanges ?? []).map((r) => r.trim()),
          family,
          "loadBalancerSourceRanges",
          id,
          log,
        )
      : [],
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

/** The ingress IPs a node proxies: an ingress with `ipMode: Proxy` is the load balancer's own
 * address, which kube-proxy leaves to it (IsVIPMode). */
function ingressIPs(svc: V1Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).flatMap((i) =>
    i.ip && i.ipMode !== "Proxy" ? [i.ip] : [],
  );
}

/** Why a Service builds no frontends, or null when it does. */
function skipReason(svc: V1Service): string | null {
  const spec = svc.spec!;
  if (spec.type === "ExternalName") return "ExternalName service: a DNS alias, no frontends";
  if (spec.clusterIP === "None") return "headless service: no frontends";
  if (!spec.clusterIP) return "no spec.clusterIP (not allocated yet): no frontends";
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
    // One set of ports per family the Service has a cluster IP in (kube-proxy: one proxier each).
    for (const family of IP_FAMILIES) {
      const clusterIP = clusterIPOfFamily(svc, family);
      if (clusterIP === null) continue;
      // Real slices win; legacy Endpoints are read only for Services without any.
      const key = sliceKey(family, svc.metadata?.namespace ?? "default", svc.metadata?.name ?? "");
      const own = slices.get(key) ?? legacy.get(key) ?? [];
      for (const p of svc.spec!.ports ?? []) {
        const eps = portEndpoints(own, p.name ?? "", (p.protocol ?? "TCP") as Protocol);
        ports.push(servicePort(svc, p, family, clusterIP, eps, log));
      }
    }
  }
  ports.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { ports };
}
