// Negative errnos from the native library, turned into errors a person can act on.
import { constants } from "node:os";
import { MaplbError } from "../errors.js";

const NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** "E2BIG" for -7; "OK" for 0. */
export function errnoName(err: number): string {
  if (err === 0) return "OK";
  return NAMES.get(Math.abs(err)) ?? `errno ${Math.abs(err)}`;
}

/** A full map (hash: E2BIG, LPM trie: ENOSPC) is a capacity problem with a knob to turn. */
export function isCapacityErrno(err: number): boolean {
  return err === -constants.errno.E2BIG || err === -constants.errno.ENOSPC;
}

/**
 * What the kernel target needs. CAP_PERFMON too: without it the verifier applies its Spectre
 * hardening to pointer arithmetic and refuses the program's packet-pointer arithmetic (EACCES).
 */
export const KERNEL_CAPABILITIES = "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN";

/** "updating map lb4_services: E2BIG; raise --map-max" */
export function nativeError(err: number, action: string, context: Record<string, unknown> = {}): MaplbError {
  const name = errnoName(err);
  if (isCapacityErrno(err)) {
    return new MaplbError("E_CAPACITY", `${action}: ${name}; raise --map-max`, { ...context, errno: err });
  }
  const hint =
    err === -constants.errno.EPERM || err === -constants.errno.EACCES
      ? ` (kernel mode needs root, or ${KERNEL_CAPABILITIES})`
      : "";
  return new MaplbError(
    err === -constants.errno.EPERM ? "E_PRIVILEGE" : "E_NATIVE",
    `${action}: ${name}${hint}`,
    { ...context, errno: err },
  );
}

/**
 * Creating the maps: there E2BIG (a size the kernel refuses) and ENOMEM (no memory for the
 * preallocation) mean a --map-max too large, the opposite of E2BIG when a full map is written.
 */
export function mapCreateError(
  err: number,
  action: string,
  context: Record<string, unknown> = {},
): MaplbError {
  if (err !== -constants.errno.E2BIG && err !== -constants.errno.ENOMEM)
    return nativeError(err, action, context);
  const why =
    err === -constants.errno.E2BIG ? "a map size the kernel refuses" : "not enough memory for the maps";
  return new MaplbError("E_CAPACITY", `${action}: ${errnoName(err)} (${why}); lower --map-max`, {
    ...context,
    errno: err,
  });
}

export const ENOENT = -constants.errno.ENOENT;
