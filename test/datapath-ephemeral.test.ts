// Ephemeral kernel datapaths (tests, benchmarks) must not leave pinned maps behind: close() removes
// the pin directory, process exit does too, and a process killed outright is swept by the next one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { probeKernel, sweepStaleEphemeral } from "../src/datapath/kernel.js";

const KERNEL_JS = join(import.meta.dirname, "../src/datapath/kernel.js");
const skip = probeKernel();

/** Opens an ephemeral kernel datapath in a child, prints its pin dir, then ends as told. */
function child(end: "exit" | "kill"): string {
  const script = `
    import { openKernel } from ${JSON.stringify(KERNEL_JS)};
    const dp = openKernel({ ephemeral: true });
    console.log(dp.pinDir);
    ${end === "kill" ? "process.kill(process.pid, 'SIGKILL');" : "process.exit(0);"}`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  return r.stdout.trim();
}

test(
  "ephemeral pin directories go away at exit, and after a kill with the next sweep",
  { skip: skip ? `needs root for BPF maps (${skip})` : false },
  () => {
    const exited = child("exit");
    assert.match(exited, /^\/sys\/fs\/bpf\/maplb-\d+-[0-9a-f]{8}$/);
    assert.equal(existsSync(exited), false, "removed at exit without close()");

    const killed = child("kill");
    assert.match(killed, /^\/sys\/fs\/bpf\/maplb-\d+-[0-9a-f]{8}$/);
    assert.equal(existsSync(killed), true, "a SIGKILL leaves it");
    assert.ok(sweepStaleEphemeral().includes(killed.split("/").pop()!));
    assert.equal(existsSync(killed), false);
  },
);
