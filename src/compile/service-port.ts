// Compiling one service port into its rows of every map. This is the unit of work: a change to one
// Service or EndpointSlice recompiles only its ports.
//
// Backend ids belong to a service port: a backend is identified by (service port, ip, port, proto),
// so a pod behind two Services has two backend entries. Cilium instead shares one entry per
// (ip, port, proto) across services, which saves entries but couples services: every diff then needs
// reference counts so that one service's update never deletes or re-flags a backend another service
// still uses. Owning backends per service port keeps each diff local to its service, makes the
// TERMINATING flag a per-service fact (an endpoint can be a fallback in one port and draining in
// another), and gives per-backend counters the granularity of kube-proxy's KUBE-SEP-… chains (one per
// service port and endpoint), which is what the side-by-side comparison needs.
import { MaplbError } from "../errors.js";
import { log } from "../log.js";
import { endpointString, selectEndpoints } from "../model/endpoints.js";
import type { Endpoint, NodeConfig, ServicePort } from "../model/types.js";
import { type BackendSet, frontendName, planFrontends } from "./frontends.js";
import { checkMaglevTableSize, maglevRows } from "./maglev.js";
import {
  Algorithm,
  BackendFlag,
  type BackendEntry,
  type FrontendEntry,
  type MaglevTable,
  type RevNatEntry,
  type ServicePortTables,
  type SourceRangeEntry,
  SvcFlag,
} from "./tables.js";

/** lb4_service.count is a u16. */
export const MAX_SLOTS = 0xffff;

/** Where compileServicePort gets its ids and Maglev placement from (the Compiler's allocators). */
export interface IdSource {
  /** The frontend's rev-NAT id; null when another service port already owns that frontend. */
  revNatId(frontend: string, servicePortId: string): number | null;
  /** A fresh backend id, for a backend `ip:port` this service port did not have before. */
  newBackendId(servicePortId: string, backend: string): number;
  /** The row offset of a Maglev table of M rows in lb4_maglev. */
  maglevOffset(table: string, size: number): number;
}

/** The key a service port's Maglev table is placed under. */
export function maglevKey(servicePortId: string, table: string): string {
  return `${servicePortId}|${table}`;
}

export function emptyServicePortTables(id: string): ServicePortTables {
  return { id, frontends: [], backends: [], revNat: [], maglev: [], sourceRanges: [] };
}

/**
 * The rows one service port contributes. Pure given `ids` and `prev`, its previous tables: backends
 * keep their ids from there, and an unchanged Maglev table is reused instead of recomputed.
 */
