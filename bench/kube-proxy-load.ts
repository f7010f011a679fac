// Loading kube-proxy's generated rules into a network namespace's real netfilter, the way kube-proxy
// would: the restore payload plus the jump rules from the built-in chains (which kube-proxy installs
// separately), with iptables-legacy-restore, iptables-nft-restore (ip6tables-… for the IPv6 proxier's
// rules) or nft -f.
import { builtinJumpRules, type IptablesRuleset } from "../src/kubeproxy/iptables-rules.js";
import { renderRestore, restoreRuleLine } from "../src/kubeproxy/iptables-render.js";
import type { IpFamily, NodeConfig } from "../src/model/types.js";
import { existsSync } from "node:fs";
import { canCreateNamespaces, type Topology } from "../src/netns/netns.js";

export type IptablesBackend = "legacy" | "nft";

/** The restore payload with the built-in chains' jump rules (of the rules' family) appended to each table. */
export function payloadWithJumps(rules: IptablesRuleset, node: NodeConfig): string {
  const jumps = builtinJumpRules(node, rules.family);
  const lines: string[] = [];
  let table = "";
  for (const line of renderRestore(rules).split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    if (line === "COMMIT") for (const j of jumps) if (j.table === table) lines.push(restoreRuleLine(j));
    lines.push(line);
  }
  return lines.join("\n");
}

/** The restore command of each family and backend: IPv6 rules go to ip6tables. */
const RESTORE: Record<IpFamily, Record<IptablesBackend, string>> = {
  IPv4: { legacy: "iptables-legacy-restore", nft: "iptables-nft-restore" },
  IPv6: { legacy: "ip6tables-legacy-restore", nft: "ip6tables-nft-restore" },
};

/** Replaces the namespace's filter and nat tables of the family with kube-proxy's rules; returns the
 * seconds it took. */
export function loadIptables(
  topo: Topology,
  ns: string,
  backend: IptablesBackend,
  payload: string,
  family: IpFamily = "IPv4",
): number {
  const t0 = process.hrtime.bigint();
  topo.exec(ns, RESTORE[family][backend], [], payload);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Replaces the namespace's nftables ruleset with kube-proxy's nftables-mode ruleset. */
export function loadNftables(topo: Topology, ns: string, ruleset: string): number {
  topo.exec(ns, "nft", ["flush", "ruleset"]);
  const t0 = process.hrtime.bigint();
  topo.exec(ns, "nft", ["-f", "-"], ruleset);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/**
 * The same ruleset as loadNftables, committed in transactions of at most `lines` lines each, in
 * order (every statement's chains and maps exist by the time it runs). For suites that need the
 * ruleset in place, not its load time: one `nft -f` of 10k services took 87 s on this kernel, most
 * of it binding each service's anonymous verdict map, which walks the whole transaction
 * (__nft_set_trans_bind in `perf`). In parts it took 33 s; what remains grows with the square of
 * the services too (each anonymous map is named by scanning all of the table's sets).
 */
export function loadNftablesInParts(topo: Topology, ns: string, ruleset: string, lines = 8000): void {
  const all = ruleset.split("\n");
  topo.exec(ns, "nft", ["flush", "ruleset"]);
  for (let i = 0; i < all.length; i += lines)
    topo.exec(ns, "nft", ["-f", "-"], all.slice(i, i + lines).join("\n") + "\n");
}

/** Why kube-proxy's rules cannot be loaded here (no root, a missing tool), or null. */
export function kubeProxyLoadUnavailable(): string | null {
  const ns = canCreateNamespaces();
  if (ns) return ns;
  const tools = [...Object.values(RESTORE).flatMap((r) => Object.values(r)), "nft"];
  for (const bin of tools.map((t) => `/usr/sbin/${t}`))
    if (!existsSync(bin)) return `needs ${bin} (Debian packages iptables and nftables)`;
  return null;
}
