// Maglev tables of a large batch as views of a few shared buffers. One ArrayBuffer per table costs
// an allocation, a zero fill and the garbage collector's bookkeeping each: at 10k tables of 16381
// rows (or 100k of 251) that was a good part of the compile, and their sizes set off a full GC about
// every 60 MiB. The cost: a buffer lives as long as any of its tables, so a long-running agent may
// keep a batch's memory until the last of its tables is replaced (at most that batch's size again,
// as the worker's tables in maglev-ahead.ts). Small batches (the agent's updates) allocate per table.

/** Rows per shared buffer (4 MiB): 64 tables of Cilium's default M, 4177 of M = 251. */
const CHUNK_ROWS = 1 << 20;

export class RowSlab {
  private buffer: ArrayBuffer | null = null;
  private used = 0;

  /** A zeroed table of m rows: a view of the current buffer, or its own buffer when larger than one. */
  rows(m: number): Uint32Array {
    if (m > CHUNK_ROWS) return new Uint32Array(m);
    if (!this.buffer || this.used + m > CHUNK_ROWS) {
      this.buffer = new ArrayBuffer(4 * CHUNK_ROWS);
      this.used = 0;
    }
    const rows = new Uint32Array(this.buffer, 4 * this.used, m);
    this.used += m;
    return rows;
  }
}
