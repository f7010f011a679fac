/* maplb ABI: the one definition of every map key and value, flag, verdict and reason.
 *
 * Included by the BPF object, the host library and (through src/datapath/abi.ts, checked by
 * test/abi-layout.test.ts) mirrored in TypeScript. Rules: fixed-width types, explicit padding so
 * that no compiler inserts any, network byte order (__be*) where the value is a wire field, no
 * bitfields. Every struct below has a static size assertion at the end of this file.
 */
#ifndef MAPLB_ABI_H
#define MAPLB_ABI_H

#include <linux/types.h>

/* An IPv6 address, network order. A struct around the words, so that the datapath assigns one as
 * it assigns an IPv4 __be32 (the shared code is written once for both: datapath/family.h). */
struct maplb_in6 {
	__be32 w[4];
};

/* ---- lb4_services: HASH lb4_key -> lb4_service ------------------------------------------------ */

/* lb4_key.scope: which backend set a lookup sees. INT exists only for TWO_SCOPES frontends. */
#define MAPLB_SCOPE_EXT 0
#define MAPLB_SCOPE_INT 1

struct lb4_key {
	__be32 address;      /* frontend IPv4; 0.0.0.0 = NodePort wildcard (daddr must be in node_addrs) */
	__be16 dport;        /* frontend port */
	__u16 backend_slot;  /* 0 = master, 1..count = backends */
	__u8 proto;          /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 scope;          /* MAPLB_SCOPE_* */
	__u8 pad[2];
};

/* lb4_service.flags (master slot). */
#define MAPLB_SVC_NODEPORT (1 << 0)
#define MAPLB_SVC_EXTERNAL (1 << 1)     /* LoadBalancer ingress IP or externalIP */
#define MAPLB_SVC_SOURCE_RANGE (1 << 2) /* check lb4_source_range before choosing a backend */
#define MAPLB_SVC_AFFINITY (1 << 3)     /* ClientIP session affinity */
#define MAPLB_SVC_TWO_SCOPES (1 << 4)   /* Local traffic policy: cluster sources use the INT scope */

/* lb4_service.algorithm. */
#define MAPLB_ALG_RANDOM 1
#define MAPLB_ALG_MAGLEV 2

struct lb4_service {
	__u32 backend_id;       /* slots 1..count: the backend */
	__u32 affinity_timeout; /* master: seconds, 0 = none */
	__u32 maglev_offset;    /* master: first row of this frontend's table in lb4_maglev */
	__u32 maglev_size;      /* master: M (a prime), 0 when not Maglev */
	__u32 rev_nat_id;       /* every slot: the frontend's rev-NAT id (u32: more than 65535 frontends) */
	__u16 count;            /* master: number of backend slots */
	__u8 flags;             /* master: MAPLB_SVC_* */
	__u8 algorithm;         /* master: MAPLB_ALG_* */
};

/* ---- lb4_backends: ARRAY __u32 id -> lb4_backend ----------------------------------------------
 * Indexed by the dense ids the control plane allocates (src/compile/ids.ts), so the verifier
 * inlines the lookup: no hashing on the packet path. Row 0 is never a backend (0 = "none"), and
 * ids stay below max_entries. A row of zeros is an empty row (no backend): a backend always has
 * a protocol, so the datapath tests proto alone, and the host library's API reads, deletes and
 * iterates these rows as a hash map's entries (MAPLB_ID_TABLE below). */

/* A terminating backend keeps its established flows and is never chosen for a new one. */
#define MAPLB_BACKEND_TERMINATING (1 << 0)
/* The backend runs on this node (set per node by the control plane): its replies come back through
 * this node whatever their destination, so a flow to it needs no source NAT (see snat.h). */
#define MAPLB_BACKEND_LOCAL (1 << 1)

struct lb4_backend {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 flags; /* MAPLB_BACKEND_* */
};

/* ---- lb4_reverse_nat: HASH __u32 rev_nat_id -> lb4_reverse_nat -------------------------------- */

/* The source a reply gets back. address 0.0.0.0 (NodePort wildcard): the node address the
 * client used, remembered in the conntrack entry. */
struct lb4_reverse_nat {
	__be32 address;
	__be16 port;
	__u16 pad;
};

