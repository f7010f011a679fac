// Properties of diff and the incremental Compiler over random sequences of dual-stack models (each
// Service may have an IPv4 half, an IPv6 half, or both):
// - applying the MapOps to the previous maps gives exactly the next tables' maps;
// - after every single op, no slot or Maglev row names a missing backend, no master counts more slots
//   than exist, no master names a missing rev-NAT entry or an empty Maglev row;
// - ids of frontends and backends that survive an update never change.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Compiler, compile } from "../src/compile/compiler.js";
import { diff } from "../src/compile/diff.js";
import { frontendKeyString, type LbTables } from "../src/compile/tables.js";
import { IP_FAMILIES, type IpFamily, type ServiceModel, type ServicePort } from "../src/model/types.js";
import { applyChecked, MapState } from "./helpers/map-state.js";
import { portPolicy, randomEndpoints } from "./helpers/endpoint-arbitraries.js";
import { nodeConfig, servicePort } from "./helpers/model-factory.js";

const node = nodeConfig({ nodeName: "node-a", nodeIPs: ["192.0.2.10", "2001:db8:ff::10"] });

/** Each family's addresses; the shared LoadBalancer and external IPs make frontend conflicts possible. */
const ADDRESSES = {
  IPv4: {
    clusterIP: (i: number) => `10.96.0.${i + 1}`,
    loadBalancerIPs: ["203.0.113.1", "203.0.113.2"],
    externalIPs: ["198.51.100.1"],
    sourceRanges: ["192.0.2.0/24", "198.18.0.0/15"],
  },
  IPv6: {
    clusterIP: (i: number) => `fd00:96::${i + 1}`,
    loadBalancerIPs: ["2001:db8:7::1", "2001:db8:7::2"],
    externalIPs: ["2001:db8:51::1"],
    sourceRanges: ["2001:db8:1::/48", "2001:db8::/32"],
  },
} as const;

/** The `family` half of service number i of a small universe. */
function portArb(i: number, family: IpFamily): fc.Arbitrary<ServicePort> {
  const a = ADDRESSES[family];
  return fc
    .record({
      ...portPolicy,
      loadBalancerIPs: fc.subarray([...a.loadBalancerIPs]),
      externalIPs: fc.subarray([...a.externalIPs]),
      loadBalancerSourceRanges: fc.subarray([...a.sourceRanges]),
      maglevTableSize: fc.constantFrom(7, 13, 31),
      endpoints: randomEndpoints(8, 6, family),
    })
    .map((r) =>
      servicePort({
        ...r,
        family,
        name: `svc${i}`,
        clusterIP: a.clusterIP(i),
        nodePort: r.type === "ClusterIP" ? 0 : 30000 + i,
        loadBalancerIPs: r.type === "LoadBalancer" ? r.loadBalancerIPs : [],
        loadBalancerSourceRanges: r.type === "LoadBalancer" ? r.loadBalancerSourceRanges : [],
      }),
    );
}

const UNIVERSE = 5;
const model: fc.Arbitrary<ServiceModel> = fc
  .tuple(
    ...Array.from({ length: UNIVERSE }, (_, i) =>
      IP_FAMILIES.map((family) => fc.option(portArb(i, family), { nil: undefined, freq: 3 })),
    ).flat(),
  )
  .map((ports) => ({
    ports: ports.filter((p): p is ServicePort => p !== undefined).sort((a, b) => (a.id < b.id ? -1 : 1)),
  }));

const models = fc.array(model, { minLength: 2, maxLength: 4 });

/** Every id keyed by what it names: `sp frontend` → rev-NAT id, `sp backend` → backend id. */
function idsOf(t: LbTables): Map<string, number> {
  const ids = new Map<string, number>();
  for (const s of t.services.values()) {
    for (const f of s.frontends)
      ids.set(`${s.id} ${frontendKeyString({ ...f.key, scope: 0 })}`, f.master.revNatId);
    for (const b of s.backends) ids.set(`${s.id} ${b.address}:${b.port}`, b.id);
  }
  return ids;
}

function assertIdsKept(prev: LbTables, next: LbTables): void {
  const before = idsOf(prev);
  for (const [what, id] of idsOf(next))
    if (before.has(what)) assert.equal(id, before.get(what), `${what} changed id`);
}

/** The ports of `next` that differ from `prev` (by value), and the ids `next` dropped. */
function changes(prev: ServiceModel, next: ServiceModel): { changed: ServicePort[]; removed: string[] } {
  const old = new Map(prev.ports.map((p) => [p.id, JSON.stringify(p)]));
  const ids = new Set(next.ports.map((p) => p.id));
  return {
    changed: next.ports.filter((p) => old.get(p.id) !== JSON.stringify(p)),
    removed: prev.ports.map((p) => p.id).filter((id) => !ids.has(id)),
  };
}

/** What the tables route where, with ids replaced by what they name (ids may differ between paths). */
function routing(t: LbTables): object {
  const out: Record<string, unknown> = {};
  for (const s of t.services.values()) {
    const name = new Map(s.backends.map((b) => [b.id, `${b.address}:${b.port}`]));
    out[s.id] = {
      backends: s.backends.map((b) => [name.get(b.id), b.flags]),
      frontends: s.frontends.map((f) => {
        const { revNatId: _r, maglevOffset: _o, ...master } = f.master;
        return [frontendKeyString(f.key), master, f.slots.map((id) => name.get(id))];
      }),
      maglev: s.maglev.map((m) => [m.name, m.family, Array.from(m.rows, (id) => name.get(id))]),
      sourceRanges: s.sourceRanges.map((r) => r.cidr),
    };
  }
  return out;
}

const runs = { numRuns: 300 };

describe("diff properties", () => {
  it("diff(prev, next) applied to prev's maps gives next's maps, hitlessly, keeping ids", () => {
    fc.assert(
      fc.property(models, (seq) => {
        let prev = compile(seq[0]!, node);
        const state = MapState.of(prev);
        for (const m of seq.slice(1)) {
          const next = compile(m, node, prev);
          const broken = applyChecked(state, diff(prev, next));
          assert.equal(broken, null);
          assert.deepEqual(state.snapshot(), MapState.of(next).snapshot());
          assertIdsKept(prev, next);
          prev = next;
        }
      }),
      runs,
    );
  });

  it("Compiler.update with only the changed ports gives the same maps as a full compile", () => {
    fc.assert(
      fc.property(models, (seq) => {
        const c = new Compiler(node);
        const state = new MapState();
        let prevModel: ServiceModel = { ports: [] };
        let prevTables = compile(prevModel, node);
        for (const m of seq) {
          const { changed, removed } = changes(prevModel, m);
          const broken = applyChecked(state, c.update(changed, removed));
          assert.equal(broken, null);
          assert.deepEqual(state.snapshot(), MapState.of(c.tables).snapshot());
          const full = compile(m, node, prevTables);
          assert.deepEqual(routing(c.tables), routing(full), "incremental = full compile");
          prevModel = m;
          prevTables = full;
        }
      }),
      runs,
    );
  });

  it("a diff between equal tables is empty, and compiling the same model again returns the same objects", () => {
    fc.assert(
      fc.property(model, (m) => {
        const t = compile(m, node);
        const again = compile(m, node, t);
        assert.deepEqual(diff(t, again), []);
        for (const [id, s] of again.services) assert.equal(s, t.services.get(id));
      }),
      { numRuns: 100 },
    );
  });
});
