// Socket-level load balancing (native/datapath/sock.h): the translation a pod's connect() or
// sendmsg() gets from the cgroup hooks, run on the emulated datapath as one FFI call (trace
// --socket, the parity test, the benchmark), and the hooks attached to a cgroup v2 on the kernel
// target (maplb attach --socket-lb).
import { closeSync } from "node:fs";
import { constants } from "node:os";
import { MaplbError } from "../errors.js";
import { intToIpv4, ipv4ToInt, isIPv4 } from "../util/ip.js";
import { native } from "./binding.js";
import { checkCgroupDir } from "./cgroup.js";
import type { EmulatedDatapath } from "./emulated.js";
import { nativeError } from "./errno.js";
import { swap16, swap32 } from "./flow-hash.js";
import type { KernelDatapath } from "./kernel.js";

/** The hooks, in the order of the MAPLB_SOCK_HOOK_* bits. */
export const SOCKET_HOOKS = ["connect4", "sendmsg4", "recvmsg4", "getpeername4"] as const;
export type SocketHook = (typeof SOCKET_HOOKS)[number];

export interface SocketRequest {
  /** The socket's cookie: the reverse entry's key, and what spreads sockets over the backends. */
  cookie: bigint;
  /** The socket's bound source address; null when unbound (connect() before routing). */
  source: string | null;
  /** Who asks when the source is unknown (the hooks use the network namespace's cookie). */
  client: string;
  address: string;
  port: number;
  protocol: "tcp" | "udp";
}

export type SocketResult =
  | { kind: "backend"; address: string; port: number; backendId: number; revNatId: number }
  /** Not a frontend, or left to the per-packet path (source ranges with no source yet). */
  | { kind: "untouched" }
  /** What connect() or sendmsg() fails with. */
  | { kind: "refused"; errno: "ECONNREFUSED" | "EPERM" };

/** Network byte order, as the C side keeps addresses and ports in a __u32 / __u16. */
const htonl = swap32;
const htons = swap16;

function checkAddress(what: string, s: string): number {
  if (!isIPv4(s)) throw new MaplbError("E_USAGE", `${what} ${JSON.stringify(s)} is not an IPv4 address`);
  return htonl(ipv4ToInt(s));
}

function checkPort(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new MaplbError("E_USAGE", `${what} ${JSON.stringify(n)} is not a port (1..65535)`);
  return htons(n);
}

const PROTO = { tcp: 6, udp: 17 } as const;

/**
 * The source port (host order, as on the wire) that gives a packet the flow hash a socket with this
 * cookie gets: sock.h folds the cookie into the flow's port field, in network order.
 */
export function socketHashPort(cookie: bigint): number {
  const c = BigInt.asUintN(64, cookie);
  return htons(Number((c ^ (c >> 16n) ^ (c >> 32n)) & 0xffffn));
}

/** One connect() (or unconnected sendmsg()) translation, as the cgroup hook makes it. */
export function socketConnect(dp: EmulatedDatapath, req: SocketRequest): SocketResult {
  const out = new Uint32Array(4);
  const err = native().sockXlate4(
    dp.maps.handle,
    BigInt.asUintN(64, req.cookie),
    req.source === null ? 0 : checkAddress("source", req.source),
    checkAddress("client", req.client),
    checkAddress("address", req.address),
    checkPort("port", req.port),
    PROTO[req.protocol],
    out,
  );
  if (err === 0) return { kind: "untouched" };
  if (err === -constants.errno.ECONNREFUSED) return { kind: "refused", errno: "ECONNREFUSED" };
  if (err === -constants.errno.EPERM) return { kind: "refused", errno: "EPERM" };
  if (err < 0) throw nativeError(err, `translating connect() to ${req.address}:${req.port}`);
  return {
    kind: "backend",
    address: intToIpv4(htonl(out[0]!)),
    port: htons(out[1]!),
    backendId: out[2]!,
    revNatId: out[3]!,
  };
}

