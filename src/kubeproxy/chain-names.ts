// kube-proxy's chain names (reference §6 and §7). Names are hashes of the service port name, so
// they are stable across restarts and fit iptables' 28-character chain-name limit.
import { createHash } from "node:crypto";
import type { Endpoint, ServicePort } from "../model/types.js";
import { endpointHostPort } from "./family.js";
import { NFT_NAME_MAX_BYTES, nftNamePart } from "./tokens.js";

const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 (upper case, padding omitted: callers only keep a prefix). */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1; // keep only the bits not yet written
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** The first `length` base32 characters of SHA-256(text): kube-proxy's name hash. */
export function hashPrefix(text: string, length: number): string {
  return base32(createHash("sha256").update(text).digest()).slice(0, length);
}

/** kube-proxy's lower-case protocol: "tcp", "udp" or "sctp". */
export function lowerProtocol(p: Pick<ServicePort, "protocol">): string {
  return p.protocol.toLowerCase();
}

// ---- iptables (§6) ----

/** H: the 16-character hash shared by KUBE-SVC-, KUBE-SVL-, KUBE-EXT- and KUBE-FW- of one service port. */
export function portProtoHash(spn: string, protocol: string): string {
  return hashPrefix(spn + protocol, 16);
}

/** The per-service-port chains of the nat table. */
export interface ServicePortChains {
  /** KUBE-SVC-H: endpoint dispatch for "Cluster" traffic policy. */
  cluster: string;
  /** KUBE-SVL-H: endpoint dispatch for "Local" traffic policy. */
  local: string;
  /** KUBE-EXT-H: where NodePort, externalIP and LoadBalancer traffic enters. */
  external: string;
  /** KUBE-FW-H: loadBalancerSourceRanges filtering for LoadBalancer IPs. */
  firewall: string;
}

export function servicePortChains(p: Pick<ServicePort, "spn" | "protocol">): ServicePortChains {
  const h = portProtoHash(p.spn, lowerProtocol(p));
  return {
    cluster: `KUBE-SVC-${h}`,
    local: `KUBE-SVL-${h}`,
    external: `KUBE-EXT-${h}`,
    firewall: `KUBE-FW-${h}`,
  };
}

/** KUBE-SEP-…: one endpoint of one service port; hashes SPN + protocol + `ip:port` (`[ip]:port` for IPv6). */
export function endpointChain(
  p: Pick<ServicePort, "spn" | "protocol">,
  e: Pick<Endpoint, "ip" | "port">,
): string {
  return `KUBE-SEP-${hashPrefix(p.spn + lowerProtocol(p) + endpointHostPort(e), 16)}`;
}

// ---- nftables (§7) ----

/** `ns/name/proto/portName`: the readable part of an nft service chain name. */
function nftServicePortBase(p: Pick<ServicePort, "namespace" | "name" | "protocol" | "portName">): string {
  return `${p.namespace}/${p.name}/${lowerProtocol(p)}/${p.portName}`;
}

/** The longest kind prefix of an nft chain or set name ("endpoint-"), and the hash after it. */
const NFT_NAME_HEAD = "endpoint-".length + 8 + 1;

/**
 * A name prefixed by 8 hash characters of itself, so similar names stay visually distinct. The hash
 * is of the name as given; the readable part keeps only identifier characters (tokens.ts), so even a
 * name validation let through cannot end the identifier early.
 */
function hashed(name: string): string {
  return `${hashPrefix(name, 8)}-${nftNamePart(name, NFT_NAME_MAX_BYTES - NFT_NAME_HEAD)}`;
}

export interface NftServicePortNames {
  /** `service-XXXXXXXX-ns/name/proto/port`: endpoint dispatch for "Cluster" policy. */
  cluster: string;
  local: string;
  external: string;
  firewall: string;
}

export function nftServicePortChains(
  p: Pick<ServicePort, "namespace" | "name" | "protocol" | "portName">,
): NftServicePortNames {
  const base = hashed(nftServicePortBase(p));
  return {
    cluster: `service-${base}`,
    local: `local-${base}`,
    external: `external-${base}`,
    firewall: `firewall-${base}`,
  };
}

export interface NftEndpointNames {
  /** `endpoint-XXXXXXXX-ns/name/proto/port__ip/port`; an IPv6 address has its colons as dots
   * (`fd00.10..1`), since a chain name cannot hold a colon (servicePortEndpointChainNameBase). */
  chain: string;
  /** `affinity-…`: the set of client IPs stuck to this endpoint (ClientIP affinity). */
  affinitySet: string;
}

export function nftEndpointNames(
  p: Pick<ServicePort, "namespace" | "name" | "protocol" | "portName">,
  e: Pick<Endpoint, "ip" | "port">,
): NftEndpointNames {
  const base = hashed(`${nftServicePortBase(p)}__${e.ip.replaceAll(":", ".")}/${e.port}`);
  return { chain: `endpoint-${base}`, affinitySet: `affinity-${base}` };
}
