// Walks kube-proxy's nat table for one new connection, as the kernel does on its first packet:
// PREROUTING jumps to KUBE-SERVICES, rules are tested top to bottom, jumps descend into chains,
// and the walk ends at a DNAT (or falls off KUBE-SERVICES: not a service). It reports the path and
// how many rules were tested: the O(n) cost the benchmark compares with maplb's map lookups (§8).
// A pure TypeScript reference; the benchmark's native evaluator must agree with it. The rule
// compiler and chain runner here also serve the walk over every table and hook (walk-iptables.ts).
import { cidrContains } from "./cidr.js";
import { KUBE_SERVICES, MASQUERADE_MARK, type IptablesTable } from "./iptables-rules.js";
import { kernelProbability, rulesByChain } from "./iptables-render.js";
import { optionValue, parseRuleArgs, type ParsedRule } from "./rule-parse.js";

export interface NatPacket {
  srcIp: string;
  dstIp: string;
  dstPort: number;
  protocol: "tcp" | "udp" | "sctp";
}

export interface NatTraceOptions {
  /** Addresses of this node, for `-m addrtype --src-type/--dst-type LOCAL` (127.0.0.0/8 is always local). */
  localAddresses?: string[];
  /** Uniform in [0, 1), for `-m statistic --mode random` (default Math.random). */
  random?: () => number;
  /** ClientIP affinity state of `-m recent`: set name → source addresses. Updated by `--set`. */
  recent?: Map<string, Set<string>>;
}

/** One rule that matched: its chain and its 0-based index in that chain. */
export interface NatStep {
  chain: string;
  rule: number;
}

export type NatVerdict =
  | { kind: "dnat"; to: string }
  /** No rule rewrote the packet: it is not for a service (or its service chain ended without DNAT). */
  | { kind: "none" }
  /** MASQUERADE: accepted, its source to be rewritten to the outgoing interface's address. */
  | { kind: "accept" | "drop" | "reject" | "masquerade" };

export interface NatTrace {
  /** The rules that matched, in order: the jumps taken, the marks set, the final DNAT. */
  path: NatStep[];
  /** Every rule tested, matched or not: the traversal cost. */
  rulesEvaluated: number;
  verdict: NatVerdict;
  /** KUBE-MARK-MASQ ran: the connection will be masqueraded in POSTROUTING. */
  masquerade: boolean;
}

type Tester = (pkt: NatPacket, state: WalkState) => boolean;

export interface CompiledRule {
  test: Tester;
  target: ParsedRule["target"];
}

/** One packet's state while it walks: what its rules read and write. */
export interface WalkState {
  mark: number;
  recent: Map<string, Set<string>>;
  random: () => number;
  isLocal: (ip: string) => boolean;
  /** The connection's conntrack states for `-m conntrack --ctstate` (a first packet: NEW, then DNAT). */
  ctState: Set<string>;
}

/** Turns a parsed rule's matches into one predicate; unknown modules are an error, not a silent pass. */
function compileMatches(r: ParsedRule): Tester {
  const tests: Tester[] = [];
  const negatable = (negate: boolean, t: Tester): Tester => (negate ? (p, s) => !t(p, s) : t);
  if (r.source) {
    const { address, negate } = r.source;
    tests.push(negatable(negate, (p) => inCidr(address, p.srcIp)));
  }
  if (r.destination) {
    const { address, negate } = r.destination;
    tests.push(negatable(negate, (p) => inCidr(address, p.dstIp)));
  }
  if (r.protocol) {
    const proto = r.protocol;
    tests.push((p) => p.protocol === proto);
  }
  for (const m of r.matches) {
    for (const o of m.options) {
      const value = o.values[0] ?? "";
      switch (`${m.module} ${o.name}`) {
        case "comment comment":
        case "nfacct nfacct-name":
        case "statistic mode":
          break;
        case "tcp dport":
        case "udp dport":
        case "sctp dport":
          tests.push(negatable(o.negate, (p) => p.dstPort === Number(value)));
          break;
        case "addrtype dst-type":
        case "addrtype src-type": {
          if (value !== "LOCAL") throw new Error(`nat trace: addrtype ${value} is not modelled`);
          const ofSource = o.name === "src-type";
          tests.push(negatable(o.negate, (p, s) => s.isLocal(ofSource ? p.srcIp : p.dstIp)));
          break;
        }
        case "mark mark": {
          const [v, mask] = value.split("/").map((x) => Number(x) >>> 0);
          tests.push(negatable(o.negate, (_p, s) => (s.mark & (mask ?? 0xffffffff)) >>> 0 === v));
          break;
        }
        case "statistic probability": {
          const stored = Number(kernelProbability(value)); // what the kernel compares against
          tests.push((_p, s) => s.random() < stored);
          break;
        }
        case "recent name":
        case "recent seconds": // entries never expire here: a trace has no clock
        case "recent reap":
          break;
        case "conntrack ctstate": {
          const states = value.split(",");
          tests.push(negatable(o.negate, (_p, s) => states.some((x) => s.ctState.has(x))));
          break;
        }
        case "recent rcheck": {
          const name = optionValue(m.options, "name") ?? "DEFAULT";
          tests.push(negatable(o.negate, (p, s) => s.recent.get(name)?.has(p.srcIp) ?? false));
          break;
        }
        case "recent set": {
          const name = optionValue(m.options, "name") ?? "DEFAULT";
          tests.push((p, s) => {
            const set = s.recent.get(name) ?? new Set<string>();
            s.recent.set(name, set.add(p.srcIp));
            return true;
          });
          break;
        }
        default:
          throw new Error(`nat trace: -m ${m.module} --${o.name} is not modelled`);
      }
    }
  }
  return (p, s) => tests.every((t) => t(p, s));
}

