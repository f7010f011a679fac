// Attaching to real interfaces: XDP and TC on a veth pair inside a network namespace this test
// creates (and deletes, even on failure). The attach runs in a child entered with nsenter, which
// keeps the host's bpffs in view.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { probeKernel } from "../src/datapath/kernel.js";
import { kernelSkip } from "./helpers/require-kernel.js";

const KERNEL_JS = join(import.meta.dirname, "../src/datapath/kernel.js");
const NS = `mlbtest-attach-${process.pid}`;
const skip = probeKernel() ?? (spawnSync("ip", ["-V"]).status === 0 ? null : "iproute2 is not installed");

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
const inNs = (cmd: string, ...args: string[]) => sh("ip", ["netns", "exec", NS, cmd, ...args]);

after(() => {
  spawnSync("ip", ["netns", "del", NS]);
});

test(
  "attach and detach XDP and TC on a veth in a private namespace",
  { skip: kernelSkip(skip ? `needs root and iproute2 (${skip})` : null) },
  () => {
    sh("ip", ["netns", "add", NS]);
    inNs("ip", "link", "add", "mlb0", "type", "veth", "peer", "name", "mlb1");
    inNs("ip", "link", "set", "mlb0", "up");
    inNs("ip", "link", "set", "mlb1", "up");

    const step = (what: string) => {
      const script = `
        import { openKernel } from ${JSON.stringify(KERNEL_JS)};
        const dp = openKernel({ ephemeral: true });
        try { ${what} } finally { dp.close(); }`;
      const r = spawnSync(
        "nsenter",
        [`--net=/run/netns/${NS}`, "--", process.execPath, "--input-type=module", "-e", script],
        {
          encoding: "utf8",
          env: { ...process.env, MAPLB_LOG_LEVEL: "silent" },
        },
      );
      assert.equal(r.status, 0, r.stderr);
    };

    step(`dp.attachXdp("mlb0");`);
    assert.match(inNs("ip", "link", "show", "mlb0"), /prog\/xdp id \d+/);
    step(`dp.detachXdp("mlb0");`);
    assert.doesNotMatch(inNs("ip", "link", "show", "mlb0"), /prog\/xdp/);

    step(`dp.attachTc("mlb0", "ingress");`);
    assert.match(inNs("tc", "filter", "show", "dev", "mlb0", "ingress"), /maplb_tc/);
    step(`dp.attachTc("mlb0", "ingress");`); // again: replaces, does not add a second filter
    assert.equal(inNs("tc", "filter", "show", "dev", "mlb0", "ingress").match(/ handle /g)?.length, 1);
    step(`dp.detachTc("mlb0", "ingress");`);
    assert.doesNotMatch(inNs("tc", "filter", "show", "dev", "mlb0", "ingress"), /maplb_tc/);

    // An interface that does not exist is a usage error naming it.
    const r = spawnSync(
      "nsenter",
      [
        `--net=/run/netns/${NS}`,
        "--",
        process.execPath,
        "--input-type=module",
        "-e",
        `import { openKernel } from ${JSON.stringify(KERNEL_JS)};
         const dp = openKernel({ ephemeral: true });
         try { dp.attachXdp("nope0"); } catch (e) { console.log(e.code, e.message); } finally { dp.close(); }`,
      ],
      { encoding: "utf8" },
    );
    assert.match(r.stdout, /E_USAGE no network interface nope0/);
  },
);
