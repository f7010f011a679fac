// Reading the maps back into LbTables, for adoption after a restart and for drift repair.
//
// The maps do not say which service port a row belongs to, but the model does: each service port's
// frontends follow from its spec (planFrontends), and a frontend's master leads to everything else
// (its slots and Maglev rows name backend ids, its rev-NAT id names the rev-NAT and source-range
// entries). Rows that no service port of the model claims are gathered as one ORPHANS pseudo port,
// which the agent then removes like a deleted service, in the same hitless order.
//
// Read-back also validates, so that the diff rewrites whatever is inconsistent (maps left by a crash,
// by an older maplb that let two writers interleave, or by hand): a slot naming a missing backend
// reads as empty (0), slots past a master's count and slots without a master are read so they get
// deleted, a backend in no slot that is not draining (TERMINATING) is an orphan, a master whose
// rev-NAT id another frontend holds (or 0) is rewritten whole with a fresh id, and a Maglev
// table whose rows name backends outside its slots, or whose range overlaps another's, is recomputed.
import type {
  BackendEntry,
  FrontendKey,
  LbTables,
  MasterEntry,
  RevNatEntry,
  ServicePortTables,
} from "../compile/tables.js";
import {
  BackendFlag,
  familyOfAddress,
  frontendKeyString,
  Scope,
  type SourceRangeEntry,
} from "../compile/tables.js";
import { frontendOf, planFrontends } from "../compile/frontends.js";
import { emptyServicePortTables } from "../compile/service-port.js";
import { IP_FAMILIES, type IpFamily, type NodeConfig, type ServicePort } from "../model/types.js";

/** What the datapath's maps hold, decoded. */
export interface MapContents {
  masters: { key: FrontendKey; master: MasterEntry }[];
  slots: { key: FrontendKey; slot: number; backendId: number }[];
  backends: BackendEntry[];
  revNat: RevNatEntry[];
  /** lb4_maglev (lb6_maglev) rows [offset, offset + size). */
  maglevRows(offset: number, size: number, family: IpFamily): Uint32Array;
  sourceRanges: SourceRangeEntry[];
}

/** The pseudo service port that holds rows no service port claims. Not a valid ServicePort id. */
export const ORPHANS_ID = "(orphaned rows)";

/** Indexes over MapContents, with the rows claimed so far. */
class Claims {
  readonly masters = new Map<string, MasterEntry>();
  readonly slots = new Map<string, number>();
  readonly backends = new Map<number, BackendEntry>();
  readonly revNat = new Map<number, RevNatEntry>();
  readonly sourceRanges = new Map<number, SourceRangeEntry[]>();
  readonly claimedMasters = new Set<string>();
  readonly claimedBackends = new Set<number>();
  readonly claimedRevNat = new Set<number>();
  /** The highest slot number present per frontend (slots past the count are stale). */
  readonly highestSlot = new Map<string, { key: FrontendKey; slot: number }>();
  /** rev-NAT id → the frontend (address:port/PROTO, both scopes) that claimed it first. */
  readonly revNatOwner = new Map<number, string>();
  private spareRevNatId: number;
  private readonly placeholders = new Map<string, number>();

  constructor(readonly contents: MapContents) {
    for (const m of contents.masters) this.masters.set(frontendKeyString(m.key), m.master);
    for (const s of contents.slots) {
      const name = frontendKeyString(s.key);
      this.slots.set(`${name}#${s.slot}`, s.backendId);
      if (s.slot > (this.highestSlot.get(name)?.slot ?? 0)) this.highestSlot.set(name, s);
    }
    for (const b of contents.backends) this.backends.set(b.id, b);
    for (const r of contents.revNat) this.revNat.set(r.id, r);
    for (const r of contents.sourceRanges)
      this.sourceRanges.set(r.revNatId, [...(this.sourceRanges.get(r.revNatId) ?? []), r]);
    const ids = [...contents.masters.map((m) => m.master.revNatId), ...contents.revNat.map((r) => r.id)];
    this.spareRevNatId = ids.reduce((a, b) => Math.max(a, b), 0);
  }

  /**
   * Slots 1..count, and any stale ones past it (read as 0: the diff deletes them). A slot naming a
   * backend the map lacks reads as 0 too, which no backend id equals: the diff writes it again.
   */
  slotsOf(key: FrontendKey, count: number): number[] {
    const base = frontendKeyString(key);
    const n = Math.max(count, this.highestSlot.get(base)?.slot ?? 0);
    return Array.from({ length: n }, (_, i) => {
      const id = this.slots.get(`${base}#${i + 1}`) ?? 0;
      return i < count && this.backends.has(id) ? id : 0;
    });
  }

