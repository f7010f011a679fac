// The lab plan: which nodes, pods and external clients a scenario becomes, and its Services
// re-addressed into 198.18.0.0/15. A pure function of the scenario's objects; the plan is plain JSON,
// kept in the lab's state file, and everything the lab builds or writes (namespaces, EndpointSlices,
// DNS records, rules, maps) is derived from it.
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { MaplbError } from "../errors.js";
import { SERVICE_NAME_LABEL } from "../k8s/endpointslice.js";
import type { ClusterObjects } from "../k8s/objects.js";
import type { IpFamily } from "../model/types.js";
import { intToIpv4, ipv4ToInt, isIPv4, parseCidr } from "../util/ip.js";
import {
  AddressPool,
  cidr6Twin,
  ipv6Twin,
  LAB_RANGE6,
  DNS_SERVICE_IP,
  externalAddrs,
  inLabRange,
  IPV6_MIN_MTU,
  LAB_RANGE,
  nodeIp,
  podGateway,
  podSubnet,
  SERVICE_CIDR,
  SOURCE_RANGE_BLOCK,
} from "./addresses.js";
import { DEFAULT_LINKS, type LinkSettings } from "./links.js";

export interface LabNode {
  name: string;
  index: number;
  /** The node's address on the node network: NodePorts answer on it. */
  ip: string;
  podSubnet: string;
  gateway: string;
  /** Dual-stack labs: the IPv6 twins of ip, podSubnet and gateway (addresses.ts). */
  ip6?: string;
  podSubnet6?: string;
  gateway6?: string;
  /** The next free pod interface number on this node (p0, p1, …). */
  nextIf: number;
}

export type PodRole = "backend" | "client" | "dns";

export interface LabPod {
  namespace: string;
  name: string;
  /** The lab node it runs on (also its EndpointSlice nodeName). */
  node: string;
  ip: string;
  /** Dual-stack labs: its IPv6 address, the twin of ip. */
  ip6?: string;
  /** Its veth on the node is `p<ifIndex>`. */
  ifIndex: number;
  role: PodRole;
  tcpPorts: number[];
  udpPorts: number[];
  /** The Services (`ns/name`) whose EndpointSlices list it. */
  services: string[];
}

export interface LabExternal {
  name: string;
  /** The client's address, and the edge node's address on their link. */
  ip: string;
  gateway: string;
  /** Dual-stack labs: the twins of ip and gateway, on a /126. */
  ip6?: string;
  gateway6?: string;
  /** Its veth on the edge node is `x<index>`. */
  index: number;
}

export interface SlicePort {
  name: string;
  port: number;
  protocol: string;
}

export interface LabPlan {
  scenario: string;
  nodes: LabNode[];
  pods: LabPod[];
  externals: LabExternal[];
  /** The scenario's Services, re-addressed, and the lab's own (kube-dns, udp-echo). */
  services: V1Service[];
  /** The EndpointSlice ports of each Service (`ns/name`), from the scenario's slices. */
  slicePorts: Record<string, SlicePort[]>;
  /** Every scenario address (and source range) and the lab address (range) it became. */
  addressMap: Record<string, string>;
  /** How the veths carry traffic (offloads, a smaller pod MTU); absent in state files of older labs. */
  links?: LinkSettings;
  /** Every address has an IPv6 twin too, and every Service is dual-stack (RequireDualStack). */
  dualStack?: boolean;
}

/** The run's link settings as asked for: the pod MTU's node may be left to the plan (the last node). */
export type LinkRequest = Omit<LinkSettings, "podMtu"> & {
  podMtu: { mtu: number; node: string | null } | null;
};

export const DNS_SERVICE = "kube-system/kube-dns";
export const UDP_ECHO_SERVICE = "default/udp-echo";
export const UDP_ECHO_PORT = 7;
const UDP_ECHO_NODE_PORT = 30007;
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;
export const EXTERNAL_CLIENTS = 2;

export const svcKey = (s: { metadata?: { namespace?: string; name?: string } }): string =>
  `${s.metadata?.namespace ?? "default"}/${s.metadata?.name ?? ""}`;
export const podKey = (p: Pick<LabPod, "namespace" | "name">): string => `${p.namespace}/${p.name}`;

