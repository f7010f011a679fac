// --proxy nftables: kube-proxy's nftables ruleset for each node, loaded with one `nft -f` transaction
// (the text adds, deletes and re-adds its table, so a reload replaces it whole). A dual-stack lab
// loads the IPv6 proxier's `ip6 kube-proxy` table beside the `ip` one.
import { buildNftRules, renderNft } from "../../kubeproxy/nft.js";
import { labFamilies, labModel, nodeConfig } from "../objects.js";
import { nodeNs } from "../network.js";
import type { ProxyContext, ProxyDriver } from "./types.js";

export const nftablesProxy: ProxyDriver = {
  sync({ topo, plan, say }: ProxyContext): Promise<void> {
    const model = labModel(plan);
    for (const node of plan.nodes)
      for (const family of labFamilies(plan)) {
        const rules = buildNftRules(model, nodeConfig(node, [family]), {}, family);
        topo.exec(nodeNs(topo.prefix, node), "nft", ["-f", "-"], renderNft(rules));
        const table = family === "IPv4" ? "ip" : "ip6";
        say(
          `node ${node.name}: kube-proxy nftables ruleset loaded (${table} table, ${rules.rules.length} rules)`,
        );
      }
    return Promise.resolve();
  },
  paths: () => [],
};
