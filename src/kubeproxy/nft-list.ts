// `maplb nft --format list`: the ruleset as `nft list table ip[6] kube-proxy` prints it once loaded
// (nft 1.0.x). The kernel keeps rules as bytecode, so nft prints them back in its own words: marks
// as 32-bit hex under `meta mark`, anonymous sets merged and sorted, set elements sorted by value,
// priorities by name. Checked against the real nft in test/kubeproxy-nft-list.test.ts.
import ipaddr from "ipaddr.js";
import { intToIpv4, ipv4ToInt, parseIpCidr } from "../util/ip.js";
import { MASQUERADE_MARK } from "./iptables-rules.js";
import {
  nftTableOf,
  type NftChain,
  type NftElement,
  type NftRule,
  type NftRuleset,
  type NftSet,
} from "./nft.js";
import { nftQuoted } from "./tokens.js";

const MARK = `0x${Number(MASQUERADE_MARK).toString(16).padStart(8, "0")}`;

/** kube-proxy's mark rules, as the kernel's `meta` expressions print. */
const MARK_RULES = new Map([
  [`mark set mark or ${MASQUERADE_MARK}`, `meta mark set meta mark | ${MARK}`],
  [`mark set mark xor ${MASQUERADE_MARK}`, `meta mark set meta mark ^ ${MARK}`],
  [`mark and ${MASQUERADE_MARK} == 0 return`, `meta mark & ${MARK} == 0x00000000 return`],
]);

// ---- anonymous address sets: `ip saddr != { a , b }` ----

/** An address as a number (BigInt, so one code path serves 32 and 128 bits), and back. */
const toNumber = (ip: string): bigint =>
  ip.includes(":")
    ? ipaddr.IPv6.parse(ip)
        .toByteArray()
        .reduce((n, b) => (n << 8n) | BigInt(b), 0n)
    : BigInt(ipv4ToInt(ip));

function toAddress(n: bigint, bits: number): string {
  if (bits === 32) return intToIpv4(Number(n));
  const bytes = Array.from({ length: 16 }, (_, i) => Number((n >> BigInt(8 * (15 - i))) & 0xffn));
  return new ipaddr.IPv6(bytes).toRFC5952String();
}

interface Range {
  start: bigint;
  end: bigint;
  bits: number;
}

/** An address or CIDR as the inclusive range of addresses it covers. */
function range(token: string): Range {
  const c = parseIpCidr(token.includes("/") ? token : `${token}/${token.includes(":") ? 128 : 32}`);
  if (!c) throw new Error(`nft list: ${JSON.stringify(token)} is not an address or CIDR`);
  const bits = c.family === "IPv4" ? 32 : 128;
  const size = 1n << BigInt(bits - c.prefix);
  const start = (toNumber(c.address) / size) * size;
  return { start, end: start + size - 1n, bits };
}

/** One merged range as nft prints it: an address, a prefix when it is one, else `a-b`. */
function rangeText({ start, end, bits }: Range): string {
  if (start === end) return toAddress(start, bits);
  const size = end - start + 1n;
  const power = size.toString(2).length - 1; // size = 2^power when it is a power of two
  if (size === 1n << BigInt(power) && start % size === 0n) return `${toAddress(start, bits)}/${bits - power}`;
  return `${toAddress(start, bits)}-${toAddress(end, bits)}`;
}

/**
 * An anonymous interval set after the kernel has it: sorted, overlapping and adjacent ranges merged.
 * nft turns a set of one element into a plain comparison when it parses the rule, so that one loses
 * its braces; a set that merges down to one keeps them.
 */
function anonymousSet(body: string): string {
  const tokens = body.split(/[\s,]+/).filter((t) => t !== "");
  if (tokens.length === 1) return rangeText(range(tokens[0]!));
  const merged: Range[] = [];
  for (const r of tokens.map(range).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end + 1n) last.end = last.end > r.end ? last.end : r.end;
    else merged.push({ ...r });
  }
  return `{ ${merged.map(rangeText).join(", ")} }`;
}

/** One rule's text as `nft list` gives it back. */
export function listedRule(rule: string): string {
  const mark = MARK_RULES.get(rule);
  if (mark !== undefined) return mark;
  return rule
    .replace(
      /(ip6? [sd]addr (?:!= )?)\{ ([^}]*) \}/g,
      (_m, lead: string, body: string) => lead + anonymousSet(body),
    )
    .replace(/vmap \{ ([^}]*) \}/g, (_m, body: string) => `vmap { ${body.split(" , ").join(", ")} }`);
}

// ---- set elements ----

const PROTOCOL_NUMBERS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/** A key's bytes as the kernel stores them: addresses and ports in network order, protocol as a byte. */
function keyBytes(key: string): number[] {
  return key.split(" . ").flatMap((part) => {
    if (part in PROTOCOL_NUMBERS) return [PROTOCOL_NUMBERS[part]!];
    if (/^\d+$/.test(part)) return [Number(part) >> 8, Number(part) & 0xff];
    if (part.includes(":")) return ipaddr.IPv6.parse(part).toByteArray();
    const n = ipv4ToInt(part);
    return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  });
}

