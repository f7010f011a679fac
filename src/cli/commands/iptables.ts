// `maplb iptables`: the filter and nat rules kube-proxy (iptables mode) would program for the same
// Services and EndpointSlices: the O(n) reference maplb is measured against.
import { Command, Option } from "commander";
import { readModel } from "../../k8s/read.js";
import { buildIptablesRules } from "../../kubeproxy/iptables-rules.js";
import { IPTABLES_FORMATS, renderIptables, type IptablesFormat } from "../../kubeproxy/iptables-render.js";
import {
  addInputOptions,
  addNodeOptions,
  type InputOptions,
  type NodeOptions,
  nodeConfigFrom,
} from "../options.js";

interface IptablesFlags extends InputOptions, NodeOptions {
  format: IptablesFormat;
}

export function registerIptables(program: Command): void {
  const cmd = program
    .command("iptables")
    .description(
      "Print the iptables rules kube-proxy would write for these Services and EndpointSlices on one node\n" +
        "(the *filter and *nat tables of its iptables-restore payload), byte for byte.\n" +
        "Formats:\n" +
        "  canonical  the payload sorted as kube-proxy's unit tests compare it: chains KUBE-NODEPORTS,\n" +
        "             KUBE-SERVICES, then alphabetical; dispatch rules by service (the default, byte-stable)\n" +
        "  restore    what kube-proxy pipes into `iptables-restore --noflush`\n" +
        "  save       what `iptables-save` prints once it is loaded (/32, -s/-d/-p first, --set-xmark,\n" +
        "             probabilities as the kernel stores them); diff it against a real node's iptables-save\n" +
        "The node flags matter: --node-name decides which endpoints are local (externalTrafficPolicy and\n" +
        "internalTrafficPolicy Local), --cluster-cidr adds the masquerade rule for off-cluster sources.",
    )
    .addOption(new Option("--format <form>", "text form").choices(IPTABLES_FORMATS).default("canonical"));
  addNodeOptions(addInputOptions(cmd));
  cmd
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  maplb iptables -f ../shared/scenarios/seed-003-eks-services.yaml --service default/nginx-svc \\\n" +
        "      --node-name ip-10-110-24-222 --cluster-cidr 10.110.0.0/16\n" +
        "  maplb iptables -f ../shared/scenarios --cluster-cidr 10.0.0.0/8 --format restore | iptables-restore --noflush\n" +
        "  maplb iptables -f manifests/ --node-name node-a --format save > expected.txt   (then diff with iptables-save)\n" +
        "Loading the rules needs the nfacct counters first (nfacct add ct_state_invalid_dropped_pkts;\n" +
        "nfacct add localhost_nps_accepted_pkts), or --no-nfacct.",
    )
    .action((flags: IptablesFlags) => {
      const model = readModel(flags.file, flags.service ? { services: flags.service } : {});
      process.stdout.write(renderIptables(buildIptablesRules(model, nodeConfigFrom(flags)), flags.format));
    });
}
