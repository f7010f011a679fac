// maplb's rules against the expected output written in kube-proxy's own unit tests (the release named
// in src/kubeproxy/release.ts). The inputs are those tests' objects as manifests; see each file's header.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readModel } from "../src/k8s/read.js";
import { renderIptables } from "../src/kubeproxy/iptables-render.js";
import { buildIptablesRules } from "../src/kubeproxy/iptables-rules.js";
import { buildNftRules, renderNft } from "../src/kubeproxy/nft.js";
import {
  asFakeDump,
  FAKE_PROXIER_NODE,
  FAKE_PROXIER_SERVICE_CIDRS,
  sortIPTablesRules,
  sortNFTablesTransaction,
  UPSTREAM_DIR,
  upstreamFile,
} from "./helpers/kubeproxy-upstream.js";

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

  it("TestOverallIPTablesRules: the same restore payload, compared as assertIPTablesRulesEqual does", () => {
    const model = readModel([UPSTREAM_DIR + "overall.yaml"]);
    const payload = renderIptables(buildIptablesRules(model, FAKE_PROXIER_NODE), "restore");
    assert.equal(sortIPTablesRules(payload), sortIPTablesRules(upstreamFile("overall.iptables")));
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
