// The lab's address plan. Every address on every interface the lab creates is in 198.18.0.0/15, the
// RFC 2544 benchmarking range, so lab traffic can never be mistaken for (or leak to) a real network.
//
//   198.18.0.0/16      pods (the cluster CIDR); node k's pods in 198.18.<k+1>.0/24, gateway .1
//   198.19.0.0/17      ClusterIPs (198.19.0.10 is kube-dns)
//   198.19.128.0/24    the node network: node k is 198.19.128.<k+1>
//   198.19.129.0/24    external clients, one /30 each, attached to the first node (the cluster's edge)
//   198.19.130.0/30    the edge node's default route, into a dummy device ("the rest of the world")
//   198.19.200.0/24    LoadBalancer ingress IPs and externalIPs
//   198.19.201.0/24    loadBalancerSourceRanges beyond the external clients' links (no client there)
//
// A dual-stack lab gives every one of these addresses an IPv6 twin in 2001:db8::/32 (the documentation
// range; RFC 3849), the IPv4 address's last three octets written as hex groups of their own:
// 198.A.B.C is 2001:db8:A:B::C, so pod 198.18.1.11 is 2001:db8:12:1::b, and a range keeps its shape
// (198.18.1.0/24 is 2001:db8:12:1::/120, 198.19.129.0/30 is 2001:db8:13:81::/126). One plan, two
// families: a Local policy, a source range or a backend means the same thing over either.
import ipaddr from "ipaddr.js";
import { MaplbError } from "../errors.js";
import { intToIpv4, ipv4ToInt, parseCidr } from "../util/ip.js";

export const LAB_RANGE = "198.18.0.0/15";
export const CLUSTER_CIDR = "198.18.0.0/16";
export const SERVICE_CIDR = "198.19.0.0/17";
export const DNS_SERVICE_IP = "198.19.0.10";
export const CLUSTER_DOMAIN = "cluster.local";

export const podSubnet = (node: number): string => `198.18.${node + 1}.0/24`;
export const podGateway = (node: number): string => `198.18.${node + 1}.1`;
export const nodeIp = (node: number): string => `198.19.128.${node + 1}`;
export const NODE_NETWORK_PREFIX = 24;
export const SOURCE_RANGE_BLOCK = "198.19.201.0/24";
export const WORLD_ADDR = "198.19.130.1";
export const WORLD_GATEWAY = "198.19.130.2";
/** External client k (0-based): its address and the edge node's address on their /30. */
export const externalAddrs = (k: number): { client: string; node: string } => ({
  node: `198.19.129.${4 * k + 1}`,
  client: `198.19.129.${4 * k + 2}`,
});

const RANGE_LOW = ipv4ToInt("198.18.0.0");
const RANGE_HIGH = ipv4ToInt("198.19.255.255");

/** True when the address is inside 198.18.0.0/15. */
export function inLabRange(ip: string): boolean {
  const n = ipv4ToInt(ip);
  return n >= RANGE_LOW && n <= RANGE_HIGH;
}

/**
 * The IPv6 twin of a lab address (198.A.B.C → 2001:db8:A:B::C, octets in hex). Only lab addresses have
 * one: the lab never puts an address outside its own ranges on an interface.
 */
export function ipv6Twin(ipv4: string): string {
  if (!inLabRange(ipv4))
    throw new MaplbError("E_INPUT", `'${ipv4}' is outside ${LAB_RANGE}: it has no IPv6 twin in the lab`);
  const [, a, b, c] = ipv4.split(".").map((o) => Number(o).toString(16));
  // In RFC 5952's form, as the kernel and Node print addresses (2001:db8:13::a, not 2001:db8:13:0::a).
  return ipaddr.IPv6.parse(`2001:db8:${a}:${b}::${c}`).toRFC5952String();
}

/**
 * The IPv6 twin of a lab range: its network's twin, the prefix grown by the bits each octet's group
 * adds in front of it (8 before the second octet's group, 8 more before the third's, 88 before the
 * fourth's). 0.0.0.0/0 (everyone) stays everyone: ::/0.
 */
export function cidr6Twin(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) throw new MaplbError("E_INPUT", `'${cidr}' is not an IPv4 CIDR`);
  if (c.prefix === 0) return "::/0";
  return `${ipv6Twin(c.address)}/${prefix6Twin(c.prefix)}`;
}

/** The prefix length of an IPv4 lab prefix's twin (/24 → /120, /30 → /126, /16 → /56). */
export function prefix6Twin(prefix: number): number {
  return prefix >= 24 ? prefix + 96 : prefix >= 16 ? prefix + 40 : prefix + 32;
}

export const LAB_RANGE6 = cidr6Twin(LAB_RANGE);
export const CLUSTER_CIDR6 = cidr6Twin(CLUSTER_CIDR);
export const SERVICE_CIDR6 = cidr6Twin(SERVICE_CIDR);
/** A pod MTU below this leaves a link without IPv6 (RFC 8200's minimum link MTU). */
export const IPV6_MIN_MTU = 1280;
/** The MSS an IPv6 pod advertises under --pod-mtu: a 1500-byte path's (40-byte IPv6 header). */
export const ETHERNET_ADVMSS6 = 1440;

/**
 * Hands out addresses of one /24-or-larger block, preferring one that keeps the host part of the
 * original address (so 10.52.2.5 becomes 198.18.x.5 and stays recognisable), else the next free one.
 */
export class AddressPool {
  private readonly used = new Set<number>();
  private readonly base: number;
  private readonly size: number;

  constructor(
    readonly cidr: string,
    reserved: readonly string[] = [],
  ) {
    const [addr, prefix] = cidr.split("/");
    this.size = 2 ** (32 - Number(prefix));
    this.base = ipv4ToInt(addr!);
    this.used.add(this.base).add(this.base + this.size - 1); // network and broadcast
    for (const r of reserved) this.used.add(ipv4ToInt(r));
  }

  /** Marks an address as taken (an address the scenario already had inside the pool). */
  reserve(ip: string): void {
    this.used.add(ipv4ToInt(ip));
  }

  /** The address with the original's host bits when free, else the next free one after it. */
  take(original?: string): string {
    const host = original === undefined ? 1 : ipv4ToInt(original) % this.size;
    for (let i = 0; i < this.size; i++) {
      const n = this.base + ((host + i) % this.size);
      const octet = n & 255;
      if (this.used.has(n) || octet === 0 || octet === 255) continue;
      this.used.add(n);
      return intToIpv4(n);
    }
    throw new MaplbError("E_CAPACITY", `lab address pool ${this.cidr} is full`, { cidr: this.cidr });
  }

  release(ip: string): void {
    this.used.delete(ipv4ToInt(ip));
  }
}
