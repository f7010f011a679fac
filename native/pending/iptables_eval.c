/* The kube-proxy chain evaluator: netfilter's nat-table walk, done in user space over the rules
 * `maplb iptables` prints. It is the benchmark's O(n) baseline in the same process as maplb's O(1)
 * pipeline, and `maplb trace` uses it to show a packet's path through kube-proxy's chains.
 *
 * Like ipt_do_table: rules are checked one after another; a matching jump enters the chain and the
 * walk comes back to the next rule at the chain's end (or at RETURN); DNAT, MASQUERADE, ACCEPT, DROP
 * and REJECT end the walk; MARK changes the packet's mark and goes on. The random choice of
 * `-m statistic` uses the kernel's comparison (random & 0x7fffffff) < round(p * 2^31), on a seeded
 * generator, so runs are repeatable. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maplb_host.h"

#define MAX_DEPTH 32      /* netfilter's own limit on nested jumps is far above kube-proxy's 4 */
#define RECENT_SLOTS 4096 /* `-m recent` memory: (list, source) -> last seen */

struct recent_slot {
	__u32 list_plus_one; /* 0 = empty */
	__be32 addr;
	__u64 seen_s;
};

struct ipt_eval {
	struct ipt_rule *rules;
	struct ipt_chain *chains;
	__u32 nchains;
	__u16 entry;
	__be32 *local;
	__u32 nlocal;
	__u64 rng;
	struct recent_slot recent[RECENT_SLOTS];
};

