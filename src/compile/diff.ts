// diff(prev, next): the MapOps that take the maps from prev to next without a reader ever seeing a
// broken state (DESIGN principle 4, Cilium's order):
//   1. new and changed backends, new rev-NAT entries — everything a slot, row or master will name
//      exists first (slots carry the rev-NAT id too: a frontend handed from one service port to
//      another gets a new id while its old master is still live);
//   2. service slots 1..n                  — written before the master that counts them;
//   3. source ranges, Maglev rows          — in place before the master that enables them;
//   4. masters, with their count, last     — the switch: from here readers see the new service;
//   5. stale masters, then stale slots, rev-NAT, source ranges, Maglev rows (zeroed);
//   6. orphan backends                     — only once nothing points at them.
// Each phase collects the ops of every changed service port, so the guarantees hold across services.
//
// Assumes `next` was compiled against `prev` (same Compiler, or compile(model, node, prev)): then ids
// and Maglev ranges freed by this diff are not reused by it (see ids.ts and maglev-space.ts).
import {
  familyOfAddress,
  type FrontendKey,
  frontendKeyString,
  type LbTables,
  type MapOp,
  type ServicePortTables,
} from "./tables.js";

/** MapOps sorted into the phases above; `ops()` concatenates them in order. */
export class DiffPhases {
  /** 1: backends and rev-NAT entries. */
  readonly targets: MapOp[] = [];
  /** 2: slots 1..n. */
  readonly slots: MapOp[] = [];
  /** 3: source ranges and Maglev rows. */
  readonly aux: MapOp[] = [];
  /** 4: masters. */
  readonly masters: MapOp[] = [];
  /** 5: deletes of stale entries, and zeroed Maglev ranges. */
  readonly stale: MapOp[] = [];
  /** 6: deletes of backends. */
  readonly orphans: MapOp[] = [];

  get size(): number {
    return (
      this.targets.length +
      this.slots.length +
      this.aux.length +
      this.masters.length +
      this.stale.length +
      this.orphans.length
    );
  }

  ops(): MapOp[] {
    return [
      ...this.targets,
      ...this.slots,
      ...this.aux,
      ...this.masters,
      ...this.staleOps(),
      ...this.orphans,
    ];
  }

  /**
   * A frontend can move from one service port to another in one diff (the old owner drops an
   * externalIP, the new one picks it up): the new owner's writes must survive the old owner's deletes.
   */
  private staleOps(): MapOp[] {
    if (!this.stale.some((op) => op.kind === "master-delete" || op.kind === "slot-delete")) return this.stale;
    const written = new Set<string>();
    for (const op of this.slots) if (op.kind === "slot-upsert") written.add(slotName(op.key, op.slot));
    for (const op of this.masters) if (op.kind === "master-upsert") written.add(slotName(op.key, 0));
    if (written.size === 0) return this.stale;
    return this.stale.filter(
      (op) =>
        !(op.kind === "master-delete" && written.has(slotName(op.key, 0))) &&
        !(op.kind === "slot-delete" && written.has(slotName(op.key, op.slot))),
    );
  }
}

function slotName(key: FrontendKey, slot: number): string {
  return `${frontendKeyString(key)}#${slot}`;
}

/** The hitless MapOps from prev to next over all service ports. Unchanged ports (same object) cost O(1). */
export function diff(prev: LbTables, next: LbTables): MapOp[] {
  const phases = new DiffPhases();
  let kept = 0;
  for (const [id, n] of next.services) {
    const p = prev.services.get(id);
    if (p) kept++;
    if (p !== n) diffServicePort(p, n, phases);
  }
  if (kept < prev.services.size)
    for (const [id, p] of prev.services) if (!next.services.has(id)) diffServicePort(p, undefined, phases);
  return phases.ops();
}

/** Adds the ops that take one service port from `prev` to `next` (undefined: absent) to `phases`. */
export function diffServicePort(
  prev: ServicePortTables | undefined,
  next: ServicePortTables | undefined,
  phases: DiffPhases,
): void {
  diffBackends(prev, next, phases);
  diffFrontends(prev, next, phases);
  diffMaglev(prev, next, phases);
  diffRevNat(prev, next, phases);
  diffSourceRanges(prev, next, phases);
}

function diffBackends(
  prev: ServicePortTables | undefined,
  next: ServicePortTables | undefined,
  ph: DiffPhases,
) {
  const old = new Map((prev?.backends ?? []).map((b) => [b.id, b]));
  for (const b of next?.backends ?? []) {
    const o = old.get(b.id);
    if (
      !o ||
      o.address !== b.address ||
      o.port !== b.port ||
      o.protocol !== b.protocol ||
      o.flags !== b.flags
    )
      ph.targets.push({ kind: "backend-upsert", backend: b });
    old.delete(b.id);
  }
  for (const [id, o] of old)
    ph.orphans.push({ kind: "backend-delete", id, family: familyOfAddress(o.address) });
}

