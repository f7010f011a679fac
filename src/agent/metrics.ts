// The agent's Prometheus metrics, in a registry of its own (tests run several agents in one process).
// Names follow kube-proxy's where the meaning is the same (sync duration, network programming latency).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Seconds, from 1 ms to about 2 minutes: programming is fast, but a backlog after an outage is not. */
const LATENCY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export type ErrorKind = "invalid_object" | "watch" | "apply" | "read_back" | "compile";
export type SyncKind = "incremental" | "full";

/** Packets per verdict (PASS, DNAT, ...) and per reason (OK, NO_BACKEND, ...). */
export interface DatapathCounters {
  verdicts: Record<string, number>;
  reasons: Record<string, number>;
}

/** Where the gauges read from at scrape time. */
export interface MetricSources {
  /** Entries per map, as the agent programmed them. */
  entries(): Record<string, number>;
  /** Max entries per map (the datapath's configured capacity). */
  capacity(): Record<string, number>;
  /** The datapath's own packet counters, cumulative. */
  datapathCounters(): DatapathCounters;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private sources: MetricSources | undefined;

  readonly syncDuration = new Histogram({
    name: "maplb_sync_duration_seconds",
    help: "Time to recompile the changed services and write their map operations (kind: incremental or full reconcile).",
    labelNames: ["kind"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly programmingLatency = new Histogram({
    name: "maplb_network_programming_duration_seconds",
    help: "From a Service/EndpointSlice event reaching the agent to its map operations being written.",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly mapOps = new Counter({
    name: "maplb_map_operations_total",
    help: "Map operations written, by kind (backend-upsert, slot-delete, ...).",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  readonly driftRepaired = new Counter({
    name: "maplb_reconcile_repaired_operations_total",
    help: "Map operations a full reconcile needed: rows that had drifted from the model (0 when the maps were right).",
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: "maplb_errors_total",
    help: "Errors by kind: invalid_object (skipped), watch (reconnecting), apply, read_back, compile.",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  readonly lastSync = new Gauge({
    name: "maplb_last_successful_sync_timestamp_seconds",
    help: "Unix time of the last sync that wrote the maps successfully.",
    registers: [this.registry],
  });

  readonly frontendConflicts = new Gauge({
    name: "maplb_frontend_conflicts",
    help: "Service ports held back because another Service's port owns one of their frontends (IP:port/proto or NodePort).",
    registers: [this.registry],
  });

  readonly objects = new Gauge({
    name: "maplb_watched_objects",
    help: "Valid objects the agent holds, by resource.",
    labelNames: ["resource"] as const,
    registers: [this.registry],
  });

  /** @param processMetrics also export Node's process metrics (CPU, memory, event loop lag). */
  constructor(processMetrics = false) {
    // collect() runs with `this` bound to the metric, so the sources are reached through a closure.
    const sources = () => this.sources;
    new Gauge({
      name: "maplb_map_entries",
      help: "Entries the agent has programmed, per map.",
      labelNames: ["map"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [map, n] of Object.entries(sources()?.entries() ?? {})) this.set({ map }, n);
      },
    });
    new Gauge({
      name: "maplb_map_capacity",
      help: "Max entries per map (raise with --map-max when entries come close).",
      labelNames: ["map"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [map, n] of Object.entries(sources()?.capacity() ?? {})) this.set({ map }, n);
      },
    });
    new Counter({
      name: "maplb_datapath_verdicts_total",
      help: "Packets the datapath handled, per verdict.",
      labelNames: ["verdict"] as const,
      registers: [this.registry],
      collect() {
        this.reset(); // the datapath keeps the running totals: publish them as they are
        for (const [verdict, n] of Object.entries(sources()?.datapathCounters().verdicts ?? {}))
          this.inc({ verdict }, n);
      },
    });
    new Counter({
      name: "maplb_datapath_reasons_total",
      help: "Packets the datapath handled, per reason (OK, or why it dropped or passed one).",
      labelNames: ["reason"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(sources()?.datapathCounters().reasons ?? {}))
          this.inc({ reason }, n);
      },
    });
    if (processMetrics) collectDefaultMetrics({ register: this.registry, prefix: "maplb_" });
  }

  setSources(sources: MetricSources): void {
    this.sources = sources;
  }
}