  /** Whether this frontend may hold its master's rev-NAT id (it is set and no other frontend has it). */
  ownsRevNat(key: FrontendKey, id: number): boolean {
    const owner = this.revNatOwner.get(id);
    if (id === 0 || (owner !== undefined && owner !== frontendOf(key))) return false;
    this.revNatOwner.set(id, frontendOf(key));
    return true;
  }

  /**
   * An id no entry holds, one per frontend, for orphan rows being deleted whose master's id is taken
   * or 0, or that have no master: the Compiler requires every frontend to hold its own id.
   */
  placeholderRevNatId(key: FrontendKey): number {
    const name = frontendOf(key);
    let id = this.placeholders.get(name);
    if (id === undefined) this.placeholders.set(name, (id = ++this.spareRevNatId));
    return id;
  }

  /** Adds backend `id` to `t` once, unless another port already claimed it or it is not in the map. */
  claimBackend(t: ServicePortTables, id: number): void {
    const b = this.backends.get(id);
    if (id === 0 || !b || this.claimedBackends.has(id)) return;
    this.claimedBackends.add(id);
    t.backends.push(b);
  }

  claimRevNat(t: ServicePortTables, id: number): void {
    const r = this.revNat.get(id);
    if (!r || this.claimedRevNat.has(id)) return;
    this.claimedRevNat.add(id);
    t.revNat.push(r);
    t.sourceRanges.push(...(this.sourceRanges.get(id) ?? []));
  }
}

/** One service port's rows, as the maps hold them (empty when the maps have none of its frontends). */
function claimServicePort(c: Claims, p: ServicePort, node: NodeConfig): ServicePortTables {
  const t = emptyServicePortTables(p.id);
  for (const plan of planFrontends(p, node)) {
    // Both scopes, even when the plan has only EXT: an INT master left from an earlier
    // externalTrafficPolicy=Local has this port's frontend, so it is this port's to remove.
    for (const scope of [Scope.EXT, Scope.INT]) {
      const set = plan.scopes.find((s) => s.scope === scope)?.set ?? "cluster";
      const key: FrontendKey = { address: plan.address, port: plan.port, protocol: p.protocol, scope };
      const name = frontendKeyString(key);
      const master = c.masters.get(name);
      if (!master || c.claimedMasters.has(name)) continue;
      c.claimedMasters.add(name);
      const slots = c.slotsOf(key, master.count);
      const hasMaglev = master.maglevSize > 0;
      for (const id of slots) c.claimBackend(t, id);
      if (c.ownsRevNat(key, master.revNatId)) {
        t.frontends.push({ key, master, slots, maglevTable: hasMaglev ? set : null });
        c.claimRevNat(t, master.revNatId);
      } else {
        // Its rev-NAT id is 0 or another frontend's: read as holding a fresh id, with no slots and a
        // count no master has, so the diff writes its rev-NAT entry, every slot and the master. Its
        // backends are claimed all the same: they keep their ids, and their established flows.
        const fresh = { ...master, revNatId: c.placeholderRevNatId(key), count: -1 };
        const none = slots.map(() => 0);
        t.frontends.push({ key, master: fresh, slots: none, maglevTable: hasMaglev ? set : null });
      }
      if (hasMaglev && !t.maglev.some((m) => m.name === set)) {
        // Sound rows name only this set's slot backends, claimed just above.
        const family = familyOfAddress(key.address);
        const rows = c.contents.maglevRows(master.maglevOffset, master.maglevSize, family);
        t.maglev.push({ name: set, family, offset: master.maglevOffset, rows });
        const live = new Set(slots.slice(0, master.count).filter((id) => id !== 0));
        if (!rows.every((id) => live.has(id))) forgetMaglevTable(t, set);
      }
    }
  }
  return t;
}

/**
 * The frontends reading this table no longer say which set they read, so the Compiler does not
 * reuse its rows (it reuses them when the slots are unchanged) but recomputes them; the diff then
 * rewrites the rows that differ. The table itself stays, with the rows the map holds, and its range.
 */
function forgetMaglevTable(t: ServicePortTables, set: string): void {
  for (const f of t.frontends) if (f.maglevTable === set) f.maglevTable = null;
}

/**
 * Two tables sharing rows of one family's array (a damage no apply makes): the later one in row
 * order is dropped from its port's tables, which then gets a new range and writes it whole before
 * its masters switch to it.
 */