/** The scenario's node names in first-seen order; endpoints without one are spread over the lab's nodes. */
function labNodes(
  slices: V1EndpointSlice[],
  dualStack: boolean,
): {
  nodes: LabNode[];
  indexOf: (seedNode?: string | null) => number;
} {
  const seen: string[] = [];
  let unassigned = false;
  for (const s of slices)
    for (const e of s.endpoints ?? []) {
      if (!e.nodeName) unassigned = true;
      else if (!seen.includes(e.nodeName)) seen.push(e.nodeName);
    }
  // One node only when the scenario itself runs on one; otherwise two, so Local policies mean something.
  const count = seen.length === 1 && !unassigned ? 1 : 2;
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    let name = seen[i] ?? `node-${i + 1}`;
    while (names.includes(name)) name = `${name}-${i + 1}`;
    names.push(name);
  }
  const nodes = names.map((name, index): LabNode => ({
    name,
    index,
    ip: nodeIp(index),
    podSubnet: podSubnet(index),
    gateway: podGateway(index),
    ...(dualStack
      ? {
          ip6: ipv6Twin(nodeIp(index)),
          podSubnet6: cidr6Twin(podSubnet(index)),
          gateway6: ipv6Twin(podGateway(index)),
        }
      : {}),
    nextIf: 0,
  }));
  let spread = 0;
  const indexOf = (seedNode?: string | null): number => {
    const i = seedNode ? seen.indexOf(seedNode) : -1;
    return i >= 0 ? i % count : spread++ % count;
  };
  return { nodes, indexOf };
}

/** Allocates lab addresses: pods per node, ClusterIPs, and LoadBalancer/external IPs. */
class Allocator {
  readonly pods: AddressPool[];
  readonly clusterIPs = new AddressPool(SERVICE_CIDR, [DNS_SERVICE_IP]);
  readonly external = new AddressPool("198.19.200.0/24");
  readonly map: Record<string, string> = {};

  constructor(nodes: LabNode[]) {
    this.pods = nodes.map((n) => new AddressPool(n.podSubnet, [n.gateway]));
  }

  private readonly nodePorts = new Set<number>();

  /** Marks the NodePorts the scenario chose itself, so allocated ones do not collide with them. */
  reserveNodePorts(services: V1Service[]): void {
    for (const s of services)
      for (const p of s.spec?.ports ?? []) if (p.nodePort) this.nodePorts.add(p.nodePort);
  }

  /** A free NodePort, as the API server allocates one for NodePort and LoadBalancer Services. */
  nodePort(): number {
    for (let port = NODE_PORT_MIN; port <= NODE_PORT_MAX; port++)
      if (!this.nodePorts.has(port)) {
        this.nodePorts.add(port);
        return port;
      }
    throw new MaplbError("E_CAPACITY", "no free NodePort in 30000-32767");
  }

  /** The lab address for a scenario address: kept when already in the lab range, else mapped once. */
  map1(original: string, pool: AddressPool): string {
    if (inLabRange(original)) return original;
    return (this.map[original] ??= pool.take(original));
  }

  private sourceRanges = 0;

  /**
   * The lab range for a loadBalancerSourceRanges entry. One inside the lab range stays, and so does one
   * that holds the whole lab range (0.0.0.0/0 lets everyone in, in the lab too). Any other becomes an
   * external client's link, in order: the first range is ext-1's /30, the second ext-2's, so the
   * first client is inside the Service's first range and a policy can be seen at work; ranges beyond
   * the clients become /30s where no client lives.
   */
  mapSourceRange(original: string): string {
    const c = parseCidr(original);
    if (!c) return original; // validated before planning; nothing else gets here
    if (holdsLab(original) || (inLabRange(c.address) && c.prefix >= parseCidr(LAB_RANGE)!.prefix))
      return original;
    return (this.map[original] ??= this.nextSourceRange());
  }

  private nextSourceRange(): string {
    const k = this.sourceRanges++;
    if (k < EXTERNAL_CLIENTS) return `${intToIpv4(ipv4ToInt(externalAddrs(k).node) & ~3)}/30`;
    const block = parseCidr(SOURCE_RANGE_BLOCK)!;
    const at = ipv4ToInt(block.address) + 4 * (k - EXTERNAL_CLIENTS);
    if (at + 3 >= ipv4ToInt(block.address) + 2 ** (32 - block.prefix))
      throw new MaplbError(
        "E_CAPACITY",
        `more loadBalancerSourceRanges than the lab can map into ${SOURCE_RANGE_BLOCK}`,
      );
    return `${intToIpv4(at)}/30`;
  }
}

/** Whether an IPv4 range holds the whole lab range (0.0.0.0/0 does: it lets everyone in). */
function holdsLab(cidr: string): boolean {
  const c = parseCidr(cidr)!;
  const lab = parseCidr(LAB_RANGE)!;
  return (
    c.prefix <= lab.prefix &&
    (c.prefix === 0 ||
      ipv4ToInt(c.address) >>> (32 - c.prefix) === ipv4ToInt(lab.address) >>> (32 - c.prefix))
  );
}

