// The TypeScript mirror of native/include/maplb_abi.h: struct layouts as data, map ids, verdicts
// and reasons. binding.ts turns the layouts into koffi structs; test/abi-layout.test.ts checks every
// size and offset against the values the native library exports, so a drift fails the build.

/**
 * A field's C type. "be" fields hold network byte order, everything else host order. "in6" is an
 * IPv6 address (struct maplb_in6: __be32[4]) in C: its value is the address as a 128-bit bigint (see util/ip.ts).
 */
export type FieldType = "u8" | "u16" | "be16" | "u32" | "be32" | "u64" | "char" | "in6";

export interface FieldDef {
  name: string;
  type: FieldType;
  /** Array length (pad[2], name[32]); 1 when absent. */
  count?: number;
}

export type StructName =
  | "lb4_key"
  | "lb4_service"
  | "lb4_backend"
  | "lb4_reverse_nat"
  | "lb4_src_range_key"
  | "maplb_config"
  | "ct4_key"
  | "ct4_entry"
  | "lb4_affinity_key"
  | "lb4_affinity_entry"
  | "lb4_backend_stats"
  | "lb4_frag_key"
  | "lb4_frag_ports"
  | "lb4_sock_key"
  | "lb4_sock_revnat"
  | "lb6_key"
  | "lb6_backend"
  | "lb6_reverse_nat"
  | "lb6_src_range_key"
  | "ct6_key"
  | "ct6_entry"
  | "lb6_affinity_key"
  | "lb6_frag_key"
  | "maplb_map_info"
  | "ipt_rule"
  | "ipt_chain"
  | "ipt_packet"
  | "ipt_result";

const pad = (count: number): FieldDef => ({ name: "pad", type: "u8", count });

