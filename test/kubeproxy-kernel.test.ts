// kube-proxy's rules in a real kernel: in a fresh network namespace per case, the restore payload
// loads with iptables-legacy-restore and with iptables-nft-restore (ip6tables-… for the IPv6
// proxier's), and what iptables-save prints back equals `--format save` rule for rule in every chain;
// the nft text loads with `nft -f`, and the kernel holds exactly the chains, rules and map elements it
// declares (table ip or ip6 kube-proxy). Needs root and the tools;
// otherwise each case skips with the reason.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readModel } from "../src/k8s/read.js";
import {
  buildIptablesRules,
  builtinJumpRules,
  NFACCT_INVALID_DROPPED,
  NFACCT_LOCALHOST_NODEPORTS,
} from "../src/kubeproxy/iptables-rules.js";
import { renderIptables, restoreRuleLine, saveRuleLine } from "../src/kubeproxy/iptables-render.js";
import { buildNftRules, NFT_TABLE, renderNft, type NftRuleset } from "../src/kubeproxy/nft.js";
import type { IpFamily, NodeConfig, ServiceModel } from "../src/model/types.js";
import {
  NODE,
  NODE_DUAL,
  SEED_NODES,
  endpoint,
  ipv6Twin,
  policyZoo,
  servicePort,
} from "./helpers/kubeproxy.js";
import { SCENARIOS } from "./helpers/manifests.js";
import { kernelTestBlocker, withNamespace, type Namespace } from "./netns-kubeproxy.js";
import { skipOrFail } from "./helpers/require-kernel.js";

interface Case {
  name: string;
  model: () => ServiceModel;
  node: NodeConfig;
  /** The proxier; IPv4 unless given. */
  family?: IpFamily;
}

/** Every policy case, both halves of a dual-stack twin: the IPv6 proxier must ignore the IPv4 half. */
const dualStackZoo = (): ServiceModel => ({ ports: [...policyZoo(), ...policyZoo().map(ipv6Twin)] });

const CASES: Case[] = [
  ...SEED_NODES.map(({ file, node }) => ({
    name: file,
    model: () => readModel([join(SCENARIOS, file)]),
    node,
  })),
  { name: "every policy case", model: () => ({ ports: policyZoo() }), node: NODE },
  {
    name: "1001 endpoints (no comments on SVC→SEP and SEP rules)",
    model: () => ({
      ports: [
        servicePort({
          endpoints: Array.from({ length: 1001 }, (_, i) => endpoint(`10.2.${i >> 8}.${i & 255}`)),
        }),
      ],
    }),
    node: NODE,
  },
  {
    name: "every policy case, no nfacct, masquerade-all",
    model: () => ({ ports: policyZoo() }),
    node: { ...NODE, nfacct: false, masqueradeAll: true },
  },
  { name: "IPv6: every policy case", model: dualStackZoo, node: NODE_DUAL, family: "IPv6" },
  {
    name: "IPv6: every policy case, no nfacct, masquerade-all, no pod CIDR",
    model: dualStackZoo,
    node: { ...NODE_DUAL, nfacct: false, masqueradeAll: true, clusterCIDR6: null },
    family: "IPv6",
  },
  {
    name: "IPv6: 1001 endpoints (no comments on SVC→SEP and SEP rules)",
    model: () => ({
      ports: [
        ipv6Twin(
          servicePort({
            endpoints: Array.from({ length: 1001 }, (_, i) => endpoint(`10.2.${i >> 8}.${i & 255}`)),
          }),
        ),
      ],
    }),
    node: NODE_DUAL,
    family: "IPv6",
  },
];

/** Chain → its rule lines, per table, from iptables-save text; `# …` and counters are ignored. */
type SavedTables = Map<string, Map<string, string[]>>;

function parseSave(text: string): SavedTables {
  const tables: SavedTables = new Map();
  let chains: Map<string, string[]> | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) tables.set(line.slice(1), (chains = new Map()));
    else if (line.startsWith(":")) chains?.set(line.slice(1).split(" ")[0]!, []);
    else if (line.startsWith("-A ")) chains?.get(line.split(" ")[1]!)?.push(line);
  }
  return tables;
}

const IPTABLES_BACKENDS = ["legacy", "nft"] as const;

/** The restore and save tools of a backend for a family: iptables-nft-restore, ip6tables-legacy-save, … */
function iptablesTools(backend: (typeof IPTABLES_BACKENDS)[number], family: IpFamily = "IPv4") {
  const cmd = family === "IPv4" ? "iptables" : "ip6tables";
  return { backend, restore: `${cmd}-${backend}-restore`, save: `${cmd}-${backend}-save` };
}

/** The built-in chains' jump rules as a restore payload (appended, in their final order). */
function jumpPayload(node: NodeConfig, family: IpFamily): string {
  const jumps = builtinJumpRules(node, family);
  return (
    (["filter", "nat"] as const)
      .map((t) => [`*${t}`, ...jumps.filter((j) => j.table === t).map(restoreRuleLine), "COMMIT"].join("\n"))
      .join("\n") + "\n"
  );
}

