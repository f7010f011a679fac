// Flags shared by several commands, so every command spells and validates them the same way.
import { Command, InvalidArgumentError, Option } from "commander";
import { isIPv4, parseCidr } from "../util/ip.js";
import { parseDuration } from "../agent/duration.js";
import { DEFAULT_INPUT_LIMITS, formatBytes } from "../k8s/input.js";
import { readModel } from "../k8s/read.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig, type ServiceModel } from "../model/types.js";

export interface InputOptions {
  file: string[];
  service?: string[];
  maxInputSize?: number;
  readTimeout?: number;
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
  const input = {
    maxBytes: flags.maxInputSize ?? DEFAULT_INPUT_LIMITS.maxBytes,
    timeoutMs: flags.readTimeout ?? DEFAULT_INPUT_LIMITS.timeoutMs,
  };
  return readModel(flags.file, { input, ...(flags.service ? { services: flags.service } : {}) });
}

const SIZE_UNITS: Record<string, number> = { "": 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };

/** "65536", "512Ki", "64Mi", "1Gi" (a trailing B is allowed): bytes. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|)B?$/.exec(text.trim());
  const n = m ? Number(m[1]) * SIZE_UNITS[m[2]!]! : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError(`${flag} expects a size such as 65536, 512Ki, 64Mi or 1Gi, got '${text}'`);
  return n;
}

/** `-f PATH…`: files or directories of YAML/JSON, and `--service NS/NAME…` to keep only some services. */
export function addInputOptions(cmd: Command): Command {
  return cmd
    .requiredOption(
      "-f, --file <path...>",
      "Service/EndpointSlice/Endpoints manifests: files or directories of YAML or JSON, - for standard input (repeatable)",
    )
    .option(
      "--service <ns/name>",
      "keep only this Service and its endpoints (repeatable)",
      (v: string, prev: string[] = []) => {
        if (!/^[^/\s]+\/[^/\s]+$/.test(v)) throw new InvalidArgumentError(`expected NS/NAME, got '${v}'`);
        return collect(v, prev);
      },
    )
    .option(
      "--max-input-size <size>",
      `most bytes all -f inputs may hold together (default ${formatBytes(DEFAULT_INPUT_LIMITS.maxBytes)})`,
      (v: string) => parseSize(v, "--max-input-size"),
    )
    .option(
      "--read-timeout <duration>",
      `time a FIFO, pipe or device given to -f may take to reach its end (default ${DEFAULT_INPUT_LIMITS.timeoutMs / 1000}s)`,
      (v: string) => {
        const ms = parseDuration(v, "--read-timeout");
        if (ms < 1) throw new InvalidArgumentError(`--read-timeout must be more than 0, got '${v}'`);
        return ms;
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
