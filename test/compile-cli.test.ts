// `maplb compile` as a user runs it: filters, JSON that parses, and errors as exit codes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { SCENARIOS } from "./helpers/manifests.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;

function maplb(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAPLB, ...args], {
    encoding: "utf8",
    env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("maplb compile", () => {
  it("--service keeps one Service: its ports and nothing else", () => {
    const r = maplb(["compile", "-f", SCENARIOS, "--service", "nginx/nginx", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { servicePorts: { id: string }[]; totals: { servicePorts: number } };
    assert.deepEqual(
      out.servicePorts.map((p) => p.id),
      ["nginx/nginx:http/TCP", "nginx/nginx:metrics/TCP"],
    );
    assert.equal(out.totals.servicePorts, 2);
  });

  it("--node-ip adds a NodePort frontend per node address, next to the wildcard", () => {
    const args = ["compile", "-f", `${SCENARIOS}/seed-000-pod-to-pod.yaml`];
    const one = maplb([...args, "--node-ip", "192.0.2.10"]).stdout;
    const two = maplb([...args, "--node-ip", "192.0.2.10", "--node-ip", "192.0.2.11"]).stdout;
    assert.match(one, /192\.0\.2\.10:30090\/TCP/);
    assert.doesNotMatch(one, /192\.0\.2\.11:30090/);
    assert.match(two, /192\.0\.2\.11:30090\/TCP/);
    assert.match(two, /0\.0\.0\.0:30090\/TCP/);
  });

  it("a missing file is a usage error with one line on stderr and no stack trace", () => {
    const r = maplb(["compile", "-f", "/nonexistent/manifests.yaml"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^maplb: cannot read \/nonexistent\/manifests\.yaml/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it("a bad --node-ip is refused by name", () => {
    const r = maplb(["compile", "-f", SCENARIOS, "--node-ip", "300.1.1.1"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--node-ip expects an IPv4 address, got '300\.1\.1\.1'/);
  });
});
