// kube-proxy's nftables mode (reference §7, following pkg/proxy/nftables/proxier.go): one table per
// IP family, `ip kube-proxy` and `ip6 kube-proxy`, where services are found by hash lookups in verdict
// maps instead of by walking a chain of rules. Built as structured data, then printed as one `nft -f`
// transaction.
import {
  clusterCIDROfFamily,
  nodeIPsOfFamily,
  portsOfFamily,
  type Endpoint,
  type IpFamily,
  type NodeConfig,
  type ServiceModel,
  type ServicePort,
} from "../model/types.js";
import { lowerProtocol, nftEndpointNames, nftServicePortChains } from "./chain-names.js";
import { canonicalCidr, canonicalIPv6, cidrContains } from "./cidr.js";
import { asKubeProxySees, endpointHostPort, familyNodeIP, nftFamily, type NftFamily } from "./family.js";
import { MASQUERADE_MARK } from "./iptables-rules.js";
import { planServicePort } from "./policy.js";
import { renderNftList } from "./nft-list.js";
import { assertCidr, assertRenderable, assertRenderableNode, nftQuoted } from "./tokens.js";
import { ipFamilyOf } from "../util/ip.js";

export const NFT_TABLE = "kube-proxy";

export interface NftBaseChain {
  type: "filter" | "nat";
  hook: "prerouting" | "input" | "forward" | "output" | "postrouting";
  priority: number;
}

export interface NftChain {
  name: string;
  /** Set for base chains, which netfilter hooks call; regular chains run only when jumped to. */
  base?: NftBaseChain;
  comment?: string;
}

export interface NftSet {
  name: string;
  kind: "set" | "map";
  /** `ipv4_addr`, or for a map `ipv4_addr . inet_proto . inet_service : verdict`. */
  type: string;
  flags?: string[];
  timeoutSeconds?: number;
  comment?: string;
}

export interface NftRule {
  chain: string;
  rule: string;
  comment?: string;
}

export interface NftElement {
  /** The set or map. */
  container: string;
  key: string;
  /** The verdict, for a map. */
  value?: string;
  comment?: string;
}

export interface NftRuleset {
  /** The proxier's family: its table is `ip kube-proxy` (IPv4) or `ip6 kube-proxy` (IPv6). */
  family: IpFamily;
  chains: NftChain[];
  sets: NftSet[];
  rules: NftRule[];
  elements: NftElement[];
}

// Fixed chains, sets and maps.
const SERVICES = "services";
const SERVICE_IPS = "service-ips";
const SERVICE_NODEPORTS = "service-nodeports";
const NODEPORT_IPS = "nodeport-ips";
const CLUSTER_IPS = "cluster-ips";
const SERVICE_ENDPOINTS_CHECK = "service-endpoints-check";
const NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check";
const NO_ENDPOINT_SERVICES = "no-endpoint-services";
const NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports";
const REJECT_CHAIN = "reject-chain";
const CLUSTER_IPS_CHECK = "cluster-ips-check";
const FIREWALL_IPS = "firewall-ips";
const FIREWALL_CHECK = "firewall-check";
const MARK_MASQ = "mark-for-masquerade";
const MASQUERADING = "masquerading";

/** Base chains: filtering runs before DNAT, so it sees the service address the client used. */
const BASE_CHAINS: NftChain[] = [
  { name: "filter-prerouting-pre-dnat", base: { type: "filter", hook: "prerouting", priority: -110 } },
  { name: "filter-output-pre-dnat", base: { type: "filter", hook: "output", priority: -110 } },
  { name: "filter-input", base: { type: "filter", hook: "input", priority: 0 } },
  { name: "filter-forward", base: { type: "filter", hook: "forward", priority: 0 } },
  { name: "filter-output", base: { type: "filter", hook: "output", priority: 0 } },
  { name: "nat-prerouting", base: { type: "nat", hook: "prerouting", priority: -100 } },
  { name: "nat-output", base: { type: "nat", hook: "output", priority: -100 } },
  { name: "nat-postrouting", base: { type: "nat", hook: "postrouting", priority: 100 } },
];

