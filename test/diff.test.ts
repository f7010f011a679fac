// diff: the order of MapOps (DESIGN principle 4) on hand-picked changes, and the per-service paths.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Compiler, compile } from "../src/compile/compiler.js";
import { diff } from "../src/compile/diff.js";
import type { LbTables, MapOp } from "../src/compile/tables.js";
import type { ServicePort } from "../src/model/types.js";
import { applyChecked, MapState } from "./helpers/map-state.js";
import { endpoint, nodeConfig, servicePort, terminating } from "./helpers/model-factory.js";

const node = nodeConfig();

/** The ops of one change, checked hitless and complete against the map-state model. */
function change(before: ServicePort[], after: ServicePort[]): MapOp[] {
  const prev = compile({ ports: before }, node);
  const next = compile({ ports: after }, node, prev);
  const ops = diff(prev, next);
  const state = MapState.of(prev);
  assert.equal(applyChecked(state, ops), null);
  assert.deepEqual(state.snapshot(), MapState.of(next).snapshot());
  return ops;
}

/** The index of the first and last op of each kind. */
function positions(ops: MapOp[]): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  ops.forEach((op, i) => (out[op.kind] = [out[op.kind]?.[0] ?? i, i]));
  return out;
}

const eps = (...hosts: number[]) => hosts.map((h) => endpoint(`10.0.1.${h}`));

describe("diff order", () => {
  it("adding a backend: backend, then slot, then Maglev rows, then the master with the new count", () => {
    const ops = change([servicePort({ endpoints: eps(1, 2) })], [servicePort({ endpoints: eps(1, 2, 3) })]);
    assert.deepEqual(
      ops.map((o) => o.kind),
      ["backend-upsert", "slot-upsert", "maglev-write", "master-upsert"],
    );
  });

  it("removing a backend: slots and rows are rewritten, the master shrinks, then the stale slot and the backend go", () => {
    const ops = change([servicePort({ endpoints: eps(1, 2, 3) })], [servicePort({ endpoints: eps(1, 3) })]);
    const at = positions(ops);
    assert.ok(at["slot-upsert"]![1] < at["master-upsert"]![0]);
    assert.ok(at["maglev-write"]![1] < at["master-upsert"]![0]);
    assert.ok(at["master-upsert"]![1] < at["slot-delete"]![0]);
    assert.equal(ops.at(-1)!.kind, "backend-delete");
  });

  it("a backend that starts terminating is updated in place (same id), and stays for draining", () => {
    const ops = change(
      [servicePort({ endpoints: eps(1, 2) })],
      [servicePort({ endpoints: [endpoint("10.0.1.1"), terminating("10.0.1.2")] })],
    );
    const upserts = ops.filter((o) => o.kind === "backend-upsert");
    assert.equal(upserts.length, 1);
    assert.ok(!ops.some((o) => o.kind === "backend-delete"));
  });

  it("removing a service: masters first, then slots, rev-NAT, zeroed Maglev rows, then backends", () => {
    const ops = change([servicePort({ type: "NodePort", nodePort: 30080 })], []);
    const at = positions(ops);
    assert.ok(at["master-delete"]![1] < at["slot-delete"]![0]);
    assert.ok(at["slot-delete"]![1] < at["backend-delete"]![0]);
    assert.ok(at["maglev-write"]![1] < at["backend-delete"]![0]);
    const zeroed = ops.find((o) => o.kind === "maglev-write");
    assert.ok(zeroed?.kind === "maglev-write" && zeroed.rows.every((r) => r === 0));
  });

  it("a new Maglev size moves the table: written whole before the master, the old range zeroed after", () => {
    const ops = change([servicePort({ maglevTableSize: 251 })], [servicePort({ maglevTableSize: 509 })]);
    assert.deepEqual(
      ops.map((o) => (o.kind === "maglev-write" ? `maglev-write ${o.offset}+${o.rows.length}` : o.kind)),
      ["maglev-write 251+509", "master-upsert", "maglev-write 0+251"],
    );
  });

  it("source ranges: new ones before the master that turns the check on, old ones after", () => {
    const lb = (ranges: string[]) =>
      servicePort({
        type: "LoadBalancer",
        nodePort: 30080,
        loadBalancerIPs: ["203.0.113.5"],
        loadBalancerSourceRanges: ranges,
      });
    const ops = change([lb(["192.0.2.0/24"])], [lb(["198.18.0.0/15"])]);
    const at = positions(ops);
    assert.deepEqual(Object.keys(at), ["source-range-upsert", "source-range-delete"]);
    const on = change([lb([])], [lb(["192.0.2.0/24"])]);
    assert.deepEqual(
      on.map((o) => o.kind),
      ["source-range-upsert", "master-upsert"],
    );
  });

  it("an externalIP moving from one service port to another is rewritten, not deleted", () => {
    const a = (ips: string[]) => servicePort({ name: "a", clusterIP: "10.96.0.1", externalIPs: ips });
    const b = (ips: string[]) =>
      servicePort({ name: "b", clusterIP: "10.96.0.2", externalIPs: ips, endpoints: eps(7) });
    change([a(["198.51.100.7"]), b([])], [a([]), b(["198.51.100.7"])]);
  });

  it("the second owner of a contested frontend takes it over when the first lets go", () => {
    const a = (ips: string[]) => servicePort({ name: "a", clusterIP: "10.96.0.1", externalIPs: ips });
    const b = servicePort({
      name: "b",
      clusterIP: "10.96.0.2",
      externalIPs: ["198.51.100.7"],
      endpoints: eps(7),
    });
    const c = new Compiler(node);
    c.update([a(["198.51.100.7"]), b], []);
    c.update([a([])], []); // only a changes; b was waiting for the address
    const owner = [...c.tables.services.values()].find((t) =>
      t.frontends.some((f) => f.key.address === "198.51.100.7"),
    );
    assert.equal(owner?.id, b.id);
  });
  it("a freed contested frontend goes to the smallest waiting id, whatever the order of updates", () => {
    const want = (name: string, ips: string[], i: number) =>
      servicePort({ name, clusterIP: `10.96.0.${i}`, externalIPs: ips, endpoints: eps(i) });
    const x = ["198.51.100.7"];
    const c = new Compiler(node);
    c.update([want("a", x, 1), want("c", x, 3)], []);
    c.update([want("b", x, 2)], []);
    c.update([want("a", [], 1)], []);
    const ownerOf = (t: LbTables) =>
      [...t.services.values()].find((s) => s.frontends.some((f) => f.key.address === x[0]))?.id;
    assert.equal(ownerOf(c.tables), "shop/b:http/TCP");
    const whole = compile({ ports: [want("a", [], 1), want("b", x, 2), want("c", x, 3)] }, node);
    assert.equal(ownerOf(whole), "shop/b:http/TCP");
  });
});

