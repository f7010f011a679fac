// The lab's life cycle: up (plan → namespaces → pods and their servers → DNS → the proxy), scale,
// down. Every step is written to the state file before it is taken, so down (from any process),
// Ctrl-C and a failure all remove exactly what was built.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readObjects } from "../k8s/read.js";
import { Topology } from "../netns/netns.js";
import { MaplbError } from "../errors.js";
import { forgetAttachments, type AttachMode } from "../cli/commands/attach.js";
import { DNS_SERVICE_IP } from "./addresses.js";
import { describePlan } from "./describe.js";
import { dnsRecords } from "./objects.js";
import {
  changesOffloads,
  DEFAULT_LINKS,
  describeLinks,
  readVeth,
  summarizeVeths,
  tuneVeth,
  type ChecksumMode,
  type GsoMode,
  type LinkSettings,
  type VethEnd,
  type VethFeatures,
} from "./links.js";
import { buildExternal, buildNodes, buildPod, netnsEtc, podNs, removePod, vethEnds } from "./network.js";
import { planLab, podKey, scalePlan, type LabPod, type LinkRequest, type ScaleChange } from "./plan.js";
import { labScript, startDaemon, stopDaemons } from "./processes.js";
import { iptablesProxy } from "./proxy/iptables.js";
import { maplbProxy } from "./proxy/maplb.js";
import { nftablesProxy } from "./proxy/nftables.js";
import type { ProxyContext, ProxyDriver } from "./proxy/types.js";
import { resolveScenario } from "./scenario.js";
import { attachPodCgroups, createPodCgroups, removePodCgroups } from "./socket-lb.js";
import { labDir, labPrefix, readState, writeState, type LabProxy, type LabState } from "./state.js";

export const DEFAULT_LAB = "lab";

const DRIVERS: Record<LabProxy, ProxyDriver> = {
  maplb: maplbProxy,
  iptables: iptablesProxy,
  nftables: nftablesProxy,
};

export type Say = (msg: string) => void;

const dnsRecordsFile = (name: string) => join(labDir(name), "dns-records.json");
const fileSafe = (p: LabPod) => `${p.namespace}_${p.name}`;

/** A Topology over the lab's namespaces that this process will not remove on exit unless asked. */
function adoptTopology(state: LabState): Topology {
  const topo = new Topology("lab", { prefix: labPrefix(state.name) });
  topo.keep();
  topo.adopt(state.namespaces);
  return topo;
}

function proxyContext(state: LabState, topo: Topology, say: Say): ProxyContext {
  return { topo, plan: state.plan, labName: state.name, attach: state.attach, say };
}

/** Starts the pod's servers (none for clients) and records them. */
async function startPod(state: LabState, pod: LabPod, save: () => void): Promise<void> {
  if (pod.role === "client") return;
  const dir = labDir(state.name);
  const files = { log: join(dir, "logs", `${fileSafe(pod)}.log`), ready: join(dir, "ready", fileSafe(pod)) };
  const record = (p: LabState["processes"][number]) => {
    state.processes.push(p);
    save();
  };
  const ns = podNs(labPrefix(state.name), pod);
  if (pod.role === "dns")
    await startDaemon(
      ns,
      podKey(pod),
      labScript("dns-server"),
      ["--records", dnsRecordsFile(state.name)],
      files,
      record,
    );
  else
    await startDaemon(
      ns,
      podKey(pod),
      labScript("pod-server"),
      [
        "--pod",
        pod.name,
        "--ip",
        pod.ip,
        ...(pod.ip6 ? ["--ip6", pod.ip6] : []),
        "--tcp",
        pod.tcpPorts.join(","),
        "--udp",
        pod.udpPorts.join(","),
      ],
      files,
      record,
      state.cgroups?.[pod.node],
    );
}

/** Removes everything the state lists. Synchronous, so it can run from an exit handler. */
function teardown(state: LabState, topo: Topology): void {
  stopDaemons(state.processes);
  removePodCgroups(state);
  topo.cleanup();
  forgetAttachments((netns) => netns.startsWith(`${labPrefix(state.name)}-`));
  for (const p of state.paths) rmSync(p, { recursive: true, force: true });
  rmSync(labDir(state.name), { recursive: true, force: true });
}

