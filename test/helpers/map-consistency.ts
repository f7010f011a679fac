// Test helper: what a reader of the maps could trip over, read back from a real datapath. MapState
// checks a reader's invariants (every counted slot, rev-NAT entry and Maglev row present, every slot
// and row naming a backend); this adds what only leftovers break: backends nothing references,
// rev-NAT entries no master uses or that name another frontend, slots past a master's count, Maglev
// rows naming a backend that is not in their frontend's slots.
import type { MapContents } from "../../src/agent/map-contents.js";
import { BackendFlag, familyOfAddress, frontendKeyString } from "../../src/compile/tables.js";
import { MapState, maglevRow } from "./map-state.js";

export function inconsistencies(c: MapContents): string[] {
  const s = new MapState();
  for (const b of c.backends) s.backends.set(b.id, b);
  for (const r of c.revNat) s.revNat.set(r.id, `${r.address}:${r.port}`);
  const masters = new Map(c.masters.map((m) => [frontendKeyString(m.key), m]));
  const referenced = new Set<number>();
  const out: string[] = [];
  const slotsOf = (name: string) =>
    new Set(c.slots.filter((x) => frontendKeyString(x.key) === name).map((x) => x.backendId));
  for (const m of c.masters) {
    const name = frontendKeyString(m.key);
    s.services.set(`${name}#0`, { master: m.master });
    const { maglevOffset, maglevSize, revNatId } = m.master;
    const own = maglevSize > 0 ? slotsOf(name) : new Set<number>();
    const strangers = new Set<number>();
    const family = familyOfAddress(m.key.address);
    c.maglevRows(maglevOffset, maglevSize, family).forEach((id, i) => {
      if (id !== 0) s.maglev.set(maglevRow(family, maglevOffset + i), id);
      if (!own.has(id)) strangers.add(id);
      referenced.add(id);
    });
    if (strangers.size > 0)
      out.push(`${name}: Maglev rows name backends in no slot: ${[...strangers].join(", ")}`);
    const r = s.revNat.get(revNatId);
    if (r !== undefined && r !== `${m.key.address}:${m.key.port}`)
      out.push(`${frontendKeyString(m.key)}: rev-NAT ${revNatId} is ${r}`);
  }
  for (const slot of c.slots) {
    const name = frontendKeyString(slot.key);
    const master = masters.get(name)?.master;
    if (!master || slot.slot > master.count) out.push(`${name}#${slot.slot}: past the master's count`);
    else s.services.set(`${name}#${slot.slot}`, { backendId: slot.backendId, revNatId: master.revNatId });
    referenced.add(slot.backendId);
  }
  for (const b of c.backends)
    if (!referenced.has(b.id) && !(b.flags & BackendFlag.TERMINATING))
      out.push(`backend ${b.id} (${b.address}:${b.port}): in no slot or row`);
  const used = new Set(c.masters.map((m) => m.master.revNatId));
  for (const r of c.revNat) if (!used.has(r.id)) out.push(`rev-NAT ${r.id}: no master uses it`);
  return [...s.violations(), ...out];
}
