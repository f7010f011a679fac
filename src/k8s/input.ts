// Reading input bytes within bounds. A manifest path may name anything: /dev/zero never ends, a FIFO
// nobody writes to never answers, and a huge file costs memory before it is parsed. So every read is
// bounded twice: by size (all -f inputs of one run share --max-input-size, checked while reading) and,
// for anything that is not a regular file, by time (--read-timeout). `-` is standard input.
//
// Reads are synchronous, as the rest of the parse is: files are opened O_NONBLOCK (opening a FIFO
// without a writer would otherwise block inside open(), before any timeout could start) and polled.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { MaplbError } from "../errors.js";

export interface InputLimits {
  /** Bytes all inputs of one run may hold together. */
  maxBytes: number;
  /** Milliseconds a non-regular input (FIFO, pipe, device) may take to reach its end. */
  timeoutMs: number;
}

export const DEFAULT_INPUT_LIMITS: InputLimits = { maxBytes: 64 * 2 ** 20, timeoutMs: 30_000 };

/** The path that means standard input. */
export const STDIN_PATH = "-";

const CHUNK = 2 ** 20;
const POLL_MS = 10;

/** "64 MiB", "1.5 KiB", "100 bytes": sizes as a person reads them. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ["GiB", 2 ** 30],
    ["MiB", 2 ** 20],
    ["KiB", 2 ** 10],
  ] as const) {
    if (n >= size) return `${Number((n / size).toFixed(1))} ${unit}`;
  }
  return `${n} bytes`;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Reads inputs one after another, within one shared size budget. */
export class InputReader {
  private used = 0;

  constructor(readonly limits: InputLimits = DEFAULT_INPUT_LIMITS) {}

  /** The whole input's bytes; throws E_INPUT naming the limit and its flag when one is hit. */
  read(path: string): Buffer {
    const { fd, owned } = openInput(path);
    try {
      return this.readFd(path, fd, fstatSync(fd));
    } finally {
      if (owned) closeSync(fd);
    }
  }

  private readFd(path: string, fd: number, st: Stats): Buffer {
    const name = path === STDIN_PATH ? "standard input" : path;
    const left = this.limits.maxBytes - this.used;
    if (st.isFile() && st.size > left) throw this.tooLarge(name);
    // A named FIFO with no writer yet reads as end-of-file: wait for one (until the deadline). Standard
    // input's pipe was connected before we started, so there end-of-file is the end.
    const waitForWriter = st.isFIFO() && path !== STDIN_PATH;
    const deadline = st.isFile() ? Infinity : Date.now() + this.limits.timeoutMs;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // One byte more than allowed, to tell "exactly at the limit" from "over it".
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, left - total + 1));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw readError(name, err);
        n = -1; // a writer, but no data yet
      }
      if (n > 0) {
        total += n;
        if (total > left) throw this.tooLarge(name);
        chunks.push(buf.subarray(0, n));
        continue;
      }
      if (n === 0 && !(waitForWriter && total === 0)) break;
      if (Date.now() >= deadline) throw this.timedOut(name, total);
      sleep(POLL_MS);
    }
    this.used += total;
    return Buffer.concat(chunks, total);
  }

  private tooLarge(name: string): MaplbError {
    const limit = formatBytes(this.limits.maxBytes);
    return new MaplbError(
      "E_INPUT",
      `${name}: the input is larger than --max-input-size ${limit} (all -f inputs together); ` +
        `raise --max-input-size if it is really that large`,
      { file: name, maxBytes: this.limits.maxBytes },
    );
  }

  private timedOut(name: string, bytes: number): MaplbError {
    const s = this.limits.timeoutMs / 1000;
    const what = bytes === 0 ? "no data (a FIFO with no writer?)" : `only ${formatBytes(bytes)} and no end`;
    return new MaplbError(
      "E_INPUT",
      `${name}: ${what} within --read-timeout ${s}s; raise --read-timeout for a slow writer`,
      { file: name, timeoutMs: this.limits.timeoutMs },
    );
  }
}

/** Opens a path, or standard input for `-`, without blocking. `owned`: ours to close. */
function openInput(path: string): { fd: number; owned: boolean } {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK;
  if (path !== STDIN_PATH) {
    try {
      return { fd: openSync(path, flags), owned: true };
    } catch (err) {
      throw readError(path, err);
    }
  }
  // A fresh open file description of stdin, so O_NONBLOCK does not change the caller's. A socket
  // (what Node's spawn gives a child) cannot be reopened: it is read as it is, where a blocking
  // socket waits without the timeout.
  try {
    return { fd: openSync("/dev/stdin", flags), owned: true };
  } catch {
    return { fd: 0, owned: false };
  }
}

function readError(name: string, err: unknown): MaplbError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code === "ENOENT" ? "no such file or directory" : e.message;
  return new MaplbError("E_INPUT", `cannot read ${name}: ${why}`, { file: name });
}
