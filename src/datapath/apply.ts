// Applies MapOps in their order, all or nothing: every write first records what it replaces, and a
// failure puts those back in reverse order, so a failed apply leaves the maps as they were.
// A run of consecutive upserts goes as one batch per hash map (one lookup of the old values, one
// batch update): a full sync writes millions of rows, and two FFI calls per row made it slow. The
// compiler interleaves backends, slots and masters, so a run is split by map, and the maps are
// flushed backends, then reverse NAT, then services: each service row then finds the backends
// and reverse NAT entry it names already written, as in the ops' own order (only earlier).
import { constants } from "node:os";
import type { MapOp } from "../compile/tables.js";
import { IP_FAMILIES, type IpFamily } from "../model/types.js";
import { MaplbError } from "../errors.js";
import { log } from "../log.js";
import type { NativeMapName } from "./abi.js";
import { decode, readU32, u32 } from "./codec.js";
import { IPPROTO_UDP } from "./packet.js";
import { nativeError } from "./errno.js";
import { type MaglevMapName, writesOf, type MapWrite } from "./map-writes.js";
import type { NativeMaps } from "./native-maps.js";

/** How to put one write back: an entry's old value (null: it was absent), or a range of Maglev rows. */
type Undo =
  | { map: NativeMapName; key: Uint8Array; old: Uint8Array | null }
  /** One record per table, not per row: a table is thousands of rows and an apply can hold many. */
  | { map: MaglevMapName; keys: Uint8Array; old: Uint8Array; rows: number }
  /** A batch into a map that was empty before the apply: undone by deleting its keys. */
  | { map: NativeMapName; keys: Uint8Array; count: number; wasEmpty: true };

export interface ApplySummary {
  ops: number;
  writes: number;
  deletes: number;
  maglevRows: number;
}

/** Maps whose upserts are batched (the hash maps the control plane writes most), in flush order. */
const BATCHED: readonly NativeMapName[] = [
  "lb4_backends",
  "lb6_backends",
  "lb4_reverse_nat",
  "lb6_reverse_nat",
  "lb4_services",
  "lb6_services",
];

/**
 * A map's share of a run: keys and values copied at once into buffers that grow by doubling, so a
 * full sync's millions of small arrays die young instead of being held (and promoted) to the flush.
 */
class Upserts {
  keys: Uint8Array;
  values: Uint8Array;
  /** The MapOp each write came from, for the error of the first that fails. */
  readonly ops: number[] = [];

  constructor(
    private readonly keySize: number,
    private readonly valueSize: number,
  ) {
    this.keys = new Uint8Array(64 * keySize);
    this.values = new Uint8Array(64 * valueSize);
  }

  get count(): number {
    return this.ops.length;
  }

  push(key: Uint8Array, value: Uint8Array, op: number): void {
    const n = this.ops.length;
    if ((n + 1) * this.keySize > this.keys.length) {
      this.keys = grown(this.keys);
      this.values = grown(this.values);
    }
    this.keys.set(key, n * this.keySize);
    this.values.set(value, n * this.valueSize);
    this.ops.push(op);
  }

  key(i: number): Uint8Array {
    return this.keys.slice(i * this.keySize, (i + 1) * this.keySize);
  }
}

function grown(a: Uint8Array): Uint8Array {
  const b = new Uint8Array(a.length * 2);
  b.set(a);
  return b;
}

/** A write that failed, with the index of the MapOp it came from. */
class WriteFailed {
  constructor(
    readonly err: unknown,
    readonly op: number,
  ) {}
}

/** Consecutive upserts to the batched maps, held by map until something else is written. */
class UpsertRun {
  private byMap = new Map<NativeMapName, Upserts>();

  /**
   * The batched maps that were empty before the apply: a batch into one of them needs no lookup of
   * old values (there were none, or only this apply's), which from nothing is most of the time.
   */
  private readonly wasEmpty: ReadonlySet<NativeMapName>;

  constructor(
    private readonly maps: NativeMaps,
    private readonly journal: Undo[],
    private readonly summary: ApplySummary,
  ) {
    this.wasEmpty = new Set(BATCHED.filter((map) => isEmpty(maps, map)));
  }

  /** Takes the write when it is an upsert to a batched map. */
  take(write: MapWrite, op: number): boolean {
    if (write.kind !== "element" || write.value === null || !BATCHED.includes(write.map)) return false;
    let upserts = this.byMap.get(write.map);
    if (!upserts) {
      const { keySize, valueSize } = this.maps.shapes[write.map];
      upserts = new Upserts(keySize, valueSize);
      this.byMap.set(write.map, upserts);
    }
    upserts.push(write.key, write.value, op);
    return true;
  }

