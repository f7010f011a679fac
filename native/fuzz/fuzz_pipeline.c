/* libFuzzer harness for the host pipeline, under AddressSanitizer and UndefinedBehaviorSanitizer.
 * Input: one byte of clock advance (seconds); one byte whose top bit says that a map change of
 * MAP_EDIT_LEN bytes follows (see edit_maps: the control plane's tables made inconsistent, as a
 * bug or a race could leave them); then the frame, and the CHECKSUM_PARTIAL flag from the clock
 * byte's low bit. The maps hold one service of each kind, so fuzzed frames reach every stage
 * (wildcard NodePort, two scopes, source ranges, affinity, Maglev, replies, SNAT, fragments,
 * ICMP errors), for IPv4 and IPv6 (extension headers, fragments), and not only the parser; IPv4's
 * NO_BACKEND drops also build the ICMP reply. Any
 * out-of-bounds read or write, or UB, aborts the run.
 * Built and run by `make fuzz` (FUZZ_SECONDS, default 60). */
#include "shim.h"
#include "../datapath/pipeline.h"
#include "../datapath/icmp.h"
#include "dp.h"

#include <stdlib.h>
#include <string.h>

static struct sim_map *maps[MAPLB_MAP__COUNT];

static void put(__u32 id, const void *key, const void *value)
{
	if (sim_map_update(maps[id], key, value, BPF_ANY))
		abort();
}

static struct lb4_key svc_key(__be32 addr, __u16 port, __u8 proto, __u8 scope, __u16 slot)
{
	struct lb4_key k = { .address = addr, .dport = bpf_htons(port), .backend_slot = slot,
			     .proto = proto, .scope = scope };
	return k;
}

/* One frontend: master + `count` slots naming backends 1..count, rev-NAT, optional Maglev rows. */
static void add_service(__be32 addr, __u16 port, __u8 proto, __u8 scope, __u32 rev_nat, __u8 flags,
			__u8 algorithm, __u16 count)
{
	struct lb4_service master = { .count = count, .rev_nat_id = rev_nat, .flags = flags,
				      .algorithm = algorithm, .affinity_timeout = 60 };
	if (algorithm == MAPLB_ALG_MAGLEV) {
		master.maglev_offset = 0;
		master.maglev_size = 7;
	}
	for (__u16 slot = 1; slot <= count; slot++) {
		struct lb4_key k = svc_key(addr, port, proto, scope, slot);
		struct lb4_service s = { .backend_id = slot, .rev_nat_id = rev_nat };
		put(MAPLB_MAP_lb4_services, &k, &s);
	}
	struct lb4_key k = svc_key(addr, port, proto, scope, 0);
	put(MAPLB_MAP_lb4_services, &k, &master);
	struct lb4_reverse_nat rn = { .address = addr, .port = bpf_htons(port) };
	put(MAPLB_MAP_lb4_reverse_nat, &rev_nat, &rn);
}

/* 2001:db8::<low>, the harness's IPv6 addresses. */
static struct maplb_in6 in6(__u16 low)
{
	struct maplb_in6 a = { { bpf_htonl(0x20010db8), 0, 0, bpf_htonl(low) } };
	return a;
}

/* One IPv6 frontend: as add_service, its slots naming backends first..first+count-1. */
static void add_service6(struct maplb_in6 addr, __u16 port, __u8 proto, __u8 scope, __u32 rev_nat,
			 __u8 flags, __u8 algorithm, __u16 count, __u32 first)
{
	struct lb4_service master = { .count = count, .rev_nat_id = rev_nat, .flags = flags,
				      .algorithm = algorithm, .affinity_timeout = 60,
				      .maglev_size = algorithm == MAPLB_ALG_MAGLEV ? 7 : 0 };
	struct lb6_key k = { .address = addr, .dport = bpf_htons(port), .proto = proto, .scope = scope };
	for (__u16 slot = 1; slot <= count; slot++) {
		struct lb4_service s = { .backend_id = first + slot - 1, .rev_nat_id = rev_nat };
		k.backend_slot = slot;
		put(MAPLB_MAP_lb6_services, &k, &s);
	}
	k.backend_slot = 0;
	put(MAPLB_MAP_lb6_services, &k, &master);
	struct lb6_reverse_nat rn = { .address = addr, .port = bpf_htons(port) };
	put(MAPLB_MAP_lb6_reverse_nat, &rev_nat, &rn);
}

/* IPv6: backends 4..6 (one id space with IPv4's 1..3), frontends of each kind at 2001:db8::a..c
 * and the wildcard, the node at 2001:db8::b0b, sources in 2001:db8::/112 inside the ranges. */
