// IPv4 helpers. Addresses stay dotted strings in the model; the datapath binding converts them to bytes.
import ipaddr from "ipaddr.js";

export function isIPv4(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s);
}

export function isIPv6(s: string): boolean {
  return ipaddr.IPv6.isValid(s);
}

/** Parses "a.b.c.d/n" (IPv4 only); null when it is not one. */
export function parseCidr(s: string): { address: string; prefix: number } | null {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || !isIPv4(m[1]!)) return null;
  const prefix = Number(m[2]);
  return prefix <= 32 ? { address: m[1]!, prefix } : null;
}

/** The address as an unsigned 32-bit number, most significant octet first. */
export function ipv4ToInt(s: string): number {
  const o = s.split(".").map(Number);
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}
