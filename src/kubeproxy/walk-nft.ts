// The nftables half of kube-proxy's verdict: one new connection walked through the base chains of
// `maplb nft`'s ruleset, hook by hook and in priority order, as netfilter runs them: filter
// prerouting (firewall-check: drop a source outside loadBalancerSourceRanges), nat prerouting
// (services: a verdict-map lookup, then `numgen random mod N vmap` picks an endpoint chain, which
// DNATs), filter input or forward (no-endpoint verdict maps: drop or reject; cluster-ips-check),
// nat postrouting (masquerade what carries the mark). It reads the renderer's objects: each rule's
// text is parsed here, its sets and maps are the ruleset's elements.
import type { NodeConfig } from "../model/types.js";
import { ipFamilyOf } from "../util/ip.js";
import { cidrContains } from "./cidr.js";
import { splitHostPort } from "./family.js";
import { localTest } from "./nat-trace.js";
import { nftTableOf, type NftRule, type NftRuleset } from "./nft.js";
import { nftQuoted } from "./tokens.js";
import {
  walkEveryBranch,
  type KubeProxyPacket,
  type KubeProxyStep,
  type KubeProxyVerdict,
  type VerdictClass,
} from "./verdict.js";

type Verdict =
  | { kind: "jump" | "goto"; chain: string }
  | { kind: "return" | "drop" | "accept" | "reject" | "masquerade" }
  | { kind: "dnat"; to: string };

/** The packet and its connection as a rule sees them. */
interface Walk {
  src: string;
  dst: string;
  dport: number;
  proto: string;
  mark: number;
  ctState: Set<string>;
  isLocal: (ip: string) => boolean;
  /** The random pick's branch (see BranchWalk), and how many branches the pick had. */
  branch: number;
  branches: number;
}

/** What one rule did: no match, or a match with its verdict (if any) and the map element used. */
type Outcome = { matched: false } | { matched: true; verdict?: Verdict; element?: string };

const TOKEN = /\{|\}|,|[^\s{},]+/g;

/** A selector's value for this packet; addresses compare by prefix, the rest as text or numbers. */
function select(tokens: string[], at: number, w: Walk): { value: string; next: number } {
  const [a, b, c] = [tokens[at], tokens[at + 1], tokens[at + 2]];
  const two = `${a} ${b}`;
  if (two === "ip saddr" || two === "ip6 saddr") return { value: w.src, next: at + 2 };
  if (two === "ip daddr" || two === "ip6 daddr") return { value: w.dst, next: at + 2 };
  if (two === "meta l4proto") return { value: w.proto, next: at + 2 };
  if (b === "dport" && (a === "th" || a === w.proto)) return { value: String(w.dport), next: at + 2 };
  if (b === "dport" && (a === "tcp" || a === "udp" || a === "sctp")) return { value: "", next: at + 2 };
  if (a === "fib" && c === "type") {
    const ip = b === "saddr" ? w.src : w.dst;
    return { value: w.isLocal(ip) ? "local" : "unicast", next: at + 3 };
  }
  if (two === "ct state") return { value: [...w.ctState].join(","), next: at + 2 };
  if (a === "mark" && b === "and") return { value: String(w.mark & Number(c)), next: at + 3 };
  if (a === "mark") return { value: String(w.mark), next: at + 1 };
  throw new Error(`nft trace: cannot read '${tokens.slice(at).join(" ")}'`);
}

/** One component of a key or a literal: addresses by prefix, ct states by membership, numbers by value. */
function matches(actual: string, literal: string): boolean {
  if (literal.includes("/") && ipFamilyOf(actual) !== null) return cidrContains(literal, actual);
  if (actual.includes(",")) return actual.split(",").includes(literal.toUpperCase());
  if (/^(0x[\da-f]+|\d+)$/i.test(literal)) return Number(actual) === Number(literal);
  return actual.toLowerCase() === literal.toLowerCase();
}

const keyMatches = (actual: string[], key: string): boolean => {
  const parts = key.split(" . ");
  return parts.length === actual.length && parts.every((k, i) => matches(actual[i]!, k.trim()));
};

