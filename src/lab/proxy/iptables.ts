// --proxy iptables: kube-proxy's iptables rules for each node, loaded with iptables-restore into the
// node's namespace together with the jumps from the built-in chains, one table per atomic commit.
// A full restore (no --noflush) replaces the tables, so chains of removed endpoints go too.
import { labModel, nodeConfig } from "../objects.js";
import { nodeNs } from "../network.js";
import { buildIptablesRules, builtinJumpRules } from "../../kubeproxy/iptables-rules.js";
import { renderRestore } from "../../kubeproxy/iptables-render.js";
import type { ProxyContext, ProxyDriver } from "./types.js";

export const iptablesProxy: ProxyDriver = {
  sync({ topo, plan, say }: ProxyContext): Promise<void> {
    const model = labModel(plan);
    for (const node of plan.nodes) {
      const cfg = nodeConfig(node);
      const rules = buildIptablesRules(model, cfg);
      for (const jump of builtinJumpRules(cfg)) rules[jump.table].rules.push(jump);
      const payload = renderRestore(rules);
      topo.exec(nodeNs(topo.prefix, node), "iptables-restore", [], payload);
      const count = rules.filter.rules.length + rules.nat.rules.length;
      say(`node ${node.name}: kube-proxy iptables rules loaded (${count} rules)`);
    }
    return Promise.resolve();
  },
  paths: () => [],
};