function newPod(
  plan: LabPlan,
  alloc: Allocator | null,
  p: Omit<LabPod, "ip" | "ifIndex">,
  ip?: string,
): LabPod {
  const node = plan.nodes.find((n) => n.name === p.node)!;
  let name = p.name;
  for (let k = 2; plan.pods.some((q) => q.namespace === p.namespace && q.name === name); k++)
    name = `${p.name}-${k}`;
  const pool = alloc?.pods[node.index] ?? podPool(plan, node);
  const pod: LabPod = { ...p, name, ip: ip ?? pool.take(), ifIndex: node.nextIf++ };
  if (plan.dualStack) pod.ip6 = ipv6Twin(pod.ip);
  plan.pods.push(pod);
  return pod;
}

/** A node's pod pool with the plan's current pods marked used (for scaling an existing plan). */
function podPool(plan: LabPlan, node: LabNode): AddressPool {
  const pool = new AddressPool(node.podSubnet, [node.gateway]);
  for (const p of plan.pods) if (p.node === node.name) pool.reserve(p.ip);
  return pool;
}

function portsOf(ports: SlicePort[]): Pick<LabPod, "tcpPorts" | "udpPorts"> {
  const of = (proto: string) => [...new Set(ports.filter((p) => p.protocol === proto).map((p) => p.port))];
  return { tcpPorts: of("TCP"), udpPorts: of("UDP") };
}

function readdressService(svc: V1Service, alloc: Allocator): V1Service {
  const out = structuredClone(svc);
  const spec = out.spec!;
  const wantsNodePorts =
    spec.type === "NodePort" ||
    (spec.type === "LoadBalancer" && spec.allocateLoadBalancerNodePorts !== false);
  if (wantsNodePorts) for (const p of spec.ports ?? []) p.nodePort ||= alloc.nodePort();
  if (spec.clusterIP && isIPv4(spec.clusterIP)) {
    spec.clusterIP = alloc.map1(spec.clusterIP, alloc.clusterIPs);
    if (spec.clusterIPs) spec.clusterIPs = [spec.clusterIP];
  }
  if (spec.externalIPs) spec.externalIPs = spec.externalIPs.map((ip) => alloc.map1(ip, alloc.external));
  for (const ing of out.status?.loadBalancer?.ingress ?? [])
    if (ing.ip && isIPv4(ing.ip)) ing.ip = alloc.map1(ing.ip, alloc.external);
  if (spec.loadBalancerSourceRanges)
    spec.loadBalancerSourceRanges = spec.loadBalancerSourceRanges.map((r) => alloc.mapSourceRange(r.trim()));
  return out;
}

/**
 * A re-addressed Service made dual-stack, as the API server would have it with ipFamilyPolicy
 * RequireDualStack: IPv4 first (the primary family, whose address stays `clusterIP`), and beside every
 * IPv4 address and range its IPv6 twin. A scenario's own IPv6 addresses are outside the lab; the twins
 * stand for them.
 */
function dualStackService(svc: V1Service): V1Service {
  const out = structuredClone(svc);
  const spec = out.spec!;
  const v4 = (list: string[] | undefined) => (list ?? []).filter((a) => isIPv4(a.split("/")[0]!));
  spec.ipFamilyPolicy = "RequireDualStack";
  spec.ipFamilies = ["IPv4", "IPv6"];
  const ip = spec.clusterIP;
  if (ip && isIPv4(ip)) spec.clusterIPs = [ip, ipv6Twin(ip)];
  else if (ip === "None") spec.clusterIPs = ["None"];
  if (spec.externalIPs) spec.externalIPs = [...v4(spec.externalIPs), ...v4(spec.externalIPs).map(ipv6Twin)];
  const lb = out.status?.loadBalancer;
  if (lb?.ingress) {
    const ingress = lb.ingress.filter((i) => !i.ip || isIPv4(i.ip));
    lb.ingress = [...ingress, ...ingress.flatMap((i) => (i.ip ? [{ ...i, ip: ipv6Twin(i.ip) }] : []))];
  }
  if (spec.loadBalancerSourceRanges) {
    const ranges = v4(spec.loadBalancerSourceRanges);
    // A range that holds the whole lab range holds the whole IPv6 lab too (0.0.0.0/0: everyone).
    const twin = (r: string) => (r.endsWith("/0") ? "::/0" : holdsLab(r) ? LAB_RANGE6 : cidr6Twin(r));
    spec.loadBalancerSourceRanges = [...ranges, ...ranges.map(twin)];
  }
  return out;
}

