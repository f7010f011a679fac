/* The names the family-generic datapath code uses, for the family in MAPLB_FAMILY (4 or 6).
 * lb_family.h and pipeline.h include the generic headers once per family after this one, so the
 * service lookup, backend choice, conntrack, fragment tracking and balancing are written once and
 * compiled for both: the IPv4 instance keeps the plain names (svc_lookup_master, ct_create, ...),
 * the IPv6 one gets a 6 at the end (svc_lookup_master6, ct_create6, ...). Only what differs between
 * the families is named here: types, maps, and the few operations on an address that C does not
 * write the same way for a __be32 and a struct maplb_in6. Included again for each family: no guard. */

/* The map wrappers the generic code calls: one expansion step more than dp_lookup, so that a map
 * named by a macro below (FAM_SERVICES) becomes its real name before the shim pastes it. */
#ifndef dpf_lookup
#define dpf_lookup(env, map, key) dp_lookup(env, map, key)
#define dpf_update(env, map, key, value, flags) dp_update(env, map, key, value, flags)
#define dpf_delete(env, map, key) dp_delete(env, map, key)
#endif

#undef FN
#undef FLOW
#undef ADDR
#undef ADDR_BITS
#undef ADDR_ZERO
#undef ADDR_IS_ZERO
#undef ADDR_EQ
#undef SVC_KEY
#undef BACKEND
#undef REVNAT
#undef SRC_RANGE_KEY
#undef CT_KEY
#undef CT_ENTRY
#undef AFFINITY_KEY
#undef FRAG_KEY
#undef FRAG_ID
#undef FAM_SERVICES
#undef FAM_BACKENDS
#undef FAM_REVNAT
#undef FAM_MAGLEV
#undef FAM_SRC_RANGE
#undef FAM_NODE_ADDRS
#undef FAM_CT
#undef FAM_AFFINITY
#undef FAM_FRAGS
#undef ICMP_PROTO
#undef CFG_SNAT_ADDR
#undef CFG_CLUSTER_CIDR_PREFIX

#if MAPLB_FAMILY == 4
#define FN(name) name
#define FLOW struct flow4
#define ADDR __be32
#define ADDR_BITS 32
#define ADDR_ZERO 0
#define ADDR_IS_ZERO(a) ((a) == 0)
#define ADDR_EQ(a, b) ((a) == (b))
#define SVC_KEY struct lb4_key
#define BACKEND struct lb4_backend
#define REVNAT struct lb4_reverse_nat
#define SRC_RANGE_KEY struct lb4_src_range_key
#define CT_KEY struct ct4_key
#define CT_ENTRY struct ct4_entry
#define AFFINITY_KEY struct lb4_affinity_key
#define FRAG_KEY struct lb4_frag_key
#define FRAG_ID(pkt) ((pkt)->ip_id)
#define FAM_SERVICES lb4_services
#define FAM_BACKENDS lb4_backends
#define FAM_REVNAT lb4_reverse_nat
#define FAM_MAGLEV lb4_maglev
#define FAM_SRC_RANGE lb4_source_range
#define FAM_NODE_ADDRS node_addrs
#define FAM_CT ct4
#define FAM_AFFINITY lb4_affinity
#define FAM_FRAGS lb4_frags
#define ICMP_PROTO IPPROTO_ICMP
#define CFG_SNAT_ADDR(cfg) ((cfg)->snat_addr)
#define CFG_CLUSTER_CIDR_PREFIX(cfg) ((cfg)->cluster_cidr_prefix)
#elif MAPLB_FAMILY == 6
#define FN(name) name##6
#define FLOW struct flow6
#define ADDR struct maplb_in6
#define ADDR_BITS 128
#define ADDR_ZERO ((struct maplb_in6){ { 0, 0, 0, 0 } })
#define ADDR_IS_ZERO(a) in6_is_zero(&(a))
#define ADDR_EQ(a, b) in6_eq(&(a), &(b))
#define SVC_KEY struct lb6_key
#define BACKEND struct lb6_backend
#define REVNAT struct lb6_reverse_nat
#define SRC_RANGE_KEY struct lb6_src_range_key
#define CT_KEY struct ct6_key
#define CT_ENTRY struct ct6_entry
#define AFFINITY_KEY struct lb6_affinity_key
#define FRAG_KEY struct lb6_frag_key
#define FRAG_ID(pkt) ((pkt)->frag_id6)
#define FAM_SERVICES lb6_services
#define FAM_BACKENDS lb6_backends
#define FAM_REVNAT lb6_reverse_nat
#define FAM_MAGLEV lb6_maglev
#define FAM_SRC_RANGE lb6_source_range
#define FAM_NODE_ADDRS node_addrs6
#define FAM_CT ct6
#define FAM_AFFINITY lb6_affinity
#define FAM_FRAGS lb6_frags
#define ICMP_PROTO 58 /* IPPROTO_ICMPV6 */
#define CFG_SNAT_ADDR(cfg) ((cfg)->snat6_addr)
#define CFG_CLUSTER_CIDR_PREFIX(cfg) ((cfg)->cluster_cidr6_prefix)
#else
#error "MAPLB_FAMILY must be 4 or 6"
#endif
