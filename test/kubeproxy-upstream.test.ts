// maplb's rules against the expected output written in kube-proxy's own unit tests (the release named
// in src/kubeproxy/release.ts). The inputs are those tests' objects as manifests; see each file's header.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readModel } from "../src/k8s/read.js";
import { renderIptables } from "../src/kubeproxy/iptables-render.js";
import { buildIptablesRules } from "../src/kubeproxy/iptables-rules.js";
import { buildNftRules, renderNft } from "../src/kubeproxy/nft.js";
import { nftWalker } from "../src/kubeproxy/walk-nft.js";
import { DEFAULT_NODE_CONFIG } from "../src/model/types.js";
import {
  asFakeDump,
  FAKE_PROXIER_NODE,
  FAKE_PROXIER_SERVICE_CIDRS,
  sortIPTablesRules,
  sortNFTablesTransaction,
  UPSTREAM_DIR,
  upstreamFile,
} from "./helpers/kubeproxy-upstream.js";
import { writeTemp } from "./helpers/manifests.js";

describe("kube-proxy's own unit tests", () => {
  // [upstream test, its input manifest, its expected output]; nftables tests expect baseRules + theirs.
  const NFT_CASES = [
    ["TestOverallNFTablesRules", "overall.yaml", "overall.nft"],
    ["TestSyncProxyRulesRepeated, initial state", "repeated-initial.yaml", "repeated-initial.nft"],
    [
      "TestSyncProxyRulesRepeated, a service without endpoints",
      "repeated-no-endpoints.yaml",
      "repeated-no-endpoints.nft",
    ],
  ] as const;
  for (const [test, input, expected] of NFT_CASES) {
    it(`${test}: the same transaction, compared as assertNFTablesTransactionEqual does`, () => {
      const model = readModel([UPSTREAM_DIR + input]);
      const rules = buildNftRules(model, FAKE_PROXIER_NODE, { serviceCIDRs: FAKE_PROXIER_SERVICE_CIDRS });
      assert.equal(
        sortNFTablesTransaction(asFakeDump(renderNft(rules))),
        sortNFTablesTransaction(upstreamFile("base.nft") + upstreamFile(expected)),
      );
    });
  }

  const IPTABLES_CASES = [
    ["TestOverallIPTablesRules", "overall.yaml", "overall.iptables"],
    ["TestSyncProxyRulesRepeated, initial state", "repeated-initial.yaml", "repeated-initial.iptables"],
  ] as const;
  for (const [test, input, expected] of IPTABLES_CASES) {
    it(`${test}: the same restore payload, compared as assertIPTablesRulesEqual does`, () => {
      const model = readModel([UPSTREAM_DIR + input]);
      const payload = renderIptables(buildIptablesRules(model, FAKE_PROXIER_NODE), "restore");
      assert.equal(sortIPTablesRules(payload), sortIPTablesRules(upstreamFile(expected)));
    });
  }

  // TestSyncProxyRulesLargeClusterMode (--masquerade-all): its objects are generated as the test
  // generates them; it checks one endpoint's DNAT rule and counts rules and comments.
  it("TestSyncProxyRulesLargeClusterMode: comments go from SVC→SEP and SEP rules past 1000 endpoints", () => {
    const slice = (ns: string, name: string, port: string, portNum: number, ips: string[]) => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { namespace: ns, name: `${name}-1`, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      endpoints: ips.map((ip) => ({ addresses: [ip] })),
      ports: [{ name: port, port: portNum, protocol: "TCP" }],
    });
    const svc = (ns: string, name: string, ip: string, port: string, portNum: number) => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: ns, name },
      spec: { type: "ClusterIP", clusterIP: ip, ports: [{ name: port, port: portNum, protocol: "TCP" }] },
    });
    // largeClusterEndpointsThreshold/2-1 endpoints each: "10.0.%d.%d" of i%256, i/256.
    const gen = (prefix: string) => Array.from({ length: 499 }, (_, i) => `${prefix}.${i % 256}.${i >> 8}`);
    const items = [
      svc("ns1", "svc1", "172.30.0.41", "p80", 80),
      svc("ns2", "svc2", "172.30.0.42", "p8080", 8080),
      svc("ns3", "svc3", "172.30.0.43", "p8081", 8081),
      slice("ns1", "svc1", "p80", 80, gen("10.0")),
      slice("ns2", "svc2", "p8080", 8080, gen("10.1")),
    ];
    const node = { ...FAKE_PROXIER_NODE, masqueradeAll: true };
    const dnatLines = (list: object[]) => {
      const file = writeTemp("large.json", JSON.stringify({ apiVersion: "v1", kind: "List", items: list }));
      const payload = renderIptables(buildIptablesRules(readModel([file]), node), "restore");
      return payload.split("\n").filter((l) => l.startsWith("-A KUBE-SEP-") && l.includes("-j DNAT"));
    };
    const small = dnatLines(items);
    assert.equal(small.length, 998);
    assert.equal(small.filter((l) => l.includes("--comment")).length, 998);
    assert.ok(
      small.includes(
        "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80",
      ),
    );
    const large = dnatLines([
      ...items,
      slice("ns3", "svc3", "p8081", 8081, ["203.0.113.4", "203.0.113.8", "203.0.113.12"]),
    ]);
    assert.equal(large.length, 1001);
    assert.equal(large.filter((l) => l.includes("--comment")).length, 0);
    assert.ok(
      large.includes("-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80"),
    );
    assert.ok(
      large.includes("-A KUBE-SEP-RUVVH7YV3PHQBDOS -m tcp -p tcp -j DNAT --to-destination 203.0.113.4:8081"),
    );
  });

  it("the iptables normaliser is upstream's: chains reordered, only the dispatch chains' rules sorted", () => {
    const dump = [
      "*nat",
      ":KUBE-SVC-B - [0:0]",
      ":KUBE-SERVICES - [0:0]",
      ":KUBE-NODEPORTS - [0:0]",
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS',
      '-A KUBE-SERVICES -m comment --comment "ns2/b cluster IP" -j KUBE-SVC-B',
      '-A KUBE-SERVICES -m comment --comment "ns1/a:p cluster IP" -j KUBE-SVC-A',
      "-A KUBE-SVC-B -m comment --comment ns2/b -j Y",
      "-A KUBE-SVC-B -m comment --comment ns1/a -j X",
      "COMMIT",
      "*filter",
      "COMMIT",
    ].join("\n");
    assert.equal(
      sortIPTablesRules(dump),
      [
        "*filter",
        "COMMIT",
        "*nat",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-SVC-B - [0:0]",
        '-A KUBE-SERVICES -m comment --comment "ns1/a:p cluster IP" -j KUBE-SVC-A',
        '-A KUBE-SERVICES -m comment --comment "ns2/b cluster IP" -j KUBE-SVC-B',
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS',
        "-A KUBE-SVC-B -m comment --comment ns2/b -j Y",
        "-A KUBE-SVC-B -m comment --comment ns1/a -j X",
        "COMMIT",
        "",
      ].join("\n"),
    );
  });

  it("the normaliser is upstream's: rules keep their order, other lines sort", () => {
    const sorted = sortNFTablesTransaction(
      [
        "# comment",
        "add element ip kube-proxy s { 2 }",
        "add rule ip kube-proxy c b",
        "add element ip kube-proxy s { 1 }",
        "",
        "add rule ip kube-proxy c a",
        "add chain ip kube-proxy c",
      ].join("\n"),
    );
    assert.equal(
      sorted,
      [
        "add chain ip kube-proxy c",
        "add rule ip kube-proxy c b",
        "add rule ip kube-proxy c a",
        "add element ip kube-proxy s { 1 }",
        "add element ip kube-proxy s { 2 }",
      ].join("\n"),
    );
  });
});

