/* The kube-proxy chain evaluator: netfilter's nat-table walk for a new connection, over the rules
 * `maplb iptables` prints (encoded by src/iptables-eval/encode.ts). One rule after another:
 * every rule looked at counts, a matching rule's target decides what happens next. */
#include "maplb_abi.h"
#include "maplb_api.h"

#include <bpf/bpf_endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than any kube-proxy table (KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP, or via FW/EXT chains);
 * a deeper walk means a jump loop. */
#define MAX_DEPTH 32

/* The `recent` module's source-address lists (session affinity): address -> last --set time. */
struct recent_entry {
	__be32 addr;
	__u32 used;
	__u64 seen;
};
struct recent_list {
	struct recent_entry *slots;
	__u32 cap, count; /* cap: a power of two; open addressing, linear probing */
};

struct maplb_ipt {
	struct ipt_rule *rules;
	struct ipt_chain *chains;
	__u32 rule_count, chain_count, entry;
	__be32 *local;
	__u32 local_count;
	struct recent_list *recent;
	__u32 recent_count;
	__u64 rng; /* xorshift64*: statistic --mode random, reproducible from the seed */
};

void maplb_ipt_close(struct maplb_ipt *ipt)
{
	if (!ipt)
		return;
	for (__u32 i = 0; i < ipt->recent_count; i++)
		free(ipt->recent[i].slots);
	free(ipt->recent);
	free(ipt->rules);
	free(ipt->chains);
	free(ipt->local);
	free(ipt);
}

static int validate(const struct ipt_rule *rules, __u32 rule_count, const struct ipt_chain *chains,
		    __u32 chain_count, __u32 entry)
{
	if (entry >= chain_count)
		return -EINVAL;
	for (__u32 c = 0; c < chain_count; c++)
		if (chains[c].first > rule_count || chains[c].count > rule_count - chains[c].first)
			return -EINVAL;
	for (__u32 r = 0; r < rule_count; r++) {
		if (rules[r].target > MAPLB_IPT_TARGET_REJECT)
			return -EINVAL;
		if (rules[r].target == MAPLB_IPT_TARGET_JUMP && rules[r].jump_chain >= chain_count)
			return -EINVAL;
	}
	return 0;
}

static void *copy(const void *src, size_t n, size_t size)
{
	void *dst = malloc(n ? n * size : 1);
	if (dst && n)
		memcpy(dst, src, n * size);
	return dst;
}

int maplb_ipt_open(const struct ipt_rule *rules, __u32 rule_count, const struct ipt_chain *chains,
		   __u32 chain_count, __u32 entry, const __be32 *local, __u32 local_count,
		   __u64 seed, struct maplb_ipt **out)
{
	int err = validate(rules, rule_count, chains, chain_count, entry);
	if (err)
		return err;
	struct maplb_ipt *ipt = calloc(1, sizeof(*ipt));
	if (!ipt)
		return -ENOMEM;
	ipt->rules = copy(rules, rule_count, sizeof(*rules));
	ipt->chains = copy(chains, chain_count, sizeof(*chains));
	ipt->local = copy(local, local_count, sizeof(*local));
	ipt->rule_count = rule_count;
	ipt->chain_count = chain_count;
	ipt->entry = entry;
	ipt->local_count = local_count;
	ipt->rng = seed ? seed : 1;
	for (__u32 r = 0; r < rule_count; r++)
		if ((rules[r].flags & (MAPLB_IPT_F_RECENT_CHECK | MAPLB_IPT_F_RECENT_SET)) &&
		    rules[r].recent_list >= ipt->recent_count)
			ipt->recent_count = rules[r].recent_list + 1;
	ipt->recent = calloc(ipt->recent_count ? ipt->recent_count : 1, sizeof(*ipt->recent));
	if (!ipt->rules || !ipt->chains || !ipt->local || !ipt->recent) {
		maplb_ipt_close(ipt);
		return -ENOMEM;
	}
	*out = ipt;
	return 0;
}

/* ---- matches ------------------------------------------------------------------------------------ */

static int is_local(const struct maplb_ipt *ipt, __be32 addr)
{
	if ((bpf_ntohl(addr) >> 24) == 127)
		return 1;
	for (__u32 i = 0; i < ipt->local_count; i++)
		if (ipt->local[i] == addr)
			return 1;
	return 0;
}

/* The kernel's statistic match: a 31-bit random number below round(p * 2^31). */
static int random_below(struct maplb_ipt *ipt, __u32 probability)
{
	ipt->rng ^= ipt->rng >> 12;
	ipt->rng ^= ipt->rng << 25;
	ipt->rng ^= ipt->rng >> 27;
	__u32 r = (__u32)((ipt->rng * 0x2545f4914f6cdd1dull) >> 32) & 0x7fffffff;
	return r < probability;
}

static struct recent_entry *recent_find(struct recent_list *list, __be32 addr)
{
	if (!list->cap)
		return NULL;
	for (__u32 i = bpf_ntohl(addr) * 2654435761u & (list->cap - 1);; i = (i + 1) & (list->cap - 1)) {
		struct recent_entry *e = &list->slots[i];
		if (!e->used || e->addr == addr)
			return e;
	}
}

