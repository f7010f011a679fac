// The Compiler holds the current tables and the allocators behind their ids, so the node agent (and
// `maplb apply`) can recompile only what changed: `update(changed, removedIds)` touches those service
// ports and nothing else, and returns the hitless MapOps for them. `compile()` is the pure, whole-model
// form of the same thing.
import { MaplbError } from "../errors.js";
import { log } from "../log.js";
import type { IpFamily, NodeConfig, ServiceModel, ServicePort } from "../model/types.js";
import { DiffPhases, diffServicePort } from "./diff.js";
import { frontendOf } from "./frontends.js";
import { backendIdPool, type IdAllocator, type IdPool, revNatIdAllocator } from "./ids.js";
import type { MaglevBackend } from "./maglev.js";
import { MaglevAhead, MIN_AHEAD_ROWS } from "./maglev-ahead.js";
import { MaglevSpace } from "./maglev-space.js";
import { RowSlab } from "./row-slab.js";
import { compileServicePort, type IdSource, maglevKey, maglevTableNames } from "./service-port.js";
import type { LbTables, MapOp, ServicePortTables } from "./tables.js";

/** Allocator limits, normally the maps' max entries. Tests lower them to reach exhaustion. */
export interface CompilerLimits {
  maxRevNatId?: number;
  maxBackendId?: number;
  /** Rows of lb4_maglev. */
  maglevRows?: number;
  /** Rows of lb6_maglev. */
  maglevRows6?: number;
}

export class Compiler implements IdSource {
  /** The current tables. update() changes them in place; treat them as read-only. */
  readonly tables: LbTables = { services: new Map() };
  private revNatIds: IdAllocator;
  private backendIds: IdPool;
  /** One per family: each family's tables go to its own array (see MaglevTable). */
  private maglevSpaces!: Record<IpFamily, MaglevSpace>;
  /**
   * Which service port owns each frontend `address:port/PROTO`. Two ports claiming one address:port is
   * a misconfiguration kube-proxy resolves by rule order: both get a rule in KUBE-SERVICES and the
   * first one matches (src/kubeproxy writes them by service name, so the name that sorts first wins).
   * Here the owner keeps it, and a frontend its owner lets go goes, at the end of the batch, to the
   * waiting port with the smallest id; a whole compile therefore gives it to the smallest id, as the
   * rules do. The waiting ports are in `denied` (the agent logs and counts them). Reading files,
   * `maplb compile`/`iptables`/`nft`/`apply` refuse such input instead (src/model/conflicts.ts).
   */
  private readonly frontendOwner = new Map<string, string>();
  /** Service ports denied a frontend, by frontend: they are recompiled when its owner lets it go. */
  private readonly waiting = new Map<string, Set<string>>();
  /**
   * Service ports whose last compile was denied a frontend another port owns, with that frontend and
   * its owner. The agent reports them (a log line when the set changes, and a metric): the Compiler
   * stays quiet, as it recompiles a waiting port on every batch.
   */
  readonly denied = new Map<string, { frontend: string; owner: string }>();
  /** Frontends released in this batch: nobody may claim them before retryWaiting() hands them out. */
  private readonly released = new Set<string>();
  /** The last input of each service port, to recompile the waiting ones. */
  private readonly inputs = new Map<string, ServicePort>();
  /** During compile(): Maglev tables a worker computes beside the compile (maglev-ahead.ts). */
  ahead: MaglevAhead | null = null;
  /** During compile() of a large batch: where its new Maglev tables go (row-slab.ts). */
  slab: RowSlab | null = null;
  /** During update(): each touched port's tables and input from before, to roll back on failure. */
  private journal: Map<string, { tables?: ServicePortTables; input?: ServicePort }> | null = null;

  /** @param prev tables whose ids to keep: the previous compile, or what the maps hold after a restart. */
  constructor(
    readonly node: NodeConfig,
    prev?: LbTables,
    private readonly limits: CompilerLimits = {},
  ) {
    this.revNatIds = revNatIdAllocator(limits.maxRevNatId);
    this.backendIds = backendIdPool(limits.maxBackendId);
    if (prev) for (const t of prev.services.values()) this.tables.services.set(t.id, t);
    this.rebuildBookkeeping();
  }

