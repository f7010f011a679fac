/* sizeof/offsetof of every ABI struct, exported for test/abi-layout.test.ts (the TypeScript
 * mirror must agree byte for byte, in the spirit of Cilium's alignchecker). */
#include "maplb_abi.h"
#include "maplb_api.h"

#include <stddef.h>
#include <string.h>

struct field_layout {
	const char *type, *field;
	long offset;
};

#define F(T, f) { #T, #f, (long)offsetof(struct T, f) }

static const struct field_layout fields[] = {
	F(lb4_key, address), F(lb4_key, dport), F(lb4_key, backend_slot), F(lb4_key, proto),
	F(lb4_key, scope), F(lb4_key, pad),
	F(lb4_service, backend_id), F(lb4_service, affinity_timeout), F(lb4_service, maglev_offset),
	F(lb4_service, maglev_size), F(lb4_service, count), F(lb4_service, rev_nat_id),
	F(lb4_service, flags), F(lb4_service, algorithm),
	F(lb4_backend, address), F(lb4_backend, port), F(lb4_backend, proto), F(lb4_backend, flags),
	F(lb4_reverse_nat, address), F(lb4_reverse_nat, port), F(lb4_reverse_nat, pad),
	F(lb4_src_range_key, prefixlen), F(lb4_src_range_key, rev_nat_id),
	F(lb4_src_range_key, addr),
	F(maplb_config, cluster_cidr_addr), F(maplb_config, cluster_cidr_prefix),
	F(maplb_config, hash_seed), F(maplb_config, snat_addr), F(maplb_config, snat_port_min),
	F(maplb_config, snat_port_max), F(maplb_config, cluster_cidr6_prefix),
	F(maplb_config, cluster_cidr6_addr), F(maplb_config, snat6_addr),
	F(ct4_key, saddr), F(ct4_key, daddr), F(ct4_key, sport), F(ct4_key, dport), F(ct4_key, proto),
	F(ct4_key, direction), F(ct4_key, pad),
	F(ct4_entry, last_seen), F(ct4_entry, backend_id), F(ct4_entry, frontend_addr),
	F(ct4_entry, rev_nat_id), F(ct4_entry, flags), F(ct4_entry, pad), F(ct4_entry, snat_addr),
	F(ct4_entry, snat_port), F(ct4_entry, snat_pad),
	F(lb4_affinity_key, client), F(lb4_affinity_key, rev_nat_id),
	F(lb4_affinity_entry, last_used), F(lb4_affinity_entry, backend_id),
	F(lb4_affinity_entry, pad),
	F(lb4_backend_stats, packets), F(lb4_backend_stats, bytes),
	F(lb4_frag_key, saddr), F(lb4_frag_key, daddr), F(lb4_frag_key, id), F(lb4_frag_key, proto),
	F(lb4_frag_key, pad), F(lb4_frag_ports, sport), F(lb4_frag_ports, dport),
	F(lb4_sock_key, cookie), F(lb4_sock_key, address), F(lb4_sock_key, port), F(lb4_sock_key, pad),
	F(lb4_sock_revnat, address), F(lb4_sock_revnat, port), F(lb4_sock_revnat, pad),
	F(lb4_sock_revnat, rev_nat_id),
	F(lb6_key, address), F(lb6_key, dport), F(lb6_key, backend_slot), F(lb6_key, proto),
	F(lb6_key, scope), F(lb6_key, pad),
	F(lb6_backend, address), F(lb6_backend, port), F(lb6_backend, proto), F(lb6_backend, flags),
	F(lb6_reverse_nat, address), F(lb6_reverse_nat, port), F(lb6_reverse_nat, pad),
	F(lb6_src_range_key, prefixlen), F(lb6_src_range_key, rev_nat_id), F(lb6_src_range_key, addr),
	F(ct6_key, saddr), F(ct6_key, daddr), F(ct6_key, sport), F(ct6_key, dport), F(ct6_key, proto),
	F(ct6_key, direction), F(ct6_key, pad),
	F(ct6_entry, last_seen), F(ct6_entry, backend_id), F(ct6_entry, rev_nat_id),
	F(ct6_entry, frontend_addr), F(ct6_entry, snat_addr), F(ct6_entry, snat_port),
	F(ct6_entry, flags), F(ct6_entry, pad),
	F(lb6_affinity_key, client), F(lb6_affinity_key, rev_nat_id),
	F(lb6_frag_key, saddr), F(lb6_frag_key, daddr), F(lb6_frag_key, id), F(lb6_frag_key, proto),
	F(lb6_frag_key, pad),
	F(ipt_rule, src_addr), F(ipt_rule, src_mask), F(ipt_rule, dst_addr), F(ipt_rule, dst_mask),
	F(ipt_rule, flags), F(ipt_rule, probability), F(ipt_rule, mark_value), F(ipt_rule, mark_mask),
	F(ipt_rule, recent_list), F(ipt_rule, recent_seconds), F(ipt_rule, jump_chain),
	F(ipt_rule, to_addr), F(ipt_rule, to_port), F(ipt_rule, dport), F(ipt_rule, proto),
	F(ipt_rule, target), F(ipt_rule, pad),
	F(ipt_chain, first), F(ipt_chain, count),
	F(ipt_packet, saddr), F(ipt_packet, daddr), F(ipt_packet, sport), F(ipt_packet, dport),
	F(ipt_packet, proto), F(ipt_packet, pad),
	F(ipt_result, to_addr), F(ipt_result, rules_evaluated), F(ipt_result, path_len),
	F(ipt_result, to_port), F(ipt_result, target), F(ipt_result, pad),
	F(maplb_map_info, name), F(maplb_map_info, type), F(maplb_map_info, key_size),
	F(maplb_map_info, value_size), F(maplb_map_info, default_max_entries),
};

