// Simulated against real maps: the same sequence of operations on the host library's simulated
// maps and on real kernel maps must give the same results and the same errnos.
import { test } from "node:test";
import assert from "node:assert/strict";
import { UpdateFlag, type NativeMapName } from "../src/datapath/abi.js";
import { be32, encode, u32 } from "../src/datapath/codec.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { errnoName } from "../src/datapath/errno.js";
import { openKernel, probeKernel } from "../src/datapath/kernel.js";
import type { NativeMaps } from "../src/datapath/native-maps.js";
import type { MapMax } from "../src/datapath/options.js";
import { kernelSkip } from "./helpers/require-kernel.js";

/** expect: what the kernel's map types return here (checked on the simulated maps, always). */
type Op = (
  | { op: "update"; map: NativeMapName; key: Uint8Array; value: Uint8Array; flags?: number }
  | { op: "delete"; map: NativeMapName; key: Uint8Array }
  | { op: "lookup"; map: NativeMapName; key: Uint8Array }
  | { op: "batch"; map: NativeMapName; keys: Uint8Array[]; values: Uint8Array[]; flags?: number }
  | { op: "next"; map: NativeMapName; key: Uint8Array | null }
  | { op: "keys"; map: NativeMapName }
) & { expect?: string };

/** What an operation returned, as comparable text: the errno name, plus the data that came back. */
function perform(maps: NativeMaps, o: Op): string {
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  switch (o.op) {
    case "update":
      return errnoName(maps.tryUpdate(o.map, o.key, o.value, o.flags ?? UpdateFlag.ANY));
    case "delete":
      return errnoName(maps.tryDelete(o.map, o.key));
    case "lookup": {
      const v = maps.lookup(o.map, o.key);
      return v ? hex(v) : "ENOENT";
    }
    case "batch": {
      const { err, written } = maps.tryUpdateBatch(
        o.map,
        Buffer.concat(o.keys),
        Buffer.concat(o.values),
        o.keys.length,
        o.flags ?? UpdateFlag.ANY,
      );
      return `${errnoName(err)} written=${written}`;
    }
    case "next": {
      const next = new Uint8Array(maps.shapes[o.map].keySize);
      const err = maps.tryNextKey(o.map, o.key, next);
      return err ? errnoName(err) : "a key";
    }
    case "keys":
      return [...maps.keys(o.map)].map(hex).sort().join(",");
  }
}

const backend = (n: number) =>
  encode("lb4_backend", { address: 0x0a000000 + n, port: 8000 + n, proto: 6, flags: 0 });
const revnat = (n: number) => encode("lb4_reverse_nat", { address: 0x0a000000 + n, port: 8000 + n });
/** Not all zeros, but no protocol: no backend row may look like that. */
const noProto = encode("lb4_backend", { address: 0x0a000003, port: 80, proto: 0, flags: 0 });
const stats = (packets: number, bytes: number) => encode("lb4_backend_stats", { packets, bytes });
const srcKey = (prefix: number, revNat: number, addr: number) =>
  encode("lb4_src_range_key", { prefixlen: 32 + prefix, rev_nat_id: revNat, addr });
const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);

const SIZES: MapMax = {
  lb4_reverse_nat: 4,
  lb4_backends: 4,
  lb4_backend_stats: 4,
  lb4_source_range: 3,
  lb4_maglev: 8,
  node_addrs: 2,
};

