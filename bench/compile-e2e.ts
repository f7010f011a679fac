// `maplb compile -f` end to end, as a user runs it at scale: read + parse + validate + model build +
// compile + render, on generated manifests. Each run is a fresh child process (this file with --run),
// so its timings are not helped by an earlier run's JIT and its peak RSS is its own.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { compile } from "../src/compile/compiler.js";
import { tablesText } from "../src/compile/render.js";
import { readModel } from "../src/k8s/read.js";
import { DEFAULT_NODE_CONFIG } from "../src/model/types.js";
import { fmt, formatTable } from "./table.js";
import { median } from "./types.js";

export interface E2eCase {
  label: string;
  services: number;
  endpointsPerService: number;
  /** Maglev M as the maplb.io/maglev-table-size annotation; null: the default (16381). */
  maglevM: number | null;
  /** MiB of Pod documents in the same file, which maplb ignores: they should cost little. */
  ignoredPodsMiB?: number;
  targetMs: number | null;
}

export const E2E_CASES: E2eCase[] = [
  {
    label: "10k Services × 10 endpoints (100k), Maglev M=16381 (default)",
    services: 10_000,
    endpointsPerService: 10,
    maglevM: null,
    targetMs: 5_000,
  },
  // 100k tables at M=16381 would be 6.5 GB of rows (and lb4_maglev holds 64 such tables by default):
  // a cluster this size runs a small M or the random algorithm.
  {
    label: "100k Services × 1 endpoint, Maglev M=251",
    services: 100_000,
    endpointsPerService: 1,
    maglevM: 251,
    targetMs: 10_000,
  },
  // The report: 50 MB of Pods beside the Services took 126 s, all of it in parsing them.
  {
    label: "50 MiB of Pods (ignored) + 1 Service × 10 endpoints",
    services: 1,
    endpointsPerService: 10,
    maglevM: null,
    ignoredPodsMiB: 50,
    targetMs: null,
  },
];

/** A Pod as `kubectl get pod -o yaml` shows it, trimmed: a kind maplb ignores. */
function podText(i: number): string {
  return (
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-${i}\n  namespace: bench\n  labels: {app: web}\n` +
    `spec:\n  nodeName: node-${i % 3}\n  containers:\n  - name: web\n    image: nginx:1.27\n    ports:\n` +
    `    - containerPort: 8080\n    env:\n    - name: MODE\n      value: production\n` +
    `    resources:\n      limits: {cpu: 500m, memory: 128Mi}\nstatus:\n  podIP: 10.${ip(128, i)}\n`
  );
}

const ip = (base: number, i: number): string => `${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

/** Service i and its EndpointSlice, as `kubectl get -o yaml` would list them (one document each). */
function manifestText(c: E2eCase): string {
  const docs: string[] = [];
  const annotations =
    c.maglevM === null ? "" : `  annotations:\n    maplb.io/maglev-table-size: "${c.maglevM}"\n`;
  for (let i = 0; i < c.services; i++) {
    const endpoints = Array.from({ length: c.endpointsPerService }, (_, j) => {
      const k = i * c.endpointsPerService + j;
      return `- addresses: ["10.${ip(128, k)}"]\n  conditions: {ready: true}\n  nodeName: node-${j % 3}\n`;
    });
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-${i}\n  namespace: bench\n${annotations}` +
        `spec:\n  type: ClusterIP\n  clusterIP: 10.${ip(96, i)}\n  ports:\n  - name: http\n    port: 80\n` +
        `    targetPort: 8080\n    protocol: TCP\n`,
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc-${i}-abc\n` +
        `  namespace: bench\n  labels:\n    kubernetes.io/service-name: svc-${i}\naddressType: IPv4\n` +
        `ports:\n- name: http\n  port: 8080\n  protocol: TCP\nendpoints:\n${endpoints.join("")}`,
    );
  }
  for (let i = 0, bytes = 0; bytes < (c.ignoredPodsMiB ?? 0) * 2 ** 20; i++) {
    docs.push(podText(i));
    bytes += docs[docs.length - 1]!.length + 4;
  }
  return docs.join("---\n");
}

interface RunResult {
  readMs: number;
  compileMs: number;
  renderMs: number;
  totalMs: number;
  /** CPU time of the whole run: on a shared machine, closer than wall time to what an idle one takes. */
  cpuMs: number;
  maxRssMiB: number;
}

/** One run, in this (child) process: what `maplb compile -f FILE` does, timed by stage. */
function runOnce(file: string): RunResult {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const model = readModel([file], { input: { maxBytes: 2 ** 30, timeoutMs: 30_000 } });
  const t1 = performance.now();
  const tables = compile(model, { ...DEFAULT_NODE_CONFIG, nodeName: "node-0" });
  const t2 = performance.now();
  const text = tablesText(tables, model.ports);
  const t3 = performance.now();
  if (text.length === 0) throw new Error("empty output");
  const cpu = process.cpuUsage(cpu0);
  return {
    readMs: t1 - t0,
    compileMs: t2 - t1,
    renderMs: t3 - t2,
    totalMs: t3 - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

/** Runs every case `runs` times in child processes; returns the table to print. */
export function endToEnd(runs: number, progress: (msg: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), `maplb-bench-e2e-${process.pid}-`));
  const rows: string[][] = [];
  try {
    for (const c of E2E_CASES) {
      const file = join(dir, `${c.services}.yaml`);
      const text = manifestText(c);
      writeFileSync(file, text);
      const results: RunResult[] = [];
      for (let r = 1; r <= runs; r++) {
        progress(`end to end, ${c.label}: run ${r}/${runs}`);
        const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--run", file], {
          encoding: "utf8",
          maxBuffer: 2 ** 20,
        });
        if (child.status !== 0) throw new Error(`bench child failed: ${child.stderr}`);
        results.push(JSON.parse(child.stdout) as RunResult);
      }
      const med = (k: keyof RunResult) => median(results.map((x) => x[k]));
      const total = med("totalMs");
      rows.push([
        c.label,
        `${fmt(text.length / 2 ** 20)} MiB`,
        `${fmt(med("readMs"))} ms`,
        `${fmt(med("compileMs"))} ms`,
        `${fmt(med("renderMs"))} ms`,
        `${fmt(total)} ms`,
        `${fmt(med("cpuMs"))} ms`,
        `${fmt(Math.max(...results.map((x) => x.maxRssMiB)))} MiB`,
        c.targetMs === null ? "-" : `${fmt(c.targetMs / 1000)} s: ${total <= c.targetMs ? "met" : "MISSED"}`,
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return formatTable(
    [
      "case (YAML input)",
      "input",
      "read+parse+model",
      "compile",
      "render",
      "total",
      "CPU",
      "peak RSS",
      "target (total)",
    ],
    rows,
  );
}

if (process.argv[2] === "--run") process.stdout.write(JSON.stringify(runOnce(process.argv[3]!)));
