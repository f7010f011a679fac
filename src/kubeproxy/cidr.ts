// CIDR and address helpers for the rule generators, which print networks and addresses as kube-proxy
// (Go's net.IP / net.IPNet String) and the kernel do. IPv4 takes the integer fast path; IPv6 goes
// through ipaddr.js, whose RFC 5952 form is Go's (lower case, the longest run of zero groups as `::`).
import ipaddr from "ipaddr.js";
import { intToIpv4, ipv4ToInt, isIPv6, parseCidr, parseIpCidr } from "../util/ip.js";

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** An IPv6 address as Go's net.IP.String() prints it ("FD00:0::A" → "fd00::a"). */
export function canonicalIPv6(ip: string): string {
  return ipaddr.IPv6.parse(ip).toRFC5952String();
}

/**
 * The network address with its prefix (10.0.0.1/8 → 10.0.0.0/8, fd00::5/64 → fd00::/64); a bare
 * address gets /32 or /128; null if it is neither family's.
 */
export function canonicalCidr(cidr: string): string | null {
  const c4 = parseCidr(cidr.includes("/") ? cidr : `${cidr}/32`);
  if (c4) return `${intToIpv4((ipv4ToInt(c4.address) & maskOf(c4.prefix)) >>> 0)}/${c4.prefix}`;
  const c6 = parseIpCidr(cidr.includes("/") ? cidr : `${cidr}/128`);
  if (!c6 || c6.family !== "IPv6") return null;
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${c6.address}/${c6.prefix}`).toRFC5952String()}/${c6.prefix}`;
}

/** Whether `ip` lies in `cidr`; false across families, as Go's IPNet.Contains. */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  if (c) {
    if (isIPv6(ip)) return false;
    const mask = maskOf(c.prefix);
    return (ipv4ToInt(c.address) & mask) >>> 0 === (ipv4ToInt(ip) & mask) >>> 0;
  }
  const c6 = parseIpCidr(cidr);
  if (!c6 || !isIPv6(ip)) return false;
  return ipaddr.IPv6.parse(ip).match(ipaddr.IPv6.parse(c6.address), c6.prefix);
}
