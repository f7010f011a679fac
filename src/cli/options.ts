// Flags shared by several commands, so every command spells and validates them the same way.
import { posix } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_PIN_DIR } from "../datapath/options.js";
import { canonicalCidr } from "../kubeproxy/cidr.js";
import { parseIpFamily } from "../kubeproxy/family.js";
import { ipFamilyOf, parseIpCidr } from "../util/ip.js";
import { parseDuration } from "../agent/duration.js";
import { DEFAULT_INPUT_LIMITS, formatBytes } from "../k8s/input.js";
import { readModel } from "../k8s/read.js";
import { DEFAULT_NODE_CONFIG, type IpFamily, type NodeConfig, type ServiceModel } from "../model/types.js";

export interface InputOptions {
  file: string[];
  service?: string[];
  maxInputSize?: number;
  readTimeout?: number;
}

export interface NodeOptions {
  nodeName?: string;
  nodeIp?: string[];
  clusterCidr?: string[];
  masqueradeAll?: boolean;
  nfacct?: boolean;
}

/** The "Examples:" section of a command's --help: one command line per entry. */
export function examplesHelp(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}`;
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

function nodeIP(v: string, prev: string[] = []): string[] {
  if (ipFamilyOf(v) === null || v.includes("/"))
    throw new InvalidArgumentError(`--node-ip expects an IPv4 or IPv6 address, got ${JSON.stringify(v)}`);
  return collect(v, prev);
}

/** --cluster-cidr: one pod CIDR, or a dual-stack pair "v4,v6" (either order), as kube-proxy's flag. */
function clusterCidrArg(v: string): string[] {
  const parts = v.split(",");
  const families = parts.map((p) => parseIpCidr(p)?.family);
  if (parts.length > 2 || families.includes(undefined) || (parts.length === 2 && families[0] === families[1]))
    throw new InvalidArgumentError(
      `--cluster-cidr expects a CIDR, or an IPv4 and an IPv6 CIDR joined by ',', got ${JSON.stringify(v)}`,
    );
  return parts;
}

/** kube-proxy's node-level flags. */
export function addNodeOptions(cmd: Command): Command {
  return cmd
    .option("--node-name <name>", "this node's name: endpoints with this nodeName are local", "node")
    .option("--node-ip <ip>", "this node's IPv4 or IPv6 address, a NodePort frontend (repeatable)", nodeIP)
    .option(
      "--cluster-cidr <cidr[,cidr]>",
      "pod CIDR, kube-proxy's local-traffic detector; dual-stack: an IPv4 and an IPv6 CIDR joined by ','",
      clusterCidrArg,
    )
    .option("--masquerade-all", "masquerade all service traffic, as kube-proxy --masquerade-all")
    .addOption(new Option("--no-nfacct", "leave out kube-proxy's nfacct counter matches"));
}

/** ServiceCIDR objects hold a handful of ranges; this bound keeps one rule's set small. */
const MAX_SERVICE_CIDRS = 64;

/** --service-cidr: a network as the API server stores it (the network address, e.g. 10.96.0.0/12 or
 * fd00:10:96::/112); IPv4 ranges go to the ip table, IPv6 ones to the ip6 table. */
function serviceCidrArg(v: string, prev: string[] = []): string[] {
  const canonical = v.includes("/") ? canonicalCidr(v) : null;
  if (canonical === null)
    throw new InvalidArgumentError(`--service-cidr expects an IPv4 or IPv6 CIDR, got '${v}'`);
  if (canonical !== v)
    throw new InvalidArgumentError(`--service-cidr expects the network address, ${canonical}, got '${v}'`);
  if (prev.length >= MAX_SERVICE_CIDRS)
    throw new InvalidArgumentError(`--service-cidr: at most ${MAX_SERVICE_CIDRS} ranges`);
  return [...prev, v];
}

export interface ServiceCidrOptions {
  serviceCidr?: string[];
}

/** --service-cidr: kube-proxy's ServiceCIDRs, for its nftables drop of unallocated ClusterIPs. */
export function addServiceCidrOption(cmd: Command): Command {
  return cmd.option(
    "--service-cidr <cidr>",
    "a ServiceCIDR range (repeatable): kube-proxy's nftables rules drop new traffic to its unallocated addresses",
    serviceCidrArg,
  );
}

export interface IpFamilyOptions {
  ipFamily: IpFamily;
}

/** --ip-family: which of kube-proxy's two proxiers to be (it runs one per family). */
export function addIpFamilyOption(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      "--ip-family <family>",
      "4 or 6 (IPv4/IPv6 also accepted): the IPv4 or the IPv6 proxier's rules",
    )
      .argParser((v: string) => {
        const family = parseIpFamily(v);
        if (family === null)
          throw new InvalidArgumentError(
            `--ip-family expects 4 or 6 (or IPv4, IPv6), got ${JSON.stringify(v)}`,
          );
        return family;
      })
      .default("IPv4", "4"),
  );
}

export function nodeConfigFrom(o: NodeOptions): NodeConfig {
  return {
    ...DEFAULT_NODE_CONFIG,
    nodeName: o.nodeName ?? DEFAULT_NODE_CONFIG.nodeName,
    nodeIPs: o.nodeIp ?? [],
    clusterCIDR: o.clusterCidr?.find((c) => ipFamilyOf(c) === "IPv4") ?? null,
    clusterCIDR6: o.clusterCidr?.find((c) => ipFamilyOf(c) === "IPv6") ?? null,
    masqueradeAll: o.masqueradeAll ?? false,
    nfacct: o.nfacct ?? true,
  };
}

/** One plain file name: what --netns names under /run/netns and a pin directory's parts are made of. */
const PLAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** The bpffs mount every pin directory lives under (the default's parent, /sys/fs/bpf). */
const BPFFS = posix.dirname(DEFAULT_PIN_DIR);

/**
 * --pin-dir: a directory under /sys/fs/bpf, spelled plainly. The maps are pinned, and later removed,
 * there: "..", "." or an empty part must not lead to another place of the file system.
 */
export function pinDirArg(v: string): string {
  const parts = v.startsWith(`${BPFFS}/`) ? v.slice(BPFFS.length + 1).split("/") : [];
  if (parts.length === 0 || !parts.every((p) => PLAIN_NAME.test(p)))
    throw new InvalidArgumentError(
      `--pin-dir expects a directory under ${BPFFS}/ whose parts are plain names (letters, digits, ` +
        `'_', '.', '-'; no '..'), got ${JSON.stringify(v)}`,
    );
  return v;
}

/** --netns: an `ip netns` name, which is one file name under /run/netns. */
export function netnsArg(v: string): string {
  if (!PLAIN_NAME.test(v))
    throw new InvalidArgumentError(
      `--netns expects an ip netns name (letters, digits, '_', '.', '-'; no '/'), got ${JSON.stringify(v)}`,
    );
  return v;
}

/**
 * Every --pin-dir and --netns of every command is checked by the parsers above, wherever the option
 * is declared: both name places in the file system, so one rule for all commands.
 */
export function checkPathOptions(cmd: Command): void {
  for (const o of cmd.options) {
    if (o.long === "--pin-dir") o.argParser(pinDirArg);
    if (o.long === "--netns") o.argParser(netnsArg);
  }
  for (const sub of cmd.commands) checkPathOptions(sub);
}
