// IPv4 CIDR helpers for the rule generators, which print networks as kube-proxy and the kernel do.
import { intToIpv4, ipv4ToInt, parseCidr } from "../util/ip.js";

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** The network address with its prefix (10.0.0.1/8 → 10.0.0.0/8; a bare address gets /32); null if not IPv4. */
export function canonicalCidr(cidr: string): string | null {
  const c = parseCidr(cidr.includes("/") ? cidr : `${cidr}/32`);
  if (!c) return null;
  return `${intToIpv4((ipv4ToInt(c.address) & maskOf(c.prefix)) >>> 0)}/${c.prefix}`;
}

export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  if (!c) return false;
  const mask = maskOf(c.prefix);
  return (ipv4ToInt(c.address) & mask) >>> 0 === (ipv4ToInt(ip) & mask) >>> 0;
}