export function compileServicePort(
  p: ServicePort,
  node: NodeConfig,
  ids: IdSource,
  prev?: ServicePortTables,
): ServicePortTables {
  const plans = planFrontends(p, node);
  const out = emptyServicePortTables(p.id);
  if (plans.length === 0) return out;
  if (p.algorithm === "maglev") checkMaglevTableSize(p.maglevTableSize, `service port ${p.id}`);

  // Backends: every selected endpoint, plus terminating ones that are not selected: those drain
  // (conntrack still points at them) but get no new flows.
  // The selected endpoints are those of the sets some frontend reads. (Not selection.reachable: with
  // ETP=Local and ITP=Local, pod traffic to external frontends still uses the cluster set, as
  // kube-proxy's UsesClusterEndpoints() = !ITPLocal || externallyAccessible says.)
  const selection = selectEndpoints(p, node.nodeName);
  const sets: Record<BackendSet, Endpoint[]> = { cluster: selection.cluster, local: selection.local };
  const selected = new Set<Endpoint>();
  for (const set of ["cluster", "local"] as const)
    if (plans.some((plan) => plan.scopes.some((s) => s.set === set)))
      for (const e of sets[set]) selected.add(e);
  // A backend keeps the id it had in this port's previous tables.
  const previousIds = prev?.backends.length
    ? new Map(prev.backends.map((b) => [`${b.address}:${b.port}`, b.id]))
    : undefined;
  const backendIdOf = new Map<Endpoint, number>();
  for (const e of p.endpoints) {
    const draining = !selected.has(e) && e.terminating;
    if (!selected.has(e) && !draining) continue;
    const name = endpointString(e);
    const id = previousIds?.get(name) ?? ids.newBackendId(p.id, name);
    backendIdOf.set(e, id);
    const entry: BackendEntry = { id, address: e.ip, port: e.port, protocol: p.protocol, flags: 0 };
    if (draining) entry.flags |= BackendFlag.TERMINATING;
    out.backends.push(entry);
  }
  if (Math.max(sets.cluster.length, sets.local.length) > MAX_SLOTS)
    throw new MaplbError(
      "E_CAPACITY",
      `service port ${p.id} has ${sets.cluster.length} endpoints; a frontend holds at most ${MAX_SLOTS} ` +
        `(lb4_service.count is a u16)`,
      { servicePort: p.id },
    );
  const slotsOf = (set: BackendSet): number[] => sets[set].map((e) => backendIdOf.get(e)!);

  // One Maglev table per backend set in use, shared by every frontend and scope that reads that set.
  const tables = new Map<BackendSet, MaglevTable>();
  const maglevFor = (set: BackendSet): MaglevTable | null => {
    if (p.algorithm !== "maglev" || sets[set].length === 0) return null;
    let table = tables.get(set);
    if (!table) {
      const m = p.maglevTableSize;
      // Maglev needs M > N (Cilium advises M ≥ 100·N): with N > M some backends own no row at all.
      if (sets[set].length > m)
        log.warn(
          { servicePort: p.id, backends: sets[set].length, maglevTableSize: m },
          "more backends than Maglev rows",
        );
      const backends = sets[set].map((e) => ({ id: backendIdOf.get(e)!, name: endpointString(e) }));
      const offset = ids.maglevOffset(maglevKey(p.id, set), m);
      const rows =
        reusableRows(
          prev,
          set,
          backends.map((b) => b.id),
          m,
        ) ?? maglevRows(backends, m);
      table = { name: set, offset, rows };
      tables.set(set, table);
      out.maglev.push(table);
    }
    return table;
  };

  const affinityTimeout = p.affinityTimeoutSeconds ?? 0;
  for (const plan of plans) {
    const revNatId = ids.revNatId(frontendName(plan.address, plan.port, p.protocol), p.id);
    if (revNatId === null) continue;
    const revNat: RevNatEntry = { id: revNatId, address: plan.address, port: plan.port };
    out.revNat.push(revNat);
    for (const { scope, set } of plan.scopes) {
      const slots = slotsOf(set);
      const table = maglevFor(set);
      const frontend: FrontendEntry = {
        key: { address: plan.address, port: plan.port, protocol: p.protocol, scope },
        master: {
          count: slots.length,
          revNatId,
          flags: plan.flags,
          algorithm: Algorithm[p.algorithm],
          affinityTimeout: plan.flags & SvcFlag.AFFINITY ? affinityTimeout : 0,
          maglevOffset: table?.offset ?? 0,
          maglevSize: table?.rows.length ?? 0,
        },
        slots,
        maglevTable: table?.name ?? null,
      };
      out.frontends.push(frontend);
    }
    if (plan.flags & SvcFlag.SOURCE_RANGE)
      for (const cidr of new Set(p.loadBalancerSourceRanges))
        out.sourceRanges.push({ revNatId, cidr } satisfies SourceRangeEntry);
  }
  return out;
}

/**
 * The previous rows of this backend set's table when they are still right: same M, and the same backend
 * ids in the same order (ids name the same `ip:port` for as long as they live, and Maglev is
 * deterministic in names, order and M). Comparing a frontend's slots is O(N) instead of O(M).
 */
function reusableRows(prev: ServicePortTables | undefined, set: BackendSet, ids: number[], m: number) {
  const reader = prev?.frontends.find((f) => f.maglevTable === set);
  const table = prev?.maglev.find((t) => t.name === set);
  if (!reader || !table || table.rows.length !== m || reader.slots.length !== ids.length) return null;
  return reader.slots.every((id, i) => id === ids[i]) ? table.rows : null;
}