export interface UpOptions {
  name?: string;
  scenario: string;
  proxy: LabProxy;
  /** With --proxy maplb: TC (default) or XDP. */
  attach?: AttachMode;
  /** Offloads and a smaller pod MTU for this run (links.ts); the kernel's defaults when absent. */
  links?: LinkRequest;
  /** With --proxy maplb: pods' sockets balanced at connect() (socket-lb.ts). */
  socketLb?: boolean;
  /** Every address gets an IPv6 twin and every Service is dual-stack (addresses.ts, plan.ts). */
  dualStack?: boolean;
  say?: Say;
}

function namespacesExist(state: LabState): boolean {
  return state.namespaces.every((ns) => existsSync(`/run/netns/${ns}`));
}

/**
 * Builds the lab for a scenario. Idempotent: the same scenario and proxy again is a no-op; another
 * one (or a half-built lab) is taken down first.
 */
export async function labUp(opts: UpOptions): Promise<LabState> {
  const name = opts.name ?? DEFAULT_LAB;
  const say = opts.say ?? (() => {});
  const scenario = resolveScenario(opts.scenario);
  const existing = readState(name);
  const attach = opts.attach ?? "tc";
  const plan = planLab(scenario.name, readObjects([scenario.file]), opts.links, !!opts.dualStack);
  const same =
    existing?.plan.scenario === scenario.name &&
    existing.proxy === opts.proxy &&
    existing.attach === attach &&
    !!existing.socketLb === !!opts.socketLb &&
    !!existing.plan.dualStack === !!opts.dualStack &&
    JSON.stringify(existing.plan.links) === JSON.stringify(plan.links);
  if (existing?.complete && same) {
    if (namespacesExist(existing)) {
      say(`lab '${name}' is already up: ${scenario.name} with --proxy ${opts.proxy}`);
      return existing;
    }
  }
  if (existing) {
    say(
      `taking down the lab '${name}' that is up (${existing.plan.scenario}, --proxy ${existing.proxy}) first`,
    );
    labDown({ name, say });
  }

  if (opts.socketLb && opts.proxy !== "maplb")
    throw new MaplbError("E_USAGE", "--socket-lb needs --proxy maplb");
  const driver = DRIVERS[opts.proxy];
  const state: LabState = {
    version: 1,
    name,
    proxy: opts.proxy,
    attach,
    complete: false,
    plan,
    namespaces: [],
    processes: [],
    paths: driver.paths({ labName: name, plan }),
    ...(opts.socketLb ? { socketLb: true } : {}),
  };
  const topo = new Topology("lab", { prefix: labPrefix(name) });
  const save = () => {
    state.namespaces = [...topo.names];
    writeState(state);
  };
  // Ctrl-C and SIGTERM end in process.exit (netns.ts), which runs this: nothing half-built stays.
  const onExit = () => {
    if (!state.complete) teardown(state, topo);
  };
  process.on("exit", onExit);
  try {
    save();
    say(
      `lab '${name}': scenario ${scenario.name} (${scenario.file}), proxy ${opts.proxy}${plan.dualStack ? ", dual-stack" : ""}`,
    );
    buildNodes(topo, plan, say);
    save();
    if (state.socketLb) createPodCgroups(state, save);
    for (const pod of plan.pods) {
      const ns = buildPod(topo, plan, pod, DNS_SERVICE_IP);
      state.paths.push(netnsEtc(ns));
      save();
    }
    for (const ext of plan.externals) {
      buildExternal(topo, plan, ext);
      save();
    }
    mkdirSync(labDir(name), { recursive: true });
    writeFileSync(dnsRecordsFile(name), JSON.stringify(dnsRecords(plan), null, 2) + "\n");
    await Promise.all(plan.pods.map((pod) => startPod(state, pod, save)));
    await driver.sync(proxyContext(state, topo, say));
    if (state.socketLb) {
      attachPodCgroups(state);
      say("socket LB: the pods' cgroups have maplb's connect4/sendmsg4/recvmsg4/getpeername4 hooks");
    }
    state.complete = true;
    save();
    topo.keep();
    say(describePlan(state));
    // After the proxy: an XDP program takes GSO from its veth's peer, so only now is this the truth.
    if (changesOffloads(plan.links) || plan.links?.podMtu) sayVeths(state, say);
    return state;
  } catch (err) {
    say(`lab up failed; removing what was built`);
    teardown(state, topo);
    throw err;
  } finally {
    process.off("exit", onExit);
  }
}

