/* The maplb datapath, one pipeline for every target:
 *   parse -> for a frontend or a tracked flow? (else pass, untouched) -> conntrack -> service
 *   lookup -> scope -> source range -> backend choice -> [SNAT] -> DNAT -> count
 * and, for a reply of a tracked flow, reverse NAT (and reverse SNAT: snat.h); for an ICMP error
 * about one, NAT of its quote and of its outer header the same way; for a later fragment, the
 * ports its first fragment left. Written once as static inline functions with no libc: the
 * target's shim (bpf/shim.h or host/shim.h, included first) supplies struct dp_env, dp_now(env)
 * (ns; read only when a flow, an affinity entry or a UDP flow's SNAT port is written or aged),
 * dp_lookup/dp_update/dp_delete on the maps named in maplb_abi.h, and the packet context
 * (struct dp_ctx, ctx_*: see bpf/ctx.h and host/ctx.h). */
#ifndef MAPLB_PIPELINE_H
#define MAPLB_PIPELINE_H

#include "maplb_abi.h"
#include "parse.h"
#include "conntrack.h"
#include "frag.h"
#include "service.h"
#include "backend.h"
#include "nat.h"
#include "snat.h"
#include "icmp_error.h"
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

/* A rewrite the context failed to finish leaves a half-written packet: drop it. */
static __always_inline struct dp_result rewritten(struct dp_env *env, int err,
						  enum maplb_verdict verdict, enum maplb_reason reason)
{
	return err ? dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_CTX_ERROR) : dp_done(env, verdict, reason);
}

/* The client's packet to `backend`, and from saddr:sport when the flow is source-NATed (saddr
 * set; snat.h). */
static __always_inline struct dp_result dnat_to(struct dp_env *env, const struct dp_ctx *ctx,
						const struct packet *pkt, const struct flow4 *f,
						const struct lb4_backend *backend, __u32 backend_id,
						__be32 saddr, __be16 sport)
{
	int err = (saddr && snat(ctx, pkt, f, saddr, sport)) || dnat(ctx, pkt, f, backend);
	if (!err)
		count_backend(env, backend_id, pkt->frame_len);
	return rewritten(env, err, MAPLB_VERDICT_DNAT, MAPLB_REASON_OK);
}

/* An established flow: its recorded backend, if that backend still exists (terminating or not),
 * and for a source-NATed flow its port, if still its own. A SYN on a closed flow's tuple is a new
 * connection, and is balanced anew. */
static __always_inline int established(struct dp_env *env, const struct dp_ctx *ctx,
				       const struct packet *pkt, const struct flow4 *f,
				       struct dp_result *out)
{
	struct lb4_backend *backend = 0;
	__u32 id;
	struct ct4_entry *ct = ct_service_backend(env, f, &backend, &id);
	if (!ct)
		return 0;
	if (!backend) {
		ct_forget(env, f, MAPLB_CT_SERVICE); /* the backend is gone: balance the flow anew */
		return 0;
	}
	struct flow4 reply;
	ct_reply_flow(&reply, f, backend, ct);
	struct ct4_entry *rev = 0;
	if (ct->snat_addr && !snat_reservation(env, f, &reply, &rev)) {
		ct_forget(env, f, MAPLB_CT_SERVICE); /* its SNAT port went to another flow: anew */
		return 0;
	}
	if (ct_closed(ct) && (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN) {
		ct_forget(env, f, MAPLB_CT_SERVICE);
		ct_forget(env, &reply, MAPLB_CT_REPLY);
		return 0;
	}
	__u8 closing = ct_close_flags(pkt, MAPLB_CT_SERVICE);
	if (closing)
		ct_note_close(env, ct, closing, &reply, MAPLB_CT_REPLY);
	__be32 saddr = ct->snat_addr; /* copied first: snat_keep may evict *ct */
	__be16 sport = ct->snat_port;
	if (saddr && !snat_keep(env, f, ct, &reply, rev)) {
		ct_forget(env, f, MAPLB_CT_SERVICE); /* its SNAT port went to another flow: anew */
		return 0;
	}
	*out = dnat_to(env, ctx, pkt, f, backend, id, saddr, sport);
	return 1;
}

/* A reply from a backend: its source becomes the frontend the client talked to (and, when the
 * flow is source-NATed, its destination the client). */
static __always_inline int reply(struct dp_env *env, const struct dp_ctx *ctx,
				 const struct packet *pkt, const struct flow4 *f,
				 struct dp_result *out)
{
	__be32 addr;
	__be16 port;
	struct ct4_entry *ct = ct_reply_frontend(env, f, &addr, &port);
	if (!ct)
		return 0;
	struct flow4 service;
	ct_service_flow(&service, f, ct, port);
	__u8 closing = ct_close_flags(pkt, MAPLB_CT_REPLY);
	if (closing)
		ct_note_close(env, ct, closing, &service, MAPLB_CT_SERVICE);
	int err = 0;
	if (ct->snat_addr) { /* source-NATed: the destination becomes the client again */
		snat_renew(env, ct, f->proto);
		err = unsnat(ctx, pkt, f, service.saddr, service.sport);
	}
	err = err || revnat(ctx, pkt, f, addr, port);
	*out = rewritten(env, err, MAPLB_VERDICT_REVNAT, MAPLB_REASON_OK);
	return 1;
}

/* A packet to a frontend without a tracked flow: pick a backend, remember it, rewrite. */
static __always_inline struct dp_result new_flow(struct dp_env *env, const struct dp_ctx *ctx,
						 const struct packet *pkt, const struct flow4 *f,
						 struct lb4_key *key, struct lb4_service *master)
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

