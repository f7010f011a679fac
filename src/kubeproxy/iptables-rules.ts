// kube-proxy's iptables mode, as structured rules: the filter and nat tables it would restore for a
// ServiceModel on one node (reference §3–§5, following pkg/proxy/iptables/proxier.go syncProxyRules).
//
// A rule is its chain and its argument tokens, exactly as kube-proxy passes them to iptables-restore
// (comments unquoted here; the renderers quote them). The renderers (iptables-render.ts) print the
// three text forms from this, and the nat-table tracer (nat-trace.ts) walks it.
import {
  clusterCIDROfFamily,
  portsOfFamily,
  type Endpoint,
  type IpFamily,
  type NodeConfig,
  type ServiceModel,
  type ServicePort,
} from "../model/types.js";
import { endpointChain, lowerProtocol, servicePortChains } from "./chain-names.js";
import { canonicalCidr, cidrContains } from "./cidr.js";
import { toFixedHalfEven } from "./decimal.js";
import {
  asKubeProxySees,
  endpointHostPort,
  familyNodeIP,
  localhostNodePorts,
  notLocalhostNodePorts,
} from "./family.js";
import { planServicePort } from "./policy.js";
import { assertRenderable, assertRenderableNode, iptablesCommentText } from "./tokens.js";

export type IptablesTableName = "filter" | "nat";

export interface IptablesRule {
  chain: string;
  /** The tokens after `-A CHAIN`, e.g. `["-m", "comment", "--comment", "ns/svc cluster IP", …, "-j", "KUBE-SVC-…"]`. */
  args: string[];
}

export interface IptablesTable {
  name: IptablesTableName;
  /** Every chain the payload declares (`:NAME - [0:0]`), in the order kube-proxy writes them. */
  chains: string[];
  /** In the order kube-proxy writes them; the order within one chain is the order the kernel evaluates. */
  rules: IptablesRule[];
}

export interface IptablesRuleset {
  /** The proxier's family: IPv4 rules are for iptables-restore, IPv6 ones for ip6tables-restore. */
  family: IpFamily;
  filter: IptablesTable;
  nat: IptablesTable;
}

// kube-proxy's fixed chains.
export const KUBE_SERVICES = "KUBE-SERVICES";
export const KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES";
export const KUBE_NODEPORTS = "KUBE-NODEPORTS";
export const KUBE_POSTROUTING = "KUBE-POSTROUTING";
export const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";
export const KUBE_FORWARD = "KUBE-FORWARD";
export const KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
export const KUBE_FIREWALL = "KUBE-FIREWALL";

/** The masquerade mark: bit 14 (kube-proxy's --masquerade-bit default), printed as kube-proxy prints it. */
export const MASQUERADE_MARK = "0x4000";
/** Above this many endpoints (all service ports together) kube-proxy drops comments from SVC→SEP and SEP rules. */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;
export const NFACCT_INVALID_DROPPED = "ct_state_invalid_dropped_pkts";
export const NFACCT_LOCALHOST_NODEPORTS = "localhost_nps_accepted_pkts";

const probabilities: string[] = [];

/** The probability of rule i of n: 1/(n-i) as Go's "%0.10f" prints it (n=3 → "0.3333333333"). Cached, as kube-proxy does. */
export function probability(remaining: number): string {
  return (probabilities[remaining] ??= toFixedHalfEven(1 / remaining, 10));
}

/** Collects one table's chain lines and rules in writing order. */
class TableWriter {
  readonly table: IptablesTable;
  constructor(name: IptablesTableName) {
    this.table = { name, chains: [], rules: [] };
  }
  chain(name: string): void {
    this.table.chains.push(name);
  }
  rule(chain: string, ...args: string[]): void {
    this.table.rules.push({ chain, args });
  }
}

/** Everything a service port's rules depend on besides the port itself. */
interface Context {
  node: NodeConfig;
  family: IpFamily;
  filter: TableWriter;
  nat: TableWriter;
  /** kube-proxy's "large cluster mode": no comments on SVC→SEP and SEP rules. */
  largeCluster: boolean;
  /** The "local traffic" detector's matches, or null without a cluster CIDR. */
  detector: { ifLocal: string[]; ifNotLocal: string[] } | null;
}

const comment = (text: string): string[] => ["-m", "comment", "--comment", iptablesCommentText(text)];

