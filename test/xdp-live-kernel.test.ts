// maplb_xdp_live (BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES), the entry point behind the
// throughput suite: frames really run maplb's XDP program (its counters see every one), new-flow
// mode makes each frame a new flow, and bad arguments are errors. Frames enter the loopback device
// of a namespace this test creates and removes. Timing is the benchmark's business, not this test's.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { openEmulated } from "../src/datapath/emulated.js";
import { openKernel, type KernelDatapath } from "../src/datapath/kernel.js";
import { BENCH_MODES, benchFrame, liveNsPerFrame, scaleOps } from "../src/datapath/speed.js";
import { KERNEL_SKIP } from "./helpers/datapath-targets.js";

const NS = `maplb-live-${process.pid}`;
const NETNS = `/run/netns/${NS}`;
const FRAMES = 500;
const ENDPOINTS = 10;

const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
};

/** Packets per backend id and per verdict, from maplb's own counters; conntrack entries. */
function counted(dp: KernelDatapath) {
  const s = dp.stats();
  const backends = new Map([...s.backends].map(([id, c]) => [id, Number(c.packets)]));
  const flows = [...dp.maps.entries("ct4")].length;
  return { dnat: Number(s.verdicts.DNAT), drop: Number(s.verdicts.DROP), backends, flows };
}

describe("maplb_xdp_live on the kernel target", { skip: KERNEL_SKIP }, () => {
  let dp: KernelDatapath;

  before(() => {
    spawnSync("ip", ["netns", "del", NS], { stdio: "ignore" });
    sh("ip", ["netns", "add", NS]);
    dp = openKernel({ ephemeral: true });
    // Service 0's backends are the frontend itself (see scaleOps): an established flow stays on one.
    dp.apply(scaleOps({ services: 4, backendsPerService: ENDPOINTS, algorithm: "maglev", maglevM: 251 }));
  });

  after(() => {
    dp?.close();
    spawnSync("ip", ["netns", "del", NS], { stdio: "ignore" });
  });

  test("established: every live frame is DNATed, all to the flow's one backend", () => {
    const before = counted(dp);
    const ns = liveNsPerFrame(dp, NETNS, "established", FRAMES);
    const now = counted(dp);
    // +1: liveNsPerFrame first sends the frame once through the probe so the flow exists.
    assert.equal(now.dnat - before.dnat, FRAMES + 1);
    assert.equal(now.drop, before.drop);
    assert.ok(now.flows - before.flows <= 2, "one flow's entries (from the probe), no more");
    const grew = [...now.backends].filter(([id, n]) => n > (before.backends.get(id) ?? 0));
    assert.equal(grew.length, 1, `one backend took the flow, got ${JSON.stringify(grew)}`);
    assert.equal(grew[0]![1] - (before.backends.get(grew[0]![0]) ?? 0), FRAMES + 1);
    assert.ok(ns > 0, "the kernel reports a duration per frame");
  });

  test("new flows: each frame is a new flow, spread over all of service 0's backends", () => {
    const before = counted(dp);
    liveNsPerFrame(dp, NETNS, "new", FRAMES);
    const now = counted(dp);
    assert.equal(now.dnat - before.dnat, FRAMES);
    assert.ok(now.flows - before.flows >= FRAMES, `${now.flows - before.flows} new conntrack entries`);
    const added = [...now.backends].map(([id, n]) => n - (before.backends.get(id) ?? 0)).filter((n) => n > 0);
    assert.equal(added.length, ENDPOINTS, `Maglev spreads ${FRAMES} new flows over every backend`);
    assert.equal(
      added.reduce((a, b) => a + b, 0),
      FRAMES,
    );
  });

  test("the empty program runs no pipeline: maplb's counters stay still", () => {
    const before = counted(dp);
    liveNsPerFrame(dp, NETNS, "empty", FRAMES);
    assert.deepEqual(counted(dp), before);
  });

  test("bad arguments are errors, named", () => {
    const out = new Uint32Array(1);
    const live = (netns: string | null, frame: Uint8Array, repeat: number, mode: number) =>
      dp.maps.api.xdpLive(dp.maps.handle, netns, frame, repeat, mode, out);
    const EINVAL = -22;
    assert.equal(live(NETNS, benchFrame(), 0, BENCH_MODES.established), EINVAL, "repeat 0");
    assert.equal(live(NETNS, new Uint8Array(13), 1, BENCH_MODES.established), EINVAL, "no Ethernet header");
    assert.equal(live(NETNS, benchFrame(), 1, 7), EINVAL, "unknown mode");
    assert.equal(live(NETNS, new Uint8Array(8192), 1, BENCH_MODES.empty), EINVAL, "longer than a page");
    assert.throws(
      () => liveNsPerFrame(dp, `/run/netns/maplb-none-${process.pid}`, "empty", 1),
      /ENOENT/,
      "a namespace that does not exist",
    );
  });
});

test("maplb_xdp_live is kernel only: the emulated datapath says so", () => {
  const dp = openEmulated();
  try {
    assert.throws(() => liveNsPerFrame(dp, null, "empty", 1), /EOPNOTSUPP|not supported/i);
  } finally {
    dp.close();
  }
});
