// Running the namespace lab from tests: why a test must skip, probes from a client, and keep-alive
// "hold" probes that report each request as it happens. Every probe is bounded in count and time.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { probeKernel } from "../../src/datapath/kernel.js";
import {
  findClient,
  resolveTarget,
  runProbe,
  type FrontendKind,
  type ProbeOptions,
  type Target,
} from "../../src/lab/client.js";
import { hostPort } from "../../src/lab/host-port.js";
import { labDown } from "../../src/lab/lab.js";
import { podIp } from "../../src/lab/plan.js";
import type { IpFamily } from "../../src/model/types.js";
import { inCgroup, labScript } from "../../src/lab/processes.js";
import type { ProbeResult } from "../../src/lab/probe.js";
import type { LabProxy, LabState } from "../../src/lab/state.js";
import { canCreateNamespaces } from "../../src/netns/netns.js";
import { kernelSkip } from "./require-kernel.js";

const TOOLS: Record<LabProxy, string[]> = {
  maplb: ["nsenter", "tc"],
  iptables: ["iptables-restore"],
  nftables: ["nft"],
};

/**
 * Why the lab cannot run here with this proxy, or null when it can (and then it must run). With
 * MAPLB_REQUIRE_KERNEL=1 a reason is also a failing test (see require-kernel.ts).
 */
export function labBlocker(proxy: LabProxy): string | null {
  return kernelSkip(whyNoLab(proxy), `the lab under ${proxy}`) || null;
}

function whyNoLab(proxy: LabProxy): string | null {
  const ns = canCreateNamespaces();
  if (ns) return ns;
  for (const tool of TOOLS[proxy])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `needs ${tool} (not found on PATH)`;
  return proxy === "maplb" ? probeKernel() : null;
}

export interface ProbeSpec {
  from?: string;
  target: string;
  frontend?: FrontendKind;
  node?: string;
  /** Which of a dual-stack Service's frontends (IPv4 when absent). */
  family?: IpFamily;
}

export function targetOf(state: LabState, spec: ProbeSpec): Target {
  const client = findClient(state, spec.from ?? "client-1");
  return resolveTarget(state.plan, { ...spec, external: client.external });
}

/** `count` requests, each on a new connection (a new flow); `more` asks for transfers or sizes. */
export function probe(
  state: LabState,
  spec: ProbeSpec,
  count: number,
  timeoutMs = 2000,
  more: Omit<ProbeOptions, "count" | "timeoutMs"> = {},
): Promise<ProbeResult[]> {
  return runProbe(findClient(state, spec.from ?? "client-1"), targetOf(state, spec), {
    count,
    timeoutMs,
    ...more,
  });
}

/** Answers per backend pod IP. */
export function byBackend(results: readonly ProbeResult[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of results) if (r.ok && r.answer) m.set(r.answer.ip, (m.get(r.answer.ip) ?? 0) + 1);
  return m;
}

/** The pod IPs (of one family, IPv4 by default) of a Service's backends, optionally only those on one node. */
export function backendIps(
  state: LabState,
  service: string,
  node?: string,
  family: IpFamily = "IPv4",
): string[] {
  return state.plan.pods
    .filter((p) => p.role !== "client" && p.services.includes(service) && (!node || p.node === node))
    .map((p) => podIp(p, family))
    .sort();
}

/** A keep-alive connection making a request every `intervalMs`, reporting each as it happens. */
export class Hold {
  readonly results: ProbeResult[] = [];
  private readonly child: ChildProcess;
  private readonly done: Promise<void>;

  constructor(state: LabState, spec: ProbeSpec, intervalMs: number, durationMs: number) {
    const client = findClient(state, spec.from ?? "client-1");
    const t = targetOf(state, spec);
    const [cmd, args] = inCgroup(client.cgroup, "ip", [
      "netns",
      "exec",
      client.netns,
      process.execPath,
      labScript("probe"),
      "hold",
      "--target",
      hostPort(t.address, t.port),
      "--interval",
      String(intervalMs),
      "--duration",
      String(durationMs),
      "--timeout",
      "2500", // generous: four labs may share the machine's CPUs
    ]);
    this.child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    const lines = createInterface({ input: this.child.stdout! });
    lines.on("line", (l) => this.results.push(JSON.parse(l) as ProbeResult));
    this.done = new Promise((resolve) => this.child.on("close", () => resolve()));
  }

  /** Waits until `pred` holds for the results so far; false after `timeoutMs`. */
  async until(pred: (r: readonly ProbeResult[]) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.results)) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  /** The results from index `from` on. */
  since(from: number): ProbeResult[] {
    return this.results.slice(from);
  }

  async stop(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.done;
  }
}

/**
 * Takes the lab down when the test process ends in any way `after` hooks do not see: an uncaught
 * error, or SIGINT/SIGTERM (netns.ts turns those into process.exit). Down is idempotent.
 */
export function downOnExit(name: string): void {
  process.on("exit", () => labDown({ name }));
}