/** `-m tcp -p tcp [-d DST] --dport PORT`, the match kube-proxy writes for one frontend. */
function portMatch(proto: string, dst: string | null, port: number): string[] {
  return ["-m", proto, "-p", proto, ...(dst === null ? [] : ["-d", dst]), "--dport", String(port)];
}

/** The rules of one service port, in kube-proxy's order. */
function writeServicePort(raw: ServicePort, ctx: Context): void {
  assertRenderable(raw);
  const p = asKubeProxySees(raw);
  const clusterIP = p.clusterIP;
  if (clusterIP === null) return; // headless: no frontends, no rules
  const { filter, nat, node } = ctx;
  const proto = lowerProtocol(p);
  const chains = servicePortChains(p);
  const plan = planServicePort(p, node.nodeName);
  const sel = plan.selection;
  const sepChains = new Map(sel.reachable.map((e) => [e, endpointChain(p, e)]));
  const internalChain = chains[plan.internalPolicy];
  const externalPolicyChain = chains[plan.externalPolicy];
  const { hasEndpoints, hasInternalEndpoints, hasExternalEndpoints } = plan;
  // Printed as kube-proxy prints a parsed net.IPNet: the network address (10.0.0.1/8 → 10.0.0.0/8).
  const sourceRanges = p.loadBalancerSourceRanges.flatMap((r) => canonicalCidr(r) ?? []);
  const usesFirewallChain = hasEndpoints && p.loadBalancerIPs.length > 0 && sourceRanges.length > 0;
  const loadBalancerChain = usesFirewallChain ? chains.firewall : chains.external;

  // What the filter table does with traffic to a destination without endpoints under its policy.
  const noEndpointFilter =
    plan.noEndpointVerdict === "reject"
      ? { target: "REJECT", comment: `${p.spn} has no endpoints` }
      : { target: "DROP", comment: `${p.spn} has no local endpoints` };

  // ClusterIP.
  if (hasInternalEndpoints) {
    nat.rule(
      KUBE_SERVICES,
      ...comment(`${p.spn} cluster IP`),
      ...portMatch(proto, clusterIP, p.port),
      "-j",
      internalChain,
    );
  } else {
    filter.rule(
      KUBE_SERVICES,
      ...comment(noEndpointFilter.comment),
      ...portMatch(proto, clusterIP, p.port),
      "-j",
      noEndpointFilter.target,
    );
  }

  // externalIPs.
  for (const ip of p.externalIPs) {
    if (hasEndpoints) {
      nat.rule(
        KUBE_SERVICES,
        ...comment(`${p.spn} external IP`),
        ...portMatch(proto, ip, p.port),
        "-j",
        chains.external,
      );
    }
    if (!hasExternalEndpoints) {
      filter.rule(
        KUBE_EXTERNAL_SERVICES,
        ...comment(noEndpointFilter.comment),
        ...portMatch(proto, ip, p.port),
        "-j",
        noEndpointFilter.target,
      );
    }
  }

  // LoadBalancer ingress IPs.
  for (const ip of p.loadBalancerIPs) {
    if (hasEndpoints) {
      nat.rule(
        KUBE_SERVICES,
        ...comment(`${p.spn} loadbalancer IP`),
        ...portMatch(proto, ip, p.port),
        "-j",
        loadBalancerChain,
      );
    }
    if (usesFirewallChain) {
      filter.rule(
        KUBE_PROXY_FIREWALL,
        ...comment(`${p.spn} traffic not accepted by ${chains.firewall}`),
        ...portMatch(proto, ip, p.port),
        "-j",
        "DROP",
      );
    }
  }
  if (!hasExternalEndpoints) {
    for (const ip of p.loadBalancerIPs) {
      filter.rule(
        KUBE_EXTERNAL_SERVICES,
        ...comment(noEndpointFilter.comment),
        ...portMatch(proto, ip, p.port),
        "-j",
        noEndpointFilter.target,
      );
    }
  }

  // NodePort. NodePorts are not subject to loadBalancerSourceRanges (kube-proxy cannot change that).
  if (p.nodePort !== 0) {
    if (hasEndpoints) {
      if (localhostNodePorts(node, ctx.family) && node.nfacct) {
        nat.rule(
          KUBE_NODEPORTS,
          ...comment(p.spn),
          ...portMatch(proto, "127.0.0.0/8", p.nodePort),
          ...["-m", "nfacct", "--nfacct-name", NFACCT_LOCALHOST_NODEPORTS],
          "-j",
          chains.external,
        );
      }
      nat.rule(
        KUBE_NODEPORTS,
        ...comment(p.spn),
        ...portMatch(proto, null, p.nodePort),
        "-j",
        chains.external,
      );
    }
    if (!hasExternalEndpoints) {
      filter.rule(
        KUBE_EXTERNAL_SERVICES,
        ...comment(noEndpointFilter.comment),
        ...["-m", "addrtype", "--dst-type", "LOCAL"],
        ...portMatch(proto, null, p.nodePort),
        "-j",
        noEndpointFilter.target,
      );
    }
  }

  // The health check node port answers whether or not this node has local endpoints.
  if (p.healthCheckNodePort !== 0) {
    filter.rule(
      KUBE_NODEPORTS,
      ...comment(`${p.spn} health check node port`),
      ...portMatch("tcp", null, p.healthCheckNodePort),
      "-j",
      "ACCEPT",
    );
  }

  // Internal traffic: masquerade what does not come from a pod (it may bounce off-node).
  if (hasInternalEndpoints) {
    const match = [...comment(`${p.spn} cluster IP`), ...portMatch(proto, clusterIP, p.port)];
    if (node.masqueradeAll) nat.rule(internalChain, ...match, "-j", KUBE_MARK_MASQ);
    else if (ctx.detector)
      nat.rule(internalChain, ...match, ...ctx.detector.ifNotLocal, "-j", KUBE_MARK_MASQ);
  }

  // External traffic: every external destination enters KUBE-EXT, which then picks the policy chain.
  if (plan.usesExternalChain) {
    nat.chain(chains.external);
    if (!plan.externalPolicyLocal) {
      nat.rule(
        chains.external,
        ...comment(`masquerade traffic for ${p.spn} external destinations`),
        "-j",
        KUBE_MARK_MASQ,
      );
    } else {
      // Pods reaching an external IP are treated as if they went out to the load balancer and back:
      // no traffic policy applies. Traffic from the node itself keeps working too, masqueraded.
      if (ctx.detector) {
        nat.rule(
          chains.external,
          ...comment(`pod traffic for ${p.spn} external destinations`),
          ...ctx.detector.ifLocal,
          "-j",
          chains.cluster,
        );
      }
      nat.rule(
        chains.external,
        ...comment(`masquerade LOCAL traffic for ${p.spn} external destinations`),
        ...["-m", "addrtype", "--src-type", "LOCAL"],
        "-j",
        KUBE_MARK_MASQ,
      );
      nat.rule(
        chains.external,
        ...comment(`route LOCAL traffic for ${p.spn} external destinations`),
        ...["-m", "addrtype", "--src-type", "LOCAL"],
        "-j",
        chains.cluster,
      );
    }
    if (hasExternalEndpoints) nat.rule(chains.external, "-j", externalPolicyChain);
  }

  // loadBalancerSourceRanges: accepted sources go on to KUBE-EXT; the rest fall off the end of
  // KUBE-FW un-DNATed and are dropped by the filter table's KUBE-PROXY-FIREWALL.
  if (usesFirewallChain) {
    nat.chain(chains.firewall);
    const head = comment(`${p.spn} loadbalancer IP`);
    for (const range of sourceRanges) nat.rule(chains.firewall, ...head, "-s", range, "-j", chains.external);
    // A VIP bound locally makes node-to-VIP traffic loop back with the VIP as source.
    const nodeIP = familyNodeIP(node, ctx.family);
    if (nodeIP !== undefined && sourceRanges.some((r) => cidrContains(r, nodeIP))) {
      for (const ip of p.loadBalancerIPs) nat.rule(chains.firewall, ...head, "-s", ip, "-j", chains.external);
    }
    nat.rule(chains.firewall, ...comment(`other traffic to ${p.spn} will be dropped by KUBE-PROXY-FIREWALL`));
  }

  if (plan.usesClusterChain) {
    nat.chain(chains.cluster);
    writeEndpointDispatch(p, chains.cluster, sel.cluster, sepChains, ctx);
  }
  if (plan.usesLocalChain) {
    nat.chain(chains.local);
    writeEndpointDispatch(p, chains.local, sel.local, sepChains, ctx);
  }

  // One KUBE-SEP chain per endpoint that a policy chain can reach.
  for (const e of sel.reachable) {
    const sep = sepChains.get(e)!;
    nat.chain(sep);
    const head = ctx.largeCluster ? [] : comment(p.spn);
    nat.rule(sep, ...head, "-s", e.ip, "-j", KUBE_MARK_MASQ); // hairpin: a pod reaching itself
    const affinity = p.affinityTimeoutSeconds === null ? [] : ["-m", "recent", "--name", sep, "--set"];
    nat.rule(
      sep,
      ...head,
      ...affinity,
      "-m",
      proto,
      "-p",
      proto,
      "-j",
      "DNAT",
      "--to-destination",
      endpointHostPort(e),
    );
  }
}

