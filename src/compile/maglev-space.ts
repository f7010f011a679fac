// Placement of Maglev tables in lb4_maglev (or lb6_maglev: one space per family), one flat u32 array:
// each table is a range of M rows and
// each master holds its table's offset and M. A first-fit range allocator with a free list:
// - a table keeps its range while M is unchanged, so an update rewrites its rows in place;
// - ranges freed in a batch are quarantined until settle(): a master may still point into a freed
//   range until its own update lands, so no other table may be written there in the same batch.
import { MaplbError } from "../errors.js";

interface Range {
  offset: number;
  size: number;
}

export class MaglevSpace {
  private readonly ranges = new Map<string, Range>();
  /** Free ranges below `end`, sorted by offset, never adjacent (coalesced). */
  private free: Range[] = [];
  private quarantine: Range[] = [];
  /** One past the highest row ever used. */
  private end = 0;

  /**
   * @param capacity rows in the map (its max entries)
   * @param mapName  the map, for error messages
   */
  constructor(
    readonly capacity = Number.MAX_SAFE_INTEGER,
    readonly mapName = "lb4_maglev",
  ) {}

  /** The table's offset: its current one when M is unchanged, else a newly placed range. */
  acquire(key: string, size: number): number {
    const known = this.ranges.get(key);
    if (known?.size === size) return known.offset;
    if (known) this.release(key);
    const offset = this.place(size, key);
    this.ranges.set(key, { offset, size });
    return offset;
  }

  release(key: string): void {
    const r = this.ranges.get(key);
    if (!r) return;
    this.ranges.delete(key);
    this.quarantine.push(r);
  }

  /** Re-registers a table the maps already hold. Call rebuildFreeList() after the last one. */
  restore(key: string, offset: number, size: number): void {
    this.ranges.set(key, { offset, size });
    this.end = Math.max(this.end, offset + size);
  }

  /** After restore(): everything below the high-water mark that no table covers is free. */
  rebuildFreeList(): void {
    const used = [...this.ranges.values()].sort((a, b) => a.offset - b.offset);
    const free: Range[] = [];
    let at = 0;
    for (const r of used) {
      if (r.offset < at)
        throw new MaplbError("E_INPUT", `Maglev tables overlap at row ${r.offset} of ${this.mapName}`, {
          offset: r.offset,
        });
      if (r.offset > at) free.push({ offset: at, size: r.offset - at });
      at = r.offset + r.size;
    }
    this.free = free;
    this.quarantine = [];
  }

  /** Ends a batch: quarantined ranges become free. */
  settle(): void {
    for (const r of this.quarantine) this.insertFree(r);
    this.quarantine = [];
  }

  private place(size: number, key: string): number {
    const i = this.free.findIndex((r) => r.size >= size);
    const hole = i >= 0 ? this.free[i] : undefined;
    if (hole) {
      const offset = hole.offset;
      if (hole.size === size) this.free.splice(i, 1);
      else this.free[i] = { offset: hole.offset + size, size: hole.size - size };
      return offset;
    }
    if (this.end + size > this.capacity)
      throw new MaplbError(
        "E_CAPACITY",
        `${this.mapName} is full: table ${key} needs ${size} rows at row ${this.end}, capacity ${this.capacity}; ` +
          `raise the map's max entries or use a smaller maglev table size`,
        { map: this.mapName, capacity: this.capacity, key },
      );
    const offset = this.end;
    this.end += size;
    return offset;
  }

  private insertFree(r: Range): void {
    let i = this.free.findIndex((f) => f.offset > r.offset);
    if (i < 0) i = this.free.length;
    this.free.splice(i, 0, { ...r });
    // Coalesce with the neighbours so large tables can reuse the space of several small ones.
    const merge = (j: number): void => {
      const a = this.free[j];
      const b = this.free[j + 1];
      if (a && b && a.offset + a.size === b.offset) {
        a.size += b.size;
        this.free.splice(j + 1, 1);
      }
    };
    merge(i);
    merge(i - 1);
  }
}
