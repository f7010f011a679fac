// --map-max is checked before any map is created: against the kernel's limits and the memory this
// process may take, with errors that say which map, how much, and which way to turn the knob.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { constants } from "node:os";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { after, describe, it } from "node:test";
import { stringify } from "yaml";
import { mapCreateError } from "../src/datapath/errno.js";
import { probeKernel } from "../src/datapath/kernel.js";
import {
  checkMapBudget,
  KERNEL_HASH_MAX_ENTRIES,
  kernelLimit,
  memoryHeadroom,
  preallocatedBytes,
  type MapShape,
} from "../src/datapath/map-budget.js";
import { service, slice } from "./helpers/manifests.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const MANIFEST = join(tmpdir(), `maplb-map-max-${process.pid}.yaml`);
writeFileSync(MANIFEST, [service(), slice()].map((o) => stringify(o)).join("---\n"));
const PIN_DIR = `/sys/fs/bpf/maplb-test-map-max-${process.pid}`;
after(() => {
  rmSync(MANIFEST, { force: true });
  rmSync(PIN_DIR, { recursive: true, force: true });
});

function apply(datapath: string, mapMax: string) {
  const args = ["apply", "-f", MANIFEST, "--datapath", datapath, "--pin-dir", PIN_DIR, "--map-max", mapMax];
  const r = spawnSync(process.execPath, [MAPLB, ...args], {
    encoding: "utf8",
    env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const SERVICES: MapShape = { name: "lb4_services", type: 1, keySize: 12, valueSize: 24 };
const STATS: MapShape = { name: "lb4_backend_stats", type: 5, keySize: 4, valueSize: 16 };
const MAGLEV: MapShape = { name: "lb4_maglev", type: 2, keySize: 4, valueSize: 4 };
const LPM: MapShape = { name: "lb4_source_range", type: 11, keySize: 12, valueSize: 1 };

describe("--map-max budget, as pure functions", () => {
  it("the kernel's hash map limit is 2^27 entries; arrays and tries have none of their own", () => {
    assert.equal(kernelLimit(SERVICES, KERNEL_HASH_MAX_ENTRIES), null);
    assert.match(
      kernelLimit(SERVICES, KERNEL_HASH_MAX_ENTRIES + 1) ?? "",
      /lb4_services .* at most 134217728/,
    );
    assert.equal(kernelLimit(MAGLEV, 0xffffffff), null);
    assert.equal(kernelLimit(LPM, 0xffffffff), null);
  });

  it("per-CPU values are counted per CPU, and the kernel's LPM trie takes nothing up front", () => {
    const one = preallocatedBytes(STATS, 1000, "kernel", 1);
    const four = preallocatedBytes(STATS, 1000, "kernel", 4);
    assert.equal(four - one, 1000 * 16 * 3);
    assert.equal(preallocatedBytes(LPM, 1000, "kernel", 4), 0);
    assert.ok(preallocatedBytes(LPM, 1000, "emulated", 1) > 1000 * 24, "the emulated trie preallocates");
    assert.equal(preallocatedBytes(MAGLEV, 1000, "emulated", 1), 8000); // values rounded to 8 bytes
  });

  it("refuses sizes beyond the tightest headroom, naming the largest map and the limit's source", () => {
    const input = {
      shapes: [SERVICES, MAGLEV],
      entries: [1_000_000, 1_000],
      target: "emulated" as const,
      cpus: 1,
      headroom: [
        { bytes: 2 ** 40, source: "the host's MemAvailable" },
        { bytes: 2 ** 20, source: "the memory cgroup /sys/fs/cgroup/test" },
      ],
    };
    assert.throws(
      () => checkMapBudget(input),
      (e: Error & { code?: string }) =>
        e.code === "E_USAGE" &&
        /the largest, lb4_services: .* for 1000000 entries/.test(e.message) &&
        /the memory cgroup \/sys\/fs\/cgroup\/test leaves only 1 MiB; lower --map-max$/.test(e.message),
    );
    // Maps that exist already (pinned) are reused, not allocated.
    checkMapBudget({ ...input, existing: new Set(["lb4_services"]) });
    checkMapBudget({ ...input, headroom: [{ bytes: 2 ** 40, source: "plenty" }] });
  });

  it("reads the headroom of cgroup v2 (the tightest ancestor) and v1, and MemAvailable", () => {
    const root = mkdtempSync(join(tmpdir(), `maplb-cgroup-${process.pid}-`));
    const put = (path: string, text: string) => {
      mkdirSync(join(root, path, ".."), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    try {
      put("proc/meminfo", "MemTotal:       8388608 kB\nMemAvailable:   4194304 kB\n");
      put("proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
      put("proc/self/cgroup", "0::/pods/web\n");
      put("sys/fs/cgroup/pods/memory.max", "1073741824\n"); // 1 GiB, 768 MiB used: 256 MiB left
      put("sys/fs/cgroup/pods/memory.current", "805306368\n");
      put("sys/fs/cgroup/pods/web/memory.max", "max\n");
      put("sys/fs/cgroup/pods/web/memory.current", "1048576\n");
      const v2 = memoryHeadroom(root);
      assert.deepEqual(v2[0], { bytes: 4 * 2 ** 30, source: "the host's MemAvailable" });
      assert.equal(v2[1]?.bytes, 256 * 2 ** 20);
      assert.match(
        v2[1]?.source ?? "",
        /^the memory cgroup \/sys\/fs\/cgroup\/pods \(memory\.max 1 GiB, memory\.current 768 MiB\)$/,
      );

      put("proc/self/mountinfo", "40 25 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
      put("proc/self/cgroup", "4:memory:/job\n0::/\n");
      put("sys/fs/cgroup/memory/job/memory.stat", "cache 0\nhierarchical_memory_limit 536870912\n");
      put("sys/fs/cgroup/memory/job/memory.usage_in_bytes", "134217728\n");
      assert.equal(memoryHeadroom(root)[1]?.bytes, 384 * 2 ** 20);
      put("sys/fs/cgroup/memory/job/memory.stat", "hierarchical_memory_limit 9223372036854771712\n");
      assert.equal(memoryHeadroom(root).length, 1, "no limit: only MemAvailable");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("E2BIG or ENOMEM while creating maps says to lower --map-max", () => {
    for (const errno of [constants.errno.E2BIG, constants.errno.ENOMEM])
      assert.match(mapCreateError(-errno, "creating maps").message, /; lower --map-max$/);
  });
});

const kernelProblem = probeKernel();
const requireKernel = process.env.MAPLB_REQUIRE_KERNEL === "1";

for (const datapath of ["emulated", "kernel"]) {
  const skip =
    datapath === "kernel" && kernelProblem && !requireKernel
      ? `needs the kernel datapath (${kernelProblem})`
      : false;
  describe(`maplb apply --datapath ${datapath} --map-max`, { skip }, () => {
    it("4294967295: exit 2 before any map is created, telling to lower it", () => {
      const r = apply(datapath, "4294967295");
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^maplb: --map-max: .*lb[46]_services.*; lower --map-max\n$/);
      if (datapath === "kernel") assert.match(r.stderr, /the kernel allows a hash map at most 134217728/);
      assert.doesNotMatch(r.stderr, /raise --map-max/);
    });

    it("100000000: exit 2 naming the memory limit, when the maps would not fit in memory", (t) => {
      const tightest = Math.min(...memoryHeadroom().map((h) => h.bytes));
      // Six maps of 10^8 entries at 56 bytes or more each: less would fit, and be allocated for real.
      if (tightest > 6 * 56 * 1e8) return t.skip(`this host could hold the maps (${tightest} bytes free)`);
      const r = apply(datapath, "100000000");
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`^maplb: --map-max: the ${datapath} maps would take about [\\d.]+ GiB`),
      );
      assert.match(r.stderr, /(MemAvailable|memory cgroup .*) leaves only .*; lower --map-max\n$/);
    });

    if (datapath === "kernel")
      it("--datapath auto does not fall back to emulated on a size the kernel refuses", () => {
        const r = apply("auto", "4294967295");
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /the kernel allows a hash map at most 134217728/);
        assert.doesNotMatch(r.stderr, /datapath auto: emulated/);
      });

    it("a size that fits is created and used", () => {
      const r = apply(datapath, "1000");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /applied \d+ MapOps/);
    });
  });
}
