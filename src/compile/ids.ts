// Stable IDs (DESIGN principle 5). Conntrack entries remember a backend id and a rev-NAT id, so an id
// must keep naming the same thing for as long as anything can still refer to it:
// - a key keeps its id across compiles (and across restarts: `restore` rebuilds the allocator from the
//   ids the maps already hold);
// - a freed id is not handed out again soon: ids come from a cursor that only moves forward and wraps
//   at the end of the range, so a freed id waits a full lap; ids freed in the current batch of updates
//   are also quarantined until `settle()`, so one diff never deletes an id and reuses it for something
//   else (a reader between the two ops would follow a slot to the wrong backend).
import { MaplbError } from "../errors.js";

export class IdAllocator {
  private readonly idByKey = new Map<string, number>();
  private readonly keyById = new Map<number, string>();
  /** Ids released since the last settle(): not free yet. */
  private readonly quarantine = new Set<number>();
  private cursor: number;

  /**
   * @param what   what the ids name, for error messages ("rev-NAT id")
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
    return this.idByKey.size;
  }

  get(key: string): number | undefined {
    return this.idByKey.get(key);
  }

  /** The key's id: the one it already has, or the next free one. */
  acquire(key: string): number {
    const known = this.idByKey.get(key);
    if (known !== undefined) return known;
    const capacity = this.max - this.min + 1;
    if (this.keyById.size + this.quarantine.size >= capacity)
      throw new MaplbError(
        "E_CAPACITY",
        `out of ${this.what}s for ${this.mapName}: all ${capacity} are in use (${this.keyById.size} live, ` +
          `${this.quarantine.size} just freed); cannot add ${key}`,
        { map: this.mapName, capacity, key },
      );
    let id = this.cursor;
    while (this.keyById.has(id) || this.quarantine.has(id)) id = this.after(id);
    this.cursor = this.after(id);
    this.bind(key, id);
    return id;
  }

  /** Re-binds a key to the id the maps already hold (agent restart, or compiling against previous tables). */
  restore(key: string, id: number): void {
    if (!Number.isInteger(id) || id < this.min || id > this.max)
      throw new MaplbError("E_INPUT", `${this.what} ${id} of ${key} is outside ${this.min}..${this.max}`, {
        key,
        id,
      });
    const owner = this.keyById.get(id);
    if (owner !== undefined && owner !== key)
      throw new MaplbError("E_INPUT", `${this.what} ${id} is held by both ${owner} and ${key}`, { key, id });
    this.bind(key, id);
    // New ids continue after the highest restored one, so ids freed before a restart still wait.
    if (id >= this.cursor) this.cursor = this.after(id);
  }

  /** Frees the key's id. It stays quarantined until settle(). */
  release(key: string): void {
    const id = this.idByKey.get(key);
    if (id === undefined) return;
    this.idByKey.delete(key);
    this.keyById.delete(id);
    this.quarantine.add(id);
  }

  /** Ends a batch of updates: its MapOps have been applied, so ids freed in it may be reused (after a lap). */
  settle(): void {
    this.quarantine.clear();
  }

  private bind(key: string, id: number): void {
    this.idByKey.set(key, id);
    this.keyById.set(id, key);
  }

  private after(id: number): number {
    return id >= this.max ? this.min : id + 1;
  }
}

/** lb4_reverse_nat is keyed by a u16; 0 means "no rev-NAT". */
export function revNatIdAllocator(max = 0xffff): IdAllocator {
  return new IdAllocator("rev-NAT id", "lb4_reverse_nat", 1, max);
}

/** lb4_backends is keyed by a u32; 0 is "no backend" (an empty Maglev row). */
export function backendIdAllocator(max = 0xffffffff): IdAllocator {
  return new IdAllocator("backend id", "lb4_backends", 1, max);
}