/* ---- lb4_maglev: ARRAY __u32 row -> __u32 backend_id --------------------------------------------
 * One flat array; a frontend's table is rows [maglev_offset, maglev_offset + maglev_size). */

/* ---- lb4_source_range: LPM_TRIE lb4_src_range_key -> __u8 (1) ---------------------------------- */

/* prefixlen counts the 32 bits of rev_nat_id before the address: a /24 is prefixlen 56. */
struct lb4_src_range_key {
	__u32 prefixlen;
	__u32 rev_nat_id;
	__be32 addr;
};
#define MAPLB_SRC_RANGE_PREFIX_BASE 32

/* ---- node_addrs: HASH __be32 -> __u8 (1): the node's own addresses, for NodePort wildcards ---- */

/* ---- maplb_config: ARRAY[1] __u32 0 -> maplb_config ------------------------------------------- */

struct maplb_config {
	__be32 cluster_cidr_addr; /* TWO_SCOPES: sources in this CIDR use the INT scope */
	__u32 cluster_cidr_prefix; /* 0..32; 0 = no cluster CIDR (every source is external) */
	__u32 hash_seed;          /* flow hash seed: the same seed gives the same choices on every target */
	__be32 snat_addr;         /* this node's address for source NAT (snat.h); 0.0.0.0 = SNAT off */
	__u16 snat_port_min;      /* the ports SNAT allocates from, host order, min <= max; both families */
	__u16 snat_port_max;
	__u32 cluster_cidr6_prefix; /* 0..128; 0 = no IPv6 cluster CIDR */
	struct maplb_in6 cluster_cidr6_addr; /* TWO_SCOPES over IPv6: sources in this CIDR use the INT scope */
	struct maplb_in6 snat6_addr; /* the same as snat_addr for IPv6 flows (snat.h); :: = SNAT off */
};

/* ---- ct4: LRU_HASH ct4_key -> ct4_entry --------------------------------------------------------
 * A new flow to a service creates two entries: SERVICE (client -> frontend, as it arrived) and
 * REPLY (backend -> client, as the reply will arrive). A source-NATed flow's REPLY entry is keyed
 * backend -> node:port instead; it is also the record that the port is taken (snat.h). */

#define MAPLB_CT_SERVICE 0
#define MAPLB_CT_REPLY 1

/* ct4_entry.flags: TCP state, kept alike in a flow's two entries. A flow is closed once both sides
 * sent a FIN, or either an RST; its entries then live MAPLB_CT_CLOSE_TIMEOUT seconds after
 * last_seen (the close) for the last ACKs, and a SYN on the same tuple is balanced anew. */
#define MAPLB_CT_F_FIN_SERVICE (1 << 0) /* the client sent a FIN */
#define MAPLB_CT_F_FIN_REPLY (1 << 1)   /* the backend sent a FIN */
#define MAPLB_CT_F_RST (1 << 2)         /* either side sent an RST */
#define MAPLB_CT_CLOSE_TIMEOUT 10       /* seconds, as Cilium's close timeout */

struct ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 direction; /* MAPLB_CT_* */
	__u8 pad[2];
};

struct ct4_entry {
	__u64 last_seen;      /* ns, target clock: when the flow was (re)balanced or closed; the LRU tracks use */
	__u32 backend_id;
	__be32 frontend_addr; /* the daddr the client used (differs from rev-NAT for wildcard NodePorts) */
	__u32 rev_nat_id;
	__u8 flags;           /* MAPLB_CT_F_* */
	__u8 pad[3];
	/* Source NAT (snat.h); snat_addr 0.0.0.0: the flow keeps its source. SERVICE entry: the source
	 * the client's packets get (the node's SNAT address, the port allocated to the flow). REPLY
	 * entry of such a flow (keyed backend -> node:port): the client, restored as the destination. */
	__be32 snat_addr;
	__be16 snat_port;
	__u16 snat_pad;
};

/* ---- lb4_frags: LRU_HASH lb4_frag_key -> lb4_frag_ports -----------------------------------------
 * Cilium's fragment tracking: only the first fragment of a datagram carries the ports, so it
 * records them under the datagram's identity, and the later fragments look them up to follow the
 * same flow (keys as the fragments arrive, before any rewrite). */