function inCidr(address: string, ip: string): boolean {
  return address.includes("/") ? cidrContains(address, ip) : address === ip;
}

/** Compiles a table's rules once, per chain, in evaluation order. */
export function compileTable(table: IptablesTable): Map<string, CompiledRule[]> {
  const chains = new Map<string, CompiledRule[]>();
  for (const [chain, rules] of rulesByChain(table)) {
    chains.set(
      chain,
      rules.map((rule) => {
        const parsed = parseRuleArgs(rule.args);
        return { test: compileMatches(parsed), target: parsed.target };
      }),
    );
  }
  return chains;
}

/** Reports each rule tested: `matched` is false for a rule whose matches failed. */
export type RuleVisitor = (chain: string, rule: number, matched: boolean) => void;

/**
 * Runs `chain` for `pkt` as netfilter does: rules top to bottom, a jump descends and comes back on
 * RETURN or at the chain's end. Returns the verdict when the walk ends inside, null when it returns.
 */
export function runChain(
  chains: Map<string, CompiledRule[]>,
  chain: string,
  pkt: NatPacket,
  walk: WalkState,
  visit: RuleVisitor,
): NatVerdict | null {
  const rules = chains.get(chain);
  if (!rules) throw new Error(`iptables trace: jump to missing chain ${chain}`);
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    const matched = rule.test(pkt, walk);
    visit(chain, i, matched);
    if (!matched) continue;
    const target = rule.target;
    if (!target) continue;
    switch (target.name) {
      case "RETURN":
        return null;
      case "DNAT":
        return { kind: "dnat", to: optionValue(target.options, "to-destination") ?? "" };
      case "ACCEPT":
        return { kind: "accept" };
      case "DROP":
        return { kind: "drop" };
      case "REJECT":
        return { kind: "reject" };
      case "MASQUERADE":
        return { kind: "masquerade" };
      case "MARK": {
        const or = optionValue(target.options, "or-mark");
        const xor = optionValue(target.options, "xor-mark");
        if (or !== undefined) walk.mark = (walk.mark | Number(or)) >>> 0;
        if (xor !== undefined) walk.mark = (walk.mark ^ Number(xor)) >>> 0;
        continue;
      }
      default: {
        const verdict = runChain(chains, target.name, pkt, walk, visit); // a jump into a kube-proxy chain
        if (verdict) return verdict;
      }
    }
  }
  return null;
}

/** 127.0.0.0/8, ::1 and the node's own addresses: what `-m addrtype --*-type LOCAL` matches. */
export function localTest(localAddresses: readonly string[]): (ip: string) => boolean {
  return (ip) => cidrContains("127.0.0.0/8", ip) || ip === "::1" || localAddresses.includes(ip);
}

/**
 * Compiles the nat table once and returns a tracer for packets. Options hold per-node facts and the
 * affinity state, which persists across calls (as the kernel's recent lists do).
 */
export function natTracer(nat: IptablesTable, options: NatTraceOptions = {}): (pkt: NatPacket) => NatTrace {
  const chains = compileTable(nat);
  const state: Omit<WalkState, "mark" | "ctState"> = {
    recent: options.recent ?? new Map(),
    random: options.random ?? Math.random,
    isLocal: localTest(options.localAddresses ?? []),
  };

  return (pkt) => {
    const walk: WalkState = { ...state, mark: 0, ctState: new Set(["NEW"]) };
    const trace: NatTrace = { path: [], rulesEvaluated: 0, verdict: { kind: "none" }, masquerade: false };
    const visit: RuleVisitor = (chain, rule, matched) => {
      trace.rulesEvaluated++;
      if (matched) trace.path.push({ chain, rule });
    };
    trace.verdict = runChain(chains, KUBE_SERVICES, pkt, walk, visit) ?? { kind: "none" };
    trace.masquerade = (walk.mark & Number(MASQUERADE_MARK)) !== 0;
    return trace;
  };
}

/** One packet's walk through the nat table (compiles the table each call; use natTracer for many). */
export function traceNat(nat: IptablesTable, pkt: NatPacket, options: NatTraceOptions = {}): NatTrace {
  return natTracer(nat, options)(pkt);
}
