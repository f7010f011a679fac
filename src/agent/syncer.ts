// Turning changes into map writes. Events mark Services dirty; a sync recompiles only those Services'
// ports (Compiler.update) and applies the MapOps at once. Syncs are at least min-sync-period apart, as
// with kube-proxy's --iptables-min-sync-period: the first change after a quiet spell is written at
// once, and changes that arrive during the wait are batched into the next sync.
//
// A full sync (on start, every sync-period, and after any failure) reads the maps back, rebuilds the
// Compiler from what they hold (so every id is kept: that is how a restarted agent adopts the maps),
// and writes whatever differs from the model: the drift repair.
import type { Logger } from "pino";
import { Compiler, type CompilerLimits } from "../compile/compiler.js";
import { totals } from "../compile/render.js";
import type { LbTables, MapOp } from "../compile/tables.js";
import type { NodeConfig, ServicePort } from "../model/types.js";
import { MaplbError } from "../errors.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import type { ClusterState } from "./cluster-state.js";
import { type MapContents, tablesFromMaps } from "./map-contents.js";
import type { AgentMetrics, ErrorKind, SyncKind } from "./metrics.js";

/** What the syncer needs from a datapath: src/datapath's Datapath fits through a small adapter. */
export interface MapSink {
  /** Writes the ops in order; on failure throws and leaves the maps as they were. */
  apply(ops: MapOp[]): void;
  /** What the maps hold now. */
  read(): MapContents;
}

export interface SyncerOptions {
  node: NodeConfig;
  /** Minimum time between two syncs (ms); 0 writes every change as soon as it arrives. */
  minSyncPeriodMs: number;
  /** Time between full syncs (ms), which repair drift. */
  syncPeriodMs: number;
  limits?: CompilerLimits;
  metrics: AgentMetrics;
  log: Logger;
  /** Retry delays after a failed sync. */
  retry?: BackoffOptions;
}

export interface HealthLimits {
  /** Unhealthy when no sync succeeded for this long. */
  syncedWithinMs: number;
  /** Unhealthy when a change has waited this long to be written. */
  pendingWithinMs: number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export interface Health {
  healthy: boolean;
  reason: string;
}

/** Thrown inside a sync to say which step failed, for the error metric. */
class SyncStepError extends Error {
  constructor(
    readonly kind: ErrorKind,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

function step<T>(kind: ErrorKind, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new SyncStepError(kind, err);
  }
}

/** A Compiler that keeps the ids the maps hold; says what to do when they cannot be kept. */
function adopt(node: NodeConfig, actual: LbTables, limits: CompilerLimits | undefined): Compiler {
  try {
    return new Compiler(node, actual, limits);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new MaplbError(
      "E_INPUT",
      `the maps hold rows that cannot be adopted (${why}); clear them (kernel datapath: remove the ` +
        "pin directory) and restart the agent, which then writes every row afresh",
      { cause: why },
    );
  }
}

/** Rows (Maglev rows and backends) per chunk of a full sync: about 1 MB of Maglev rows. */
const FULL_SYNC_CHUNK_ROWS = 1 << 18;

/** Consecutive groups of ports, each as large as fits in `rows` (at least one port per group). */
function* chunksByRows(ports: ServicePort[], rows: number): Generator<ServicePort[]> {
  let chunk: ServicePort[] = [];
  let size = 0;
  for (const p of ports) {
    const cost = (p.algorithm === "maglev" ? p.maglevTableSize : 0) + p.endpoints.length;
    if (chunk.length > 0 && size + cost > rows) {
      yield chunk;
      chunk = [];
      size = 0;
    }
    chunk.push(p);
    size += cost;
  }
  if (chunk.length > 0) yield chunk;
}

export class Syncer {
  private compiler: Compiler | undefined;
  /** Service key → ids of its ports that the compiler holds. */
  private portIds = new Map<string, Set<string>>();
  /** Dirty Service keys → when their oldest unsynced event arrived (performance.now ms). */
  private readonly pending = new Map<string, number>();
  private fullSyncDue = true;
  /** The service ports last reported held back by a frontend conflict (sorted ids, space-separated). */
  private denied = "";
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private lastSyncStart = -Infinity;
  private lastOkAt: number | undefined;
  private lastError: string | undefined;
  private readonly retry: Backoff;

  constructor(
    private readonly state: ClusterState,
    private readonly sink: MapSink,
    private readonly opts: SyncerOptions,
  ) {
    this.retry = new Backoff(opts.retry);
  }