static int recent_set(struct recent_list *list, __be32 addr, __u64 now)
{
	if ((list->count + 1) * 2 > list->cap) { /* keep it at most half full */
		struct recent_list grown = { .cap = list->cap ? list->cap * 2 : 64 };
		grown.slots = calloc(grown.cap, sizeof(*grown.slots));
		if (!grown.slots)
			return -ENOMEM;
		for (__u32 i = 0; i < list->cap; i++)
			if (list->slots[i].used)
				*recent_find(&grown, list->slots[i].addr) = list->slots[i];
		grown.count = list->count;
		free(list->slots);
		*list = grown;
	}
	struct recent_entry *e = recent_find(list, addr);
	if (!e->used) {
		e->used = 1;
		e->addr = addr;
		list->count++;
	}
	e->seen = now;
	return 0;
}

/* -m recent --rcheck --seconds N: the source was --set within the last N seconds. */
static int recent_check(struct maplb_ipt *ipt, const struct ipt_rule *r, __be32 addr, __u64 now)
{
	struct recent_entry *e = recent_find(&ipt->recent[r->recent_list], addr);
	return e && e->used && (r->recent_seconds == 0 || now - e->seen <= r->recent_seconds);
}

static int matches(struct maplb_ipt *ipt, const struct ipt_rule *r, const struct ipt_packet *p,
		   __u32 mark, __u64 now)
{
	if (((p->saddr & r->src_mask) == r->src_addr) == !!(r->flags & MAPLB_IPT_F_INV_SRC))
		return 0;
	if (((p->daddr & r->dst_mask) == r->dst_addr) == !!(r->flags & MAPLB_IPT_F_INV_DST))
		return 0;
	if (r->proto && r->proto != p->proto)
		return 0;
	if (r->dport && r->dport != p->dport)
		return 0;
	if ((r->flags & MAPLB_IPT_F_DST_LOCAL) && !is_local(ipt, p->daddr))
		return 0;
	if ((r->flags & MAPLB_IPT_F_SRC_LOCAL) && !is_local(ipt, p->saddr))
		return 0;
	if ((r->flags & MAPLB_IPT_F_MARK) &&
	    ((mark & r->mark_mask) == r->mark_value) == !!(r->flags & MAPLB_IPT_F_INV_MARK))
		return 0;
	if ((r->flags & MAPLB_IPT_F_RECENT_CHECK) && !recent_check(ipt, r, p->saddr, now))
		return 0;
	/* statistic last: like netfilter, only a rule that got this far draws a random number */
	if ((r->flags & MAPLB_IPT_F_STATISTIC) && !random_below(ipt, r->probability))
		return 0;
	return 1;
}

/* ---- the walk ------------------------------------------------------------------------------------ */

static int walk(struct maplb_ipt *ipt, const struct ipt_packet *p, __u64 now, struct ipt_result *res,
		__u32 *path, __u32 path_cap)
{
	struct {
		__u32 chain, next;
	} stack[MAX_DEPTH];
	__u32 depth = 0, chain = ipt->entry, next = 0, mark = 0;
	memset(res, 0, sizeof(*res));

	for (;;) {
		const struct ipt_chain *c = &ipt->chains[chain];
		if (next >= c->count) { /* end of a chain: back to the caller, or off the entry chain */
			if (depth == 0) {
				res->target = MAPLB_IPT_TARGET_ACCEPT;
				return 0;
			}
			depth--;
			chain = stack[depth].chain;
			next = stack[depth].next;
			continue;
		}
		__u32 index = c->first + next++;
		const struct ipt_rule *r = &ipt->rules[index];
		res->rules_evaluated++;
		if (!matches(ipt, r, p, mark, now))
			continue;
		if (path && res->path_len < path_cap)
			path[res->path_len] = index;
		res->path_len++;
		if ((r->flags & MAPLB_IPT_F_RECENT_SET) &&
		    recent_set(&ipt->recent[r->recent_list], p->saddr, now))
			return -ENOMEM;
		switch (r->target) {
		case MAPLB_IPT_TARGET_NONE:
			break;
		case MAPLB_IPT_TARGET_MARK:
			mark = r->flags & MAPLB_IPT_F_MARK_XOR ? mark ^ r->mark_value : mark | r->mark_value;
			break;
		case MAPLB_IPT_TARGET_JUMP:
			if (depth == MAX_DEPTH)
				return -ELOOP;
			stack[depth].chain = chain;
			stack[depth].next = next;
			depth++;
			chain = r->jump_chain;
			next = 0;
			break;
		case MAPLB_IPT_TARGET_RETURN:
			next = ipt->chains[chain].count; /* as if the chain ended here */
			break;
		default: /* DNAT, MASQUERADE, ACCEPT, DROP, REJECT: the walk ends */
			res->target = r->target;
			if (r->target == MAPLB_IPT_TARGET_DNAT) {
				res->to_addr = r->to_addr;
				res->to_port = r->to_port;
			}
			return 0;
		}
	}
}

int maplb_ipt_eval(struct maplb_ipt *ipt, const struct ipt_packet *packets, __u32 n,
		   __u64 now_seconds, struct ipt_result *results, __u32 *path, __u32 path_cap)
{
	for (__u32 i = 0; i < n; i++) {
		/* A path is only recorded for the first packet: it explains one packet at a time. */
		int err = walk(ipt, &packets[i], now_seconds, &results[i], i == 0 ? path : NULL, path_cap);
		if (err)
			return err;
	}
	return 0;
}
