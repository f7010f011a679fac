// The kernel target: native/build/maplb.bpf.o loaded with libbpf, maps pinned under pinDir (they
// outlive the process, so a second apply updates them in place), packets run with BPF_PROG_TEST_RUN,
// programs attached to interfaces with XDP or TC.
import { randomBytes } from "node:crypto";
import { constants } from "node:os";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { MaplbError } from "../errors.js";
import { DEFAULT_BPF_OBJECT, native } from "./binding.js";
import { KERNEL_CAPABILITIES, mapCreateError, nativeError } from "./errno.js";
import { NativeDatapath } from "./native-datapath.js";
import { lockPinDir, type PinDirLock } from "./pin-lock.js";
import { MAP_NAMES } from "./abi.js";
import { checkedMaxEntries } from "./map-budget.js";
import { DEFAULT_PIN_DIR, type MapMax } from "./options.js";
import type { BatchResult, PacketBatch } from "./datapath.js";

export interface KernelOptions {
  pinDir?: string;
  mapMax?: MapMax;
  /** The BPF object; default native/build/maplb.bpf.o. */
  objectPath?: string;
  /** Pin under a fresh private directory that close() removes (tests, benchmarks). Ignores pinDir. */
  ephemeral?: boolean;
  /** Hold the pin dir's writer lock until close() (apply, attach, the lab, the agent): see pin-lock.ts. */
  lock?: boolean;
  /** The pin dir must already hold every map: nothing is created (list, status, attach). */
  mustExist?: boolean;
}

const BPFFS = "/sys/fs/bpf";