static __u32 next_random(struct ipt_eval *e)
{
	/* xorshift64*: small, fast and good enough for a coin flip per rule */
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return (__u32)((e->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static int is_local(const struct ipt_eval *e, __be32 addr)
{
	for (__u32 i = 0; i < e->nlocal; i++)
		if (e->local[i] == addr)
			return 1;
	return 0;
}

static struct recent_slot *recent_find(struct ipt_eval *e, __u32 list, __be32 addr, int create)
{
	__u32 h = (addr * 2654435761u) ^ (list * 40503u);

	for (__u32 probe = 0; probe < RECENT_SLOTS; probe++) {
		struct recent_slot *s = &e->recent[(h + probe) % RECENT_SLOTS];
		if (s->list_plus_one == list + 1 && s->addr == addr)
			return s;
		if (s->list_plus_one == 0) {
			if (!create)
				return NULL;
			s->list_plus_one = list + 1;
			s->addr = addr;
			return s;
		}
	}
	return create ? &e->recent[h % RECENT_SLOTS] : NULL; /* full: overwrite, as a bounded table must */
}

static int matches(struct ipt_eval *e, const struct ipt_rule *r, const struct ipt_packet *p, __u32 mark,
		   __u64 now_s)
{
	if (r->proto && r->proto != p->proto)
		return 0;
	if (r->dst_mask && (((p->daddr & r->dst_mask) == r->dst_addr) == !!(r->flags & MAPLB_IPT_F_INV_DST)))
		return 0;
	if (r->src_mask && (((p->saddr & r->src_mask) == r->src_addr) == !!(r->flags & MAPLB_IPT_F_INV_SRC)))
		return 0;
	if (r->dport && r->dport != p->dport)
		return 0;
	if ((r->flags & MAPLB_IPT_F_DST_LOCAL) && !is_local(e, p->daddr))
		return 0;
	if ((r->flags & MAPLB_IPT_F_SRC_LOCAL) && !is_local(e, p->saddr))
		return 0;
	if ((r->flags & MAPLB_IPT_F_MARK) &&
	    (((mark & r->mark_mask) == r->mark_value) == !!(r->flags & MAPLB_IPT_F_INV_MARK)))
		return 0;
	if (r->flags & MAPLB_IPT_F_RECENT_CHECK) {
		struct recent_slot *s = recent_find(e, r->recent_list, p->saddr, 0);
		if (!s || (r->recent_seconds && now_s - s->seen_s > r->recent_seconds))
			return 0;
	}
	if (r->flags & MAPLB_IPT_F_RECENT_SET)
		recent_find(e, r->recent_list, p->saddr, 1)->seen_s = now_s;
	if ((r->flags & MAPLB_IPT_F_STATISTIC) && (next_random(e) & 0x7fffffff) >= r->probability)
		return 0;
	return 1;
}

/* Walks one packet from the entry chain; records matched rule indices in path (if not NULL). */
static void walk(struct ipt_eval *e, const struct ipt_packet *p, __u64 now_s, struct ipt_result *res,
		 __u32 *path, __u32 path_cap)
{
	struct {
		__u32 next, end;
	} stack[MAX_DEPTH];
	__u32 sp = 0, mark = 0;
	__u32 i = e->chains[e->entry].first, end = i + e->chains[e->entry].count;

	memset(res, 0, sizeof(*res));
	res->target = MAPLB_IPT_TARGET_ACCEPT; /* the built-in chain's policy */
	for (;;) {
		if (i >= end) {
			if (sp == 0)
				return;
			sp--;
			i = stack[sp].next;
			end = stack[sp].end;
			continue;
		}
		const struct ipt_rule *r = &e->rules[i];
		res->rules_evaluated++;
		if (!matches(e, r, p, mark, now_s)) {
			i++;
			continue;
		}
		if (path && res->path_len < path_cap)
			path[res->path_len] = i;
		res->path_len++;
		switch (r->target) {
		case MAPLB_IPT_TARGET_NONE:
			i++;
			break;
		case MAPLB_IPT_TARGET_MARK:
			mark = (r->flags & MAPLB_IPT_F_MARK_XOR) ? mark ^ r->mark_value : mark | r->mark_value;
			i++;
			break;
		case MAPLB_IPT_TARGET_JUMP:
			if (sp == MAX_DEPTH || r->jump_chain >= e->nchains) {
				res->target = MAPLB_IPT_TARGET_DROP; /* as the kernel drops on a loop */
				return;
			}
			stack[sp].next = i + 1;
			stack[sp].end = end;
			sp++;
			i = e->chains[r->jump_chain].first;
			end = i + e->chains[r->jump_chain].count;
			break;
		case MAPLB_IPT_TARGET_RETURN:
			end = i; /* the chain ends here */
			break;
		case MAPLB_IPT_TARGET_DNAT:
			res->to_addr = r->to_addr;
			res->to_port = r->to_port ? r->to_port : p->dport;
			/* fallthrough */
		default:
			res->target = r->target;
			return;
		}
	}
}

int maplb_ipt_open(const struct ipt_rule *rules, __u32 nrules, const struct ipt_chain *chains, __u32 nchains,
		   __u16 entry, const __be32 *local, __u32 nlocal, __u64 seed, struct ipt_eval **out)
{
	struct ipt_eval *e;

	if (!out || !chains || entry >= nchains || (nrules && !rules) || (nlocal && !local))
		return -EINVAL;
	for (__u32 c = 0; c < nchains; c++)
		if ((__u64)chains[c].first + chains[c].count > nrules)
			return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->rules = malloc(sizeof(*rules) * (nrules ? nrules : 1));
	e->chains = malloc(sizeof(*chains) * nchains);
	e->local = malloc(sizeof(*local) * (nlocal ? nlocal : 1));
	if (!e->rules || !e->chains || !e->local) {
		maplb_ipt_close(e);
		return -ENOMEM;
	}
	memcpy(e->rules, rules, sizeof(*rules) * nrules);
	memcpy(e->chains, chains, sizeof(*chains) * nchains);
	memcpy(e->local, local, sizeof(*local) * nlocal);
	e->nchains = nchains;
	e->entry = entry;
	e->nlocal = nlocal;
	e->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
	*out = e;
	return 0;
}

void maplb_ipt_close(struct ipt_eval *e)
{
	if (!e)
		return;
	free(e->rules);
	free(e->chains);
	free(e->local);
	free(e);
}

int maplb_ipt_eval(struct ipt_eval *e, const struct ipt_packet *pkts, __u32 n, __u64 now_s,
		   struct ipt_result *results, __u32 *path, __u32 path_cap)
{
	if (!e || (n && (!pkts || !results)))
		return -EINVAL;
	for (__u32 k = 0; k < n; k++)
		walk(e, &pkts[k], now_s, &results[k], k == 0 ? path : NULL, path_cap);
	return 0;
}
