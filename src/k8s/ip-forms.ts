// IP and CIDR text as the Kubernetes API server reads it, for the fields that carry addresses
// (clusterIPs, externalIPs, LB ingress IPs, endpoint addresses, loadBalancerSourceRanges).
//
// The API server parses these "legacy" fields with k8s.io/utils/net's ParseIPSloppy and
// ParseCIDRSloppy (Go 1.16's parser: no zone, IPv4 octets and IPv6 groups may carry extra leading
// zeros), then, under the StrictIPCIDRValidation feature gate, rejects a new value that netip would
// read differently or that is ambiguous: leading zeros (libc reads "010" as octal 8), IPv4-mapped
// IPv6 (IPv4 to some readers, IPv6 to others), and for CIDRs bits set beyond the prefix length
// (k8s.io/apimachinery/pkg/util/validation/ip.go, parseIP and parseCIDR). The gate is alpha, off by
// default, in v1.33–v1.35, whose API server accepts these forms with a warning that they "will be
// considered invalid in a future Kubernetes release". Every object maplb reads is new to it, and
// an ambiguous address would be printed into kube-proxy's rules as it is, so maplb applies the
// strict rule. Non-canonical IPv6 ("2001:DB8:0::1") stays valid, as it is for these fields.
import ipaddr from "ipaddr.js";
import type { IpFamily } from "../model/types.js";
import { isIPv4 } from "../util/ip.js";

/** An address as ParseIPSloppy reads it: 16 bytes (IPv4 as ::ffff:a.b.c.d), and whether netip would refuse its text. */
interface SloppyIP {
  bytes: Uint8Array;
  leadingZeros: boolean;
}

const DIGITS = /^[0-9]+$/;
const HEX = /^[0-9A-Fa-f]+$/;

/** "a.b.c.d", each part decimal ≤ 255, extra leading zeros allowed (flagged). */
function sloppyIPv4(s: string): { octets: number[]; leadingZeros: boolean } | null {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => DIGITS.test(p))) return null;
  const octets = parts.map(Number);
  if (octets.some((o) => o > 255)) return null;
  return { octets, leadingZeros: parts.some((p) => p.length > 1 && p[0] === "0") };
}

const mapped = (octets: number[]) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...octets]);

/** Hex groups separated by ':', at most one '::', optionally ending in a dotted IPv4 address. */
function sloppyIPv6(s: string): SloppyIP | null {
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const all = [...head, ...tail];
  let leadingZeros = false;
  const words: number[] = [];
  let v4: number[] | null = null;
  for (const [i, g] of all.entries()) {
    const last = i === all.length - 1 && (halves.length === 1 || tail.length > 0); // ends the text
    if (last && g.includes(".")) {
      const ip4 = sloppyIPv4(g);
      if (!ip4) return null;
      leadingZeros ||= ip4.leadingZeros;
      v4 = ip4.octets;
      continue;
    }
    if (!HEX.test(g)) return null;
    const n = parseInt(g, 16);
    if (n > 0xffff) return null;
    leadingZeros ||= g.length > 4; // netip reads at most four hex digits a group
    words.push(n);
  }
  const size = words.length * 2 + (v4 ? 4 : 0);
  // Without "::" the groups fill all 16 bytes; with it, it stands for at least one zero group.
  if (halves.length === 1 ? size !== 16 : size > 14) return null;
  const bytes = new Uint8Array(16);
  const put = (ws: number[], at: number) => ws.forEach((w, k) => bytes.set([w >> 8, w & 255], at + 2 * k));
  const headWords = words.slice(0, head.length);
  const tailWords = words.slice(head.length);
  put(headWords, 0);
  const tailStart = 16 - (tailWords.length * 2 + (v4 ? 4 : 0));
  put(tailWords, tailStart);
  if (v4) bytes.set(v4, 12);
  return { bytes, leadingZeros };
}

/** ParseIPSloppy: the first '.' or ':' decides between the two forms. */
function sloppyIP(s: string): SloppyIP | null {
  const sep = /[.:]/.exec(s)?.[0];
  if (sep === ".") {
    const ip4 = sloppyIPv4(s);
    return ip4 && { bytes: mapped(ip4.octets), leadingZeros: ip4.leadingZeros };
  }
  return sep === ":" ? sloppyIPv6(s) : null;
}

/** An IPv4 address, or an IPv6 one holding an IPv4 address (::ffff:a.b.c.d): Go's To4() != nil. */
const isV4Bytes = (b: Uint8Array) =>
  b.subarray(0, 10).every((x) => x === 0) && b[10] === 255 && b[11] === 255;

