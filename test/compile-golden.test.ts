// Golden outputs of `maplb compile` (JSON and the summary) for the four seed scenarios, run through
// the real CLI. Regenerate after an intended change with:
//   MAPLB_UPDATE_GOLDENS=1 node --test dist/test/compile-golden.test.js
// then read every changed golden before committing.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { NodeConfig } from "../src/model/types.js";
import { SEED_NODES } from "./helpers/kubeproxy.js";
import { SCENARIOS } from "./helpers/manifests.js";

/** test/golden/compile in the source tree (this file runs from dist/test). */
const GOLDEN_DIR = new URL("../../test/golden/compile/", import.meta.url).pathname;
const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const UPDATE = process.env.MAPLB_UPDATE_GOLDENS === "1";

function checkGolden(name: string, actual: string): void {
  const file = join(GOLDEN_DIR, name);
  if (UPDATE) {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.equal(actual, readFileSync(file, "utf8"), `${name} differs (MAPLB_UPDATE_GOLDENS=1 regenerates it)`);
}

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