/** KUBE-SVC/KUBE-SVL → KUBE-SEP: affinity checks first, then a random pick with probability 1/(N-i). */
function writeEndpointDispatch(
  p: ServicePort,
  chain: string,
  endpoints: Endpoint[],
  sepChains: Map<Endpoint, string>,
  ctx: Context,
): void {
  const head = (e: Endpoint) => (ctx.largeCluster ? [] : comment(`${p.spn} -> ${endpointHostPort(e)}`));
  if (p.affinityTimeoutSeconds !== null) {
    for (const e of endpoints) {
      const sep = sepChains.get(e)!;
      ctx.nat.rule(
        chain,
        ...head(e),
        ...[
          "-m",
          "recent",
          "--name",
          sep,
          "--rcheck",
          "--seconds",
          String(p.affinityTimeoutSeconds),
          "--reap",
        ],
        "-j",
        sep,
      );
    }
  }
  endpoints.forEach((e, i) => {
    const remaining = endpoints.length - i;
    const random =
      remaining > 1 ? ["-m", "statistic", "--mode", "random", "--probability", probability(remaining)] : [];
    ctx.nat.rule(chain, ...head(e), ...random, "-j", sepChains.get(e)!);
  });
}

/** The service name a rule's comment starts with (`ns/name`), the key kube-proxy's tests sort by. */
export function serviceNameOf(rule: IptablesRule): string {
  const i = rule.args.indexOf("--comment");
  const text = i >= 0 ? (rule.args[i + 1] ?? "") : "";
  return text.split(" ")[0]!.split(":")[0]!;
}

