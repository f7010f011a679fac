// Ethernet/IPv4/TCP/UDP frames: built with correct checksums (tests, `maplb trace`) and read back
// (explanations, checks). Byte-level and dependency-free on purpose: it is the ground truth the
// datapath's incremental checksum updates are checked against.
import { intToIpv4, ipv4ToInt } from "../util/ip.js";

export const ETH_HLEN = 14;
export const IPV4_HLEN = 20;
export const ETH_P_IP = 0x0800;
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
}

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

export function buildFrame(spec: FrameSpec): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  const proto = spec.proto === "TCP" ? IPPROTO_TCP : IPPROTO_UDP;
  const l4Header = spec.proto === "TCP" ? 20 : 8;
  const l4Length = l4Header + payload.length;
  const frame = new Uint8Array(ETH_HLEN + IPV4_HLEN + l4Length);
  const v = new DataView(frame.buffer);

  frame.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]); // dst, src MAC (locally administered)
  v.setUint16(12, ETH_P_IP);

  const ip = ETH_HLEN;
  const src = ipv4ToInt(spec.src);
  const dst = ipv4ToInt(spec.dst);
  v.setUint8(ip, 0x45);
  v.setUint16(ip + 2, IPV4_HLEN + l4Length);
  v.setUint16(ip + 4, 0x1234); // id
  v.setUint16(ip + 6, 0x4000); // DF
  v.setUint8(ip + 8, spec.ttl ?? 64);
  v.setUint8(ip + 9, proto);
  v.setUint32(ip + 12, src);
  v.setUint32(ip + 16, dst);
  v.setUint16(ip + 10, internetChecksum(frame.subarray(ip, ip + IPV4_HLEN)));

  const l4 = ip + IPV4_HLEN;
  v.setUint16(l4, spec.sport);
  v.setUint16(l4 + 2, spec.dport);
  if (spec.proto === "TCP") {
    v.setUint32(l4 + 4, 1000); // seq
    v.setUint8(l4 + 12, 5 << 4); // data offset
    v.setUint8(l4 + 13, spec.tcpFlags ?? 0x02);
    v.setUint16(l4 + 14, 65535); // window
  } else {
    v.setUint16(l4 + 4, l4Length);
  }
  frame.set(payload, l4 + l4Header);
  if (!(spec.proto === "UDP" && spec.noUdpChecksum)) {
    const checkAt = l4 + (spec.proto === "TCP" ? 16 : 6);
    let check = internetChecksum(frame.subarray(l4), pseudoHeaderSum(src, dst, proto, l4Length));
    if (spec.proto === "UDP" && check === 0) check = 0xffff;
    v.setUint16(checkAt, check);
  }
  return frame;
}

/** What a frame says, as far as the datapath looks; null when it is not IPv4 TCP/UDP without options. */
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
  if (v.getUint16(12) !== ETH_P_IP || v.getUint8(ETH_HLEN) !== 0x45) return null;
  const proto = v.getUint8(ETH_HLEN + 9);
  const l4 = ETH_HLEN + IPV4_HLEN;
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
 * Whether the IPv4 header checksum and the TCP/UDP checksum (over the IP total length) are right,
 * computed from scratch. A UDP checksum of 0 ("none") counts as right.
 */
export function checksumsValid(frame: Uint8Array): { ip: boolean; l4: boolean } {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const ipOk = internetChecksum(frame.subarray(ETH_HLEN, ETH_HLEN + IPV4_HLEN)) === 0;
  const proto = v.getUint8(ETH_HLEN + 9);
  const total = v.getUint16(ETH_HLEN + 2);
  const l4 = ETH_HLEN + IPV4_HLEN;
  const l4Length = total - IPV4_HLEN;
  if (proto === IPPROTO_UDP && v.getUint16(l4 + 6) === 0) return { ip: ipOk, l4: true };
  const sum = pseudoHeaderSum(v.getUint32(ETH_HLEN + 12), v.getUint32(ETH_HLEN + 16), proto, l4Length);
  return { ip: ipOk, l4: internetChecksum(frame.subarray(l4, l4 + l4Length), sum) === 0 };
}