/** Ephemeral pin directories: maplb-<pid>-<8 hex>, removed on close, or at exit, or by the next sweep. */
const EPHEMERAL = /^maplb-(\d+)-[0-9a-f]{8}$/;
const openEphemeral = new Set<string>();
process.on("exit", () => {
  for (const dir of openEphemeral) rmSync(dir, { recursive: true, force: true });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes the ephemeral pin directories of processes that died without closing (a killed test). */
export function sweepStaleEphemeral(root = BPFFS): string[] {
  if (!existsSync(root)) return [];
  const stale = readdirSync(root).filter((name) => {
    const pid = EPHEMERAL.exec(name)?.[1];
    return pid !== undefined && !processAlive(Number(pid));
  });
  for (const name of stale) rmSync(`${root}/${name}`, { recursive: true, force: true });
  return stale;
}

/** The programs of maplb.bpf.o, in the order of enum maplb_prog. */
export const KERNEL_PROGRAMS = ["xdp", "tc", "probe"] as const;
export type KernelProgram = (typeof KERNEL_PROGRAMS)[number];

/** BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header. */
export const MIN_TEST_RUN_FRAME = 14;

export class KernelDatapath extends NativeDatapath {
  constructor(
    readonly pinDir: string,
    handle: unknown,
    private readonly ephemeral = false,
    private readonly lock: PinDirLock | null = null,
  ) {
    super("kernel", `kernel (BPF maps pinned under ${pinDir})`, handle);
  }

  /** Closes the object and releases the lock; the maps stay pinned unless the datapath is ephemeral. */
  override close(): void {
    super.close();
    this.lock?.release();
    if (this.ephemeral) {
      rmSync(this.pinDir, { recursive: true, force: true });
      openEphemeral.delete(this.pinDir);
    }
  }

  override processBatch(batch: PacketBatch): BatchResult {
    const short = batch.lengths.findIndex((len) => len < MIN_TEST_RUN_FRAME);
    if (short >= 0) {
      throw new MaplbError(
        "E_USAGE",
        `frame ${short} has ${batch.lengths[short]} bytes: BPF_PROG_TEST_RUN needs at least an Ethernet header (${MIN_TEST_RUN_FRAME})`,
      );
    }
    return super.processBatch(batch);
  }

  /**
   * BPF_PROG_TEST_RUN of one of the object's programs, `repeat` times, on `frame`. retval: XDP_* for
   * "xdp", TC_ACT_* for "tc", verdict | reason << 8 for "probe"; output: the frame that came out
   * (an ICMP reply can be longer than the packet it answers).
   */
  testRun(
    program: KernelProgram,
    frame: Uint8Array,
    repeat = 1,
  ): { retval: number; nsPerRun: number; output: Uint8Array } {
    const output = new Uint8Array(frame.length + 256);
    const outLength = Uint32Array.of(output.length);
    const out = new Uint32Array(2);
    const err = this.maps.api.testRun(
      this.handle,
      KERNEL_PROGRAMS.indexOf(program),
      frame,
      output,
      outLength,
      repeat,
      out,
    );
    if (err < 0) throw nativeError(err, `BPF_PROG_TEST_RUN of the ${program} program`);
    return { retval: out[0]!, nsPerRun: out[1]!, output: output.slice(0, outLength[0]) };
  }

  attachXdp(ifname: string, xdpFlags = 0): void {
    const err = this.maps.api.attachXdp(this.handle, ifindexOf(ifname), xdpFlags);
    if (err < 0) throw nativeError(err, `attaching XDP to ${ifname}`);
  }

  detachXdp(ifname: string, xdpFlags = 0): void {
    detachXdp(ifname, xdpFlags);
  }

  attachTc(ifname: string, direction: "ingress" | "egress" = "ingress"): void {
    const err = this.maps.api.attachTc(this.handle, ifindexOf(ifname), direction === "egress");
    if (err < 0) throw nativeError(err, `attaching TC ${direction} to ${ifname}`);
  }

  detachTc(ifname: string, direction: "ingress" | "egress" = "ingress"): void {
    detachTc(ifname, direction);
  }
}

/** Detaching needs no program and no maps: `maplb detach` works even when the pin dir is gone. */
export function detachXdp(ifname: string, xdpFlags = 0): void {
  const err = native().detachXdp(ifindexOf(ifname), xdpFlags);
  if (err < 0) throw nativeError(err, `detaching XDP from ${ifname}`);
}

export function detachTc(ifname: string, direction: "ingress" | "egress" = "ingress"): void {
  const err = native().detachTc(ifindexOf(ifname), direction === "egress");
  if (err < 0) throw nativeError(err, `detaching TC ${direction} from ${ifname}`);
}

/** The interface's index in this process's network namespace (also right after `nsenter --net`). */
export function ifindexOf(ifname: string): number {
  const index = native().ifindex(ifname);
  if (index < 0) throw new MaplbError("E_USAGE", `no network interface ${ifname}`);
  return index;
}

/** Why the kernel target cannot be used here, or null when it can be tried. */
export function kernelUnavailableReason(objectPath = DEFAULT_BPF_OBJECT): string | null {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return `not root (kernel mode needs ${KERNEL_CAPABILITIES})`;
  if (!existsSync(objectPath)) return `the BPF object ${objectPath} is not built (run npm run build)`;
  return null;
}

/**
 * For commands that only use maps (list, status, attach): a pin dir that does not exist, or lacks a
 * map, is an error naming it, and not a reason to create an empty datapath nobody asked for.
 */
export function checkPinned(pinDir: string): void {
  const dir = JSON.stringify(pinDir);
  const tryAt = `(maplb apply --pin-dir ${dir} creates them)`;
  if (!existsSync(pinDir))
    throw new MaplbError("E_USAGE", `pin dir ${dir} does not exist: no maps are pinned there ${tryAt}`, {
      pinDir,
    });
  if (!statSync(pinDir).isDirectory())
    throw new MaplbError("E_USAGE", `pin dir ${dir} is not a directory`, { pinDir });
  const missing = MAP_NAMES.filter((name) => !existsSync(`${pinDir}/${name}`));
  if (missing.length > 0)
    throw new MaplbError(
      "E_USAGE",
      `pin dir ${dir} lacks the map${missing.length === 1 ? "" : "s"} ${missing.join(", ")} ${tryAt}`,
      { pinDir, missing },
    );
}

export function openKernel(opts: KernelOptions = {}): KernelDatapath {
  const objectPath = opts.objectPath ?? DEFAULT_BPF_OBJECT;
  if (opts.ephemeral) sweepStaleEphemeral();
  const pinDir = opts.ephemeral
    ? `${BPFFS}/maplb-${process.pid}-${randomBytes(4).toString("hex")}`
    : (opts.pinDir ?? DEFAULT_PIN_DIR);
  const unavailable = kernelUnavailableReason(objectPath);
  if (unavailable) {
    throw new MaplbError(
      unavailable.startsWith("not root") ? "E_PRIVILEGE" : "E_NATIVE_MISSING",
      `kernel datapath: ${unavailable}`,
    );
  }
  // The lock first: creating and pinning missing maps is writing too.
  const lock = opts.lock && !opts.ephemeral ? lockPinDir(pinDir) : null;
  try {
    if (opts.mustExist) checkPinned(pinDir);
    const dp = loadObject(objectPath, pinDir, opts);
    if (opts.ephemeral) openEphemeral.add(pinDir);
    return new KernelDatapath(pinDir, dp, opts.ephemeral, lock);
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** Loads the BPF object over the maps pinned under pinDir (pinning the missing ones). */
function loadObject(objectPath: string, pinDir: string, opts: KernelOptions): unknown {
  const { err, dp } = native().openKernel(
    objectPath,
    pinDir,
    checkedMaxEntries(opts.mapMax, "kernel", pinDir),
  );
  if (err >= 0) return dp;
  if (opts.ephemeral) rmSync(pinDir, { recursive: true, force: true });
  // libbpf refuses to reuse a pinned map whose size or layout differs (another --map-max, an older build).
  const hint =
    err === -constants.errno.EINVAL && existsSync(pinDir) && readdirSync(pinDir).length > 0
      ? `; the maps pinned there do not match (another --map-max, or an older build?): use the same --map-max, or remove ${pinDir} (this drops established flows)`
      : "";
  throw mapCreateError(err, `loading ${objectPath} with maps pinned under ${pinDir}${hint}`, {
    objectPath,
    pinDir,
  });
}

/**
 * Whether the kernel target works here: null when an ephemeral kernel datapath opened (and was
 * closed again), else the reason (tests skip with it).
 */
export function probeKernel(): string | null {
  const unavailable = kernelUnavailableReason();
  if (unavailable) return unavailable;
  try {
    openKernel({ ephemeral: true }).close();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
