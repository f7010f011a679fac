// The three text forms of kube-proxy's iptables rules (reference §1):
// - restore:   what kube-proxy pipes into iptables-restore;
// - canonical: that payload sorted the way kube-proxy's own unit tests compare it (byte-stable);
// - save:      what the kernel's iptables-save prints back once the payload is loaded.
import { canonicalCidr } from "./cidr.js";
import { toFixedHalfEven } from "./decimal.js";
import { saveDefaults, type IpFamily, type SaveDefaults } from "./family.js";
import {
  KUBE_NODEPORTS,
  KUBE_SERVICES,
  serviceNameOf,
  type IptablesRule,
  type IptablesRuleset,
  type IptablesTable,
} from "./iptables-rules.js";
import { optionValue, parseRuleArgs, type MatchModule, type RuleOption } from "./rule-parse.js";
import { iptablesChain, restoreToken } from "./tokens.js";

export const IPTABLES_FORMATS = ["canonical", "restore", "save"] as const;
export type IptablesFormat = (typeof IPTABLES_FORMATS)[number];

export function renderIptables(rules: IptablesRuleset, format: IptablesFormat): string {
  switch (format) {
    case "canonical":
      return renderCanonical(rules);
    case "restore":
      return renderRestore(rules);
    case "save":
      return renderSave(rules);
  }
}

// ---- restore ----

/** One rule as iptables-restore reads it; every argument quoted as it needs (tokens.ts). */
export function restoreRuleLine(rule: IptablesRule): string {
  return ["-A", iptablesChain(rule.chain), ...rule.args.map(restoreToken)].join(" ");
}

const chainLine = (chain: string): string => `:${iptablesChain(chain)} - [0:0]`;

function tableLines(name: string, chains: string[], rules: IptablesRule[]): string[] {
  return [`*${name}`, ...chains.map(chainLine), ...rules.map(restoreRuleLine), "COMMIT"];
}

/** The payload as kube-proxy writes it: *filter then *nat, chain lines before rules. */
export function renderRestore(rules: IptablesRuleset): string {
  const lines = [rules.filter, rules.nat].flatMap((t) => tableLines(t.name, t.chains, t.rules));
  return lines.join("\n") + "\n";
}

// ---- canonical ----

