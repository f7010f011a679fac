// Golden outputs of `maplb iptables` (canonical) and `maplb nft` for the four seed scenarios.
// Regenerate after an intended change with:  MAPLB_UPDATE_GOLDENS=1 node --test dist/test/kubeproxy-golden.test.js
// then read every changed line against ../shared/reference/kube-proxy-rules.md before committing.
import { join } from "node:path";
import { describe, it } from "node:test";
import { readModel } from "../src/k8s/read.js";
import { renderIptables } from "../src/kubeproxy/iptables-render.js";
import { buildIptablesRules } from "../src/kubeproxy/iptables-rules.js";
import { buildNftRules, renderNft } from "../src/kubeproxy/nft.js";
import { SEED_NODES } from "./helpers/kubeproxy.js";
import { goldenChecker } from "./helpers/golden.js";
import { SCENARIOS } from "./helpers/manifests.js";

const checkGolden = goldenChecker("kubeproxy");

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
