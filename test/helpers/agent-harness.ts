// Test helper: a fake API server, a datapath (emulated, or kernel with maps pinned under a test
// directory) and a node agent between them, with short timers so faults heal within a test's time.
import { deepStrictEqual } from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { pino, type Logger } from "pino";
import { Agent } from "../../src/agent/agent.js";
import { PROXY_LABEL_SELECTOR } from "../../src/agent/cluster-watch.js";
import { DatapathSink } from "../../src/agent/datapath-sink.js";
import { AgentMetrics } from "../../src/agent/metrics.js";
import type { HealthLimits } from "../../src/agent/syncer.js";
import type { Datapath } from "../../src/datapath/datapath.js";
import { openDatapath } from "../../src/datapath/open.js";
import type { MapMax } from "../../src/datapath/options.js";
import type { NodeConfig } from "../../src/model/types.js";
import { expectedView, type MapsView, viewOf } from "./agent-maps.js";
import { FakeApiServer } from "./fake-apiserver.js";
import { nodeConfig } from "./model-factory.js";

export interface LogRecord {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface HarnessOptions {
  datapath?: "emulated" | "kernel";
  mapMax?: MapMax;
  minSyncPeriodMs?: number;
  syncPeriodMs?: number;
  node?: NodeConfig;
  health?: HealthLimits;
  /** The API server answers list requests with this HTTP status until `server.failLists` is cleared. */
  failLists?: number;
  /** Objects the API server holds before the agent starts (they arrive in its first list). */
  objects?: object[];
}

/** Polls `check` until it stops throwing; rethrows its last error after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5000,
  what = "condition",
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (performance.now() > deadline) {
        if (err instanceof Error) err.message = `${what} not reached in ${timeoutMs} ms: ${err.message}`;
        throw err;
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class AgentHarness {
  readonly server = new FakeApiServer();
  readonly dir = mkdtempSync(join(tmpdir(), "maplb-agent-"));
  readonly logs: LogRecord[] = [];
  readonly log: Logger;
  readonly node: NodeConfig;
  /** Kernel maps are pinned here (removed by close()). */
  readonly pinDir = `/sys/fs/bpf/maplb-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  datapath!: Datapath;
  sink!: DatapathSink;
  agent!: Agent;

  private constructor(readonly opts: HarnessOptions) {
    this.node = opts.node ?? nodeConfig();
    const logs = this.logs;
    this.log = pino(
      { level: "debug", base: undefined },
      { write: (s: string) => void logs.push(JSON.parse(s)) },
    );
  }

  static async start(opts: HarnessOptions = {}): Promise<AgentHarness> {
    const h = new AgentHarness(opts);
    await h.server.start();
    h.server.failLists = opts.failLists ?? null;
    for (const o of opts.objects ?? []) h.server.apply(o);
    h.openDatapath();
    h.startAgent();
    return h;
  }

  openDatapath(): void {
    this.datapath = openDatapath({
      kind: this.opts.datapath ?? "emulated",
      pinDir: this.pinDir,
      ...(this.opts.mapMax !== undefined ? { mapMax: this.opts.mapMax } : {}),
    });
    this.sink = new DatapathSink(this.datapath);
  }

  startAgent(): void {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(this.server.writeKubeconfig(this.dir));
    this.agent = new Agent({
      kubeConfig,
      node: this.node,
      sink: this.sink,
      gauges: this.sink,
      minSyncPeriodMs: this.opts.minSyncPeriodMs ?? 0,
      syncPeriodMs: this.opts.syncPeriodMs ?? 60_000,
      metrics: new AgentMetrics(),
      log: this.log,
      backoff: { initialMs: 20, maxMs: 200, jitter: 0.2 },
      ...(this.opts.health ? { health: this.opts.health } : {}),
    });
    this.agent.start();
  }

  /** What the agent's maps mean (ids left out). */
  view(): MapsView {
    return viewOf(this.sink.read());
  }

  /** What the maps must mean: a fresh compile of what the API server holds for this agent. */
  expected(): MapsView {
    const rv = this.server.resourceVersion;
    if (this.expectedAt?.rv !== rv)
      this.expectedAt = {
        rv,
        view: expectedView(this.server.objectsMatching(PROXY_LABEL_SELECTOR), this.node),
      };
    return this.expectedAt.view;
  }
  private expectedAt: { rv: string; view: MapsView } | undefined;

  /** Waits until the maps mean what the API server holds (and no change is waiting). */
  async converged(timeoutMs = 5000): Promise<MapsView> {
    return eventually(
      () => {
        const view = this.view();
        deepStrictEqual(view, this.expected());
        if (this.agent.syncer.pendingCount > 0) throw new Error("changes pending");
        return view;
      },
      timeoutMs,
      "maps matching the API server",
    );
  }

  logged(msg: string): LogRecord[] {
    return this.logs.filter((r) => r.msg === msg);
  }

  /** The sum of a metric's samples whose labels contain `labels` (e.g. 'kind="apply"'). */
  async metric(name: string, labels = ""): Promise<number> {
    const text = await this.agent.metrics.registry.metrics();
    return text
      .split("\n")
      .filter((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && l.includes(labels))
      .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
  }

  async close(): Promise<void> {
    await this.agent?.stop();
    await this.server.stop();
    this.datapath?.close();
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.pinDir, { recursive: true, force: true });
  }
}