  /**
   * Recompiles `changed` service ports and removes `removedIds`; returns the MapOps, in hitless order,
   * that take the maps from the previous tables to the new ones. Only those ports are visited.
   */
  update(changed: readonly ServicePort[], removedIds: readonly string[]): MapOp[] {
    const phases = new DiffPhases();
    this.journal = new Map();
    try {
      for (const id of removedIds) this.remove(id, phases);
      for (const p of changed) this.set(p, phases);
      this.retryWaiting(phases);
    } catch (err) {
      this.rollback(); // e.g. E_CAPACITY: no ops were returned, so the Compiler must still match the maps
      throw err;
    } finally {
      this.journal = null;
    }
    this.settle();
    return phases.ops();
  }

  /** Hands out the frontends released in this batch: their waiting ports are recompiled, smallest id first. */
  retryWaiting(phases: DiffPhases = new DiffPhases()): void {
    while (this.released.size > 0) {
      const candidates = new Set<string>();
      for (const f of this.released) {
        for (const id of this.waiting.get(f) ?? []) candidates.add(id);
        this.waiting.delete(f);
      }
      this.released.clear();
      for (const id of [...candidates].sort()) {
        const p = this.inputs.get(id);
        if (p) this.set(p, phases);
      }
    }
  }

  /**
   * Compiles one service port into the tables; adds its ops to `phases`. Without `phases` (a whole
   * compile) a new port skips the diff; a known one is still diffed, to keep its object if unchanged.
   * After a batch call retryWaiting(), then settle() (update() does both).
   */
  set(p: ServicePort, phases?: DiffPhases): void {
    this.note(p.id);
    this.inputs.set(p.id, p);
    this.denied.delete(p.id);
    const prev = this.tables.services.get(p.id);
    let next: ServicePortTables | undefined = compileServicePort(p, this.node, this, prev);
    if (next.frontends.length === 0) {
      // Nothing to route to (SCTP, headless, or every frontend owned by another port): no rows at all.
      if (p.protocol === "SCTP") log.debug({ servicePort: p.id }, "SCTP service port: no datapath frontends");
      this.releaseUnused(next, undefined);
      next = undefined;
    }
    if (prev || phases) {
      const out = phases ?? new DiffPhases();
      const before = out.size;
      diffServicePort(prev, next, out);
      if (prev && next && out.size === before) return; // unchanged: keep the old object, so diff() skips it
    }
    this.releaseUnused(prev, next);
    if (next) this.tables.services.set(p.id, next);
    else this.tables.services.delete(p.id);
  }

  /** Removes a service port's rows; adds the ops to `phases`. Finish the batch as after set(). */
  remove(id: string, phases: DiffPhases = new DiffPhases()): void {
    this.note(id);
    this.inputs.delete(id);
    this.denied.delete(id);
    const prev = this.tables.services.get(id);
    if (!prev) return;
    diffServicePort(prev, undefined, phases);
    this.releaseUnused(prev, undefined);
    this.tables.services.delete(id);
  }

  /** Ends a batch: ids and Maglev ranges freed in it become reusable (after their quarantine). */
  settle(): void {
    this.revNatIds.settle();
    this.backendIds.settle();
    this.maglevSpaces.IPv4.settle();
    this.maglevSpaces.IPv6.settle();
  }

  // IdSource, for compileServicePort.

  revNatId(frontend: string, servicePortId: string): number | null {
    const owner = this.frontendOwner.get(frontend);
    if ((owner !== undefined && owner !== servicePortId) || this.released.has(frontend)) {
      if (owner !== undefined) this.denied.set(servicePortId, { frontend, owner });
      this.waiting.set(frontend, (this.waiting.get(frontend) ?? new Set()).add(servicePortId));
      return null;
    }
    this.frontendOwner.set(frontend, servicePortId);
    return this.revNatIds.acquire(frontend);
  }

  newBackendId(servicePortId: string, backend: string): number {
    return this.backendIds.take(`${backend} of ${servicePortId}`);
  }

  maglevOffset(table: string, size: number, family: IpFamily): number {
    return this.maglevSpaces[family].acquire(table, size);
  }

  aheadRows(backends: MaglevBackend[], m: number): Uint32Array | undefined {
    return this.ahead?.take(backends, m);
  }

  newRows(m: number): Uint32Array | undefined {
    return this.slab?.rows(m);
  }

  // Bookkeeping.

  private note(id: string): void {
    if (this.journal && !this.journal.has(id))
      this.journal.set(id, { tables: this.tables.services.get(id), input: this.inputs.get(id) });
  }

