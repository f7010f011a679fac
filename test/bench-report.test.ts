// The HTML report opens offline in a real headless Chromium; each chart's data is read back from
// Chart.js and compared with the results it was made from, with the headline's sentences, one colour
// per implementation, the axis types and the target lines. A screenshot is saved for a person to
// look at (dist/test-artifacts/report.png).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { chromium } from "playwright-core";
import { ADDED_LATENCY_METRIC, addedLatency, BASELINE_IMPL, headlineSentences } from "../bench/headline.js";
import { chartSpecs, renderReport, TARGET_MISSED_COLOR } from "../bench/report.js";
import { seriesName, type Result, type Target } from "../bench/types.js";
import { skipOrFail } from "./helpers/require-kernel.js";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), `maplb-report-${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));

const result = (
  suite: string,
  impl: string,
  services: number,
  eps: number,
  traffic: string,
  metric: string,
  value: number,
  unit: string,
): Result => ({
  suite,
  impl,
  services,
  endpointsPerService: eps,
  traffic,
  metric,
  value,
  unit,
  samples: 5,
});

// Connect p50 (µs) per proxy at 10, 1k and 10k services; nftables only to 1k, as in the quick grid.
const CONNECT: Record<string, number[]> = {
  [BASELINE_IMPL]: [20, 20, 20],
  "kube-proxy-iptables-legacy": [30, 45, 104],
  "kube-proxy-iptables-nft": [32, 60, 220],
  "kube-proxy-nftables": [25, 26.5],
  maplb: [27, 27.5, 28],
};
const SIZES = [10, 1000, 10000];
// The same over IPv6: its own baseline, and ip6tables-legacy at 1k and 10k only.
const CONNECT6: Record<string, number[]> = {
  [BASELINE_IMPL]: [22, 22, 22],
  "kube-proxy-iptables-legacy": [0, 50, 112],
};

function sampleResults(): Result[] {
  const rows: Result[] = [];
  for (const [impl, values] of Object.entries(CONNECT))
    values.forEach((v, i) =>
      rows.push(result("netfilter-real", impl, SIZES[i]!, 3, "worst-case", "connect_p50_us", v, "us")),
    );
  for (const [impl, values] of Object.entries(CONNECT6))
    values.forEach((v, i) => {
      if (v > 0)
        rows.push({
          ...result("netfilter-real", impl, SIZES[i]!, 3, "worst-case", "connect_p50_us", v, "us"),
          family: "IPv6",
        });
    });
  // Emulated datapath: the chain walk grows over three decades (log y); endpoints sweep at 1000.
  for (const s of [10, 100, 1000, 10000]) {
    rows.push(
      result(
        "datapath-emulated",
        "maplb",
        s,
        10,
        "worst-case/new",
        "ns_per_packet",
        40 + Math.log10(s),
        "ns",
      ),
    );
    rows.push(
      result(
        "datapath-emulated",
        "kube-proxy-chain-eval",
        s,
        10,
        "worst-case/new",
        "ns_per_packet",
        3 * s,
        "ns",
      ),
    );
  }
  for (const e of [1, 100, 1000]) {
    rows.push(result("datapath-emulated", "maplb", 1000, e, "worst-case/new", "ns_per_packet", 41, "ns"));
    rows.push(
      result(
        "datapath-emulated",
        "kube-proxy-chain-eval",
        1000,
        e,
        "worst-case/new",
        "ns_per_packet",
        3000 + e,
        "ns",
      ),
    );
  }
  // Kernel datapath: flat (linear y from zero), with a missed 60 ns target drawn on it.
  SIZES.forEach((s, i) => {
    rows.push(result("datapath-kernel", "maplb", s, 10, "established", "ns_per_packet", 140 + 5 * i, "ns"));
    rows.push(
      result("datapath-kernel", "empty XDP program", s, 10, "established", "ns_per_packet", 30 - i, "ns"),
    );
  });
  return rows;
}

const TARGETS: Target[] = [
  {
    suite: "datapath-kernel",
    target: "established flows within 60 ns per packet",
    measured: "150 ns",
    met: false,
    line: { metric: "ns_per_packet", traffic: "established", y: 60 },
  },
  {
    suite: "datapath-emulated",
    target: "chain-eval ≥ 50× maplb at 10k",
    measured: "680×",
    met: true,
  },
];

// Worked by hand from CONNECT: added = proxy − baseline (20 µs).
const EXPECTED_ADDED: Record<string, number[]> = {
  "kube-proxy-iptables-legacy": [10, 25, 84],
  "kube-proxy-iptables-nft": [12, 40, 200],
  "kube-proxy-nftables": [5, 6.5],
  maplb: [7, 7.5, 8],
  "kube-proxy-iptables-legacy (IPv6)": [28, 90],
};
const EXPECTED_SENTENCES = [
  "At 10k services iptables-nft adds 200 µs to a connect, iptables-legacy 84.0 µs, maplb 8.00 µs (p50, over the 20.0 µs of a connect through no service).",
  "At 10k services iptables-nft adds 25.0×, iptables-legacy adds 10.5× what maplb adds.",
  "nftables was measured up to 1k services, where it adds 6.50 µs.",
  "From 10 to 10k services, iptables-nft's added latency goes from 12.0 µs to 200 µs (+188 µs).",
  "From 10 to 10k services, iptables-legacy's added latency goes from 10.0 µs to 84.0 µs (+74.0 µs).",
  "From 10 to 1k services, nftables's added latency goes from 5.00 µs to 6.50 µs (+1.50 µs).",
  "From 10 to 10k services, maplb's added latency goes from 7.00 µs to 8.00 µs (+1.00 µs).",
  "IPv6: At 10k services ip6tables-legacy adds 90.0 µs to a connect (p50, over the 22.0 µs of a connect through no service).",
  "IPv6: From 1k to 10k services, ip6tables-legacy's added latency goes from 28.0 µs to 90.0 µs (+62.0 µs).",
  "1 of 2 targets met; missed: established flows within 60 ns per packet.",
];

interface PageChart {
  id: string;
  missed: boolean;
  caption: string;
  x: string;
  xTitle: string;
  y: string;
  yMin: number;
  legendTitle: string;
  yTickLabels: string[];
  datasets: {
    label: string;
    color: string;
    dash: number[];
    data: { x: number; y: number }[];
    target?: boolean;
  }[];
}

// Runs in the page: every chart as Chart.js holds it (options resolved, data as drawn).
const READ_CHARTS = `[...document.querySelectorAll("figure.chart")].map((f) => {
  const canvas = f.querySelector("canvas");
  const ch = Chart.getChart(canvas);
  return {
    id: canvas.id,
    missed: f.classList.contains("missed-chart"),
    caption: f.querySelector("figcaption").textContent,
    x: ch.options.scales.x.type,
    xTitle: ch.options.scales.x.title.text,
    y: ch.options.scales.y.type,
    yMin: ch.scales.y.min,
    legendTitle: ch.options.plugins.legend.title.text,
    yTickLabels: ch.scales.y.ticks.map((t) => t.label),
    datasets: ch.data.datasets.map((d) => ({ label: d.label, color: d.borderColor, dash: d.borderDash, data: d.data, target: d.maplbTarget })),
  };
})`;

describe("HTML report", () => {
  it("makes one services chart and one endpoints chart per swept metric", () => {
    const specs = chartSpecs(sampleResults().filter((r) => r.suite === "datapath-emulated"));
    assert.deepEqual(
      specs.map((s) => [s.xLabel, s.series.map((x) => x.label).sort()]),
      [
        ["services", ["kube-proxy-chain-eval", "maplb"]],
        ["endpoints per service", ["kube-proxy-chain-eval", "maplb"]],
      ],
    );
  });

  it("takes the added latency from the suite's metric when the run has it", () => {
    const rows = [
      ...sampleResults(),
      {
        ...result("netfilter-real", "maplb", 10, 3, "worst-case", ADDED_LATENCY_METRIC, 0.4, "us"),
        samples: 1,
      },
      {
        ...result("netfilter-real", "maplb", 10000, 3, "worst-case", ADDED_LATENCY_METRIC, 0.6, "us"),
        samples: 1,
      },
    ];
    const h = addedLatency(rows)!;
    assert.equal(h.source, "metric");
    // The baseline beside each figure, and the connects counted from the proxy's own p50 row (5).
    assert.deepEqual(
      h.rows.map((r) => [r.impl, r.services, r.us, r.baselineUs, r.samples]),
      [
        ["maplb", 10, 0.4, 20, 5],
        ["maplb", 10000, 0.6, 20, 5],
      ],
    );
    const computed = addedLatency(sampleResults())!;
    assert.equal(computed.source, "computed");
    assert.deepEqual(
      computed.rows.filter((r) => r.impl === "maplb").map((r) => r.us),
      EXPECTED_ADDED.maplb,
    );
  });

  it("says so when maplb adds nothing measurable, and names no ratio to it", () => {
    const h = {
      source: "metric" as const,
      suite: "netfilter-real",
      rows: [
        { impl: "maplb", services: 10000, us: -0.2, baselineUs: 20, samples: 400 },
        { impl: "kube-proxy-iptables-legacy", services: 10000, us: 84, baselineUs: 20, samples: 400 },
      ],
    };
    assert.deepEqual(headlineSentences(h, []), [
      "At 10k services iptables-legacy adds 84.0 µs to a connect, maplb -0.200 µs (p50, over the 20.0 µs of a connect through no service).",
      "At 10k services maplb adds nothing measurable: its p50 is at or below the no-service baseline's.",
    ]);
  });

  it("draws in headless Chromium what the results say, with one colour per impl and the targets", async (t) => {
    if (!existsSync(CHROMIUM))
      return skipOrFail(t, `needs ${CHROMIUM} (Debian package chromium; npm run setup installs it)`);
    const input = sampleResults();
    const html = renderReport({
      machine: { kernel: "test", cpu: "test cpu", cores: 2, node: process.version },
      startedAt: new Date().toISOString(),
      command: "maplb bench --quick",
      results: input,
      skipped: [{ suite: "control-plane", reason: "needs root" }],
      targets: TARGETS,
      suiteTitles: { "netfilter-real": "netfilter-real: TCP connect latency through a router namespace" },
    });
    const file = join(dir, "report.html");
    writeFileSync(file, html);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
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
      const charts = (await page.evaluate(READ_CHARTS)) as PageChart[];
      const sentences = (await page.evaluate(
        `[...document.querySelectorAll(".findings li")].map((li) => li.textContent)`,
      )) as string[];
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "report.png"), fullPage: true });
      assert.deepEqual(errors, []);

      // The headline: first, the added latency per proxy, the sentences worked by hand.
      assert.deepEqual(sentences, EXPECTED_SENTENCES);
      const head = charts[0]!;
      assert.equal(head.id, "headline");
      assert.deepEqual(
        Object.fromEntries(head.datasets.map((d) => [d.label, d.data.map((p) => p.y)])),
        EXPECTED_ADDED,
      );
      assert.deepEqual(
        head.datasets.find((d) => d.label === "maplb")!.data.map((p) => p.x),
        SIZES,
      );
      assert.equal(head.x, "logarithmic"); // 10 to 10k services
      assert.equal(head.y, "linear"); // 5 to 200 µs: under two decades
      assert.equal(head.yMin, 0);
      assert.match(head.caption, /minus the p50 through the same router with no service/);
      assert.match(head.caption, /Series marked \(IPv6\), dotted, are the same measurement over IPv6/);
      // The IPv6 series sit on the charts of their metric beside the IPv4 ones, and say so.
      const p50 = charts.find(
        (c) => c.caption.startsWith("netfilter-real") && c.caption.includes("connect_p50_us"),
      )!;
      assert.deepEqual(p50.datasets.map((d) => d.label).sort(), [
        "baseline-no-service",
        "baseline-no-service (IPv6)",
        "kube-proxy-iptables-legacy",
        "kube-proxy-iptables-legacy (IPv6)",
        "kube-proxy-iptables-nft",
        "kube-proxy-nftables",
        "maplb",
      ]);
      assert.match(p50.caption, /\(IPv6\), dotted/);
      for (const c of charts.filter((x) => !x.datasets.some((d) => d.label.endsWith("(IPv6)"))))
        assert.doesNotMatch(c.caption, /IPv6/, c.id);

      // Every other chart's lines are the input's figures, point for point, and every figure is drawn.
      const drawn = new Set<Result>();
      for (const c of charts.slice(1))
        for (const d of c.datasets.filter((x) => x.target === undefined))
          for (const p of d.data) {
            const r = input.find(
              (x) =>
                seriesName(x) === d.label &&
                x.value === p.y &&
                (c.xTitle === "services" ? x.services : x.endpointsPerService) === p.x &&
                c.caption.startsWith(x.suite) &&
                c.caption.includes(`traffic ${x.traffic},`),
            );
            assert.ok(r, `chart ${c.id}: ${d.label} (${p.x}, ${p.y}) is not an input figure`);
            drawn.add(r);
          }
      assert.equal(drawn.size, input.length);

      // One colour per implementation across every chart (its IPv6 series too, drawn dotted), and
      // different impls different colours.
      const colorOf = new Map<string, Set<string>>();
      for (const c of charts)
        for (const d of c.datasets.filter((x) => x.target === undefined)) {
          const impl = d.label.replace(/ \(IPv6\)$/, "");
          colorOf.set(impl, (colorOf.get(impl) ?? new Set()).add(d.color));
          assert.deepEqual(d.dash, impl === d.label ? [] : [2, 3], `${c.id}: ${d.label}`);
        }
      for (const [impl, colors] of colorOf) assert.equal(colors.size, 1, `${impl}: ${[...colors].join(" ")}`);
      const distinct = new Set([...colorOf.values()].map((s) => [...s][0]));
      assert.equal(distinct.size, colorOf.size);

      for (const c of charts) assert.equal(c.legendTitle, "lower is better", c.id);

      // Axes: the chain walk spans three decades (log y, readable ticks); the kernel figures are flat.
      const emulated = charts.find(
        (c) => c.caption.startsWith("datapath-emulated") && c.caption.includes("endpoints per service = 10"),
      )!;
      assert.equal(emulated.y, "logarithmic");
      const labels = emulated.yTickLabels.filter((l) => l !== "");
      assert.ok(labels.length >= 3, `log ticks: ${labels.join(",")}`);
      for (const l of labels) assert.match(l, /^[125](0*|0*k|0*M)$/, `log tick label ${l}`);
      const kernel = charts.find(
        (c) => c.caption.startsWith("datapath-kernel") && c.caption.includes("endpoints per service = 10"),
      )!;
      assert.equal(kernel.y, "linear");
      assert.equal(kernel.yMin, 0);

      // The missed 60 ns target: a red dashed line on the kernel chart of its traffic, only there.
      const line = kernel.datasets.find((d) => d.target !== undefined)!;
      assert.equal(line.target, false);
      assert.equal(line.color, TARGET_MISSED_COLOR);
      assert.deepEqual(line.data, [
        { x: 10, y: 60 },
        { x: 10000, y: 60 },
      ]);
      assert.ok(kernel.missed);
      const withLines = charts.filter((c) => c.datasets.some((d) => d.target !== undefined)).map((c) => c.id);
      assert.deepEqual(withLines, [kernel.id]);
      assert.ok(!emulated.missed);
      const missedRows = (await page.evaluate(`document.querySelectorAll("tr.missed").length`)) as number;
      assert.equal(missedRows, 1);
    } finally {
      await browser.close();
    }
  });
});
