// Golden outputs of `maplb compile` (JSON and the summary) for the four seed scenarios and the
// dual-stack example, run through the real CLI. Regenerate after an intended change with:
//   MAPLB_UPDATE_GOLDENS=1 node --test dist/test/compile-golden.test.js
// then read every changed golden before committing.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../src/model/types.js";
import { SEED_NODES } from "./helpers/kubeproxy.js";
import { goldenChecker } from "./helpers/golden.js";
import { SCENARIOS } from "./helpers/manifests.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const DUAL_STACK_EXAMPLE = new URL("../../examples/dual-stack-lb.yaml", import.meta.url).pathname;
const checkGolden = goldenChecker("compile");

function nodeFlags(node: NodeConfig): string[] {
  return [
    "--node-name",
    node.nodeName,
    ...node.nodeIPs.flatMap((ip) => ["--node-ip", ip]),
    ...(node.clusterCIDR
      ? ["--cluster-cidr", [node.clusterCIDR, node.clusterCIDR6].filter(Boolean).join(",")]
      : []),
  ];
}

function maplb(args: string[]): string {
  return execFileSync(process.execPath, [MAPLB, ...args], {
    encoding: "utf8",
    env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
  });
}

describe("maplb compile goldens for the seed scenarios", () => {
  for (const { file, node } of SEED_NODES) {
    const base = file.replace(/\.yaml$/, "");
    const args = ["compile", "-f", join(SCENARIOS, file), ...nodeFlags(node)];
    it(`${base}.json: the tables as JSON for node ${node.nodeName}`, () => {
      const out = maplb([...args, "--json"]);
      JSON.parse(out);
      checkGolden(`${base}.json`, out);
    });
    it(`${base}.txt: the summary for node ${node.nodeName}`, () => {
      checkGolden(`${base}.txt`, maplb(args));
    });
  }
});

describe("maplb compile golden for a dual-stack manifest", () => {
  // Checked by hand: each half's frontends are of its family only (the IPv6 node IP and :: for the
  // IPv6 NodePort), ids are one space over both families, Maglev rows are placed per family.
  const node: NodeConfig = {
    ...DEFAULT_NODE_CONFIG,
    nodeName: "node-a",
    nodeIPs: ["192.0.2.10", "2001:db8:ff::10"],
    clusterCIDR: "10.0.0.0/16",
    clusterCIDR6: "2001:db8:1::/64",
  };
  const args = ["compile", "-f", DUAL_STACK_EXAMPLE, ...nodeFlags(node)];
  it("dual-stack-lb.json: both families' tables as JSON", () => {
    const out = maplb([...args, "--json"]);
    JSON.parse(out);
    checkGolden("dual-stack-lb.json", out);
  });
  it("dual-stack-lb.txt: the summary, with the lb6 maps' totals", () => {
    checkGolden("dual-stack-lb.txt", maplb(args));
  });
});
