// Ethernet/IPv6 frames beside packet.ts's IPv4 ones: built with correct checksums (the ground truth
// the datapath's incremental updates are checked against) and read back. The TCP/UDP segment itself
// is packet.ts's; only the IPv6 header, its extension headers and the pseudo-header are here.
import ipaddr from "ipaddr.js";
import { buildL4, ETH_HLEN, internetChecksum, protoNumber, writeEthernet, type FrameSpec } from "./packet.js";
import { IPPROTO_TCP, IPPROTO_UDP } from "./packet.js";

export const ETH_P_IPV6 = 0x86dd;
export const IPV6_HLEN = 40;
export const IPPROTO_ICMPV6 = 58;
/** Extension header types (RFC 8200) the datapath walks. */
export const NextHeader = { HOP: 0, ROUTING: 43, FRAGMENT: 44, AUTH: 51, NONE: 59, DEST: 60 } as const;
/** ICMPv6 types: errors, echo, multicast listener and neighbour discovery messages. */
export const Icmp6Type = {
  DEST_UNREACH: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAM_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  MLD_QUERY: 130,
  MLD2_REPORT: 143,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
} as const;

/** An extension header before the upper layer: its type and total length (a multiple of 8; AH: of 4). */
export interface ExtHeader {
  type: (typeof NextHeader)["HOP" | "ROUTING" | "DEST" | "AUTH"];
  length?: number;
}

export interface Frame6Spec extends FrameSpec {
  ext?: ExtHeader[];
  hopLimit?: number;
}

const addressBytes = (s: string): number[] => ipaddr.IPv6.parse(s).toByteArray();

