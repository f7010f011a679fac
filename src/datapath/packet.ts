// Ethernet/IPv4/TCP/UDP frames: built with correct checksums (tests, `maplb trace`) and read back
// (explanations, checks). Byte-level and dependency-free on purpose: it is the ground truth the
// datapath's incremental checksum updates are checked against.
import { intToIpv4, ipv4ToInt } from "../util/ip.js";

export const ETH_HLEN = 14;
export const IPV4_HLEN = 20;
export const ETH_P_IP = 0x0800;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export interface FrameSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: "TCP" | "UDP";
  payload?: Uint8Array;
  /** UDP: send without a checksum (0). */
  noUdpChecksum?: boolean;
  ttl?: number;
  /** TCP flags byte; default SYN. */
  tcpFlags?: number;
  /** IPv4 options (a multiple of 4 bytes, at most 40): IHL grows by their length. */
  ipOptions?: Uint8Array;
  /** IPv4 identification (default 0x1234). */
  ipId?: number;
}

/** TCP flag bits. */
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** The Internet checksum (RFC 1071) of `bytes`, plus an initial 32-bit sum. */
export function internetChecksum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function pseudoHeaderSum(src: number, dst: number, proto: number, l4Length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4Length;
}

/** An Ethernet header (locally administered MACs) for `ethertype` at the start of `frame`. */
export function writeEthernet(frame: Uint8Array, ethertype: number): void {
  frame.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]); // dst, src MAC
  new DataView(frame.buffer, frame.byteOffset).setUint16(12, ethertype);
}

/** An Ethernet + IPv4 frame around `l4` (copied), with the header checksum set. */
function ipv4Frame(
  spec: { src: string; dst: string; ttl?: number; ipOptions?: Uint8Array; ipId?: number; fragField?: number },
  proto: number,
  l4: Uint8Array,
): Uint8Array {
  const options = spec.ipOptions ?? new Uint8Array(0);
  if (options.length % 4 !== 0 || options.length > 40)
    throw new Error(`IPv4 options of ${options.length} bytes`);
  const ihl = IPV4_HLEN + options.length;
  const frame = new Uint8Array(ETH_HLEN + ihl + l4.length);
  const v = new DataView(frame.buffer);
  writeEthernet(frame, ETH_P_IP);
  const ip = ETH_HLEN;
  v.setUint8(ip, 0x40 | (ihl / 4));
  v.setUint16(ip + 2, ihl + l4.length);
  v.setUint16(ip + 4, spec.ipId ?? 0x1234);
  v.setUint16(ip + 6, spec.fragField ?? 0x4000); // DF
  v.setUint8(ip + 8, spec.ttl ?? 64);
  v.setUint8(ip + 9, proto);
  v.setUint32(ip + 12, ipv4ToInt(spec.src));
  v.setUint32(ip + 16, ipv4ToInt(spec.dst));
  frame.set(options, ip + IPV4_HLEN);
  v.setUint16(ip + 10, internetChecksum(frame.subarray(ip, ip + ihl)));
  frame.set(l4, ip + ihl);
  return frame;
}

/**
 * The TCP or UDP segment of `spec` with its checksum over `pseudoSum` (the pseudo-header's sum,
 * which is the family's: see pseudoHeaderSum here and in packet6.ts). UDP: a computed 0 is sent as
 * 0xffff, and noUdpChecksum leaves 0 ("none", IPv4 only).
 */
export function buildL4(spec: FrameSpec, pseudoSum: (l4Length: number) => number): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  const l4Header = spec.proto === "TCP" ? 20 : 8;
  const l4 = new Uint8Array(l4Header + payload.length);
  const v = new DataView(l4.buffer);
  v.setUint16(0, spec.sport);
  v.setUint16(2, spec.dport);
  if (spec.proto === "TCP") {
    v.setUint32(4, 1000); // seq
    v.setUint8(12, 5 << 4); // data offset
    v.setUint8(13, spec.tcpFlags ?? TcpFlag.SYN);
    v.setUint16(14, 65535); // window
  } else {
    v.setUint16(4, l4.length);
  }
  l4.set(payload, l4Header);
  if (!(spec.proto === "UDP" && spec.noUdpChecksum)) {
    let check = internetChecksum(l4, pseudoSum(l4.length));
    if (spec.proto === "UDP" && check === 0) check = 0xffff;
    v.setUint16(spec.proto === "TCP" ? 16 : 6, check);
  }
  return l4;
}

export const protoNumber = (proto: "TCP" | "UDP"): number => (proto === "TCP" ? IPPROTO_TCP : IPPROTO_UDP);

export function buildFrame(spec: FrameSpec): Uint8Array {
  const proto = protoNumber(spec.proto);
  const l4 = buildL4(spec, (len) => pseudoHeaderSum(ipv4ToInt(spec.src), ipv4ToInt(spec.dst), proto, len));
  return ipv4Frame(spec, proto, l4);
}

/**
 * A whole frame cut into two IPv4 fragments, as a router would: the first carries the first
 * `firstBytes` of the IP payload (a multiple of 8) with MF set, the second the rest at that offset.
 */
