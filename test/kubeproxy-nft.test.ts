// kube-proxy's nftables mode: names, dispatch by verdict maps, and every policy case.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nftEndpointNames, nftServicePortChains } from "../src/kubeproxy/chain-names.js";
import { buildNftRules, renderNft } from "../src/kubeproxy/nft.js";
import type { NodeConfig, ServicePort } from "../src/model/types.js";
import { spawnSync } from "node:child_process";
import { readModel } from "../src/k8s/read.js";
import { NODE, endpoint, servicePort } from "./helpers/kubeproxy.js";
import { service, slice, writeTemp } from "./helpers/manifests.js";

/** The rendered lines that are about this test's service (its chains, rules and elements). */
function serviceLines(ports: ServicePort[], node: NodeConfig = NODE): string[] {
  return renderNft(buildNftRules({ ports }, node))
    .split("\n")
    .filter((l) => l.includes("ns1/") || l.includes("ns1:") || /\{ [0-9]/.test(l) || l.includes("affinity-"))
    .filter((l) => !l.includes("nodeport-ips {"));
}

const SVC = "service-ULMVA6XW-ns1/svc1/tcp/p80";
const EP1 = "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80";
const ep80 = (ip: string, o: Parameters<typeof endpoint>[1] = {}) => endpoint(ip, { port: 80, ...o });

describe("nftables names (reference §7)", () => {
  it("prefix 8 hash characters of ns/name/proto/port (and __ip/port for endpoints)", () => {
    const p = servicePort();
    assert.equal(nftServicePortChains(p).cluster, SVC);
    assert.equal(nftServicePortChains(p).external, "external-ULMVA6XW-ns1/svc1/tcp/p80");
    assert.deepEqual(nftEndpointNames(p, { ip: "10.180.0.1", port: 80 }), {
      chain: EP1,
      affinitySet: "affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
    });
  });
});

describe("nftables ruleset", () => {
  it("declares table, chains, sets and maps before any rule or element", () => {
    const lines = renderNft(buildNftRules({ ports: [servicePort()] }, NODE))
      .trimEnd()
      .split("\n");
    const firstUse = lines.findIndex((l) => l.startsWith("add rule") || l.startsWith("add element"));
    const lastDeclaration = lines.findLastIndex((l) => /^add (table|chain|set|map) /.test(l));
    assert.ok(lastDeclaration < firstUse);
    assert.deepEqual(lines.slice(0, 3), [
      "add table ip kube-proxy",
      "delete table ip kube-proxy",
      'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    ]);
    assert.ok(
      lines.includes("add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }"),
    );
    assert.ok(
      lines.includes("add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips"),
    );
    assert.ok(lines.includes("add element ip kube-proxy nodeport-ips { 192.168.0.2 }"));
  });

  it("a ClusterIP service: a service-ips element, a masquerade rule, numgen dispatch, endpoint chains", () => {
    const p = servicePort({ endpoints: [ep80("10.180.0.1"), ep80("10.180.0.2")] });
    const lines = serviceLines([p]);
    assert.ok(
      lines.includes(`add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto ${SVC} }`),
    );
    assert.ok(
      lines.includes(
        `add rule ip kube-proxy ${SVC} ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade`,
      ),
    );
    assert.ok(
      lines.some((l) =>
        l.startsWith(
          `add rule ip kube-proxy ${SVC} numgen random mod 2 vmap { 0 : goto ${EP1} , 1 : goto endpoint-`,
        ),
      ),
    );
    assert.ok(lines.includes(`add rule ip kube-proxy ${EP1} ip saddr 10.180.0.1 jump mark-for-masquerade`));
    assert.ok(lines.includes(`add rule ip kube-proxy ${EP1} meta l4proto tcp dnat to 10.180.0.1:80`));
  });

  it("no endpoints: no-endpoint maps with goto reject-chain, commented with the service port", () => {
    const p = servicePort({ type: "NodePort", nodePort: 30080, externalIPs: ["192.0.2.1"], endpoints: [] });
    const lines = serviceLines([p]);
    assert.deepEqual(
      lines.filter((l) => l.startsWith("add rule") || l.startsWith("add chain")),
      [],
    );
    assert.ok(
      lines.includes(
        'add element ip kube-proxy no-endpoint-services { 172.30.0.41 . tcp . 80 comment "ns1/svc1:p80" : goto reject-chain }',
      ),
    );
    assert.ok(
      lines.includes(
        'add element ip kube-proxy no-endpoint-services { 192.0.2.1 . tcp . 80 comment "ns1/svc1:p80" : goto reject-chain }',
      ),
    );
    assert.ok(
      lines.includes(
        'add element ip kube-proxy no-endpoint-nodeports { tcp . 30080 comment "ns1/svc1:p80" : goto reject-chain }',
      ),
    );
  });

  it("internalTrafficPolicy=Local without local endpoints drops ClusterIP traffic", () => {
    const p = servicePort({
      internalTrafficPolicy: "Local",
      endpoints: [ep80("10.180.0.1", { nodeName: "node-b" })],
    });
    assert.ok(
      serviceLines([p]).includes(
        'add element ip kube-proxy no-endpoint-services { 172.30.0.41 . tcp . 80 comment "ns1/svc1:p80" : drop }',
      ),
    );
  });

  it("externalTrafficPolicy=Local: short-circuits for pods and the node, then the local chain", () => {
    const p = servicePort({
      type: "NodePort",
      nodePort: 30080,
      externalTrafficPolicy: "Local",
      endpoints: [ep80("10.180.0.1"), ep80("10.180.0.2", { nodeName: "node-b" })],
    });
    const ext = "external-ULMVA6XW-ns1/svc1/tcp/p80";
    assert.deepEqual(
      serviceLines([p]).filter((l) => l.startsWith(`add rule ip kube-proxy ${ext} `)),
      [
        `add rule ip kube-proxy ${ext} ip saddr 10.0.0.0/8 goto ${SVC} comment "short-circuit pod traffic"`,
        `add rule ip kube-proxy ${ext} fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"`,
        `add rule ip kube-proxy ${ext} fib saddr type local goto ${SVC} comment "short-circuit local traffic"`,
        `add rule ip kube-proxy ${ext} goto local-ULMVA6XW-ns1/svc1/tcp/p80`,
      ],
    );
    assert.ok(
      serviceLines([p]).includes(`add element ip kube-proxy service-nodeports { tcp . 30080 : goto ${ext} }`),
    );
  });

  it("loadBalancerSourceRanges: firewall-ips sends LB traffic to a chain that drops other sources", () => {
    const p = servicePort({
      type: "LoadBalancer",
      loadBalancerIPs: ["203.0.113.5"],
      loadBalancerSourceRanges: ["198.51.100.0/24"],
    });
    const lines = serviceLines([p]);
    assert.ok(
      lines.includes(
        "add element ip kube-proxy firewall-ips { 203.0.113.5 . tcp . 80 : goto firewall-ULMVA6XW-ns1/svc1/tcp/p80 }",
      ),
    );
    assert.ok(
      lines.includes(
        "add rule ip kube-proxy firewall-ULMVA6XW-ns1/svc1/tcp/p80 ip saddr != { 198.51.100.0/24 } drop",
      ),
    );
  });

  it("several source ranges: tokens joined by ' , ' as kube-proxy writes them; the node's own range adds the LB IPs", () => {
    const p = servicePort({
      type: "LoadBalancer",
      loadBalancerIPs: ["1.2.3.4", "5.6.7.8"],
      loadBalancerSourceRanges: ["192.168.0.0/24", "203.0.113.0/25"],
    });
    assert.ok(
      serviceLines([p]).includes(
        "add rule ip kube-proxy firewall-ULMVA6XW-ns1/svc1/tcp/p80 ip saddr != { 192.168.0.0/24 , 203.0.113.0/25 , 1.2.3.4 , 5.6.7.8 } drop",
      ),
    );
  });

  it("--masquerade-all: the ClusterIP masquerade rule matches the address alone", () => {
    const lines = serviceLines([servicePort()], { ...NODE, masqueradeAll: true });
    assert.ok(lines.includes(`add rule ip kube-proxy ${SVC} ip daddr 172.30.0.41 jump mark-for-masquerade`));
  });

  it("service CIDRs: one drop rule for unallocated ClusterIPs, the CIDRs joined by ','; none without", () => {
    const rule = (cidrs: string[]) =>
      renderNft(buildNftRules({ ports: [] }, NODE, { serviceCIDRs: cidrs }))
        .split("\n")
        .filter((l) => l.includes("unallocated"));
    assert.deepEqual(rule(["10.96.0.0/16", "10.97.0.0/16"]), [
      'add rule ip kube-proxy cluster-ips-check ip daddr { 10.96.0.0/16,10.97.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"',
    ]);
    assert.deepEqual(rule([]), []);
    assert.throws(() => rule(["10.96.0.0/33"]), /service CIDR "10.96.0.0\/33" is not an IPv4 CIDR/);
    assert.throws(() => rule(["10.96.0.0/12 } accept ; #"]), /is not an IPv4 CIDR/); // no rule can be added
  });

  it("duplicate addresses in the slices: the first entry wins unless a later one is local (v1.35)", () => {
    // (ready on node-c) then (not ready on this node): kube-proxy keeps the local, not-ready entry,
    // so the service has no usable endpoint and no chains; maplb's model keeps the first.
    const remote = ep80("10.180.0.1", { nodeName: "node-c" });
    const local = ep80("10.180.0.1", { nodeName: NODE.nodeName, ready: false });
    const p = servicePort({ endpoints: [remote], duplicateEndpoints: [remote, local] });
    const lines = serviceLines([p]);
    assert.ok(!lines.some((l) => l.includes(EP1)), lines.join("\n"));
    assert.ok(
      lines.includes(
        'add element ip kube-proxy no-endpoint-services { 172.30.0.41 . tcp . 80 comment "ns1/svc1:p80" : goto reject-chain }',
      ),
    );
    // A later remote entry does not replace the first one.
    const later = ep80("10.180.0.1", { nodeName: "node-d", ready: false });
    const q = servicePort({ endpoints: [remote], duplicateEndpoints: [remote, later] });
    assert.ok(serviceLines([q]).some((l) => l.includes(`numgen random mod 1 vmap { 0 : goto ${EP1} }`)));
  });

  it("ClientIP affinity: a timeout set per endpoint, checked first, updated on DNAT", () => {
    const p = servicePort({ affinityTimeoutSeconds: 10800, endpoints: [ep80("10.180.0.1")] });
    const set = "affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80";
    const lines = serviceLines([p]);
    assert.ok(
      lines.includes(
        `add set ip kube-proxy ${set} { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }`,
      ),
    );
    assert.ok(lines.includes(`add rule ip kube-proxy ${SVC} ip saddr @${set} goto ${EP1}`));
    assert.ok(lines.includes(`add rule ip kube-proxy ${EP1} update @${set} { ip saddr }`));
  });
});

describe("duplicate endpoint addresses, from manifests", () => {
  it("the model records every entry; kube-proxy's rendering keeps the later local one", () => {
    const file = writeTemp(
      "dup.json",
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          service(),
          slice({
            endpoints: [
              { addresses: ["10.0.1.5"], conditions: { ready: true }, nodeName: "node-c" },
              { addresses: ["10.0.1.5"], conditions: { ready: false }, nodeName: "node-a" },
            ],
          }),
        ],
      }),
    );
    const model = readModel([file]);
    const [p] = model.ports;
    assert.equal(p!.endpoints.length, 1);
    assert.equal(p!.endpoints[0]!.nodeName, "node-c"); // the datapath's choice is unchanged
    assert.deepEqual(
      p!.duplicateEndpoints!.map((e) => e.nodeName),
      ["node-c", "node-a"],
    );
    const text = renderNft(buildNftRules(model, { ...NODE, nodeName: "node-a" }));
    assert.ok(!text.includes("dnat to 10.0.1.5:8080"), "the local not-ready entry wins: no endpoint chain");
    const elsewhere = renderNft(buildNftRules(model, { ...NODE, nodeName: "node-z" }));
    assert.ok(elsewhere.includes("dnat to 10.0.1.5:8080"), "on another node the first (ready) entry is kept");
  });
});

