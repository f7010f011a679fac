// What kube-proxy does with one new connection, in either of its modes, in one shape: the class of
// verdict (the same four classes as maplb's datapath), the backend, the backends its random pick
// could have chosen, whether it would masquerade, and the rules that decided. The two walkers
// (walk-iptables.ts, walk-nft.ts) produce it; `maplb trace` and the differential test compare it
// with maplb's verdict (kube-proxy-diff.ts).
import type { Protocol } from "../model/types.js";

/** DNAT to a backend, DROP, REJECT (an ICMP error back to the client), or PASS (left alone). */
export type VerdictClass = "DNAT" | "DROP" | "REJECT" | "PASS";

export interface KubeProxyPacket {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  proto: Protocol;
}

/** One rule that matched, in walk order. */
export interface KubeProxyStep {
  /** The netfilter hook the walk was in ("PREROUTING", "input", …). */
  hook: string;
  /** iptables: "nat" or "filter"; nftables: "ip kube-proxy". */
  table: string;
  chain: string;
  /** 1-based, in the chain's evaluation order. */
  rule: number;
  /** The rule as `iptables-save` / `nft list` shows it, plus the map element that matched, if any. */
  text: string;
}

export interface KubeProxyVerdict {
  mode: "iptables" | "nftables";
  verdict: VerdictClass;
  /** The DNAT destination (ip:port), or null. */
  backend: string | null;
  /** Every backend the random pick could have chosen for this packet (just `backend` without a pick),
   * each with whether kube-proxy masquerades when it picks that one (a hairpin does). */
  candidates: { backend: string; masquerade: boolean }[];
  /** The random pick, made deterministic for a trace: branch `hash % branches` of the flow hash. */
  pick: { hash: number; branches: number; index: number } | null;
  /** POSTROUTING masquerades the connection: the backend sees the node's address as the source. */
  masquerade: boolean;
  /** Every rule tested, matched or not: the O(n) cost (verdict-map lookups count as one rule). */
  rulesEvaluated: number;
  path: KubeProxyStep[];
}

/**
 * A walk that takes branch min(branch, n-1) at the random pick it meets (if any) and reports n (0:
 * no pick; only a walk asked for a branch past the last must get n right). Both walkers have this
 * form, so candidates and the pick are computed the same way for both.
 */
export type BranchWalk<T> = (branch: number) => { result: T; branches: number };

/**
 * Runs `walk` once per branch of its random pick to learn every reachable result, and returns the
 * walk of branch `hash % n`: deterministic for one flow, as maplb's own choice is.
 */
export function walkEveryBranch<T extends { backend: string | null; masquerade: boolean }>(
  walk: BranchWalk<T>,
  hash: number,
): T & Pick<KubeProxyVerdict, "candidates" | "pick"> {
  const last = walk(Number.MAX_SAFE_INTEGER);
  const n = last.branches;
  const all =
    n <= 1
      ? [last.result]
      : Array.from({ length: n }, (_, i) => (i === n - 1 ? last.result : walk(i).result));
  const candidates = all.flatMap((r, i) =>
    r.backend && all.findIndex((x) => x.backend === r.backend) === i
      ? [{ backend: r.backend, masquerade: r.masquerade }]
      : [],
  );
  if (n <= 1) return { ...last.result, candidates, pick: null };
  const index = hash % n;
  return { ...all[index]!, candidates, pick: { hash, branches: n, index } };
}