function diffFrontends(
  prev: ServicePortTables | undefined,
  next: ServicePortTables | undefined,
  ph: DiffPhases,
) {
  const old = new Map((prev?.frontends ?? []).map((f) => [frontendKeyString(f.key), f]));
  for (const f of next?.frontends ?? []) {
    const name = frontendKeyString(f.key);
    const o = old.get(name);
    old.delete(name);
    const { key, master } = f;
    const sameRevNat = o?.master.revNatId === master.revNatId;
    f.slots.forEach((backendId, i) => {
      if (sameRevNat && o?.slots[i] === backendId) return;
      ph.slots.push({ kind: "slot-upsert", key, slot: i + 1, backendId, revNatId: master.revNatId });
    });
    if (!o || !sameMaster(o.master, master)) ph.masters.push({ kind: "master-upsert", key, master });
    // Slots past the new count: the master no longer counts them once phase 4 lands.
    for (let slot = f.slots.length + 1; slot <= (o?.slots.length ?? 0); slot++)
      ph.stale.push({ kind: "slot-delete", key, slot });
  }
  // Removed frontends: the master goes first, so no reader finds a count with missing slots.
  for (const o of old.values()) ph.stale.push({ kind: "master-delete", key: o.key });
  for (const o of old.values())
    for (let slot = 1; slot <= o.slots.length; slot++)
      ph.stale.push({ kind: "slot-delete", key: o.key, slot });
}

function sameMaster(a: ServicePortTables["frontends"][number]["master"], b: typeof a): boolean {
  return (
    a.count === b.count &&
    a.revNatId === b.revNatId &&
    a.flags === b.flags &&
    a.algorithm === b.algorithm &&
    a.affinityTimeout === b.affinityTimeout &&
    a.maglevOffset === b.maglevOffset &&
    a.maglevSize === b.maglevSize
  );
}

/**
 * A table that keeps its range is rewritten in place: the one span from its first changed row to its
 * last (Maglev's changes are scattered, so the span is most of the table; readers may see a mix of
 * old and new rows, all of live backends). A table in a new range is written whole before its
 * masters switch; the range it leaves is zeroed after, so no row ever names a deleted backend.
 */
function diffMaglev(
  prev: ServicePortTables | undefined,
  next: ServicePortTables | undefined,
  ph: DiffPhases,
) {
  const old = new Map((prev?.maglev ?? []).map((t) => [rangeKey(t.offset, t.rows.length), t]));
  for (const t of next?.maglev ?? []) {
    const k = rangeKey(t.offset, t.rows.length);
    const o = old.get(k);
    old.delete(k);
    if (!o) {
      ph.aux.push({ kind: "maglev-write", family: t.family, offset: t.offset, rows: t.rows });
      continue;
    }
    if (o.rows === t.rows) continue;
    const span = changedSpan(o.rows, t.rows);
    if (span)
      ph.aux.push({
        kind: "maglev-write",
        family: t.family,
        offset: t.offset + span.from,
        rows: t.rows.subarray(span.from, span.to),
      });
  }
  for (const o of old.values())
    ph.stale.push({
      kind: "maglev-write",
      family: o.family,
      offset: o.offset,
      rows: new Uint32Array(o.rows.length),
    });
}

function rangeKey(offset: number, size: number): string {
  return `${offset}+${size}`;
}

/** The smallest [from, to) outside which a and b (same length) agree; null when equal. */
function changedSpan(a: Uint32Array, b: Uint32Array): { from: number; to: number } | null {
  let from = 0;
  while (from < a.length && a[from] === b[from]) from++;
  if (from === a.length) return null;
  let to = a.length;
  while (to > from && a[to - 1] === b[to - 1]) to--;
  return { from, to };
}

function diffRevNat(
  prev: ServicePortTables | undefined,
  next: ServicePortTables | undefined,
  ph: DiffPhases,
) {
  const old = new Map((prev?.revNat ?? []).map((r) => [r.id, r]));
  for (const r of next?.revNat ?? []) {
    const o = old.get(r.id);
    old.delete(r.id);
    if (!o || o.address !== r.address || o.port !== r.port)
      ph.targets.push({ kind: "revnat-upsert", entry: r });
  }
  for (const [id, o] of old) ph.stale.push({ kind: "revnat-delete", id, family: familyOfAddress(o.address) });
}

/** Adding a range before the flag and removing it after means a changed list briefly allows the union. */
function diffSourceRanges(
  prev: ServicePortTables | undefined,
  next: ServicePortTables | undefined,
  ph: DiffPhases,
) {
  const name = (e: { revNatId: number; cidr: string }) => `${e.revNatId}|${e.cidr}`;
  const old = new Map((prev?.sourceRanges ?? []).map((e) => [name(e), e]));
  for (const e of next?.sourceRanges ?? [])
    if (!old.delete(name(e))) ph.aux.push({ kind: "source-range-upsert", entry: e });
  for (const e of old.values()) ph.stale.push({ kind: "source-range-delete", entry: e });
}
