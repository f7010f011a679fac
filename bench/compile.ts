// Control-plane speed. First `maplb compile -f` end to end on generated YAML (compile-e2e.ts), for
// the two cases with targets: 10k Services × 100k endpoints within 5 s, 100k Services within 10 s,
// with peak RSS. Then the model-level grid: a full compile, and the incremental update + diff for one
// changed EndpointSlice, at 1k, 10k and 100k service ports × 10 endpoints.
// Run: npm run bench:compile [-- --only e2e|grid] [--runs N] (after a build). Progress goes to
// stderr, the tables to stdout. Times are medians of several runs.
//
// Memory decides the grid: a Maglev table costs 4·M bytes per backend set, so 100k services at
// Cilium's M = 16381 would need 6.5 GB of rows. Maglev rows at M = 16381 stop at 10k; the large
// rows use M = 251 (a small prime) or the random algorithm (no rows at all).
//
// 100k services need more than 65535 rev-NAT ids (Cilium's u16 would cap a node there), so the grid
// sets the allocator's limit itself (LIMITS): the work per service port does not depend on it.
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { Compiler, compile } from "../src/compile/compiler.js";
import { diff } from "../src/compile/diff.js";
import type { LbAlgorithm, NodeConfig, ServicePort } from "../src/model/types.js";
import { DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_NODE_CONFIG } from "../src/model/types.js";
import { byEndpointString } from "../src/model/endpoints.js";
import { newServicePort } from "../src/model/service-port.js";
import { intToIpv4, ipv4ToInt } from "../src/util/ip.js";
import { endToEnd } from "./compile-e2e.js";
import { fmt, formatTable } from "./table.js";
import { median } from "./types.js";

const ENDPOINTS_PER_SERVICE = 10;
const NODE: NodeConfig = { ...DEFAULT_NODE_CONFIG, nodeName: "node-0", nodeIPs: ["192.0.2.10"] };
const CLUSTER_IP_BASE = ipv4ToInt("10.96.0.0");
const POD_IP_BASE = ipv4ToInt("10.128.0.0");

interface Row {
  services: number;
  algorithm: LbAlgorithm;
  m: number;
  fullRuns: number;
}

const GRID: Row[] = [
  { services: 1_000, algorithm: "maglev", m: 16381, fullRuns: 5 },
  { services: 10_000, algorithm: "maglev", m: 16381, fullRuns: 3 },
  { services: 1_000, algorithm: "maglev", m: 251, fullRuns: 5 },
  { services: 10_000, algorithm: "maglev", m: 251, fullRuns: 5 },
  { services: 100_000, algorithm: "maglev", m: 251, fullRuns: 3 },
  { services: 1_000, algorithm: "random", m: 0, fullRuns: 5 },
  { services: 10_000, algorithm: "random", m: 0, fullRuns: 5 },
  { services: 100_000, algorithm: "random", m: 0, fullRuns: 3 },
];
const INCREMENTAL_RUNS = 51;
const LIMITS = { maxRevNatId: 0xffffffff };

/** Service port i: a ClusterIP (every 10th of the first 27680 also a NodePort) with 10 pods spread over 3 nodes. */
function syntheticPort(i: number, row: Row, generation = 0): ServicePort {
  const name = `svc-${i}`;
  const endpoints = Array.from({ length: ENDPOINTS_PER_SERVICE }, (_, j) => ({
    // `generation` replaces the last pod, as a rollout would: one EndpointSlice changes.
    ip: intToIpv4(POD_IP_BASE + i * 64 + (j === ENDPOINTS_PER_SERVICE - 1 ? j + generation : j)),
    port: 8080,
    nodeName: `node-${j % 3}`,
    zone: null,
    ready: true,
    serving: true,
    terminating: false,
    targetName: null,
  })).sort(byEndpointString);
  // Every 10th port is also a NodePort, while the 2768 ports of 30000-32767 last.
  const nodePort = i % 10 === 0 && i < 27680 ? 30000 + i / 10 : 0;
  return newServicePort(
    {
      namespace: "bench",
      name,
      portName: "http",
      protocol: "TCP",
      port: 80,
      clusterIP: intToIpv4(CLUSTER_IP_BASE + i + 1),
      endpoints,
    },
    {
      type: nodePort ? "NodePort" : "ClusterIP",
      nodePort,
      algorithm: row.algorithm,
      maglevTableSize: row.algorithm === "maglev" ? row.m : DEFAULT_MAGLEV_TABLE_SIZE,
    },
  );
}