#define S(T) { #T, sizeof(struct T) }

static const struct {
	const char *type;
	size_t size;
} sizes[] = {
	S(lb4_key), S(lb4_service), S(lb4_backend), S(lb4_reverse_nat), S(lb4_src_range_key),
	S(maplb_config), S(ct4_key), S(ct4_entry), S(lb4_affinity_key), S(lb4_affinity_entry),
	S(lb4_backend_stats), S(lb4_frag_key), S(lb4_frag_ports), S(lb4_sock_key), S(lb4_sock_revnat),
	S(lb6_key), S(lb6_backend), S(lb6_reverse_nat), S(lb6_src_range_key), S(ct6_key), S(ct6_entry),
	S(lb6_affinity_key), S(lb6_frag_key), S(maplb_map_info), S(ipt_rule), S(ipt_chain), S(ipt_packet),
	S(ipt_result),
};

long maplb_abi_sizeof(const char *type)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (strcmp(sizes[i].type, type) == 0)
			return (long)sizes[i].size;
	return -1;
}

long maplb_abi_offsetof(const char *type, const char *field)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(fields[i].type, type) == 0 && strcmp(fields[i].field, field) == 0)
			return fields[i].offset;
	return -1;
}

#define C(name) { #name, (long)(name) }

static const struct {
	const char *name;
	long value;
} constants[] = {
	C(MAPLB_SCOPE_EXT), C(MAPLB_SCOPE_INT), C(MAPLB_SVC_NODEPORT), C(MAPLB_SVC_EXTERNAL),
	C(MAPLB_SVC_SOURCE_RANGE), C(MAPLB_SVC_AFFINITY), C(MAPLB_SVC_TWO_SCOPES),
	C(MAPLB_ALG_RANDOM), C(MAPLB_ALG_MAGLEV), C(MAPLB_BACKEND_TERMINATING), C(MAPLB_BACKEND_LOCAL),
	C(MAPLB_SRC_RANGE_PREFIX_BASE), C(MAPLB_CT_SERVICE), C(MAPLB_CT_REPLY),
	C(MAPLB_CT_F_FIN_SERVICE), C(MAPLB_CT_F_FIN_REPLY), C(MAPLB_CT_F_RST), C(MAPLB_CT_CLOSE_TIMEOUT),
	C(MAPLB_REASON_ICMP_ERROR), C(MAPLB_REASON_CTX_ERROR),
	C(MAPLB_VERDICT__MAX), C(MAPLB_REASON__MAX), C(MAPLB_COUNTER__MAX), C(MAPLB_MAP__COUNT),
	{ "MAPLB_COUNTER(DROP,TRUNC_L4)", MAPLB_COUNTER(MAPLB_VERDICT_DROP, MAPLB_REASON_TRUNC_L4) },
	C(MAPLB_REASON_TRUNC_L4), C(MAPLB_REASON_SNAT_NO_PORT), C(MAPLB_VERDICT_DROP),
	C(MAPLB_REASON_NOT_IP), C(MAPLB_REASON_EXT_HDR_CHAIN), C(MAPLB_REASON_TRUNC_EXT_HDR),
	C(MAPLB_IPT_TARGET_NONE), C(MAPLB_IPT_TARGET_JUMP), C(MAPLB_IPT_TARGET_RETURN),
	C(MAPLB_IPT_TARGET_DNAT), C(MAPLB_IPT_TARGET_MARK), C(MAPLB_IPT_TARGET_MASQUERADE),
	C(MAPLB_IPT_TARGET_ACCEPT), C(MAPLB_IPT_TARGET_DROP), C(MAPLB_IPT_TARGET_REJECT),
	C(MAPLB_IPT_F_INV_SRC), C(MAPLB_IPT_F_INV_DST), C(MAPLB_IPT_F_DST_LOCAL),
	C(MAPLB_IPT_F_SRC_LOCAL), C(MAPLB_IPT_F_STATISTIC), C(MAPLB_IPT_F_RECENT_CHECK),
	C(MAPLB_IPT_F_RECENT_SET), C(MAPLB_IPT_F_MARK), C(MAPLB_IPT_F_INV_MARK),
	C(MAPLB_IPT_F_MARK_XOR),
	C(MAPLB_BENCH_ESTABLISHED), C(MAPLB_BENCH_NEW_FLOWS), C(MAPLB_BENCH_EMPTY),
};

long maplb_abi_constant(const char *name)
{
	for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++)
		if (strcmp(constants[i].name, name) == 0)
			return constants[i].value;
	return -1;
}
