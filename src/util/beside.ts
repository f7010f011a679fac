// Work done beside a synchronous caller, on a second core. The control plane reads, validates and
// compiles synchronously; to use the second core anyway, the caller starts a worker thread on part
// of the work, does its own part, then sleeps in Atomics.wait until the worker's answer is there and
// takes it with receiveMessageOnPort (no event loop needed). A worker that fails or never answers
// gives no answer: the caller then does that part itself, so the result is the same either way.
import { availableParallelism } from "node:os";
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  type Transferable,
  Worker,
  workerData,
} from "node:worker_threads";
import { log } from "../log.js";

/** How long the caller waits for an answer: far beyond any real one (seconds). */
const WAIT_MS = 120_000;

interface Envelope {
  data: unknown;
  done: Int32Array;
  port: MessagePort;
}

type Answer<T> = { ok: true; value: T } | { ok: false; error: string };

export class Beside<T> {
  private answer: T | undefined;
  private waited = false;

  private constructor(
    private readonly what: string,
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly done: Int32Array,
  ) {}

  /**
   * Starts `script` (a module that calls answerBeside) on `data`; null on a single core, or with
   * MAPLB_WORKERS=0 (a CPU quota that availableParallelism() does not see, or to compare timings).
   */
  static start<T>(what: string, script: URL, data: unknown): Beside<T> | null {
    if (availableParallelism() < 2 || process.env.MAPLB_WORKERS === "0") return null;
    const { port1, port2 } = new MessageChannel();
    const done = new Int32Array(new SharedArrayBuffer(4));
    const envelope: Envelope = { data, done, port: port2 };
    const worker = new Worker(script, { workerData: envelope, transferList: [port2] });
    worker.unref(); // never what keeps the process alive
    return new Beside<T>(what, worker, port1, done);
  }

  /** The worker's answer, waiting for it the first time; undefined if it failed or took too long. */
  wait(): T | undefined {
    if (this.waited) return this.answer;
    this.waited = true;
    if (Atomics.wait(this.done, 0, 0, WAIT_MS) === "timed-out") {
      log.warn({ work: this.what, ms: WAIT_MS }, "worker thread did not answer: doing its part here");
      return undefined;
    }
    const msg = receiveMessageOnPort(this.port)?.message as Answer<T> | undefined;
    if (!msg?.ok) {
      log.warn({ work: this.what, error: msg?.error }, "worker thread failed: doing its part here");
      return undefined;
    }
    this.answer = msg.value;
    return this.answer;
  }

  /** Ends the worker (it has usually ended already). */
  close(): void {
    this.port.close();
    void this.worker.terminate();
  }
}

/** In the worker: computes the answer from the caller's data, hands it over and wakes the caller. */
export function answerBeside<D, T>(compute: (data: D) => { value: T; transfer?: Transferable[] }): void {
  const { data, done, port } = workerData as Envelope;
  try {
    const { value, transfer } = compute(data as D);
    port.postMessage({ ok: true, value } satisfies Answer<T>, transfer);
  } catch (err) {
    port.postMessage({ ok: false, error: String(err) } satisfies Answer<T>);
  } finally {
    port.close();
    Atomics.store(done, 0, 1);
    Atomics.notify(done, 0);
  }
}