function parseVerdict(tokens: string[], at: number): { verdict: Verdict; next: number } | null {
  const t = tokens[at];
  if (t === "jump" || t === "goto") return { verdict: { kind: t, chain: tokens[at + 1]! }, next: at + 2 };
  if (t === "return" || t === "drop" || t === "accept" || t === "reject")
    return { verdict: { kind: t }, next: at + 1 };
  if (t === "masquerade") return { verdict: { kind: "masquerade" }, next: tokens.length };
  if (t === "dnat" && tokens[at + 1] === "to")
    return { verdict: { kind: "dnat", to: tokens[at + 2]! }, next: at + 3 };
  return null;
}

/** A map element's verdict; anything else is a renderer bug, reported with the rule. */
function verdictOf(tokens: string[], at: number, rule: NftRule): Verdict {
  const v = parseVerdict(tokens, at);
  if (!v) throw new Error(`nft trace: '${tokens.join(" ")}' in '${rule.rule}' is not a verdict`);
  return v.verdict;
}

/** `{ a , b }` from `at` (at the `{`): its items, split on commas, and the index after `}`. */
function braced(tokens: string[], at: number): { items: string[][]; next: number } {
  const items: string[][] = [[]];
  let i = at + 1;
  for (; i < tokens.length && tokens[i] !== "}"; i++) {
    if (tokens[i] === ",") items.push([]);
    else items.at(-1)!.push(tokens[i]!);
  }
  return { items: items.filter((x) => x.length > 0), next: i + 1 };
}