function time(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

function progress(msg: string): void {
  process.stderr.write(`bench:compile ${msg}\n`);
}

function runRow(row: Row, label: string): string[] {
  const ports = Array.from({ length: row.services }, (_, i) => syntheticPort(i, row));
  const model = { ports };

  // (a) Full compile from nothing.
  const full: number[] = [];
  let tables = compile(model, NODE, undefined, LIMITS);
  for (let r = 0; r < row.fullRuns; r++) {
    progress(`${label}: full compile ${r + 1}/${row.fullRuns}`);
    full.push(time(() => (tables = compile(model, NODE, undefined, LIMITS))));
  }

  // (b) The node agent's path: one EndpointSlice changed → Compiler.update for its port → MapOps.
  progress(`${label}: ${INCREMENTAL_RUNS} incremental updates`);
  const compiler = new Compiler(NODE, tables, LIMITS);
  const incremental: number[] = [];
  let opsPerUpdate = 0;
  for (let r = 1; r <= INCREMENTAL_RUNS; r++) {
    const changed = syntheticPort((r * 7919) % row.services, row, r);
    incremental.push(
      time(() => {
        opsPerUpdate = compiler.update([changed], []).length;
      }),
    );
  }

  // (c) For comparison: diff(prev, next) over the whole table after a full recompile with one
  // change; unchanged service ports are the same objects, so the diff skips them in O(1) each.
  progress(`${label}: whole-table diff with one change`);
  const changedModel = { ports: ports.map((p, i) => (i === 1 ? syntheticPort(i, row, 1) : p)) };
  const next = compile(changedModel, NODE, tables, LIMITS);
  const wholeDiff = median([0, 1, 2].map(() => time(() => diff(tables, next))));

  const maglev = row.algorithm === "maglev" ? `maglev M=${row.m}` : "random (no Maglev rows)";
  const rowsMiB = row.algorithm === "maglev" ? (4 * row.m * row.services) / 2 ** 20 : 0;
  return [
    String(row.services),
    String(ENDPOINTS_PER_SERVICE),
    maglev,
    rowsMiB ? `${fmt(rowsMiB)} MiB` : "0",
    `${fmt(median(full))} ms`,
    `${fmt(median(incremental))} ms`,
    String(opsPerUpdate),
    `${fmt(wholeDiff)} ms`,
  ];
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function main(): void {
  const only = option("--only");
  const runs = Number(option("--runs") ?? 3);
  const machine = `node ${process.version}, ${cpus().length} CPUs`;
  if (only !== "grid") {
    const table = endToEnd(runs, progress);
    process.stdout.write(
      `maplb compile end to end (read, parse, validate, model, compile, render; no output written), ` +
        `${machine}, load average ${loadavg()[0]!.toFixed(1)} at the end\n` +
        `median of ${runs} runs, each a fresh process; peak RSS is the largest of the runs\n\n${table}\n\n`,
    );
  }
  if (only !== "e2e") grid(machine);
}

function grid(machine: string): void {
  const rows: string[][] = [];
  GRID.forEach((row, i) => {
    const label = `[${i + 1}/${GRID.length}] ${row.services} services, ${row.algorithm}${row.m ? ` M=${row.m}` : ""}`;
    progress(`${label}: building the model`);
    rows.push(runRow(row, label));
  });
  process.stdout.write(
    `maplb compile benchmark: service ports × ${ENDPOINTS_PER_SERVICE} endpoints (every 10th of the first 27680 also a NodePort), ` +
      `${machine}, load average ${loadavg()[0]!.toFixed(1)} at the end\n` +
      `full compile: median of 3-5 runs; update+diff: median of ${INCREMENTAL_RUNS} Compiler.update() calls, ` +
      `each for one changed EndpointSlice (one pod replaced)\n` +
      `rev-NAT ids allowed up to 2^32-1 (a u16, as in Cilium, would stop at 65535 frontends: below 100k services)\n\n` +
      formatTable(
        [
          "services",
          "eps/svc",
          "algorithm",
          "Maglev rows",
          "full compile",
          "update+diff (1 slice)",
          "ops",
          "whole-table diff (1 change)",
        ],
        rows,
      ) +
      "\n",
  );
}

main();
