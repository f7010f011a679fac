// What the lab tells the proxies: the EndpointSlices it writes from the pods it runs, the ServiceModel
// built from them (the same model maplb's tables and kube-proxy's rules come from), each node's
// NodeConfig, and the DNS records of every Service.
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { SERVICE_NAME_LABEL } from "../k8s/endpointslice.js";
import { log } from "../log.js";
import { buildModel } from "../model/build.js";
import { DEFAULT_NODE_CONFIG, type IpFamily, type NodeConfig, type ServiceModel } from "../model/types.js";
import { CLUSTER_CIDR, CLUSTER_CIDR6, CLUSTER_DOMAIN } from "./addresses.js";
import { backendsOf, podIp, type LabNode, type LabPlan, svcKey } from "./plan.js";

/** The IP families the lab carries: IPv4, and IPv6 too in a dual-stack lab. */
export function labFamilies(plan: LabPlan): IpFamily[] {
  return plan.dualStack ? ["IPv4", "IPv6"] : ["IPv4"];
}

/**
 * One EndpointSlice per Service and family, listing its backend pods as ready endpoints on their
 * nodes: IPv4, and in a dual-stack lab an IPv6 one beside it (`<name>-lab6`), as the EndpointSlice
 * controller writes one slice per address type.
 */
export function labSlices(plan: LabPlan): V1EndpointSlice[] {
  return labFamilies(plan).flatMap((family) =>
    plan.services.map((svc) => {
      const key = svcKey(svc);
      const [namespace, name] = key.split("/") as [string, string];
      return {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: `${name}-lab${family === "IPv6" ? "6" : ""}`,
          namespace,
          labels: { [SERVICE_NAME_LABEL]: name },
        },
        addressType: family,
        ports: plan.slicePorts[key] ?? [],
        endpoints: backendsOf(plan, key).map((p) => ({
          addresses: [podIp(p, family)],
          conditions: { ready: true, serving: true, terminating: false },
          nodeName: p.node,
          targetRef: { kind: "Pod", namespace: p.namespace, name: p.name },
        })),
      };
    }),
  );
}

export function labModel(plan: LabPlan): ServiceModel {
  return buildModel({ services: plan.services, slices: labSlices(plan), legacySlices: [], issues: [] }, log);
}

/**
 * A node's settings for the proxies: its name decides which endpoints are local. `families` are the
 * IP families the proxy serves with this config: kube-proxy runs one proxier per family, each with
 * that family's node IPs; a dual-stack datapath takes both.
 */
export function nodeConfig(node: LabNode, families: readonly IpFamily[] = ["IPv4"]): NodeConfig {
  const v6 = families.includes("IPv6") && node.ip6 ? node.ip6 : null;
  return {
    ...DEFAULT_NODE_CONFIG,
    nodeName: node.name,
    nodeIPs: [...(families.includes("IPv4") ? [node.ip] : []), ...(v6 ? [v6] : [])],
    clusterCIDR: CLUSTER_CIDR,
    clusterCIDR6: v6 ? CLUSTER_CIDR6 : null,
    nfacct: false, // nfacct objects are global state the lab would have to create and remove
  };
}

/** `<svc>.<ns>.svc.cluster.local` → ClusterIP, for every Service that has one. */
export function dnsRecords(plan: LabPlan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of plan.services) {
    const ip = s.spec?.clusterIP;
    if (ip && ip !== "None")
      out[`${s.metadata?.name}.${s.metadata?.namespace ?? "default"}.svc.${CLUSTER_DOMAIN}`] = ip;
  }
  return out;
}

/** resolv.conf for a pod in `namespace`: the cluster DNS and Kubernetes' search path. */
export function resolvConf(namespace: string, nameserver: string): string {
  return (
    `nameserver ${nameserver}\n` +
    `search ${namespace}.svc.${CLUSTER_DOMAIN} svc.${CLUSTER_DOMAIN} ${CLUSTER_DOMAIN}\n` +
    "options ndots:5 timeout:1 attempts:2\n"
  );
}