describe("maplb nft, run as a person runs it", () => {
  const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
  const manifest = new URL("../../test/golden/kubeproxy/upstream/overall.yaml", import.meta.url).pathname;
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [MAPLB, "nft", "-f", manifest, ...args], {
      encoding: "utf8",
      env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
    });

  it("--service-cidr is repeatable and lands in one drop rule; --format list prints the listed form", () => {
    const tx = run("--service-cidr", "172.30.0.0/16", "--service-cidr", "172.31.0.0/16");
    assert.equal(tx.status, 0, tx.stderr);
    assert.match(tx.stdout, /cluster-ips-check ip daddr \{ 172\.30\.0\.0\/16,172\.31\.0\.0\/16 \} drop/);
    const list = run(
      "--service-cidr",
      "172.30.0.0/16",
      "--service-cidr",
      "172.31.0.0/16",
      "--format",
      "list",
    );
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^table ip kube-proxy \{\n/);
    assert.match(
      list.stdout,
      /\t\tip daddr \{ 172\.30\.0\.0\/15 \} drop comment "Drop traffic to unallocated ClusterIPs"\n/,
    );
  });

  it("--service-cidr refuses what is not a network address of either family, naming the value", () => {
    for (const [value, why] of [
      ["10.96.0.1/12", /expects the network address, 10\.96\.0\.0\/12, got '10\.96\.0\.1\/12'/],
      ["10.96.0.0", /expects an IPv4 or IPv6 CIDR, got '10\.96\.0\.0'/],
      ["fd00:10:96::1/112", /expects the network address, fd00:10:96::\/112, got 'fd00:10:96::1\/112'/],
      ["FD00:10:96::/112", /expects the network address, fd00:10:96::\/112, got 'FD00:10:96::\/112'/],
    ] as const) {
      const r = run("--service-cidr", value);
      assert.equal(r.status, 2, `${value}: ${r.stdout}`);
      assert.match(r.stderr, why);
      assert.equal(r.stdout, "");
    }
  });
});