/** The sum of the IPv6 pseudo-header (RFC 8200 8.1) for an upper-layer packet of `length` bytes. */
export function pseudoHeaderSum6(src: string, dst: string, proto: number, length: number): number {
  let sum = proto + (length >>> 16) + (length & 0xffff);
  for (const bytes of [addressBytes(src), addressBytes(dst)])
    for (let i = 0; i < 16; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  return sum;
}

/** Extension headers chained in order, the last one's next header being `upper`. */
function extensionChain(ext: readonly ExtHeader[], upper: number): Uint8Array {
  const total = ext.reduce((n, h) => n + (h.length ?? 8), 0);
  const out = new Uint8Array(total);
  let at = 0;
  ext.forEach((h, i) => {
    const length = h.length ?? 8;
    const unit = h.type === NextHeader.AUTH ? 4 : 8;
    if (length < 8 || length % unit !== 0) throw new Error(`extension header of ${length} bytes`);
    out[at] = i + 1 < ext.length ? ext[i + 1]!.type : upper;
    out[at + 1] = h.type === NextHeader.AUTH ? length / 4 - 2 : length / 8 - 1;
    if (h.type === NextHeader.HOP || h.type === NextHeader.DEST) out[at + 2] = 1; // a PadN option
    if (h.type === NextHeader.HOP || h.type === NextHeader.DEST) out[at + 3] = length - 4;
    at += length;
  });
  return out;
}

/** An Ethernet + IPv6 frame: the header (next header `first`), then `rest` (copied). */
export function ipv6Frame(
  spec: { src: string; dst: string; hopLimit?: number },
  first: number,
  rest: Uint8Array,
): Uint8Array {
  const frame = new Uint8Array(ETH_HLEN + IPV6_HLEN + rest.length);
  const v = new DataView(frame.buffer);
  writeEthernet(frame, ETH_P_IPV6);
  v.setUint32(ETH_HLEN, 0x60000000); // version 6, traffic class and flow label 0
  v.setUint16(ETH_HLEN + 4, rest.length);
  v.setUint8(ETH_HLEN + 6, first);
  v.setUint8(ETH_HLEN + 7, spec.hopLimit ?? 64);
  frame.set(addressBytes(spec.src), ETH_HLEN + 8);
  frame.set(addressBytes(spec.dst), ETH_HLEN + 24);
  frame.set(rest, ETH_HLEN + IPV6_HLEN);
  return frame;
}

/** `upper` (of protocol `proto`) behind the extension headers `ext`. */
function withExtensions(spec: Frame6Spec, proto: number, upper: Uint8Array): Uint8Array {
  const chain = extensionChain(spec.ext ?? [], proto);
  const rest = new Uint8Array(chain.length + upper.length);
  rest.set(chain);
  rest.set(upper, chain.length);
  return ipv6Frame(spec, spec.ext?.length ? spec.ext[0]!.type : proto, rest);
}

export function buildFrame6(spec: Frame6Spec): Uint8Array {
  const proto = protoNumber(spec.proto);
  return withExtensions(
    spec,
    proto,
    buildL4(spec, (len) => pseudoHeaderSum6(spec.src, spec.dst, proto, len)),
  );
}

/** An ICMPv6 message (type, code, then `body` after the 4-byte header) with its checksum. */
export function buildIcmp6(
  spec: Frame6Spec & { type: number; code?: number; body?: Uint8Array },
): Uint8Array {
  const body = spec.body ?? new Uint8Array(4);
  const icmp = new Uint8Array(4 + body.length);
  icmp[0] = spec.type;
  icmp[1] = spec.code ?? 0;
  icmp.set(body, 4);
  const sum = pseudoHeaderSum6(spec.src, spec.dst, IPPROTO_ICMPV6, icmp.length);
  new DataView(icmp.buffer).setUint16(2, internetChecksum(icmp, sum));
  return withExtensions(spec, IPPROTO_ICMPV6, icmp);
}

/**
 * A whole frame (no extension headers) cut into two fragments: the first carries the first
 * `firstBytes` of the upper-layer packet (a multiple of 8) with M set, the second the rest.
 */
export function fragment6(frame: Uint8Array, firstBytes: number, id: number): [Uint8Array, Uint8Array] {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const proto = v.getUint8(ETH_HLEN + 6);
  const upper = frame.subarray(ETH_HLEN + IPV6_HLEN, ETH_HLEN + IPV6_HLEN + v.getUint16(ETH_HLEN + 4));
  if (firstBytes % 8 !== 0 || firstBytes <= 0 || firstBytes >= upper.length)
    throw new Error(`cut at ${firstBytes}`);
  const part = (bytes: Uint8Array, offset: number, more: boolean) => {
    const fragHeader = new Uint8Array(8);
    const f = new DataView(fragHeader.buffer);
    f.setUint8(0, proto);
    f.setUint16(2, offset | (more ? 1 : 0));
    f.setUint32(4, id);
    const rest = new Uint8Array(8 + bytes.length);
    rest.set(fragHeader);
    rest.set(bytes, 8);
    const out = ipv6Frame({ src: "::", dst: "::" }, NextHeader.FRAGMENT, rest);
    out.set(frame.subarray(0, ETH_HLEN + 6)); // the original Ethernet and first IPv6 words
    out.set(frame.subarray(ETH_HLEN + 7, ETH_HLEN + IPV6_HLEN), ETH_HLEN + 7); // hop limit, addresses
    new DataView(out.buffer).setUint16(ETH_HLEN + 4, rest.length);
    return out;
  };
  return [part(upper.subarray(0, firstBytes), 0, true), part(upper.subarray(firstBytes), firstBytes, false)];
}

/** What an IPv6 frame says, as far as the datapath looks; null when it is not IPv6 TCP/UDP/ICMPv6. */
export interface Parsed6 {
  src: string;
  dst: string;
  proto: number;
  /** The upper-layer header's offset in the frame, after the extension headers. */
  l4Offset: number;
  l4Length: number;
  sport: number;
  dport: number;
  l4Checksum: number;
}

const l4ChecksumOffset = (proto: number): number =>
  proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : proto === IPPROTO_ICMPV6 ? 2 : -1;

export function parseFrame6(frame: Uint8Array): Parsed6 | null {
  if (frame.length < ETH_HLEN + IPV6_HLEN) return null;
  const v = new DataView(frame.buffer, frame.byteOffset, frame.length);
  if (v.getUint16(12) !== ETH_P_IPV6 || v.getUint8(ETH_HLEN) >> 4 !== 6) return null;
  const end = ETH_HLEN + IPV6_HLEN + v.getUint16(ETH_HLEN + 4);
  let proto = v.getUint8(ETH_HLEN + 6);
  let at = ETH_HLEN + IPV6_HLEN;
  while (
    proto === NextHeader.HOP ||
    proto === NextHeader.ROUTING ||
    proto === NextHeader.DEST ||
    proto === NextHeader.AUTH ||
    proto === NextHeader.FRAGMENT
  ) {
    if (at + 8 > end) return null;
    const next = v.getUint8(at);
    at +=
      proto === NextHeader.FRAGMENT
        ? 8
        : proto === NextHeader.AUTH
          ? (v.getUint8(at + 1) + 2) * 4
          : (v.getUint8(at + 1) + 1) * 8;
    proto = next;
  }
  const checkAt = l4ChecksumOffset(proto);
  if (checkAt < 0 || at + checkAt + 2 > Math.min(end, frame.length)) return null;
  const text = (o: number) => ipaddr.fromByteArray([...frame.subarray(o, o + 16)]).toString();
  const ports = proto !== IPPROTO_ICMPV6;
  return {
    src: text(ETH_HLEN + 8),
    dst: text(ETH_HLEN + 24),
    proto,
    l4Offset: at,
    l4Length: end - at,
    sport: ports ? v.getUint16(at) : 0,
    dport: ports ? v.getUint16(at + 2) : 0,
    l4Checksum: v.getUint16(at + checkAt),
  };
}

/**
 * Whether the TCP/UDP/ICMPv6 checksum of an unfragmented IPv6 frame is right, computed from
 * scratch over the pseudo-header. A UDP checksum of 0 is wrong: IPv6 requires one (RFC 8200 8.1).
 */
export function checksumValid6(frame: Uint8Array): boolean {
  const p = parseFrame6(frame);
  if (!p) return false;
  if (p.proto === IPPROTO_UDP && p.l4Checksum === 0) return false;
  const sum = pseudoHeaderSum6(p.src, p.dst, p.proto, p.l4Length);
  return internetChecksum(frame.subarray(p.l4Offset, p.l4Offset + p.l4Length), sum) === 0;
}
