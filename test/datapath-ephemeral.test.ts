// Pinned maps. Ephemeral kernel datapaths (tests, benchmarks) leave none behind: close() removes the
// pin directory, process exit does too, and a process killed outright is swept by the next one. And
// maps pinned with other sizes are refused with an error that says what to do.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { openKernel, probeKernel, sweepStaleEphemeral } from "../src/datapath/kernel.js";
import { kernelSkip } from "./helpers/require-kernel.js";

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
  { skip: kernelSkip(skip ? `needs root for BPF maps (${skip})` : null) },
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

test(
  "maps pinned with other sizes are not silently replaced: the error says what to do",
  { skip: kernelSkip(skip ? `needs root for BPF maps (${skip})` : null) },
  () => {
    const pinDir = `/sys/fs/bpf/maplb-test-pins-${process.pid}`;
    try {
      openKernel({ pinDir, mapMax: 1000 }).close();
      assert.throws(
        () => openKernel({ pinDir, mapMax: 2000 }),
        /maps pinned there do not match \(another --map-max.*use the same --map-max, or remove/,
      );
      const again = openKernel({ pinDir, mapMax: 1000 }); // the same sizes reuse them
      assert.equal(again.maps.shapes.lb4_services.maxEntries, 1000);
      again.close();
    } finally {
      rmSync(pinDir, { recursive: true, force: true });
    }
  },
);
