// `maplb nft`: kube-proxy's nftables-mode ruleset for the same Services and EndpointSlices.
import { Command, Option } from "commander";
import { buildNftRules, NFT_FORMATS, renderNftAs, type NftFormat } from "../../kubeproxy/nft.js";
import { KUBE_PROXY_RELEASE } from "../../kubeproxy/release.js";
import {
  addInputOptions,
  addIpFamilyOption,
  addNodeOptions,
  addServiceCidrOption,
  type InputOptions,
  type IpFamilyOptions,
  type NodeOptions,
  type ServiceCidrOptions,
  modelFrom,
  nodeConfigFrom,
} from "../options.js";

interface NftFlags extends InputOptions, NodeOptions, ServiceCidrOptions, IpFamilyOptions {
  format: NftFormat;
}

export function registerNft(program: Command): void {
  const cmd = program
    .command("nft")
    .description(
      `Print the nftables ruleset kube-proxy (nftables mode, ${KUBE_PROXY_RELEASE}) would write\n` +
        "for these Services and EndpointSlices on one node.",
    )
    .addOption(
      new Option("--format <form>", "text form (see Formats below)")
        .choices(NFT_FORMATS)
        .default("transaction"),
    );
  addIpFamilyOption(addServiceCidrOption(addNodeOptions(addInputOptions(cmd))));
  cmd
    .addHelpText(
      "after",
      `\nThe rules are those of kube-proxy in ${KUBE_PROXY_RELEASE} (pkg/proxy/nftables/proxier.go).\n` +
        "\nFormats (--format):\n" +
        "  transaction  one `nft -f` transaction (the default): it replaces table ip kube-proxy\n" +
        "               (ip6 kube-proxy with --ip-family 6)\n" +
        "               and declares every chain, set and map before the rules and elements\n" +
        "               that use them (kube-proxy's unit tests compare this form, sorted)\n" +
        "  list         what `nft list table ip kube-proxy` (nft 1.0) prints once it is loaded:\n" +
        "               sets and maps, then chains; rules as the kernel gives them back (meta\n" +
        "               mark, 0x00004000, merged anonymous sets, priority names), elements\n" +
        "               sorted as nft sorts them. Diff it against a real node\n" +
        "\nServices are found by verdict-map lookups (service-ips, service-nodeports), not by\n" +
        "walking a chain of rules. NodePorts answer on the --node-ip addresses (the nodeport-ips\n" +
        'set). --service-cidr adds kube-proxy\'s "Drop traffic to unallocated ClusterIPs" rule.\n' +
        "The node flags act as for `maplb iptables`.\n" +
        "\nIP families (--ip-family): kube-proxy runs one proxier, and writes one table, per\n" +
        "family. 4 (the default) prints table ip kube-proxy; 6 prints table ip6 kube-proxy from\n" +
        "the IPv6 half of every Service: ip6 daddr/saddr matches, ipv6_addr sets and maps,\n" +
        "nodeport-ips of the IPv6 --node-ip addresses, the IPv6 --cluster-cidr and --service-cidr\n" +
        "ranges (each table takes its own family's), DNAT to [ip]:port, and endpoint chain names\n" +
        "with the address's colons as dots (endpoint-…__fd00.10..1/80).\n" +
        "\nExamples:\n" +
        "  maplb nft -f ../shared/scenarios/seed-001-gke-loadbalancer.yaml --node-name gke-node-c \\\n" +
        "      --node-ip 10.128.0.2 --cluster-cidr 10.52.0.0/14 --service-cidr 10.56.0.0/20\n" +
        "  maplb nft -f ../shared/scenarios --cluster-cidr 10.0.0.0/8 | nft -f -\n" +
        "  maplb nft -f manifests/ --node-ip 192.0.2.10 --format list > expected.nft\n" +
        "  maplb nft -f dual-stack.yaml --ip-family 6 --node-ip 2001:db8::10 \\\n" +
        "      --cluster-cidr 10.0.0.0/8,fd00:10::/64 --service-cidr fd00:10:96::/112 | nft -f -\n",
    )
    .action((flags: NftFlags) => {
      const model = modelFrom(flags);
      const cluster = { serviceCIDRs: flags.serviceCidr ?? [] };
      const rules = buildNftRules(model, nodeConfigFrom(flags), cluster, flags.ipFamily);
      process.stdout.write(renderNftAs(rules, flags.format));
    });
}
