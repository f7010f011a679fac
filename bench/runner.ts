// Runs the chosen suites one after another in this process, prints each suite's table as it
// finishes, and writes the JSON results and the HTML report.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describeMachine, type Machine } from "./machine.js";
import { Progress } from "./progress.js";
import { resultsMarkdown } from "./markdown.js";
import { renderReport } from "./report.js";
import { formatTable, resultsTable } from "./table.js";
import type { Cell, Mode, Result, Suite, SuiteContext, Target } from "./types.js";

export interface BenchOptions {
  mode: Mode;
  datapath: "kernel" | "emulated";
  /** Default: bench/results/<timestamp>/results.json */
  jsonPath?: string;
  /** Default: bench/results/<timestamp>/ */
  reportDir?: string;
  command: string;
}

export interface BenchOutput {
  machine: Machine;
  startedAt: string;
  mode: Mode;
  datapath: string;
  results: Result[];
  /** Suites whose requirements are missing here: not run. */
  skipped: { suite: string; reason: string }[];
  /** Suites that threw part-way: what they measured before is kept; the command exits 1. */
  failed: { suite: string; reason: string }[];
  targets: Target[];
  jsonPath: string;
  reportPath: string;
}

export async function runBench(suites: Suite[], opts: BenchOptions): Promise<BenchOutput> {
  const startedAt = new Date().toISOString();
  const stamp = startedAt.replace(/[:.]/g, "-");
  const reportDir = resolve(opts.reportDir ?? join("bench", "results", stamp));
  const jsonPath = resolve(opts.jsonPath ?? join(reportDir, "results.json"));
  const results: Result[] = [];
  const skipped: { suite: string; reason: string }[] = [];
  const failed: { suite: string; reason: string }[] = [];
  const targets: Target[] = [];

  // Decide what runs first, so the time-left estimate covers exactly the cells that will run.
  const baseCtx = (tick: (f: number) => void): SuiteContext => ({
    mode: opts.mode,
    datapath: opts.datapath,
    tick,
  });
  const runnable: { suite: Suite; cells: Cell[] }[] = [];
  for (const suite of suites) {
    const reason = await suite.skipReason(baseCtx(() => {}));
    if (reason) skipped.push({ suite: suite.name, reason });
    else runnable.push({ suite, cells: suite.cells(opts.mode) });
  }
  const progress = new Progress(runnable.flatMap((r) => r.cells));
  for (const s of skipped) progress.print(`\n== ${s.suite}: SKIPPED: ${s.reason}`);
  const ctx = baseCtx((f) => progress.tick(f));

  try {
    for (const { suite, cells } of runnable) {
      const own: Result[] = [];
      const began = Date.now();
      try {
        await suite.setup?.(ctx);
        for (const [i, cell] of cells.entries()) {
          progress.startCell(suite.name, cell, i, cells.length);
          own.push(...(await suite.run(cell, ctx)));
          progress.endCell();
        }
      } catch (err) {
        failed.push({ suite: suite.name, reason: (err as Error).message });
        progress.print(`\n== ${suite.name}: FAILED: ${(err as Error).message}`);
      } finally {
        await suite.teardown?.();
      }
      results.push(...own);
      const checked = suite.targets?.(own) ?? [];
      targets.push(...checked);
      const took = `(${((Date.now() - began) / 1000).toFixed(0)} s)`;
      if (own.length > 0) progress.print(`\n== ${suite.title} ${took}\n${resultsTable(own)}`);
      if (checked.length > 0) progress.print(targetsTable(checked));
    }
  } finally {
    progress.stop();
  }

  const out = {
    machine: describeMachine(),
    startedAt,
    mode: opts.mode,
    datapath: opts.datapath,
    results,
    skipped,
    failed,
    targets,
  };
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(out, null, 2)}\n`);
  mkdirSync(reportDir, { recursive: true });
  const reportPath = join(reportDir, "report.html");
  const suiteTitles = Object.fromEntries(suites.map((s) => [s.name, s.title]));
  writeFileSync(reportPath, renderReport({ ...out, command: opts.command, suiteTitles }));
  const m = out.machine;
  const header = `\`${opts.command}\` (${out.mode}, datapath ${out.datapath}) on ${m.cpu}, ${m.cores} cores, kernel ${m.kernel}, Node ${m.node}, ${startedAt}. Medians.`;
  writeFileSync(join(reportDir, "results.md"), resultsMarkdown(results, targets, header));
  return { ...out, jsonPath, reportPath };
}

export function targetsTable(targets: Target[]): string {
  return formatTable(
    ["target", "measured", "status"],
    targets.map((t) => [t.target, t.measured, t.met ? "met" : "MISSED"]),
  );
}

/** The closing summary: headline ratios and the paths of the files written. */
export function summary(out: BenchOutput): string {
  const lines = [
    "",
    `== summary (${out.mode}, datapath ${out.datapath}, ${out.machine.cores} cores, kernel ${out.machine.kernel})`,
  ];
  for (const t of out.targets) lines.push(`  ${t.met ? "met   " : "MISSED"}  ${t.target}: ${t.measured}`);
  for (const s of out.failed) lines.push(`  FAILED  ${s.suite}: ${s.reason}`);
  for (const s of out.skipped) lines.push(`  skipped ${s.suite}: ${s.reason}`);
  lines.push(
    `  results: ${out.jsonPath}`,
    `  report:  ${out.reportPath}`,
    `  tables:  ${join(dirname(out.reportPath), "results.md")}`,
  );
  return lines.join("\n");
}