struct lb4_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id; /* the IPv4 identification */
	__u8 proto;
	__u8 pad;
};

struct lb4_frag_ports {
	__be16 sport;
	__be16 dport;
};

/* ---- lb4_affinity: LRU_HASH lb4_affinity_key -> lb4_affinity_entry ----------------------------- */

struct lb4_affinity_key {
	__be32 client;
	__u32 rev_nat_id;
};

struct lb4_affinity_entry {
	__u64 last_used; /* ns */
	__u32 backend_id;
	__u32 pad;
};

/* ---- lb4_reverse_sk: LRU_HASH lb4_sock_key -> lb4_sock_revnat ---------------------------------
 * Socket-level LB (datapath/sock.h), as Cilium's lb4_reverse_sk: a socket whose connect() or
 * sendmsg() went to a backend remembers the frontend under (socket cookie, backend), so that
 * recvmsg() and getpeername() show the frontend again. */

struct lb4_sock_key {
	__u64 cookie;   /* bpf_get_socket_cookie */
	__be32 address; /* the backend the socket talks to */
	__be16 port;
	__u16 pad;
};

struct lb4_sock_revnat {
	__be32 address; /* the frontend the application asked for */
	__be16 port;
	__u16 pad;
	__u32 rev_nat_id; /* still in lb4_reverse_nat, or the frontend is gone */
};

/* ---- IPv6: the lb6 tables, beside the lb4 ones ------------------------------------------------
 * The same meanings as their lb4 counterparts, with 16-byte addresses (struct maplb_in6).
 * Backend ids and rev-NAT ids are ONE id space across both families, as Cilium's backend and
 * service ids: an id is an IPv4 backend (its lb4_backends row is used) or an IPv6 one (its
 * lb6_backends row), never both; lb4_backend_stats counts either. Values without an address are
 * shared: lb6_services holds struct lb4_service, lb6_maglev __u32 backend ids (its own flat
 * array: the compiler places each IPv6 frontend's table in it), lb6_affinity lb4_affinity_entry,
 * lb6_frags lb4_frag_ports. maplb_config carries the IPv6 cluster CIDR. */

/* lb6_services: HASH lb6_key -> lb4_service. address :: is the NodePort wildcard (daddr must be in
 * node_addrs6). */
struct lb6_key {
	struct maplb_in6 address;
	__be16 dport;
	__u16 backend_slot;
	__u8 proto;
	__u8 scope;
	__u8 pad[2];
};

/* lb6_backends: ARRAY __u32 id -> lb6_backend, rows as lb4_backends' (proto 0: empty). */
struct lb6_backend {
	struct maplb_in6 address;
	__be16 port;
	__u8 proto;
	__u8 flags; /* MAPLB_BACKEND_* */
};

/* lb6_reverse_nat: HASH __u32 rev_nat_id -> lb6_reverse_nat; address :: as lb4's 0.0.0.0. */
struct lb6_reverse_nat {
	struct maplb_in6 address;
	__be16 port;
	__u16 pad;
};

/* lb6_source_range: LPM_TRIE lb6_src_range_key -> __u8 (1); prefixlen counts the 32 bits of
 * rev_nat_id before the address (MAPLB_SRC_RANGE_PREFIX_BASE): a /64 is prefixlen 96. */
struct lb6_src_range_key {
	__u32 prefixlen;
	__u32 rev_nat_id;
	struct maplb_in6 addr;
};

/* node_addrs6: HASH struct maplb_in6 -> __u8 (1): the node's own IPv6 addresses, for NodePort wildcards. */

/* ct6: LRU_HASH ct6_key -> ct6_entry, as ct4 (MAPLB_CT_*, MAPLB_CT_F_*), source NAT included
 * (snat_addr/snat_port as ct4_entry's; :: = not source-NATed). */
struct ct6_key {
	struct maplb_in6 saddr;
	struct maplb_in6 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 direction; /* MAPLB_CT_* */
	__u8 pad[2];
};

struct ct6_entry {
	__u64 last_seen;
	__u32 backend_id;
	__u32 rev_nat_id;
	struct maplb_in6 frontend_addr;
	struct maplb_in6 snat_addr;
	__be16 snat_port;
	__u8 flags; /* MAPLB_CT_F_* */
	__u8 pad[5];
};