/** Takes the lab down; false when there was none. Works from any process. */
export function labDown(opts: { name?: string; say?: Say }): boolean {
  const name = opts.name ?? DEFAULT_LAB;
  const state = readState(name);
  if (!state) {
    rmSync(labDir(name), { recursive: true, force: true });
    return false;
  }
  teardown(state, adoptTopology(state));
  opts.say?.(
    `lab '${name}' is down: ${state.namespaces.length} namespaces, ${state.processes.length} servers removed`,
  );
  return true;
}

/**
 * Changes the offloads of a running lab (every veth end, as `up` set them); the pod MTU stays. For
 * comparing offload settings on one lab without building it again.
 */
export function labTune(opts: {
  name?: string;
  checksum?: ChecksumMode;
  gso?: GsoMode;
  say?: Say;
}): LabState {
  const state = requireLab(opts.name);
  const topo = adoptTopology(state);
  const links: LinkSettings = { ...DEFAULT_LINKS, ...state.plan.links };
  if (opts.checksum) links.checksum = opts.checksum;
  if (opts.gso) links.gso = opts.gso;
  state.plan.links = links;
  for (const end of vethEnds(topo.prefix, state.plan)) tuneVeth(topo, links, end);
  writeState(state);
  if (opts.say) sayVeths(state, opts.say);
  return state;
}

/** The run's link settings, and what the kernel has on the veths (it may have refused some). */
function sayVeths(state: LabState, say: Say): void {
  say(`\nveths (${describeLinks(state.plan.links)}):`);
  for (const line of summarizeVeths(labVeths(state).map((v) => v.features))) say(`  ${line}`);
}

/** Every veth end of the lab and what the kernel has on it now (offloads, MTU). */
export function labVeths(state: LabState): { end: VethEnd; features: VethFeatures }[] {
  const topo = adoptTopology(state);
  return vethEnds(topo.prefix, state.plan).map((end) => ({ end, features: readVeth(topo, end) }));
}

/** The lab's state, or a usage error saying how to start one. */
export function requireLab(name = DEFAULT_LAB): LabState {
  const state = readState(name);
  if (!state?.complete)
    throw new MaplbError(
      "E_USAGE",
      `no lab '${name}' is up${state ? " (a half-built one: run lab down)" : ""}; run maplb lab up`,
    );
  return state;
}

/**
 * Scales a Service's backend pods, as a Deployment rollout would: new pods are started before the
 * proxy learns of them; removed pods leave the proxy first, then their namespaces are deleted.
 */
export async function labScale(opts: {
  name?: string;
  service: string;
  replicas: number;
  say?: Say;
}): Promise<ScaleChange> {
  const say = opts.say ?? (() => {});
  const state = requireLab(opts.name);
  const topo = adoptTopology(state);
  const save = () => {
    state.namespaces = [...topo.names];
    writeState(state);
  };
  const change = scalePlan(state.plan, opts.service, opts.replicas);
  for (const pod of change.added) {
    const ns = buildPod(topo, state.plan, pod, DNS_SERVICE_IP);
    state.paths.push(netnsEtc(ns));
    save();
    await startPod(state, pod, save);
    say(`started ${podKey(pod)} on ${pod.node} at ${pod.ip}`);
  }
  save();
  await DRIVERS[state.proxy].sync(proxyContext(state, topo, say));
  for (const pod of change.removed) {
    const key = podKey(pod);
    stopDaemons(state.processes.filter((p) => p.pod === key));
    state.processes = state.processes.filter((p) => p.pod !== key);
    removePod(topo, pod);
    state.paths = state.paths.filter((p) => p !== netnsEtc(podNs(topo.prefix, pod)));
    save();
    say(`removed ${key} (${pod.ip})`);
  }
  return change;
}
