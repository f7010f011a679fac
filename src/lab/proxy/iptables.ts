// --proxy iptables: kube-proxy's iptables rules for each node, loaded with iptables-restore into the
// node's namespace together with the jumps from the built-in chains, one table per atomic commit.
// A full restore (no --noflush) replaces the tables, so chains of removed endpoints go too. A
// dual-stack lab runs kube-proxy's second proxier too: the IPv6 half of every Service, through
// ip6tables-restore.
import { labFamilies, labModel, nodeConfig } from "../objects.js";
import { nodeNs } from "../network.js";
import { buildIptablesRules, builtinJumpRules } from "../../kubeproxy/iptables-rules.js";
import { renderRestore } from "../../kubeproxy/iptables-render.js";
import type { ProxyContext, ProxyDriver } from "./types.js";

const RESTORE = { IPv4: "iptables-restore", IPv6: "ip6tables-restore" } as const;

export const iptablesProxy: ProxyDriver = {
  sync({ topo, plan, say }: ProxyContext): Promise<void> {
    const model = labModel(plan);
    for (const node of plan.nodes)
      for (const family of labFamilies(plan)) {
        const cfg = nodeConfig(node, [family]);
        const rules = buildIptablesRules(model, cfg, family);
        for (const jump of builtinJumpRules(cfg, family)) rules[jump.table].rules.push(jump);
        topo.exec(nodeNs(topo.prefix, node), RESTORE[family], [], renderRestore(rules));
        const count = rules.filter.rules.length + rules.nat.rules.length;
        say(
          `node ${node.name}: kube-proxy ${RESTORE[family].replace("-restore", "")} rules loaded (${count} rules)`,
        );
      }
    return Promise.resolve();
  },
  paths: () => [],
};
