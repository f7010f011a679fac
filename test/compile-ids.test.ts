// Stable ids: kept per key, not reused soon after being freed, rebuilt from existing tables, and a
// clear E_CAPACITY when exhausted.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Compiler, compile } from "../src/compile/compiler.js";
import { IdAllocator, IdBitmap } from "../src/compile/ids.js";
import { MaplbError } from "../src/errors.js";
import { applyChecked, MapState } from "./helpers/map-state.js";
import { endpoint, nodeConfig, servicePort } from "./helpers/model-factory.js";

const node = nodeConfig();

describe("IdBitmap", () => {
  it("adds, finds and deletes ids across word boundaries and up to 2^32 - 1", () => {
    const b = new IdBitmap();
    for (const id of [1, 31, 32, 33, 4095, 0xffffffff]) b.add(id);
    b.add(32);
    assert.equal(b.size, 6);
    assert.ok(b.has(31) && b.has(32) && b.has(0xffffffff) && !b.has(30) && !b.has(0xfffffffe));
    assert.equal(b.delete(32), true);
    assert.equal(b.delete(32), false);
    assert.ok(!b.has(32) && b.has(33));
    assert.equal(b.size, 5);
  });
});

describe("IdAllocator", () => {
  it("gives a key the same id until it is released", () => {
    const a = new IdAllocator("id", "m", 1, 10);
    assert.equal(a.acquire("x"), 1);
    assert.equal(a.acquire("y"), 2);
    assert.equal(a.acquire("x"), 1);
  });

  it("does not hand a freed id out again before a full lap", () => {
    const a = new IdAllocator("id", "m", 1, 4);
    a.acquire("x");
    a.release("x");
    a.settle();
    assert.deepEqual(
      ["a", "b", "c"].map((k) => a.acquire(k)),
      [2, 3, 4],
    );
    assert.equal(a.acquire("d"), 1, "after the lap, 1 is free again");
  });

  it("quarantines ids freed in the current batch even when the cursor wraps", () => {
    const a = new IdAllocator("id", "m", 1, 3);
    ["a", "b", "c"].forEach((k) => a.acquire(k));
    a.release("a");
    assert.throws(() => a.acquire("d"), /out of ids for m: all 3 are in use \(2 live, 1 just freed\)/);
    a.settle();
    assert.equal(a.acquire("d"), 1);
  });

  it("restores ids and continues after the highest", () => {
    const a = new IdAllocator("id", "m", 1, 100);
    a.restore("x", 7);
    a.restore("y", 3);
    assert.equal(a.acquire("x"), 7);
    assert.equal(a.acquire("z"), 8);
    assert.throws(() => a.restore("w", 7), /held by both x and w/);
    assert.throws(() => a.restore("w", 0), /outside 1..100/);
  });
});

describe("ids through the Compiler", () => {
  it("a recompile against the previous tables keeps every id, and a restart (new Compiler) does too", () => {
    const ports = [
      servicePort({ name: "a", clusterIP: "10.96.0.1", type: "NodePort", nodePort: 30001 }),
      servicePort({
        name: "b",
        clusterIP: "10.96.0.2",
        endpoints: [endpoint("10.0.2.1"), endpoint("10.0.2.2")],
      }),
    ];
    const first = compile({ ports }, node);
    // The second port's tables come first now: ids must not depend on order.
    const again = compile({ ports: [...ports].reverse() }, node, first);
    assert.deepEqual(
      [...again.services.values()].sort((x, y) => (x.id < y.id ? -1 : 1)),
      [...first.services.values()],
    );
    const restarted = new Compiler(node, first);
    assert.deepEqual(restarted.update(ports, []), [], "nothing changed, nothing to write");
  });

  it("a new backend gets a fresh id, not the id of one removed in the same update", () => {
    const c = new Compiler(node);
    c.update([servicePort({ endpoints: [endpoint("10.0.1.1"), endpoint("10.0.1.2")] })], []);
    const before = [...c.tables.services.values()][0]!.backends.map((b) => b.id);
    c.update([servicePort({ endpoints: [endpoint("10.0.1.1"), endpoint("10.0.1.3")] })], []);
    const after = [...c.tables.services.values()][0]!.backends.map((b) => b.id);
    assert.equal(after[0], before[0], "10.0.1.1 keeps its id");
    assert.ok(!before.includes(after[1]!), "10.0.1.3 does not get 10.0.1.2's id");
  });

  it("runs out of rev-NAT ids with E_CAPACITY naming the map", () => {
    const c = new Compiler(node, undefined, { maxRevNatId: 3 });
    c.update([servicePort({ type: "NodePort", nodePort: 30001 })], []); // ClusterIP, node IP, wildcard: 3
    assert.throws(
      () => c.update([servicePort({ name: "b", clusterIP: "10.96.0.2" })], []),
      (e) => e instanceof MaplbError && e.code === "E_CAPACITY" && /lb4_reverse_nat/.test(e.message),
    );
  });
});

describe("a failed update", () => {
  it("throws E_CAPACITY and leaves the Compiler as it was, so the next update still matches the maps", () => {
    const c = new Compiler(node, undefined, { maxRevNatId: 3 });
    const state = new MapState();
    const a = servicePort({ type: "NodePort", nodePort: 30001 }); // three frontends: all three ids
    assert.equal(applyChecked(state, c.update([a], [])), null);
    const before = MapState.of(c.tables).snapshot();
    const b = servicePort({ name: "b", clusterIP: "10.96.0.2" });
    const grownA = servicePort({ type: "NodePort", nodePort: 30001, endpoints: [endpoint("10.0.1.9")] });
    assert.throws(() => c.update([grownA, b], []), /E_CAPACITY|out of rev-NAT ids/);
    assert.deepEqual(MapState.of(c.tables).snapshot(), before, "a's change is rolled back too");
    // Removing a frees its ids (after the batch), so b fits in the next update.
    assert.equal(applyChecked(state, c.update([], [a.id])), null);
    assert.equal(applyChecked(state, c.update([b], [])), null);
    assert.deepEqual(state.snapshot(), MapState.of(c.tables).snapshot());
  });
});
