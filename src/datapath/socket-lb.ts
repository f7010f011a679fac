// Socket-level load balancing (native/datapath/sock.h): the translation a pod's connect() or
// sendmsg() gets from the cgroup hooks, run on the emulated datapath as one FFI call (trace
// --socket, the parity test, the benchmark), and the hooks attached to a cgroup v2 on the kernel
// target (maplb attach --socket-lb).
import { closeSync } from "node:fs";
import { constants } from "node:os";
import { MaplbError } from "../errors.js";
import {
  bigIntToIpv6,
  hostPort,
  intToIpv4,
  ipFamilyOf,
  ipv4ToInt,
  ipv6ToBigInt,
  isIPv4,
  isIPv6,
} from "../util/ip.js";
import { native } from "./binding.js";
import { checkCgroupDir } from "./cgroup.js";
import type { EmulatedDatapath } from "./emulated.js";
import { nativeError } from "./errno.js";
import { swap16, swap32 } from "./flow-hash.js";
import type { KernelDatapath } from "./kernel.js";

/** The hooks, in the order of the MAPLB_SOCK_HOOK_* bits. */
export const SOCKET_HOOKS = [
  "connect4",
  "sendmsg4",
  "recvmsg4",
  "getpeername4",
  "connect6",
  "sendmsg6",
  "recvmsg6",
  "getpeername6",
] as const;
export type SocketHook = (typeof SOCKET_HOOKS)[number];

export interface SocketRequest {
  /** The socket's cookie: the reverse entry's key, and what spreads sockets over the backends. */
  cookie: bigint;
  /** The socket's bound source address; null when unbound (connect() before routing). */
  source: string | null;
  /** Who asks when the source is unknown (the hooks use the network namespace's cookie). */
  client: string;
  /** IPv4 (an AF_INET socket) or IPv6 (AF_INET6; ::ffff:a.b.c.d goes through the IPv4 tables). */
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

/** The socket family an address asks for: an IPv6 one (IPv4-mapped too) is an AF_INET6 socket's. */
export function socketFamily(address: string): "IPv4" | "IPv6" {
  const family = ipFamilyOf(address);
  if (family === null || address.includes("/"))
    throw new MaplbError("E_USAGE", `address ${JSON.stringify(address)} is not an IPv4 or IPv6 address`);
  return family;
}

function checkAddress(what: string, s: string): number {
  if (!isIPv4(s)) throw new MaplbError("E_USAGE", `${what} ${JSON.stringify(s)} is not an IPv4 address`);
  return htonl(ipv4ToInt(s));
}

/** An IPv6 address as struct maplb_in6 holds it: 16 bytes in network order, seen as 4 words. */
function checkAddress6(what: string, s: string): Uint32Array {
  if (!isIPv6(s)) throw new MaplbError("E_USAGE", `${what} ${JSON.stringify(s)} is not an IPv6 address`);
  const bytes = new Uint8Array(16);
  let n = ipv6ToBigInt(s);
  for (let i = 15; i >= 0; i--, n >>= 8n) bytes[i] = Number(n & 0xffn);
  return new Uint32Array(bytes.buffer);
}

/** The text of 4 words of struct maplb_in6; an IPv4-mapped one as ::ffff:a.b.c.d (RFC 5952 5). */
function address6Text(words: Uint32Array): string {
  const bytes = new Uint8Array(words.buffer, words.byteOffset, 16);
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n >> 32n === 0xffffn ? `::ffff:${intToIpv4(Number(n & 0xffffffffn))}` : bigIntToIpv6(n);
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

/** The C call's return value as a result; out is read only for a translation. */
function resultOf(
  err: number,
  req: SocketRequest,
  backend: () => Extract<SocketResult, { kind: "backend" }>,
): SocketResult {
  if (err === 0) return { kind: "untouched" };
  if (err === -constants.errno.ECONNREFUSED) return { kind: "refused", errno: "ECONNREFUSED" };
  if (err === -constants.errno.EPERM) return { kind: "refused", errno: "EPERM" };
  if (err < 0) throw nativeError(err, `translating connect() to ${hostPort(req.address, req.port)}`);
  return backend();
}

/** One connect() (or unconnected sendmsg()) translation, as the cgroup hook of its family makes it. */
export function socketConnect(dp: EmulatedDatapath, req: SocketRequest): SocketResult {
  if (socketFamily(req.address) === "IPv6") return socketConnect6(dp, req);
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
  return resultOf(err, req, () => ({
    kind: "backend",
    address: intToIpv4(htonl(out[0]!)),
    port: htons(out[1]!),
    backendId: out[2]!,
    revNatId: out[3]!,
  }));
}

/** connect6/sendmsg6: an AF_INET6 socket's translation (source and client IPv6 too). */
function socketConnect6(dp: EmulatedDatapath, req: SocketRequest): SocketResult {
  const out = new Uint32Array(7);
  const err = native().sockXlate6(
    dp.maps.handle,
    BigInt.asUintN(64, req.cookie),
    req.source === null ? new Uint32Array(4) : checkAddress6("source", req.source),
    checkAddress6("client", req.client),
    checkAddress6("address", req.address),
    checkPort("port", req.port),
    PROTO[req.protocol],
    out,
  );
  return resultOf(err, req, () => ({
    kind: "backend",
    address: address6Text(out.subarray(0, 4)),
    port: htons(out[4]!),
    backendId: out[5]!,
    revNatId: out[6]!,
  }));
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
  const v6 = socketFamily(address) === "IPv6";
  const addrPort = v6
    ? Uint32Array.of(...checkAddress6("address", address), checkPort("port", port))
    : Uint32Array.of(checkAddress("address", address), checkPort("port", port));
  const lib = native();
  const c = BigInt.asUintN(64, cookie);
  const r = v6 ? lib.sockRev6(dp.maps.handle, c, addrPort) : lib.sockRev4(dp.maps.handle, c, addrPort);
  if (r < 0) throw nativeError(r, `reverse-translating ${hostPort(address, port)}`);
  return v6
    ? { address: address6Text(addrPort.subarray(0, 4)), port: htons(addrPort[4]!), translated: r === 1 }
    : { address: intToIpv4(htonl(addrPort[0]!)), port: htons(addrPort[1]!), translated: r === 1 };
}

/** Attaches the eight hooks (IPv4 and IPv6) to a cgroup v2 directory (replacing maplb's earlier ones there). */
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
