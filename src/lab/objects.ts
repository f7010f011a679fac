// What the lab tells the proxies: the EndpointSlices it writes from the pods it runs, the ServiceModel
// built from them (the same model maplb's tables and kube-proxy's rules come from), each node's
// NodeConfig, and the DNS records of every Service.
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { SERVICE_NAME_LABEL } from "../k8s/endpointslice.js";
import { log } from "../log.js";
import { buildModel } from "../model/build.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig, type ServiceModel } from "../model/types.js";
import { CLUSTER_CIDR, CLUSTER_DOMAIN } from "./addresses.js";
import { backendsOf, type LabNode, type LabPlan, svcKey } from "./plan.js";

/** One EndpointSlice per Service, listing its backend pods as ready endpoints on their nodes. */
export function labSlices(plan: LabPlan): V1EndpointSlice[] {
  return plan.services.map((svc) => {
    const key = svcKey(svc);
    const [namespace, name] = key.split("/") as [string, string];
    return {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-lab`, namespace, labels: { [SERVICE_NAME_LABEL]: name } },
      addressType: "IPv4",
      ports: plan.slicePorts[key] ?? [],
      endpoints: backendsOf(plan, key).map((p) => ({
        addresses: [p.ip],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: p.node,
        targetRef: { kind: "Pod", namespace: p.namespace, name: p.name },
      })),
    };
  });
}

export function labModel(plan: LabPlan): ServiceModel {
  return buildModel({ services: plan.services, slices: labSlices(plan), legacySlices: [], issues: [] }, log);
}

/** A node's settings for both proxies: its name decides which endpoints are local. */
export function nodeConfig(node: LabNode): NodeConfig {
  return {
    ...DEFAULT_NODE_CONFIG,
    nodeName: node.name,
    nodeIPs: [node.ip],
    clusterCIDR: CLUSTER_CIDR,
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
