// kube-proxy's IPv6 proxier, in both modes: what `--ip-family 6` changes and what it keeps. Each case
// states the difference kube-proxy makes (family.ts cites where) and checks it in the rule text.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { readModel } from "../src/k8s/read.js";
import { endpointChain, hashPrefix, lowerProtocol, nftEndpointNames } from "../src/kubeproxy/chain-names.js";
import { renderIptables } from "../src/kubeproxy/iptables-render.js";
import { buildIptablesRules } from "../src/kubeproxy/iptables-rules.js";
import { buildNftRules, renderNft } from "../src/kubeproxy/nft.js";
import type { NodeConfig } from "../src/model/types.js";
import { NODE_DUAL, endpoint, ipv6Twin, servicePort } from "./helpers/kubeproxy.js";

const DUAL_STACK = new URL("../../examples/dual-stack.yaml", import.meta.url).pathname;
const NODE: NodeConfig = {
  ...NODE_DUAL,
  nodeName: "node-a",
  nodeIPs: ["192.0.2.10", "2001:db8::10"],
  clusterCIDR: "10.0.0.0/8",
  clusterCIDR6: "fd00:10::/64",
};
const iptables = (family: "IPv4" | "IPv6", node = NODE, format: "restore" | "save" = "restore") =>
  renderIptables(buildIptablesRules(readModel([DUAL_STACK]), node, family), format).split("\n");
const nft = (family: "IPv4" | "IPv6", serviceCIDRs: string[] = []) =>
  renderNft(buildNftRules(readModel([DUAL_STACK]), NODE, { serviceCIDRs }, family)).split("\n");