	if (!snat_wanted(cfg, master, f, backend)) {
		ct_create(env, f, backend, id, master->rev_nat_id);
		return dnat_to(env, ctx, pkt, f, backend, id, 0, 0);
	}
	__be16 port;
	if (snat_new_flow(env, cfg, f, backend, id, master->rev_nat_id, &port) < 0)
		return dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_SNAT_NO_PORT);
	return dnat_to(env, ctx, pkt, f, backend, id, cfg->snat_addr, port);
}

/* A packet that parsed cleanly, with its ports: tracked flow, frontend, reply, or none of ours. */
static __always_inline struct dp_result balance(struct dp_env *env, const struct dp_ctx *ctx,
						const struct packet *pkt, const struct flow4 *flow)
{
	struct dp_result out;
	if (established(env, ctx, pkt, flow, &out))
		return out;

	struct lb4_key key;
	struct lb4_service *master = svc_lookup_master(env, flow, &key);
	if (master)
		return new_flow(env, ctx, pkt, flow, &key, master);

	if (reply(env, ctx, pkt, flow, &out))
		return out;
	return dp_done(env, MAPLB_VERDICT_PASS, MAPLB_REASON_NO_SERVICE);
}

/* A packet that is not clean TCP/UDP: an ICMP error about a tracked flow is reverse-NATed; a
 * malformed packet is dropped only when its ports name a frontend; the rest passes untouched. */
static __always_inline struct dp_result not_clean(struct dp_env *env, const struct dp_ctx *ctx,
						  const struct packet *pkt, struct flow4 *flow,
						  enum maplb_reason reason)
{
	if (reason == MAPLB_REASON_NOT_TCP_UDP && flow->proto == IPPROTO_ICMP && pkt->has_l4) {
		enum maplb_verdict verdict = MAPLB_VERDICT_PASS;
		int done = icmp_error_nat(env, ctx, pkt, flow, &verdict);
		if (done)
			return rewritten(env, done < 0, verdict, MAPLB_REASON_ICMP_ERROR);
	}
	struct lb4_key key;
	if (reason != MAPLB_REASON_NOT_TCP_UDP && pkt->ports_read && svc_lookup_master(env, flow, &key))
		return dp_done(env, MAPLB_VERDICT_DROP, reason);
	return dp_done(env, MAPLB_VERDICT_PASS, reason);
}

/* Runs one packet in place. */
static __always_inline struct dp_result dp_process(struct dp_env *env, const struct dp_ctx *ctx)
{
	struct packet pkt;
	struct flow4 flow;
	enum maplb_reason reason =
		parse_frame(ctx_data(ctx), ctx_data_end(ctx), ctx_len(ctx), &pkt, &flow);
	if (reason != MAPLB_REASON_OK)
		return not_clean(env, ctx, &pkt, &flow, reason);
	if (!pkt.has_l4 && !frag_ports(env, &pkt, &flow))
		return dp_done(env, MAPLB_VERDICT_PASS, MAPLB_REASON_FRAGMENT);

	struct dp_result r = balance(env, ctx, &pkt, &flow);
	if (pkt.first_frag && (r.verdict == MAPLB_VERDICT_DNAT || r.verdict == MAPLB_VERDICT_REVNAT))
		frag_record(env, &pkt, &flow);
	return r;
}

#endif
