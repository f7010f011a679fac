// Stable IDs (DESIGN principle 5). Conntrack entries remember a backend id and a rev-NAT id, so an id
// must keep naming the same thing for as long as anything can still refer to it:
// - a key keeps its id across compiles (and across restarts: `restore` rebuilds the allocator from the
//   ids the maps already hold);
// - a freed id is not handed out again soon: ids come from a cursor that only moves forward and wraps
//   at the end of the range, so a freed id waits a full lap; ids freed in the current batch of updates
//   are also quarantined until `settle()`, so one diff never deletes an id and reuses it for something
//   else (a reader between the two ops would follow a slot to the wrong backend).
import { MaplbError } from "../errors.js";

/**
 * A set of ids as bitmaps of 65536 ids each, made on first use: a million backend ids cost 128 KiB
 * and no hashing (a Set of a million numbers is slow to grow and heavy for the GC), and a stray id
 * near 2^32 costs one more 8 KiB chunk, not a bitmap up to it.
 */
export class IdBitmap {
  private readonly chunks = new Map<number, Uint32Array>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    const chunk = this.chunks.get(id >>> 16);
    return chunk !== undefined && (chunk[(id >>> 5) & 2047]! & (1 << (id & 31))) !== 0;
  }

  add(id: number): void {
    let chunk = this.chunks.get(id >>> 16);
    if (!chunk) this.chunks.set(id >>> 16, (chunk = new Uint32Array(2048)));
    const word = (id >>> 5) & 2047;
    const bit = 1 << (id & 31);
    if ((chunk[word]! & bit) !== 0) return;
    chunk[word]! |= bit;
    this.count++;
  }

  /** True when the id was in the set. */
  delete(id: number): boolean {
    if (!this.has(id)) return false;
    this.chunks.get(id >>> 16)![(id >>> 5) & 2047]! &= ~(1 << (id & 31));
    this.count--;
    return true;
  }
}

/** A pool of numeric ids, with the cursor and the quarantine described above. */
export class IdPool {
  private readonly used = new IdBitmap();
  /** Ids freed since the last settle(): not free yet. */
  private readonly quarantine = new Set<number>();
  private cursor: number;
  private wrapped = false;

  /**
   * @param what    what the ids name, for error messages ("rev-NAT id")
   * @param mapName the map whose key it is, for error messages
   * @param min, max the id range, inclusive (0 is never an id: it means "none" in the maps)
   */
  constructor(
    readonly what: string,
    readonly mapName: string,
    readonly min: number,
    readonly max: number,
  ) {
    this.cursor = min;
  }

  get size(): number {
    return this.used.size;
  }

  /** The next free id. `forWhat` names the new entry in the error when the pool is exhausted. */
  take(forWhat: string): number {
    const capacity = this.max - this.min + 1;
    if (this.used.size + this.quarantine.size >= capacity)
      throw new MaplbError(
        "E_CAPACITY",
        `out of ${this.what}s for ${this.mapName}: all ${capacity} are in use (${this.used.size} live, ` +
          `${this.quarantine.size} just freed); cannot add ${forWhat}`,
        { map: this.mapName, capacity, key: forWhat },
      );
    let id = this.cursor;
    // Until the cursor first wraps, every id at or above it is free: no lookups needed.
    if (this.wrapped) while (this.used.has(id) || this.quarantine.has(id)) id = this.after(id);
    this.cursor = this.after(id);
    this.used.add(id);
    return id;
  }

  /** Marks an id the maps already hold as used (agent restart, or compiling against previous tables). */
  restore(id: number, forWhat: string): void {
    if (!Number.isInteger(id) || id < this.min || id > this.max)
      throw new MaplbError(
        "E_INPUT",
        `${this.what} ${id} of ${forWhat} is outside ${this.min}..${this.max}`,
        {
          key: forWhat,
          id,
        },
      );
    if (this.used.has(id))
      throw new MaplbError("E_INPUT", `${this.what} ${id} is held twice (again by ${forWhat})`, {
        key: forWhat,
        id,
      });
    this.used.add(id);
    // New ids continue after the highest restored one, so ids freed before a restart still wait.
    if (id >= this.cursor) this.cursor = this.after(id);
  }

  /** Frees an id (a no-op when it is not in use). It stays quarantined until settle(). */
  free(id: number): void {
    if (this.used.delete(id)) this.quarantine.add(id);
  }

  /** Ends a batch of updates: its MapOps have been applied, so ids freed in it may be reused (after a lap). */
  settle(): void {
    this.quarantine.clear();
  }

  private after(id: number): number {
    if (id < this.max) return id + 1;
    this.wrapped = true;
    return this.min;
  }
}

/** An IdPool whose ids are bound to string keys: a key keeps its id until released. */
export class IdAllocator {
  private readonly idByKey = new Map<string, number>();
  private readonly keyById = new Map<number, string>();
  private readonly pool: IdPool;

  constructor(what: string, mapName: string, min: number, max: number) {
    this.pool = new IdPool(what, mapName, min, max);
  }

  get size(): number {
    return this.idByKey.size;
  }

  get(key: string): number | undefined {
    return this.idByKey.get(key);
  }

  /** The key's id: the one it already has, or the next free one. */
  acquire(key: string): number {
    const known = this.idByKey.get(key);
    if (known !== undefined) return known;
    const id = this.pool.take(key);
    this.bind(key, id);
    return id;
  }

  /** Re-binds a key to the id the maps already hold. */
  restore(key: string, id: number): void {
    const owner = this.keyById.get(id);
    if (owner === key) return; // e.g. both scopes of one frontend
    if (owner !== undefined)
      throw new MaplbError("E_INPUT", `${this.pool.what} ${id} is held by both ${owner} and ${key}`, {
        key,
        id,
      });
    this.pool.restore(id, key);
    this.bind(key, id);
  }

  /** Frees the key's id. It stays quarantined until settle(). */
  release(key: string): void {
    const id = this.idByKey.get(key);
    if (id === undefined) return;
    this.idByKey.delete(key);
    this.keyById.delete(id);
    this.pool.free(id);
  }

  settle(): void {
    this.pool.settle();
  }

  private bind(key: string, id: number): void {
    this.idByKey.set(key, id);
    this.keyById.set(id, key);
  }
}

/**
 * lb4_reverse_nat and lb6_reverse_nat are keyed by a u32 (Cilium's u16 caps a node at 65535
 * frontends); 0 means "no rev-NAT". One id space for both families, as Cilium's service ids: a
 * conntrack or affinity entry's rev-NAT id then names one frontend whatever its family.
 */
export function revNatIdAllocator(max = 0xffffffff): IdAllocator {
  return new IdAllocator("rev-NAT id", "lb4_reverse_nat/lb6_reverse_nat", 1, max);
}

/**
 * lb4_backends and lb6_backends are arrays indexed by the backend id (the datapath's lookup is then
 * an offset), one id space for both (an id's row is used in its family's array only, and
 * lb4_backend_stats counts both); 0 is "no backend" (an empty Maglev row), and `max` is the last
 * row both arrays have, so the agent passes the smaller map's size minus one. Backend ids need no
 * key map: each belongs to one service port, whose previous tables say which `ip:port` holds which id.
 */
export function backendIdPool(max = 0xffffffff): IdPool {
  return new IdPool("backend id", "lb4_backends/lb6_backends", 1, max);
}
