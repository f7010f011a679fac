// rowsPerBackend: the counts `maplb compile` prints for each Maglev table, whatever the ids are.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maglevRows } from "../src/compile/maglev.js";
import { rowsPerBackend } from "../src/compile/render.js";

/** The plain way: a Map lookup per row, then id order. */
function naive(rows: Uint32Array): [number, number][] {
  const n = new Map<number, number>();
  for (const id of rows) n.set(id, (n.get(id) ?? 0) + 1);
  return [...n].sort(([a], [b]) => a - b);
}

describe("rowsPerBackend", () => {
  it("counts a Maglev table's rows per backend id, in id order", () => {
    const backends = Array.from({ length: 7 }, (_, i) => ({ id: 40 + 3 * i, name: `10.1.0.${i}:80` }));
    const rows = maglevRows(backends, 251);
    assert.deepEqual([...rowsPerBackend(rows)], naive(rows));
    assert.equal(
      [...rowsPerBackend(rows).values()].reduce((a, b) => a + b),
      251,
    );
  });

  it("counts ids far apart, near 0 and near 2^32 (outside the counters' window)", () => {
    const ids = [0xffffffff, 1, 0x80000000, 70_000, 5, 0xffffffff, 1, 1];
    const rows = Uint32Array.from(ids);
    assert.deepEqual([...rowsPerBackend(rows)], naive(rows));
    // The reused counters are left clean: a second table does not see the first one's counts.
    assert.deepEqual([...rowsPerBackend(Uint32Array.from([5, 5]))], [[5, 2]]);
    assert.deepEqual([...rowsPerBackend(new Uint32Array(0))], []);
  });
});