function dropOverlappingMaglev(services: Iterable<ServicePortTables>): void {
  const all = [...services].flatMap((t) => t.maglev.map((m) => ({ t, m })));
  for (const family of IP_FAMILIES) {
    const tables = all.filter(({ m }) => m.family === family).sort((a, b) => a.m.offset - b.m.offset);
    let end = 0;
    for (const { t, m } of tables) {
      if (m.offset < end) {
        t.maglev = t.maglev.filter((x) => x !== m);
        forgetMaglevTable(t, m.name);
      }
      end = Math.max(end, m.offset + m.rows.length);
    }
  }
}

/**
 * The maps as LbTables keyed by the model's service port ids, so a Compiler built from them keeps
 * every id. Terminating backends (in no slot or row) are matched to the port whose endpoint has their
 * address and port. Everything unclaimed goes to ORPHANS_ID.
 */
export function tablesFromMaps(
  contents: MapContents,
  ports: readonly ServicePort[],
  node: NodeConfig,
): LbTables {
  const c = new Claims(contents);
  const services = new Map<string, ServicePortTables>();
  for (const p of ports) {
    const t = claimServicePort(c, p, node);
    if (t.frontends.length > 0) services.set(p.id, t);
  }
  // Draining backends: referenced by conntrack only, found by address, port and protocol. Only a
  // TERMINATING backend drains; one that is not, in no slot, is an orphan (and claiming it here would
  // move the endpoint's slots to it, and away from the backend its established flows use).
  const unclaimed = contents.backends.filter(
    (b) => !c.claimedBackends.has(b.id) && b.flags & BackendFlag.TERMINATING,
  );
  for (const p of ports) {
    const t = services.get(p.id);
    if (!t) continue;
    const endpoints = new Set(p.endpoints.map((e) => `${e.ip}:${e.port}/${p.protocol}`));
    for (const b of unclaimed)
      if (endpoints.has(`${b.address}:${b.port}/${b.protocol}`)) c.claimBackend(t, b.id);
  }
  dropOverlappingMaglev(services.values());
  const orphans = orphanTables(c);
  if (orphans) services.set(ORPHANS_ID, orphans);
  return { services };
}

function orphanTables(c: Claims): ServicePortTables | null {
  const t = emptyServicePortTables(ORPHANS_ID);
  for (const m of c.contents.masters) {
    if (c.claimedMasters.has(frontendKeyString(m.key))) continue;
    // Without a model port its Maglev rows cannot be told apart from a neighbour's: the master goes,
    // and the rows are left to be overwritten (rows are only read through a master).
    const own = c.ownsRevNat(m.key, m.master.revNatId);
    const revNatId = own ? m.master.revNatId : c.placeholderRevNatId(m.key);
    t.frontends.push({
      key: m.key,
      master: { ...m.master, revNatId, maglevOffset: 0, maglevSize: 0 },
      slots: c.slotsOf(m.key, m.master.count),
      maglevTable: null,
    });
    if (own) c.claimRevNat(t, revNatId);
  }
  // Slots with no master at all: a master-delete of nothing is a no-op, and the slots go.
  for (const { key, slot } of c.highestSlot.values()) {
    if (c.masters.has(frontendKeyString(key))) continue;
    const master = { ...NO_MASTER, revNatId: c.placeholderRevNatId(key) };
    t.frontends.push({ key, master, slots: new Array<number>(slot).fill(0), maglevTable: null });
  }
  for (const r of c.contents.revNat) {
    if (c.revNatOwner.has(r.id)) continue;
    c.claimRevNat(t, r.id);
    // The Compiler learns which rev-NAT ids are taken from masters only: without this holder it could
    // give a new frontend the id of an entry this pseudo port deletes after that frontend wrote it.
    t.frontends.push({
      key: HOLDER_KEY,
      master: { ...NO_MASTER, revNatId: r.id },
      slots: [],
      maglevTable: null,
    });
  }
  for (const b of c.contents.backends) c.claimBackend(t, b.id);
  // Source ranges of a rev-NAT id no master holds (a master's own are rewritten by its port if needed).
  for (const [id, ranges] of c.sourceRanges) if (!c.revNatOwner.has(id)) t.sourceRanges.push(...ranges);
  const empty = t.frontends.length + t.backends.length + t.revNat.length + t.sourceRanges.length === 0;
  return empty ? null : t;
}

/** A frontend no map holds (port 0), under which ORPHANS keeps its rev-NAT ids from being reused. */
const HOLDER_KEY: FrontendKey = { address: "0.0.0.0", port: 0, protocol: "TCP", scope: Scope.EXT };

const NO_MASTER: MasterEntry = {
  count: 0,
  revNatId: 0,
  flags: 0,
  algorithm: 0,
  affinityTimeout: 0,
  maglevOffset: 0,
  maglevSize: 0,
};
