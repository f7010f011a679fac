// Maglev tables computed ahead, on a second core. Filling tables is most of a large compile (10k
// tables of 16381 rows: about 4 s of one core), and a table depends only on its backends' names and
// M, not on anything else the compile decides. So compile() hands the tables of the second half of
// the ports to a worker thread (maglev-worker.ts), compiles the first half meanwhile, and takes the
// worker's rows when it reaches the second half. The worker writes backend positions (1..N), because
// ids are given out during the compile; take() puts the ids in, which gives maglevRows()' rows
// exactly. The compile stays synchronous: it sleeps in Atomics.wait until the worker is done. The
// worker's tables are views of the one buffer it hands over (no copy), which lives as long as any.
//
// A batch too small to pay for a thread (starting one takes tens of ms), a single core, or a worker
// that fails: the tables are computed in the compile as before.
import { Beside } from "../util/beside.js";
import type { MaglevBackend } from "./maglev.js";

export interface AheadJob {
  m: number;
  /** The backends' `ip:port`, in slot order. */
  names: string[];
}

/** Rows in all (Σ M) below which a worker costs more than it saves: about 100 ms of filling. */
export const MIN_AHEAD_ROWS = 1 << 22;
/** Smaller tables cost less to fill (microseconds) than to hand over and look up: filled in the compile. */
export const MIN_AHEAD_M = 4093;

const jobKey = (m: number, names: readonly string[]): string => `${m} ${names.join(" ")}`;

export class MaglevAhead {
  /** Job index by key, until its table is taken. */
  private readonly pending = new Map<string, number>();
  private results: Uint32Array[] | null = null;

  private constructor(
    private readonly jobs: AheadJob[],
    private readonly worker: Beside<ArrayBuffer>,
  ) {
    jobs.forEach((j, i) => this.pending.set(jobKey(j.m, j.names), i));
  }

  /** Starts a worker on `all`'s large tables; null when they are too few or there is one core. */
  static start(all: AheadJob[], minRows = MIN_AHEAD_ROWS, minM = MIN_AHEAD_M): MaglevAhead | null {
    const jobs = all.filter((j) => j.m >= minM);
    if (jobs.reduce((sum, j) => sum + j.m, 0) < minRows) return null;
    const worker = Beside.start<ArrayBuffer>(
      "Maglev tables",
      new URL("./maglev-worker.js", import.meta.url),
      jobs,
    );
    return worker && new MaglevAhead(jobs, worker);
  }

  /** The rows of this table if the worker computed them (each once), with `backends`' ids in. */
  take(backends: readonly MaglevBackend[], m: number): Uint32Array | undefined {
    const key = jobKey(
      m,
      backends.map((b) => b.name),
    );
    const i = this.pending.get(key);
    if (i === undefined) return undefined;
    this.pending.delete(key);
    const rows = this.wait()[i];
    if (!rows) return undefined;
    // ids[position] (ids[0] unused): a typed array read per row, not an object's property.
    const ids = new Uint32Array(backends.length + 1);
    for (let b = 0; b < backends.length; b++) ids[b + 1] = backends[b]!.id;
    for (let r = 0; r < rows.length; r++) rows[r] = ids[rows[r]!]!;
    return rows;
  }

  /** Ends the worker (it has usually ended already). */
  close(): void {
    this.worker.close();
  }

  /** The worker's tables, waiting for them the first time; none if it failed. */
  private wait(): Uint32Array[] {
    if (this.results) return this.results;
    this.results = [];
    const buffer = this.worker.wait();
    if (!buffer) return this.results;
    let offset = 0;
    for (const { m } of this.jobs) {
      this.results.push(new Uint32Array(buffer, offset, m));
      offset += 4 * m;
    }
    return this.results;
  }
}
