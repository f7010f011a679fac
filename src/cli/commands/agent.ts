// `maplb agent`: the node agent. Follows the API server and keeps this node's maps in step with it.
import { hostname } from "node:os";
import { KubeConfig } from "@kubernetes/client-node";
import { Command, InvalidArgumentError, Option } from "commander";
import { Agent } from "../../agent/agent.js";
import { DatapathSink } from "../../agent/datapath-sink.js";
import { parseDuration } from "../../agent/duration.js";
import { serveStatus } from "../../agent/http.js";
import { AgentMetrics } from "../../agent/metrics.js";
import { openDatapath, type DatapathChoice } from "../../datapath/open.js";
import { DEFAULT_HASH_SEED, DEFAULT_PIN_DIR } from "../../datapath/options.js";
import type { KernelDatapath } from "../../datapath/kernel.js";
import { MaplbError } from "../../errors.js";
import { log } from "../../log.js";
import { addNodeOptions, type NodeOptions, nodeConfigFrom } from "../options.js";

interface AgentFlags extends NodeOptions {
  kubeconfig?: string;
  datapath: DatapathChoice;
  pinDir: string;
  mapMax?: number;
  metricsAddr: string;
  minSyncPeriod: string;
  syncPeriod: string;
  attach: boolean;
  interface?: string[];
  attachMode: "xdp" | "tc";
  hashSeed: number;
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${flag} expects a whole number, got '${v}'`);
    return n;
  };
}

/** --kubeconfig when given; in a pod, the in-cluster config; else the usual $KUBECONFIG / ~/.kube/config. */
function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    throw new MaplbError(
      "E_INPUT",
      `cannot read kubeconfig ${path ?? "(default)"}: ${(err as Error).message}`,
    );
  }
  if (!kc.getCurrentCluster())
    throw new MaplbError("E_INPUT", "no cluster in the kubeconfig: pass --kubeconfig PATH, or run in a pod");
  return kc;
}

/** Resolves on the first SIGTERM or SIGINT. */
function terminated(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => () => resolve(signal);
    process.once("SIGTERM", on("SIGTERM"));
    process.once("SIGINT", on("SIGINT"));
  });
}

export function registerAgent(program: Command): void {
  const cmd = program
    .command("agent")
    .description(
      "Run the node agent: list and watch Services and EndpointSlices as kube-proxy does (skipping objects " +
        "labelled service.kubernetes.io/service-proxy-name), and write each change into the maps at once, " +
        "recompiling only the Services it touches. On start it adopts maps already pinned and keeps their " +
        "ids, so established connections keep their backends. SIGTERM stops it and leaves the maps and any " +
        "attached program in place. Serves /metrics (Prometheus) and /healthz (200 while synced recently) " +
        "on --metrics-addr.",
    )
    .option("--kubeconfig <path>", "kubeconfig file (default: in-cluster config in a pod, else $KUBECONFIG)")
    .addOption(
      new Option("--datapath <kind>", "kernel (BPF, needs root), emulated, or auto: kernel when possible")
        .choices(["auto", "kernel", "emulated"])
        .default("auto"),
    )
    .option("--pin-dir <dir>", "where the kernel datapath's maps are pinned", DEFAULT_PIN_DIR)
    .option("--map-max <n>", "max entries of the service-sized maps", positiveInt("--map-max"))
    .option("--metrics-addr <host:port>", "address of /metrics and /healthz", "0.0.0.0:10262")
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
      const minSyncPeriodMs = parseDuration(flags.minSyncPeriod, "--min-sync-period");
      const syncPeriodMs = parseDuration(flags.syncPeriod, "--sync-period");
      if (syncPeriodMs === 0) throw new MaplbError("E_USAGE", "--sync-period must be more than 0");
      const node = nodeConfigFrom(flags);
      const kubeConfig = loadKubeConfig(flags.kubeconfig);

      const datapath = openDatapath({
        kind: flags.datapath,
        pinDir: flags.pinDir,
        ...(flags.mapMax ? { mapMax: flags.mapMax } : {}),
      });
      const sink = new DatapathSink(datapath);
      datapath.configure({ nodeIPs: node.nodeIPs, clusterCIDR: node.clusterCIDR, hashSeed: flags.hashSeed });
      attach(datapath.kind === "kernel" ? (datapath as KernelDatapath) : null, flags);

      const metrics = new AgentMetrics(true);
      const agent = new Agent({
        kubeConfig,
        node,
        sink,
        gauges: sink,
        minSyncPeriodMs,
        syncPeriodMs,
        limits: { maglevRows: datapath.maps.shapes.lb4_maglev.maxEntries },
        metrics,
        log,
      });
      const status = await serveStatus(flags.metricsAddr, metrics, () => agent.health());
      log.info(
        { datapath: datapath.description, node: node.nodeName, status: status.address },
        "maplb agent running",
      );
      agent.start();
      const signal = await terminated();
      log.info({ signal }, "stopping; the maps and any attached program stay in place");
      await agent.stop();
      await status.close();
      datapath.close();
    });
}

function attach(kernel: KernelDatapath | null, flags: AgentFlags): void {
  const interfaces = flags.interface ?? [];
  if (!flags.attach || interfaces.length === 0) {
    log.info("programming the maps only: nothing attached (--no-attach, or no --interface)");
    return;
  }
  if (!kernel)
    throw new MaplbError("E_USAGE", "--interface needs the kernel datapath (--datapath kernel, as root)");
  for (const ifname of interfaces) {
    if (flags.attachMode === "xdp") kernel.attachXdp(ifname);
    else kernel.attachTc(ifname, "ingress");
    log.info({ interface: ifname, mode: flags.attachMode }, "attached");
  }
}
