// Bounded input, as a user meets it: `-f` on something that never ends or never answers stops with
// exit 2 and a message naming the limit and its flag; `-f -` reads standard input.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFile, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { stringify } from "yaml";
import { service, slice } from "./helpers/manifests.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const ENV = { ...process.env, MAPLB_LOG_LEVEL: "error" };

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function maplb(args: string[], input?: string): Result {
  const r = spawnSync(process.execPath, [MAPLB, ...args], { encoding: "utf8", env: ENV, input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs maplb without waiting synchronously, so the test can write to a FIFO meanwhile. */
function maplbAsync(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAPLB, ...args], { env: ENV });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const dir = mkdtempSync(join(tmpdir(), `maplb-input-${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));
const SEED = join(dir, "web.yaml");
writeFileSync(SEED, [service(), slice()].map((o) => stringify(o)).join("---\n"));

function fifo(name: string): string {
  const path = join(dir, name);
  execFileSync("mkfifo", [path]);
  return path;
}

describe("bounded -f input", () => {
  it("/dev/zero stops at --max-input-size with exit 2, naming the limit and the flag", () => {
    const r = maplb(["compile", "-f", "/dev/zero", "--max-input-size", "1Mi"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^maplb: \/dev\/zero: the input is larger than --max-input-size 1 MiB/);
    assert.match(r.stderr, /raise --max-input-size/);
  });

  it("the size limit counts all inputs together, and a regular file over it is refused", () => {
    const size = readFileSync(SEED).length;
    assert.equal(maplb(["compile", "-f", SEED, "--max-input-size", String(size)]).code, 0);
    const twice = maplb(["compile", "-f", SEED, SEED, "--max-input-size", String(2 * size - 1)]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /web\.yaml: the input is larger than --max-input-size/);
  });

  it("a FIFO with no writer ends with exit 2 after --read-timeout", () => {
    const r = maplb(["compile", "-f", fifo("no-writer.yaml"), "--read-timeout", "200ms"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /no-writer\.yaml: no data \(a FIFO with no writer\?\) within --read-timeout 0\.2s/,
    );
  });

  it("a FIFO whose writer comes later is read to its end", async () => {
    const path = fifo("late-writer.yaml");
    const run = maplbAsync(["compile", "-f", path, "--read-timeout", "10s"]);
    setTimeout(() => writeFile(path, readFileSync(SEED), () => {}), 100);
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, maplb(["compile", "-f", SEED]).stdout);
  });

  it("-f - reads standard input, as the same file would be read", () => {
    const r = maplb(["compile", "-f", "-"], readFileSync(SEED, "utf8"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /shop\/web:http\/TCP/);
    assert.equal(r.stdout, maplb(["compile", "-f", SEED]).stdout);
  });

  it("-f - is bounded by --max-input-size too, and names standard input in errors", () => {
    const big = maplb(["compile", "-f", "-", "--max-input-size", "100"], readFileSync(SEED, "utf8"));
    assert.equal(big.code, 2);
    assert.match(big.stderr, /^maplb: standard input: the input is larger than --max-input-size 100 bytes/);
    const bad = maplb(["compile", "-f", "-"], "kind: [unclosed");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /<stdin> doc 0/);
  });

  it("bad limit values are refused by flag name", () => {
    assert.match(
      maplb(["compile", "-f", SEED, "--max-input-size", "5x"]).stderr,
      /--max-input-size expects a size/,
    );
    assert.match(
      maplb(["compile", "-f", SEED, "--read-timeout", "soon"]).stderr,
      /--read-timeout expects a duration/,
    );
  });
});
