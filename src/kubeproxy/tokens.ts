// Defence in depth for the rule renderers: whatever reaches them, no input can add a rule. Manifests
// are validated long before (src/k8s), but the renderers are also called directly (tests, the lab,
// the agent's model), so they do not trust their input:
// - free text (comments) is quoted, stripped of what the loader cannot hold, and cut to its limit;
// - names inside nft chain and set names keep only identifier characters (the hash keeps them apart);
// - everything else (addresses, ports, numbers) must already be well-formed, or rendering fails.
import ipaddr from "ipaddr.js";
import { MaplbError } from "../errors.js";
import type { IpFamily, NodeConfig, ServicePort } from "../model/types.js";
import { printable } from "../util/escape.js";
import { ipFamilyOf, isIPv4, isIPv6, parseIpCidr } from "../util/ip.js";
import { canonicalCidr } from "./cidr.js";

/** The longest prefix of `text` that is at most `maxBytes` of UTF-8, cut between code points. */
export function cutUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = "";
  let bytes = 0;
  for (const ch of text) {
    bytes += Buffer.byteLength(ch);
    if (bytes > maxBytes) break;
    out += ch;
  }
  return out;
}

// ---- iptables ----

/** xt_comment holds 256 bytes with its NUL (XT_MAX_COMMENT_LEN); iptables refuses a longer comment. */
export const IPTABLES_COMMENT_MAX_BYTES = 255;

/** A comment's text as a rule can carry it: one line, control characters spelled out (JSON's escapes), within the limit. */
export function iptablesCommentText(text: string): string {
  return cutUtf8(printable(text), IPTABLES_COMMENT_MAX_BYTES);
}

/** Tokens printed as they are; kube-proxy's own tokens (chains, addresses, `[ip]:port`, marks, states) are all of this. */
const PLAIN_TOKEN = /^[A-Za-z0-9_./:,!=+@%[\]-]+$/;

/**
 * One argument of an iptables-restore line. iptables-restore splits a line on blanks, honours double
 * quotes and, inside them, a backslash escape; a line ends at its newline whatever the quotes say,
 * so a control character cannot be carried at all and is refused.
 */