describe("the incremental path", () => {
  it("update() touches only the changed service port", () => {
    const ports = Array.from({ length: 50 }, (_, i) =>
      servicePort({
        name: `s${i}`,
        clusterIP: `10.96.1.${i}`,
        endpoints: [endpoint(`10.1.${i}.1`), endpoint(`10.1.${i}.2`)],
      }),
    );
    const c = new Compiler(node);
    c.update(ports, []);
    const untouched = new Map(c.tables.services);
    const changed = servicePort({ ...ports[7]!, endpoints: [endpoint("10.1.7.1"), endpoint("10.1.7.3")] });
    const ops = c.update([changed], []);
    assert.ok(ops.length > 0);
    for (const [id, t] of c.tables.services) if (id !== changed.id) assert.equal(t, untouched.get(id), id);
    const touched = new Set(ops.flatMap((o) => ("key" in o ? [o.key.address] : [])));
    assert.deepEqual([...touched], ["10.96.1.7"]);
  });

  it("update() with nothing changed returns no ops", () => {
    const c = new Compiler(node);
    const p = servicePort();
    c.update([p], []);
    assert.deepEqual(c.update([p], []), []);
  });

  it("removing by id deletes every row of the port", () => {
    const c = new Compiler(node);
    const p = servicePort({ type: "NodePort", nodePort: 30080 });
    const state = new MapState();
    assert.equal(applyChecked(state, c.update([p], [])), null);
    assert.equal(applyChecked(state, c.update([], [p.id])), null);
    assert.deepEqual(state.snapshot(), new MapState().snapshot());
  });
});