/* lb6_affinity: LRU_HASH lb6_affinity_key -> lb4_affinity_entry. */
struct lb6_affinity_key {
	struct maplb_in6 client;
	__u32 rev_nat_id;
};

/* lb6_frags: LRU_HASH lb6_frag_key -> lb4_frag_ports, keyed by the fragment header's 32-bit
 * identification. proto is the upper-layer protocol (what follows the fragment header). */
struct lb6_frag_key {
	struct maplb_in6 saddr;
	struct maplb_in6 daddr;
	__be32 id;
	__u8 proto;
	__u8 pad[3];
};

/* lb6_reverse_sk: LRU_HASH lb6_sock_key -> lb6_sock_revnat, lb4_reverse_sk's IPv6 twin (an AF_INET6
 * socket talking to an IPv4-mapped address uses lb4_reverse_sk: datapath/sock.h). */
struct lb6_sock_key {
	__u64 cookie;            /* bpf_get_socket_cookie */
	struct maplb_in6 address; /* the backend the socket talks to */
	__be16 port;
	__u8 pad[6];
};

struct lb6_sock_revnat {
	struct maplb_in6 address; /* the frontend the application asked for */
	__be16 port;
	__u16 pad;
	__u32 rev_nat_id; /* still in lb6_reverse_nat, or the frontend is gone */
};

/* ---- Counters --------------------------------------------------------------------------------- */

/* What happened to a packet. */
enum maplb_verdict {
	MAPLB_VERDICT_PASS = 0,   /* untouched */
	MAPLB_VERDICT_DNAT = 1,   /* destination rewritten to a backend */
	MAPLB_VERDICT_REVNAT = 2, /* reply: source rewritten back to the frontend */
	MAPLB_VERDICT_DROP = 3,
	MAPLB_VERDICT__MAX
};

/* Why. Only a packet known to be ours (its destination and port name a frontend, or it belongs to
 * a tracked flow) is ever dropped: a node datapath must not break traffic it does not balance.
 * So the parse reasons below come with PASS when the packet is not for a frontend (or its ports
 * cannot be read, as then nothing says it is), and with DROP when it is; the others have the one
 * verdict given in their comment. */
enum maplb_reason {
	MAPLB_REASON_OK = 0,               /* DNAT or REVNAT: nothing went wrong */
	MAPLB_REASON_NOT_IP = 1,           /* PASS: neither the IPv4 nor the IPv6 ethertype (ARP, VLAN, ...) */
	MAPLB_REASON_NOT_TCP_UDP = 2,      /* PASS: IGMP, SCTP, ICMP other than an error about a flow */
	MAPLB_REASON_NO_SERVICE = 3,       /* PASS: no frontend and no reply flow */
	MAPLB_REASON_NO_BACKEND = 4,       /* DROP: the service has no (non-terminating) backends */
	MAPLB_REASON_SOURCE_RANGE = 5,     /* DROP: source outside loadBalancerSourceRanges */
	MAPLB_REASON_BACKEND_MISSING = 6,  /* DROP: a slot or Maglev row names an empty lb4_backends row */
	MAPLB_REASON_TRUNC_ETH = 7,        /* PASS: frame shorter than an Ethernet header */
	MAPLB_REASON_TRUNC_IP = 8,         /* PASS: IPv4 ethertype, buffer shorter than 20 bytes of IP */
	MAPLB_REASON_BAD_IP_VERSION = 9,   /* PASS: IPv4 ethertype but version != 4 */
	MAPLB_REASON_BAD_IHL = 10,         /* PASS: IHL < 5 (no place for the ports) */
	MAPLB_REASON_IP_OPTIONS = 11,      /* PASS/DROP: IHL*4 (the options) runs past the total length */
	MAPLB_REASON_FRAGMENT = 12,        /* PASS: a later fragment whose first fragment was not tracked */
	MAPLB_REASON_BAD_TOTAL_LEN = 13,   /* PASS/DROP: total length < 20, or longer than the buffer */
	MAPLB_REASON_TRUNC_L4 = 14,        /* PASS/DROP: TCP (20) or UDP (8) header cut by length or buffer */
	MAPLB_REASON_ICMP_ERROR = 15,      /* REVNAT/DNAT: an ICMP error about a tracked flow, quote included */
	MAPLB_REASON_CTX_ERROR = 16,       /* DROP: a TC helper failed (pulling headers, rewriting) */
	MAPLB_REASON_SNAT_NO_PORT = 17,    /* DROP: the flow needs SNAT and every port probed is taken */
	/* IPv6 (its TRUNC_IP, BAD_IP_VERSION, BAD_TOTAL_LEN, TRUNC_L4, FRAGMENT are the ones above). */
	MAPLB_REASON_EXT_HDR_CHAIN = 18,   /* PASS: more extension headers (or bytes of them) than the parser walks */
	MAPLB_REASON_TRUNC_EXT_HDR = 19,   /* PASS: an extension header cut by the payload length or buffer */
	MAPLB_REASON__MAX
};

