// rowsPerBackend: the counts `maplb compile` prints for each Maglev table, whatever the ids are; and
// maglevShares, which gives them without counting, against the counted rows of compiled tables.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compile } from "../src/compile/compiler.js";
import { maglevRows } from "../src/compile/maglev.js";
import { maglevShares, rowsPerBackend } from "../src/compile/render.js";
import { endpoint, nodeConfig, servicePort, terminating } from "./helpers/model-factory.js";
import { mulberry32 } from "./helpers/prng.js";

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

  it("maglevShares gives the counted rows of every compiled table (both sets, N above and below M)", () => {
    const random = mulberry32(0x73686172);
    const primes = [2, 3, 7, 31, 251, 509];
    let tables = 0;
    for (let round = 0; round < 40; round++) {
      const ports = Array.from({ length: 5 }, (_, k) => {
        const n = 1 + Math.floor(random() * 40);
        const eps = Array.from({ length: n }, (_, j) => {
          const ip = `10.${round}.${k}.${j + 1}`;
          const node = { nodeName: random() < 0.5 ? "node-a" : "node-b" };
          return random() < 0.2 ? terminating(ip, node) : endpoint(ip, node);
        });
        return servicePort({
          name: `web-${k}`,
          endpoints: eps,
          maglevTableSize: primes[Math.floor(random() * primes.length)]!,
          // Local external traffic gives a second (local) table.
          type: "NodePort",
          nodePort: 30000 + k,
          externalTrafficPolicy: random() < 0.5 ? "Local" : "Cluster",
        });
      });
      for (const s of compile({ ports }, nodeConfig()).services.values())
        for (const t of s.maglev) {
          assert.deepEqual([...maglevShares(s, t)], [...rowsPerBackend(t.rows)], `${s.id} ${t.name}`);
          tables++;
        }
    }
    assert.ok(tables > 200, `${tables} tables compared`);
  });
});