const byServiceName = (a: ServicePort, b: ServicePort): number => {
  const [x, y] = [`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`];
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * The filter and nat tables kube-proxy's proxier for `family` restores for `model` on the node `node`
 * (the IPv4 proxier through iptables-restore, the IPv6 one through ip6tables-restore).
 * Service ports are written grouped by service name (kube-proxy uses Go map order, which is random),
 * so the order within every chain is already the canonical one.
 */
export function buildIptablesRules(
  model: ServiceModel,
  node: NodeConfig,
  family: IpFamily = "IPv4",
): IptablesRuleset {
  assertRenderableNode(node);
  const filter = new TableWriter("filter");
  const nat = new TableWriter("nat");
  for (const c of [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL])
    filter.chain(c);
  for (const c of [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]) nat.chain(c);

  const mark = `${MASQUERADE_MARK}/${MASQUERADE_MARK}`;
  nat.rule(KUBE_POSTROUTING, "-m", "mark", "!", "--mark", mark, "-j", "RETURN");
  nat.rule(KUBE_POSTROUTING, "-j", "MARK", "--xor-mark", MASQUERADE_MARK); // clear it: no re-masquerade
  nat.rule(KUBE_POSTROUTING, ...comment("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE");
  nat.rule(KUBE_MARK_MASQ, "-j", "MARK", "--or-mark", MASQUERADE_MARK);

  if (localhostNodePorts(node, family)) {
    // route_localnet (for localhost NodePorts) opens a hole (issue 90259); this rule closes it.
    filter.chain(KUBE_FIREWALL);
    filter.rule(
      KUBE_FIREWALL,
      ...comment("block incoming localnet connections"),
      ...["-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8"],
      ...["-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT"],
      "-j",
      "DROP",
    );
  }

  // This family's proxier sees this family's half of every Service.
  const ports = portsOfFamily(model, family);
  const clusterCIDR = clusterCIDROfFamily(node, family);
  const totalEndpoints = ports.reduce((n, p) => n + p.endpoints.length, 0);
  const ctx: Context = {
    node,
    family,
    filter,
    nat,
    largeCluster: totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD,
    detector: clusterCIDR ? { ifLocal: ["-s", clusterCIDR], ifNotLocal: ["!", "-s", clusterCIDR] } : null,
  };
  for (const p of ports.sort(byServiceName)) writeServicePort(p, ctx);

  // Last in KUBE-SERVICES: anything addressed to this node may be a NodePort.
  const notLocalhost = notLocalhostNodePorts(node, family);
  nat.rule(
    KUBE_SERVICES,
    ...comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain"),
    ...["-m", "addrtype", "--dst-type", "LOCAL"],
    ...notLocalhost,
    "-j",
    KUBE_NODEPORTS,
  );

  const nfacct = node.nfacct ? ["-m", "nfacct", "--nfacct-name", NFACCT_INVALID_DROPPED] : [];
  filter.rule(KUBE_FORWARD, "-m", "conntrack", "--ctstate", "INVALID", ...nfacct, "-j", "DROP");
  filter.rule(
    KUBE_FORWARD,
    ...comment("kubernetes forwarding rules"),
    "-m",
    "mark",
    "--mark",
    mark,
    "-j",
    "ACCEPT",
  );
  filter.rule(
    KUBE_FORWARD,
    ...comment("kubernetes forwarding conntrack rule"),
    ...["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"],
    "-j",
    "ACCEPT",
  );
  return { family, filter: filter.table, nat: nat.table };
}

/** A rule in a built-in chain (PREROUTING, INPUT, …) that links it to one of kube-proxy's chains. */
export interface BuiltinJumpRule extends IptablesRule {
  table: IptablesTableName;
}

/**
 * The jump rules kube-proxy inserts into the built-in chains (iptablesJumpChains and the kubelet's
 * KUBE-FIREWALL links). They are not part of the restore payload, but loading the payload into a
 * kernel needs them for any packet to reach kube-proxy's chains. kube-proxy inserts each one at the
 * top of its chain in turn; this list is the order that leaves in each chain, so a loader appends.
 */
export function builtinJumpRules(
  node: Pick<NodeConfig, "localhostNodePorts">,
  family: IpFamily = "IPv4",
): BuiltinJumpRule[] {
  const ctNew = ["-m", "conntrack", "--ctstate", "NEW"];
  const jump = (table: IptablesTableName, chain: string, extra: string[], text: string, to: string) => ({
    table,
    chain,
    args: [...extra, ...(text ? comment(text) : []), "-j", to],
  });
  const rules: BuiltinJumpRule[] = [
    jump("filter", "INPUT", ctNew, "kubernetes externally-visible service portals", KUBE_EXTERNAL_SERVICES),
    jump("filter", "FORWARD", ctNew, "kubernetes externally-visible service portals", KUBE_EXTERNAL_SERVICES),
    jump("filter", "INPUT", [], "kubernetes health check service ports", KUBE_NODEPORTS),
    jump("filter", "FORWARD", ctNew, "kubernetes service portals", KUBE_SERVICES),
    jump("filter", "OUTPUT", ctNew, "kubernetes service portals", KUBE_SERVICES),
    jump("filter", "FORWARD", [], "kubernetes forwarding rules", KUBE_FORWARD),
    jump("filter", "INPUT", ctNew, "kubernetes load balancer firewall", KUBE_PROXY_FIREWALL),
    jump("filter", "OUTPUT", ctNew, "kubernetes load balancer firewall", KUBE_PROXY_FIREWALL),
    jump("filter", "FORWARD", ctNew, "kubernetes load balancer firewall", KUBE_PROXY_FIREWALL),
    jump("nat", "OUTPUT", [], "kubernetes service portals", KUBE_SERVICES),
    jump("nat", "PREROUTING", [], "kubernetes service portals", KUBE_SERVICES),
    jump("nat", "POSTROUTING", [], "kubernetes postrouting rules", KUBE_POSTROUTING),
  ];
  if (localhostNodePorts(node, family)) {
    rules.push(
      jump("filter", "INPUT", [], "", KUBE_FIREWALL),
      jump("filter", "OUTPUT", [], "", KUBE_FIREWALL),
    );
  }
  return rules.reverse();
}