  /** These Services changed: they will be written within min-sync-period. */
  changed(serviceKeys: readonly string[], receivedAt: number): void {
    for (const k of serviceKeys) if (!this.pending.has(k)) this.pending.set(k, receivedAt);
    this.schedule();
  }

  /** The initial lists are in: adopt the maps with a full sync, then follow changes. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.fullSyncDue = true;
    this.schedule(0);
    this.periodic = setInterval(() => this.requestFullSync(), this.opts.syncPeriodMs);
  }

  /** The next sync reads the maps back and repairs any drift (it runs within min-sync-period). */
  requestFullSync(): void {
    this.fullSyncDue = true;
    this.schedule();
  }

  /** Stops syncing. The maps are left as they are. */
  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    clearInterval(this.periodic);
    this.timer = undefined;
  }

  /** Changes waiting for a sync. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Healthy while the maps follow the cluster: a sync (full syncs run every sync period) succeeded
   * within `limits.syncedWithinMs`, and no change has waited longer than `limits.pendingWithinMs`.
   */
  health(limits: HealthLimits, now = performance.now()): Health {
    if (this.lastOkAt === undefined)
      return { healthy: false, reason: this.lastError ? `not synced: ${this.lastError}` : "not synced yet" };
    const age = now - this.lastOkAt;
    if (age > limits.syncedWithinMs)
      return {
        healthy: false,
        reason: `last successful sync ${seconds(age)} ago: ${this.lastError ?? "none since"}`,
      };
    let oldest = now;
    for (const at of this.pending.values()) oldest = Math.min(oldest, at);
    if (now - oldest > limits.pendingWithinMs)
      return {
        healthy: false,
        reason: `a change has waited ${seconds(now - oldest)}: ${this.lastError ?? "syncing"}`,
      };
    return { healthy: true, reason: `last sync ${seconds(age)} ago` };
  }

  /** Syncs now: a full sync when one is due, else the dirty Services. Returns false on failure. */
  sync(): boolean {
    clearTimeout(this.timer);
    this.timer = undefined;
    const start = performance.now();
    this.lastSyncStart = start;
    const batch = new Map(this.pending);
    this.pending.clear();
    const kind: SyncKind = this.fullSyncDue || !this.compiler ? "full" : "incremental";
    const m = this.opts.metrics;
    try {
      const adopting = this.compiler === undefined;
      const ops = kind === "full" ? this.fullSync() : this.incrementalSync([...batch.keys()]);
      const end = performance.now();
      m.syncDuration.observe({ kind }, (end - start) / 1000);
      // The first sync's events waited for the initial lists: that is start-up, not programming.
      if (!adopting)
        for (const receivedAt of batch.values()) m.programmingLatency.observe((end - receivedAt) / 1000);
      m.lastSync.set(Date.now() / 1000);
      this.lastOkAt = end;
      this.lastError = undefined;
      this.retry.reset();
      this.opts.log.debug({ kind, services: batch.size, ops, ms: end - start }, "synced");
      return true;
    } catch (err) {
      // A failed apply leaves its maps as they were, but the compiler is ahead of them (and a full
      // sync may have written some chunks): the retry is a full sync, which starts again from what
      // the maps hold.
      const kindOfError = err instanceof SyncStepError ? err.kind : "compile";
      const cause = err instanceof SyncStepError ? err.cause : err;
      for (const [k, at] of batch)
        if (!this.pending.has(k) || this.pending.get(k)! > at) this.pending.set(k, at);
      this.fullSyncDue = true;
      this.lastError = `${kindOfError}: ${err instanceof Error ? err.message : String(err)}`;
      m.errors.inc({ kind: kindOfError });
      const delay = this.retry.next();
      this.opts.log.error(
        {
          err: cause,
          step: kindOfError,
          retryInMs: delay,
          context: (cause as { context?: unknown }).context,
        },
        "sync failed; retrying with a full sync from what the maps hold",
      );
      this.schedule(delay);
      return false;
    }
  }

  private schedule(delay?: number): void {
    if (!this.running || this.timer) return;
    if (delay === undefined && this.pending.size === 0 && !this.fullSyncDue) return;
    const wait = delay ?? Math.max(0, this.lastSyncStart + this.opts.minSyncPeriodMs - performance.now());
    this.timer = setTimeout(() => this.sync(), wait);
  }

