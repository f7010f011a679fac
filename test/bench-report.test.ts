// The HTML report opens offline in a real headless Chromium, draws its charts with data, and logs no
// console errors. A screenshot is saved for a person to look at (dist/test-artifacts/report.png).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { chromium } from "playwright-core";
import { chartSpecs, renderReport } from "../bench/report.js";
import type { Result } from "../bench/types.js";
import { skipOrFail } from "./helpers/require-kernel.js";

const CHROMIUM = "/usr/bin/chromium";
/** A drawn chart has coloured pixels: count the non-white ones on the first canvas. */
const INKED_PIXELS_OF_FIRST_CANVAS = `(() => {
  const c = document.querySelector("canvas");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) n++;
  return n;
})()`;
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url).pathname;

// Two implementations over a services sweep and an endpoints sweep, like the datapath suite's grid.
function sampleResults(): Result[] {
  const rows: Result[] = [];
  const add = (impl: string, services: number, eps: number, value: number) =>
    rows.push({
      suite: "datapath-emulated",
      impl,
      services,
      endpointsPerService: eps,
      traffic: "worst-case",
      metric: "ns_per_packet",
      value,
      unit: "ns",
      samples: 5,
    });
  for (const s of [10, 100, 1000, 10000]) {
    add("maplb", s, 10, 40 + Math.log10(s));
    add("kube-proxy-chain-eval", s, 10, 3 * s);
  }
  for (const e of [1, 100, 1000]) {
    add("maplb", 1000, e, 41);
    add("kube-proxy-chain-eval", 1000, e, 3000 + e);
  }
  return rows;
}

describe("HTML report", () => {
  it("makes one services chart and one endpoints chart per metric", () => {
    const specs = chartSpecs(sampleResults());
    assert.equal(specs.length, 2);
    assert.deepEqual(
      specs.map((s) => s.series.map((x) => x.label).sort()),
      [
        ["kube-proxy-chain-eval", "maplb"],
        ["kube-proxy-chain-eval", "maplb"],
      ],
    );
    assert.deepEqual(
      specs[0]!.series.find((x) => x.label === "maplb")!.points.map((p) => p.x),
      [10, 100, 1000, 10000],
    );
  });

  it("renders in headless Chromium with data and no console errors", async (t) => {
    if (!existsSync(CHROMIUM))
      return skipOrFail(t, `needs ${CHROMIUM} (Debian package chromium; npm run setup installs it)`);
    const html = renderReport({
      machine: { kernel: "test", cpu: "test cpu", cores: 2, node: process.version },
      startedAt: new Date().toISOString(),
      command: "maplb bench --quick",
      results: sampleResults(),
      skipped: [{ suite: "netfilter-real", reason: "needs root" }],
      targets: [
        { suite: "datapath-emulated", target: "chain-eval ≥ 50× maplb at 10k", measured: "700×", met: true },
      ],
    });
    const file = join(mkdtempSync(join(tmpdir(), "maplb-report-")), "report.html");
    writeFileSync(file, html);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`file://${file}`);
      // Page-side code is passed as text: it runs in the browser, not in Node.
      await page.waitForFunction("window.maplbChartsDrawn !== undefined");
      const drawn = await page.evaluate("window.maplbChartsDrawn");
      assert.equal(drawn, 2);
      const inked = (await page.evaluate(INKED_PIXELS_OF_FIRST_CANVAS)) as number;
      assert.ok(inked > 500, `the chart canvas looks empty (${inked} inked pixels)`);
      assert.deepEqual(errors, []);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "report.png"), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
