// The host pipeline under libFuzzer with AddressSanitizer and UndefinedBehaviorSanitizer: a bounded
// run (MAPLB_FUZZ_SECONDS, default 60) must end without a crash, a leak or undefined behaviour.
// Longer runs: `make -C native fuzz FUZZ_SECONDS=600`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { PACKAGE_ROOT } from "../src/datapath/binding.js";
import { kernelSkip } from "./helpers/require-kernel.js";

const FUZZER_RUNTIME = "/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a";
const seconds = Number(process.env.MAPLB_FUZZ_SECONDS ?? 60);

function missing(): string | null {
  if (!existsSync("/usr/bin/clang")) return "needs clang (Debian package clang)";
  if (!existsSync(FUZZER_RUNTIME)) return "needs libFuzzer's runtime (Debian package libclang-rt-14-dev)";
  return null;
}

test(
  `libFuzzer over the host pipeline for ${seconds} s finds no crash`,
  { skip: kernelSkip(missing()), timeout: (seconds + 240) * 1000 },
  () => {
    const native = join(PACKAGE_ROOT, "native");
    const r = spawnSync("make", ["-C", native, "--no-print-directory", "fuzz", `FUZZ_SECONDS=${seconds}`], {
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, out.slice(-4000));
    const done = /Done (\d+) runs in (\d+) second/.exec(out);
    assert.ok(done, `libFuzzer did not report its runs:\n${out.slice(-2000)}`);
    assert.ok(Number(done[1]) > 1000, `only ${done[1]} executions`);
    const crashes = readdirSync(native).filter((f) => /^(crash|leak|timeout|oom)-/.test(f));
    assert.deepEqual(crashes, [], "libFuzzer left crash artifacts");
    console.log(`# fuzz: ${done[1]} executions in ${done[2]} s`);
  },
);