/* maplb_counters: PERCPU_ARRAY __u32 -> __u64 packets, one row per (verdict, reason) pair, so a
 * packet costs one counter update. Per-CPU: no atomic operations on the fast path; readers sum the
 * CPUs (the host library's lookup does). */
#define MAPLB_COUNTER(verdict, reason) ((verdict) * MAPLB_REASON__MAX + (reason))
#define MAPLB_COUNTER__MAX (MAPLB_VERDICT__MAX * MAPLB_REASON__MAX)

/* lb4_backend_stats: PERCPU_ARRAY __u32 backend_id -> lb4_backend_stats (packets DNATed to it),
 * rows as lb4_backends' (all zeros: no counts). Backend ids are one space across both families,
 * so this one array counts IPv6 backends too (lb6_backends' rows): stats do not depend on the
 * family. */
struct lb4_backend_stats {
	__u64 packets;
	__u64 bytes; /* whole frames, Ethernet header included */
};

/* ---- The maps, in one list --------------------------------------------------------------------
 * X(name, type, key size, value size, default max_entries). The order is the map id used by the
 * host library's API; src/datapath/abi.ts keeps the same order (checked by the layout test). */

#define MAPLB_MAPS(X)                                                                            \
	X(lb4_services, BPF_MAP_TYPE_HASH, sizeof(struct lb4_key), sizeof(struct lb4_service), 65536) \
	X(lb4_backends, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct lb4_backend), 65536)         \
	X(lb4_reverse_nat, BPF_MAP_TYPE_HASH, sizeof(__u32), sizeof(struct lb4_reverse_nat), 65536)   \
	X(lb4_maglev, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(__u32), 1048576)                      \
	X(lb4_source_range, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct lb4_src_range_key), sizeof(__u8), 16384) \
	X(node_addrs, BPF_MAP_TYPE_HASH, sizeof(__be32), sizeof(__u8), 256)                           \
	X(maplb_config, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct maplb_config), 1)            \
	X(ct4, BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct4_key), sizeof(struct ct4_entry), 262144)       \
	X(lb4_affinity, BPF_MAP_TYPE_LRU_HASH, sizeof(struct lb4_affinity_key),                       \
	  sizeof(struct lb4_affinity_entry), 65536)                                                    \
	X(maplb_counters, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(__u64), MAPLB_COUNTER__MAX) \
	X(lb4_backend_stats, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(struct lb4_backend_stats), \
	  65536)                                                                                       \
	X(lb4_frags, BPF_MAP_TYPE_LRU_HASH, sizeof(struct lb4_frag_key), sizeof(struct lb4_frag_ports), \
	  8192)                                                                                        \
	X(lb4_reverse_sk, BPF_MAP_TYPE_LRU_HASH, sizeof(struct lb4_sock_key),                         \
	  sizeof(struct lb4_sock_revnat), 65536)                                                       \
	X(lb6_services, BPF_MAP_TYPE_HASH, sizeof(struct lb6_key), sizeof(struct lb4_service), 65536) \
	X(lb6_backends, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct lb6_backend), 65536)         \
	X(lb6_reverse_nat, BPF_MAP_TYPE_HASH, sizeof(__u32), sizeof(struct lb6_reverse_nat), 65536)   \
	X(lb6_maglev, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(__u32), 1048576)                      \
	X(lb6_source_range, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct lb6_src_range_key), sizeof(__u8), 16384) \
	X(node_addrs6, BPF_MAP_TYPE_HASH, sizeof(struct maplb_in6), sizeof(__u8), 256)          \
	X(ct6, BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct6_key), sizeof(struct ct6_entry), 131072)       \
	X(lb6_affinity, BPF_MAP_TYPE_LRU_HASH, sizeof(struct lb6_affinity_key),                       \
	  sizeof(struct lb4_affinity_entry), 65536)                                                    \
	X(lb6_frags, BPF_MAP_TYPE_LRU_HASH, sizeof(struct lb6_frag_key), sizeof(struct lb4_frag_ports), \
	  8192)                                                                                        \
	X(lb6_reverse_sk, BPF_MAP_TYPE_LRU_HASH, sizeof(struct lb6_sock_key),                         \
	  sizeof(struct lb6_sock_revnat), 65536)

