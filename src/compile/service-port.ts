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
import { endpointString, portOnNode, selectEndpoints } from "../model/endpoints.js";
import type { Endpoint, IpFamily, NodeConfig, ServicePort } from "../model/types.js";
import { canonicalIp, canonicalIpCidr } from "../util/ip.js";
import { type BackendSet, type FrontendPlan, frontendName, planFrontends } from "./frontends.js";
import { checkMaglevTableSize, isMaglevTableSize, type MaglevBackend, maglevRows } from "./maglev.js";
import {
  Algorithm,
  BackendFlag,
  type BackendEntry,
  type MaglevTable,
  type ServicePortTables,
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
  /** The row offset of a Maglev table of M rows in its family's array (lb4_maglev or lb6_maglev). */
  maglevOffset(table: string, size: number, family: IpFamily): number;
  /** A Maglev table's rows when a batch computed them ahead (the same as maglevRows'), else undefined. */
  aheadRows?(backends: MaglevBackend[], m: number): Uint32Array | undefined;
  /** Where a new table of M rows goes, zeroed (a large batch's tables share buffers); else undefined. */
  newRows?(m: number): Uint32Array | undefined;
}

/** The key a service port's Maglev table is placed under. */
export function maglevKey(servicePortId: string, table: string): string {
  return `${servicePortId}|${table}`;
}

export function emptyServicePortTables(id: string): ServicePortTables {
  return { id, frontends: [], backends: [], revNat: [], maglev: [], sourceRanges: [] };
}

type BySet<T> = Record<BackendSet, T>;

/**
 * The rows one service port contributes. Pure given `ids` and `prev`, its previous tables: backends
 * keep their ids from there, and an unchanged Maglev table is reused instead of recomputed.
 */
export function compileServicePort(
  port: ServicePort,
  node: NodeConfig,
  ids: IdSource,
  prev?: ServicePortTables,
): ServicePortTables {
  // Of duplicate entries for one address, the one this node's kube-proxy would keep (a local one).
  const p = portOnNode(port, node.nodeName);
  const out = emptyServicePortTables(p.id);
  const plans = planFrontends(p, node);
  if (plans.length === 0) return out;
  if (p.algorithm === "maglev") checkMaglevTableSize(p.maglevTableSize, `service port ${p.id}`);

  const { sets, used } = backendSets(p, node, plans);
  checkSlotCount(p, sets);

  const idOf = backendIds(p, node.nodeName, sets, used, ids, prev, out.backends);
  const slots: BySet<number[]> = {
    cluster: sets.cluster.map((e) => idOf.get(e)!),
    local: sets.local.map((e) => idOf.get(e)!),
  };
  const tables = maglevTables(p, sets, used, slots, ids, prev);
  out.maglev.push(...Object.values(tables).filter((t): t is MaglevTable => t !== null));

  const affinityTimeout = p.affinityTimeoutSeconds ?? 0;
  for (const plan of plans) {
    const revNatId = ids.revNatId(frontendName(plan.address, plan.port, p.protocol), p.id);
    if (revNatId === null) continue; // another service port owns this address:port
    out.revNat.push({ id: revNatId, address: plan.address, port: plan.port });
    for (const { scope, set } of plan.scopes) {
      const table = tables[set];
      out.frontends.push({
        key: { address: plan.address, port: plan.port, protocol: p.protocol, scope },
        master: {
          count: slots[set].length,
          revNatId,
          flags: plan.flags,
          algorithm: Algorithm[p.algorithm],
          affinityTimeout: plan.flags & SvcFlag.AFFINITY ? affinityTimeout : 0,
          maglevOffset: table?.offset ?? 0,
          maglevSize: table?.rows.length ?? 0,
        },
        slots: slots[set],
        maglevTable: table?.name ?? null,
      });
    }
    if (plan.flags & SvcFlag.SOURCE_RANGE)
      for (const cidr of new Set(p.loadBalancerSourceRanges.map(canonicalIpCidr)))
        out.sourceRanges.push({ revNatId, cidr });
  }
  return out;
}

/** The endpoints of each backend set, and whether some frontend reads it. */
function backendSets(p: ServicePort, node: NodeConfig, plans: FrontendPlan[]) {
  const selection = selectEndpoints(p, node.nodeName);
  const sets: BySet<Endpoint[]> = { cluster: selection.cluster, local: selection.local };
  const used: BySet<boolean> = {
    cluster: plans.some((plan) => plan.scopes.some((s) => s.set === "cluster")),
    local: plans.some((plan) => plan.scopes.some((s) => s.set === "local")),
  };
  return { sets, used };
}

