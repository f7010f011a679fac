// Reads the nat table of an iptables-restore payload (what `maplb iptables` prints) into rules the
// native chain evaluator can walk. Only the matches and targets kube-proxy writes are understood;
// anything else is an error, so the evaluator never silently ignores a match it would get wrong.
import { MaplbError } from "../errors.js";
import { parseCidr } from "../util/ip.js";

export type Target =
  "none" | "jump" | "return" | "dnat" | "mark" | "masquerade" | "accept" | "drop" | "reject";

export interface Cidr {
  address: string;
  prefix: number;
}

export interface NatRule {
  /** The chain the rule is in, and its 0-based position there. */
  chain: string;
  index: number;
  /** The rule's text, for explanations (trace). */
  text: string;
  comment: string | null;
  proto: "tcp" | "udp" | "sctp" | null;
  src: (Cidr & { negated: boolean }) | null;
  dst: (Cidr & { negated: boolean }) | null;
  dport: number | null;
  dstLocal: boolean;
  srcLocal: boolean;
  /** `-m mark --mark V/M`, possibly negated. */
  mark: { value: number; mask: number; negated: boolean } | null;
  /** `-m statistic --mode random --probability P`. */
  probability: number | null;
  /** `-m recent --name N --rcheck --seconds T` or `--set`. */
  recent: { name: string; op: "rcheck" | "set"; seconds: number } | null;
  target: Target;
  /** For "jump": the chain. */
  jump: string | null;
  /** For "dnat": the destination. */
  toAddress: string | null;
  toPort: number | null;
  /** For "mark": `--or-mark` or `--xor-mark` value. */
  markOp: { op: "or" | "xor"; value: number } | null;
}

export interface NatTable {
  /** Chains in declaration order. */
  chains: string[];
  rules: NatRule[];
}

const BUILTIN_TARGETS: Record<string, Target> = {
  DNAT: "dnat",
  MARK: "mark",
  MASQUERADE: "masquerade",
  RETURN: "return",
  ACCEPT: "accept",
  DROP: "drop",
  REJECT: "reject",
};

/** Splits a rule line into tokens; double-quoted strings are one token, without their quotes. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1] : m[2]!);
  return out;
}

function cidr(s: string, line: string): Cidr {
  const c = parseCidr(s.includes("/") ? s : `${s}/32`);
  if (!c) throw new MaplbError("E_INPUT", `not an IPv4 address or CIDR: '${s}' in: ${line}`);
  return c;
}

function num(s: string | undefined, line: string): number {
  const n = s === undefined ? NaN : Number(s);
  if (!Number.isFinite(n)) throw new MaplbError("E_INPUT", `expected a number, got '${s}' in: ${line}`);
  return n;
}

function parseRule(line: string, index: number): NatRule {
  const t = tokenize(line);
  const rule: NatRule = {
    chain: t[1]!,
    index,
    text: line,
    comment: null,
    proto: null,
    src: null,
    dst: null,
    dport: null,
    dstLocal: false,
    srcLocal: false,
    mark: null,
    probability: null,
    recent: null,
    target: "none",
    jump: null,
    toAddress: null,
    toPort: null,
    markOp: null,
  };
  let negate = false;
  for (let i = 2; i < t.length; i++) {
    const tok = t[i]!;
    const arg = () => {
      const v = t[++i];
      if (v === undefined) throw new MaplbError("E_INPUT", `'${tok}' needs a value in: ${line}`);
      return v;
    };
    switch (tok) {
      case "!":
        negate = true;
        continue;
      case "-m":
      case "--mode": // only "random" is written by kube-proxy
      case "--nfacct-name": // counting only: always matches
        arg();
        break;
      case "--reap":
      case "--random-fully":
        break;
      case "--comment":
        rule.comment = arg();
        break;
      case "-p":
        rule.proto = arg() as NatRule["proto"];
        break;
      case "-s":
        rule.src = { ...cidr(arg(), line), negated: negate };
        break;
      case "-d":
        rule.dst = { ...cidr(arg(), line), negated: negate };
        break;
      case "--dport":
        rule.dport = num(arg(), line);
        break;
      case "--dst-type":
        if (arg() !== "LOCAL") throw new MaplbError("E_INPUT", `only --dst-type LOCAL is supported: ${line}`);
        rule.dstLocal = true;
        break;
      case "--src-type":
        if (arg() !== "LOCAL") throw new MaplbError("E_INPUT", `only --src-type LOCAL is supported: ${line}`);
        rule.srcLocal = true;
        break;
      case "--mark": {
        const [v, m] = arg().split("/");
        rule.mark = {
          value: num(v, line),
          mask: m === undefined ? 0xffffffff : num(m, line),
          negated: negate,
        };
        break;
      }
      case "--probability":
        rule.probability = num(arg(), line);
        break;
      case "--name":
        rule.recent = { name: arg(), op: rule.recent?.op ?? "rcheck", seconds: rule.recent?.seconds ?? 0 };
        break;
      case "--rcheck":
      case "--set":
        rule.recent = {
          name: rule.recent?.name ?? "DEFAULT",
          op: tok === "--set" ? "set" : "rcheck",
          seconds: rule.recent?.seconds ?? 0,
        };
        break;
      case "--seconds":
        rule.recent = {
          name: rule.recent?.name ?? "DEFAULT",
          op: rule.recent?.op ?? "rcheck",
          seconds: num(arg(), line),
        };
        break;
      case "-j": {
        const target = arg();
        rule.target = BUILTIN_TARGETS[target] ?? "jump";
        if (rule.target === "jump") rule.jump = target;
        break;
      }
      case "--to-destination": {
        const [addr, port] = arg().split(":");
        rule.toAddress = addr!;
        rule.toPort = port === undefined ? null : num(port, line);
        break;
      }
      case "--or-mark":
      case "--xor-mark":
        rule.markOp = { op: tok === "--or-mark" ? "or" : "xor", value: num(arg(), line) };
        break;
      default:
        throw new MaplbError("E_INPUT", `the chain evaluator does not understand '${tok}' in: ${line}`);
    }
    negate = false;
  }
  return rule;
}

/** The nat table of a restore payload; rules of each chain in order. */
export function parseNatTable(text: string): NatTable {
  const chains: string[] = [];
  const rules: NatRule[] = [];
  const perChain = new Map<string, number>();
  const declare = (c: string) => {
    if (!perChain.has(c)) {
      perChain.set(c, 0);
      chains.push(c);
    }
  };
  let inNat = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) inNat = line === "*nat";
    else if (!inNat || line === "COMMIT") continue;
    else if (line.startsWith(":")) declare(line.slice(1).split(" ")[0]!);
    else if (line.startsWith("-A ")) {
      const chain = line.split(" ")[1]!;
      declare(chain);
      const index = perChain.get(chain)!;
      perChain.set(chain, index + 1);
      rules.push(parseRule(line, index));
    } else throw new MaplbError("E_INPUT", `unexpected line in the nat table: ${line}`);
  }
  if (!inNat && rules.length === 0 && !text.includes("*nat"))
    throw new MaplbError("E_INPUT", "no *nat table in the iptables payload");
  return { chains, rules };
}