export const ABI_STRUCTS: Record<StructName, FieldDef[]> = {
  lb4_key: [
    { name: "address", type: "be32" },
    { name: "dport", type: "be16" },
    { name: "backend_slot", type: "u16" },
    { name: "proto", type: "u8" },
    { name: "scope", type: "u8" },
    pad(2),
  ],
  lb4_service: [
    { name: "backend_id", type: "u32" },
    { name: "affinity_timeout", type: "u32" },
    { name: "maglev_offset", type: "u32" },
    { name: "maglev_size", type: "u32" },
    { name: "rev_nat_id", type: "u32" },
    { name: "count", type: "u16" },
    { name: "flags", type: "u8" },
    { name: "algorithm", type: "u8" },
  ],
  lb4_backend: [
    { name: "address", type: "be32" },
    { name: "port", type: "be16" },
    { name: "proto", type: "u8" },
    { name: "flags", type: "u8" },
  ],
  lb4_reverse_nat: [
    { name: "address", type: "be32" },
    { name: "port", type: "be16" },
    { name: "pad", type: "u16" },
  ],
  lb4_src_range_key: [
    { name: "prefixlen", type: "u32" },
    { name: "rev_nat_id", type: "u32" },
    { name: "addr", type: "be32" },
  ],
  maplb_config: [
    { name: "cluster_cidr_addr", type: "be32" },
    { name: "cluster_cidr_prefix", type: "u32" },
    { name: "hash_seed", type: "u32" },
    { name: "snat_addr", type: "be32" },
    { name: "snat_port_min", type: "u16" },
    { name: "snat_port_max", type: "u16" },
    { name: "cluster_cidr6_prefix", type: "u32" },
    { name: "cluster_cidr6_addr", type: "in6" },
    { name: "snat6_addr", type: "in6" },
  ],
  ct4_key: [
    { name: "saddr", type: "be32" },
    { name: "daddr", type: "be32" },
    { name: "sport", type: "be16" },
    { name: "dport", type: "be16" },
    { name: "proto", type: "u8" },
    { name: "direction", type: "u8" },
    pad(2),
  ],
  ct4_entry: [
    { name: "last_seen", type: "u64" },
    { name: "backend_id", type: "u32" },
    { name: "frontend_addr", type: "be32" },
    { name: "rev_nat_id", type: "u32" },
    { name: "flags", type: "u8" },
    pad(3),
    { name: "snat_addr", type: "be32" },
    { name: "snat_port", type: "be16" },
    { name: "snat_pad", type: "u16" },
  ],
  lb4_affinity_key: [
    { name: "client", type: "be32" },
    { name: "rev_nat_id", type: "u32" },
  ],
  lb4_affinity_entry: [
    { name: "last_used", type: "u64" },
    { name: "backend_id", type: "u32" },
    { name: "pad", type: "u32" },
  ],
  lb4_backend_stats: [
    { name: "packets", type: "u64" },
    { name: "bytes", type: "u64" },
  ],
  lb4_frag_key: [
    { name: "saddr", type: "be32" },
    { name: "daddr", type: "be32" },
    { name: "id", type: "be16" },
    { name: "proto", type: "u8" },
    { name: "pad", type: "u8" },
  ],
  lb4_frag_ports: [
    { name: "sport", type: "be16" },
    { name: "dport", type: "be16" },
  ],
  lb4_sock_key: [
    { name: "cookie", type: "u64" },
    { name: "address", type: "be32" },
    { name: "port", type: "be16" },
    { name: "pad", type: "u16" },
  ],
  lb4_sock_revnat: [
    { name: "address", type: "be32" },
    { name: "port", type: "be16" },
    { name: "pad", type: "u16" },
    { name: "rev_nat_id", type: "u32" },
  ],
  // IPv6 (maplb_abi.h: the lb6 tables; values without an address are the lb4 structs).
  lb6_key: [
    { name: "address", type: "in6" },
    { name: "dport", type: "be16" },
    { name: "backend_slot", type: "u16" },
    { name: "proto", type: "u8" },
    { name: "scope", type: "u8" },
    pad(2),
  ],
  lb6_backend: [
    { name: "address", type: "in6" },
    { name: "port", type: "be16" },
    { name: "proto", type: "u8" },
    { name: "flags", type: "u8" },
  ],
  lb6_reverse_nat: [
    { name: "address", type: "in6" },
    { name: "port", type: "be16" },
    { name: "pad", type: "u16" },
  ],
  lb6_src_range_key: [
    { name: "prefixlen", type: "u32" },
    { name: "rev_nat_id", type: "u32" },
    { name: "addr", type: "in6" },
  ],
  ct6_key: [
    { name: "saddr", type: "in6" },
    { name: "daddr", type: "in6" },
    { name: "sport", type: "be16" },
    { name: "dport", type: "be16" },
    { name: "proto", type: "u8" },
    { name: "direction", type: "u8" },
    pad(2),
  ],
  ct6_entry: [
    { name: "last_seen", type: "u64" },
    { name: "backend_id", type: "u32" },
    { name: "rev_nat_id", type: "u32" },
    { name: "frontend_addr", type: "in6" },
    { name: "snat_addr", type: "in6" },
    { name: "snat_port", type: "be16" },
    { name: "flags", type: "u8" },
    pad(5),
  ],
  lb6_affinity_key: [
    { name: "client", type: "in6" },
    { name: "rev_nat_id", type: "u32" },
  ],
  lb6_frag_key: [
    { name: "saddr", type: "in6" },
    { name: "daddr", type: "in6" },
    { name: "id", type: "be32" },
    { name: "proto", type: "u8" },
    pad(3),
  ],
  maplb_map_info: [
    { name: "name", type: "char", count: 32 },
    { name: "type", type: "u32" },
    { name: "key_size", type: "u32" },
    { name: "value_size", type: "u32" },
    { name: "default_max_entries", type: "u32" },
  ],
  // The kube-proxy chain evaluator's tables (src/iptables-eval encodes them).
  ipt_rule: [
    { name: "src_addr", type: "be32" },
    { name: "src_mask", type: "be32" },
    { name: "dst_addr", type: "be32" },
    { name: "dst_mask", type: "be32" },
    { name: "flags", type: "u32" },
    { name: "probability", type: "u32" },
    { name: "mark_value", type: "u32" },
    { name: "mark_mask", type: "u32" },
    { name: "recent_list", type: "u32" },
    { name: "recent_seconds", type: "u32" },
    { name: "jump_chain", type: "u32" },
    { name: "to_addr", type: "be32" },
    { name: "to_port", type: "be16" },
    { name: "dport", type: "be16" },
    { name: "proto", type: "u8" },
    { name: "target", type: "u8" },
    pad(2),
  ],
  ipt_chain: [
    { name: "first", type: "u32" },
    { name: "count", type: "u32" },
  ],
  ipt_packet: [
    { name: "saddr", type: "be32" },
    { name: "daddr", type: "be32" },
    { name: "sport", type: "be16" },
    { name: "dport", type: "be16" },
    { name: "proto", type: "u8" },
    pad(3),
  ],
  ipt_result: [
    { name: "to_addr", type: "be32" },
    { name: "rules_evaluated", type: "u32" },
    { name: "path_len", type: "u32" },
    { name: "to_port", type: "be16" },
    { name: "target", type: "u8" },
    { name: "pad", type: "u8" },
  ],
};