/** [to, from, condition]: the jumps from base chains to kube-proxy's top-level chains, in its order. */
const JUMPS: [string, string, string][] = [
  [NODEPORT_ENDPOINTS_CHECK, "filter-input", "ct state new "],
  [SERVICE_ENDPOINTS_CHECK, "filter-input", "ct state new "],
  [SERVICE_ENDPOINTS_CHECK, "filter-forward", "ct state new "],
  [SERVICE_ENDPOINTS_CHECK, "filter-output", "ct state new "],
  [FIREWALL_CHECK, "filter-prerouting-pre-dnat", "ct state new "],
  [FIREWALL_CHECK, "filter-output-pre-dnat", "ct state new "],
  [SERVICES, "nat-output", ""],
  [SERVICES, "nat-prerouting", ""],
  [MASQUERADING, "nat-postrouting", ""],
  [CLUSTER_IPS_CHECK, "filter-forward", "ct state new "],
  [CLUSTER_IPS_CHECK, "filter-output", "ct state new "],
];

/** Collects the ruleset; chains and set elements are added once however often they are ensured. */
class NftWriter {
  readonly ruleset: NftRuleset;
  private readonly chainNames = new Set<string>();
  private readonly elementKeys = new Set<string>();

  constructor(family: IpFamily) {
    this.ruleset = { family, chains: [], sets: [], rules: [], elements: [] };
  }

  chain(name: string, extra: Omit<NftChain, "name"> = {}): void {
    if (this.chainNames.has(name)) return;
    this.chainNames.add(name);
    this.ruleset.chains.push({ name, ...extra });
  }
  set(s: NftSet): void {
    this.ruleset.sets.push(s);
  }
  rule(chain: string, rule: string, comment?: string): void {
    this.ruleset.rules.push(comment === undefined ? { chain, rule } : { chain, rule, comment });
  }
  element(e: NftElement): void {
    const id = `${e.container} ${e.key}`;
    if (this.elementKeys.has(id)) return;
    this.elementKeys.add(id);
    this.ruleset.elements.push(e);
  }
}

/** What kube-proxy learns from the API server besides Services and EndpointSlices. */
export interface NftClusterConfig {
  /** The ServiceCIDRs (canonical, of either family; each proxier takes its own family's, as
   * OnServiceCIDRsChanged does): kube-proxy drops new traffic to their unallocated addresses. */
  serviceCIDRs?: string[];
}

/** The cluster's ServiceCIDRs of the family, each checked; one of neither family is an error. */
function serviceCIDRsOf(cluster: NftClusterConfig, family: IpFamily): string[] {
  return (cluster.serviceCIDRs ?? []).flatMap((c) => {
    const of = ipFamilyOf(c);
    return of === family || of === null ? [assertCidr(c, family)] : [];
  });
}

