// --pin-dir and --netns name places in the file system (maps are pinned and removed under the first;
// the second is a file under /run/netns, and names attachment records): every command refuses a
// value that would reach elsewhere, with exit code 2 and the value quoted, before doing anything.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { netnsArg, pinDirArg } from "../src/cli/options.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;

function maplb(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [MAPLB, ...args], {
    encoding: "utf8",
    env: { ...process.env, MAPLB_LOG_LEVEL: "error", MAPLB_RUN_DIR: "/nonexistent/maplb-run" },
  });
  return { code: r.status, stderr: r.stderr };
}

const BAD_PIN_DIRS = [
  "/sys/fs/bpf/../../etc",
  "/sys/fs/bpf/maplb/../../../tmp",
  "/sys/fs/bpf/maplb/./x",
  "/sys/fs/bpf/maplb//x",
  "/sys/fs/bpf/",
  "/sys/fs/bpf",
  "/tmp/maplb",
  "sys/fs/bpf/maplb",
  "/sys/fs/bpf/maplb\nx",
];
const BAD_NETNS = ["..", ".", "../../etc/passwd", "a/b", "/run/netns/x", "", "x\ny", "-x"];

describe("--pin-dir and --netns: no path traversal", () => {
  it("the parsers accept plain names and refuse the rest", () => {
    for (const ok of ["/sys/fs/bpf/maplb", "/sys/fs/bpf/maplb-demo", "/sys/fs/bpf/maplb/node_a.1"])
      assert.equal(pinDirArg(ok), ok);
    for (const bad of BAD_PIN_DIRS) assert.throws(() => pinDirArg(bad), /--pin-dir expects/, bad);
    for (const ok of ["node-a", "mlb-c1-pod_3", "ns.1"]) assert.equal(netnsArg(ok), ok);
    for (const bad of BAD_NETNS) assert.throws(() => netnsArg(bad), /--netns expects/, JSON.stringify(bad));
  });

  for (const cmd of [["list"], ["status"], ["apply", "-f", "x.yaml"], ["attach", "--iface", "lo"], ["agent"]])
    it(`maplb ${cmd[0]} --pin-dir: exit 2, the value quoted`, () => {
      for (const bad of BAD_PIN_DIRS.slice(0, 2)) {
        const r = maplb([...cmd, "--pin-dir", bad]);
        assert.equal(r.code, 2, r.stderr);
        assert.ok(r.stderr.includes(`--pin-dir expects a directory under /sys/fs/bpf/`), r.stderr);
        assert.ok(r.stderr.includes(JSON.stringify(bad)), r.stderr);
      }
    });

  for (const cmd of [["attach", "--iface", "lo"], ["detach"]])
    it(`maplb ${cmd[0]} --netns: exit 2, the value quoted`, () => {
      for (const bad of ["../../etc/passwd", "a/b", ".."]) {
        const r = maplb([...cmd, "--netns", bad]);
        assert.equal(r.code, 2, r.stderr);
        assert.ok(r.stderr.includes(`--netns expects an ip netns name`), r.stderr);
        assert.ok(r.stderr.includes(JSON.stringify(bad)), r.stderr);
      }
    });
});