/** KUBE-NODEPORTS, then KUBE-SERVICES, then the other KUBE-* chains, then the rest; alphabetical within. */
export function compareChains(a: string, b: string): number {
  const rank = (c: string) =>
    c === KUBE_NODEPORTS ? 0 : c === KUBE_SERVICES ? 1 : c.startsWith("KUBE-") ? 2 : 3;
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

const MUST_BE_LAST = "must be the last rule";

/** Rules of the KUBE-NODEPORTS and KUBE-SERVICES chains, stably sorted by service name. */
function sortDispatchRules(table: IptablesTable, chain: string, rules: IptablesRule[]): IptablesRule[] {
  if (chain !== KUBE_NODEPORTS && chain !== KUBE_SERVICES) return rules;
  const last = (r: IptablesRule) =>
    table.name === "nat" && chain === KUBE_SERVICES && r.args.some((a) => a.includes(MUST_BE_LAST)) ? 1 : 0;
  return rules
    .map((rule, index) => ({ rule, index, name: serviceNameOf(rule) }))
    .sort(
      (a, b) =>
        last(a.rule) - last(b.rule) || (a.name < b.name ? -1 : a.name > b.name ? 1 : a.index - b.index),
    )
    .map((x) => x.rule);
}

/** The table's rules per chain, each list in evaluation order. */
export function rulesByChain(table: IptablesTable): Map<string, IptablesRule[]> {
  const byChain = new Map<string, IptablesRule[]>(table.chains.map((c) => [c, []]));
  for (const r of table.rules) {
    const list = byChain.get(r.chain);
    if (list) list.push(r);
    else byChain.set(r.chain, [r]);
  }
  return byChain;
}

function canonicalTable(table: IptablesTable): string[] {
  const chains = [...table.chains].sort(compareChains);
  const byChain = rulesByChain(table);
  const rules = chains.flatMap((chain) => sortDispatchRules(table, chain, byChain.get(chain) ?? []));
  return tableLines(table.name, chains, rules);
}

export function renderCanonical(rules: IptablesRuleset): string {
  return [rules.filter, rules.nat].flatMap(canonicalTable).join("\n") + "\n";
}

// ---- save (the kernel's iptables-save) ----

/** xtables_save_string: quoted (with \ escapes) unless every character is in [A-Za-z0-9_-]. */
function saveString(value: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

/** `a.b.c.d` gets /32 (an IPv6 address /128); a CIDR is printed as its network address. */
const saveAddress = (address: string): string => canonicalCidr(address) ?? address;

const bang = (o: { negate: boolean }) => (o.negate ? "! " : "");
const hex = (n: number) => `0x${n.toString(16)}`;

/** The statistic match stores round(p·2^31) and prints it back with 11 decimals. */
export function kernelProbability(p: string): string {
  let printed = kernelProbabilities.get(p);
  if (printed === undefined) {
    const stored = Math.round(Number(p) * 0x80000000); // lround(0x80000000 * p) in libxt_statistic
    printed = toFixedHalfEven(stored / 0x80000000, 11);
    kernelProbabilities.set(p, printed);
  }
  return printed;
}
const kernelProbabilities = new Map<string, string>();

/** A mark and mask as the kernel prints them: hex, the mask left out when it is all ones. */
function saveMark(text: string): string {
  const [value, mask] = text.split("/").map((v) => Number(v) >>> 0);
  return mask === undefined || mask === 0xffffffff ? hex(value!) : `${hex(value!)}/${hex(mask)}`;
}

const CONNTRACK_STATES = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"];

/** The options of one match module, re-rendered as its libxt save function prints them. */
function saveMatch(m: MatchModule, defaults: SaveDefaults): string[] {
  const opt = (name: string) => m.options.find((o) => o.name === name);
  const out: string[] = [];
  const put = (o: RuleOption | undefined, text: (o: RuleOption) => string) => {
    if (o) out.push(`${bang(o)}${text(o)}`);
  };
  switch (m.module) {
    case "comment":
      put(opt("comment"), (o) => `--comment ${saveString(o.values[0] ?? "")}`);
      break;
    case "tcp":
    case "udp":
    case "sctp":
      put(opt("sport"), (o) => `--sport ${o.values[0]}`);
      put(opt("dport"), (o) => `--dport ${o.values[0]}`);
      break;
    case "mark":
      put(opt("mark"), (o) => `--mark ${saveMark(o.values[0] ?? "")}`);
      break;
    case "conntrack":
      put(opt("ctstate"), (o) => {
        const states = new Set((o.values[0] ?? "").split(","));
        return `--ctstate ${CONNTRACK_STATES.filter((s) => states.has(s)).join(",")}`;
      });
      break;
    case "addrtype":
      put(opt("src-type"), (o) => `--src-type ${o.values[0]}`);
      put(opt("dst-type"), (o) => `--dst-type ${o.values[0]}`);
      break;
    case "statistic":
      out.push(`--mode ${optionValue(m.options, "mode")}`);
      put(opt("probability"), (o) => `--probability ${kernelProbability(o.values[0] ?? "")}`);
      break;
    case "recent":
      // recent_save's fixed order; the kernel fills in the default mask and side.
      for (const flag of ["set", "rcheck", "update", "remove"]) put(opt(flag), () => `--${flag}`);
      put(opt("seconds"), (o) => `--seconds ${o.values[0]}`);
      put(opt("hitcount"), (o) => `--hitcount ${o.values[0]}`);
      put(opt("rttl"), () => "--rttl");
      put(opt("reap"), () => "--reap");
      put(opt("name"), (o) => `--name ${o.values[0]}`);
      out.push(`--mask ${optionValue(m.options, "mask") ?? defaults.recentMask}`);
      out.push(opt("rdest") ? "--rdest" : "--rsource");
      break;
    case "nfacct":
      // nfacct_save prints "--nfacct-name " and then xtables_save_string adds its own space.
      put(opt("nfacct-name"), (o) => `--nfacct-name  ${saveString(o.values[0] ?? "")}`);
      break;
    default:
      for (const o of m.options) out.push(`${bang(o)}--${o.name}${o.values.map((v) => ` ${v}`).join("")}`);
  }
  return out;
}

/** The target and its options, as the target's save function prints them. */
function saveTarget(name: string, options: RuleOption[], defaults: SaveDefaults): string[] {
  const value = (n: string) => optionValue(options, n);
  switch (name) {
    case "MARK": {
      const or = value("or-mark");
      const xor = value("xor-mark");
      if (or !== undefined) return [`--set-xmark ${hex(Number(or))}/${hex(Number(or))}`];
      if (xor !== undefined) return [`--set-xmark ${hex(Number(xor))}/0x0`];
      return options.map((o) => `--${o.name} ${o.values.join(" ")}`);
    }
    case "REJECT":
      return [`--reject-with ${value("reject-with") ?? defaults.rejectWith}`];
    default:
      return options.map((o) => [`--${o.name}`, ...o.values].join(" "));
  }
}

/** One rule as ip(6)tables-save prints it: -s, -d, -p first, then the modules in load order, then -j. */
export function saveRuleLine(rule: IptablesRule, family: IpFamily = "IPv4"): string {
  const defaults = saveDefaults(family);
  const r = parseRuleArgs(rule.args);
  const parts = [`-A ${iptablesChain(rule.chain)}`];
  if (r.source) parts.push(`${bang(r.source)}-s ${saveAddress(r.source.address)}`);
  if (r.destination) parts.push(`${bang(r.destination)}-d ${saveAddress(r.destination.address)}`);
  if (r.protocol) parts.push(`-p ${r.protocol}`);
  for (const m of r.matches) parts.push(`-m ${m.module}`, ...saveMatch(m, defaults));
  if (r.target) parts.push(`-j ${r.target.name}`, ...saveTarget(r.target.name, r.target.options, defaults));
  return parts.join(" ");
}

/** Both tables as iptables-save prints kube-proxy's chains: chains alphabetical, no header comments or counters. */
export function renderSave(rules: IptablesRuleset): string {
  const lines = [rules.filter, rules.nat].flatMap((t) => {
    const chains = [...t.chains].sort();
    const byChain = rulesByChain(t);
    const ordered = chains.flatMap((c) => byChain.get(c) ?? []);
    const save = (rule: IptablesRule) => saveRuleLine(rule, rules.family);
    return [`*${t.name}`, ...chains.map(chainLine), ...ordered.map(save), "COMMIT"];
  });
  return lines.join("\n") + "\n";
}
