// The iptables half of kube-proxy's verdict: one new connection walked through every hook netfilter
// runs it through, over both tables `maplb iptables` writes plus the jumps kube-proxy inserts into
// the built-in chains. From outside: nat PREROUTING (DNAT), then filter INPUT (for the node) or
// FORWARD (KUBE-SERVICES / KUBE-EXTERNAL-SERVICES reject or drop, KUBE-PROXY-FIREWALL drops, the
// KUBE-FORWARD accepts), then nat POSTROUTING (the masquerade mark's MASQUERADE). From the node
// itself: nat OUTPUT, filter OUTPUT, nat POSTROUTING.
import type { NodeConfig } from "../model/types.js";
import { saveRuleLine } from "./iptables-render.js";
import {
  builtinJumpRules,
  type IptablesRule,
  type IptablesRuleset,
  type IptablesTable,
} from "./iptables-rules.js";
import {
  compileTable,
  localTest,
  runChain,
  type CompiledRule,
  type NatPacket,
  type NatVerdict,
  type WalkState,
} from "./nat-trace.js";
import {
  walkEveryBranch,
  type KubeProxyPacket,
  type KubeProxyStep,
  type KubeProxyVerdict,
  type VerdictClass,
} from "./verdict.js";

/** A table with kube-proxy's jumps from the built-in chains, compiled, and its rules for printing. */
interface LoadedTable {
  name: string;
  compiled: Map<string, CompiledRule[]>;
  byChain: Map<string, IptablesRule[]>;
}

function load(table: IptablesTable, node: NodeConfig, family: IptablesRuleset["family"]): LoadedTable {
  const builtins = builtinJumpRules(node, family).filter((r) => r.table === table.name);
  const withJumps: IptablesTable = { ...table, rules: [...builtins, ...table.rules] };
  const byChain = new Map<string, IptablesRule[]>();
  for (const r of withJumps.rules) byChain.set(r.chain, [...(byChain.get(r.chain) ?? []), r]);
  return { name: table.name, compiled: compileTable(withJumps), byChain };
}

/** Compiles both tables once; the returned function walks one packet (hash: its flow hash). */
export function iptablesWalker(
  rules: IptablesRuleset,
  node: NodeConfig,
): (pkt: KubeProxyPacket, hash: number) => KubeProxyVerdict {
  const nat = load(rules.nat, node, rules.family);
  const filter = load(rules.filter, node, rules.family);
  const isLocal = localTest(node.nodeIPs);

  const walkOnce = (pkt: KubeProxyPacket, branch: number) => {
    let draws = 0;
    const state: WalkState = {
      mark: 0,
      recent: new Map(), // a first connection: no ClientIP affinity yet
      // A run of `statistic --mode random` rules takes the branch-th one: every earlier draw misses.
      random: () => (draws++ === branch ? 0 : 1),
      isLocal,
      ctState: new Set(["NEW"]),
    };
    const path: KubeProxyStep[] = [];
    let rulesEvaluated = 0;
    let packet: NatPacket = {
      srcIp: pkt.src,
      dstIp: pkt.dst,
      dstPort: pkt.dport,
      protocol: pkt.proto === "TCP" ? "tcp" : pkt.proto === "UDP" ? "udp" : "sctp",
    };
    const run = (t: LoadedTable, hook: string): NatVerdict | null =>
      runChain(t.compiled, hook, packet, state, (chain, rule, matched) => {
        rulesEvaluated++;
        if (matched) {
          const text = saveRuleLine(t.byChain.get(chain)![rule]!);
          path.push({ hook, table: t.name, chain, rule: rule + 1, text });
        }
      });

    const fromNode = isLocal(pkt.src);
    let verdict: VerdictClass = "PASS";
    let backend: string | null = null;
    const natVerdict = run(nat, fromNode ? "OUTPUT" : "PREROUTING");
    if (natVerdict?.kind === "dnat") {
      verdict = "DNAT";
      backend = natVerdict.to;
      const [ip, port] = natVerdict.to.split(":");
      packet = { ...packet, dstIp: ip!, dstPort: Number(port ?? pkt.dport) };
      state.ctState.add("DNAT");
    }
    // After DNAT, routing sends the packet to this node (INPUT) or on (FORWARD).
    const filterHook = fromNode ? "OUTPUT" : isLocal(packet.dstIp) ? "INPUT" : "FORWARD";
    const filterVerdict = run(filter, filterHook);
    if (filterVerdict?.kind === "drop" || filterVerdict?.kind === "reject") {
      verdict = filterVerdict.kind === "drop" ? "DROP" : "REJECT";
      backend = null;
    }
    const delivered = verdict !== "DROP" && verdict !== "REJECT";
    const masquerade = delivered && filterHook !== "INPUT" && run(nat, "POSTROUTING")?.kind === "masquerade";
    return {
      result: { verdict, backend, masquerade, rulesEvaluated, path },
      // N branches are N-1 statistic rules and a last rule without one: a walk that missed every
      // draw saw them all. (A walk that hit earlier cannot know N; walkEveryBranch does not ask it.)
      branches: draws === 0 ? 0 : draws + 1,
    };
  };

  return (pkt, hash) => ({ mode: "iptables", ...walkEveryBranch((b) => walkOnce(pkt, b), hash) });
}
