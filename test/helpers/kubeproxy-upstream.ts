// kube-proxy's own unit tests as goldens: their inputs are manifests under
// test/golden/kubeproxy/upstream/, their expected output is copied from the test source, and maplb's
// output is compared the way those tests compare theirs (no other normalisation).
import { readFileSync } from "node:fs";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../src/model/types.js";

export const UPSTREAM_DIR = new URL("../../../test/golden/kubeproxy/upstream/", import.meta.url).pathname;

export const upstreamFile = (name: string): string => readFileSync(UPSTREAM_DIR + name, "utf8");

/** NewFakeProxier's node in both modes' proxier_test.go ("Conventions for tests using NewFakeProxier"). */
export const FAKE_PROXIER_NODE: NodeConfig = {
  ...DEFAULT_NODE_CONFIG,
  nodeName: "test-node",
  nodeIPs: ["192.168.0.2"],
  clusterCIDR: "10.0.0.0/8",
};
export const FAKE_PROXIER_SERVICE_CIDRS = ["172.30.0.0/16"];

/** helpers_test.go objectOrder: higher sorts earlier. */
const OBJECT_ORDER: Record<string, number> = { table: 10, chain: 9, rule: 8, set: 7, map: 6, element: 5 };

/**
 * pkg/proxy/nftables/helpers_test.go sortNFTablesTransaction: drop blank and `#` lines, then a stable
 * sort by object type, then object name (the 5th word); rules of one chain keep their order, other
 * lines of one object sort by their text.
 */
export function sortNFTablesTransaction(tx: string): string {
  const lines = tx.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return lines
    .map((l) => ({ l, w: l.split(" ") }))
    .sort((a, b) => {
      if (a.w.length < 5 || b.w.length < 5) return 0;
      if (a.w[1] !== b.w[1]) return (OBJECT_ORDER[b.w[1]!] ?? 0) - (OBJECT_ORDER[a.w[1]!] ?? 0);
      if (a.w[4] !== b.w[4]) return cmp(a.w[4]!, b.w[4]!);
      if (a.w[1] === "rule") return 0;
      return cmp(a.l, b.l);
    })
    .map((x) => x.l)
    .join("\n");
}

/**
 * maplb's transaction as knftables' Fake.Dump() would show the same table: without the `add table` /
 * `delete table` pair in front, which only makes `nft -f` replace an existing table.
 */
export function asFakeDump(transaction: string): string {
  const replace = new Set(["add table ip kube-proxy", "delete table ip kube-proxy"]);
  return transaction
    .split("\n")
    .filter((l) => !replace.has(l))
    .join("\n");
}

interface IptablesTable {
  name: string;
  chains: string[];
  rules: Map<string, string[]>;
}

/** The service name a rule's comment starts with (orderByCommentServiceName), or null without one. */
function commentServiceName(rule: string): string | null {
  const m = / --comment (?:"([^"]*)"|(\S+))/.exec(rule);
  if (!m) return null;
  const text = m[1] ?? m[2]!;
  const i = text.search(/[ :]/);
  return i === -1 ? text : text.slice(0, i);
}

/** The KUBE-NODEPORTS and KUBE-SERVICES order: by service name; nat's "must be the last rule" last. */
function byServiceName(lastRule: boolean) {
  return (a: string, b: string): number => {
    if (lastRule && a.includes("must be the last rule")) return 1;
    if (lastRule && b.includes("must be the last rule")) return -1;
    const x = commentServiceName(a);
    const y = commentServiceName(b);
    if (x === null || y === null) return 0;
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

function chainOrder(a: string, b: string): number {
  const rank = (c: string) =>
    c === "KUBE-NODEPORTS" ? 0 : c === "KUBE-SERVICES" ? 1 : c.startsWith("KUBE-") ? 2 : 3;
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * pkg/proxy/iptables/proxier_test.go sortIPTablesRules on an iptables-restore payload: tables by name;
 * chains KUBE-NODEPORTS, KUBE-SERVICES, then KUBE-* and the rest alphabetically; the rules of
 * KUBE-NODEPORTS and KUBE-SERVICES (both tables) stably sorted by service name; written back as
 * iptablestest's dump prints it (`*table`, its chain lines, its rules chain by chain, COMMIT).
 */
export function sortIPTablesRules(payload: string): string {
  const tables: IptablesTable[] = [];
  let table: IptablesTable | undefined;
  for (const line of payload.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      table = { name: line.slice(1), chains: [], rules: new Map() };
      tables.push(table);
    } else if (line === "COMMIT") {
      table = undefined;
    } else if (!table) {
      throw new Error(`iptables dump: ${JSON.stringify(line)} outside a table`);
    } else if (line.startsWith(":")) {
      const chain = line.slice(1).split(" ")[0]!;
      table.chains.push(chain);
      table.rules.set(chain, []);
    } else if (line.startsWith("-A ")) {
      const chain = line.split(" ")[1]!;
      const rules = table.rules.get(chain);
      if (!rules) throw new Error(`iptables dump: rule for undeclared chain ${chain}`);
      rules.push(line);
    } else {
      throw new Error(`iptables dump: unexpected line ${JSON.stringify(line)}`);
    }
  }
  const out: string[] = [];
  for (const t of tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    t.rules.get("KUBE-NODEPORTS")?.sort(byServiceName(false));
    t.rules.get("KUBE-SERVICES")?.sort(byServiceName(t.name === "nat"));
    const chains = [...t.chains].sort(chainOrder);
    out.push(`*${t.name}`, ...chains.map((c) => `:${c} - [0:0]`));
    for (const c of chains) out.push(...t.rules.get(c)!);
    out.push("COMMIT");
  }
  return out.join("\n") + "\n";
}