const SEQUENCE: Op[] = [
  // HASH: flags, capacity, delete, batch.
  { op: "lookup", map: "lb4_reverse_nat", key: u32(1) },
  {
    op: "update",
    map: "lb4_reverse_nat",
    key: u32(1),
    value: revnat(1),
    flags: UpdateFlag.EXIST,
    expect: "ENOENT",
  },
  { op: "update", map: "lb4_reverse_nat", key: u32(1), value: revnat(1), flags: UpdateFlag.NOEXIST },
  {
    op: "update",
    map: "lb4_reverse_nat",
    key: u32(1),
    value: revnat(2),
    flags: UpdateFlag.NOEXIST,
    expect: "EEXIST",
  },
  { op: "update", map: "lb4_reverse_nat", key: u32(1), value: revnat(3), flags: UpdateFlag.EXIST },
  { op: "lookup", map: "lb4_reverse_nat", key: u32(1) },
  { op: "update", map: "lb4_reverse_nat", key: u32(2), value: revnat(2), flags: 3, expect: "EINVAL" },
  {
    op: "batch",
    map: "lb4_reverse_nat",
    keys: [u32(2), u32(3), u32(4), u32(5)],
    values: [2, 3, 4, 5].map(revnat),
  },
  { op: "keys", map: "lb4_reverse_nat" },
  { op: "update", map: "lb4_reverse_nat", key: u32(4), value: revnat(9) }, // full, but the key exists
  { op: "update", map: "lb4_reverse_nat", key: u32(6), value: revnat(6), expect: "E2BIG" },
  { op: "delete", map: "lb4_reverse_nat", key: u32(6) },
  { op: "delete", map: "lb4_reverse_nat", key: u32(4) },
  { op: "delete", map: "lb4_reverse_nat", key: u32(4) },
  { op: "update", map: "lb4_reverse_nat", key: u32(6), value: revnat(6) },
  {
    op: "batch",
    map: "lb4_reverse_nat",
    keys: [u32(7)],
    values: [revnat(7)],
    flags: UpdateFlag.NOEXIST,
    expect: "EINVAL written=1", // batches take no NOEXIST/EXIST, and leave count alone
  },
  { op: "next", map: "lb4_reverse_nat", key: null },
  { op: "next", map: "lb4_reverse_nat", key: u32(12345) },
  { op: "keys", map: "lb4_reverse_nat" },
  // Id tables (MAPLB_ID_TABLE): arrays by backend id, read as hash maps; a row of zeros is absent.
  // mapMax 4 means 4 backends: ids 1..4 (row 0 is never a backend), 5 is past the end.
  { op: "lookup", map: "lb4_backends", key: u32(1), expect: "ENOENT" },
  {
    op: "update",
    map: "lb4_backends",
    key: u32(1),
    value: backend(1),
    flags: UpdateFlag.EXIST,
    expect: "ENOENT",
  },
  { op: "update", map: "lb4_backends", key: u32(1), value: backend(1), flags: UpdateFlag.NOEXIST },
  {
    op: "update",
    map: "lb4_backends",
    key: u32(1),
    value: backend(2),
    flags: UpdateFlag.NOEXIST,
    expect: "EEXIST",
  },
  { op: "lookup", map: "lb4_backends", key: u32(1), expect: Buffer.from(backend(1)).toString("hex") },
  { op: "update", map: "lb4_backends", key: u32(4), value: backend(4), expect: "OK" },
  { op: "update", map: "lb4_backends", key: u32(5), value: backend(5), expect: "E2BIG" },
  { op: "update", map: "lb4_backends", key: u32(3), value: noProto, expect: "EINVAL" },
  { op: "delete", map: "lb4_backends", key: u32(4), expect: "OK" },
  { op: "delete", map: "lb4_backends", key: u32(4), expect: "ENOENT" },
  { op: "delete", map: "lb4_backends", key: u32(9), expect: "ENOENT" },
  { op: "lookup", map: "lb4_backends", key: u32(4), expect: "ENOENT" },
  { op: "keys", map: "lb4_backends", expect: "01000000" },
  {
    op: "batch",
    map: "lb4_backends",
    keys: [2, 3, 5].map(u32),
    values: [2, 3, 5].map(backend),
    expect: "E2BIG written=2",
  },
  { op: "keys", map: "lb4_backends", expect: "01000000,02000000,03000000" },
  { op: "next", map: "lb4_backends", key: u32(3), expect: "ENOENT" },
  { op: "update", map: "lb4_backend_stats", key: u32(2), value: stats(5, 300) },
  { op: "lookup", map: "lb4_backend_stats", key: u32(2), expect: Buffer.from(stats(5, 300)).toString("hex") },
  { op: "lookup", map: "lb4_backend_stats", key: u32(3), expect: "ENOENT" },
  { op: "delete", map: "lb4_backend_stats", key: u32(2), expect: "OK" },
  { op: "keys", map: "lb4_backend_stats", expect: "" },
  // ARRAY: every index exists, no deletes, E2BIG past the end.
  { op: "lookup", map: "lb4_maglev", key: u32(3) },
  { op: "update", map: "lb4_maglev", key: u32(3), value: u32(77) },
  { op: "lookup", map: "lb4_maglev", key: u32(3) },
  {
    op: "update",
    map: "lb4_maglev",
    key: u32(3),
    value: u32(1),
    flags: UpdateFlag.NOEXIST,
    expect: "EEXIST",
  },
  { op: "update", map: "lb4_maglev", key: u32(3), value: u32(78), flags: UpdateFlag.EXIST },
  { op: "update", map: "lb4_maglev", key: u32(8), value: u32(1), expect: "E2BIG" },
  { op: "lookup", map: "lb4_maglev", key: u32(8) },
  { op: "delete", map: "lb4_maglev", key: u32(3), expect: "EINVAL" },
  { op: "batch", map: "lb4_maglev", keys: [6, 7, 8].map(u32), values: [1, 2, 3].map(u32) },
  { op: "lookup", map: "lb4_maglev", key: u32(7) },
  { op: "next", map: "lb4_maglev", key: u32(7) },
  { op: "next", map: "lb4_maglev", key: u32(100) },
  // LPM trie: longest prefix, exact deletes, ENOSPC when full, EINVAL past the key's bits.
  { op: "update", map: "lb4_source_range", key: srcKey(8, 5, 0x0a000000), value: ONE },
  { op: "update", map: "lb4_source_range", key: srcKey(24, 5, 0x0a010200), value: TWO },
  { op: "lookup", map: "lb4_source_range", key: srcKey(32, 5, 0x0a010203), expect: "02" },
  { op: "lookup", map: "lb4_source_range", key: srcKey(32, 5, 0x0a090203), expect: "01" },
  { op: "lookup", map: "lb4_source_range", key: srcKey(32, 6, 0x0a010203), expect: "ENOENT" },
  { op: "lookup", map: "lb4_source_range", key: srcKey(32, 5, 0x0b010203) },
  {
    op: "update",
    map: "lb4_source_range",
    key: srcKey(24, 5, 0x0a010200),
    value: ONE,
    flags: UpdateFlag.NOEXIST,
  },
  {
    op: "update",
    map: "lb4_source_range",
    key: srcKey(16, 5, 0x0a010000),
    value: ONE,
    flags: UpdateFlag.EXIST,
  },
  { op: "update", map: "lb4_source_range", key: srcKey(16, 5, 0x0a010000), value: ONE },
  { op: "update", map: "lb4_source_range", key: srcKey(16, 6, 0x0a010000), value: ONE, expect: "ENOSPC" },
  { op: "update", map: "lb4_source_range", key: srcKey(33, 5, 0x0a010000), value: ONE, expect: "EINVAL" },
  { op: "delete", map: "lb4_source_range", key: srcKey(24, 5, 0x0a010200) },
  { op: "delete", map: "lb4_source_range", key: srcKey(24, 5, 0x0a010200) },
  { op: "lookup", map: "lb4_source_range", key: srcKey(32, 5, 0x0a010203) },
  { op: "keys", map: "lb4_source_range" },
  // A small hash keyed in network byte order.
  { op: "update", map: "node_addrs", key: be32(0xc0a8010b), value: ONE },
  { op: "update", map: "node_addrs", key: be32(0xc0a8010c), value: ONE },
  { op: "update", map: "node_addrs", key: be32(0xc0a8010d), value: ONE, expect: "E2BIG" },
  { op: "keys", map: "node_addrs" },
];

