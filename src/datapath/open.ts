// openDatapath: --datapath auto|kernel|emulated. auto takes the kernel when it can and says why not
// when it cannot.
import { MaplbError } from "../errors.js";
import { log } from "../log.js";
import type { Datapath } from "./datapath.js";
import { openEmulated } from "./emulated.js";
import { kernelUnavailableReason, openKernel } from "./kernel.js";
import type { MapMax } from "./options.js";

export type DatapathChoice = "auto" | "kernel" | "emulated";

export interface OpenOptions {
  kind: DatapathChoice;
  /** Kernel: where maps are pinned (default /sys/fs/bpf/maplb). */
  pinDir?: string;
  mapMax?: MapMax;
  /** Kernel: the BPF object (default native/build/maplb.bpf.o). */
  objectPath?: string;
  /** Kernel: pin under a fresh private directory that close() removes (benchmarks, tests). */
  ephemeral?: boolean;
  /** Kernel: hold the pin dir's writer lock until close() (see pin-lock.ts). */
  lock?: boolean;
}

export function openDatapath(opts: OpenOptions): Datapath {
  const kernelOpts = {
    pinDir: opts.pinDir,
    mapMax: opts.mapMax,
    objectPath: opts.objectPath,
    ephemeral: opts.ephemeral,
    lock: opts.lock,
  };
  if (opts.kind === "emulated") return openEmulated({ mapMax: opts.mapMax });
  if (opts.kind === "kernel") return openKernel(kernelOpts);

  const unavailable = kernelUnavailableReason(opts.objectPath);
  if (unavailable) {
    log.info(
      { datapath: "emulated", reason: unavailable },
      `datapath auto: emulated, because ${unavailable}`,
    );
    return openEmulated({ mapMax: opts.mapMax });
  }
  try {
    const dp = openKernel(kernelOpts);
    log.info(
      { datapath: "kernel", pinDir: dp.pinDir },
      "datapath auto: kernel (running as root, BPF object loaded)",
    );
    return dp;
  } catch (err) {
    // Another writer holds the pin dir (the kernel works, so falling back would hide the conflict),
    // or the kernel refuses a flag (--map-max too large): the user's to fix, not a reason to fall back.
    if (err instanceof MaplbError && (err.code === "E_BUSY" || err.code === "E_USAGE")) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    log.warn(
      { datapath: "emulated", reason },
      `datapath auto: emulated, because the kernel datapath failed: ${reason}`,
    );
    return openEmulated({ mapMax: opts.mapMax });
  }
}
