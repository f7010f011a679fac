// Turns kube-proxy's nat table (the structured rules `maplb iptables` prints) into the native chain
// evaluator's rule array: one `struct ipt_rule` per rule, grouped by chain, chains indexed by number.
// Rules are read with the same parser as the TypeScript tracer (src/kubeproxy/rule-parse.ts), and
// anything the evaluator does not model is an error, never a silently ignored match.
import { MaplbError } from "../errors.js";
import { rulesByChain } from "../kubeproxy/iptables-render.js";
import { KUBE_SERVICES, type IptablesTable } from "../kubeproxy/iptables-rules.js";
import { kernelProbability } from "../kubeproxy/iptables-render.js";
import { optionValue, parseRuleArgs, type ParsedRule } from "../kubeproxy/rule-parse.js";
import { encodeInto, structSize, type StructValue } from "../datapath/codec.js";
import { ipv4ToInt } from "../util/ip.js";

/** Mirrors MAPLB_IPT_TARGET_* of the ABI header. */
export const IptTarget = {
  NONE: 0,
  JUMP: 1,
  RETURN: 2,
  DNAT: 3,
  MARK: 4,
  MASQUERADE: 5,
  ACCEPT: 6,
  DROP: 7,
  REJECT: 8,
} as const;
/** Mirrors MAPLB_IPT_F_*. */
export const IptFlag = {
  INV_SRC: 1 << 0,
  INV_DST: 1 << 1,
  DST_LOCAL: 1 << 2,
  SRC_LOCAL: 1 << 3,
  STATISTIC: 1 << 4,
  RECENT_CHECK: 1 << 5,
  RECENT_SET: 1 << 6,
  MARK: 1 << 7,
  INV_MARK: 1 << 8,
  MARK_XOR: 1 << 9,
} as const;

const BUILTIN_TARGETS: Record<string, number> = {
  DNAT: IptTarget.DNAT,
  MARK: IptTarget.MARK,
  MASQUERADE: IptTarget.MASQUERADE,
  RETURN: IptTarget.RETURN,
  ACCEPT: IptTarget.ACCEPT,
  DROP: IptTarget.DROP,
  REJECT: IptTarget.REJECT,
};
const PROTO: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

export interface EncodedNatTable {
  /** `struct ipt_rule` × rules, grouped by chain. */
  rules: Uint8Array;
  /** `struct ipt_chain` × chains. */
  chains: Uint8Array;
  ruleCount: number;
  chainNames: string[];
  /** KUBE-SERVICES: where a new connection's walk starts (after PREROUTING's jump). */
  entry: number;
  /** Rule index → chain name and index in it, for explaining a path. */
  ruleOrigin: { chain: string; index: number; args: string[] }[];
}

/** An address or CIDR as network-order (address, mask) numbers, as the C struct holds them. */
function addressMatch(text: string): { addr: number; mask: number } {
  const [ip, bits] = text.split("/");
  const prefix = bits === undefined ? 32 : Number(bits);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { addr: (ipv4ToInt(ip!) & mask) >>> 0, mask };
}