  /** Writes the run, map by map in BATCHED's order. */
  flush(): void {
    const byMap = this.byMap;
    this.byMap = new Map();
    for (const map of BATCHED) {
      const writes = byMap.get(map);
      if (writes) this.flushMap(map, writes);
    }
  }

  /** One lookup of the old values and one batch update; the writes that landed are journalled. */
  private flushMap(map: NativeMapName, writes: Upserts): void {
    const { valueSize } = this.maps.shapes[map];
    const n = writes.count;
    const keys = writes.keys.subarray(0, n * this.maps.shapes[map].keySize);
    const values = writes.values.subarray(0, n * valueSize);
    if (this.wasEmpty.has(map)) {
      const { err, written } = this.maps.tryUpdateBatch(map, keys, values, n);
      if (written > 0) this.journal.push({ map, keys, count: written, wasEmpty: true });
      this.summary.writes += written;
      if (err < 0)
        throw new WriteFailed(nativeError(err, `updating map ${map}`, { map }), writes.ops[written]!);
      return;
    }
    let olds: Uint8Array, found: Uint8Array;
    try {
      ({ values: olds, found } = this.maps.lookupMany(map, keys, n));
    } catch (err) {
      throw new WriteFailed(err, writes.ops[0]!);
    }
    const { err, written } = this.maps.tryUpdateBatch(map, keys, values, n);
    for (let i = 0; i < written; i++) {
      const old = found[i] ? olds.slice(i * valueSize, (i + 1) * valueSize) : null;
      this.journal.push({ map, key: writes.key(i), old });
    }
    this.summary.writes += written;
    if (err < 0)
      throw new WriteFailed(nativeError(err, `updating map ${map}`, { map }), writes.ops[written]!);
  }
}

export function applyOps(maps: NativeMaps, ops: readonly MapOp[]): ApplySummary {
  const journal: Undo[] = [];
  const summary: ApplySummary = { ops: ops.length, writes: 0, deletes: 0, maglevRows: 0 };
  const run = new UpsertRun(maps, journal, summary);
  let index = 0;
  try {
    for (; index < ops.length; index++)
      for (const write of writesOf(ops[index]!)) {
        if (run.take(write, index)) continue;
        run.flush();
        perform(maps, write, journal, summary);
      }
    run.flush();
  } catch (caught) {
    rollback(maps, journal);
    const { err, op } = caught instanceof WriteFailed ? caught : { err: caught, op: index };
    if (!(err instanceof MaplbError)) throw err;
    const kind = ops[op]!.kind;
    throw new MaplbError(
      err.code,
      `${err.message} (MapOp ${op + 1} of ${ops.length}: ${kind}; nothing was changed)`,
      { ...err.context, opIndex: op, op: kind },
    );
  }
  dropCountersOfDeletedBackends(maps, ops);
  forgetUdpFlowsOf(maps, deletedUdpBackends(ops, journal));
  return summary;
}

/**
 * The datapath counts a backend's packets (of either family: one id space) in its lb4_backend_stats row, and nothing else clears
 * it: without this, an id reused a lap later would inherit the counts. Counters are not put back by
 * a rollback, so they go only once the apply has succeeded (a backend that never saw a packet has
 * none: ENOENT is fine).
 */
function dropCountersOfDeletedBackends(maps: NativeMaps, ops: readonly MapOp[]): void {
  for (const op of ops) if (op.kind === "backend-delete") maps.tryDelete("lb4_backend_stats", u32(op.id));
}

/** Each family's conntrack map and its structs. */
const CONNTRACK = {
  IPv4: { backends: "lb4_backends", backend: "lb4_backend", ct: "ct4", key: "ct4_key", entry: "ct4_entry" },
  IPv6: { backends: "lb6_backends", backend: "lb6_backend", ct: "ct6", key: "ct6_key", entry: "ct6_entry" },
} as const;

/**
 * The UDP backends this apply deleted, per family: their ids, their protocol read from the
 * journal's old values.
 */
function deletedUdpBackends(ops: readonly MapOp[], journal: readonly Undo[]): Record<IpFamily, Set<number>> {
  const deleted = new Set<number>();
  for (const op of ops) if (op.kind === "backend-delete") deleted.add(op.id); // no array per op: a sync has millions
  const udp: Record<IpFamily, Set<number>> = { IPv4: new Set(), IPv6: new Set() };
  if (deleted.size === 0) return udp;
  for (const undo of journal) {
    if (!("key" in undo) || !undo.old) continue;
    for (const family of IP_FAMILIES) {
      const { backends, backend } = CONNTRACK[family];
      if (undo.map !== backends) continue;
      const id = readU32(undo.key);
      if (deleted.has(id) && decode(backend, undo.old).proto === IPPROTO_UDP) udp[family].add(id);
    }
  }
  return udp;
}

