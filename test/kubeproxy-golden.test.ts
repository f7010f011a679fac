// Golden outputs of `maplb iptables` (canonical) and `maplb nft` for the four seed scenarios.
// Regenerate after an intended change with:  MAPLB_UPDATE_GOLDENS=1 node --test dist/test/kubeproxy-golden.test.js
// then read every changed line against ../shared/reference/kube-proxy-rules.md before committing.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readModel } from "../src/k8s/read.js";
import { renderIptables } from "../src/kubeproxy/iptables-render.js";
import { buildIptablesRules } from "../src/kubeproxy/iptables-rules.js";
import { buildNftRules, renderNft } from "../src/kubeproxy/nft.js";
import { SEED_NODES } from "./helpers/kubeproxy.js";
import { SCENARIOS } from "./helpers/manifests.js";

/** test/golden/kubeproxy in the source tree (this file runs from dist/test). */
const GOLDEN_DIR = new URL("../../test/golden/kubeproxy/", import.meta.url).pathname;
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

describe("kube-proxy goldens for the seed scenarios", () => {
  for (const { file, node } of SEED_NODES) {
    const base = file.replace(/\.yaml$/, "");
    const model = () => readModel([join(SCENARIOS, file)]);
    it(`${base}.iptables: canonical iptables rules for node ${node.nodeName}`, () => {
      checkGolden(`${base}.iptables`, renderIptables(buildIptablesRules(model(), node), "canonical"));
    });
    it(`${base}.nft: nftables ruleset for node ${node.nodeName}`, () => {
      checkGolden(`${base}.nft`, renderNft(buildNftRules(model(), node)));
    });
  }
});