/**
 * The order nft lists elements in (mergesort.c): a plain value by its number; a concatenation by its
 * components' bytes, one after the other, read as one little-endian number (so the last byte counts
 * most).
 */
function byKeyValue(a: NftElement, b: NftElement): number {
  const x = keyBytes(a.key);
  const y = keyBytes(b.key);
  const concatenated = a.key.includes(" . ");
  const order = x.map((_, i) => (concatenated ? x.length - 1 - i : i));
  for (const i of order) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function elementText(e: NftElement): string {
  const comment = e.comment ? ` comment ${nftQuoted(e.comment)}` : "";
  return `${e.key}${comment}${e.value === undefined ? "" : ` : ${e.value}`}`;
}

/** IPv4 addresses go two to a line; anything else (IPv6 addresses, concatenations, maps) one to a
 * line (calculate_delim). */
function elementsText(s: NftSet, elements: NftElement[]): string {
  const perLine = s.type === "ipv4_addr" ? 2 : 1;
  const texts = [...elements].sort(byKeyValue).map(elementText);
  const lines: string[] = [];
  for (let i = 0; i < texts.length; i += perLine) lines.push(texts.slice(i, i + perLine).join(", "));
  return `elements = { ${lines.join(",\n\t\t\t     ")} }`;
}

/** 10800 → 3h, 3601 → 1h1s: nft's time format. */
function durationText(seconds: number): string {
  const parts: [number, string][] = [
    [Math.floor(seconds / 86400), "d"],
    [Math.floor((seconds % 86400) / 3600), "h"],
    [Math.floor((seconds % 3600) / 60), "m"],
    [seconds % 60, "s"],
  ];
  return parts.map(([n, unit]) => (n > 0 ? `${n}${unit}` : "")).join("") || "0s";
}

function setBlock(s: NftSet, elements: NftElement[], updated: boolean): string[] {
  const lines = [`\t${s.kind} ${s.name} {`, `\t\ttype ${s.type}`];
  // The kernel gives a set that rules add to (`update @set`) its default size.
  if (updated && s.flags?.includes("dynamic")) lines.push("\t\tsize 65535");
  if (s.flags) lines.push(`\t\tflags ${s.flags.join(",")}`);
  if (s.timeoutSeconds !== undefined) lines.push(`\t\ttimeout ${durationText(s.timeoutSeconds)}`);
  if (s.comment) lines.push(`\t\tcomment ${nftQuoted(s.comment)}`);
  if (elements.length > 0) lines.push(`\t\t${elementsText(s, elements)}`);
  return [...lines, "\t}"];
}

// ---- chains ----

/** nft's standard priorities (ip family): a priority within 10 of one, on a hook it names, prints by name. */
const STANDARD_PRIORITIES: { name: string; value: number; hooks?: string[] }[] = [
  { name: "raw", value: -300 },
  { name: "mangle", value: -150 },
  { name: "dstnat", value: -100, hooks: ["prerouting"] },
  { name: "filter", value: 0 },
  { name: "security", value: 50 },
  { name: "srcnat", value: 100, hooks: ["postrouting"] },
];

function priorityText(hook: string, priority: number): string {
  for (const p of STANDARD_PRIORITIES) {
    if (p.hooks && !p.hooks.includes(hook)) continue;
    const offset = priority - p.value;
    if (Math.abs(offset) > 10) continue;
    return offset === 0 ? p.name : `${p.name} ${offset > 0 ? "+" : "-"} ${Math.abs(offset)}`;
  }
  return String(priority);
}

function chainBlock(c: NftChain, rules: NftRule[]): string[] {
  const lines = [`\tchain ${c.name} {`];
  if (c.base) {
    const { type, hook, priority } = c.base;
    lines.push(`\t\ttype ${type} hook ${hook} priority ${priorityText(hook, priority)}; policy accept;`);
  }
  if (c.comment) lines.push(`\t\tcomment ${nftQuoted(c.comment)}`);
  for (const r of rules)
    lines.push(`\t\t${listedRule(r.rule)}${r.comment ? ` comment ${nftQuoted(r.comment)}` : ""}`);
  return [...lines, "\t}"];
}

/** The table as `nft list table ip[6] kube-proxy` prints it: sets and maps, then chains, each in the order made. */
export function renderNftList(r: NftRuleset): string {
  const group = <T>(items: T[], of: (t: T) => string) => {
    const m = new Map<string, T[]>();
    for (const item of items) m.set(of(item), [...(m.get(of(item)) ?? []), item]);
    return m;
  };
  const elements = group(r.elements, (e) => e.container);
  const rules = group(r.rules, (x) => x.chain);
  const updated = (name: string) => r.rules.some((x) => x.rule.includes(`update @${name} `));
  const blocks = [
    ...r.sets.map((s) => setBlock(s, elements.get(s.name) ?? [], updated(s.name))),
    ...r.chains.map((c) => chainBlock(c, rules.get(c.name) ?? [])),
  ];
  const body = blocks.map((b) => b.join("\n")).join("\n\n");
  return `table ${nftTableOf(r)} {\n\tcomment ${nftQuoted("rules for kube-proxy")}\n${body}\n}\n`;
}
