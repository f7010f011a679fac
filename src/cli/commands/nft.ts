// `maplb nft`: kube-proxy's nftables-mode ruleset for the same Services and EndpointSlices.
import { Command } from "commander";
import { readModel } from "../../k8s/read.js";
import { buildNftRules, renderNft } from "../../kubeproxy/nft.js";
import {
  addInputOptions,
  addNodeOptions,
  type InputOptions,
  type NodeOptions,
  nodeConfigFrom,
} from "../options.js";

export function registerNft(program: Command): void {
  const cmd = program
    .command("nft")
    .description(
      "Print the nftables ruleset kube-proxy (nftables mode) would write for these Services and\n" +
        "EndpointSlices on one node: table ip kube-proxy, with services found by verdict-map lookups\n" +
        "(service-ips, service-nodeports) instead of a chain walk. The text is one `nft -f` transaction\n" +
        "that replaces the table: tables, chains, sets and maps first, then rules and elements.\n" +
        "NodePorts answer on the --node-ip addresses (the nodeport-ips set, nftables mode's default).",
    );
  addNodeOptions(addInputOptions(cmd));
  cmd
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  maplb nft -f ../shared/scenarios/seed-001-gke-loadbalancer.yaml --node-name gke-node-c \\\n" +
        "      --node-ip 10.128.0.2 --cluster-cidr 10.52.0.0/14\n" +
        "  maplb nft -f ../shared/scenarios --cluster-cidr 10.0.0.0/8 | nft -f -",
    )
    .action((flags: InputOptions & NodeOptions) => {
      const model = readModel(flags.file, flags.service ? { services: flags.service } : {});
      process.stdout.write(renderNft(buildNftRules(model, nodeConfigFrom(flags))));
    });
}
