// Reads a rule's argument tokens the way iptables does: IP-header matches (-s, -d, -p), the match
// modules in the order they were loaded (-m), and the target (-j) with its options. The save
// renderer and the nat-table tracer both work from this form.

/** `--name v1 v2` (or `! --name …`), inside a match module or a target. */
export interface RuleOption {
  name: string;
  values: string[];
  negate: boolean;
}

export interface MatchModule {
  /** The module loaded by `-m` ("comment", "tcp", "mark", …). */
  module: string;
  options: RuleOption[];
}

export interface AddressMatch {
  /** As written: an address or a CIDR. */
  address: string;
  negate: boolean;
}

export interface ParsedRule {
  source?: AddressMatch;
  destination?: AddressMatch;
  protocol?: string;
  matches: MatchModule[];
  /** Absent for a rule without -j (it only counts packets, and evaluation goes on). */
  target?: { name: string; options: RuleOption[] };
}

export function parseRuleArgs(args: string[]): ParsedRule {
  const rule: ParsedRule = { matches: [] };
  let options: RuleOption[] | null = null; // where `--x` options go: the last -m module, or the target
  let negate = false;
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!;
    const next = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`iptables rule: ${token} needs a value in '${args.join(" ")}'`);
      return v;
    };
    if (token === "!") {
      negate = true;
      continue;
    }
    if (token === "-s" || token === "-d") {
      const m = { address: next(), negate };
      if (token === "-s") rule.source = m;
      else rule.destination = m;
    } else if (token === "-p") {
      rule.protocol = next();
    } else if (token === "-m") {
      const module: MatchModule = { module: next(), options: [] };
      rule.matches.push(module);
      options = module.options;
    } else if (token === "-j") {
      rule.target = { name: next(), options: [] };
      options = rule.target.options;
    } else if (token.startsWith("--")) {
      if (!options)
        throw new Error(`iptables rule: option ${token} before any -m or -j in '${args.join(" ")}'`);
      const values: string[] = [];
      while (i + 1 < args.length && !args[i + 1]!.startsWith("-") && args[i + 1] !== "!")
        values.push(args[++i]!);
      options.push({ name: token.slice(2), values, negate });
    } else {
      throw new Error(`iptables rule: unexpected token '${token}' in '${args.join(" ")}'`);
    }
    negate = false;
  }
  return rule;
}

/** The first value of option `name` in a module or target, or undefined. */
export function optionValue(options: RuleOption[], name: string): string | undefined {
  return options.find((o) => o.name === name)?.values[0];
}
