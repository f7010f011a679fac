// The datapath's flow hash (native/datapath/flow_hash.h), in TypeScript, so that `maplb trace` can
// say which Maglev row or slot a packet lands on and tests can predict the choice. The C code hashes
// the fields as loaded from the packet on a little-endian machine, so network-order values are
// byte-swapped here first.
import { fmix32 } from "../util/fmix.js";
import { ipv4ToInt, ipv6ToBigInt } from "../util/ip.js";
import { PROTO_NUMBER } from "./map-writes.js";
import type { Protocol } from "../model/types.js";
import type { PortRange } from "./datapath.js";

/** Byte swaps: host order to network order as a little-endian machine holds it, and back. */
export const swap32 = (n: number) =>
  (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
export const swap16 = (n: number) => ((n & 0xff) << 8) | (n >>> 8);

export interface FlowTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: Protocol;
}

/** An address's 32-bit words as the C code loads them: one for IPv4, four for IPv6 (flow_hash6). */
function addressWords(address: string): number[] {
  if (!address.includes(":")) return [swap32(ipv4ToInt(address))];
  const n = ipv6ToBigInt(address);
  return [96n, 64n, 32n, 0n].map((shift) => swap32(Number((n >> shift) & 0xffffffffn)));
}

/** flow_hash (IPv4) or flow_hash6 (IPv6): each address word in turn, then ports and protocol. */
export function flowHash(f: FlowTuple, seed: number): number {
  let h = seed;
  for (const w of [...addressWords(f.src), ...addressWords(f.dst)]) h = fmix32((h ^ w) >>> 0);
  h = fmix32((h ^ ((swap16(f.sport) << 16) | swap16(f.dport))) >>> 0);
  return fmix32((h ^ PROTO_NUMBER[f.proto]) >>> 0);
}

/** The Maglev row (relative to the table's offset) and the random slot a flow lands on. */
export function maglevRow(hash: number, m: number): number {
  return hash % m;
}
export function randomSlot(hash: number, count: number): number {
  return (hash % count) + 1;
}

/** The i-th port source NAT tries for a flow (snat_port_candidate in native/datapath/snat.h). */
export function snatPortCandidate(hash: number, i: number, ports: PortRange): number {
  return ports.min + (fmix32((hash + i) >>> 0) % (ports.max - ports.min + 1));
}