const v4Text = (b: Uint8Array) => Array.from(b.subarray(12)).join(".");

/** A valid address's family (netutils.IsIPv6String); null when it is not an address. */
export function ipFamily(value: string): IpFamily | null {
  if (isIPv4(value)) return "IPv4"; // the common case, without building bytes
  const ip = sloppyIP(value);
  return ip === null ? null : isV4Bytes(ip.bytes) ? "IPv4" : "IPv6";
}

/**
 * What is wrong with an IP address value (IsValidIPForLegacyField with strict validation), or null.
 * The message reads after the field path: "spec.externalIPs[0]: is not a valid IP address".
 */
export function ipProblem(value: unknown): string | null {
  if (typeof value === "string" && isIPv4(value)) return null; // a dotted quad without leading zeros
  const ip = typeof value === "string" ? sloppyIP(value) : null;
  if (ip === null) return "is not a valid IP address";
  if (ip.leadingZeros) return "must not have leading 0s";
  if (isV4Bytes(ip.bytes) && (value as string).includes(":"))
    return `must not be an IPv4-mapped IPv6 address (use "${v4Text(ip.bytes)}")`;
  return null;
}

/**
 * Addresses that make no sense as a destination to balance to (ValidateEndpointIP, which the API
 * server applies to endpoint addresses and externalIPs): null for a good one. `value` is valid.
 */
export function endpointIPProblem(value: string): string | null {
  if (isIPv4(value)) {
    // A dotted quad (the common case) is read without building bytes.
    const [p, q, r, s] = value.split(".").map(Number) as [number, number, number, number];
    return specialProblem(
      value,
      p + q + r + s === 0,
      p === 127,
      p === 169 && q === 254,
      p === 224 && q === 0 && r === 0,
    );
  }
  const b = sloppyIP(value)!.bytes;
  if (isV4Bytes(b)) return endpointIPProblem(v4Text(b));
  const zeroHead = b.subarray(0, 15).every((x) => x === 0);
  const linkLocal = b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
  return specialProblem(
    value,
    zeroHead && b[15] === 0,
    zeroHead && b[15] === 1,
    linkLocal,
    b[0] === 0xff && (b[1]! & 0x0f) === 0x02,
  );
}

function specialProblem(
  value: string,
  unspecified: boolean,
  loopback: boolean,
  linkLocal: boolean,
  llMulticast: boolean,
): string | null {
  if (unspecified) return `may not be unspecified (${value})`;
  if (loopback) return "may not be in the loopback range (127.0.0.0/8, ::1/128)";
  if (linkLocal) return "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
  if (llMulticast) return "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)";
  return null;
}

/** The network of an address's bytes under a prefix of `bits`. */
function masked(bytes: Uint8Array, bits: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

const ipv6Text = (b: Uint8Array) => new ipaddr.IPv6(Array.from(b)).toRFC5952String();

/**
 * What is wrong with a CIDR value (IsValidCIDRForLegacyField with strict validation, after the
 * TrimSpace the API server and kube-proxy apply to loadBalancerSourceRanges), or null.
 */
export function cidrProblem(value: unknown): string | null {
  const invalid = "is not a valid CIDR (for example 10.9.8.0/24 or 2001:db8::/64)";
  if (typeof value !== "string") return invalid;
  const text = value.trim();
  const slash = text.indexOf("/");
  const addr = text.slice(0, slash);
  const len = text.slice(slash + 1);
  // ParseCIDRSloppy: an IPv4 address if it reads as one, else IPv6; the length in decimal.
  const ip4 = slash < 0 ? null : sloppyIPv4(addr);
  const ip = ip4 ? { bytes: Uint8Array.from(ip4.octets), leadingZeros: ip4.leadingZeros } : sloppyIPv6(addr);
  const bits = DIGITS.test(len) ? Number(len) : NaN;
  if (slash < 0 || ip === null || !(bits <= ip.bytes.length * 8)) return invalid;
  if (ip.leadingZeros || (len.length > 1 && len[0] === "0"))
    return "must not have leading 0s in IP or prefix length";
  if (ip.bytes.length === 16 && isV4Bytes(ip.bytes)) return "must not have an IPv4-mapped IPv6 address";
  const net = masked(ip.bytes, bits);
  if (net.some((x, i) => x !== ip.bytes[i])) {
    const shown = net.length === 4 ? net.join(".") : ipv6Text(net);
    return `must not have bits set beyond the prefix length (use "${shown}/${bits}")`;
  }
  return null;
}