async function checkIptables(c: Case, tools: ReturnType<typeof iptablesTools>): Promise<void> {
  const family = c.family ?? "IPv4";
  const rules = buildIptablesRules(c.model(), c.node, family);
  await withNamespace((ns) => {
    // kube-proxy creates its nfacct counters first; the rules that name them fail without them.
    for (const counter of [NFACCT_INVALID_DROPPED, NFACCT_LOCALHOST_NODEPORTS])
      ns.run("nfacct", ["add", counter]);
    ns.run(tools.restore, ["--noflush"], renderIptables(rules, "restore"));
    ns.run(tools.restore, ["--noflush"], jumpPayload(c.node, family));

    const kernel = parseSave(ns.run(tools.save, []));
    const expected = parseSave(renderIptables(rules, "save"));
    for (const j of builtinJumpRules(c.node, family)) {
      const builtins = expected.get(j.table)!;
      builtins.set(j.chain, [...(builtins.get(j.chain) ?? []), saveRuleLine(j, family)]);
    }
    for (const [table, chains] of expected) {
      const got = kernel.get(table);
      assert.ok(got, `${tools.save} printed no *${table} table`);
      const userChains = [...got.keys()].filter((ch) => ch.startsWith("KUBE-")).sort();
      assert.deepEqual(
        userChains,
        [...chains.keys()].filter((ch) => ch.startsWith("KUBE-")).sort(),
        `${table}: chains`,
      );
      for (const [chain, lines] of chains)
        assert.deepEqual(got.get(chain), lines, `${table} ${chain}: rules`);
    }
  });
}

/** Rules per chain and elements per set/map, as `nft -j list table` reports them. */
function nftCounts(json: string): { rules: Map<string, number>; elements: Map<string, number> } {
  const items = (JSON.parse(json) as { nftables: Record<string, Record<string, unknown>>[] }).nftables;
  const rules = new Map<string, number>();
  const elements = new Map<string, number>();
  for (const item of items) {
    if (item.chain) rules.set(item.chain.name as string, rules.get(item.chain.name as string) ?? 0);
    if (item.rule) rules.set(item.rule.chain as string, (rules.get(item.rule.chain as string) ?? 0) + 1);
    const set = item.set ?? item.map;
    if (set) elements.set(set.name as string, ((set.elem as unknown[] | undefined) ?? []).length);
  }
  return { rules, elements };
}

function expectedNftCounts(r: NftRuleset): ReturnType<typeof nftCounts> {
  const rules = new Map(r.chains.map((c) => [c.name, 0]));
  for (const x of r.rules) rules.set(x.chain, rules.get(x.chain)! + 1);
  const elements = new Map(r.sets.map((s) => [s.name, 0]));
  for (const e of r.elements) elements.set(e.container, elements.get(e.container)! + 1);
  return { rules, elements };
}

async function checkNft(c: Case): Promise<void> {
  const family = c.family ?? "IPv4";
  const ruleset = buildNftRules(c.model(), c.node, {}, family);
  const text = renderNft(ruleset);
  await withNamespace((ns: Namespace) => {
    ns.run("nft", ["-f", "-"], text);
    ns.run("nft", ["-f", "-"], text); // the transaction replaces the table, so it loads again
    const table = family === "IPv4" ? "ip" : "ip6";
    const got = nftCounts(ns.run("nft", ["-j", "list", "table", table, NFT_TABLE]));
    const want = expectedNftCounts(ruleset);
    assert.deepEqual(new Map([...got.rules].sort()), new Map([...want.rules].sort()), "rules per chain");
    assert.deepEqual(
      new Map([...got.elements].sort()),
      new Map([...want.elements].sort()),
      "elements per set/map",
    );
  });
}

describe("kube-proxy's rules in a real kernel", () => {
  const iptablesBlocker = kernelTestBlocker([
    "nfacct",
    ...IPTABLES_BACKENDS.flatMap((b) =>
      (["IPv4", "IPv6"] as const).flatMap((f) => [iptablesTools(b, f).restore, iptablesTools(b, f).save]),
    ),
  ]);
  const nftBlocker = kernelTestBlocker(["nft"]);
  for (const c of CASES) {
    for (const backend of IPTABLES_BACKENDS) {
      const tools = iptablesTools(backend, c.family);
      it(`${c.name}: ${tools.restore} loads the payload and saves back --format save`, async (t) => {
        if (iptablesBlocker) return skipOrFail(t, iptablesBlocker);
        await checkIptables(c, tools);
      });
    }
    it(`${c.name}: nft -f loads the ruleset, twice`, async (t) => {
      if (nftBlocker) return skipOrFail(t, nftBlocker);
      await checkNft(c);
    });
  }
});