describe("the IPv6 proxier's ip6tables payload", () => {
  it("each proxier writes its own half of a dual-stack Service, and only that", () => {
    const v4 = iptables("IPv4").join("\n");
    const v6 = iptables("IPv6").join("\n");
    for (const ip of ["fd00:172:30::41", "2001:db8:99::22", "2001:db8:5::4", "[fd00:10:180::1]:8080"]) {
      assert.ok(v6.includes(ip), ip);
      assert.ok(!v4.includes(ip), ip);
    }
    for (const ip of ["172.30.0.41", "192.0.2.22", "203.0.113.4", "10.180.0.1:8080"]) {
      assert.ok(v4.includes(ip), ip);
      assert.ok(!v6.includes(ip), ip);
    }
    // The IPv4 source range is the IPv4 half's; the IPv6 half has none, so no firewall chain.
    assert.ok(v4.includes("KUBE-FW-"));
    assert.ok(!v6.includes("KUBE-FW-"));
    assert.ok(v6.includes("! -s fd00:10::/64 -j KUBE-MARK-MASQ"));
  });

  it("no localhost NodePorts: no KUBE-FIREWALL, no 127.0.0.0/8 rule, and the NodePort jump refuses ::1", () => {
    for (const localhostNodePorts of [true, false]) {
      const lines = iptables("IPv6", { ...NODE, localhostNodePorts });
      assert.ok(!lines.some((l) => l.includes("KUBE-FIREWALL") || l.includes("127.0.0.0/8")));
      assert.equal(
        lines.filter((l) => l.includes("must be the last rule")).at(0),
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS',
      );
      assert.equal(lines.filter((l) => l.startsWith("-A KUBE-NODEPORTS ")).length, 1);
    }
    // The IPv4 proxier, for contrast, has both with localhost NodePorts on.
    assert.ok(iptables("IPv4").some((l) => l.startsWith("-A KUBE-FIREWALL ")));
  });

  it("endpoints are [ip]:port in SEP hashes, comments and DNAT targets, sorted as kube-proxy sorts them", () => {
    // fd00::1:a sorts before fd00::1 as `[ip]:port` (']' > ':'), after it as `ip:port` ('a' > '9').
    const p = ipv6Twin(servicePort());
    const port = {
      ...p,
      endpoints: [endpoint("fd00::1", { port: 9 }), endpoint("fd00::1:a", { port: 80 })],
    };
    const lines = renderIptables(buildIptablesRules({ ports: [port] }, NODE, "IPv6"), "restore").split("\n");
    const sepOf = (ip: string, n: number) =>
      `KUBE-SEP-${hashPrefix(`${p.spn}${lowerProtocol(p)}[${ip}]:${n}`, 16)}`;
    assert.equal(endpointChain(p, { ip: "fd00::1", port: 9 }), sepOf("fd00::1", 9));
    const dispatch = lines.filter((l) => l.startsWith("-A KUBE-SVC-") && l.includes("-> "));
    assert.deepEqual(dispatch, [
      `-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> [fd00::1:a]:80" -m statistic --mode random --probability 0.5000000000 -j ${sepOf("fd00::1:a", 80)}`,
      `-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> [fd00::1]:9" -j ${sepOf("fd00::1", 9)}`,
    ]);
    assert.ok(
      lines.includes(
        `-A ${sepOf("fd00::1", 9)} -m comment --comment ns1/svc1:p80 -s fd00::1 -j KUBE-MARK-MASQ`,
      ),
    );
    assert.ok(lines.some((l) => l.endsWith("-j DNAT --to-destination [fd00::1]:9")));
  });

  it("addresses are printed as Go prints them, whatever the manifest's spelling", () => {
    const p = ipv6Twin(servicePort());
    const port = {
      ...p,
      clusterIP: "FD00:0:0::41",
      externalIPs: ["2001:DB8:0:0:0:0:0:22"],
      endpoints: [endpoint("FD00:10:0::0:1")],
    };
    const text = renderIptables(buildIptablesRules({ ports: [port] }, NODE, "IPv6"), "restore");
    assert.ok(text.includes("-d fd00::41 --dport 80"));
    assert.ok(text.includes("-d 2001:db8::22 --dport 80"));
    assert.ok(text.includes("--to-destination [fd00:10::1]:8080"));
  });

  it("save form: /128, icmp6-port-unreachable, the recent match's full IPv6 mask", () => {
    const p = ipv6Twin(servicePort({ affinityTimeoutSeconds: 300 }));
    const none = ipv6Twin(servicePort({ name: "empty", clusterIP: "172.30.0.50", endpoints: [] }));
    const save = renderIptables(buildIptablesRules({ ports: [p, none] }, NODE, "IPv6"), "save");
    assert.match(save, / -d 2001:db8::ac1e:29\/128 -p tcp -m comment --comment "ns1\/svc1:p80 cluster IP"/);
    assert.match(save, / -j REJECT --reject-with icmp6-port-unreachable\n/);
    assert.match(save, / --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource /);
  });

  it("source ranges: the node's IPv6 address decides whether the LB IPs join them", () => {
    const p = ipv6Twin(
      servicePort({
        type: "LoadBalancer",
        nodePort: 30046,
        loadBalancerIPs: ["203.0.113.46"],
        loadBalancerSourceRanges: ["192.0.2.0/24"],
      }),
    );
    const fw = (node: NodeConfig) =>
      renderIptables(buildIptablesRules({ ports: [p] }, node, "IPv6"), "restore")
        .split("\n")
        .filter((l) => l.startsWith("-A KUBE-FW-") && l.includes(" -s "))
        .map((l) => l.split(" -s ")[1]);
    // 2001:db8::c000:20a is v6(192.0.2.10), inside v6(192.0.2.0/24); the IPv4 node IP does not count.
    assert.deepEqual(fw({ ...NODE, nodeIPs: ["2001:db8::c000:20a"] }), [
      "2001:db8::c000:200/120 -j KUBE-EXT-XPGD46QRK7WJZT7O",
      "2001:db8::cb00:712e -j KUBE-EXT-XPGD46QRK7WJZT7O",
    ]);
    assert.deepEqual(fw({ ...NODE, nodeIPs: ["192.0.2.10", "fd00::10"] }), [
      "2001:db8::c000:200/120 -j KUBE-EXT-XPGD46QRK7WJZT7O",
    ]);
  });
});

