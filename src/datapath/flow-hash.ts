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

/** flow_hash (IPv4) or flow_hash6 (IPv6: each address's four words in turn), by the tuple's family. */
export function flowHash(f: FlowTuple, seed: number): number {
  let h: number;
  if (f.dst.includes(":")) {
    h = seed >>> 0;
    for (const address of [f.src, f.dst])
      for (const word of ipv6Words(address)) h = fmix32((h ^ swap32(word)) >>> 0);
  } else {
    h = fmix32((seed ^ swap32(ipv4ToInt(f.src))) >>> 0);
    h = fmix32((h ^ swap32(ipv4ToInt(f.dst))) >>> 0);
  }
  h = fmix32((h ^ ((swap16(f.sport) << 16) | swap16(f.dport))) >>> 0);
  return fmix32((h ^ PROTO_NUMBER[f.proto]) >>> 0);
}

/** An IPv6 address's four 32-bit words, most significant first (struct maplb_in6's w[0..3]). */
function ipv6Words(address: string): number[] {
  const n = ipv6ToBigInt(address);
  return [96n, 64n, 32n, 0n].map((shift) => Number((n >> shift) & 0xffffffffn));
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
