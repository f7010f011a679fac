/* ---- kube-proxy chain evaluator (host library only): the O(n) baseline --------------------------
 * The nat table printed by `maplb iptables`, parsed in TypeScript (src/iptables-eval/parse.ts) into
 * rules grouped by chain, walked here one rule after another the way netfilter's ipt_do_table walks
 * them: jump into user chains, fall back to the caller at a chain's end, stop at DNAT. */

#define MAPLB_IPT_TARGET_NONE 0       /* no -j: the rule only counts, the walk goes on */
#define MAPLB_IPT_TARGET_JUMP 1       /* to jump_chain; back to the next rule at its end */
#define MAPLB_IPT_TARGET_RETURN 2
#define MAPLB_IPT_TARGET_DNAT 3       /* terminating: to_addr:to_port */
#define MAPLB_IPT_TARGET_MARK 4       /* not terminating: mark |= or ^= mark_value */
#define MAPLB_IPT_TARGET_MASQUERADE 5 /* terminating */
#define MAPLB_IPT_TARGET_ACCEPT 6     /* terminating; also the built-in chain's policy */
#define MAPLB_IPT_TARGET_DROP 7
#define MAPLB_IPT_TARGET_REJECT 8

#define MAPLB_IPT_F_INV_SRC (1 << 0)
#define MAPLB_IPT_F_INV_DST (1 << 1)
#define MAPLB_IPT_F_DST_LOCAL (1 << 2)   /* -m addrtype --dst-type LOCAL */
#define MAPLB_IPT_F_SRC_LOCAL (1 << 3)   /* -m addrtype --src-type LOCAL */
#define MAPLB_IPT_F_STATISTIC (1 << 4)   /* -m statistic --mode random --probability */
#define MAPLB_IPT_F_RECENT_CHECK (1 << 5)
#define MAPLB_IPT_F_RECENT_SET (1 << 6)
#define MAPLB_IPT_F_MARK (1 << 7)        /* -m mark --mark value/mask */
#define MAPLB_IPT_F_INV_MARK (1 << 8)
#define MAPLB_IPT_F_MARK_XOR (1 << 9)    /* MARK target: --xor-mark (else --or-mark) */

struct ipt_rule {
	__be32 src_addr;
	__be32 src_mask;      /* 0 = any source */
	__be32 dst_addr;
	__be32 dst_mask;      /* 0 = any destination */
	__be32 to_addr;       /* DNAT */
	__be16 to_port;       /* DNAT */
	__be16 dport;         /* 0 = any */
	__u32 probability;    /* statistic: round(p * 2^31), as the kernel stores it */
	__u32 mark_value;     /* mark match, or the MARK target's operand */
	__u32 mark_mask;
	__u32 recent_seconds; /* recent --rcheck --seconds */
	__u16 jump_chain;
	__u16 recent_list;    /* index of the recent list's name */
	__u16 flags;          /* MAPLB_IPT_F_* */
	__u8 proto;           /* 0 = any */
	__u8 target;          /* MAPLB_IPT_TARGET_* */
};

/* Rules [first, first + count) belong to the chain. */
struct ipt_chain {
	__u32 first;
	__u32 count;
};

struct ipt_packet {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct ipt_result {
	__be32 to_addr;          /* DNAT destination, 0 when none */
	__be16 to_port;
	__u8 target;             /* the terminating target, or ACCEPT for the policy */
	__u8 pad;
	__u32 rules_evaluated;   /* every rule whose matches were checked */
	__u32 path_len;          /* rules that matched, recorded in the caller's path array */
};

_Static_assert(sizeof(struct ipt_rule) == 48, "ipt_rule");
_Static_assert(sizeof(struct ipt_chain) == 8, "ipt_chain");
_Static_assert(sizeof(struct ipt_packet) == 16, "ipt_packet");
_Static_assert(sizeof(struct ipt_result) == 16, "ipt_result");
