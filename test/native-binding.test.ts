// The binding's promises: a clear error when the library is missing, a library search order, and
// --datapath auto saying which target it took and why.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { librarySearchPath, loadNative, PACKAGE_ROOT } from "../src/datapath/binding.js";
import { MaplbError } from "../src/errors.js";
import { openDatapath } from "../src/datapath/open.js";
import { maxEntriesArray } from "../src/datapath/options.js";
import { MAP_NAMES } from "../src/datapath/abi.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { BENCH_MODES, benchFrame } from "../src/datapath/speed.js";
import { constants } from "node:os";

test("the library is looked for in $MAPLB_NATIVE_LIB first, then native/build", () => {
  const saved = process.env.MAPLB_NATIVE_LIB;
  try {
    process.env.MAPLB_NATIVE_LIB = "/opt/x/libmaplb.so";
    assert.deepEqual(librarySearchPath(), [
      "/opt/x/libmaplb.so",
      join(PACKAGE_ROOT, "native/build/libmaplb.so"),
    ]);
    delete process.env.MAPLB_NATIVE_LIB;
    assert.deepEqual(librarySearchPath(), [join(PACKAGE_ROOT, "native/build/libmaplb.so")]);
  } finally {
    if (saved === undefined) delete process.env.MAPLB_NATIVE_LIB;
    else process.env.MAPLB_NATIVE_LIB = saved;
  }
});

test("a missing library is E_NATIVE_MISSING with 'run npm run build'", () => {
  assert.throws(
    () => loadNative(["/nonexistent/a/libmaplb.so", "/nonexistent/b/libmaplb.so"]),
    (err: unknown) => {
      assert.ok(err instanceof MaplbError);
      assert.equal(err.code, "E_NATIVE_MISSING");
      assert.match(
        err.message,
        /looked for \/nonexistent\/a\/libmaplb.so, \/nonexistent\/b\/libmaplb.so\); run npm run build/,
      );
      return true;
    },
  );
});

test("the built library loads and answers", () => {
  const lib = loadNative(librarySearchPath());
  assert.equal(lib.mapCount(), MAP_NAMES.length);
});

test("--map-max: a number sizes the service maps, an object sizes maps one by one", () => {
  const all = maxEntriesArray(1000);
  assert.equal(all[MAP_NAMES.indexOf("lb4_services")], 1000);
  assert.equal(all[MAP_NAMES.indexOf("ct4")], 0); // default
  const one = maxEntriesArray({ ct4: 77 });
  assert.equal(one[MAP_NAMES.indexOf("ct4")], 77);
  assert.equal(one[MAP_NAMES.indexOf("lb4_services")], 0);
  assert.throws(() => maxEntriesArray({ nope: 1 } as never), /no map named nope/);
  assert.throws(() => maxEntriesArray(-1), /positive integer/);
});

test("--datapath emulated opens the host build; auto picks a target and it works", () => {
  const emu = openDatapath({ kind: "emulated" });
  try {
    assert.equal(emu.kind, "emulated");
  } finally {
    emu.close();
  }
  const auto = openDatapath({ kind: "auto", pinDir: `/sys/fs/bpf/maplb-test-auto-${process.pid}` });
  try {
    const expected = process.getuid?.() === 0 ? "kernel" : "emulated";
    assert.equal(auto.kind, expected);
  } finally {
    auto.close();
    spawnSync("rm", ["-rf", `/sys/fs/bpf/maplb-test-auto-${process.pid}`]);
  }
});

test("maplb_bench takes the three modes of maplb_api.h and refuses any other with EINVAL", () => {
  const dp = openEmulated();
  try {
    const out = new BigUint64Array(1);
    for (const mode of Object.values(BENCH_MODES))
      assert.equal(dp.maps.api.bench(dp.maps.handle, benchFrame(), 10, mode, out), 0, `mode ${mode}`);
    assert.equal(dp.maps.api.bench(dp.maps.handle, benchFrame(), 10, 3, out), -constants.errno.EINVAL);
  } finally {
    dp.close();
  }
});

test("the batch calls check their buffers' lengths before the library touches them", () => {
  const dp = openEmulated();
  try {
    const { api, handle } = dp.maps;
    const usage = (fn: () => number, what: RegExp) =>
      assert.throws(
        fn,
        (err: unknown) => err instanceof MaplbError && err.code === "E_USAGE" && what.test(err.message),
      );
    const frames = new Uint8Array(100);
    const n1 = () => [Uint32Array.of(0), Uint32Array.of(100)] as const;
    const [offsets, lengths] = n1();
    const ok = api.process(handle, frames, offsets, lengths, null, new Uint8Array(1), new Uint8Array(1), 1);
    assert.equal(ok, 0);
    usage(
      () =>
        api.process(
          handle,
          frames,
          Uint32Array.of(1),
          lengths,
          null,
          new Uint8Array(1),
          new Uint8Array(1),
          1,
        ),
      /frame 0 \(offset 1, length 100\) ends past the 100-byte buffer/,
    );
    usage(
      () => api.process(handle, frames, offsets, lengths, null, new Uint8Array(0), new Uint8Array(1), 1),
      /maplb_process verdicts: 0 bytes or items where the count needs 1/,
    );
    usage(
      () =>
        api.process(
          handle,
          frames,
          offsets,
          lengths,
          new Uint8Array(2),
          new Uint8Array(1),
          new Uint8Array(1),
          1,
        ),
      /maplb_process csumPartial/,
    );
    const id = MAP_NAMES.indexOf("lb4_backends"); // key 4 bytes, value 8
    usage(
      () => api.lookupMany(handle, id, new Uint8Array(4), new Uint8Array(8), new Uint8Array(1), 2),
      /maplb_lookup_many keys: 4 bytes or items where the count needs 8/,
    );
    assert.equal(api.lookupMany(handle, id, new Uint8Array(8), new Uint8Array(16), new Uint8Array(2), 2), 0);
    usage(
      () => api.updateBatch(handle, id, new Uint8Array(8), new Uint8Array(15), Uint32Array.of(2), 0),
      /maplb_update_batch values: 15 bytes or items where the count needs 16/,
    );
    assert.equal(api.updateBatch(handle, id, new Uint8Array(8), new Uint8Array(16), Uint32Array.of(2), 0), 0);
  } finally {
    dp.close();
  }
});