enum maplb_map_id {
#define MAPLB_MAP_ENUM(name, type, ksz, vsz, max) MAPLB_MAP_##name,
	MAPLB_MAPS(MAPLB_MAP_ENUM)
#undef MAPLB_MAP_ENUM
	MAPLB_MAP__COUNT
};

/* The arrays indexed by backend id. The host library's API gives them a hash map's meaning: a row
 * of zeros is absent (lookup -ENOENT, delete -ENOENT), delete writes zeros, get_next_key skips
 * empty rows, BPF_NOEXIST/BPF_EXIST test the row. An id at or past max_entries is -E2BIG on
 * update, as the kernel's arrays say. */
#define MAPLB_ID_TABLE(id)                                                                         \
	((id) == MAPLB_MAP_lb4_backends || (id) == MAPLB_MAP_lb6_backends ||                        \
	 (id) == MAPLB_MAP_lb4_backend_stats)

/* ---- The kube-proxy chain evaluator (host library only) -----------------------------------------
 * kube-proxy's nat table as arrays: one ipt_rule per rule, grouped by chain; chains index into
 * them. The evaluator walks them the way netfilter walks the nat table for a new connection:
 * rule after rule, jumping and returning, until a terminating target. It is the O(n) baseline of
 * the benchmark and the iptables half of `maplb trace`. Addresses and ports in network order. */

#define MAPLB_IPT_TARGET_NONE 0       /* no -j: the rule only matches (counters) */
#define MAPLB_IPT_TARGET_JUMP 1       /* to jump_chain; its end returns here */
#define MAPLB_IPT_TARGET_RETURN 2
#define MAPLB_IPT_TARGET_DNAT 3       /* terminating: to_addr:to_port */
#define MAPLB_IPT_TARGET_MARK 4       /* mark |= mark_value (MARK_XOR: ^=), then on */
#define MAPLB_IPT_TARGET_MASQUERADE 5 /* terminating */
#define MAPLB_IPT_TARGET_ACCEPT 6     /* terminating; also what falling off the entry chain means */
#define MAPLB_IPT_TARGET_DROP 7       /* terminating */
#define MAPLB_IPT_TARGET_REJECT 8     /* terminating */

#define MAPLB_IPT_F_INV_SRC (1 << 0)      /* ! -s */
#define MAPLB_IPT_F_INV_DST (1 << 1)      /* ! -d */
#define MAPLB_IPT_F_DST_LOCAL (1 << 2)    /* -m addrtype --dst-type LOCAL */
#define MAPLB_IPT_F_SRC_LOCAL (1 << 3)    /* -m addrtype --src-type LOCAL */
#define MAPLB_IPT_F_STATISTIC (1 << 4)    /* -m statistic --mode random --probability */
#define MAPLB_IPT_F_RECENT_CHECK (1 << 5) /* -m recent --rcheck --seconds N (source address) */
#define MAPLB_IPT_F_RECENT_SET (1 << 6)   /* -m recent --set */
#define MAPLB_IPT_F_MARK (1 << 7)         /* -m mark --mark value/mask */
#define MAPLB_IPT_F_INV_MARK (1 << 8)
#define MAPLB_IPT_F_MARK_XOR (1 << 9)     /* MARK target: --xor-mark instead of --or-mark */