const kernelProblem = probeKernel();

test(
  "simulated maps and kernel maps give the same results and errnos for the same operations",
  { skip: kernelSkip(kernelProblem ? `needs root for BPF maps (${kernelProblem})` : null) },
  () => {
    const sim = openEmulated({ mapMax: SIZES });
    const real = openKernel({ ephemeral: true, mapMax: SIZES });
    try {
      const simResults = SEQUENCE.map((o) => perform(sim.maps, o));
      const realResults = SEQUENCE.map((o) => perform(real.maps, o));
      SEQUENCE.forEach((o, i) =>
        assert.equal(simResults[i], realResults[i], `step ${i + 1}: ${o.op} ${o.map} (simulated vs kernel)`),
      );
      // The sequence must actually reach the errnos it is about.
      const all = simResults.join(" ");
      for (const errno of ["EEXIST", "ENOENT", "E2BIG", "ENOSPC", "EINVAL"])
        assert.match(all, new RegExp(errno));
    } finally {
      sim.close();
      real.close();
    }
  },
);

test("simulated maps on their own: the errnos of the kernel's map types", () => {
  const sim = openEmulated({ mapMax: SIZES });
  try {
    SEQUENCE.forEach((o, i) => {
      const got = perform(sim.maps, o);
      if (o.expect !== undefined) assert.equal(got, o.expect, `step ${i + 1}: ${o.op} ${o.map}`);
    });
  } finally {
    sim.close();
  }
});

