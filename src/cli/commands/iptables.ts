// `maplb iptables`: the filter and nat rules kube-proxy (iptables mode) would program for the same
// Services and EndpointSlices: the O(n) reference maplb is measured against.
import { Command, Option } from "commander";
import { buildIptablesRules } from "../../kubeproxy/iptables-rules.js";
import { IPTABLES_FORMATS, renderIptables, type IptablesFormat } from "../../kubeproxy/iptables-render.js";
import { KUBE_PROXY_RELEASE } from "../../kubeproxy/release.js";
import {
  addInputOptions,
  addIpFamilyOption,
  addNodeOptions,
  type InputOptions,
  type IpFamilyOptions,
  type NodeOptions,
  modelFrom,
  nodeConfigFrom,
} from "../options.js";

interface IptablesFlags extends InputOptions, NodeOptions, IpFamilyOptions {
  format: IptablesFormat;
}

export function registerIptables(program: Command): void {
  const cmd = program
    .command("iptables")
    .description(
      `Print the iptables rules kube-proxy (iptables mode, ${KUBE_PROXY_RELEASE}) would write for\n` +
        "these Services and EndpointSlices on one node: its *filter and *nat tables, byte for byte.",
    )
    .addOption(
      new Option("--format <form>", "text form (see Formats below)")
        .choices(IPTABLES_FORMATS)
        .default("canonical"),
    );
  addIpFamilyOption(addNodeOptions(addInputOptions(cmd)));
  cmd
    .addHelpText(
      "after",
      `\nThe rules are those of kube-proxy in ${KUBE_PROXY_RELEASE} (pkg/proxy/iptables/proxier.go).\n` +
        "Its iptables mode has no rule for unallocated ClusterIPs (only nftables mode does: see\n" +
        "`maplb nft --service-cidr`).\n" +
        "\nFormats (--format):\n" +
        "  canonical  the payload sorted as kube-proxy's unit tests compare it (the default;\n" +
        "             byte-stable): chains KUBE-NODEPORTS, KUBE-SERVICES, then alphabetical;\n" +
        "             the dispatch rules of those two chains by service name\n" +
        "  restore    what kube-proxy pipes into `iptables-restore --noflush`\n" +
        "  save       what `iptables-save` prints back once it is loaded (/32, -s/-d/-p first,\n" +
        "             --set-xmark, probabilities as the kernel stores them): diff it against a\n" +
        "             real node's iptables-save (kube-proxy's chains; the jump rules it adds to\n" +
        "             PREROUTING, INPUT, … are not part of the payload)\n" +
        "\nThe node flags change the rules: --node-name decides which endpoints are local\n" +
        "(externalTrafficPolicy/internalTrafficPolicy Local); --cluster-cidr adds the masquerade\n" +
        "rule for traffic from outside the pod network (the CIDR of --ip-family's family);\n" +
        "--masquerade-all masquerades everything.\n" +
        "\nIP families (--ip-family): kube-proxy runs one proxier per family. 4 (the default)\n" +
        "prints the IPv4 proxier's rules for iptables-restore; 6 prints the IPv6 proxier's for\n" +
        "ip6tables-restore, from the IPv6 half of every Service (IPv6 cluster IPs, external and\n" +
        "ingress IPs, source ranges and EndpointSlices). The IPv6 rules differ as kube-proxy's do:\n" +
        "endpoints are spelled [ip]:port (in KUBE-SEP hashes, comments and DNAT targets), there\n" +
        "are no localhost NodePorts (no KUBE-FIREWALL chain, no 127.0.0.0/8 rule; the NodePort\n" +
        "jump refuses ::1/128), and REJECT answers with icmp6-port-unreachable.\n" +
        "Loading the rules needs kube-proxy's nfacct counters first (nfacct add\n" +
        "ct_state_invalid_dropped_pkts; nfacct add localhost_nps_accepted_pkts), or --no-nfacct.\n" +
        "\nExamples:\n" +
        "  maplb iptables -f ../shared/scenarios/seed-003-eks-services.yaml --service default/nginx-svc \\\n" +
        "      --node-name ip-10-110-24-222 --cluster-cidr 10.110.0.0/16\n" +
        "  maplb iptables -f ../shared/scenarios --cluster-cidr 10.0.0.0/8 --format restore \\\n" +
        "      | iptables-restore --noflush\n" +
        "  maplb iptables -f manifests/ --node-name node-a --format save > expected.txt\n" +
        "  maplb iptables -f dual-stack.yaml --ip-family 6 --cluster-cidr 10.0.0.0/8,fd00:10::/64 \\\n" +
        "      --format restore | ip6tables-restore --noflush\n",
    )
    .action((flags: IptablesFlags) => {
      const model = modelFrom(flags);
      const rules = buildIptablesRules(model, nodeConfigFrom(flags), flags.ipFamily);
      process.stdout.write(renderIptables(rules, flags.format));
    });
}
