// `maplb nft --format list` against the real thing: each ruleset is loaded with `nft -f` into a fresh
// network namespace, and `nft list table ip kube-proxy` (ip6 for the IPv6 proxier's) must print
// exactly what maplb printed. Needs
// root and nft; otherwise each case skips with the reason (a failure under MAPLB_REQUIRE_KERNEL=1).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readModel } from "../src/k8s/read.js";
import {
  buildNftRules,
  NFT_TABLE,
  renderNft,
  renderNftAs,
  type NftClusterConfig,
} from "../src/kubeproxy/nft.js";
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
import { FAKE_PROXIER_NODE, FAKE_PROXIER_SERVICE_CIDRS, UPSTREAM_DIR } from "./helpers/kubeproxy-upstream.js";
import { SCENARIOS } from "./helpers/manifests.js";
import { skipOrFail } from "./helpers/require-kernel.js";
import { kernelTestBlocker, withNamespace } from "./netns-kubeproxy.js";

interface Case {
  name: string;
  model: () => ServiceModel;
  node: NodeConfig;
  cluster: NftClusterConfig;
  /** The proxier; IPv4 unless given. */
  family?: IpFamily;
}

/** What nft has to merge, sort and rename: several source ranges (one holding the node, so the LB
 * IPs join them), adjacent and overlapping service CIDRs, an odd affinity timeout, UDP and SCTP. */
function listCorners(): ServiceModel {
  return {
    ports: [
      servicePort({
        type: "LoadBalancer",
        nodePort: 30080,
        loadBalancerIPs: ["198.51.100.7", "198.51.100.3"],
        loadBalancerSourceRanges: ["203.0.113.0/25", "192.168.0.0/24", "203.0.113.128/25"],
        affinityTimeoutSeconds: 3601,
        endpoints: [endpoint("10.180.0.2"), endpoint("10.180.0.10"), endpoint("10.180.1.1")],
      }),
      servicePort({ name: "dns", protocol: "UDP", portName: "dns", endpoints: [endpoint("10.180.0.3")] }),
      servicePort({ name: "sig", protocol: "SCTP", portName: "sig", endpoints: [] }),
    ],
  };
}

const CASES: Case[] = [
  ...SEED_NODES.map(({ file, node }) => ({
    name: file,
    model: () => readModel([join(SCENARIOS, file)]),
    node,
    cluster: {},
  })),
  {
    name: "TestOverallNFTablesRules' objects",
    model: () => readModel([UPSTREAM_DIR + "overall.yaml"]),
    node: FAKE_PROXIER_NODE,
    cluster: { serviceCIDRs: FAKE_PROXIER_SERVICE_CIDRS },
  },
  { name: "every policy case", model: () => ({ ports: policyZoo() }), node: NODE, cluster: {} },
  {
    name: "merged sets, sorted elements, priorities and durations",
    model: listCorners,
    node: NODE,
    cluster: { serviceCIDRs: ["10.97.0.0/16", "10.96.0.0/16", "10.96.128.0/17"] },
  },
  {
    name: "IPv6: every policy case (the ip6 table of a dual-stack twin)",
    model: () => ({ ports: [...policyZoo(), ...policyZoo().map(ipv6Twin)] }),
    node: NODE_DUAL,
    cluster: { serviceCIDRs: ["10.96.0.0/16", "fd00:10:96::/112"] },
    family: "IPv6",
  },
  {
    name: "IPv6: merged sets (ranges and the LB IPs as /127), elements one to a line",
    model: () => ({ ports: listCorners().ports.map(ipv6Twin) }),
    node: NODE_DUAL,
    // adjacent and overlapping, as in the IPv4 case; fd00:10:97:: sorts after fd00:10:96:8000::
    cluster: { serviceCIDRs: ["fd00:10:97::/112", "fd00:10:96::/112", "fd00:10:96::8000/113"] },
    family: "IPv6",
  },
  {
    name: "IPv6: node IPs and LB IPs given in a non-canonical spelling",
    model: () => ({
      ports: [
        {
          ...ipv6Twin(listCorners().ports[0]!),
          loadBalancerIPs: ["2001:DB8:0:0::C633:6407", "2001:db8:0::c633:6403"],
        },
      ],
    }),
    node: { ...NODE_DUAL, nodeIPs: ["2001:0DB8::C0A8:0002"] },
    cluster: {},
    family: "IPv6",
  },
];

describe("maplb nft --format list equals `nft list table` of the loaded transaction", () => {
  const blocker = kernelTestBlocker(["nft"]);
  for (const c of CASES) {
    it(c.name, async (t) => {
      if (blocker) return skipOrFail(t, blocker);
      const family = c.family ?? "IPv4";
      const rules = buildNftRules(c.model(), c.node, c.cluster, family);
      const listed = await withNamespace((ns) => {
        ns.run("nft", ["-f", "-"], renderNft(rules));
        return ns.run("nft", ["list", "table", family === "IPv4" ? "ip" : "ip6", NFT_TABLE]);
      });
      assert.equal(renderNftAs(rules, "list"), listed);
    });
  }
});