export function nftWalker(
  ruleset: NftRuleset,
  node: NodeConfig,
): (pkt: KubeProxyPacket, hash: number) => KubeProxyVerdict {
  const rulesOf = new Map<string, NftRule[]>(ruleset.chains.map((c) => [c.name, []]));
  for (const r of ruleset.rules) rulesOf.get(r.chain)?.push(r);
  const elementsOf = new Map<string, { key: string; value?: string }[]>();
  for (const e of ruleset.elements) elementsOf.set(e.container, [...(elementsOf.get(e.container) ?? []), e]);
  const tokensOf = new Map<NftRule, string[]>(ruleset.rules.map((r) => [r, r.rule.match(TOKEN) ?? []]));
  const isLocal = localTest(node.nodeIPs);
  const table = nftTableOf(ruleset);
  const baseChains = (hook: string) =>
    ruleset.chains.filter((c) => c.base?.hook === hook).sort((a, b) => a.base!.priority - b.base!.priority);

  /** Runs one rule's statements left to right; the first failed match ends it. */
  function exec(rule: NftRule, w: Walk): Outcome {
    const tokens = tokensOf.get(rule)!;
    let verdict: Verdict | undefined;
    let element: string | undefined;
    for (let i = 0; i < tokens.length;) {
      const v = parseVerdict(tokens, i);
      if (v) {
        verdict = v.verdict;
        i = v.next;
        continue;
      }
      const t = tokens[i]!;
      if (t === "mark" && tokens[i + 1] === "set") {
        const [op, value] = [tokens[i + 3], Number(tokens[i + 4])]; // mark set mark or|xor V
        w.mark = (op === "or" ? w.mark | value : w.mark ^ value) >>> 0;
        i += 5;
        continue;
      }
      if (t === "update") {
        i = braced(tokens, i + 2).next; // a first connection's affinity entry: nothing to read back
        continue;
      }
      if (t === "numgen") {
        const n = Number(tokens[i + 3]); // numgen random mod N vmap { 0 : goto …, … }
        const { items, next } = braced(tokens, i + 5);
        w.branches = n;
        const pick = Math.min(w.branch, n - 1);
        const hit = items.find((x) => Number(x[0]) === pick);
        if (!hit) return { matched: false };
        verdict = verdictOf(hit, 2, rule);
        element = hit.join(" ");
        i = next;
        continue;
      }
      // A selector, or a concatenation of them, then what it is compared with.
      const actual: string[] = [];
      let at = i;
      for (;;) {
        const s = select(tokens, at, w);
        actual.push(s.value);
        at = s.next;
        if (tokens[at] !== ".") break;
        at++;
      }
      let negate = false;
      if (tokens[at] === "!=" || tokens[at] === "==") negate = tokens[at++] === "!=";
      const rhs = tokens[at];
      if (rhs === undefined) throw new Error(`nft trace: '${rule.rule}' ends before its comparison`);
      if (rhs === "vmap") {
        const name = tokens[at + 1]!.slice(1);
        const found = (elementsOf.get(name) ?? []).find((e) => keyMatches(actual, e.key));
        if (!found?.value) return { matched: false };
        verdict = verdictOf(found.value.split(" "), 0, rule);
        element = `@${name} element ${found.key} : ${found.value}`;
        i = at + 2;
        continue;
      }
      let hit: boolean;
      if (rhs.startsWith("@")) {
        hit = (elementsOf.get(rhs.slice(1)) ?? []).some((e) => keyMatches(actual, e.key));
        i = at + 1;
      } else if (rhs === "{") {
        const set = braced(tokens, at);
        hit = set.items.some((item) => keyMatches(actual, item.join(" ")));
        i = set.next;
      } else {
        hit = actual.length === 1 && matches(actual[0]!, rhs);
        i = at + 1;
      }
      if (hit === negate) return { matched: false };
    }
    return { matched: true, verdict, element };
  }

  const walkOnce = (pkt: KubeProxyPacket, branch: number) => {
    const w: Walk = {
      src: pkt.src,
      dst: pkt.dst,
      dport: pkt.dport,
      proto: pkt.proto.toLowerCase(),
      mark: 0,
      ctState: new Set(["NEW"]),
      isLocal,
      branch,
      branches: 0,
    };
    const path: KubeProxyStep[] = [];
    let rulesEvaluated = 0;
    // null: the chain ended or returned; the base chain's policy (accept) applies.
    const run = (hook: string, chain: string, depth = 0): Verdict | null => {
      if (depth > 32) throw new Error(`nft trace: chains nest deeper than 32 at ${chain}`);
      const rules = rulesOf.get(chain);
      if (!rules) throw new Error(`nft trace: jump to missing chain ${chain}`);
      for (let i = 0; i < rules.length; i++) {
        rulesEvaluated++;
        const o = exec(rules[i]!, w);
        if (!o.matched) continue;
        const comment = rules[i]!.comment ? ` comment ${nftQuoted(rules[i]!.comment!)}` : "";
        const text = `${rules[i]!.rule}${comment}${o.element ? `  [${o.element}]` : ""}`;
        path.push({ hook, table, chain, rule: i + 1, text });
        const v = o.verdict;
        if (!v) continue;
        if (v.kind === "jump") {
          const inner = run(hook, v.chain, depth + 1);
          if (inner) return inner;
          continue;
        }
        if (v.kind === "goto") return run(hook, v.chain, depth + 1);
        return v.kind === "return" ? null : v;
      }
      return null;
    };
    /** Every base chain of the hook in priority order; an accept ends only its own chain. */
    const hook = (name: string): Verdict | null => {
      let dnat: Verdict | null = null;
      for (const c of baseChains(name)) {
        const v = run(name, c.name);
        if (v?.kind === "drop" || v?.kind === "reject") return v;
        if (v?.kind === "dnat") {
          const { ip, port } = splitHostPort(v.to);
          w.dst = ip;
          w.dport = port ?? w.dport;
          w.ctState.add("DNAT");
          dnat = v;
        }
        if (v?.kind === "masquerade") return v;
      }
      return dnat;
    };

    let verdict: VerdictClass = "PASS";
    let backend: string | null = null;
    let masquerade = false;
    /** Runs a hook's chains and records what they did; true when the packet went no further. */
    const stage = (name: string): boolean => {
      const v = hook(name);
      if (v?.kind === "dnat") {
        verdict = "DNAT";
        backend = v.to;
      } else if (v?.kind === "masquerade") masquerade = true;
      else if (v?.kind === "drop" || v?.kind === "reject") {
        verdict = v.kind === "drop" ? "DROP" : "REJECT";
        backend = null;
        return true;
      }
      return false;
    };
    if (isLocal(pkt.src)) {
      if (!stage("output")) stage("postrouting");
    } else if (!stage("prerouting")) {
      // After DNAT, routing sends the packet to this node (input: no postrouting) or on (forward).
      const routed = isLocal(w.dst) ? "input" : "forward";
      if (!stage(routed) && routed === "forward") stage("postrouting");
    }
    return { result: { verdict, backend, masquerade, rulesEvaluated, path }, branches: w.branches };
  };

  return (pkt, hash) => ({ mode: "nftables", ...walkEveryBranch((b) => walkOnce(pkt, b), hash) });
}
