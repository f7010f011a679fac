// Test helper: what the maps mean, without their ids. Two sets of maps that route every frontend to
// the same backends (in the same slots, with the same Maglev rows, flags and rev-NAT) have equal views,
// whatever ids they use. "The maps are correct" is then: the view of the agent's maps equals the view
// of a fresh compile of the objects the API server holds.
import { compile } from "../../src/compile/compiler.js";
import { familyOfAddress, frontendKeyString, type LbTables } from "../../src/compile/tables.js";
import { sortObjects } from "../../src/k8s/objects.js";
import { buildModel } from "../../src/model/build.js";
import type { NodeConfig, ServiceModel } from "../../src/model/types.js";
import type { MapContents } from "../../src/agent/map-contents.js";
import { pino } from "pino";

const quiet = pino({ level: "silent" });

export interface FrontendView {
  master: { count: number; flags: number; algorithm: number; affinityTimeout: number; maglevSize: number };
  /** Slot i+1 → backend `ip:port`, or "MISSING <id>" when the slot names no backend. */
  slots: string[];
  revNat: string;
  /** Maglev rows per backend `ip:port`. */
  maglev: Record<string, number>;
  sourceRanges: string[];
}

export interface MapsView {
  frontends: Record<string, FrontendView>;
  /** Every backend as `ip:port` (+ " terminating"), sorted; one per service port that uses it. */
  backends: string[];
}

export function viewOf(c: MapContents): MapsView {
  const backends = new Map(c.backends.map((b) => [b.id, b]));
  const name = (id: number) => {
    const b = backends.get(id);
    return b ? `${b.address}:${b.port}` : `MISSING ${id}`;
  };
  const slots = new Map<string, Map<number, number>>();
  for (const s of c.slots) {
    const k = frontendKeyString(s.key);
    slots.set(k, (slots.get(k) ?? new Map<number, number>()).set(s.slot, s.backendId));
  }
  const revNat = new Map(c.revNat.map((r) => [r.id, `${r.address}:${r.port}`]));
  const frontends: Record<string, FrontendView> = {};
  for (const { key, master } of c.masters) {
    const k = frontendKeyString(key);
    const own = slots.get(k) ?? new Map<number, number>();
    const maglev: Record<string, number> = {};
    if (master.maglevSize > 0)
      for (const id of c.maglevRows(master.maglevOffset, master.maglevSize, familyOfAddress(key.address)))
        maglev[name(id)] = (maglev[name(id)] ?? 0) + 1;
    frontends[k] = {
      master: {
        count: master.count,
        flags: master.flags,
        algorithm: master.algorithm,
        affinityTimeout: master.affinityTimeout,
        maglevSize: master.maglevSize,
      },
      slots: Array.from({ length: master.count }, (_, i) => name(own.get(i + 1) ?? 0)),
      revNat: revNat.get(master.revNatId) ?? `MISSING ${master.revNatId}`,
      maglev,
      sourceRanges: c.sourceRanges
        .filter((r) => r.revNatId === master.revNatId)
        .map((r) => r.cidr)
        .sort(),
    };
  }
  const sorted = Object.fromEntries(Object.entries(frontends).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    frontends: sorted,
    backends: c.backends.map((b) => `${b.address}:${b.port}${b.flags & 1 ? " terminating" : ""}`).sort(),
  };
}

/** LbTables as the maps would hold them after writing them into empty maps. */
export function contentsOfTables(tables: LbTables): MapContents {
  const c: MapContents = {
    masters: [],
    slots: [],
    backends: [],
    revNat: [],
    sourceRanges: [],
    maglevRows: (offset, size, family) => {
      const out = new Uint32Array(size);
      for (const t of tables.services.values())
        for (const m of t.maglev.filter((x) => x.family === family))
          for (let i = 0; i < size; i++) {
            const row = offset + i - m.offset;
            if (row >= 0 && row < m.rows.length) out[i] = m.rows[row]!;
          }
      return out;
    },
  };
  for (const t of tables.services.values()) {
    for (const f of t.frontends) {
      c.masters.push({ key: f.key, master: f.master });
      f.slots.forEach((backendId, i) => c.slots.push({ key: f.key, slot: i + 1, backendId }));
    }
    c.backends.push(...t.backends);
    c.revNat.push(...t.revNat);
    c.sourceRanges.push(...t.sourceRanges);
  }
  return c;
}

/** The model of these API objects (all assumed valid), as the agent builds it. */
export function modelOf(objects: object[]): ServiceModel {
  const sorted = sortObjects(
    objects.map((object, i) => ({ file: "expected", doc: String(i), object })),
    quiet,
  );
  return buildModel({ ...sorted, issues: [] }, quiet);
}

/** The view a fresh compile of these API objects gives (what the agent's maps must mean). */
export function expectedView(objects: object[], node: NodeConfig): MapsView {
  return viewOf(contentsOfTables(compile(modelOf(objects), node)));
}
