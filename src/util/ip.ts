// IPv4 and IPv6 helpers. Addresses stay strings in the model; the datapath binding converts them to bytes.
import ipaddr from "ipaddr.js";

/** Four decimal parts without leading zeros: what ipaddr.IPv4.isValidFourPartDecimal accepts, below 256. */
const FOUR_PART_DECIMAL = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/**
 * A dotted-quad address (ipaddr.IPv4.isValidFourPartDecimal's rule). One regular expression instead
 * of ipaddr's parse, which tries four forms and throws on a part above 255: every Service and
 * endpoint address is checked, 100k and more in a large manifest.
 */
export function isIPv4(s: string): boolean {
  const m = FOUR_PART_DECIMAL.exec(s);
  return m !== null && +m[1]! <= 255 && +m[2]! <= 255 && +m[3]! <= 255 && +m[4]! <= 255;
}

export function isIPv6(s: string): boolean {
  return ipaddr.IPv6.isValid(s);
}

/** The family of an address, or of a CIDR's address part; null for neither. */
export function ipFamilyOf(s: string): "IPv4" | "IPv6" | null {
  const slash = s.indexOf("/");
  const address = slash < 0 ? s : s.slice(0, slash);
  return isIPv4(address) ? "IPv4" : isIPv6(address) ? "IPv6" : null;
}

/** Parses "a.b.c.d/n" (IPv4 only); null when it is not one. */
export function parseCidr(s: string): { address: string; prefix: number } | null {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || !isIPv4(m[1]!)) return null;
  const prefix = Number(m[2]);
  return prefix <= 32 ? { address: m[1]!, prefix } : null;
}

/** Parses an IPv4 or IPv6 "address/prefix"; null when it is neither. */
export function parseIpCidr(s: string): { address: string; prefix: number; family: "IPv4" | "IPv6" } | null {
  const v4 = parseCidr(s);
  if (v4) return { ...v4, family: "IPv4" };
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(s.trim());
  if (!m || !isIPv6(m[1]!) || Number(m[2]) > 128) return null;
  return { address: m[1]!, prefix: Number(m[2]), family: "IPv6" };
}

/**
 * The address as an unsigned 32-bit number, most significant octet first. Read digit by digit, not
 * split and mapped: every map key holds an address, and a full sync encodes millions of them.
 */
export function ipv4ToInt(s: string): number {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      n = (n << 8) | octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return ((n << 8) | octet) >>> 0;
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/**
 * One text per address: IPv6 in its canonical (RFC 5952) form, as the maps read back (bigIntToIpv6),
 * so "2001:DB8:0::1" and "2001:db8::1" name one frontend; IPv4 as given (dotted quads have one form).
 */
export function canonicalIp(s: string): string {
  return s.includes(":") ? ipaddr.IPv6.parse(s).toString() : s;
}

/** A CIDR with its address in canonical text (canonicalIp); the prefix as given. */
export function canonicalIpCidr(s: string): string {
  const slash = s.indexOf("/");
  return slash < 0 || !s.includes(":") ? s : `${canonicalIp(s.slice(0, slash))}${s.slice(slash)}`;
}

/** Whether `ip` is inside `cidr`, of either family (false across families or for bad input). */
export function ipInCidr(ip: string, cidr: string): boolean {
  const c = parseIpCidr(cidr);
  if (!c || ipFamilyOf(ip) !== c.family || ip.includes("/")) return false;
  return ipaddr.parse(ip).match(ipaddr.parse(c.address), c.prefix);
}

/** `address:port` for people: an IPv6 address in brackets (RFC 3986), so the port stands apart. */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The IPv4 address an IPv4-mapped IPv6 one (::ffff:a.b.c.d, RFC 4291 2.5.5.2) names; null for any other text. */
export function ipv4MappedOf(s: string): string | null {
  if (!isIPv6(s)) return null;
  const a = ipaddr.IPv6.parse(s);
  return a.isIPv4MappedAddress() ? a.toIPv4Address().toString() : null;
}

/** An IPv6 address as a 128-bit number, most significant byte first (the ABI's "in6" fields). */
export function ipv6ToBigInt(s: string): bigint {
  let n = 0n;
  for (const byte of ipaddr.IPv6.parse(s).toByteArray()) n = (n << 8n) | BigInt(byte);
  return n;
}

/** The canonical (RFC 5952) text of a 128-bit address. */
export function bigIntToIpv6(n: bigint): string {
  const bytes: number[] = [];
  for (let i = 0; i < 16; i++, n >>= 8n) bytes.unshift(Number(n & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}
