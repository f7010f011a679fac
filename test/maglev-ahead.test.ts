// Maglev tables filled ahead on a worker thread (maglev-ahead.ts) are the rows maglevRows() gives,
// and a compile large enough to use the worker gives every table the paper's rows.
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { describe, it } from "node:test";
import { compile } from "../src/compile/compiler.js";
import { maglevRows } from "../src/compile/maglev.js";
import { MaglevAhead, MIN_AHEAD_ROWS } from "../src/compile/maglev-ahead.js";
import { Beside } from "../src/util/beside.js";
import { endpoint, nodeConfig, servicePort } from "./helpers/model-factory.js";

const oneCore = availableParallelism() < 2 ? "one CPU: compile() fills every table itself" : false;

const backends = (n: number, from: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: from + 7 * i,
    name: `10.2.${(from + i) >> 8}.${(from + i) & 255}:80`,
  }));

describe("MaglevAhead", { skip: oneCore }, () => {
  it("hands each table it was given once, with the ids put in, as maglevRows() fills it", () => {
    const sets = [backends(5, 100), backends(1, 3), backends(12, 900)];
    const ahead = MaglevAhead.start(
      sets.map((b, i) => ({ m: [251, 1021, 16381][i]!, names: b.map((x) => x.name) })),
      0,
      0,
    );
    assert.ok(ahead, "a worker starts when the batch is large enough (here: any)");
    try {
      // Asked in another order than given, with other ids than the worker saw (it sees positions).
      for (const i of [2, 0, 1]) {
        const m = [251, 1021, 16381][i]!;
        assert.deepEqual(ahead.take(sets[i]!, m), maglevRows(sets[i]!, m), `table ${i}`);
        assert.equal(ahead.take(sets[i]!, m), undefined, "taken once");
      }
      assert.equal(ahead.take(sets[0]!, 1021), undefined, "same backends, another M: not computed ahead");
      assert.equal(ahead.take(backends(5, 101), 251), undefined, "other backends: not computed ahead");
    } finally {
      ahead.close();
    }
  });

  it("a worker that fails gives no answer (the caller then does its part itself)", () => {
    const worker = Beside.start<ArrayBuffer>(
      "a bad batch",
      new URL("../src/compile/maglev-worker.js", import.meta.url),
      null, // not a list of jobs: the worker throws
    );
    assert.ok(worker);
    try {
      assert.equal(worker.wait(), undefined);
    } finally {
      worker.close();
    }
  });

  it("starts no worker for a batch too small to pay for it", () => {
    assert.equal(MaglevAhead.start([{ m: 16381, names: ["10.0.0.1:80"] }]), null);
    // Many small tables: each is cheaper to fill than to hand over.
    const small = Array.from({ length: MIN_AHEAD_ROWS / 251 + 1 }, () => ({
      m: 251,
      names: ["10.0.0.1:80"],
    }));
    assert.equal(MaglevAhead.start(small), null);
  });

  it("compile() with tables filled ahead: every table holds the rows of its frontend's slots", () => {
    // Enough rows that compile() hands the second half to the worker, with ITP=Local ports (their
    // ClusterIP reads the local set) and two ports with the same backends.
    const m = 16381;
    const count = 2 * Math.ceil(MIN_AHEAD_ROWS / m) + 8;
    const ports = Array.from({ length: count }, (_, i) =>
      servicePort({
        name: `svc-${String(i).padStart(4, "0")}`,
        clusterIP: `10.96.${i >> 8}.${i & 255}`,
        maglevTableSize: m,
        internalTrafficPolicy: i % 5 === 0 ? "Local" : "Cluster",
        endpoints: Array.from({ length: 3 + (i % 4) }, (_, j) =>
          endpoint(`10.1.${i === count - 1 ? 0 : i >> 4}.${(i & 15) * 16 + j}`, {
            nodeName: j % 2 ? "node-a" : "node-b",
          }),
        ),
      }),
    );
    const tables = compile({ ports }, nodeConfig());
    let checked = 0;
    for (const t of tables.services.values()) {
      const name = new Map(t.backends.map((b) => [b.id, `${b.address}:${b.port}`]));
      for (const f of t.frontends) {
        const table = t.maglev.find((x) => x.name === f.maglevTable)!;
        const expected = maglevRows(
          f.slots.map((id) => ({ id, name: name.get(id)! })),
          m,
        );
        assert.deepEqual(table.rows, expected, `${t.id} ${f.maglevTable}`);
        checked++;
      }
    }
    assert.equal(checked, count);
  });
});