/** The lab's own Services: cluster DNS, and a UDP echo reachable on a NodePort. */
function labServices(): V1Service[] {
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "kube-dns", namespace: "kube-system" },
      spec: {
        type: "ClusterIP",
        clusterIP: DNS_SERVICE_IP,
        ports: [{ name: "dns", port: 53, targetPort: 53, protocol: "UDP" }],
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "udp-echo", namespace: "default" },
      spec: {
        type: "NodePort",
        clusterIP: "",
        ports: [
          {
            name: "echo",
            port: UDP_ECHO_PORT,
            targetPort: UDP_ECHO_PORT,
            nodePort: UDP_ECHO_NODE_PORT,
            protocol: "UDP",
          },
        ],
      },
    },
  ];
}

/** The link settings with the pod MTU's node named and known. */
function resolveLinks(req: LinkRequest, nodes: LabNode[]): LinkSettings {
  if (!req.podMtu) return { ...req, podMtu: null };
  const name = req.podMtu.node ?? nodes[nodes.length - 1]!.name;
  if (!nodes.some((n) => n.name === name))
    throw new MaplbError(
      "E_USAGE",
      `--pod-mtu: no node '${name}' in the lab; nodes: ${nodes.map((n) => n.name).join(", ")}`,
    );
  return { ...req, podMtu: { mtu: req.podMtu.mtu, node: name } };
}

/** Builds the plan for a scenario's validated objects. */
export function planLab(
  scenario: string,
  objects: ClusterObjects,
  links: LinkRequest = DEFAULT_LINKS,
  dualStack = false,
): LabPlan {
  const seedSlices = objects.slices.length > 0 ? objects.slices : objects.legacySlices;
  // The IPv4 slices place the pods; in a dual-stack lab each pod's IPv6 address is its IPv4's twin.
  const slices = seedSlices.filter((s) => s.addressType === "IPv4");
  const { nodes, indexOf } = labNodes(slices, dualStack);
  if (dualStack && links.podMtu && links.podMtu.mtu < IPV6_MIN_MTU)
    throw new MaplbError(
      "E_USAGE",
      `--pod-mtu ${links.podMtu.mtu} with --dual-stack: IPv6 needs a link MTU of at least ${IPV6_MIN_MTU}`,
    );
  const alloc = new Allocator(nodes);
  // Addresses the scenario already has in the lab range keep their place.
  for (const s of objects.services)
    if (s.spec?.clusterIP && isIPv4(s.spec.clusterIP) && inLabRange(s.spec.clusterIP))
      alloc.clusterIPs.reserve(s.spec.clusterIP);

  const plan: LabPlan = {
    scenario,
    nodes,
    pods: [],
    externals: [],
    services: [],
    slicePorts: {},
    addressMap: alloc.map,
    links: resolveLinks(links, nodes),
    ...(dualStack ? { dualStack: true } : {}),
  };
  const names = new Set(objects.services.map(svcKey));
  const own = labServices();
  alloc.reserveNodePorts([...objects.services, ...own]);
  for (const svc of own)
    if (names.has(svcKey(svc)))
      throw new MaplbError("E_INPUT", `the scenario defines ${svcKey(svc)}, which the lab provides itself`);
  plan.services = objects.services.map((s) => readdressService(s, alloc));
  for (const svc of own) svc.spec!.clusterIP ||= alloc.clusterIPs.take();
  plan.services.push(...own);
  if (dualStack) plan.services = plan.services.map(dualStackService);

  // Pods: one per endpoint address (per namespace), backing every Service whose slice lists it.
  const byAddress = new Map<string, LabPod>();
  const perService = new Map<string, number>();
  for (const s of slices) {
    const ns = s.metadata?.namespace ?? "default";
    const svc = `${ns}/${s.metadata?.labels?.[SERVICE_NAME_LABEL] ?? ""}`;
    const ports = (s.ports ?? []).map((p) => ({
      name: p.name ?? "",
      port: p.port ?? 0,
      protocol: p.protocol ?? "TCP",
    }));
    plan.slicePorts[svc] = [...(plan.slicePorts[svc] ?? []), ...ports.filter((p) => p.port > 0)];
    for (const e of s.endpoints ?? []) {
      const original = e.addresses[0];
      if (original === undefined) continue;
      const known = byAddress.get(`${ns}/${original}`);
      const { tcpPorts, udpPorts } = portsOf(ports);
      if (known) {
        if (!known.services.includes(svc)) known.services.push(svc);
        known.tcpPorts = [...new Set([...known.tcpPorts, ...tcpPorts])];
        known.udpPorts = [...new Set([...known.udpPorts, ...udpPorts])];
        continue;
      }
      const node = nodes[indexOf(e.nodeName)]!;
      const k = (perService.get(svc) ?? 0) + 1;
      perService.set(svc, k);
      const ip = alloc.map1(original, alloc.pods[node.index]!);
      const pod = newPod(
        plan,
        alloc,
        {
          namespace: ns,
          name: e.targetRef?.name ?? `${svc.split("/")[1]}-${k}`,
          node: node.name,
          role: "backend",
          tcpPorts,
          udpPorts,
          services: [svc],
        },
        ip,
      );
      byAddress.set(`${ns}/${original}`, pod);
    }
  }

  // The lab's own pods: DNS on the first node, a UDP echo on each node, a client on each node.
  plan.slicePorts[DNS_SERVICE] = [{ name: "dns", port: 53, protocol: "UDP" }];
  plan.slicePorts[UDP_ECHO_SERVICE] = [{ name: "echo", port: UDP_ECHO_PORT, protocol: "UDP" }];
  const first = nodes[0]!;
  newPod(plan, alloc, {
    namespace: "kube-system",
    name: "coredns-1",
    node: first.name,
    role: "dns",
    tcpPorts: [],
    udpPorts: [53],
    services: [DNS_SERVICE],
  });
  for (const n of nodes)
    newPod(plan, alloc, {
      namespace: "default",
      name: `udp-echo-${n.index + 1}`,
      node: n.name,
      role: "backend",
      tcpPorts: [],
      udpPorts: [UDP_ECHO_PORT],
      services: [UDP_ECHO_SERVICE],
    });
  for (const n of nodes)
    newPod(plan, alloc, {
      namespace: "default",
      name: `client-${n.index + 1}`,
      node: n.name,
      role: "client",
      tcpPorts: [],
      udpPorts: [],
      services: [],
    });
  for (let k = 0; k < EXTERNAL_CLIENTS; k++) {
    const a = externalAddrs(k);
    plan.externals.push({
      name: `ext-${k + 1}`,
      ip: a.client,
      gateway: a.node,
      ...(dualStack ? { ip6: ipv6Twin(a.client), gateway6: ipv6Twin(a.node) } : {}),
      index: k + 1,
    });
  }
  return plan;
}

