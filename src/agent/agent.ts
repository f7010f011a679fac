// The node agent: follows the API server (ClusterWatch), keeps the valid objects (ClusterState), and
// writes each change into the maps (Syncer). It starts writing only once both resources are listed,
// so its first sync sees the whole cluster: that sync adopts whatever maps are already there.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { CompilerLimits } from "../compile/compiler.js";
import type { NodeConfig } from "../model/types.js";
import type { BackoffOptions } from "./backoff.js";
import { ClusterState } from "./cluster-state.js";
import { ClusterWatch, type WatchEvent } from "./cluster-watch.js";
import { AgentMetrics, type DatapathCounters } from "./metrics.js";
import { type Health, type HealthLimits, type MapSink, Syncer } from "./syncer.js";

/** /healthz fails once the API server has not answered for this long (--api-unreachable-window). */
export const DEFAULT_API_UNREACHABLE_WINDOW_MS = 60_000;

/** What the agent reads from the datapath besides the maps: capacity and counters, for /metrics. */
export interface DatapathGauges {
  capacity(): Record<string, number>;
  counters(): DatapathCounters;
}

export interface AgentOptions {
  kubeConfig: KubeConfig;
  node: NodeConfig;
  sink: MapSink;
  gauges?: DatapathGauges;
  minSyncPeriodMs: number;
  syncPeriodMs: number;
  /** When /healthz fails (default: no sync for twice the sync period, or a change waiting 60 s). */
  health?: HealthLimits;
  /**
   * When /healthz fails because the API server does not answer (default 60 s). The maps keep
   * working from the cache meanwhile, but they no longer follow the cluster.
   */
  apiUnreachableWindowMs?: number;
  limits?: CompilerLimits;
  metrics?: AgentMetrics;
  log: Logger;
  /** Reconnect delays for the watch (and retry delays for failed syncs). */
  backoff?: BackoffOptions;
}

export class Agent {
  readonly metrics: AgentMetrics;
  readonly state: ClusterState;
  readonly syncer: Syncer;
  private readonly watch: ClusterWatch;
  private readonly healthLimits: HealthLimits;
  /** The last watch failure, for /healthz while the first lists have not come through. */
  private lastWatchError: string | undefined;
  /** stop() was called: a list that completes afterwards must not start the syncer again. */
  private stopped = false;

  constructor(private readonly opts: AgentOptions) {
    this.metrics = opts.metrics ?? new AgentMetrics();
    // The model builder logs every IPv6 slice it skips, on every rebuild of its Service: too chatty
    // for a long-running agent, so it gets a quieter logger.
    this.state = new ClusterState(opts.log.child({}, { level: "warn" }));
    this.syncer = new Syncer(this.state, opts.sink, {
      node: opts.node,
      minSyncPeriodMs: opts.minSyncPeriodMs,
      syncPeriodMs: opts.syncPeriodMs,
      metrics: this.metrics,
      log: opts.log,
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.backoff ? { retry: opts.backoff } : {}),
    });
    this.healthLimits = opts.health ?? {
      syncedWithinMs: 2 * opts.syncPeriodMs,
      pendingWithinMs: Math.max(60_000, 2 * opts.minSyncPeriodMs),
    };
    this.metrics.setSources({
      entries: () => this.syncer.entries(),
      capacity: () => opts.gauges?.capacity() ?? {},
      datapathCounters: () => opts.gauges?.counters() ?? { verdicts: {}, reasons: {} },
    });
    this.watch = new ClusterWatch(
      opts.kubeConfig,
      {
        onEvent: (e) => this.onEvent(e),
        onListed: () => {
          if (this.watch.listed && !this.stopped) this.syncer.start();
        },
        onError: (resource, err) => {
          this.metrics.errors.inc({ kind: "watch" });
          this.lastWatchError = `${resource}: ${err instanceof Error ? err.message : String(err)}`;
        },
      },
      opts.log,
      opts.backoff,
    );
  }

  start(): void {
    this.opts.log.info(
      { node: this.opts.node.nodeName },
      "agent starting: listing Services and EndpointSlices",
    );
    this.watch.start();
  }

  /** Stops watching and syncing. The maps (and an attached program) stay as they are. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.syncer.stop();
    await this.watch.stop();
  }

  /**
   * Healthy once listed, while the API server answers (or has not been silent longer than the
   * window), and while the syncer keeps the maps up to date.
   */
  health(): Health {
    if (!this.watch.listed)
      return {
        healthy: false,
        reason: `listing Services and EndpointSlices: ${this.lastWatchError ?? "in progress"}`,
      };
    const down = this.watch.unreachableForMs();
    if (down > (this.opts.apiUnreachableWindowMs ?? DEFAULT_API_UNREACHABLE_WINDOW_MS))
      return {
        healthy: false,
        reason: `API server unreachable for ${(down / 1000).toFixed(1)}s: ${this.lastWatchError ?? "no answer"}`,
      };
    return this.syncer.health(this.healthLimits);
  }

  private onEvent(e: WatchEvent): void {
    const { services, issues } = this.state.apply(e);
    if (issues.length > 0) this.metrics.errors.inc({ kind: "invalid_object" });
    const size = this.state.size;
    this.metrics.objects.set({ resource: "services" }, size.services);
    this.metrics.objects.set({ resource: "endpointslices" }, size.slices);
    if (services.length > 0) this.syncer.changed(services, e.receivedAt);
  }
}
