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
import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import { log } from "../log.js";
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
/** How long the compile waits for the worker before computing its tables itself. */
const WAIT_MS = 120_000;

const jobKey = (m: number, names: readonly string[]): string => `${m} ${names.join(" ")}`;

export class MaglevAhead {
  /** Job index by key, until its table is taken. */
  private readonly pending = new Map<string, number>();
  private results: Uint32Array[] | null = null;

  private constructor(
    private readonly jobs: AheadJob[],
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly done: Int32Array,
  ) {
    jobs.forEach((j, i) => this.pending.set(jobKey(j.m, j.names), i));
  }

  /** Starts a worker on `jobs`; null when they are too few or there is one core. */
  static start(all: AheadJob[], minRows = MIN_AHEAD_ROWS, minM = MIN_AHEAD_M): MaglevAhead | null {
    const jobs = all.filter((j) => j.m >= minM);
    if (availableParallelism() < 2 || jobs.reduce((sum, j) => sum + j.m, 0) < minRows) return null;
    const { port1, port2 } = new MessageChannel();
    const done = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL("./maglev-worker.js", import.meta.url), {
      workerData: { jobs, done, port: port2 },
      transferList: [port2],
    });
    worker.unref(); // never what keeps the process alive
    return new MaglevAhead(jobs, worker, port1, done);
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
    for (let r = 0; r < rows.length; r++) rows[r] = backends[rows[r]! - 1]!.id;
    return rows;
  }

  /** Ends the worker (it has usually ended already). */
  close(): void {
    this.port.close();
    void this.worker.terminate();
  }

  /** The worker's tables, waiting for them the first time; none if it failed. */
  private wait(): Uint32Array[] {
    if (this.results) return this.results;
    this.results = [];
    if (Atomics.wait(this.done, 0, 0, WAIT_MS) === "timed-out") {
      log.warn({ ms: WAIT_MS }, "Maglev worker did not finish: computing its tables in the compile");
      return this.results;
    }
    const msg = receiveMessageOnPort(this.port)?.message as
      { buffer?: ArrayBuffer; error?: string } | undefined;
    if (!msg?.buffer) {
      log.warn({ error: msg?.error }, "Maglev worker failed: computing its tables in the compile");
      return this.results;
    }
    let offset = 0;
    for (const { m } of this.jobs) {
      this.results.push(new Uint32Array(msg.buffer, offset, m));
      offset += 4 * m;
    }
    return this.results;
  }
}
