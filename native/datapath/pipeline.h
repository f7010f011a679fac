/* The maplb datapath, one pipeline for every target:
 *   parse -> conntrack -> service lookup -> scope -> source range -> backend choice -> [SNAT]
 *   -> DNAT -> count
 * and, for a reply of a tracked flow, reverse NAT (and reverse SNAT: snat.h). Written once as
 * static inline functions with no libc: the target's shim (bpf/shim.h or host/shim.h, included
 * first) supplies struct dp_env, dp_now(env) (ns; read only when a flow, an affinity entry or a
 * UDP flow's SNAT port is written or aged) and dp_lookup/dp_update/dp_delete on the maps named in
 * maplb_abi.h. */
#ifndef MAPLB_PIPELINE_H
#define MAPLB_PIPELINE_H

#include "maplb_abi.h"
#include "parse.h"
#include "conntrack.h"
#include "service.h"
#include "backend.h"
#include "nat.h"
#include "snat.h"
#include "counters.h"

struct dp_result {
	__u8 verdict; /* enum maplb_verdict */
	__u8 reason;  /* enum maplb_reason */
};

static __always_inline struct dp_result dp_done(struct dp_env *env, enum maplb_verdict verdict,
						enum maplb_reason reason)
{
	count_verdict(env, verdict, reason);
	struct dp_result r = { .verdict = verdict, .reason = reason };
	return r;
}

/* The verdict each parse reason stands for: not ours -> pass, malformed IPv4 -> drop. */
static __always_inline enum maplb_verdict verdict_of_parse(enum maplb_reason reason)
{
	return reason == MAPLB_REASON_NOT_IPV4 || reason == MAPLB_REASON_NOT_TCP_UDP ? MAPLB_VERDICT_PASS
										     : MAPLB_VERDICT_DROP;
}

static __always_inline struct dp_result dnat_to(struct dp_env *env, struct packet *pkt,
						const struct lb4_backend *backend, __u32 backend_id)
{
	dnat(pkt, backend);
	count_backend(env, backend_id, pkt->frame_len);
	return dp_done(env, MAPLB_VERDICT_DNAT, MAPLB_REASON_OK);
}

/* An established flow: its recorded backend, if that backend still exists (terminating or not). */
static __always_inline int established(struct dp_env *env, struct packet *pkt,
				       const struct flow4 *f, struct dp_result *out)
{
	struct ct4_entry *ct = ct_lookup(env, f, MAPLB_CT_SERVICE);
	if (!ct)
		return 0;
	__u32 id = ct->backend_id;
	struct lb4_backend *backend = dp_lookup(env, lb4_backends, &id);
	if (!backend) {
		ct_forget(env, f, MAPLB_CT_SERVICE); /* the backend is gone: balance the flow anew */
		return 0;
	}
	if (ct->snat_addr && !snat_established(env, pkt, f, ct, backend)) {
		ct_forget(env, f, MAPLB_CT_SERVICE); /* its SNAT port went to another flow: anew */
		return 0;
	}
	*out = dnat_to(env, pkt, backend, id);
	return 1;
}

/* A reply from a backend: its source becomes the frontend the client talked to. */
static __always_inline int reply(struct dp_env *env, struct packet *pkt, const struct flow4 *f,
				 struct dp_result *out)
{
	struct ct4_entry *ct = ct_lookup(env, f, MAPLB_CT_REPLY);
	if (!ct)
		return 0;
	__u32 rev_nat_id = ct->rev_nat_id;
	__be32 frontend_addr = ct->frontend_addr;
	struct lb4_reverse_nat *rn = dp_lookup(env, lb4_reverse_nat, &rev_nat_id);
	if (!rn)
		return 0;
	if (ct->snat_addr)
		snat_reverse(env, pkt, ct, f);
	revnat(pkt, rn->address ? rn->address : frontend_addr, rn->port);
	*out = dp_done(env, MAPLB_VERDICT_REVNAT, MAPLB_REASON_OK);
	return 1;
}

/* A packet to a frontend without a tracked flow: pick a backend, remember it, rewrite. */
static __always_inline struct dp_result new_flow(struct dp_env *env, struct packet *pkt,
						 const struct flow4 *f, struct lb4_key *key,
						 struct lb4_service *master)
{
	__u32 zero = 0;
	const struct maplb_config *cfg = dp_lookup(env, maplb_config, &zero);

	master = svc_pick_scope(env, cfg, f, key, master);
	if (!svc_source_allowed(env, master, f->saddr))
		return dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_SOURCE_RANGE);
	if (master->count == 0)
		return dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_NO_BACKEND);

	__u32 id = 0;
	struct lb4_backend *backend = choose_backend(env, cfg, master, key, f, &id);
	if (!backend)
		return dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_BACKEND_MISSING);

	if (!snat_wanted(cfg, master, f, backend))
		ct_create(env, f, backend, id, master->rev_nat_id);
	else if (snat_new_flow(env, cfg, pkt, f, backend, id, master->rev_nat_id) < 0)
		return dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_SNAT_NO_PORT);
	return dnat_to(env, pkt, backend, id);
}

/* Runs one frame [data, data_end) in place. */
static __always_inline struct dp_result dp_process(struct dp_env *env, void *data, void *data_end,
						   __u32 frame_len)
{
	struct packet pkt;
	struct flow4 flow;
	enum maplb_reason reason = parse_frame(data, data_end, frame_len, &pkt, &flow);
	if (reason != MAPLB_REASON_OK)
		return dp_done(env, verdict_of_parse(reason), reason);

	struct dp_result out;
	if (established(env, &pkt, &flow, &out))
		return out;

	struct lb4_key key;
	struct lb4_service *master = svc_lookup_master(env, &flow, &key);
	if (master)
		return new_flow(env, &pkt, &flow, &key, master);

	if (reply(env, &pkt, &flow, &out))
		return out;
	return dp_done(env, MAPLB_VERDICT_PASS, MAPLB_REASON_NO_SERVICE);
}

#endif