static void setup6(void)
{
	for (__u32 id = 4; id <= 6; id++) {
		struct lb6_backend b = { .address = in6(0x100 + id), .port = bpf_htons(8080), .proto = IPPROTO_TCP,
					 .flags = id == 6 ? MAPLB_BACKEND_TERMINATING : 0 };
		put(MAPLB_MAP_lb6_backends, &id, &b);
	}
	for (__u32 row = 0; row < 7; row++) {
		__u32 id = row % 4 ? 3 + row % 4 : 0; /* 0: a row naming no backend */
		put(MAPLB_MAP_lb6_maglev, &row, &id);
	}
	add_service6(in6(0xa), 80, IPPROTO_TCP, MAPLB_SCOPE_EXT, 11, MAPLB_SVC_AFFINITY, MAPLB_ALG_RANDOM, 3, 4);
	add_service6(in6(0xb), 53, IPPROTO_UDP, MAPLB_SCOPE_EXT, 12, 0, MAPLB_ALG_MAGLEV, 2, 4);
	add_service6((struct maplb_in6){ { 0 } }, 30080, IPPROTO_TCP, MAPLB_SCOPE_EXT, 13, MAPLB_SVC_NODEPORT,
		     MAPLB_ALG_RANDOM, 2, 4);
	add_service6(in6(0xc), 80, IPPROTO_TCP, MAPLB_SCOPE_EXT, 14, MAPLB_SVC_SOURCE_RANGE | MAPLB_SVC_TWO_SCOPES,
		     MAPLB_ALG_RANDOM, 1, 4);
	add_service6(in6(0xc), 80, IPPROTO_TCP, MAPLB_SCOPE_INT, 14, 0, MAPLB_ALG_RANDOM, 0, 4);
	struct maplb_in6 node = in6(0xb0b);
	__u8 one = 1;
	put(MAPLB_MAP_node_addrs6, &node, &one);
	struct lb6_src_range_key sr = { .prefixlen = 32 + 112, .rev_nat_id = 14, .addr = in6(0) };
	put(MAPLB_MAP_lb6_source_range, &sr, &one);
}

static void setup(void)
{
	for (__u32 id = 0; id < MAPLB_MAP__COUNT; id++) {
		const struct map_def *d = &maplb_maps[id];
		__u32 max = id == MAPLB_MAP_ct4 || id == MAPLB_MAP_ct6 ? 4096
			    : id == MAPLB_MAP_lb4_maglev || id == MAPLB_MAP_lb6_maglev ? 64
										: d->default_max_entries;
		if (max > 65536)
			max = 65536;
		if (sim_map_create(d->type, d->key_size, d->value_size, max, &maps[id]))
			abort();
	}
	for (__u32 id = 1; id <= 3; id++) {
		struct lb4_backend b = { .address = bpf_htonl(0x0a000100 + id), .port = bpf_htons(8080),
					 .proto = IPPROTO_TCP,
					 .flags = id == 3 ? MAPLB_BACKEND_TERMINATING : id == 2 ? MAPLB_BACKEND_LOCAL : 0 };
		put(MAPLB_MAP_lb4_backends, &id, &b);
	}
	for (__u32 row = 0; row < 7; row++) {
		__u32 id = row % 4; /* 0: a row naming no backend */
		put(MAPLB_MAP_lb4_maglev, &row, &id);
	}
	/* Addresses 10.96.0.x / 192.168.1.x / 203.0.113.x: little-endian bytes of common fuzz values. */
	add_service(bpf_htonl(0x0a60000a), 80, IPPROTO_TCP, MAPLB_SCOPE_EXT, 1, MAPLB_SVC_AFFINITY, MAPLB_ALG_RANDOM, 3);
	add_service(bpf_htonl(0x0a60000b), 53, IPPROTO_UDP, MAPLB_SCOPE_EXT, 2, 0, MAPLB_ALG_MAGLEV, 2);
	add_service(0, 30080, IPPROTO_TCP, MAPLB_SCOPE_EXT, 3, MAPLB_SVC_NODEPORT, MAPLB_ALG_RANDOM, 2);
	add_service(bpf_htonl(0xcb00710a), 80, IPPROTO_TCP, MAPLB_SCOPE_EXT, 4,
		    MAPLB_SVC_SOURCE_RANGE | MAPLB_SVC_TWO_SCOPES, MAPLB_ALG_RANDOM, 1);
	add_service(bpf_htonl(0xcb00710a), 80, IPPROTO_TCP, MAPLB_SCOPE_INT, 4, 0, MAPLB_ALG_RANDOM, 0);
	__be32 node = bpf_htonl(0xc0a8010b);
	__u8 one = 1;
	put(MAPLB_MAP_node_addrs, &node, &one);
	struct lb4_src_range_key sr = { .prefixlen = 32 + 8, .rev_nat_id = 4, .addr = bpf_htonl(0x0a000000) };
	put(MAPLB_MAP_lb4_source_range, &sr, &one);
	__u32 zero = 0;
	/* SNAT on, over four ports, so that allocation collides and runs out too. */
	struct maplb_config cfg = { .cluster_cidr_addr = bpf_htonl(0x0a000000), .cluster_cidr_prefix = 16,
				    .hash_seed = 7, .snat_addr = node, .snat_port_min = 61000,
				    .snat_port_max = 61003, .cluster_cidr6_addr = in6(0), .cluster_cidr6_prefix = 120 };
	put(MAPLB_MAP_maplb_config, &zero, &cfg);
	setup6();
}