  /** Puts back the touched ports and rebuilds the allocators from the tables (the maps were not written). */
  private rollback(): void {
    for (const [id, { tables, input }] of this.journal ?? []) {
      if (tables) this.tables.services.set(id, tables);
      else this.tables.services.delete(id);
      if (input) this.inputs.set(id, input);
      else this.inputs.delete(id);
    }
    this.released.clear();
    this.rebuildBookkeeping();
  }

  /** Allocators and frontend owners from the tables alone: what the maps hold is the truth. */
  private rebuildBookkeeping(): void {
    this.revNatIds = revNatIdAllocator(this.limits.maxRevNatId);
    this.backendIds = backendIdPool(this.limits.maxBackendId);
    this.maglevSpaces = {
      IPv4: new MaglevSpace(this.limits.maglevRows, "lb4_maglev"),
      IPv6: new MaglevSpace(this.limits.maglevRows6, "lb6_maglev"),
    };
    this.frontendOwner.clear();
    for (const t of this.tables.services.values()) this.restore(t);
    this.maglevSpaces.IPv4.rebuildFreeList();
    this.maglevSpaces.IPv6.rebuildFreeList();
  }

  private restore(t: ServicePortTables): void {
    for (const f of t.frontends) {
      const name = frontendOf(f.key);
      const owner = this.frontendOwner.get(name);
      if (owner !== undefined && owner !== t.id)
        throw new MaplbError("E_INPUT", `frontend ${name} is in both ${owner} and ${t.id}`, {
          frontend: name,
        });
      this.frontendOwner.set(name, t.id);
      this.revNatIds.restore(name, f.master.revNatId);
    }
    for (const b of t.backends) this.backendIds.restore(b.id, `${b.address}:${b.port} of ${t.id}`);
    for (const m of t.maglev)
      this.maglevSpaces[m.family].restore(maglevKey(t.id, m.name), m.offset, m.rows.length);
  }

  /** Frees what `prev` held and `next` no longer does. */
  private releaseUnused(prev: ServicePortTables | undefined, next: ServicePortTables | undefined): void {
    if (!prev) return;
    const id = prev.id;
    const frontends = new Set((next?.frontends ?? []).map((f) => frontendOf(f.key)));
    for (const f of prev.frontends) {
      const name = frontendOf(f.key);
      if (frontends.has(name) || this.frontendOwner.get(name) !== id) continue;
      this.frontendOwner.delete(name);
      this.revNatIds.release(name);
      this.released.add(name);
    }
    const backends = new Set((next?.backends ?? []).map((b) => b.id));
    for (const b of prev.backends) if (!backends.has(b.id)) this.backendIds.free(b.id);
    const tables = new Set((next?.maglev ?? []).map((m) => m.name));
    for (const m of prev.maglev)
      if (!tables.has(m.name)) this.maglevSpaces[m.family].release(maglevKey(id, m.name));
  }
}

/**
 * The whole model's tables. Pure: `prev` is only read, for its ids (so established flows keep their
 * backend) and to reuse the objects of unchanged service ports (so diff(prev, next) skips them).
 */
export function compile(
  model: ServiceModel,
  node: NodeConfig,
  prev?: LbTables,
  limits?: CompilerLimits,
): LbTables {
  const c = new Compiler(node, prev, limits);
  const wanted = new Set(model.ports.map((p) => p.id));
  for (const id of [...c.tables.services.keys()]) if (!wanted.has(id)) c.remove(id);
  // New ports get new Maglev tables: a worker fills those of the second half while this thread
  // compiles the first (small batches are filled here, see maglev-ahead.ts).
  const fresh = model.ports.filter((p) => !c.tables.services.has(p.id));
  const half = Math.floor(fresh.length / 2);
  c.ahead = MaglevAhead.start(
    fresh
      .slice(half)
      .flatMap((p) => maglevTableNames(p, node).map((names) => ({ m: p.maglevTableSize, names }))),
  );
  // The tables filled here share buffers when they are many (M per port: close enough to decide).
  const hereRows = (c.ahead ? fresh.slice(0, half) : fresh).reduce((sum, p) => sum + p.maglevTableSize, 0);
  c.slab = hereRows >= MIN_AHEAD_ROWS ? new RowSlab() : null;
  try {
    for (const p of model.ports) c.set(p);
  } finally {
    c.ahead?.close();
    c.ahead = null;
    c.slab = null;
  }
  c.retryWaiting();
  c.settle();
  // In model order, so output and diffs do not depend on the order of earlier compiles.
  const services = new Map<string, ServicePortTables>();
  for (const p of model.ports) {
    const t = c.tables.services.get(p.id);
    if (t) services.set(p.id, t);
  }
  return { services };
}