struct ipt_rule {
	__be32 src_addr, src_mask; /* -s, already masked; mask 0 = any */
	__be32 dst_addr, dst_mask; /* -d */
	__u32 flags;               /* MAPLB_IPT_F_* */
	__u32 probability;         /* statistic: round(p * 2^31), as the kernel stores it */
	__u32 mark_value, mark_mask;
	__u32 recent_list;         /* recent: which --name list */
	__u32 recent_seconds;      /* recent --rcheck --seconds */
	__u32 jump_chain;          /* JUMP: chain index */
	__be32 to_addr;            /* DNAT */
	__be16 to_port;            /* DNAT */
	__be16 dport;              /* --dport; 0 = any */
	__u8 proto;                /* -p; 0 = any */
	__u8 target;               /* MAPLB_IPT_TARGET_* */
	__u8 pad[2];
};

struct ipt_chain {
	__u32 first; /* index of its first rule */
	__u32 count;
};

struct ipt_packet {
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u8 proto;
	__u8 pad[3];
};

struct ipt_result {
	__be32 to_addr;        /* DNAT */
	__u32 rules_evaluated; /* every rule looked at, matched or not */
	__u32 path_len;        /* rules that matched (may exceed the path buffer given) */
	__be16 to_port;
	__u8 target;           /* MAPLB_IPT_TARGET_*: the terminating one, or ACCEPT off the end */
	__u8 pad;
};

/* ---- Layout checks: the C side of the alignchecker ---------------------------------------------- */

_Static_assert(sizeof(struct lb4_key) == 12, "lb4_key");
_Static_assert(sizeof(struct lb4_service) == 24, "lb4_service");
_Static_assert(sizeof(struct lb4_backend) == 8, "lb4_backend");
_Static_assert(sizeof(struct lb4_reverse_nat) == 8, "lb4_reverse_nat");
_Static_assert(sizeof(struct lb4_src_range_key) == 12, "lb4_src_range_key");
_Static_assert(sizeof(struct maplb_config) == 56, "maplb_config");
_Static_assert(sizeof(struct ct4_key) == 16, "ct4_key");
_Static_assert(sizeof(struct ct4_entry) == 32, "ct4_entry");
_Static_assert(sizeof(struct lb4_affinity_key) == 8, "lb4_affinity_key");
_Static_assert(sizeof(struct lb4_affinity_entry) == 16, "lb4_affinity_entry");
_Static_assert(sizeof(struct lb4_backend_stats) == 16, "lb4_backend_stats");
_Static_assert(sizeof(struct lb4_frag_key) == 12, "lb4_frag_key");
_Static_assert(sizeof(struct lb4_frag_ports) == 4, "lb4_frag_ports");
_Static_assert(sizeof(struct lb4_sock_key) == 16, "lb4_sock_key");
_Static_assert(sizeof(struct lb4_sock_revnat) == 12, "lb4_sock_revnat");
_Static_assert(sizeof(struct maplb_in6) == 16, "maplb_in6");
_Static_assert(sizeof(struct lb6_key) == 24, "lb6_key");
_Static_assert(sizeof(struct lb6_backend) == 20, "lb6_backend");
_Static_assert(sizeof(struct lb6_reverse_nat) == 20, "lb6_reverse_nat");
_Static_assert(sizeof(struct lb6_src_range_key) == 24, "lb6_src_range_key");
_Static_assert(sizeof(struct ct6_key) == 40, "ct6_key");
_Static_assert(sizeof(struct ct6_entry) == 56, "ct6_entry");
_Static_assert(sizeof(struct lb6_affinity_key) == 20, "lb6_affinity_key");
_Static_assert(sizeof(struct lb6_frag_key) == 40, "lb6_frag_key");
_Static_assert(sizeof(struct lb6_sock_key) == 32, "lb6_sock_key");
_Static_assert(sizeof(struct lb6_sock_revnat) == 24, "lb6_sock_revnat");
_Static_assert(sizeof(struct ipt_rule) == 56, "ipt_rule");
_Static_assert(sizeof(struct ipt_chain) == 8, "ipt_chain");
_Static_assert(sizeof(struct ipt_packet) == 16, "ipt_packet");
_Static_assert(sizeof(struct ipt_result) == 16, "ipt_result");

#endif /* MAPLB_ABI_H */