/** Whether a backend set of the port gets a Maglev table (then it is computed unless reused). */
function hasMaglevTable(p: ServicePort, sets: BySet<Endpoint[]>, used: BySet<boolean>, set: BackendSet) {
  return p.algorithm === "maglev" && used[set] && sets[set].length > 0;
}

/**
 * The backend names (`ip:port`, in slot order) of each Maglev table compileServicePort computes for
 * the port when it has no previous tables: what a batch can compute ahead (maglev-ahead.ts).
 */
export function maglevTableNames(port: ServicePort, node: NodeConfig): string[][] {
  const p = portOnNode(port, node.nodeName);
  const plans = planFrontends(p, node);
  if (plans.length === 0 || !isMaglevTableSize(p.maglevTableSize)) return [];
  const { sets, used } = backendSets(p, node, plans);
  return (["cluster", "local"] as const)
    .filter((set) => hasMaglevTable(p, sets, used, set))
    .map((set) => sets[set].map(endpointString));
}

function checkSlotCount(p: ServicePort, sets: BySet<Endpoint[]>): void {
  if (Math.max(sets.cluster.length, sets.local.length) > MAX_SLOTS)
    throw new MaplbError(
      "E_CAPACITY",
      `service port ${p.id} has ${sets.cluster.length} endpoints; a frontend holds at most ${MAX_SLOTS} ` +
        `(lb4_service.count is a u16)`,
      { servicePort: p.id },
    );
}

/**
 * Fills `backends` and returns each backend's id. The backends are the selected endpoints (those of
 * a set some frontend reads), plus terminating endpoints that are not selected: those drain (conntrack
 * still points at them) but get no new flows. A backend keeps the id it had in `prev`. Those on node
 * `nodeName` are flagged LOCAL: the datapath does not source-NAT flows to them.
 *
 * "Selected" is deliberately not selection.reachable: with ETP=Local and ITP=Local, pod traffic to
 * external frontends still uses the cluster set (kube-proxy's UsesClusterEndpoints() is
 * `!ITPLocal || externallyAccessible`), and the INT scope carries it.
 */
function backendIds(
  p: ServicePort,
  nodeName: string,
  sets: BySet<Endpoint[]>,
  used: BySet<boolean>,
  ids: IdSource,
  prev: ServicePortTables | undefined,
  backends: BackendEntry[],
): Map<Endpoint, number> {
  const selected = new Set<Endpoint>([
    ...(used.cluster ? sets.cluster : []),
    ...(used.local ? sets.local : []),
  ]);
  const previousIds = prev?.backends.length
    ? new Map(prev.backends.map((b) => [`${b.address}:${b.port}`, b.id]))
    : undefined;
  const idOf = new Map<Endpoint, number>();
  for (const e of p.endpoints) {
    const draining = !selected.has(e) && e.terminating;
    if (!selected.has(e) && !draining) continue;
    const address = canonicalIp(e.ip);
    const name = `${address}:${e.port}`; // as previousIds names it (maps read back canonical text)
    const id = previousIds?.get(name) ?? ids.newBackendId(p.id, name);
    idOf.set(e, id);
    backends.push({
      id,
      address,
      port: e.port,
      protocol: p.protocol,
      flags: (draining ? BackendFlag.TERMINATING : 0) | (e.nodeName === nodeName ? BackendFlag.LOCAL : 0),
    });
  }
  return idOf;
}

/** One Maglev table per backend set in use, shared by every frontend and scope that reads the set. */
function maglevTables(
  p: ServicePort,
  sets: BySet<Endpoint[]>,
  used: BySet<boolean>,
  slots: BySet<number[]>,
  ids: IdSource,
  prev: ServicePortTables | undefined,
): BySet<MaglevTable | null> {
  const table = (set: BackendSet): MaglevTable | null => {
    if (!hasMaglevTable(p, sets, used, set)) return null;
    const m = p.maglevTableSize;
    // Maglev needs M > N (Cilium advises M ≥ 100·N): with N > M some backends own no row at all.
    if (sets[set].length > m)
      log.warn(
        { servicePort: p.id, backends: sets[set].length, maglevTableSize: m },
        "more backends than Maglev rows",
      );
    const offset = ids.maglevOffset(maglevKey(p.id, set), m, p.family);
    const backends = () => sets[set].map((e, i) => ({ id: slots[set][i]!, name: endpointString(e) }));
    const rows =
      reusableRows(prev, set, slots[set], m) ??
      ids.aheadRows?.(backends(), m) ??
      maglevRows(backends(), m, ids.newRows?.(m));
    return { name: set, family: p.family, offset, rows };
  };
  return { cluster: table("cluster"), local: table("local") };
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
