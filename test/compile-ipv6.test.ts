// compile() of dual-stack and IPv6 service ports: one compile emits both families, each frontend of
// its port's family only; backend and rev-NAT ids are one space across the families; Maglev tables
// are placed per family (lb4_maglev, lb6_maglev); removals name the family of what they delete.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compile, Compiler } from "../src/compile/compiler.js";
import { diff } from "../src/compile/diff.js";
import {
  frontendKeyString,
  type LbTables,
  Scope,
  type ServicePortTables,
  SvcFlag,
} from "../src/compile/tables.js";
import { MaplbError } from "../src/errors.js";
import type { ServicePort } from "../src/model/types.js";
import { dualStackLb, dualStackNode as node, endpoint, servicePort } from "./helpers/model-factory.js";

function portTables(tables: LbTables, id: string): ServicePortTables {
  const t = tables.services.get(id);
  assert.ok(t, `no tables for ${id}`);
  return t;
}

const V4 = "shop/lb:http/TCP";
const V6 = "shop/lb:http/TCP/IPv6";

describe("dual-stack compile", () => {
  it("gives the IPv6 half IPv6 frontends only: ClusterIP, the IPv6 node IP, the :: wildcard, the ingress IP", () => {
    const tables = compile({ ports: dualStackLb() }, node);
    const keys = (id: string) => portTables(tables, id).frontends.map((f) => frontendKeyString(f.key));
    assert.deepEqual(keys(V6), [
      "fd00:96::20:80/TCP",
      "2001:db8:ff::10:30080/TCP",
      "2001:db8:ff::10:30080/TCP/int",
      ":::30080/TCP",
      ":::30080/TCP/int",
      "2001:db8:7::7:80/TCP",
      "2001:db8:7::7:80/TCP/int",
    ]);
    // ...and the IPv4 half no IPv6 node IP (NodeConfig.nodeIPs holds both families).
    assert.deepEqual(keys(V4), [
      "10.96.0.20:80/TCP",
      "192.0.2.10:30080/TCP",
      "192.0.2.10:30080/TCP/int",
      "0.0.0.0:30080/TCP",
      "0.0.0.0:30080/TCP/int",
      "203.0.113.7:80/TCP",
      "203.0.113.7:80/TCP/int",
    ]);
  });

  it("ETP=Local over IPv6: EXT reads the local backends, INT all, with TWO_SCOPES; source ranges in IPv6", () => {
    const t = portTables(compile({ ports: dualStackLb() }, node), V6);
    const addr = new Map(t.backends.map((b) => [b.id, b.address]));
    const lb = (scope: Scope) =>
      t.frontends.find((f) => f.key.address === "2001:db8:7::7" && f.key.scope === scope)!;
    assert.deepEqual(
      lb(Scope.EXT).slots.map((id) => addr.get(id)),
      ["2001:db8:1::1"],
    );
    assert.deepEqual(
      lb(Scope.INT).slots.map((id) => addr.get(id)),
      ["2001:db8:1::1", "2001:db8:1::2"],
    );
    assert.equal(lb(Scope.EXT).master.flags, SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES | SvcFlag.SOURCE_RANGE);
    assert.deepEqual(t.sourceRanges, [{ revNatId: lb(Scope.EXT).master.revNatId, cidr: "2001:db8:51::/48" }]);
    const wildcard = t.frontends.find((f) => f.key.address === "::" && f.key.scope === Scope.EXT)!;
    assert.equal(wildcard.master.flags, SvcFlag.NODEPORT | SvcFlag.TWO_SCOPES);
    assert.deepEqual(
      t.revNat.find((r) => r.id === wildcard.master.revNatId),
      { id: wildcard.master.revNatId, address: "::", port: 30080 },
    );
  });

  it("backend ids and rev-NAT ids are one space: no id is given to both families", () => {
    const tables = compile({ ports: dualStackLb() }, node);
    const all = [...tables.services.values()];
    const backendIds = all.flatMap((t) => t.backends.map((b) => b.id));
    const revNatIds = all.flatMap((t) => t.revNat.map((r) => r.id));
    assert.equal(backendIds.length, 4);
    assert.equal(new Set(backendIds).size, backendIds.length, `backend ids ${backendIds.join(",")}`);
    assert.equal(revNatIds.length, 8);
    assert.equal(new Set(revNatIds).size, revNatIds.length, `rev-NAT ids ${revNatIds.join(",")}`);
    for (const t of all)
      for (const f of t.frontends) assert.ok(t.revNat.some((r) => r.id === f.master.revNatId));
  });

  it("Maglev tables are placed per family: each family's first table at row 0 of its own array", () => {
    const second = servicePort({
      name: "other",
      family: "IPv6",
      clusterIP: "fd00:96::30",
      endpoints: [endpoint("2001:db8:1::9")],
    });
    const tables = compile({ ports: [...dualStackLb(), second] }, node);
    const placed = (id: string) => portTables(tables, id).maglev.map((m) => [m.name, m.family, m.offset]);
    assert.deepEqual(placed(V4), [
      ["cluster", "IPv4", 0],
      ["local", "IPv4", 251],
    ]);
    assert.deepEqual(placed(V6), [
      ["cluster", "IPv6", 0],
      ["local", "IPv6", 251],
    ]);
    assert.deepEqual(placed("shop/other:http/TCP/IPv6"), [["cluster", "IPv6", 502]]);
    // The IPv6 table names IPv6 backends only.
    const v6 = portTables(tables, V6);
    const ids = new Set(v6.backends.map((b) => b.id));
    assert.ok(v6.maglev.every((m) => m.rows.every((id) => ids.has(id))));
  });

  it("a full lb6_maglev is an error that names lb6_maglev, whatever room lb4_maglev has", () => {
    assert.throws(
      () => compile({ ports: dualStackLb() }, node, undefined, { maglevRows: 1_000_000, maglevRows6: 300 }),
      (e: unknown) =>
        e instanceof MaplbError && e.code === "E_CAPACITY" && /^lb6_maglev is full/.test(e.message),
    );
    // The IPv4 tables alone fit in 502 rows of lb4_maglev, whatever the IPv6 ones take.
    const v4only = compile({ ports: dualStackLb().slice(0, 1) }, node, undefined, {
      maglevRows: 502,
      maglevRows6: 1,
    });
    assert.equal(portTables(v4only, V4).maglev.length, 2);
  });

  it("IPv6 addresses are compiled in canonical text, so two spellings are one frontend", () => {
    const a = servicePort({
      name: "a",
      family: "IPv6",
      clusterIP: "FD00:96:0::0:40",
      endpoints: [endpoint("2001:DB8:1:0::1")],
      loadBalancerSourceRanges: [],
    });
    const b = servicePort({
      name: "b",
      family: "IPv6",
      clusterIP: "fd00:96::40",
      endpoints: [endpoint("2001:db8:1::2")],
    });
    const c = new Compiler(node);
    c.update([a, b], []);
    const ta = c.tables.services.get(a.id)!;
    assert.deepEqual(
      ta.frontends.map((f) => frontendKeyString(f.key)),
      ["fd00:96::40:80/TCP"],
    );
    assert.deepEqual(
      ta.backends.map((x) => x.address),
      ["2001:db8:1::1"],
    );
    // b asks for the same address, spelled differently: the owner keeps it, b waits (as for IPv4).
    assert.equal(c.tables.services.has(b.id), false);
    assert.deepEqual(c.denied.get(b.id), { frontend: "fd00:96::40:80/TCP", owner: a.id });
  });

  it("ownership is per family: 0.0.0.0:30080 and :::30080 are two frontends, for two Services", () => {
    const v4 = servicePort({ name: "four", type: "NodePort", nodePort: 30080 });
    const v6 = servicePort({
      name: "six",
      family: "IPv6",
      clusterIP: "fd00:96::60",
      type: "NodePort",
      nodePort: 30080,
      endpoints: [endpoint("2001:db8:1::6")],
    });
    const c = new Compiler(node);
    c.update([v4, v6], []);
    assert.equal(c.denied.size, 0);
    const wildcards = [...c.tables.services.values()].flatMap((t) =>
      t.frontends
        .filter((f) => f.key.address === "::" || f.key.address === "0.0.0.0")
        .map((f) => frontendKeyString(f.key)),
    );
    assert.deepEqual(wildcards.sort(), ["0.0.0.0:30080/TCP", ":::30080/TCP"]);
  });

  it("an IPv6 source range is kept in canonical text (the maps read it back so)", () => {
    const [, v6] = dualStackLb({ v6: { loadBalancerSourceRanges: ["2001:DB8:51:0::/48"] } });
    const t = portTables(compile({ ports: [v6!] }, node), V6);
    assert.deepEqual([...new Set(t.sourceRanges.map((r) => r.cidr))], ["2001:db8:51::/48"]);
  });

  it("removing the IPv6 half: every delete names IPv6, and the IPv4 half is untouched", () => {
    const before = compile({ ports: dualStackLb() }, node);
    const after = compile({ ports: dualStackLb().slice(0, 1) }, node, before);
    assert.equal(after.services.get(V4), before.services.get(V4), "the IPv4 half keeps its object");
    const ops = diff(before, after);
    const v6 = portTables(before, V6);
    const deleted = (kind: string) => ops.filter((o) => o.kind === kind);
    assert.deepEqual(
      deleted("backend-delete").map((o) => o.kind === "backend-delete" && [o.id, o.family]),
      v6.backends.map((b) => [b.id, "IPv6"]),
    );
    assert.deepEqual(
      deleted("revnat-delete").map((o) => o.kind === "revnat-delete" && [o.id, o.family]),
      v6.revNat.map((r) => [r.id, "IPv6"]),
    );
    const zeroed = deleted("maglev-write");
    assert.equal(zeroed.length, 2);
    assert.ok(
      zeroed.every((o) => o.kind === "maglev-write" && o.family === "IPv6" && o.rows.every((r) => r === 0)),
    );
    assert.ok(
      ops.every((o) => !("key" in o) || o.key.address.includes(":")),
      "no IPv4 frontend is written or deleted",
    );
  });
});
