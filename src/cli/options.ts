// Flags shared by several commands, so every command spells and validates them the same way.
import { Command, InvalidArgumentError, Option } from "commander";
import { isIPv4, parseCidr } from "../util/ip.js";
import { readModel } from "../k8s/read.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig, type ServiceModel } from "../model/types.js";

export interface InputOptions {
  file: string[];
  service?: string[];
}

export interface NodeOptions {
  nodeName?: string;
  nodeIp?: string[];
  clusterCidr?: string;
  masqueradeAll?: boolean;
  nfacct?: boolean;
}

const collect = (value: string, prev: string[] = []): string[] => [...prev, value];

/** The model of the manifests -f names, narrowed to the --service ones when given. */
export function modelFrom(flags: InputOptions): ServiceModel {
  return readModel(flags.file, flags.service ? { services: flags.service } : {});
}

/** `-f PATH…`: files or directories of YAML/JSON, and `--service NS/NAME…` to keep only some services. */
export function addInputOptions(cmd: Command): Command {
  return cmd
    .requiredOption(
      "-f, --file <path...>",
      "Service/EndpointSlice/Endpoints manifests: files or directories of YAML or JSON (repeatable)",
    )
    .option(
      "--service <ns/name>",
      "keep only this Service and its endpoints (repeatable)",
      (v: string, prev: string[] = []) => {
        if (!/^[^/\s]+\/[^/\s]+$/.test(v)) throw new InvalidArgumentError(`expected NS/NAME, got '${v}'`);
        return collect(v, prev);
      },
    );
}

function ipv4(flag: string) {
  return (v: string, prev: string[] = []): string[] => {
    if (!isIPv4(v)) throw new InvalidArgumentError(`${flag} expects an IPv4 address, got '${v}'`);
    return collect(v, prev);
  };
}

/** kube-proxy's node-level flags. */
export function addNodeOptions(cmd: Command): Command {
  return cmd
    .option("--node-name <name>", "this node's name: endpoints with this nodeName are local", "node")
    .option("--node-ip <ip>", "this node's IPv4 address, a NodePort frontend (repeatable)", ipv4("--node-ip"))
    .option("--cluster-cidr <cidr>", "pod CIDR, kube-proxy's local-traffic detector", (v: string) => {
      if (!parseCidr(v)) throw new InvalidArgumentError(`--cluster-cidr expects an IPv4 CIDR, got '${v}'`);
      return v;
    })
    .option("--masquerade-all", "masquerade all service traffic, as kube-proxy --masquerade-all")
    .addOption(new Option("--no-nfacct", "leave out kube-proxy's nfacct counter matches"));
}

export function nodeConfigFrom(o: NodeOptions): NodeConfig {
  return {
    ...DEFAULT_NODE_CONFIG,
    nodeName: o.nodeName ?? DEFAULT_NODE_CONFIG.nodeName,
    nodeIPs: o.nodeIp ?? [],
    clusterCIDR: o.clusterCidr ?? null,
    masqueradeAll: o.masqueradeAll ?? false,
    nfacct: o.nfacct ?? true,
  };
}