#define MAP_EDIT_LEN 6

/* The frontends of setup(), by index, for edits of their slots and masters. */
static struct lb4_key edit_key(__u8 which, __u16 slot)
{
	static const struct { __u32 addr; __u16 port; __u8 proto, scope; } fe[] = {
		{ 0x0a60000a, 80, IPPROTO_TCP, MAPLB_SCOPE_EXT },
		{ 0x0a60000b, 53, IPPROTO_UDP, MAPLB_SCOPE_EXT },
		{ 0, 30080, IPPROTO_TCP, MAPLB_SCOPE_EXT },
		{ 0xcb00710a, 80, IPPROTO_TCP, MAPLB_SCOPE_EXT },
		{ 0xcb00710a, 80, IPPROTO_TCP, MAPLB_SCOPE_INT },
	};
	which %= sizeof(fe) / sizeof(fe[0]);
	return svc_key(bpf_htonl(fe[which].addr), fe[which].port, fe[which].proto, fe[which].scope, slot);
}

/* One change to the tables that the datapath must survive: a backend deleted under slots, Maglev
 * rows, conntrack and affinity that still name it (or re-created), a Maglev row naming any id, a
 * slot or master deleted (orphaned slots), a master whose count or Maglev span points past what
 * exists. Updates into a full map just fail, which is fine. */
static void edit_maps(const __u8 *e)
{
	__u32 id = e[1] % 6; /* 0 and 4..5 never existed */
	struct lb4_key key = edit_key(e[2], e[3] % 5);
	switch (e[0] % 5) {
	case 0: { /* lb4_backends is an array: a deleted backend is a row of zeros */
		struct lb4_backend none = { 0 };
		sim_map_update(maps[MAPLB_MAP_lb4_backends], &id, &none, BPF_ANY);
		break;
	}
	case 1: {
		struct lb4_backend b = { .address = bpf_htonl(0x0a000100 + e[4]), .port = bpf_htons(8080),
					 .proto = IPPROTO_TCP,
					 .flags = e[5] & (MAPLB_BACKEND_TERMINATING | MAPLB_BACKEND_LOCAL) };
		sim_map_update(maps[MAPLB_MAP_lb4_backends], &id, &b, BPF_ANY);
		break;
	}
	case 2: {
		__u32 row = e[4] % 8, backend = e[5] % 8;
		sim_map_update(maps[MAPLB_MAP_lb4_maglev], &row, &backend, BPF_ANY);
		break;
	}
	case 3:
		sim_map_delete(maps[MAPLB_MAP_lb4_services], &key);
		break;
	default: {
		key.backend_slot = 0;
		struct lb4_service *master = sim_map_lookup(maps[MAPLB_MAP_lb4_services], &key);
		if (master) {
			master->count = e[4];
			master->maglev_offset = e[5]; /* past the 64 rows the harness's array has */
			master->maglev_size = e[4] % 17;
			master->algorithm = e[1] & 1 ? MAPLB_ALG_MAGLEV : MAPLB_ALG_RANDOM;
		}
	}
	}
}

int LLVMFuzzerTestOneInput(const __u8 *data, size_t size)
{
	static int ready;
	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 2 || size > 4096)
		return 0;
	size_t skip = 2;
	if (data[1] & 0x80) {
		if (size < skip + MAP_EDIT_LEN)
			return 0;
		edit_maps(data + skip);
		skip += MAP_EDIT_LEN;
	}
	/* The pipeline gets exactly the frame's bytes in a fresh allocation, so ASan sees any read
	 * past data_end. The first byte advances the clock (affinity and conntrack ageing). */
	size_t len = size - skip;
	__u8 *block = malloc(2 + len); /* NET_IP_ALIGN: the IP header 4-aligned, as in the kernel */
	__u8 *frame = block + 2;
	memcpy(frame, data + skip, len);
	static __u64 now;
	now += (__u64)(data[0] >> 1) * 1000000000ull;
	struct dp_env env = { .maps = maps, .now = now };
	struct dp_ctx ctx = { .data = frame, .data_end = frame + len, .len = (__u32)len,
			      .csum_partial = data[0] & 1 };
	struct dp_result r = dp_process(&env, &ctx);
	if (r.verdict >= MAPLB_VERDICT__MAX || r.reason >= MAPLB_REASON__MAX)
		abort();
	/* The BPF entry points answer NO_BACKEND with an ICMP error built from the (rewritten) frame. */
	__u8 reply[ICMP_REPLY_LEN];
	int ipv4 = len >= ETH_HLEN && ((struct ethhdr *)frame)->h_proto == bpf_htons(ETH_P_IP);
	if (r.reason == MAPLB_REASON_NO_BACKEND && ipv4 && maplb_icmp_unreachable(frame, (__u32)len, reply))
		abort();
	free(block);
	return 0;
}
