// --proxy nftables: kube-proxy's nftables ruleset for each node, loaded with one `nft -f` transaction
// (the text adds, deletes and re-adds its table, so a reload replaces it whole).
import { buildNftRules, renderNft } from "../../kubeproxy/nft.js";
import { labModel, nodeConfig } from "../objects.js";
import { nodeNs } from "../network.js";
import type { ProxyContext, ProxyDriver } from "./types.js";

export const nftablesProxy: ProxyDriver = {
  sync({ topo, plan, say }: ProxyContext): Promise<void> {
    const model = labModel(plan);
    for (const node of plan.nodes) {
      const rules = buildNftRules(model, nodeConfig(node));
      topo.exec(nodeNs(topo.prefix, node), "nft", ["-f", "-"], renderNft(rules));
      say(`node ${node.name}: kube-proxy nftables ruleset loaded (${rules.rules.length} rules)`);
    }
    return Promise.resolve();
  },
  paths: () => [],
};
