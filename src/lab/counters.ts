// Checksum errors as each namespace's kernel counted them (nstat): a receiver that verifies checksums
// (the lab's --checksum off or partial) counts every TCP or UDP segment, or IPv4 header, whose checksum
// is wrong, and drops it. After traffic through a datapath that rewrites headers, any count is a bug.
import { sh } from "../netns/netns.js";
import { labPrefix, type LabState } from "./state.js";

export const CSUM_COUNTERS = ["TcpInCsumErrors", "UdpInCsumErrors", "IpExtInCsumErrors"] as const;
export type CsumCounter = (typeof CSUM_COUNTERS)[number];
export type CsumErrors = Record<CsumCounter, number>;

/** The namespace's checksum error counters: `nstat -asz` (absolute, zeros too, history untouched). */
export function checksumErrors(ns: string): CsumErrors {
  const out = JSON.parse(sh("ip", ["netns", "exec", ns, "nstat", "-asz", "--json"])) as {
    kernel: Record<string, number>;
  };
  const errors = {} as CsumErrors;
  for (const c of CSUM_COUNTERS) errors[c] = out.kernel[c] ?? 0;
  return errors;
}

/** Every namespace of the lab with its counters. */
export function labChecksumErrors(state: LabState): Map<string, CsumErrors> {
  const prefix = `${labPrefix(state.name)}-`;
  return new Map(
    state.namespaces.filter((ns) => ns.startsWith(prefix)).map((ns) => [ns, checksumErrors(ns)]),
  );
}

/** The counts that grew from `before` to `after`, as "ns: Counter +n" lines; empty when none did. */
export function checksumErrorsSince(
  before: ReadonlyMap<string, CsumErrors>,
  after: ReadonlyMap<string, CsumErrors>,
): string[] {
  const grown: string[] = [];
  for (const [ns, now] of after)
    for (const c of CSUM_COUNTERS) {
      const d = now[c] - (before.get(ns)?.[c] ?? 0);
      if (d > 0) grown.push(`${ns}: ${c} +${d}`);
    }
  return grown;
}
