// The benchmark runner with suites made for the test: a suite that fails part-way keeps the rows it
// measured, is reported as failed (not as skipped), and the others still run.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runBench, summary } from "../bench/runner.js";
import type { Cell, Result, Suite } from "../bench/types.js";

const dir = mkdtempSync(join(tmpdir(), "maplb-bench-runner-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const cell = (label: string): Cell => ({ label, services: 1, endpointsPerService: 1, estimateSeconds: 0 });
const row = (suite: string, value: number): Result => ({
  suite,
  impl: "maplb",
  services: 1,
  endpointsPerService: 1,
  traffic: "t",
  metric: "m",
  value,
  unit: "ns",
  samples: 1,
});

/** A suite of two cells; with `failAt`, the second cell throws. */
function suite(name: string, opts: { failAt?: string; skip?: string } = {}): Suite {
  return {
    name,
    title: `${name} title`,
    skipReason: () => Promise.resolve(opts.skip ?? null),
    cells: () => [cell("a"), cell("b")],
    run: (c) => {
      if (c.label === opts.failAt) return Promise.reject(new Error(`${name} broke at ${c.label}`));
      return Promise.resolve([row(name, c.label === "a" ? 1 : 2)]);
    },
  };
}

describe("bench runner", () => {
  it("keeps a failed suite's rows, names it as failed, and runs the rest", async () => {
    const out = await runBench(
      [suite("broken", { failAt: "b" }), suite("fine"), suite("absent", { skip: "no tool" })],
      {
        mode: "quick",
        datapath: "emulated",
        jsonPath: join(dir, "results.json"),
        reportDir: dir,
        command: "test",
      },
    );
    assert.deepEqual(out.failed, [{ suite: "broken", reason: "broken broke at b" }]);
    assert.deepEqual(out.skipped, [{ suite: "absent", reason: "no tool" }]);
    assert.deepEqual(
      out.results.map((r) => `${r.suite} ${r.value}`),
      ["broken 1", "fine 1", "fine 2"],
    );
    const json = JSON.parse(readFileSync(out.jsonPath, "utf8")) as { failed: unknown };
    assert.deepEqual(json.failed, out.failed);
    assert.match(summary(out), /FAILED {2}broken: broken broke at b/);
    assert.match(
      readFileSync(out.reportPath, "utf8"),
      /<h2>Failed suites<\/h2><ul><li><b>broken<\/b>: broken broke at b/,
    );
  });
});