/**
 * UDP has no close: a flow to a deleted backend would stay in ct4 (ct6) until the LRU evicts it,
 * and should the backend's id be reused, its packets would follow the id to the new pod. So its
 * entries go with the backend, as kube-proxy flushes UDP conntrack entries of a removed endpoint.
 * (TCP flows to a missing backend are balanced anew by the datapath, and close by themselves.)
 * A family's conntrack map is walked only when an apply deleted a UDP backend of that family, and
 * only UDP entries are read.
 */
function forgetUdpFlowsOf(maps: NativeMaps, byFamily: Record<IpFamily, ReadonlySet<number>>): void {
  for (const family of IP_FAMILIES) {
    const backendIds = byFamily[family];
    if (backendIds.size === 0) continue;
    const { ct, key: keyStruct, entry: entryStruct } = CONNTRACK[family];
    const stale: Uint8Array[] = []; // deleted after the walk: deleting under get_next_key restarts it
    for (const key of maps.keys(ct)) {
      if (decode(keyStruct, key).proto !== IPPROTO_UDP) continue;
      const entry = maps.lookup(ct, key);
      if (entry && backendIds.has(Number(decode(entryStruct, entry).backend_id))) stale.push(key);
    }
    for (const key of stale) maps.tryDelete(ct, key);
  }
}

function perform(maps: NativeMaps, write: MapWrite, journal: Undo[], summary: ApplySummary): void {
  if (write.kind === "maglev-rows") {
    writeMaglevRows(maps, write.map, write.offset, write.rows, journal);
    summary.maglevRows += write.rows.length;
    return;
  }
  const old = maps.lookup(write.map, write.key);
  if (write.value === null) {
    if (old === null) return; // already absent: deleting is idempotent
    maps.delete(write.map, write.key);
    summary.deletes++;
  } else {
    maps.update(write.map, write.key, write.value);
    summary.writes++;
  }
  journal.push({ map: write.map, key: write.key, old });
}

/** One batch update for a whole table; the rows it replaces are read first, in one call too. */
function writeMaglevRows(
  maps: NativeMaps,
  map: MaglevMapName,
  offset: number,
  rows: Uint32Array,
  journal: Undo[],
): void {
  const n = rows.length;
  const keys = new Uint8Array(n * 4);
  const view = new DataView(keys.buffer);
  for (let i = 0; i < n; i++) view.setUint32(i * 4, offset + i, true);
  const max = maps.shapes[map].maxEntries;
  if (offset + n > max)
    throw nativeError(
      -constants.errno.E2BIG,
      `updating map ${map}: rows ${offset}..${offset + n - 1} past ${max}`,
      {
        map,
      },
    );
  const { values: old } = maps.lookupMany(map, keys, n);
  const values = new Uint8Array(rows.buffer, rows.byteOffset, n * 4);
  const { err, written } = maps.tryUpdateBatch(map, keys, values, n);
  if (written > 0) journal.push({ map, keys, old, rows: written });
  if (err < 0) throw nativeError(err, `updating map ${map}`, { map });
}

function isEmpty(maps: NativeMaps, map: NativeMapName): boolean {
  return maps.tryNextKey(map, null, new Uint8Array(maps.shapes[map].keySize)) === -constants.errno.ENOENT;
}

/** Deletes the keys of a batch into a map that was empty; the first error, or 0. */
function deleteKeys(maps: NativeMaps, map: NativeMapName, keys: Uint8Array, count: number): number {
  const size = maps.shapes[map].keySize;
  let first = 0;
  for (let i = 0; i < count; i++) {
    const err = maps.tryDelete(map, keys.subarray(i * size, (i + 1) * size));
    if (err < 0 && err !== -constants.errno.ENOENT && first === 0) first = err;
  }
  return first;
}

function rollback(maps: NativeMaps, journal: Undo[]): void {
  for (let i = journal.length - 1; i >= 0; i--) {
    const undo = journal[i]!;
    const err =
      "wasEmpty" in undo
        ? deleteKeys(maps, undo.map, undo.keys, undo.count)
        : "rows" in undo
          ? maps.tryUpdateBatch(undo.map, undo.keys, undo.old, undo.rows).err
          : undo.old === null
            ? maps.tryDelete(undo.map, undo.key)
            : maps.tryUpdate(undo.map, undo.key, undo.old);
    if (err < 0)
      log.error({ map: undo.map, errno: err }, "could not undo a write while rolling back a failed apply");
  }
}