export interface ScaleChange {
  added: LabPod[];
  removed: LabPod[];
}

/** A pod's address in one family (a pod of an IPv4 lab has no IPv6 one: asking is a usage error). */
export function podIp(pod: LabPod, family: IpFamily): string {
  if (family === "IPv4") return pod.ip;
  if (!pod.ip6) throw new MaplbError("E_USAGE", "the lab is IPv4 only: bring it up with --dual-stack");
  return pod.ip6;
}

/** The backend pods of a Service, in creation order. */
export function backendsOf(plan: LabPlan, service: string): LabPod[] {
  return plan.pods.filter((p) => p.role !== "client" && p.services.includes(service));
}

/**
 * Scales a Service's backends to `replicas`, as a Deployment would: new pods go to the node with the
 * fewest of them; the newest pods go first. Pods that back other Services too are never removed.
 */
export function scalePlan(plan: LabPlan, service: string, replicas: number): ScaleChange {
  if (!plan.services.some((s) => svcKey(s) === service))
    throw new MaplbError("E_USAGE", `no Service ${service} in the lab (scenario ${plan.scenario})`);
  const ports = plan.slicePorts[service] ?? [];
  if (ports.length === 0)
    throw new MaplbError("E_USAGE", `Service ${service} has no endpoint ports to scale`);
  const change: ScaleChange = { added: [], removed: [] };
  const current = backendsOf(plan, service);
  const [ns, name] = service.split("/") as [string, string];
  for (let n = current.length; n < replicas; n++) {
    const load = (node: LabNode) => backendsOf(plan, service).filter((p) => p.node === node.name).length;
    const node = [...plan.nodes].sort((a, b) => load(a) - load(b) || a.index - b.index)[0]!;
    change.added.push(
      newPod(plan, null, {
        namespace: ns,
        name: `${name}-${n + 1}`,
        node: node.name,
        role: "backend",
        ...portsOf(ports),
        services: [service],
      }),
    );
  }
  const removable = current.filter((p) => p.services.length === 1).reverse();
  for (let n = current.length; n > replicas && removable.length > 0; n--) {
    const pod = removable.shift()!;
    plan.pods = plan.pods.filter((p) => p !== pod);
    change.removed.push(pod);
  }
  return change;
}
