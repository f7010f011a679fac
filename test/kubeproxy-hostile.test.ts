// Defence in depth: the iptables and nft renderers, called directly (no validation in front of them),
// with names that try to end a token, a line or a statement, for both of kube-proxy's proxiers (the
// IPv4 one and the IPv6 one, whose ip6tables payload and ip6 table carry the same names). No name may add a rule: the output
// reads back token for token (iptables-restore's own splitting), has as many rules as the same
// objects with plain names, and loads into a real kernel with the same rule count (a property test
// over random strings, in a network namespace the test creates; it skips without root or the tools).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MaplbError } from "../src/errors.js";
import { buildIptablesRules, type IptablesRuleset } from "../src/kubeproxy/iptables-rules.js";
import { renderIptables, restoreRuleLine } from "../src/kubeproxy/iptables-render.js";
import { buildNftRules, NFT_TABLE, renderNft, renderNftAs } from "../src/kubeproxy/nft.js";
import { servicePortId, servicePortName } from "../src/model/service-port.js";
import type { IpFamily, NodeConfig, ServiceModel } from "../src/model/types.js";
import { NODE, NODE_DUAL, ipv6Twin, policyZoo, servicePort } from "./helpers/kubeproxy.js";
import { kernelTestBlocker, withNamespace, type Namespace } from "./netns-kubeproxy.js";

/** The policy zoo with every name replaced: namespace, port name, and the Service name as a suffix;
 * its IPv6 twin for the IPv6 proxier. */
function zoo(namespace: string, suffix: string, portName: string, family: IpFamily = "IPv4"): ServiceModel {
  const ports = family === "IPv4" ? policyZoo() : policyZoo().map(ipv6Twin);
  return {
    ports: ports.map((p) => {
      const name = `${p.name}${suffix}`;
      const id = servicePortId(namespace, name, portName, p.protocol, family);
      return { ...p, namespace, name, portName, id, spn: servicePortName(namespace, name, portName) };
    }),
  };
}

const FAMILIES: IpFamily[] = ["IPv4", "IPv6"];
// The node both proxiers run on; no nfacct: the kernel case then needs no counters created first.
const NODE_PLAIN: NodeConfig = { ...NODE_DUAL, nfacct: false };
const tag = (family: IpFamily) => (family === "IPv4" ? "" : " (IPv6)");

const INJECTIONS = [
  'web" -j ACCEPT\n-A KUBE-SERVICES -j ACCEPT\n#',
  "a\nCOMMIT\n*filter\n-A INPUT -j ACCEPT",
  'x" ; add rule ip kube-proxy services accept ; "',
  "x } ; flush ruleset ; { ",
  "x\\",
  "tab\there\r\u0000nul\u2028sep\u202eltr",
  "# comment",
  "é/ü:名前",
  "'single' `back`",
  "a".repeat(5000),
];

