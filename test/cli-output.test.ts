// `-o json|yaml|wide` on the commands that print tables, run as a person runs them (child processes):
// JSON and YAML parse to the same data, `--json` is `-o json`, the two cannot be combined, and the wide
// table has the plain table's columns and more. compile runs anywhere; list and status read a kernel
// datapath's pinned maps (root); lab curl's table is checked from its formatter here (the lab tests
// run the command itself).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { curlText } from "../src/cli/commands/lab.js";
import { probeKernel } from "../src/datapath/kernel.js";
import type { LabPod } from "../src/lab/plan.js";
import { service, slice } from "./helpers/manifests.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "maplb-output-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function maplb(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAPLB, ...args], {
    encoding: "utf8",
    env: { ...process.env, MAPLB_LOG_LEVEL: "error", MAPLB_RUN_DIR: dir },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[]): string {
  const r = maplb(args);
  assert.equal(r.code, 0, `maplb ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** A Service with ClientIP affinity and two endpoints, written as one YAML stream. */
const manifest = join(dir, "web.yaml");
writeFileSync(
  manifest,
  [
    service({
      spec: {
        sessionAffinity: "ClientIP",
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
      },
    }),
    slice({
      endpoints: ["10.0.1.5", "10.0.1.6"].map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    }),
  ]
    .map((o) => JSON.stringify(o))
    .join("\n---\n"),
);

/** Every format of one command: JSON and YAML agree, --json is -o json, and they conflict. */
function checkStructured(args: string[]): unknown {
  const json: unknown = JSON.parse(ok([...args, "-o", "json"]));
  assert.deepEqual(JSON.parse(ok([...args, "--json"])), json, "--json is -o json");
  assert.deepEqual(parseYaml(ok([...args, "-o", "yaml"])), json, "YAML carries the JSON's data");
  const both = maplb([...args, "--json", "-o", "yaml"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /'--json' cannot be used with option '-o, --output/);
  const bad = maplb([...args, "-o", "xml"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Allowed choices are json, yaml, wide/);
  return json;
}

/** The header line that starts with `first`, split into its columns. */
function header(text: string, first: string): string[] {
  const line = text.split("\n").find((l) => l.trimStart().startsWith(first));
  assert.ok(line, `a header starting with ${first} in:\n${text}`);
  return line.trim().split(/\s{2,}/);
}

describe("-o json|yaml|wide", () => {
  it("compile", () => {
    const args = ["compile", "-f", manifest, "--node-ip", "198.18.0.10"];
    const json = checkStructured(args) as { servicePorts: { backends: unknown[] }[] };
    assert.equal(json.servicePorts[0]?.backends.length, 2);

    const plain = ok(args);
    const wide = ok([...args, "-o", "wide"]);
    const [fPlain, fWide] = [header(plain, "frontend"), header(wide, "frontend")];
    assert.deepEqual(fWide.slice(0, fPlain.length), fPlain);
    assert.deepEqual(fWide.slice(fPlain.length), ["maglev table"]);
    const [bPlain, bWide] = [header(plain, "backend"), header(wide, "backend")];
    assert.deepEqual(bWide.slice(bPlain.length), ["protocol", "maglev rows"]);
    // Each backend's Maglev rows, read from the wide table, add up to the table's size M.
    const rows = wide
      .split("\n")
      .filter((l) => /^\s+10\.0\.1\.\d+:8080\s/.test(l))
      .map((l) => Number(/cluster:(\d+)/.exec(l)?.[1]));
    assert.equal(rows.length, 2);
    assert.equal(
      rows.reduce((a, b) => a + b, 0),
      16381,
    );
  });

  const noKernel = probeKernel();
  it("list and status (kernel maps)", { skip: noKernel ?? false }, () => {
    const pinDir = `/sys/fs/bpf/maplb-test-output-${process.pid}`;
    try {
      ok(["apply", "-f", manifest, "--datapath", "kernel", "--pin-dir", pinDir]);

      const list = checkStructured(["list", "--pin-dir", pinDir]) as {
        frontends: { master: { affinityTimeout: number } }[];
        backends: unknown[];
      };
      assert.equal(list.backends.length, 2);
      assert.equal(list.frontends[0]?.master.affinityTimeout, 600);
      const [lPlain, lWide] = [
        ok(["list", "--pin-dir", pinDir]),
        ok(["list", "--pin-dir", pinDir, "-o", "wide"]),
      ];
      const [hPlain, hWide] = [header(lPlain, "FRONTEND"), header(lWide, "FRONTEND")];
      assert.deepEqual(hWide, [...hPlain.slice(0, -1), "REV-NAT", "MAGLEV@", "AFFINITY", "BACKENDS"]);
      const row = lWide.split("\n").find((l) => l.startsWith("10.96.0.10:80/TCP"))!;
      assert.match(row, /\s600s\s+#1 → 10\.0\.1\.\d:8080/);

      const status = checkStructured(["status", "--pin-dir", pinDir]) as {
        maps: { pinDir: string; maps: { name: string; keyBytes: number; valueBytes: number }[] }[];
      };
      const mine = status.maps.find((m) => m.pinDir === pinDir)!;
      const services = mine.maps.find((m) => m.name === "lb4_services")!;
      assert.ok(services.keyBytes > 0 && services.valueBytes > 0);
      const sPlain = ok(["status", "--pin-dir", pinDir]);
      const sWide = ok(["status", "--pin-dir", pinDir, "-o", "wide"]);
      const line = (text: string) => text.split("\n").find((l) => l.trim().startsWith("lb4_services"))!;
      assert.doesNotMatch(line(sPlain), /key/);
      assert.match(line(sWide), new RegExp(`key ${services.keyBytes} B, value ${services.valueBytes} B`));
    } finally {
      rmSync(pinDir, { recursive: true, force: true });
    }
  });

  it("lab curl's table: wide adds each backend's node and share", () => {
    const pod = (name: string, ip: string, node: string) =>
      ({ namespace: "default", name, node, ip }) as LabPod;
    const report = {
      client: "default/client-1",
      target: { address: "198.19.0.10", port: 80, protocol: "TCP" as const, service: "default/web" },
      summary: { requests: 4, ok: 4, failed: 0, backends: { "198.18.128.5": 3, "198.18.129.6": 1 } },
      errors: {},
      pods: [pod("web-1", "198.18.128.5", "node-1"), pod("web-2", "198.18.129.6", "node-2")],
    };
    const plain = curlText(report, false).split("\n");
    const wide = curlText(report, true).split("\n");
    assert.equal(plain[0], "default/client-1 → 198.19.0.10:80/TCP (default/web)");
    assert.deepEqual(plain[1]!.trim().split(/\s+/), ["198.18.128.5", "default/web-1", "3"]);
    assert.deepEqual(wide[1]!.trim().split(/\s+/), ["198.18.128.5", "default/web-1", "3", "node-1", "75.0%"]);
    assert.deepEqual(wide[2]!.trim().split(/\s+/), ["198.18.129.6", "default/web-2", "1", "node-2", "25.0%"]);
    assert.equal(wide[3], "4/4 ok");
  });
});