function writeFixedRules(
  nft: NftWriter,
  node: NodeConfig,
  cluster: NftClusterConfig,
  { ipX, addrType }: NftFamily,
): void {
  for (const c of BASE_CHAINS) nft.chain(c.name, { base: c.base! });
  for (const [to, from, condition] of JUMPS) {
    nft.chain(to);
    nft.rule(from, `${condition}jump ${to}`);
  }
  for (const c of [SERVICES, CLUSTER_IPS_CHECK, MASQUERADING, MARK_MASQ]) nft.chain(c);

  nft.rule(MARK_MASQ, `mark set mark or ${MASQUERADE_MARK}`);
  nft.rule(MASQUERADING, `mark and ${MASQUERADE_MARK} == 0 return`);
  nft.rule(MASQUERADING, `mark set mark xor ${MASQUERADE_MARK}`); // clear it: no re-masquerade
  nft.rule(MASQUERADING, "masquerade fully-random");

  nft.set({ name: CLUSTER_IPS, kind: "set", type: addrType, comment: "Active ClusterIPs" });
  nft.rule(
    CLUSTER_IPS_CHECK,
    `${ipX} daddr @${CLUSTER_IPS} reject`,
    "Reject traffic to invalid ports of ClusterIPs",
  );
  // kube-proxy joins the CIDRs with "," (OnServiceCIDRsChanged), then writes `{ LIST }`.
  const serviceCIDRs = serviceCIDRsOf(cluster, nft.ruleset.family);
  if (serviceCIDRs.length > 0)
    nft.rule(
      CLUSTER_IPS_CHECK,
      `${ipX} daddr { ${serviceCIDRs.join(",")} } drop`,
      "Drop traffic to unallocated ClusterIPs",
    );

  // NodePorts answer on the node's own addresses of the family (nftables mode's default
  // --nodeport-addresses), printed as Go prints a net.IP.
  nft.set({
    name: NODEPORT_IPS,
    kind: "set",
    type: addrType,
    comment: "IPs that accept NodePort traffic",
  });
  for (const ip of nodeIPsOfFamily(node, nft.ruleset.family))
    nft.element({ container: NODEPORT_IPS, key: ipX === "ip6" ? canonicalIPv6(ip) : ip });

  const verdictMap = (name: string, key: string, comment: string) =>
    nft.set({ name, kind: "map", type: `${key} : verdict`, comment });
  verdictMap(
    NO_ENDPOINT_SERVICES,
    `${addrType} . inet_proto . inet_service`,
    "vmap to drop or reject packets to services with no endpoints",
  );
  verdictMap(
    NO_ENDPOINT_NODEPORTS,
    "inet_proto . inet_service",
    "vmap to drop or reject packets to service nodeports with no endpoints",
  );
  nft.chain(REJECT_CHAIN, { comment: "helper for @no-endpoint-services / @no-endpoint-nodeports" });
  nft.rule(REJECT_CHAIN, "reject");
  nft.rule(SERVICE_ENDPOINTS_CHECK, `${ipX} daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES}`);
  nft.rule(
    NODEPORT_ENDPOINTS_CHECK,
    `${ipX} daddr @${NODEPORT_IPS} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`,
  );

  verdictMap(
    FIREWALL_IPS,
    `${addrType} . inet_proto . inet_service`,
    "destinations that are subject to LoadBalancerSourceRanges",
  );
  nft.chain(FIREWALL_CHECK);
  nft.rule(FIREWALL_CHECK, `${ipX} daddr . meta l4proto . th dport vmap @${FIREWALL_IPS}`);

  verdictMap(
    SERVICE_IPS,
    `${addrType} . inet_proto . inet_service`,
    "ClusterIP, ExternalIP and LoadBalancer IP traffic",
  );
  verdictMap(SERVICE_NODEPORTS, "inet_proto . inet_service", "NodePort traffic");
  nft.rule(SERVICES, `${ipX} daddr . meta l4proto . th dport vmap @${SERVICE_IPS}`);
  nft.rule(SERVICES, `${ipX} daddr @${NODEPORT_IPS} meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`);
}

interface Context {
  nft: NftWriter;
  node: NodeConfig;
  words: NftFamily;
}

