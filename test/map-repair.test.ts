// Apply repairs what it reads back (syncOnce, as `maplb apply` and the lab run it), on the emulated
// datapath so it runs everywhere (test/pin-dir.test.ts does the same on the kernel's pinned maps):
// each kind of damage, written with direct map writes, shows as an inconsistency, and one apply of
// the same model leaves maps that are consistent, mean what a fresh compile means, keep the ids of
// what was not damaged, and need nothing more.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DatapathSink } from "../src/agent/datapath-sink.js";
import type { MapContents } from "../src/agent/map-contents.js";
import { syncOnce } from "../src/agent/sync-once.js";
import { compile } from "../src/compile/compiler.js";
import type { MapOp } from "../src/compile/tables.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { contentsOfTables, viewOf } from "./helpers/agent-maps.js";
import { inconsistencies } from "./helpers/map-consistency.js";
import { nodeConfig, threeServicePorts } from "./helpers/model-factory.js";

const node = nodeConfig();
const model = { ports: threeServicePorts() };
const expected = viewOf(contentsOfTables(compile(model, node)));

/** Damage written into freshly applied maps, given what they hold. */
type Damage = (c: MapContents) => MapOp[];

const master = (c: MapContents, address: string) => c.masters.find((m) => m.key.address === address)!;
const slotIds = (c: MapContents, address: string) =>
  c.slots.filter((s) => s.key.address === address && s.key.scope === 0).map((s) => s.backendId);

const DAMAGE: Record<string, Damage> = {
  "a slot naming a deleted backend": (c) => [{ kind: "backend-delete", id: slotIds(c, "10.96.0.10")[0]! }],
  "a backend in no slot, at an endpoint's address, not terminating": (c) => [
    { kind: "backend-upsert", backend: { ...c.backends.find((b) => b.address === "10.0.1.2")!, id: 9002 } },
  ],
  "a missing rev-NAT entry, of a frontend with source ranges": (c) => [
    { kind: "revnat-delete", id: master(c, "203.0.113.7").master.revNatId },
  ],
  "Maglev rows naming another service's backend": (c) => [
    {
      kind: "maglev-write",
      offset: master(c, "10.96.0.10").master.maglevOffset + 7,
      rows: Uint32Array.of(slotIds(c, "10.96.0.20")[0]!),
    },
  ],
  "overlapping Maglev tables": (c) => {
    const [a, b] = [master(c, "10.96.0.10"), master(c, "10.96.0.20")];
    return [
      { kind: "master-upsert", key: b.key, master: { ...b.master, maglevOffset: a.master.maglevOffset + 1 } },
    ];
  },
  "a slot past its master's count": (c) => {
    const m = master(c, "10.96.0.30");
    return [
      {
        kind: "slot-upsert",
        key: m.key,
        slot: m.master.count + 3,
        backendId: 1,
        revNatId: m.master.revNatId,
      },
    ];
  },
  "slots without a master": (c) => [
    {
      kind: "slot-upsert",
      key: { ...master(c, "10.96.0.30").key, port: 81 },
      slot: 2,
      backendId: 1,
      revNatId: 1,
    },
  ],
  "two frontends with one rev-NAT id": (c) => {
    const [a, b] = [master(c, "10.96.0.10"), master(c, "10.96.0.30")];
    return [{ kind: "master-upsert", key: b.key, master: { ...b.master, revNatId: a.master.revNatId } }];
  },
  "a master with rev-NAT id 0": (c) => {
    const m = master(c, "10.96.0.30");
    return [{ kind: "master-upsert", key: m.key, master: { ...m.master, revNatId: 0 } }];
  },
  "a source range and a rev-NAT entry nothing uses": () => [
    { kind: "source-range-upsert", entry: { revNatId: 9003, cidr: "192.0.2.0/24" } },
    { kind: "revnat-upsert", entry: { id: 9004, address: "192.0.2.4", port: 4 } },
  ],
};

function repairs(damage: Damage): void {
  const dp = openEmulated();
  try {
    syncOnce(dp, model, node);
    const sink = new DatapathSink(dp);
    const before = sink.read();
    dp.apply(damage(before));
    const damaged = sink.read();
    const shown =
      inconsistencies(damaged).length > 0 || damaged.sourceRanges.length !== before.sourceRanges.length;
    assert.ok(shown, "the damage shows");
    const ops = syncOnce(dp, model, node);
    assert.ok(ops.length > 0);
    const after = sink.read();
    assert.deepEqual(inconsistencies(after), []);
    assert.deepEqual(viewOf(after), expected);
    assert.deepEqual(
      after.sourceRanges,
      before.sourceRanges,
      "the LoadBalancer's source range, and nothing else",
    );
    for (const b of before.backends)
      if (damaged.backends.some((x) => x.id === b.id && x.address === b.address))
        assert.ok(
          after.backends.some((x) => x.id === b.id),
          `undamaged backend ${b.id} kept its id`,
        );
    assert.deepEqual(syncOnce(dp, model, node), [], "nothing left to write");
  } finally {
    dp.close();
  }
}

describe("apply repairs damaged maps", () => {
  for (const [name, damage] of Object.entries(DAMAGE)) it(name, () => repairs(damage));
  it("all of them at once", () => repairs((c) => Object.values(DAMAGE).flatMap((d) => d(c))));
});
