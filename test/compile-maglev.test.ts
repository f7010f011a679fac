// Maglev: balance, minimal disruption, determinism; and the placement of tables in lb4_maglev.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MaglevSpace } from "../src/compile/maglev-space.js";
import { RowSlab } from "../src/compile/row-slab.js";
import { checkMaglevTableSize, maglevRows, murmur3 } from "../src/compile/maglev.js";
import { native } from "../src/datapath/binding.js";
import { mulberry32 } from "./helpers/prng.js";
import { kernelSkip } from "./helpers/require-kernel.js";

/** Why the C fill cannot be compared here (the library is not built), or false. */
function nativeMissing(): string | false {
  try {
    native();
    return false;
  } catch (err) {
    return kernelSkip(`libmaplb.so (make -C native): ${String(err)}`, "the C Maglev fill's test");
  }
}

const backends = (n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => ({
    id: from + i,
    name: `10.0.${(from + i) >> 8}.${(from + i) & 255}:8080`,
  }));

function share(rows: Uint32Array): Map<number, number> {
  const n = new Map<number, number>();
  for (const id of rows) n.set(id, (n.get(id) ?? 0) + 1);
  return n;
}

describe("maglevRows", () => {
  it("murmur3 matches the reference vectors", () => {
    assert.equal(murmur3("", 0), 0);
    assert.equal(murmur3("", 1), 0x514e28b7);
    assert.equal(murmur3("hello", 0), 0x248bfa47);
    assert.equal(murmur3("The quick brown fox jumps over the lazy dog", 0), 0x2e4ff723);
  });

  for (const [n, m] of [
    [3, 251],
    [10, 16381],
    [100, 16381],
  ] as const) {
    it(`fills all ${m} rows and gives each of ${n} backends ≈ M/N rows`, () => {
      const rows = maglevRows(backends(n), m);
      assert.ok(rows.every((id) => id !== 0));
      const counts = [...share(rows).values()];
      assert.equal(counts.length, n);
      // The round-robin fill gives every backend ⌊M/N⌋ or ⌈M/N⌉ rows.
      assert.ok(
        Math.max(...counts) - Math.min(...counts) <= 1,
        `counts ${Math.min(...counts)}..${Math.max(...counts)}`,
      );
    });
  }

  it("gives exactly the rows of the paper's algorithm, probed one row at a time", () => {
    // The reference: every backend probes its permutation to the end (no shortcut for the last rows).
    const reference = (bs: { id: number; name: string }[], m: number): Uint32Array => {
      const rows = new Uint32Array(m);
      const next = bs.map((b) => murmur3(b.name, 0x6d61676c) % m);
      const skip = bs.map((b) => (murmur3(b.name, 0x65763021) % (m - 1)) + 1);
      for (let filled = 0; ;)
        for (let i = 0; i < bs.length; i++) {
          while (rows[next[i]!] !== 0) next[i] = (next[i]! + skip[i]!) % m;
          rows[next[i]!] = bs[i]!.id;
          if (++filled === m) return rows;
        }
    };
    for (const m of [2, 3, 5, 7, 13, 251, 1021, 16381, 131071])
      for (const n of [1, 2, 3, 10, 17, 300])
        if (n <= 17 || m <= 1021) {
          const bs = backends(n, m % 97);
          const expected = reference(bs, m);
          for (const fill of ["native", "js"] as const)
            assert.deepEqual(maglevRows(bs, m, undefined, fill), expected, `${fill}: n=${n} M=${m}`);
        }
  });

  it(
    "the C fill gives the JS fill's rows, on random backend sets and table sizes",
    { skip: nativeMissing() },
    () => {
      const random = mulberry32(0x6d61676c);
      const primes = [2, 3, 5, 7, 11, 13, 31, 251, 509, 1021, 2039, 4093, 8191, 16381, 65521, 131071];
      for (let round = 0; round < 300; round++) {
        const m = primes[Math.floor(random() * primes.length)]!;
        const n = 1 + Math.floor(random() * Math.min(m, round % 10 === 0 ? 1000 : 40));
        // Random addresses, ports and ids (not 1..N): the C fill must carry the ids, not positions.
        const bs = Array.from({ length: n }, () => ({
          id: 1 + Math.floor(random() * 0xfffffffe),
          name: `${[0, 0, 0, 0].map(() => Math.floor(random() * 256)).join(".")}:${Math.floor(random() * 65536)}`,
        }));
        const js = maglevRows(bs, m, undefined, "js");
        assert.deepEqual(maglevRows(bs, m, undefined, "native"), js, `round ${round}: n=${n} M=${m}`);
      }
    },
  );

  it(
    "the C fill rejects what would make it probe forever or write out of bounds",
    { skip: nativeMissing() },
    () => {
      const fill = native().maglevFill;
      const one = (x: number) => Uint32Array.of(x);
      const rows = new Uint32Array(15);
      const EINVAL = -22;
      // A skip sharing a factor with M (M = 15 is not prime) visits only some rows.
      assert.equal(fill(Uint32Array.of(0, 1), Uint32Array.of(3, 1), Uint32Array.of(1, 2), 0, rows), EINVAL);
      assert.equal(fill(one(15), one(1), one(1), 0, rows), EINVAL, "offset >= M");
      assert.equal(fill(one(0), one(0), one(1), 0, rows), EINVAL, "skip 0");
      assert.equal(fill(one(0), one(15), one(1), 0, rows), EINVAL, "skip >= M");
      assert.equal(fill(one(0), one(1), one(1), 15, rows), EINVAL, "last >= M");
      assert.equal(
        fill(new Uint32Array(0), new Uint32Array(0), new Uint32Array(0), 0, rows),
        EINVAL,
        "no backends",
      );
      assert.throws(() => fill(one(0), Uint32Array.of(1, 2), one(1), 0, rows), /skips: 2 bytes or items/);
      assert.equal(fill(Uint32Array.of(0, 1), Uint32Array.of(2, 1), Uint32Array.of(7, 9), 0, rows), 0);
      assert.ok(
        rows.every((id) => id === 7 || id === 9),
        "both backends' permutations visit every row",
      );
    },
  );

  it("is deterministic", () => {
    assert.deepEqual(maglevRows(backends(7), 251), maglevRows(backends(7), 251));
  });

  it("removing one backend moves mostly the rows it owned", () => {
    const m = 16381;
    const all = backends(10);
    const before = maglevRows(all, m);
    const after = maglevRows(
      all.filter((b) => b.id !== 4),
      m,
    );
    let moved = 0;
    for (let i = 0; i < m; i++) if (before[i] !== 4 && before[i] !== after[i]) moved++;
    // Maglev's paper reports a few percent of the other backends' rows move; far from a rehash (~90%).
    assert.ok(moved / m < 0.05, `${((100 * moved) / m).toFixed(1)}% of the other backends' rows moved`);
    assert.ok(after.every((id) => id !== 4));
  });

  it("an empty backend set gives an all-zero table", () => {
    assert.ok(maglevRows([], 251).every((id) => id === 0));
  });

  it("table sizes must be prime", () => {
    checkMaglevTableSize(16381, "x");
    checkMaglevTableSize(251, "x");
    assert.throws(
      () => checkMaglevTableSize(16384, "default/web"),
      /default\/web: Maglev table size must be a prime/,
    );
    assert.throws(() => checkMaglevTableSize(262147, "x"), /up to 131071/);
  });
});