test("simulated hash map: inserts and deletes in any order keep every key findable (probe runs shift back)", () => {
  // A full table, then deletes and inserts in a scrambled order, checked against a plain Map: a
  // deletion that broke a probe run would lose keys behind it.
  const n = 64;
  const sim = openEmulated({ mapMax: { lb4_reverse_nat: n } });
  try {
    const model = new Map<number, string>();
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
    const put = (k: number) => {
      sim.maps.update("lb4_reverse_nat", u32(k), revnat(k));
      model.set(k, hex(revnat(k)));
    };
    const scatter = (k: number) => (k * 2654435761) >>> 0; // keys spread over the u32 range
    for (let k = 1; k <= n; k++) put(scatter(k));
    assert.equal(errnoName(sim.maps.tryUpdate("lb4_reverse_nat", u32(7), revnat(7))), "E2BIG");
    let step = 0;
    for (const k of [...model.keys()].sort((a, b) => ((a * 40503) % 977) - ((b * 40503) % 977))) {
      if (step++ % 3 === 2) continue;
      assert.equal(sim.maps.delete("lb4_reverse_nat", u32(k)), true, `delete ${k}`);
      model.delete(k);
      if (step % 5 === 0) put(scatter(step * 7919 + 1));
    }
    for (let k = 0; k < 5000; k++) {
      const got = sim.maps.lookup("lb4_reverse_nat", u32(scatter(k)));
      assert.equal(got ? hex(got) : undefined, model.get(scatter(k)), `key ${k}`);
    }
    for (const [k, v] of model) assert.equal(hex(sim.maps.lookup("lb4_reverse_nat", u32(k))!), v, `key ${k}`);
    const keys = [...sim.maps.keys("lb4_reverse_nat")].map((b) => new DataView(b.buffer).getUint32(0, true));
    assert.ok(model.size > n / 3 && model.size < n, `${model.size} keys left`);
    assert.deepEqual(
      keys.sort((a, b) => a - b),
      [...model.keys()].sort((a, b) => a - b),
    );
  } finally {
    sim.close();
  }
});

test(
  "id tables iterate their used rows only, past the kernel's batch of rows, on both targets",
  { skip: kernelSkip(kernelProblem ? `needs root for BPF maps (${kernelProblem})` : null) },
  () => {
    const ids = [3, 255, 256, 257, 700, 999, 1000]; // around the 256-row batches, and the last row
    const mapMax: MapMax = { lb4_backends: 1000, lb4_backend_stats: 1000 };
    const sim = openEmulated({ mapMax });
    const real = openKernel({ ephemeral: true, mapMax });
    try {
      for (const maps of [sim.maps, real.maps]) {
        for (const id of ids) {
          maps.update("lb4_backends", u32(id), backend(id));
          maps.update("lb4_backend_stats", u32(id), stats(id, 100 * id));
        }
        maps.delete("lb4_backends", u32(256));
        const rows = (map: NativeMapName) =>
          [...maps.keys(map)].map((k) => new DataView(k.buffer).getUint32(0, true));
        assert.deepEqual(rows("lb4_backends"), [3, 255, 257, 700, 999, 1000]);
        assert.deepEqual(rows("lb4_backend_stats"), ids);
        assert.deepEqual(maps.lookup("lb4_backend_stats", u32(700)), stats(700, 70000));
      }
    } finally {
      sim.close();
      real.close();
    }
  },
);