/** iptables-restore's argument splitting (xshared.c add_param_to_argv), to read our lines back. */
function restoreArgs(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let open = false;
  let escaped = false;
  let quoted = false;
  for (const ch of line) {
    if (open) {
      if (escaped) {
        cur += ch;
        escaped = false;
      } else if (ch === "\\") escaped = true;
      else if (ch === '"') {
        open = false;
        out.push(cur); // the closing quote ends the argument
        cur = "";
        quoted = false;
      } else cur += ch;
      continue;
    }
    if (ch === '"') {
      open = quoted = true;
    } else if (ch === " " || ch === "\t") {
      if (cur.length > 0 || quoted) out.push(cur);
      cur = "";
      quoted = false;
    } else cur += ch;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

const ruleCount = (r: IptablesRuleset) => r.filter.rules.length + r.nat.rules.length;
const ruleLines = (text: string) => text.split("\n").filter((l) => l.startsWith("-A ")).length;

describe("hostile names through the renderers, without validation", () => {
  for (const family of FAMILIES) {
    const build = (m: ServiceModel) => buildIptablesRules(m, NODE_DUAL, family);
    const buildNft = (m: ServiceModel) => buildNftRules(m, NODE_DUAL, {}, family);
    const benign = zoo("ns1", "", "p80", family);
    const benignRules = build(benign);
    const benignNft = renderNft(buildNft(benign)).split("\n").length;
    const benignList = renderNftAs(buildNft(benign), "list").split("\n").length;

    for (const bad of INJECTIONS) {
      const label = JSON.stringify(bad.length > 40 ? `${bad.slice(0, 40)}…` : bad) + tag(family);
      it(`iptables: ${label} reads back as the same arguments, one line per rule`, () => {
        const rules = build(zoo(bad, bad, bad, family));
        assert.equal(ruleCount(rules), ruleCount(benignRules));
        for (const r of [...rules.filter.rules, ...rules.nat.rules]) {
          const line = restoreRuleLine(r);
          assert.ok(!/[\n\r]/.test(line), line);
          assert.deepEqual(restoreArgs(line), ["-A", r.chain, ...r.args]);
          for (const [i, a] of r.args.entries())
            if (r.args[i - 1] === "--comment") assert.ok(Buffer.byteLength(a) <= 255, a);
        }
        for (const format of ["restore", "canonical", "save"] as const) {
          const text = renderIptables(rules, format);
          assert.equal(ruleLines(text), ruleCount(benignRules), format);
          assert.ok(!text.split("\n").includes("-A KUBE-SERVICES -j ACCEPT"), format);
          assert.equal(text.split("\n").filter((l) => l === "COMMIT").length, 2, format);
        }
      });

      it(`nft: ${label} stays inside its identifier or string`, () => {
        const text = renderNft(buildNft(zoo(bad, bad, bad, family)));
        const lines = text.split("\n");
        assert.equal(lines.length, benignNft);
        for (const l of lines.slice(0, -1)) {
          assert.match(l, /^(add|delete) /, l);
          assert.equal((l.match(/"/g) ?? []).length % 2, 0, l); // every string closed on its line
          for (const name of l.matchAll(
            /(?:service|local|external|firewall|endpoint|affinity)-[A-Z2-7]{8}-(\S*)/g,
          ))
            assert.match(name[1]!, /^[A-Za-z0-9/_.-]{0,237}$/, l);
          for (const c of l.matchAll(/comment "([^"]*)"/g)) assert.ok(Buffer.byteLength(c[1]!) <= 128, c[1]);
        }
      });

      it(`nft --format list: ${label} adds no line and leaves no string open`, () => {
        const lines = renderNftAs(buildNft(zoo(bad, bad, bad, family)), "list").split("\n");
        assert.equal(lines.length, benignList);
        for (const l of lines) assert.equal((l.match(/"/g) ?? []).length % 2, 0, l);
      });
    }
  }

  it("refuses addresses, ports and numbers that are not well-formed", () => {
    const cases = [
      servicePort({ clusterIP: "10.0.0.1 -j ACCEPT" }),
      servicePort({ externalIPs: ["1.2.3.4\n-A X"] }),
      servicePort({ port: 80.5 }),
      servicePort({ nodePort: -1 }),
      servicePort({ affinityTimeoutSeconds: 1.5 }),
      servicePort({ protocol: "ICMP" as never }),
      servicePort({ endpoints: [{ ...servicePort().endpoints[0]!, ip: "10.0.0.1; drop" }] }),
    ];
    for (const p of cases) {
      assert.throws(() => buildIptablesRules({ ports: [p] }, NODE), MaplbError);
      assert.throws(() => buildNftRules({ ports: [p] }, NODE), MaplbError);
    }
    // A rule built by hand: restore lines cannot hold a line break, so the renderer refuses one.
    for (const rule of [
      { chain: "KUBE-SERVICES", args: ["-m", "comment", "--comment", "a\n-A X -j ACCEPT"] },
      { chain: "KUBE-X\n-A X", args: ["-j", "ACCEPT"] },
      { chain: "KUBE-X -j ACCEPT", args: [] },
      { chain: `KUBE-${"X".repeat(24)}`, args: [] },
    ])
      assert.throws(() => restoreRuleLine(rule), MaplbError);
    const benign = zoo("ns1", "", "p80");
    const badNode = { ...NODE, clusterCIDR: "10.0.0.0/8 accept" };
    assert.throws(() => buildIptablesRules(benign, badNode), MaplbError);
    assert.throws(() => buildNftRules(benign, badNode), MaplbError);
  });

  it("IPv6: refuses what no IPv6 rule may print, naming the field and the value", () => {
    const port = ipv6Twin(servicePort());
    const ep = port.endpoints[0]!;
    const cases: [Partial<typeof port>, RegExp][] = [
      [{ clusterIP: "fd00::1 -j ACCEPT" }, /clusterIP "fd00::1 -j ACCEPT" is not an IPv6 address/],
      [{ clusterIP: "172.30.0.41" }, /clusterIP "172.30.0.41" is not an IPv6 address/], // the other family
      [{ externalIPs: ["::ffff:192.0.2.1"] }, /external address "::ffff:192.0.2.1"/], // Go prints it as IPv4
      [{ loadBalancerIPs: ["fe80::1%eth0"] }, /external address "fe80::1%eth0"/], // a zone
      [{ endpoints: [{ ...ep, ip: "fd00::1]:80 ; drop" }] }, /endpoint address/],
      [{ endpoints: [{ ...ep, ip: "10.180.0.1" }] }, /endpoint address "10.180.0.1" is not an IPv6/],
    ];
    for (const [overrides, why] of cases) {
      const model = { ports: [{ ...port, ...overrides }] };
      assert.throws(() => buildIptablesRules(model, NODE_DUAL, "IPv6"), why);
      assert.throws(() => buildNftRules(model, NODE_DUAL, {}, "IPv6"), why);
    }
    const benign = zoo("ns1", "", "p80", "IPv6");
    for (const badNode of [
      { ...NODE_DUAL, clusterCIDR6: "fd00:10::/64 accept" },
      { ...NODE_DUAL, clusterCIDR6: "10.0.0.0/8" },
      { ...NODE_DUAL, nodeIPs: ["2001:db8::1 } accept"] },
    ]) {
      assert.throws(() => buildIptablesRules(benign, badNode, "IPv6"), MaplbError);
      assert.throws(() => buildNftRules(benign, badNode, {}, "IPv6"), MaplbError);
    }
    for (const cidr of ["fd00:10:96::/129", "fd00:10:96::/112 } accept ; #", "not-a-cidr"])
      assert.throws(
        () => buildNftRules(benign, NODE_DUAL, { serviceCIDRs: [cidr] }, "IPv6"),
        /service CIDR .* is not an IPv6 CIDR/,
      );
  });
});

// ---- in a real kernel ----

/** Rule lines per table after loading a restore payload (the tables are flushed first). */
function loadIptables(ns: Namespace, backend: "legacy" | "nft", text: string, family: IpFamily): number {
  const cmd = family === "IPv4" ? "iptables" : "ip6tables";
  ns.run(`${cmd}-${backend}-restore`, ["--test"], text);
  ns.run(`${cmd}-${backend}-restore`, [], text);
  return ruleLines(ns.run(`${cmd}-${backend}-save`, []));
}

/** Chains, sets, rules and elements of kube-proxy's table after `nft -c -f` and `nft -f`. */
function loadNft(ns: Namespace, text: string, family: IpFamily): string {
  ns.run("nft", ["-c", "-f", "-"], text);
  ns.run("nft", ["-f", "-"], text);
  const items = (
    JSON.parse(ns.run("nft", ["-j", "list", "table", family === "IPv4" ? "ip" : "ip6", NFT_TABLE])) as {
      nftables: Record<string, { elem?: unknown[] }>[];
    }
  ).nftables;
  const count = (k: string) => items.filter((i) => i[k]).length;
  const elements = items.reduce((n, i) => n + ((i.set ?? i.map)?.elem?.length ?? 0), 0);
  return `chains ${count("chain")}, sets ${count("set") + count("map")}, rules ${count("rule")}, elements ${elements}`;
}

const hostileString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.string({
    unit: fc.constantFrom(
      '"',
      "\n",
      "\r",
      ";",
      "}",
      "{",
      "#",
      " ",
      "\\",
      "'",
      "-A ",
      "é",
      "名",
      "\u202e",
      "\0",
      "a",
    ),
    maxLength: 40,
  }),
  fc.string({ unit: "grapheme", minLength: 200, maxLength: 400 }),
);

describe("hostile names in a real kernel: the rule count never changes", () => {
  const blocker = kernelTestBlocker(
    ["iptables", "ip6tables"].flatMap((cmd) =>
      ["legacy", "nft"].flatMap((b) => [`${cmd}-${b}-restore`, `${cmd}-${b}-save`]),
    ),
  );
  const nftBlocker = kernelTestBlocker(["nft"]);

  for (const family of FAMILIES) {
    it(`random names load with ip(6)tables-restore (legacy, nft) and nft -f, as the benign objects do${tag(family)}`, async (t) => {
      const why = blocker ?? nftBlocker;
      if (why) {
        if (process.env.MAPLB_REQUIRE_KERNEL === "1") assert.fail(`MAPLB_REQUIRE_KERNEL=1, but this ${why}`);
        return t.skip(why);
      }
      const iptablesText = (m: ServiceModel) =>
        renderIptables(buildIptablesRules(m, NODE_PLAIN, family), "restore");
      const nftText = (m: ServiceModel) => renderNft(buildNftRules(m, NODE_PLAIN, {}, family));
      await withNamespace((ns) => {
        const benign = zoo("ns1", "", "p80", family);
        const want = {
          legacy: loadIptables(ns, "legacy", iptablesText(benign), family),
          nft: loadIptables(ns, "nft", iptablesText(benign), family),
          nftables: loadNft(ns, nftText(benign), family),
        };
        assert.ok(want.legacy > 30, `only ${want.legacy} rules loaded`);
        fc.assert(
          fc.property(hostileString, hostileString, hostileString, (namespace, name, portName) => {
            const model = zoo(namespace, name, portName, family);
            assert.equal(loadIptables(ns, "legacy", iptablesText(model), family), want.legacy);
            assert.equal(loadIptables(ns, "nft", iptablesText(model), family), want.nft);
            assert.equal(loadNft(ns, nftText(model), family), want.nftables);
          }),
          // The hand-written injections first, then random strings.
          {
            numRuns: 25,
            seed: 20261203,
            examples: INJECTIONS.map((s) => [s, s, s] as [string, string, string]),
          },
        );
      });
    });
  }
});