describe("MaglevSpace", () => {
  it("keeps a table's range while M is unchanged and moves it when M changes", () => {
    const s = new MaglevSpace();
    assert.equal(s.acquire("a", 251), 0);
    assert.equal(s.acquire("b", 251), 251);
    assert.equal(s.acquire("a", 251), 0);
    assert.equal(s.acquire("a", 509), 502, "a new range: the old one is quarantined");
    s.settle();
    assert.equal(s.acquire("c", 100), 0, "after settle the freed range is reused");
  });

  it("does not reuse a range freed in the same batch", () => {
    const s = new MaglevSpace();
    s.acquire("a", 251);
    s.settle();
    s.release("a");
    assert.equal(s.acquire("b", 251), 251);
  });

  it("coalesces freed neighbours", () => {
    const s = new MaglevSpace();
    s.acquire("a", 100);
    s.acquire("b", 100);
    s.acquire("c", 100);
    s.release("a");
    s.release("b");
    s.settle();
    assert.equal(s.acquire("d", 200), 0);
  });

  it("rebuilds its free list from restored tables", () => {
    const s = new MaglevSpace();
    s.restore("a", 0, 100);
    s.restore("c", 300, 100);
    s.rebuildFreeList();
    assert.equal(s.acquire("b", 200), 100);
    assert.equal(s.acquire("d", 1), 400);
  });

  it("fails with E_CAPACITY naming lb4_maglev when full", () => {
    const s = new MaglevSpace(500);
    s.acquire("a", 251);
    assert.throws(
      () => s.acquire("b", 251),
      (e: Error & { code?: string }) => e.code === "E_CAPACITY" && /lb4_maglev is full/.test(e.message),
    );
  });
});

describe("RowSlab", () => {
  it("hands out zeroed tables that share buffers without overlapping", () => {
    const slab = new RowSlab();
    const tables = Array.from({ length: 300 }, (_, i) => slab.rows(i % 2 ? 16381 : 251));
    assert.ok(new Set(tables.map((t) => t.buffer)).size < 10, "a few buffers, not one per table");
    tables.forEach((t, i) => {
      assert.ok(t.every((v) => v === 0));
      t.fill(i + 1);
    });
    tables.forEach((t, i) =>
      assert.ok(
        t.every((v) => v === i + 1),
        `table ${i} was not overwritten`,
      ),
    );
    const huge = slab.rows(1 << 21);
    assert.equal(huge.buffer.byteLength, 4 << 21, "a table larger than a buffer gets its own");
  });
});
