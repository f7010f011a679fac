// Test helper: an in-memory picture of the datapath's maps that MapOps apply to one at a time, with
// the invariants a reader relies on between any two ops.
import {
  type BackendEntry,
  familyOfAddress,
  type FrontendKey,
  frontendKeyString,
  type LbTables,
  type MapOp,
  type MasterEntry,
} from "../../src/compile/tables.js";
import type { IpFamily } from "../../src/model/types.js";

type ServiceValue = { master: MasterEntry } | { backendId: number; revNatId: number };

const serviceKey = (k: FrontendKey, slot: number) => `${frontendKeyString(k)}#${slot}`;

/** A row of one family's Maglev array (lb4_maglev and lb6_maglev are separate offset spaces). */
export const maglevRow = (family: IpFamily, row: number) => `${family}#${row}`;

/** The family of `address:port` (and of a frontend key string, `address:port/PROTO…`). */
const familyOfHostPort = (s: string) => {
  const hostPort = s.split("/")[0]!;
  return familyOfAddress(hostPort.slice(0, hostPort.lastIndexOf(":")));
};

export class MapState {
  readonly services = new Map<string, ServiceValue>();
  readonly backends = new Map<number, BackendEntry>();
  readonly revNat = new Map<number, string>();
  /** maglevRow(family, row) → backend id; rows holding 0 are left out. */
  readonly maglev = new Map<string, number>();
  readonly sourceRanges = new Set<string>();

  /** The maps as they would be after writing `tables` into empty maps. */
  static of(tables: LbTables): MapState {
    const s = new MapState();
    for (const t of tables.services.values()) {
      for (const b of t.backends) s.backends.set(b.id, { ...b });
      for (const f of t.frontends) {
        s.services.set(serviceKey(f.key, 0), { master: { ...f.master } });
        f.slots.forEach((backendId, i) =>
          s.services.set(serviceKey(f.key, i + 1), { backendId, revNatId: f.master.revNatId }),
        );
      }
      for (const r of t.revNat) s.revNat.set(r.id, `${r.address}:${r.port}`);
      for (const m of t.maglev)
        m.rows.forEach((id, i) => id !== 0 && s.maglev.set(maglevRow(m.family, m.offset + i), id));
      for (const r of t.sourceRanges) s.sourceRanges.add(`${r.revNatId}|${r.cidr}`);
    }
    return s;
  }

  apply(op: MapOp): void {
    switch (op.kind) {
      case "backend-upsert":
        this.backends.set(op.backend.id, { ...op.backend });
        break;
      case "backend-delete": {
        // One id space, a row in its family's array: the delete must name that family.
        const b = this.backends.get(op.id);
        if (b && familyOfAddress(b.address) !== (op.family ?? "IPv4"))
          throw new Error(`delete from the wrong family's map: ${JSON.stringify(op)}`);
        this.mustDelete(this.backends, op.id, op);
        break;
      }
      case "slot-upsert":
        this.services.set(serviceKey(op.key, op.slot), { backendId: op.backendId, revNatId: op.revNatId });
        break;
      case "slot-delete":
        this.mustDelete(this.services, serviceKey(op.key, op.slot), op);
        break;
      case "master-upsert":
        this.services.set(serviceKey(op.key, 0), { master: { ...op.master } });
        break;
      case "master-delete":
        this.mustDelete(this.services, serviceKey(op.key, 0), op);
        break;
      case "revnat-upsert":
        this.revNat.set(op.entry.id, `${op.entry.address}:${op.entry.port}`);
        break;
      case "revnat-delete": {
        const r = this.revNat.get(op.id);
        if (r && familyOfHostPort(r) !== (op.family ?? "IPv4"))
          throw new Error(`delete from the wrong family's map: ${JSON.stringify(op)}`);
        this.mustDelete(this.revNat, op.id, op);
        break;
      }
      case "maglev-write": {
        const family = op.family ?? "IPv4";
        op.rows.forEach((id, i) => {
          const row = maglevRow(family, op.offset + i);
          if (id === 0) this.maglev.delete(row);
          else this.maglev.set(row, id);
        });
        break;
      }
      case "source-range-upsert":
        this.sourceRanges.add(`${op.entry.revNatId}|${op.entry.cidr}`);
        break;
      case "source-range-delete":
        if (!this.sourceRanges.delete(`${op.entry.revNatId}|${op.entry.cidr}`))
          throw new Error(`delete of a missing entry: ${JSON.stringify(op)}`);
        break;
    }
  }

  /** What a reader could trip over right now; empty when the maps are consistent. */
  violations(): string[] {
    const out: string[] = [];
    for (const [key, v] of this.services) {
      if ("master" in v) {
        const base = key.slice(0, key.lastIndexOf("#"));
        for (let slot = 1; slot <= v.master.count; slot++)
          if (!this.services.has(`${base}#${slot}`))
            out.push(`${key}: count ${v.master.count}, slot ${slot} missing`);
        if (!this.revNat.has(v.master.revNatId)) out.push(`${key}: rev-NAT ${v.master.revNatId} missing`);
        const family = familyOfHostPort(key);
        for (let row = v.master.maglevOffset; row < v.master.maglevOffset + v.master.maglevSize; row++)
          if (!this.maglev.has(maglevRow(family, row))) out.push(`${key}: Maglev row ${family} ${row} empty`);
      } else {
        if (!this.backends.has(v.backendId)) out.push(`${key}: backend ${v.backendId} missing`);
        if (!this.revNat.has(v.revNatId)) out.push(`${key}: rev-NAT ${v.revNatId} missing`);
      }
    }
    for (const [row, id] of this.maglev)
      if (!this.backends.has(id)) out.push(`Maglev row ${row}: backend ${id} missing`);
    return out;
  }

  /** A plain, order-independent value to compare two states with deepStrictEqual. */
  snapshot(): object {
    const sorted = <K, V>(m: Map<K, V>) => [...m].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1));
    return {
      services: sorted(this.services),
      backends: sorted(this.backends),
      revNat: sorted(this.revNat),
      maglev: sorted(this.maglev),
      sourceRanges: [...this.sourceRanges].sort(),
    };
  }

  private mustDelete<K>(m: Map<K, unknown>, k: K, op: MapOp): void {
    if (!m.delete(k)) throw new Error(`delete of a missing entry: ${JSON.stringify(op)}`);
  }
}

/** Applies the ops one at a time; returns the first violation seen after any op (or null). */
export function applyChecked(state: MapState, ops: MapOp[]): string | null {
  for (const [i, op] of ops.entries()) {
    state.apply(op);
    const v = state.violations();
    if (v.length > 0) return `after op ${i} (${op.kind}): ${v.slice(0, 3).join("; ")}`;
  }
  return null;
}