/** The maps, in the order of MAPLB_MAPS in the header: the index is the map id of the C API. */
export const MAP_NAMES = [
  "lb4_services",
  "lb4_backends",
  "lb4_reverse_nat",
  "lb4_maglev",
  "lb4_source_range",
  "node_addrs",
  "maplb_config",
  "ct4",
  "lb4_affinity",
  "maplb_counters",
  "lb4_backend_stats",
  "lb4_frags",
  "lb4_reverse_sk",
  "lb6_services",
  "lb6_backends",
  "lb6_reverse_nat",
  "lb6_maglev",
  "lb6_source_range",
  "node_addrs6",
  "ct6",
  "lb6_affinity",
  "lb6_frags",
] as const;
// maplb_counters and lb4_backend_stats are per-CPU: the library's lookups return the sum over CPUs.
// lb4_backend_stats counts the backends of both families (one id space: maplb_abi.h).
export type NativeMapName = (typeof MAP_NAMES)[number];

export function mapId(name: NativeMapName): number {
  return MAP_NAMES.indexOf(name);
}

/** Maps whose size --map-max sets; the rest keep their defaults unless named one by one. */
export const MAP_MAX_KNOB_MAPS: readonly NativeMapName[] = [
  "lb4_services",
  "lb4_backends",
  "lb4_reverse_nat",
  "lb4_source_range",
  "lb4_affinity",
  "lb4_backend_stats",
  "lb6_services",
  "lb6_backends",
  "lb6_reverse_nat",
  "lb6_source_range",
  "lb6_affinity",
];

export const Verdict = { PASS: 0, DNAT: 1, REVNAT: 2, DROP: 3 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];
export const VERDICT_NAMES = ["PASS", "DNAT", "REVNAT", "DROP"] as const;
export type VerdictName = (typeof VERDICT_NAMES)[number];

/** enum maplb_reason, by value. */
export const REASON_NAMES = [
  "OK",
  "NOT_IP",
  "NOT_TCP_UDP",
  "NO_SERVICE",
  "NO_BACKEND",
  "SOURCE_RANGE",
  "BACKEND_MISSING",
  "TRUNC_ETH",
  "TRUNC_IP",
  "BAD_IP_VERSION",
  "BAD_IHL",
  "IP_OPTIONS",
  "FRAGMENT",
  "BAD_TOTAL_LEN",
  "TRUNC_L4",
  "ICMP_ERROR",
  "CTX_ERROR",
  "SNAT_NO_PORT",
  "EXT_HDR_CHAIN",
  "TRUNC_EXT_HDR",
] as const;
export type ReasonName = (typeof REASON_NAMES)[number];

/** maplb_counters rows: one per (verdict, reason) pair, MAPLB_COUNTER(verdict, reason). */
export const COUNTER_ROWS = VERDICT_NAMES.length * REASON_NAMES.length;
export const counterRow = (verdict: number, reason: number): number => verdict * REASON_NAMES.length + reason;

export const CT_SERVICE = 0;
export const CT_REPLY = 1;
/** ct4_entry.flags (TCP state) and how long a closed flow's entries live, in seconds. */
export const CtFlag = { FIN_SERVICE: 1, FIN_REPLY: 2, RST: 4 } as const;
export const CT_CLOSE_TIMEOUT = 10;
/** lb4_src_range_key.prefixlen counts rev_nat_id and pad before the address. */
export const SRC_RANGE_PREFIX_BASE = 32;

/** The BPF_ANY / BPF_NOEXIST / BPF_EXIST update flags. */
export const UpdateFlag = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;