export function restoreToken(token: string): string {
  if (PLAIN_TOKEN.test(token)) return token;
  if (/\p{Cc}/u.test(token))
    throw new MaplbError(
      "E_INPUT",
      `iptables: a rule argument holds a control character: ${JSON.stringify(token)}`,
    );
  return `"${token.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * A chain name, on a `:CHAIN` line or after `-A`: iptables-restore reads those without quotes, so a
 * name must be a plain word within xtables' 28 characters. kube-proxy's names (fixed, or a hash) are.
 */
export function iptablesChain(name: string): string {
  if (/^[A-Za-z0-9_-]{1,28}$/.test(name)) return name;
  throw new MaplbError("E_INPUT", `iptables: ${JSON.stringify(name)} is not a chain name`);
}

// ---- nftables ----

/** nft refuses a comment longer than 128 characters (NFTNL_UDATA_COMMENT_MAXLEN). */
export const NFT_COMMENT_MAX_BYTES = 128;
/** Chain and set names: 256 bytes with the NUL (NFT_NAME_MAXLEN). */
export const NFT_NAME_MAX_BYTES = 255;

/**
 * A double-quoted nft string. nft's scanner reads a quoted string up to the next `"` with no escapes,
 * so a quote inside becomes `'`; control characters are spelled out, and the text is cut to `max` bytes.
 */
export function nftQuoted(text: string, max = NFT_COMMENT_MAX_BYTES): string {
  return `"${cutUtf8(printable(text).replace(/"/g, "'"), max)}"`;
}

/**
 * A name made safe to sit inside an nft identifier: characters an identifier cannot hold become `_`,
 * and it is cut to `maxBytes`. Valid Kubernetes names pass unchanged; hostile ones still differ by
 * the hash the caller puts in front, which is taken from the name as it was.
 */
export function nftNamePart(name: string, maxBytes: number): string {
  return name.replace(/[^A-Za-z0-9/_.-]/g, "_").slice(0, maxBytes);
}

// ---- the tokens that are not text ----

function bad(p: Pick<ServicePort, "id">, field: string, value: unknown, want: string): never {
  throw new MaplbError(
    "E_INPUT",
    `service port ${JSON.stringify(p.id)}: ${field} ${JSON.stringify(value)} is not ${want}`,
    { servicePort: p.id, field },
  );
}

const isPort = (n: unknown, min = 1): boolean =>
  Number.isInteger(n) && (n as number) >= min && (n as number) <= 65535;

/**
 * An address of the family, as kube-proxy's proxier for it would print it. An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is refused: Go prints it as the IPv4 address, which no IPv6 rule holds;
 * so is a zone (fe80::1%eth0), which no rule can name.
 */
function isAddressOf(ip: string, family: IpFamily): boolean {
  if (family === "IPv4") return isIPv4(ip);
  return isIPv6(ip) && !ip.includes("%") && !ipaddr.IPv6.parse(ip).isIPv4MappedAddress();
}

/** Refuses a service port whose addresses, ports or numbers would be printed malformed into a rule. */
export function assertRenderable(p: ServicePort): void {
  const fam = p.family;
  const addr = `an ${fam} address`;
  if (!["TCP", "UDP", "SCTP"].includes(p.protocol)) bad(p, "protocol", p.protocol, "TCP, UDP or SCTP");
  if (p.clusterIP !== null && !isAddressOf(p.clusterIP, fam)) bad(p, "clusterIP", p.clusterIP, addr);
  for (const ip of [...p.externalIPs, ...p.loadBalancerIPs])
    if (!isAddressOf(ip, fam)) bad(p, "external address", ip, addr);
  if (!isPort(p.port)) bad(p, "port", p.port, "a port number");
  if (!isPort(p.nodePort, 0)) bad(p, "nodePort", p.nodePort, "a port number or 0");
  if (!isPort(p.healthCheckNodePort, 0))
    bad(p, "healthCheckNodePort", p.healthCheckNodePort, "a port number or 0");
  const t = p.affinityTimeoutSeconds;
  if (t !== null && !(Number.isInteger(t) && t > 0)) bad(p, "affinity timeout", t, "a positive integer");
  for (const e of [...p.endpoints, ...(p.duplicateEndpoints ?? [])]) {
    if (!isAddressOf(e.ip, fam)) bad(p, "endpoint address", e.ip, addr);
    if (!isPort(e.port)) bad(p, "endpoint port", e.port, "a port number");
  }
}

/** A service CIDR of the family as kube-proxy prints it (canonical), or an error naming the value. */
export function assertCidr(cidr: string, family: IpFamily = "IPv4"): string {
  const c = ipFamilyOf(cidr) === family ? canonicalCidr(cidr) : null;
  if (c === null)
    throw new MaplbError("E_INPUT", `service CIDR ${JSON.stringify(cidr)} is not an ${family} CIDR`, {
      field: "serviceCIDR",
    });
  return c;
}

/** Refuses node settings that would be printed malformed into a rule. */
export function assertRenderableNode(node: NodeConfig): void {
  const fail = (field: string, value: unknown, want: string): never => {
    throw new MaplbError("E_INPUT", `node ${field} ${JSON.stringify(value)} is not ${want}`, { field });
  };
  for (const ip of node.nodeIPs)
    if (!isAddressOf(ip, "IPv4") && !isAddressOf(ip, "IPv6")) fail("IP", ip, "an IPv4 or IPv6 address");
  const cidrs: [string | null, IpFamily][] = [
    [node.clusterCIDR, "IPv4"],
    [node.clusterCIDR6, "IPv6"],
  ];
  for (const [cidr, family] of cidrs)
    if (cidr !== null && parseIpCidr(cidr)?.family !== family)
      fail("cluster CIDR", cidr, `an ${family} CIDR`);
}
