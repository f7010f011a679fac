// What differs between kube-proxy's two proxiers. kube-proxy runs one per IP family
// (NewDualStackProxier in pkg/proxy/{iptables,nftables}/proxier.go); each sees only its family's
// half of every Service and writes its own table: iptables-restore / ip6tables-restore, and the nft
// tables `ip kube-proxy` / `ip6 kube-proxy`. This module holds every place the two differ, so the
// rule builders stay one piece of code.
import {
  nodeIPsOfFamily,
  type Endpoint,
  type IpFamily,
  type NodeConfig,
  type ServicePort,
} from "../model/types.js";
import { canonicalIPv6 } from "./cidr.js";

export type { IpFamily };

/** The family's name as `--ip-family` takes it: 4 or 6 (IPv4/IPv6 also accepted). */
export function parseIpFamily(text: string): IpFamily | null {
  if (text === "4" || text === "IPv4") return "IPv4";
  if (text === "6" || text === "IPv6") return "IPv6";
  return null;
}

/** Go's net.JoinHostPort: `10.0.0.1:80`, `[fd00::1]:80` (what kube-proxy's endpoint String() gives). */
export function hostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** kube-proxy's spelling of an endpoint: the string it sorts, hashes, comments and DNATs to. */
export const endpointHostPort = (e: Pick<Endpoint, "ip" | "port">): string => hostPort(e.ip, e.port);

const byHostPort = (a: Endpoint, b: Endpoint): number => {
  const [x, y] = [endpointHostPort(a), endpointHostPort(b)];
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * An IPv6 service port as kube-proxy holds it: every address parsed and printed back (net.IP), so
 * `FD00::A` is `fd00::a`, and its endpoints sorted by their bracketed `[ip]:port` string
 * (endpointslicecache.go sorts by String(); the model sorts by `ip:port`, which orders IPv6
 * endpoints differently). An IPv4 port is already in that form and is returned as it is.
 */
export function asKubeProxySees(p: ServicePort): ServicePort {
  if (p.family !== "IPv6") return p;
  const ip = (a: string) => canonicalIPv6(a);
  const ep = (e: Endpoint): Endpoint => ({ ...e, ip: ip(e.ip) });
  return {
    ...p,
    clusterIP: p.clusterIP === null ? null : ip(p.clusterIP),
    externalIPs: p.externalIPs.map(ip),
    loadBalancerIPs: p.loadBalancerIPs.map(ip),
    endpoints: p.endpoints.map(ep).sort(byHostPort),
    ...(p.duplicateEndpoints ? { duplicateEndpoints: p.duplicateEndpoints.map(ep) } : {}),
  };
}

/** The node's address of the family, kube-proxy's `nodeIP` (the allowFromNode source-range check). */
export function familyNodeIP(node: NodeConfig, family: IpFamily): string | undefined {
  return nodeIPsOfFamily(node, family)[0];
}

/**
 * Localhost NodePorts exist for IPv4 only: they need route_localnet, which IPv6 lacks. The IPv6
 * proxier is built with localhostNodePorts=false (NewDualStackProxier), and
 * NodePortAddresses.ContainsIPv4Loopback is false for it, so it writes neither the KUBE-FIREWALL
 * "block incoming localnet connections" rule nor the 127.0.0.0/8 NodePort rule.
 */
export function localhostNodePorts(node: Pick<NodeConfig, "localhostNodePorts">, family: IpFamily): boolean {
  return family === "IPv4" && node.localhostNodePorts;
}

/**
 * What the last KUBE-SERVICES rule keeps out of KUBE-NODEPORTS: IPv6 always refuses `::1`
 * ("For IPv6 they never work"), IPv4 refuses 127.0.0.0/8 unless localhost NodePorts are on.
 */
export function notLocalhostNodePorts(
  node: Pick<NodeConfig, "localhostNodePorts">,
  family: IpFamily,
): string[] {
  if (family === "IPv6") return ["!", "-d", "::1/128"];
  return node.localhostNodePorts ? [] : ["!", "-d", "127.0.0.0/8"];
}

/** nft's address words for the family: `ip daddr` / `ip6 daddr`, sets of `ipv4_addr` / `ipv6_addr`. */
export interface NftFamily {
  /** The table family and the address expression's protocol: "ip" or "ip6". */
  ipX: "ip" | "ip6";
  /** The set element type of one address. */
  addrType: "ipv4_addr" | "ipv6_addr";
}

export function nftFamily(family: IpFamily): NftFamily {
  return family === "IPv4" ? { ipX: "ip", addrType: "ipv4_addr" } : { ipX: "ip6", addrType: "ipv6_addr" };
}

/** What ip(6)tables-save prints for what kube-proxy leaves to the kernel's defaults. */
export interface SaveDefaults {
  /** The recent match's default --mask: a full-length address. */
  recentMask: string;
  /** REJECT's default --reject-with. */
  rejectWith: string;
}

export function saveDefaults(family: IpFamily): SaveDefaults {
  return family === "IPv4"
    ? { recentMask: "255.255.255.255", rejectWith: "icmp-port-unreachable" }
    : { recentMask: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", rejectWith: "icmp6-port-unreachable" };
}
