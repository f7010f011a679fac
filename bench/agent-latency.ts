// Network programming latency of the node agent: one EndpointSlice change among N services (10k by
// default), from the event reaching the agent to its map operations written, and from the API
// server's write to the map write. The API server is the test suite's fake (a real informer talks to
// it over loopback HTTP), so the numbers are the agent's own cost plus one local HTTP hop.
//
//   node dist/bench/agent-latency.js [--services 10000] [--changes 50] [--maglev 251]
//                                    [--datapath emulated|kernel] [--min-sync-period-ms 0]
//
// Maglev tables are M rows per service: at 10k services the default M=16381 needs 164M rows (655 MB),
// so the benchmark uses a smaller prime (maplb.io/maglev-table-size) and sizes lb4_maglev to fit.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { Agent } from "../src/agent/agent.js";
import { DatapathSink } from "../src/agent/datapath-sink.js";
import { AgentMetrics } from "../src/agent/metrics.js";
import type { MapOp } from "../src/compile/tables.js";
import { openDatapath } from "../src/datapath/open.js";
import { DEFAULT_NODE_CONFIG } from "../src/model/types.js";
import { FakeApiServer } from "../test/helpers/fake-apiserver.js";

const { values: args } = parseArgs({
  options: {
    services: { type: "string", default: "10000" },
    changes: { type: "string", default: "50" },
    maglev: { type: "string", default: "251" },
    datapath: { type: "string", default: "emulated" },
    "min-sync-period-ms": { type: "string", default: "0" },
  },
});
const SERVICES = Number(args.services);
const CHANGES = Number(args.changes);
const MAGLEV_M = Number(args.maglev);
const ENDPOINTS = 3;

/** A dotted quad from a base "a.b" network and an index below 2^16 · 2 (it may carry into b + 1). */
const quad = (a: number, b: number, n: number) => `${a}.${b + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;

/** Service i and its slice: ClusterIP in 10.96.0.0/15, endpoints in 198.18.0.0/15 (the benchmarking range). */
function objects(i: number, endpoints: number): [object, object] {
  const name = `svc-${i}`;
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "bench", annotations: { "maplb.io/maglev-table-size": String(MAGLEV_M) } },
      spec: {
        type: "ClusterIP",
        clusterIP: quad(10, 96, i),
        ports: [{ name: "http", port: 80, protocol: "TCP" }],
      },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-1`, namespace: "bench", labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: Array.from({ length: endpoints }, (_, e) => ({
        addresses: [quad(198, 18, i * 8 + e)],
        conditions: { ready: true },
      })),
    },
  ];
}

/** Records when the last apply finished, around the real sink. */
class TimedSink extends DatapathSink {
  lastApplyEnd = 0;
  override apply(ops: MapOp[]): void {
    super.apply(ops);
    this.lastApplyEnd = performance.now();
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function programmingSum(metrics: AgentMetrics): Promise<{ sum: number; count: number }> {
  const m = (await metrics.programmingLatency.get()).values;
  const pick = (suffix: string) =>
    m.find((v) => v.metricName === `maplb_network_programming_duration_seconds${suffix}`);
  return { sum: pick("_sum")?.value ?? 0, count: pick("_count")?.value ?? 0 };
}

async function main(): Promise<void> {
  const server = new FakeApiServer();
  await server.start();
  const dir = mkdtempSync(join(tmpdir(), "maplb-bench-agent-"));
  const pinDir = `/sys/fs/bpf/maplb-bench-${process.pid}`;
  const datapath = openDatapath({
    kind: args.datapath === "kernel" ? "kernel" : "emulated",
    pinDir,
    mapMax: { lb4_maglev: SERVICES * MAGLEV_M + 1024, lb4_services: 4 * SERVICES * (ENDPOINTS + 2) },
  });
  const sink = new TimedSink(datapath);
  const metrics = new AgentMetrics();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(server.writeKubeconfig(dir));
  const agent = new Agent({
    kubeConfig,
    node: { ...DEFAULT_NODE_CONFIG, nodeName: "bench" },
    sink,
    minSyncPeriodMs: Number(args["min-sync-period-ms"]),
    syncPeriodMs: 3_600_000,
    metrics,
    log: pino({ level: "warn" }),
  });
  try {
    for (let i = 0; i < SERVICES; i++) for (const o of objects(i, ENDPOINTS)) server.apply(o);
    let t = performance.now();
    agent.start();
    while (agent.health().healthy === false) await new Promise((r) => setTimeout(r, 20));
    const initial = performance.now() - t;
    process.stdout.write(
      `maplb agent programming latency — ${datapath.description}\n` +
        `${SERVICES} services × ${ENDPOINTS} endpoints, Maglev M=${MAGLEV_M}, min-sync-period ${args["min-sync-period-ms"]} ms\n` +
        `initial list + full sync: ${(initial / 1000).toFixed(2)} s\n`,
    );

    const eventToWrite: number[] = [];
    const serverToWrite: number[] = [];
    for (let c = 0; c < CHANGES; c++) {
      const i = Math.floor((c * 7919) % SERVICES); // spread over the services
      const before = await programmingSum(metrics);
      const applied = sink.lastApplyEnd;
      t = performance.now();
      server.apply(objects(i, ENDPOINTS + 1 + (c % 2))[1]); // scale the slice to 4 or 5 endpoints
      while (sink.lastApplyEnd === applied) await new Promise((r) => setImmediate(r));
      serverToWrite.push(sink.lastApplyEnd - t);
      const after = await programmingSum(metrics);
      if (after.count - before.count === 1) eventToWrite.push((after.sum - before.sum) * 1000);
      const changed = sink.lastApplyEnd;
      server.apply(objects(i, ENDPOINTS)[1]); // and back, so every change is the same size
      while (sink.lastApplyEnd === changed) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 5));
    }
    const fullSyncs = async () =>
      (await metrics.syncDuration.get()).values.find(
        (v) => v.metricName === "maplb_sync_duration_seconds_sum" && v.labels.kind === "full",
      )?.value ?? 0;
    const fullBefore = await fullSyncs();
    agent.syncer.requestFullSync();
    while ((await fullSyncs()) === fullBefore) await new Promise((r) => setTimeout(r, 10));
    const fullSyncMs = ((await fullSyncs()) - fullBefore) * 1000;

    const row = (label: string, xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return `${label.padEnd(32)} ${[0.5, 0.95, 1].map((q) => quantile(s, q).toFixed(2).padStart(8)).join(" ")}   (n=${s.length})`;
    };
    process.stdout.write(
      `${"one slice change, ms".padEnd(32)} ${["p50", "p95", "max"].map((h) => h.padStart(8)).join(" ")}\n` +
        `${row("event → map write", eventToWrite)}\n${row("API server write → map write", serverToWrite)}\n` +
        `full sync (read back ${SERVICES} services, compare, repair nothing): ${fullSyncMs.toFixed(0)} ms\n`,
    );
  } finally {
    await agent.stop();
    await server.stop();
    datapath.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(pinDir, { recursive: true, force: true });
  }
}

await main();
