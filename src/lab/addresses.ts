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
import { MaplbError } from "../errors.js";
import { intToIpv4, ipv4ToInt } from "../util/ip.js";

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