function encodeRule(
  r: ParsedRule,
  chainIndex: Map<string, number>,
  recentLists: Map<string, number>,
  text: string,
): StructValue {
  const v: StructValue = { flags: 0, probability: 0, proto: 0, target: IptTarget.NONE };
  let flags = 0;
  const unsupported = (what: string) =>
    new MaplbError("E_INPUT", `the chain evaluator does not model ${what}: ${text}`);
  if (r.source) {
    const m = addressMatch(r.source.address);
    Object.assign(v, { src_addr: m.addr, src_mask: m.mask });
    if (r.source.negate) flags |= IptFlag.INV_SRC;
  }
  if (r.destination) {
    const m = addressMatch(r.destination.address);
    Object.assign(v, { dst_addr: m.addr, dst_mask: m.mask });
    if (r.destination.negate) flags |= IptFlag.INV_DST;
  }
  if (r.protocol) v.proto = PROTO[r.protocol] ?? 0;
  for (const m of r.matches)
    for (const o of m.options) {
      const value = o.values[0] ?? "";
      switch (`${m.module} ${o.name}`) {
        case "comment comment":
        case "nfacct nfacct-name":
        case "statistic mode":
        case "recent name":
        case "recent reap":
          break;
        case "tcp dport":
        case "udp dport":
        case "sctp dport":
          if (o.negate) throw unsupported("! --dport");
          v.dport = Number(value);
          break;
        case "addrtype dst-type":
        case "addrtype src-type":
          if (value !== "LOCAL" || o.negate) throw unsupported(`addrtype ${value}`);
          flags |= o.name === "dst-type" ? IptFlag.DST_LOCAL : IptFlag.SRC_LOCAL;
          break;
        case "mark mark": {
          const [val, mask] = value.split("/").map((x) => Number(x) >>> 0);
          Object.assign(v, { mark_value: val ?? 0, mark_mask: mask ?? 0xffffffff });
          flags |= IptFlag.MARK | (o.negate ? IptFlag.INV_MARK : 0);
          break;
        }
        case "statistic probability":
          // The kernel stores round(p * 2^31) and compares a 31-bit random number against it.
          v.probability = Math.round(Number(kernelProbability(value)) * 2 ** 31);
          flags |= IptFlag.STATISTIC;
          break;
        case "recent rcheck":
        case "recent set": {
          const name = optionValue(m.options, "name") ?? "DEFAULT";
          if (!recentLists.has(name)) recentLists.set(name, recentLists.size);
          v.recent_list = recentLists.get(name)!;
          v.recent_seconds = Number(optionValue(m.options, "seconds") ?? 0);
          flags |= o.name === "set" ? IptFlag.RECENT_SET : IptFlag.RECENT_CHECK;
          break;
        }
        case "recent seconds":
          break;
        default:
          throw unsupported(`-m ${m.module} --${o.name}`);
      }
    }
  const t = r.target;
  if (t) {
    const builtin = BUILTIN_TARGETS[t.name];
    if (builtin === undefined) {
      const jump = chainIndex.get(t.name);
      if (jump === undefined)
        throw new MaplbError("E_INPUT", `jump to an undeclared chain ${t.name}: ${text}`);
      Object.assign(v, { target: IptTarget.JUMP, jump_chain: jump });
    } else v.target = builtin;
    if (t.name === "DNAT") {
      const [ip, port] = (optionValue(t.options, "to-destination") ?? "").split(":");
      Object.assign(v, { to_addr: ipv4ToInt(ip!), to_port: port === undefined ? 0 : Number(port) });
    }
    if (t.name === "MARK") {
      const xor = optionValue(t.options, "xor-mark");
      v.mark_value = Number(xor ?? optionValue(t.options, "or-mark") ?? 0) >>> 0;
      if (xor !== undefined) flags |= IptFlag.MARK_XOR;
    }
  }
  v.flags = flags;
  return v;
}

export function encodeNatTable(nat: IptablesTable): EncodedNatTable {
  const byChain = rulesByChain(nat);
  const chainNames = [...new Set([...nat.chains, ...byChain.keys()])];
  const chainIndex = new Map(chainNames.map((c, i) => [c, i]));
  const entry = chainIndex.get(KUBE_SERVICES);
  if (entry === undefined) throw new MaplbError("E_INPUT", "the nat table has no KUBE-SERVICES chain");
  const ruleSize = structSize("ipt_rule");
  const chainSize = structSize("ipt_chain");
  const rules = new Uint8Array(ruleSize * nat.rules.length);
  const chains = new Uint8Array(chainSize * chainNames.length);
  const recentLists = new Map<string, number>();
  const ruleOrigin: EncodedNatTable["ruleOrigin"] = [];
  let n = 0;
  chainNames.forEach((chain, c) => {
    const own = byChain.get(chain) ?? [];
    encodeInto("ipt_chain", { first: n, count: own.length }, chains, c * chainSize);
    own.forEach((rule, index) => {
      const text = `-A ${chain} ${rule.args.join(" ")}`;
      encodeInto(
        "ipt_rule",
        encodeRule(parseRuleArgs(rule.args), chainIndex, recentLists, text),
        rules,
        n * ruleSize,
      );
      ruleOrigin.push({ chain, index, args: rule.args });
      n++;
    });
  });
  return { rules, chains, ruleCount: n, chainNames, entry, ruleOrigin };
}
