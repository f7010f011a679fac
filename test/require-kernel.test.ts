// MAPLB_REQUIRE_KERNEL=1 (set by .ci/run) turns a skip for a missing kernel feature, root or tool
// into a failure: checked on a small test file run by node --test with and without it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, test } from "node:test";

const dir = mkdtempSync(join(tmpdir(), "maplb-require-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const helper = pathToFileURL(join(import.meta.dirname, "helpers/require-kernel.js")).href;
const file = join(dir, "needs-kernel.test.mjs");
writeFileSync(
  file,
  `import { test } from "node:test";
import { kernelSkip, skipOrFail } from ${JSON.stringify(helper)};
test("needs BPF", { skip: kernelSkip("BPF (a made-up reason)") }, () => {});
test("needs a tool", (t) => skipOrFail(t, "a made-up tool"));
test("needs nothing", { skip: kernelSkip(null) }, () => {});
`,
);

function run(require: string | undefined) {
  const env = { ...process.env };
  delete env.MAPLB_REQUIRE_KERNEL;
  delete env.NODE_TEST_CONTEXT; // else the child reports to this runner, not on stdout
  if (require !== undefined) env.MAPLB_REQUIRE_KERNEL = require;
  const r = spawnSync(process.execPath, ["--test", "--test-reporter=tap", file], { encoding: "utf8", env });
  return { code: r.status, out: r.stdout };
}

test("without MAPLB_REQUIRE_KERNEL a missing kernel feature or tool is a skip", () => {
  const r = run(undefined);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /# SKIP BPF \(a made-up reason\)/);
  assert.match(r.out, /# SKIP a made-up tool/);
  assert.match(r.out, /# fail 0/);
});

test("with MAPLB_REQUIRE_KERNEL=1 it is a failure that names what is missing", () => {
  const r = run("1");
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, /not ok \d+ - MAPLB_REQUIRE_KERNEL=1, but this test cannot run/);
  assert.match(r.out, /this test needs BPF \(a made-up reason\)/);
  assert.match(r.out, /not ok \d+ - needs a tool/);
  assert.match(r.out, /# fail 2/);
  assert.match(r.out, /ok \d+ - needs nothing/);
});
