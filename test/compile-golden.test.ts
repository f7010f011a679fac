// Golden outputs of `maplb compile` (JSON and the summary) for the four seed scenarios, run through
// the real CLI. Regenerate after an intended change with:
//   MAPLB_UPDATE_GOLDENS=1 node --test dist/test/compile-golden.test.js
// then read every changed golden before committing.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { NodeConfig } from "../src/model/types.js";
import { SEED_NODES } from "./helpers/kubeproxy.js";
import { goldenChecker } from "./helpers/golden.js";
import { SCENARIOS } from "./helpers/manifests.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const checkGolden = goldenChecker("compile");

function nodeFlags(node: NodeConfig): string[] {
  return [
    "--node-name",
    node.nodeName,
    ...node.nodeIPs.flatMap((ip) => ["--node-ip", ip]),
    ...(node.clusterCIDR ? ["--cluster-cidr", node.clusterCIDR] : []),
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