export function fragment(frame: Uint8Array, firstBytes: number): [Uint8Array, Uint8Array] {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const ihl = (v.getUint8(ETH_HLEN) & 0xf) * 4;
  const payload = frame.subarray(ETH_HLEN + ihl, ETH_HLEN + v.getUint16(ETH_HLEN + 2));
  if (firstBytes % 8 !== 0 || firstBytes <= 0 || firstBytes >= payload.length)
    throw new Error(`cut at ${firstBytes}`);
  const part = (bytes: Uint8Array, fragField: number) => {
    const out = Uint8Array.from([...frame.subarray(0, ETH_HLEN + ihl), ...bytes]);
    const w = new DataView(out.buffer);
    w.setUint16(ETH_HLEN + 2, ihl + bytes.length);
    w.setUint16(ETH_HLEN + 6, fragField);
    w.setUint16(ETH_HLEN + 10, 0);
    w.setUint16(ETH_HLEN + 10, internetChecksum(out.subarray(ETH_HLEN, ETH_HLEN + ihl)));
    return out;
  };
  return [part(payload.subarray(0, firstBytes), 0x2000), part(payload.subarray(firstBytes), firstBytes / 8)];
}

/** ICMP error types the datapath reverse-NATs. */
export const IcmpType = { DEST_UNREACH: 3, TIME_EXCEEDED: 11 } as const;

/**
 * An ICMP error from `src` to `dst` quoting the first `quoteBytes` of `offending` (a frame: its IP
 * header on). rest: the header's second word (the next-hop MTU for fragmentation needed).
 */
export function buildIcmpError(spec: {
  src: string;
  dst: string;
  type: number;
  code: number;
  rest?: number;
  offending: Uint8Array;
  quoteBytes: number;
}): Uint8Array {
  const quote = spec.offending.subarray(ETH_HLEN, ETH_HLEN + spec.quoteBytes);
  const icmp = new Uint8Array(8 + quote.length);
  const v = new DataView(icmp.buffer);
  v.setUint8(0, spec.type);
  v.setUint8(1, spec.code);
  v.setUint32(4, spec.rest ?? 0);
  icmp.set(quote, 8);
  v.setUint16(2, internetChecksum(icmp));
  return ipv4Frame({ src: spec.src, dst: spec.dst, fragField: 0 }, IPPROTO_ICMP, icmp);
}

/** What a frame says, as far as the datapath looks; null when it is not IPv4 TCP/UDP (options skipped). */
export interface ParsedFrame {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: "TCP" | "UDP";
  ipChecksum: number;
  l4Checksum: number;
}

export function parseFrame(frame: Uint8Array): ParsedFrame | null {
  if (frame.length < ETH_HLEN + IPV4_HLEN) return null;
  const v = new DataView(frame.buffer, frame.byteOffset, frame.length);
  if (v.getUint16(12) !== ETH_P_IP || v.getUint8(ETH_HLEN) >> 4 !== 4) return null;
  const proto = v.getUint8(ETH_HLEN + 9);
  const l4 = ETH_HLEN + (v.getUint8(ETH_HLEN) & 0xf) * 4;
  const headerLen = proto === IPPROTO_TCP ? 20 : proto === IPPROTO_UDP ? 8 : 0;
  if (headerLen === 0 || frame.length < l4 + headerLen) return null;
  return {
    src: intToIpv4(v.getUint32(ETH_HLEN + 12)),
    dst: intToIpv4(v.getUint32(ETH_HLEN + 16)),
    sport: v.getUint16(l4),
    dport: v.getUint16(l4 + 2),
    proto: proto === IPPROTO_TCP ? "TCP" : "UDP",
    ipChecksum: v.getUint16(ETH_HLEN + 10),
    l4Checksum: v.getUint16(l4 + (proto === IPPROTO_TCP ? 16 : 6)),
  };
}

/**
 * Whether the IPv4 header checksum and the TCP/UDP (or ICMP) checksum (over the IP total length)
 * are right, computed from scratch. A UDP checksum of 0 ("none") counts as right.
 */
export function checksumsValid(frame: Uint8Array): { ip: boolean; l4: boolean } {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const ihl = (v.getUint8(ETH_HLEN) & 0xf) * 4;
  const ipOk = internetChecksum(frame.subarray(ETH_HLEN, ETH_HLEN + ihl)) === 0;
  const proto = v.getUint8(ETH_HLEN + 9);
  const total = v.getUint16(ETH_HLEN + 2);
  const l4 = ETH_HLEN + ihl;
  const l4Length = total - ihl;
  if (proto === IPPROTO_ICMP)
    return { ip: ipOk, l4: internetChecksum(frame.subarray(l4, l4 + l4Length)) === 0 };
  if (proto === IPPROTO_UDP && v.getUint16(l4 + 6) === 0) return { ip: ipOk, l4: true };
  const sum = pseudoHeaderSum(v.getUint32(ETH_HLEN + 12), v.getUint32(ETH_HLEN + 16), proto, l4Length);
  return { ip: ipOk, l4: internetChecksum(frame.subarray(l4, l4 + l4Length), sum) === 0 };
}

/**
 * A frame as a local socket hands it to the stack with checksum offload (CHECKSUM_PARTIAL): the
 * L4 checksum field holds the folded, uncomplemented sum of the pseudo-header only. Computed
 * from scratch, so tests can compare a rewritten frame with what it should hold.
 */
export function withPartialChecksum(frame: Uint8Array): Uint8Array {
  const out = Uint8Array.from(frame);
  const v = new DataView(out.buffer);
  const ihl = (v.getUint8(ETH_HLEN) & 0xf) * 4;
  const proto = v.getUint8(ETH_HLEN + 9);
  const l4Length = v.getUint16(ETH_HLEN + 2) - ihl;
  const sum = pseudoHeaderSum(v.getUint32(ETH_HLEN + 12), v.getUint32(ETH_HLEN + 16), proto, l4Length);
  v.setUint16(
    ETH_HLEN + ihl + (proto === IPPROTO_TCP ? 16 : 6),
    ~internetChecksum(new Uint8Array(0), sum) & 0xffff,
  );
  return out;
}