describe("the IPv6 proxier's ip6 kube-proxy table", () => {
  it("one ip6 table: ip6 matches, ipv6_addr sets and maps, the IPv6 node IPs and service CIDRs only", () => {
    const lines = nft("IPv6", ["172.30.0.0/16", "fd00:172:30::/112"]);
    assert.ok(lines.filter((l) => l !== "").every((l) => / ip6 kube-proxy( |$)/.test(l)));
    assert.ok(!lines.some((l) => / ip (saddr|daddr) |ipv4_addr/.test(l)));
    assert.ok(lines.includes("add element ip6 kube-proxy nodeport-ips { 2001:db8::10 }"));
    assert.equal(lines.filter((l) => l.startsWith("add element ip6 kube-proxy nodeport-ips ")).length, 1);
    assert.ok(
      lines.includes(
        'add rule ip6 kube-proxy cluster-ips-check ip6 daddr { fd00:172:30::/112 } drop comment "Drop traffic to unallocated ClusterIPs"',
      ),
    );
    assert.ok(
      lines.includes('add set ip6 kube-proxy cluster-ips { type ipv6_addr ; comment "Active ClusterIPs" ; }'),
    );
    assert.ok(
      lines.some((l) =>
        l.startsWith(
          "add map ip6 kube-proxy service-ips { type ipv6_addr . inet_proto . inet_service : verdict ;",
        ),
      ),
    );
    // The IPv4 table of the same objects is untouched by the IPv6 half.
    const v4 = nft("IPv4", ["172.30.0.0/16", "fd00:172:30::/112"]);
    assert.ok(v4.every((l) => !l.includes("ip6") && !l.includes("fd00:")));
    assert.ok(v4.includes("add element ip kube-proxy nodeport-ips { 192.0.2.10 }"));
  });

  it("endpoint chains spell the address's colons as dots, hashed as so; DNAT to [ip]:port", () => {
    const p = ipv6Twin(servicePort());
    const names = nftEndpointNames(p, { ip: "fd00:10:180::1:1", port: 8080 });
    const base = "ns1/svc1/tcp/p80__fd00.10.180..1.1/8080";
    assert.equal(names.chain, `endpoint-${hashPrefix(base, 8)}-${base}`);
    const lines = nft("IPv6");
    const chain = lines.find((l) => l.includes("__fd00.10.180..1.1/8080") && l.includes("dnat to"));
    assert.match(chain!, /meta l4proto tcp dnat to \[fd00:10:180::1:1\]:8080$/);
    assert.ok(lines.some((l) => / ip6 saddr fd00:10:180::1:1 jump mark-for-masquerade$/.test(l)));
  });

  it("affinity sets hold IPv6 clients; the masquerade rule tests the IPv6 pod CIDR", () => {
    const lines = nft("IPv6");
    assert.ok(
      lines.some((l) =>
        /^add set ip6 kube-proxy affinity-\S+ \{ type ipv6_addr ; flags dynamic,timeout ; timeout 10800s ; \}$/.test(
          l,
        ),
      ),
    );
    assert.ok(lines.some((l) => / update @affinity-\S+ \{ ip6 saddr \}$/.test(l)));
    assert.ok(lines.some((l) => / ip6 saddr @affinity-\S+ goto endpoint-/.test(l)));
    assert.ok(
      lines.some((l) =>
        / ip6 daddr fd00:172:30::41 ip6 saddr != fd00:10::\/64 jump mark-for-masquerade$/.test(l),
      ),
    );
  });
});

describe("--ip-family on the command line", () => {
  const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
  const run = (cmd: string, ...args: string[]) =>
    spawnSync(process.execPath, [MAPLB, cmd, "-f", DUAL_STACK, ...args], {
      encoding: "utf8",
      env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
    });

  it("takes 4, 6, IPv4 and IPv6; 4 is the default", () => {
    for (const cmd of ["iptables", "nft"]) {
      const four = run(cmd);
      assert.equal(four.status, 0, four.stderr);
      assert.equal(run(cmd, "--ip-family", "4").stdout, four.stdout);
      assert.equal(run(cmd, "--ip-family", "IPv4").stdout, four.stdout);
      const six = run(cmd, "--ip-family", "6");
      assert.equal(six.status, 0, six.stderr);
      assert.equal(run(cmd, "--ip-family", "IPv6").stdout, six.stdout);
      assert.notEqual(six.stdout, four.stdout);
      assert.ok(six.stdout.includes("fd00:172:30::41"), cmd);
    }
    assert.match(run("nft", "--ip-family", "6").stdout, /^add table ip6 kube-proxy\n/);
    assert.match(run("nft", "--ip-family", "6", "--format", "list").stdout, /^table ip6 kube-proxy \{\n/);
  });

  it("refuses another value, quoting it", () => {
    for (const cmd of ["iptables", "nft"]) {
      const r = run(cmd, "--ip-family", 'v6"; rm');
      assert.equal(r.status, 2);
      assert.match(r.stderr, /--ip-family expects 4 or 6 \(or IPv4, IPv6\), got "v6\\"; rm"/);
      assert.equal(r.stdout, "");
    }
  });

  it("--help explains the IPv6 proxier", () => {
    const help = (cmd: string) =>
      spawnSync(process.execPath, [MAPLB, cmd, "--help"], { encoding: "utf8" }).stdout.replace(/\s+/g, " ");
    assert.match(help("iptables"), /--ip-family <family>.*ip6tables-restore.*\[ip\]:port.*::1\/128/);
    assert.match(help("nft"), /--ip-family <family>.*table ip6 kube-proxy.*ipv6_addr/);
  });
});
