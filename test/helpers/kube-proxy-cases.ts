// Random Services, EndpointSlices and packets for the differential test of maplb against kube-proxy:
// one to three service ports over a small universe of addresses, with every policy that changes a
// verdict (traffic policies, ClientIP affinity, source ranges, no endpoints, terminating endpoints,
// one address named twice in a slice with other conditions or on another node, ServiceCIDRs), and
// packets from every kind of client (a pod, a pod that is a backend, the node, an allowed and a
// denied outside address) to every kind of destination (ClusterIP, a wrong port, externalIP,
// LoadBalancer IP, NodePort, an unallocated address of a ServiceCIDR, nothing).
import fc from "fast-check";
import type { NodeConfig, ServiceModel, ServicePort } from "../../src/model/types.js";
import type { KubeProxyPacket } from "../../src/kubeproxy/verdict.js";
import { collapseEndpoints } from "../../src/model/build.js";
import { conditions, portPolicy, randomEndpoints } from "./endpoint-arbitraries.js";
import { endpoint, nodeConfig, servicePort } from "./model-factory.js";

export const NODE: NodeConfig = nodeConfig({
  nodeName: "node-a",
  nodeIPs: ["192.0.2.10"],
  clusterCIDR: "10.0.0.0/16",
});
/** Outside the cluster, inside the source ranges offered below, and outside them. */
export const ALLOWED_CLIENT = "198.18.7.7";
export const DENIED_CLIENT = "203.0.113.99";

/** ServiceCIDRs kube-proxy may be given (none, one holding the ClusterIPs, two); UNALLOCATED lies in them. */
export const serviceCIDRs = fc.constantFrom<string[]>([], ["10.96.0.0/24"], ["10.96.0.0/16", "10.97.0.0/16"]);
const UNALLOCATED = ["10.96.0.200", "10.97.3.4"];

/** A second entry for an address already named: its own conditions and node (this one, another, a
 * third), before or after the first, as slices from a moving pod can name it. */
const duplicate = fc.record({
  of: fc.nat(),
  conditions,
  nodeName: fc.constantFrom("node-a", "node-b", "node-c"),
  before: fc.boolean(),
});

/** One port's slice entries in manifest order, collapsed as buildModel does. */
const endpoints: fc.Arbitrary<Pick<ServicePort, "endpoints" | "duplicateEndpoints">> = fc
  .tuple(randomEndpoints(6, 4), fc.array(duplicate, { maxLength: 2 }))
  .map(([eps, dups]) => {
    const entries = [...eps].sort((a, b) => (`${a.ip}:${a.port}` < `${b.ip}:${b.port}` ? -1 : 1));
    for (const d of eps.length > 0 ? dups : []) {
      const at = d.of % entries.length;
      const e = endpoint(entries[at]!.ip, { ...d.conditions, nodeName: d.nodeName });
      entries.splice(d.before ? at : at + 1, 0, e);
    }
    const { endpoints, duplicates } = collapseEndpoints(entries);
    return duplicates.length > 0 ? { endpoints, duplicateEndpoints: duplicates } : { endpoints };
  });

function portArb(i: number): fc.Arbitrary<ServicePort> {
  return fc
    .record({
      ...portPolicy,
      externalIPs: fc.subarray([`198.51.100.${i + 1}`]),
      loadBalancerSourceRanges: fc.constantFrom<string[][]>(
        [],
        ["198.18.0.0/15"],
        ["198.18.0.0/15", "192.0.2.0/24"],
      ),
      slices: endpoints,
    })
    .map(({ slices, ...r }) =>
      servicePort({
        ...r,
        ...slices,
        name: `svc${i}`,
        clusterIP: `10.96.0.${i + 1}`,
        maglevTableSize: 13,
        nodePort: r.type === "ClusterIP" ? 0 : 30000 + i,
        loadBalancerIPs: r.type === "LoadBalancer" ? [`198.19.0.${i + 1}`] : [],
        loadBalancerSourceRanges: r.type === "LoadBalancer" ? r.loadBalancerSourceRanges : [],
      }),
    );
}

export const models: fc.Arbitrary<ServiceModel> = fc
  .tuple(portArb(0), fc.option(portArb(1), { nil: undefined }), fc.option(portArb(2), { nil: undefined }))
  .map((ports) => ({ ports: ports.filter((p): p is ServicePort => p !== undefined) }));

/** A packet for `model`: a client of some kind to one of the model's destinations (or none). */
export function packets(model: ServiceModel): fc.Arbitrary<KubeProxyPacket> {
  const dests: [string, number, ServicePort["protocol"]][] = [["10.200.0.1", 80, "TCP"]];
  for (const ip of UNALLOCATED) dests.push([ip, 80, "TCP"]);
  for (const p of model.ports) {
    dests.push([p.clusterIP!, p.port, p.protocol], [p.clusterIP!, p.port + 1, p.protocol]);
    for (const ip of [...p.externalIPs, ...p.loadBalancerIPs]) dests.push([ip, p.port, p.protocol]);
    if (p.nodePort) dests.push([NODE.nodeIPs[0]!, p.nodePort, p.protocol]);
  }
  const backends = model.ports.flatMap((p) => p.endpoints.map((e) => e.ip));
  const sources = ["10.0.3.3", ALLOWED_CLIENT, DENIED_CLIENT, NODE.nodeIPs[0]!, ...backends];
  return fc
    .record({
      dest: fc.constantFrom(...dests),
      src: fc.constantFrom(...sources),
      sport: fc.integer({ min: 1024, max: 65535 }),
    })
    .map(({ dest: [dst, dport, proto], src, sport }) => ({ src, sport, dst, dport, proto }));
}
