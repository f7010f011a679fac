// Reading the maps back into LbTables, for adoption after a restart and for drift repair.
//
// The maps do not say which service port a row belongs to, but the model does: each service port's
// frontends follow from its spec (planFrontends), and a frontend's master leads to everything else
// (its slots and Maglev rows name backend ids, its rev-NAT id names the rev-NAT and source-range
// entries). Rows that no service port of the model claims are gathered as one ORPHANS pseudo port,
// which the agent then removes like a deleted service, in the same hitless order.
import type {
  BackendEntry,
  FrontendKey,
  LbTables,
  MasterEntry,
  RevNatEntry,
  ServicePortTables,
} from "../compile/tables.js";
import { frontendKeyString, Scope, type SourceRangeEntry } from "../compile/tables.js";
import { planFrontends } from "../compile/frontends.js";
import { emptyServicePortTables } from "../compile/service-port.js";
import type { NodeConfig, ServicePort } from "../model/types.js";

/** What the datapath's maps hold, decoded. */
export interface MapContents {
  masters: { key: FrontendKey; master: MasterEntry }[];
  slots: { key: FrontendKey; slot: number; backendId: number }[];
  backends: BackendEntry[];
  revNat: RevNatEntry[];
  /** lb4_maglev rows [offset, offset + size). */
  maglevRows(offset: number, size: number): Uint32Array;
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

  constructor(readonly contents: MapContents) {
    for (const m of contents.masters) this.masters.set(frontendKeyString(m.key), m.master);
    for (const s of contents.slots) this.slots.set(`${frontendKeyString(s.key)}#${s.slot}`, s.backendId);
    for (const b of contents.backends) this.backends.set(b.id, b);
    for (const r of contents.revNat) this.revNat.set(r.id, r);
    for (const r of contents.sourceRanges)
      this.sourceRanges.set(r.revNatId, [...(this.sourceRanges.get(r.revNatId) ?? []), r]);
  }

  slotsOf(key: FrontendKey, count: number): number[] {
    const base = frontendKeyString(key);
    return Array.from({ length: count }, (_, i) => this.slots.get(`${base}#${i + 1}`) ?? 0);
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
      t.frontends.push({ key, master, slots, maglevTable: hasMaglev ? set : null });
      c.claimRevNat(t, master.revNatId);
      for (const id of slots) c.claimBackend(t, id);
      if (hasMaglev && !t.maglev.some((m) => m.name === set)) {
        const rows = c.contents.maglevRows(master.maglevOffset, master.maglevSize);
        t.maglev.push({ name: set, offset: master.maglevOffset, rows });
        for (const id of new Set(rows)) c.claimBackend(t, id);
      }
    }
  }
  return t;
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
  // Draining backends: referenced by conntrack only, found by address, port and protocol.
  const unclaimed = contents.backends.filter((b) => !c.claimedBackends.has(b.id));
  for (const p of ports) {
    const t = services.get(p.id);
    if (!t) continue;
    const endpoints = new Set(p.endpoints.map((e) => `${e.ip}:${e.port}/${p.protocol}`));
    for (const b of unclaimed)
      if (endpoints.has(`${b.address}:${b.port}/${b.protocol}`)) c.claimBackend(t, b.id);
  }
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
    t.frontends.push({
      key: m.key,
      master: { ...m.master, maglevOffset: 0, maglevSize: 0 },
      slots: c.slotsOf(m.key, m.master.count),
      maglevTable: null,
    });
    c.claimRevNat(t, m.master.revNatId);
  }
  for (const r of c.contents.revNat) c.claimRevNat(t, r.id);
  for (const b of c.contents.backends) c.claimBackend(t, b.id);
  const empty = t.frontends.length + t.backends.length + t.revNat.length === 0;
  return empty ? null : t;
}
