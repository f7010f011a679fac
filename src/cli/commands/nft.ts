// `maplb nft`: kube-proxy's nftables-mode ruleset for the same Services and EndpointSlices.
import { Command } from "commander";
import { buildNftRules, renderNft } from "../../kubeproxy/nft.js";
import {
  addInputOptions,
  addNodeOptions,
  type InputOptions,
  type NodeOptions,
  modelFrom,
  nodeConfigFrom,
} from "../options.js";

export function registerNft(program: Command): void {
  const cmd = program
    .command("nft")
    .description(
      "Print the nftables ruleset kube-proxy (nftables mode) would write for these\n" +
        "Services and EndpointSlices on one node, as one `nft -f` transaction.",
    );
  addNodeOptions(addInputOptions(cmd));
  cmd
    .addHelpText(
      "after",
      "\nThe ruleset is table ip kube-proxy. Services are found by verdict-map lookups\n" +
        "(service-ips, service-nodeports), not by walking a chain of rules. The transaction\n" +
        "replaces the table and declares every chain, set and map before the rules and\n" +
        "elements that use them. NodePorts answer on the --node-ip addresses (the nodeport-ips\n" +
        "set, nftables mode's default). The node flags act as for `maplb iptables`.\n" +
        "\nExamples:\n" +
        "  maplb nft -f ../shared/scenarios/seed-001-gke-loadbalancer.yaml --node-name gke-node-c \\\n" +
        "      --node-ip 10.128.0.2 --cluster-cidr 10.52.0.0/14\n" +
        "  maplb nft -f ../shared/scenarios --cluster-cidr 10.0.0.0/8 | nft -f -\n",
    )
    .action((flags: InputOptions & NodeOptions) => {
      const model = modelFrom(flags);
      process.stdout.write(renderNft(buildNftRules(model, nodeConfigFrom(flags))));
    });
}