function writeServicePort(raw: ServicePort, { nft, node, words }: Context): void {
  assertRenderable(raw);
  const p = asKubeProxySees(raw);
  const { ipX, addrType } = words;
  const family = nft.ruleset.family;
  const clusterIP = p.clusterIP;
  if (clusterIP === null) return;
  const proto = lowerProtocol(p);
  const chains = nftServicePortChains(p);
  const plan = planServicePort(p, node.nodeName);
  const sel = plan.selection;
  const epNames = (e: Endpoint) => nftEndpointNames(p, e);
  const internalChain = chains[plan.internalPolicy];
  const externalPolicyChain = chains[plan.externalPolicy];
  const { hasEndpoints, hasInternalEndpoints, hasExternalEndpoints } = plan;
  const sourceRanges = p.loadBalancerSourceRanges.flatMap((r) => canonicalCidr(r) ?? []);
  // Unlike iptables mode, the firewall is set up even without endpoints.
  const usesFirewallChain = p.loadBalancerIPs.length > 0 && sourceRanges.length > 0;
  const noEndpointVerdict = plan.noEndpointVerdict === "reject" ? `goto ${REJECT_CHAIN}` : "drop";

  for (const e of sel.reachable) nft.chain(epNames(e).chain);
  if (plan.usesClusterChain) nft.chain(chains.cluster);
  if (plan.usesLocalChain) nft.chain(chains.local);
  if (plan.usesExternalChain) nft.chain(chains.external);
  if (usesFirewallChain) nft.chain(chains.firewall);

  const key = (ip: string, port: number) => `${ip} . ${proto} . ${port}`;
  const noEndpoints = (k: string, map = NO_ENDPOINT_SERVICES) =>
    nft.element({ container: map, key: k, value: noEndpointVerdict, comment: p.spn });

  // ClusterIP.
  nft.element({ container: CLUSTER_IPS, key: clusterIP });
  if (hasInternalEndpoints) {
    nft.element({ container: SERVICE_IPS, key: key(clusterIP, p.port), value: `goto ${internalChain}` });
  } else {
    noEndpoints(key(clusterIP, p.port));
  }
  // externalIPs and LoadBalancer IPs.
  for (const ip of [...p.externalIPs, ...p.loadBalancerIPs]) {
    if (hasEndpoints)
      nft.element({ container: SERVICE_IPS, key: key(ip, p.port), value: `goto ${chains.external}` });
    if (!hasExternalEndpoints) noEndpoints(key(ip, p.port));
  }
  if (usesFirewallChain) {
    for (const ip of p.loadBalancerIPs)
      nft.element({ container: FIREWALL_IPS, key: key(ip, p.port), value: `goto ${chains.firewall}` });
  }
  // NodePort.
  if (p.nodePort !== 0) {
    const npKey = `${proto} . ${p.nodePort}`;
    if (hasEndpoints)
      nft.element({ container: SERVICE_NODEPORTS, key: npKey, value: `goto ${chains.external}` });
    if (!hasExternalEndpoints) noEndpoints(npKey, NO_ENDPOINT_NODEPORTS);
  }

  // Internal traffic: masquerade what does not come from a pod. Only the ClusterIP reaches this chain
  // with that address, and service-ips already matched protocol and port, so v1.35 matches the
  // address alone (no `tcp dport`).
  if (hasInternalEndpoints) {
    const match = `${ipX} daddr ${clusterIP}`;
    const clusterCIDR = clusterCIDROfFamily(node, family);
    if (node.masqueradeAll) nft.rule(internalChain, `${match} jump ${MARK_MASQ}`);
    else if (clusterCIDR)
      nft.rule(internalChain, `${match} ${ipX} saddr != ${clusterCIDR} jump ${MARK_MASQ}`);
  }

  // External traffic.
  if (plan.usesExternalChain) {
    if (!plan.externalPolicyLocal) {
      nft.rule(chains.external, `jump ${MARK_MASQ}`);
    } else {
      const clusterCIDR = clusterCIDROfFamily(node, family);
      if (clusterCIDR)
        nft.rule(
          chains.external,
          `${ipX} saddr ${clusterCIDR} goto ${chains.cluster}`,
          "short-circuit pod traffic",
        );
      nft.rule(chains.external, `fib saddr type local jump ${MARK_MASQ}`, "masquerade local traffic");
      nft.rule(chains.external, `fib saddr type local goto ${chains.cluster}`, "short-circuit local traffic");
    }
    if (hasExternalEndpoints) nft.rule(chains.external, `goto ${externalPolicyChain}`);
  }

  // loadBalancerSourceRanges.
  if (usesFirewallChain) {
    const sources = [...sourceRanges];
    const nodeIP = familyNodeIP(node, family);
    if (nodeIP !== undefined && sources.some((r) => cidrContains(r, nodeIP)))
      sources.push(...p.loadBalancerIPs);
    // kube-proxy puts "," between the tokens and joins them all with spaces: `{ a , b }`.
    nft.rule(chains.firewall, `${ipX} saddr != { ${sources.join(" , ")} } drop`);
  }

  // ClientIP affinity: one timeout set of client addresses per endpoint.
  if (p.affinityTimeoutSeconds !== null) {
    for (const e of sel.reachable) {
      nft.set({
        name: epNames(e).affinitySet,
        kind: "set",
        type: addrType,
        flags: ["dynamic", "timeout"],
        timeoutSeconds: p.affinityTimeoutSeconds,
      });
    }
  }

  if (plan.usesClusterChain) writeEndpointDispatch(p, chains.cluster, sel.cluster, nft, ipX);
  if (plan.usesLocalChain) writeEndpointDispatch(p, chains.local, sel.local, nft, ipX);

  for (const e of sel.reachable) {
    const { chain, affinitySet } = epNames(e);
    nft.rule(chain, `${ipX} saddr ${e.ip} jump ${MARK_MASQ}`); // hairpin: a pod reaching itself
    if (p.affinityTimeoutSeconds !== null) nft.rule(chain, `update @${affinitySet} { ${ipX} saddr }`);
    nft.rule(chain, `meta l4proto ${proto} dnat to ${endpointHostPort(e)}`);
  }
}

/** Affinity lookups first, then one random pick: `numgen random mod N vmap { 0 : goto …, … }`. */
function writeEndpointDispatch(
  p: ServicePort,
  chain: string,
  endpoints: Endpoint[],
  nft: NftWriter,
  ipX: NftFamily["ipX"],
): void {
  if (p.affinityTimeoutSeconds !== null) {
    for (const e of endpoints) {
      const names = nftEndpointNames(p, e);
      nft.rule(chain, `${ipX} saddr @${names.affinitySet} goto ${names.chain}`);
    }
  }
  const choices = endpoints.map((e, i) => `${i} : goto ${nftEndpointNames(p, e).chain}`);
  nft.rule(chain, `numgen random mod ${endpoints.length} vmap { ${choices.join(" , ")} }`);
}

