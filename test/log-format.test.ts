// Logs on stderr: one JSON object per line when stderr is not a terminal (pipes, files, log
// collectors), and lines for people on a terminal — run for real under a pseudo-terminal (`script`).
// MAPLB_LOG_FORMAT overrides the choice either way.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { kernelSkip } from "./helpers/require-kernel.js";
import { textLine } from "../src/log.js";
import { service, slice } from "./helpers/manifests.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "maplb-logs-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// An FQDN EndpointSlice: compile logs (at info) that it skips it, and still succeeds.
const manifest = join(dir, "fqdn.yaml");
writeFileSync(
  manifest,
  [
    service(),
    slice({ addressType: "FQDN", endpoints: [{ addresses: ["db.example"], conditions: { ready: true } }] }),
  ]
    .map((o) => JSON.stringify(o))
    .join("\n---\n"),
);
const args = [MAPLB, "compile", "-f", manifest];
const env = (extra: Record<string, string> = {}) => {
  const e: NodeJS.ProcessEnv = { ...process.env };
  delete e.MAPLB_LOG_FORMAT;
  delete e.MAPLB_LOG_LEVEL;
  return { ...e, NO_COLOR: "1", ...extra };
};

/** Runs the command under a pseudo-terminal (stdin, stdout and stderr all on it); returns what it printed. */
function underPty(extra: Record<string, string> = {}): string {
  const command = [process.execPath, ...args].map((a) => `'${a}'`).join(" ");
  const r = spawnSync("script", ["-qec", command, "/dev/null"], { encoding: "utf8", env: env(extra) });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.replace(/\r/g, "");
}

const hasScript = spawnSync("script", ["-V"]).status === 0;

describe("log format", () => {
  it("not a terminal: one JSON object per line", () => {
    const r = spawnSync(process.execPath, args, { encoding: "utf8", env: env() });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.trim().split("\n");
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.msg, "skipping non-IP slice");
    assert.equal(record.level, 30);
    assert.equal(record.slice, "shop/web-abc");
  });

  it(
    "a terminal: a line for people",
    { skip: kernelSkip(hasScript ? null : "script (util-linux)", "the terminal log test") },
    () => {
      const out = underPty();
      const line = out.split("\n").find((l) => l.includes("skipping non-IP slice"));
      assert.ok(line, out);
      assert.match(
        line,
        /^\d\d:\d\d:\d\d\.\d{3} INFO {2}skipping non-IP slice slice=shop\/web-abc addressType=FQDN$/,
      );
      assert.throws(() => JSON.parse(line));
      // The override: JSON on a terminal too.
      const json = underPty({ MAPLB_LOG_FORMAT: "json" });
      const record = json.split("\n").find((l) => l.startsWith("{"));
      assert.equal((JSON.parse(record!) as { msg: string }).msg, "skipping non-IP slice");
    },
  );

  it("text lines quote values that are not plain words, and colour only when asked", () => {
    const record = {
      level: 40,
      time: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
      msg: "watch failed",
      resource: "services",
      err: { message: "connect ECONNREFUSED 127.0.0.1:6443" },
      note: "two words\nand a newline",
      retryInMs: 400,
    };
    assert.equal(
      textLine(JSON.stringify(record), false),
      '03:04:05.006 WARN  watch failed resource=services note="two words\\nand a newline" retryInMs=400 ' +
        'err="connect ECONNREFUSED 127.0.0.1:6443"\n',
    );
    assert.ok(textLine(JSON.stringify(record), true).includes("\x1b[33mWARN \x1b[0m"));
  });
});
