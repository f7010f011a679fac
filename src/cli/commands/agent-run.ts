// `maplb agent`'s run: the node agent's wiring (kubeconfig, datapath, status server, signals). Loaded
// only when the command runs, because @kubernetes/client-node takes about half a second to import and
// every other command (and `maplb --help`) would pay for it.
import { KubeConfig } from "@kubernetes/client-node";
import { Agent } from "../../agent/agent.js";
import { DatapathSink } from "../../agent/datapath-sink.js";
import { parseDuration } from "../../agent/duration.js";
import { serveStatus } from "../../agent/http.js";
import { AgentMetrics } from "../../agent/metrics.js";
import { openDatapath } from "../../datapath/open.js";
import { nodeSettings } from "../../datapath/options.js";
import type { KernelDatapath } from "../../datapath/kernel.js";
import { attachSocketLb } from "../../datapath/socket-lb.js";
import { MaplbError } from "../../errors.js";
import { log } from "../../log.js";
import { nodeConfigFrom } from "../options.js";
import type { AgentFlags } from "./agent.js";

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

export async function runAgent(flags: AgentFlags): Promise<void> {
  const minSyncPeriodMs = parseDuration(flags.minSyncPeriod, "--min-sync-period");
  const syncPeriodMs = parseDuration(flags.syncPeriod, "--sync-period");
  const apiUnreachableWindowMs = parseDuration(flags.apiUnreachableWindow, "--api-unreachable-window");
  if (syncPeriodMs === 0) throw new MaplbError("E_USAGE", "--sync-period must be more than 0");
  checkSocketLbFlags(flags);
  const node = nodeConfigFrom(flags);
  const kubeConfig = loadKubeConfig(flags.kubeconfig);

  const datapath = openDatapath({
    kind: flags.datapath,
    pinDir: flags.pinDir,
    lock: true, // one writer at a time: the agent owns its pin dir for as long as it runs
    ...(flags.mapMax ? { mapMax: flags.mapMax } : {}),
  });
  const sink = new DatapathSink(datapath);
  datapath.configure(nodeSettings(node, flags.hashSeed));
  attach(datapath.kind === "kernel" ? (datapath as KernelDatapath) : null, flags);

  const metrics = new AgentMetrics(true);
  const agent = new Agent({
    kubeConfig,
    node,
    sink,
    gauges: sink,
    minSyncPeriodMs,
    syncPeriodMs,
    apiUnreachableWindowMs,
    limits: {
      maglevRows: datapath.maps.shapes.lb4_maglev.maxEntries,
      maglevRows6: datapath.maps.shapes.lb6_maglev.maxEntries,
      // lb4_backends and lb6_backends are arrays indexed by backend id (row 0 unused), one id space:
      // ids wrap below the smaller one's size.
      maxBackendId:
        Math.min(datapath.maps.shapes.lb4_backends.maxEntries, datapath.maps.shapes.lb6_backends.maxEntries) -
        1,
    },
    metrics,
    log,
  });
  const status = await serveStatus(flags.metricsAddr, metrics, () => agent.health());
  // Listening for the signals before saying "running": a SIGTERM sent on that line must stop the
  // agent cleanly, not kill it with Node's default action.
  const stopRequested = terminated();
  log.info(
    { datapath: datapath.description, node: node.nodeName, status: status.address },
    "maplb agent running",
  );
  agent.start();
  const signal = await stopRequested;
  log.info({ signal }, "stopping; the maps and any attached program stay in place");
  await agent.stop();
  await status.close();
  datapath.close();
}

function checkSocketLbFlags(flags: AgentFlags): void {
  if (flags.socketLb && !flags.socketLbCgroup)
    throw new MaplbError(
      "E_USAGE",
      "--socket-lb needs --socket-lb-cgroup PATH (the cgroup v2 holding the pods)",
    );
  if (!flags.socketLb && (flags.socketLbCgroup || flags.socketLbHostnsOnly))
    throw new MaplbError("E_USAGE", "--socket-lb-cgroup and --socket-lb-hostns-only go with --socket-lb");
  if (flags.socketLb && flags.datapath === "emulated")
    throw new MaplbError(
      "E_USAGE",
      "--socket-lb needs the kernel datapath (--datapath kernel or auto, as root)",
    );
}

function attach(kernel: KernelDatapath | null, flags: AgentFlags): void {
  if (flags.attach && flags.socketLb && flags.socketLbCgroup) {
    if (!kernel) throw new MaplbError("E_USAGE", "--socket-lb needs the kernel datapath (as root)");
    const cgroup = attachSocketLb(kernel, flags.socketLbCgroup, !!flags.socketLbHostnsOnly);
    log.info({ cgroup, hostnsOnly: !!flags.socketLbHostnsOnly }, "socket LB attached");
  }
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
