// One writer at a time on a pin directory. Two `maplb apply` runs that interleave their
// read-back → compile → write cycles each delete what the other just wrote (backend ids, Maglev
// ranges), leaving slots that name missing backends; so every writer (apply, attach, the lab, the
// agent) holds an exclusive flock(2) for as long as it writes. Readers (list, status) take no lock:
// each map write is atomic, and the hitless order keeps what they see consistent.
//
// The lock file cannot live in the pin directory: bpffs holds only BPF objects, not regular files. It
// lives under /run/maplb/locks ($MAPLB_RUN_DIR/locks), one per pin directory, named by its absolute
// path, and is removed on release (native/host/lock.c makes that safe for waiters).
import { mkdirSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { join, resolve } from "node:path";
import { MaplbError } from "../errors.js";
import { native } from "./binding.js";
import { nativeError } from "./errno.js";

/** How long a writer waits for another to finish; $MAPLB_LOCK_TIMEOUT_MS overrides it. */
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

export function lockTimeoutMs(): number {
  const v = Number(process.env.MAPLB_LOCK_TIMEOUT_MS);
  return Number.isInteger(v) && v >= 0 && v <= 3_600_000 ? v : DEFAULT_LOCK_TIMEOUT_MS;
}

/** /run/maplb/locks/%2Fsys%2Ffs%2Fbpf%2Fmaplb.lock for /sys/fs/bpf/maplb: one file per directory. */
export function lockFileOf(pinDir: string): string {
  const name = resolve(pinDir).replace(
    /[^A-Za-z0-9._-]/g,
    (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`,
  );
  if (name.length > 240)
    throw new MaplbError("E_USAGE", `pin dir ${JSON.stringify(pinDir)} is too long to name a lock file`);
  return join(process.env.MAPLB_RUN_DIR ?? "/run/maplb", "locks", `${name}.lock`);
}

/** `pid 123 ("maplb apply -f x.yaml")`, from /proc, for the error a waiter gets. */
function describeHolder(pid: number): string {
  if (pid === 0) return "a process that has not written its pid yet";
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const cmd = argv.map((a) => a.replace(/^.*\/(maplb|node)(\.js)?$/, "$1")).join(" ");
    return `pid ${pid} (${JSON.stringify(cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd)})`;
  } catch {
    return `pid ${pid}`;
  }
}

export class PinDirLock {
  private fd: number | null;

  constructor(
    readonly pinDir: string,
    readonly file: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  release(): void {
    if (this.fd === null) return;
    native().unlockFile(this.file, this.fd);
    this.fd = null;
  }
}

/** Takes the pin directory's writer lock, waiting up to `timeoutMs`; the error names the holder. */
export function lockPinDir(pinDir: string, timeoutMs = lockTimeoutMs()): PinDirLock {
  const file = lockFileOf(pinDir);
  mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
  const { fd, holderPid } = native().lockFile(file, timeoutMs);
  if (fd === -constants.errno.EWOULDBLOCK)
    throw new MaplbError(
      "E_BUSY",
      `pin dir ${JSON.stringify(pinDir)} is in use by another maplb writer, ${describeHolder(holderPid)}; ` +
        `waited ${timeoutMs} ms (lock file ${JSON.stringify(file)}). Only one of maplb apply, attach, lab and agent ` +
        `may write a pin dir at a time: wait for it, or stop it`,
      { pinDir, lockFile: file, holderPid },
    );
  if (fd < 0)
    throw nativeError(fd, `locking pin dir ${JSON.stringify(pinDir)} (lock file ${JSON.stringify(file)})`, {
      pinDir,
      file,
    });
  return new PinDirLock(pinDir, file, fd);
}