/** The `ip` (IPv4) or `ip6` (IPv6) kube-proxy table of that family's proxier, for `model` on `node`. */
export function buildNftRules(
  model: ServiceModel,
  node: NodeConfig,
  cluster: NftClusterConfig = {},
  family: IpFamily = "IPv4",
): NftRuleset {
  assertRenderableNode(node);
  const nft = new NftWriter(family);
  const words = nftFamily(family);
  writeFixedRules(nft, node, cluster, words);
  // This family's proxier sees this family's half of every Service.
  for (const p of portsOfFamily(model, family)) writeServicePort(p, { nft, node, words });
  return nft.ruleset;
}

// ---- text ----

/** `ip kube-proxy` or `ip6 kube-proxy`: the family and name every object of the ruleset is under. */
export const nftTableOf = (r: Pick<NftRuleset, "family">): string =>
  `${nftFamily(r.family).ipX} ${NFT_TABLE}`;

function chainLine(table: string, c: NftChain): string {
  const props: string[] = [];
  if (c.base) props.push(`type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority} ;`);
  if (c.comment) props.push(`comment ${nftQuoted(c.comment)} ;`);
  return `add chain ${table} ${c.name}${props.length ? ` { ${props.join(" ")} }` : ""}`;
}

function setLine(table: string, s: NftSet): string {
  const props = [`type ${s.type} ;`];
  if (s.flags) props.push(`flags ${s.flags.join(",")} ;`);
  if (s.timeoutSeconds !== undefined) props.push(`timeout ${s.timeoutSeconds}s ;`);
  if (s.comment) props.push(`comment ${nftQuoted(s.comment)} ;`);
  return `add ${s.kind} ${table} ${s.name} { ${props.join(" ")} }`;
}

function elementLine(table: string, e: NftElement): string {
  const comment = e.comment ? ` comment ${nftQuoted(e.comment)}` : "";
  const value = e.value === undefined ? "" : ` : ${e.value}`;
  return `add element ${table} ${e.container} { ${e.key}${comment}${value} }`;
}

/**
 * One transaction for `nft -f`: it replaces the whole table (add, delete, add again, so it also loads
 * where the table already exists), declares every chain, set and map, and only then writes the
 * rules and elements that refer to them. Rules are grouped by chain, elements by set.
 */
export function renderNft(r: NftRuleset): string {
  const table = nftTableOf(r);
  const rulesByChain = new Map<string, NftRule[]>(r.chains.map((c) => [c.name, []]));
  const elementsBySet = new Map<string, NftElement[]>(r.sets.map((s) => [s.name, []]));
  const place = <T>(map: Map<string, T[]>, name: string, item: T, what: string) => {
    const list = map.get(name);
    if (!list) throw new Error(`nft: ${what} for undeclared ${name}`); // a generator bug, not a user error
    list.push(item);
  };
  for (const rule of r.rules) place(rulesByChain, rule.chain, rule, "rule");
  for (const e of r.elements) place(elementsBySet, e.container, e, "element");
  const lines = [
    `add table ${table}`,
    `delete table ${table}`,
    `add table ${table} { comment ${nftQuoted("rules for kube-proxy")} ; }`,
    ...r.chains.map((c) => chainLine(table, c)),
    ...r.sets.map((s) => setLine(table, s)),
    ...[...rulesByChain].flatMap(([chain, rules]) =>
      rules.map(
        (x) => `add rule ${table} ${chain} ${x.rule}${x.comment ? ` comment ${nftQuoted(x.comment)}` : ""}`,
      ),
    ),
    ...[...elementsBySet.values()].flatMap((elements) => elements.map((e) => elementLine(table, e))),
  ];
  return lines.join("\n") + "\n";
}

export const NFT_FORMATS = ["transaction", "list"] as const;
export type NftFormat = (typeof NFT_FORMATS)[number];

/** The ruleset in one of its text forms (see `maplb nft --help`). */
export function renderNftAs(r: NftRuleset, format: NftFormat): string {
  return format === "list" ? renderNftList(r) : renderNft(r);
}