  /** Recompiles the given Services' ports against the current tables and writes the difference. */
  private incrementalSync(serviceKeys: string[]): number {
    const compiler = this.compiler!;
    const changed: ServicePort[] = [];
    const removed: string[] = [];
    const nextIds = new Map<string, Set<string>>();
    for (const key of serviceKeys) {
      const ports = this.state.ports(key);
      const ids = new Set(ports.map((p) => p.id));
      for (const old of this.portIds.get(key) ?? []) if (!ids.has(old)) removed.push(old);
      changed.push(...ports);
      nextIds.set(key, ids);
    }
    const ops = step("compile", () => compiler.update(changed, removed));
    this.write(ops, compiler);
    for (const [key, ids] of nextIds) {
      if (ids.size > 0) this.portIds.set(key, ids);
      else this.portIds.delete(key);
    }
    return ops.length;
  }

  /** Applies ops (all or nothing) and counts them. */
  private write(ops: MapOp[], compiler: Compiler): void {
    step("apply", () => this.sink.apply(ops));
    for (const op of ops) this.opts.metrics.mapOps.inc({ kind: op.kind });
    // Two Services on one frontend: the Compiler keeps it with its owner (see compiler.ts,
    // frontendOwner); the others wait, and are logged and counted here whenever that set changes.
    const denied = [...compiler.denied.keys()].sort().join(" ");
    if (denied !== this.denied) {
      if (denied !== "")
        this.opts.log.warn(
          {
            servicePorts: denied.split(" "),
            conflicts: [...compiler.denied].map(([servicePort, c]) => ({ servicePort, ...c })),
          },
          "service ports held back: another Service owns their frontend",
        );
      this.denied = denied;
      this.opts.metrics.frontendConflicts.set(compiler.denied.size);
    }
  }

  /**
   * Reads the maps back, keeps their ids, and writes whatever differs from the whole model. Writes go
   * in chunks of service ports (each chunk hitless on its own), so adopting a large cluster never
   * holds one huge all-or-nothing batch.
   */
  private fullSync(): number {
    const ports = this.state.serviceKeys().flatMap((k) => this.state.ports(k));
    const actual = step("read_back", () => tablesFromMaps(this.sink.read(), ports, this.opts.node));
    const compiler = step("read_back", () => adopt(this.opts.node, actual, this.opts.limits));
    const wanted = new Set(ports.map((p) => p.id));
    let removed = [...actual.services.keys()].filter((id) => !wanted.has(id));
    let written = 0;
    const chunks = [...chunksByRows(ports, FULL_SYNC_CHUNK_ROWS)];
    if (chunks.length === 0) chunks.push([]); // no services: the removals still need their ops
    for (const chunk of chunks) {
      const ops = step("compile", () => compiler.update(chunk, removed));
      removed = [];
      this.write(ops, compiler);
      written += ops.length;
    }
    const adopted = this.compiler === undefined;
    this.compiler = compiler;
    // Every port of the model, as incrementalSync keeps them: the compiler holds all of them, also
    // those without rows (a port waiting for a frontend another port owns), which must still be
    // removed when their Service goes.
    this.portIds = new Map();
    for (const key of this.state.serviceKeys()) {
      const ids = new Set(this.state.ports(key).map((p) => p.id));
      if (ids.size > 0) this.portIds.set(key, ids);
    }
    this.fullSyncDue = false;
    if (adopted)
      this.opts.log.info(
        { servicePorts: actual.services.size, ops: written },
        "adopted the maps: kept their ids, wrote the difference from the cluster",
      );
    else if (written > 0) {
      this.opts.log.warn({ ops: written }, "full sync repaired maps that had drifted from the model");
      this.opts.metrics.driftRepaired.inc(written);
    }
    return written;
  }

  /** Entries per map, as programmed (for the map_entries gauge). */
  entries(): Record<string, number> {
    if (!this.compiler) return {};
    const t = totals(this.compiler.tables);
    return {
      lb4_services: t.lb4_services.masters + t.lb4_services.slots,
      lb4_backends: t.lb4_backends,
      lb4_reverse_nat: t.lb4_reverse_nat,
      lb4_maglev: t.lb4_maglev.rows,
      lb4_source_range: t.lb4_source_range,
      lb6_services: t.lb6_services.masters + t.lb6_services.slots,
      lb6_backends: t.lb6_backends,
      lb6_reverse_nat: t.lb6_reverse_nat,
      lb6_maglev: t.lb6_maglev.rows,
      lb6_source_range: t.lb6_source_range,
    };
  }
}