describe("kube-proxy's own IPv6 cases", () => {
  it("TestEnable/DisableLocalhostNodePortsIPv6: the same ip6tables-restore payload, localhost NodePorts on or off", () => {
    const model = readModel([UPSTREAM_DIR + "localhost-nodeports-ipv6.yaml"]);
    const expected = sortIPTablesRules(upstreamFile("localhost-nodeports-ipv6.iptables"));
    for (const localhostNodePorts of [true, false]) {
      // The tests' fake proxier: node test-hostname, a no-op local detector (no IPv6 pod CIDR), no
      // nfacct counters in that release.
      const node = { ...DEFAULT_NODE_CONFIG, nodeName: "test-hostname", nfacct: false, localhostNodePorts };
      const payload = renderIptables(buildIptablesRules(model, node, "IPv6"), "restore");
      assert.equal(sortIPTablesRules(payload), expected, `localhostNodePorts ${localhostNodePorts}`);
    }
  });

  // TestNodePorts (nftables, v1.35.0), its two IPv6 cases, checked as runPacketFlowTests checks them:
  // the endpoints a new connection can reach and whether it is masqueraded, here by walking maplb's
  // ip6 table. Every address of the fake node's interfaces is local; only the --nodeport-addresses
  // ones take NodePorts (maplb's nodeport-ips are its --node-ip addresses).
  const LOCAL_ADDRESSES = ["192.168.0.2", "192.168.1.2", "192.168.99.11", "2001:db8::1", "2001:db8:1::2"];
  const BOTH = "[fd00:10:180::1]:80, [fd00:10:180::2:1]:80";
  const flow = (name: string, src: string, dst: string, dport: number, output: string, masq = false) => ({
    name,
    src,
    dst,
    dport,
    output,
    masq,
  });
  const CASES = [
    {
      name: "ipv6",
      nodePortAddresses: ["2001:db8::1"],
      flows: [flow("secondary nodeIP ignores NodePorts", "2600:5200::1", "2001:db8:1::2", 3001, "")],
    },
    {
      name: "ipv6, multiple nodeport-addresses",
      nodePortAddresses: ["2001:db8::1", "2001:db8:1::2"],
      flows: [
        flow("external to nodePort on secondary IP", "2600:5200::1", "2001:db8:1::2", 3001, BOTH, true),
      ],
    },
  ];
  for (const c of CASES) {
    it(`TestNodePorts "${c.name}": the packet flows through the ip6 kube-proxy table`, () => {
      const model = readModel([UPSTREAM_DIR + "nodeports-ipv6.yaml"]);
      const node = {
        ...FAKE_PROXIER_NODE,
        nodeName: "test-node",
        nodeIPs: ["192.168.0.2", ...c.nodePortAddresses],
        clusterCIDR6: "fd00:10::/64",
      };
      const rules = buildNftRules(model, node, { serviceCIDRs: ["fd00:10:96::/112"] }, "IPv6");
      const walk = nftWalker(rules, { ...node, nodeIPs: LOCAL_ADDRESSES });
      const flows = [
        flow("pod to cluster IP", "fd00:10::2", "fd00:172:30::41", 80, BOTH),
        flow("external to nodePort", "2600:5200::1", "2001:db8::1", 3001, BOTH, true),
        flow("node to nodePort", "2001:db8::1", "2001:db8::1", 3001, BOTH, true),
        ...c.flows,
      ];
      for (const f of flows) {
        const v = walk({ src: f.src, sport: 40000, dst: f.dst, dport: f.dport, proto: "TCP" }, 0);
        const reached = v.candidates.map((x) => x.backend).sort();
        assert.equal(reached.join(", "), f.output, f.name);
        if (f.output !== "") assert.equal(v.masquerade, f.masq, `${f.name}: masquerade`);
        else assert.equal(v.verdict, "PASS", `${f.name}: left alone`);
      }
    });
  }
});
