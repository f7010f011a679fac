// `maplb agent`: the node agent. Follows the API server and keeps this node's maps in step with it.
// This module only declares the command; agent-run.ts, imported when it runs, does the work.
import { hostname } from "node:os";
import { Command, InvalidArgumentError, Option } from "commander";
import type { DatapathChoice } from "../../datapath/open.js";
import { DEFAULT_HASH_SEED, DEFAULT_PIN_DIR } from "../../datapath/options.js";
import { addNodeOptions, type NodeOptions } from "../options.js";

export interface AgentFlags extends NodeOptions {
  kubeconfig?: string;
  datapath: DatapathChoice;
  pinDir: string;
  mapMax?: number;
  metricsAddr: string;
  apiUnreachableWindow: string;
  minSyncPeriod: string;
  syncPeriod: string;
  attach: boolean;
  interface?: string[];
  attachMode: "xdp" | "tc";
  hashSeed: number;
  socketLb?: boolean;
  socketLbCgroup?: string;
  socketLbHostnsOnly?: boolean;
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${flag} expects a whole number, got '${v}'`);
    return n;
  };
}

export function registerAgent(program: Command): void {
  const cmd = program
    .command("agent")
    .description(
      "Run the node agent: list and watch Services and EndpointSlices as kube-proxy does (skipping objects " +
        "labelled service.kubernetes.io/service-proxy-name), and write each change into the maps at once, " +
        "recompiling only the Services it touches. On start it adopts maps already pinned and keeps their " +
        "ids, so established connections keep their backends. SIGTERM stops it and leaves the maps and any " +
        "attached program in place. Serves /metrics (Prometheus) and /healthz (200 while synced recently " +
        "and the API server answers) on --metrics-addr.",
    )
    .option("--kubeconfig <path>", "kubeconfig file (default: in-cluster config in a pod, else $KUBECONFIG)")
    .addOption(
      new Option("--datapath <kind>", "kernel (BPF, needs root), emulated, or auto: kernel when possible")
        .choices(["auto", "kernel", "emulated"])
        .default("auto"),
    )
    .option("--pin-dir <dir>", "where the kernel datapath's maps are pinned", DEFAULT_PIN_DIR)
    .option("--map-max <n>", "max entries of the service-sized maps", positiveInt("--map-max"))
    .option(
      "--metrics-addr <host:port>",
      "address of /metrics and /healthz; loopback only unless told otherwise (the DaemonSet passes the " +
        "node's IP, for the kubelet's probes and Prometheus)",
      "127.0.0.1:10262",
    )
    .option(
      "--api-unreachable-window <duration>",
      "/healthz fails once the API server has not answered for this long (the maps keep their last state)",
      "60s",
    )
    .option(
      "--min-sync-period <duration>",
      "least time between two map syncs; changes in between are batched",
      "1s",
    )
    .option(
      "--sync-period <duration>",
      "time between full syncs: read every map back and repair drift (costs O(all rows), so minutes)",
      "5m",
    )
    .option("--interface <name...>", "kernel: interfaces to attach the program to")
    .addOption(
      new Option("--attach-mode <mode>", "kernel: how to attach").choices(["xdp", "tc"]).default("tc"),
    )
    .option("--no-attach", "program the maps only, attach nothing (observe beside kube-proxy)")
    .option("--socket-lb", "kernel: also balance sockets at connect() (cgroup hooks on --socket-lb-cgroup)")
    .option("--socket-lb-cgroup <path>", "kernel: the cgroup v2 holding the pods, for --socket-lb")
    .option(
      "--socket-lb-hostns-only",
      "with --socket-lb: only the host network namespace's sockets (pods keep per-packet NAT, for meshes)",
    )
    .option(
      "--hash-seed <n>",
      "flow hash seed; the same on every node",
      positiveInt("--hash-seed"),
      DEFAULT_HASH_SEED,
    );
  addNodeOptions(cmd);
  // Like kube-proxy, the node name defaults to the hostname (the DaemonSet passes spec.nodeName).
  cmd.options.find((o) => o.long === "--node-name")?.default(hostname(), "this host's name");
  cmd.setOptionValueWithSource("nodeName", hostname(), "default");
  cmd
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  maplb agent --kubeconfig ~/.kube/config --node-name node-a --node-ip 192.0.2.10 --no-attach\n" +
        "  maplb agent --node-name $NODE_NAME --node-ip $NODE_IP --interface eth0 --cluster-cidr 10.244.0.0/16",
    )
    .action(async (flags: AgentFlags) => {
      const { runAgent } = await import("./agent-run.js");
      await runAgent(flags);
    });
}