/** ns per connect() translation to address:port, over `repeat` new sockets (emulated, in C). */
export function socketConnectNs(dp: EmulatedDatapath, address: string, port: number, repeat: number): number {
  const out = new BigUint64Array(1);
  const r = native().sockBench(
    dp.maps.handle,
    checkAddress("address", address),
    checkPort("port", port),
    PROTO.tcp,
    repeat,
    out,
  );
  if (r !== 1)
    throw nativeError(
      r < 0 ? r : -constants.errno.ENOENT,
      `timing connect() translations to ${address}:${port}`,
    );
  return Number(out[0]) / repeat;
}

/** What getpeername() (or recvmsg()'s source) shows for a socket talking to address:port. */
export function socketPeer(
  dp: EmulatedDatapath,
  cookie: bigint,
  address: string,
  port: number,
): { address: string; port: number; translated: boolean } {
  const addrPort = Uint32Array.of(checkAddress("address", address), checkPort("port", port));
  const r = native().sockRev4(dp.maps.handle, BigInt.asUintN(64, cookie), addrPort);
  if (r < 0) throw nativeError(r, `reverse-translating ${address}:${port}`);
  return { address: intToIpv4(htonl(addrPort[0]!)), port: htons(addrPort[1]!), translated: r === 1 };
}

/** Attaches the four hooks to a cgroup v2 directory (replacing maplb's earlier ones there). */
export function attachSocketLb(dp: KernelDatapath, cgroup: string, hostnsOnly: boolean): string {
  const dir = checkCgroupDir(cgroup);
  const err = native().attachSock(dp.maps.handle, dir, hostnsOnly);
  if (err < 0) throw nativeError(err, `attaching the socket-LB hooks to cgroup ${JSON.stringify(dir)}`);
  return dir;
}

/**
 * Benchmark only: a connect4 program that does nothing, on a cgroup v2 directory (in place of
 * maplb's programs there), so the cost of running any program on the hook can be measured.
 */
export function attachEmptyConnectHook(dp: KernelDatapath, cgroup: string): string {
  const dir = checkCgroupDir(cgroup);
  const err = native().attachSockEmpty(dp.maps.handle, dir);
  if (err < 0)
    throw nativeError(err, `attaching the empty connect4 program to cgroup ${JSON.stringify(dir)}`);
  return dir;
}

/**
 * Turns the kernel's BPF run-time statistics on until the returned function is called. They add
 * two clock reads to every program's every run: for a breakdown, not while timing what it breaks down.
 */
export function enableBpfStats(): () => void {
  const fd = native().bpfStatsEnable();
  if (fd < 0) throw nativeError(fd, "enabling the kernel's BPF run-time statistics");
  return () => closeSync(fd);
}

/** Run time and runs so far of maplb's connect4 program on a cgroup (counted while statistics are on). */
export function connectHookRunTime(cgroup: string): { ns: number; runs: number } {
  const out = new BigUint64Array(2);
  const err = native().sockConnectStats(cgroup, out);
  if (err < 0) throw nativeError(err, `reading the connect4 programs of cgroup ${JSON.stringify(cgroup)}`);
  return { ns: Number(out[0]), runs: Number(out[1]) };
}

/** Detaches maplb's socket-LB programs from a cgroup: how many there were. */
export function detachSocketLb(cgroup: string): number {
  const n = native().detachSock(cgroup);
  if (n < 0) throw nativeError(n, `detaching the socket-LB hooks from cgroup ${JSON.stringify(cgroup)}`);
  return n;
}

/** The hooks of a cgroup that hold a maplb socket-LB program. */
export function socketLbHooks(cgroup: string): SocketHook[] {
  const mask = native().sockAttached(cgroup);
  if (mask < 0) throw nativeError(mask, `querying the BPF programs of cgroup ${JSON.stringify(cgroup)}`);
  return SOCKET_HOOKS.filter((_, i) => mask & (1 << i));
}
