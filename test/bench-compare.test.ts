// `maplb bench compare`: two small hand-written results files, and the comparison worked out by hand.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Comparison } from "../bench/compare.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), `maplb-compare-${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));

function maplb(args: string[]) {
  const r = spawnSync(process.execPath, [MAPLB, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, data: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof data === "string" ? data : JSON.stringify(data));
  return path;
}

const row = (impl: string, traffic: string, value: number, extra: object = {}) => ({
  suite: "datapath-emulated",
  impl,
  services: 10,
  endpointsPerService: 1,
  traffic,
  metric: "ns_per_packet",
  value,
  unit: "ns",
  samples: 4,
  ...extra,
});
const ffi = (batch: number, failed: number, value: number) => ({
  ...row("koffi", "same frames", value, { params: { batch, failed } }),
  suite: "ffi",
  services: 0,
  endpointsPerService: 0,
  samples: 1,
});

const A = {
  startedAt: "2026-01-01T00:00:00Z",
  results: [
    row("maplb", "new", 100, { spread: { p25: 90, p75: 110 } }),
    row("maplb", "established", 100, { spread: { p25: 90, p75: 110 } }),
    row("kube-proxy-chain-eval", "new", 80), // no spread: no band
    row("maplb", "uniform/new", 0, { spread: { p25: 0, p75: 0 } }),
    ffi(1, 0, 500),
    ffi(64, 0, 90),
    row("maplb", "gone", 1),
  ],
  targets: [
    { suite: "datapath-emulated", target: "t1", measured: "1.1×", met: true },
    { suite: "datapath-emulated", target: "t2", measured: "3×", met: false },
  ],
};
const B = {
  results: [
    row("maplb", "new", 150, { spread: { p25: 140, p75: 160 } }),
    row("maplb", "established", 105, { spread: { p25: 95, p75: 115 } }),
    row("kube-proxy-chain-eval", "new", 40),
    row("maplb", "uniform/new", 2, { spread: { p25: 1, p75: 3 } }),
    // "failed" differs in B only: a measurement, not a coordinate, so batch alone matches the rows.
    ffi(64, 0, 45),
    ffi(1, 3, 500),
    row("maplb", "added", 1),
  ],
  targets: [
    { suite: "datapath-emulated", target: "t1", measured: "1.6×", met: false },
    { suite: "datapath-emulated", target: "t2", measured: "2×", met: false },
  ],
};

describe("maplb bench compare", () => {
  const a = file("a.json", A);
  const b = file("b.json", B);

  it("gives every matched figure's ratio, noise band and verdict (worked by hand)", () => {
    const r = maplb(["bench", "compare", a, b, "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout) as Comparison;
    const at = (impl: string, traffic: string, batch?: number) =>
      c.figures.find(
        (f) =>
          f.impl === impl && f.traffic === traffic && (batch === undefined || f.coordinates.batch === batch),
      )!;
    // Relative standard errors: 0.92906 × IQR / √n / value. new: A 0.92906×20/2/100 = 0.092906,
    // B 0.92906×20/2/150 = 0.061937; half-width 2×√(0.092906² + 0.061937²) = 0.22332.
    const fresh = at("maplb", "new");
    assert.equal(fresh.ratio, 1.5);
    assert.ok(Math.abs(fresh.band![0] - 0.77668) < 1e-4 && Math.abs(fresh.band![1] - 1.22332) < 1e-4);
    assert.equal(fresh.verdict, "up");
    // established: A 0.092906, B 0.92906×20/2/105 = 0.088482; half 2×0.12830 = 0.25660; 1.05 is within.
    const est = at("maplb", "established");
    assert.equal(est.ratio, 1.05);
    assert.ok(Math.abs(est.band![1] - 1.2566) < 1e-3, String(est.band));
    assert.equal(est.verdict, "within");
    // Half the time, but A recorded no spread: shown, not judged.
    const ce = at("kube-proxy-chain-eval", "new");
    assert.equal(ce.ratio, 0.5);
    assert.equal(ce.band, null);
    assert.equal(ce.verdict, "no band");
    // From 0 to 2: no ratio, and no band contains it.
    const zero = at("maplb", "uniform/new");
    assert.equal(zero.ratio, null);
    assert.equal(zero.verdict, "up");
    // The ffi rows match by batch, whatever their order and their "failed" count.
    assert.deepEqual(at("koffi", "same frames", 64).coordinates, { batch: 64 });
    assert.equal(at("koffi", "same frames", 64).ratio, 0.5);
    assert.equal(at("koffi", "same frames", 1).ratio, 1);
    assert.equal(c.figures.length, 6);
    assert.deepEqual(c.onlyInA, ["datapath-emulated/maplb/ns_per_packet/gone S=10 E=1"]);
    assert.deepEqual(c.onlyInB, ["datapath-emulated/maplb/ns_per_packet/added S=10 E=1"]);
    assert.deepEqual(
      c.targets.map((t) => [t.target, t.a?.met, t.b?.met]),
      [
        ["t1", true, false],
        ["t2", false, false],
      ],
    );
  });

  it("prints a table that marks the figures outside the band and the targets that changed", () => {
    const r = maplb(["bench", "compare", a, b]);
    assert.equal(r.code, 0, r.stderr);
    const line = (traffic: string) => r.stdout.split("\n").find((l) => l.includes(` ${traffic} `))!;
    assert.match(line("new"), /1\.500×\s+0\.777–1\.223\s+UP \*$/);
    assert.match(line("established"), /1\.050×\s+0\.743–1\.257\s+within$/);
    assert.match(r.stdout, /6 figures in both; 2 outside the noise band/);
    assert.match(r.stdout, /only in A: 1\n {2}datapath-emulated\/maplb\/ns_per_packet\/gone/);
    assert.match(r.stdout, /t1: met \(1\.1×\) → MISSED \(1\.6×\)/);
    assert.doesNotMatch(r.stdout, /t2: /);
  });

  it("a wider band (-k 10) takes the 1.5× change in", () => {
    const r = maplb(["bench", "compare", a, b, "--band", "10", "-o", "json"]);
    const c = JSON.parse(r.stdout) as Comparison;
    assert.equal(c.figures.find((f) => f.traffic === "new" && f.impl === "maplb")!.verdict, "within");
  });

  it("matches an IPv6 figure with the IPv6 figure of the same impl, never with the IPv4 one", () => {
    const v6 = (value: number) => row("maplb", "new", value, { family: "IPv6" });
    const r = maplb([
      "bench",
      "compare",
      file("a6.json", { results: [row("maplb", "new", 100), v6(120)] }),
      file("b6.json", { results: [v6(180), row("maplb", "new", 110)] }),
      "-o",
      "json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout) as Comparison;
    assert.deepEqual(
      c.figures.map((f) => [f.impl, f.a, f.b]),
      [
        ["maplb", 100, 110],
        ["maplb (IPv6)", 120, 180],
      ],
    );
    assert.deepEqual([c.onlyInA, c.onlyInB], [[], []]);
  });

  it("names the file and the field of bad input, exit 2", () => {
    const cases: [string, unknown, RegExp][] = [
      ["notjson.json", "{", /notjson\.json: not JSON/],
      ["noresults.json", { targets: [] }, /noresults\.json: results: must be an array/],
      [
        "badvalue.json",
        { results: [row("maplb", "new", 1), { ...row("maplb", "x", 1), value: "12 ms" }] },
        /badvalue\.json: results\[1\]\.value: must be a finite number \(got "12 ms"\)/,
      ],
      [
        "badspread.json",
        { results: [row("maplb", "new", 1, { spread: { p25: 5, p75: 1 } })] },
        /badspread\.json: results\[0\]\.spread: p75 is below p25/,
      ],
      [
        "badfamily.json",
        { results: [row("maplb", "new", 1, { family: "ipv6" })] },
        /badfamily\.json: results\[0\]\.family: must be IPv4 or IPv6 \(got "ipv6"\)/,
      ],
      [
        "badtarget.json",
        { results: [], targets: [{ suite: "s", target: "t", measured: "1", met: "yes" }] },
        /badtarget\.json: targets\[0\]\.met: must be true or false/,
      ],
    ];
    for (const [name, data, message] of cases) {
      const r = maplb(["bench", "compare", a, file(name, data)]);
      assert.equal(r.code, 2, name);
      assert.match(r.stderr, message);
    }
    const missing = maplb(["bench", "compare", join(dir, "absent.json"), b]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /absent\.json: cannot read: ENOENT/);
  });
});
