/* The pipeline's steps, family-generic: compiled once per family by pipeline.h (family.h names
 * what differs), source NAT included (snat.h). ICMP errors are translated for both (icmp_error.h
 * reads and rewrites the quotes). */

static __always_inline int FN(dnat)(const struct dp_ctx *ctx, const struct packet *pkt,
				    const FLOW *old, const BACKEND *backend)
{
	return FN(rewrite_endpoint)(ctx, pkt, old, 1, backend->address, backend->port);
}

static __always_inline int FN(revnat)(const struct dp_ctx *ctx, const struct packet *pkt,
				      const FLOW *old, ADDR addr, __be16 port)
{
	return FN(rewrite_endpoint)(ctx, pkt, old, 0, addr, port);
}

/* Source NAT (snat.h says when): the client's packet leaves from the node's address and port. */
static __always_inline int FN(snat)(const struct dp_ctx *ctx, const struct packet *pkt,
				    const FLOW *old, ADDR addr, __be16 port)
{
	return FN(rewrite_endpoint)(ctx, pkt, old, 0, addr, port);
}

/* Its reverse, on the reply: the destination becomes the client again. */
static __always_inline int FN(unsnat)(const struct dp_ctx *ctx, const struct packet *pkt,
				      const FLOW *old, ADDR client, __be16 port)
{
	return FN(rewrite_endpoint)(ctx, pkt, old, 1, client, port);
}

/* The client's packet to `backend`, and from saddr:sport when the flow is source-NATed (saddr
 * set; snat.h). */
static __always_inline struct dp_result FN(dnat_to)(struct dp_env *env, const struct dp_ctx *ctx,
						    const struct packet *pkt, const FLOW *f,
						    const BACKEND *backend, __u32 backend_id,
						    ADDR saddr, __be16 sport)
{
	int err = !ADDR_IS_ZERO(saddr) && FN(snat)(ctx, pkt, f, saddr, sport);
	err = err || FN(dnat)(ctx, pkt, f, backend);
	if (!err)
		count_backend(env, backend_id, pkt->frame_len);
	return rewritten(env, err, MAPLB_VERDICT_DNAT, MAPLB_REASON_OK);
}

/* An established flow: its recorded backend, if that backend still exists (terminating or not),
 * and for a source-NATed flow its port, if still its own. A SYN on a closed flow's tuple is a new
 * connection, and is balanced anew. */
static __always_inline int FN(established)(struct dp_env *env, const struct dp_ctx *ctx,
					   const struct packet *pkt, const FLOW *f,
					   struct dp_result *out)
{
	BACKEND *backend = 0;
	__u32 id;
	CT_ENTRY *ct = FN(ct_service_backend)(env, f, &backend, &id);
	if (!ct)
		return 0;
	if (!backend) {
		FN(ct_forget)(env, f, MAPLB_CT_SERVICE); /* the backend is gone: balance the flow anew */
		return 0;
	}
	FLOW reply;
	FN(ct_reply_flow)(&reply, f, backend, ct);
	CT_ENTRY *rev = 0;
	if (!ADDR_IS_ZERO(ct->snat_addr) && !FN(snat_reservation)(env, f, &reply, &rev)) {
		FN(ct_forget)(env, f, MAPLB_CT_SERVICE); /* its SNAT port went to another flow: anew */
		return 0;
	}
	if (FN(ct_closed)(ct) && (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN) {
		FN(ct_forget)(env, f, MAPLB_CT_SERVICE);
		FN(ct_forget)(env, &reply, MAPLB_CT_REPLY);
		return 0;
	}
	__u8 closing = ct_close_flags(pkt, MAPLB_CT_SERVICE);
	if (closing)
		FN(ct_note_close)(env, ct, closing, &reply, MAPLB_CT_REPLY);
	ADDR saddr = ct->snat_addr; /* copied first: snat_keep may evict *ct */
	__be16 sport = ct->snat_port;
	if (!ADDR_IS_ZERO(saddr) && !FN(snat_keep)(env, f, ct, &reply, rev)) {
		FN(ct_forget)(env, f, MAPLB_CT_SERVICE); /* its SNAT port went to another flow: anew */
		return 0;
	}
	*out = FN(dnat_to)(env, ctx, pkt, f, backend, id, saddr, sport);
	return 1;
}

/* A reply from a backend: its source becomes the frontend the client talked to (and, when the
 * flow is source-NATed, its destination the client). */
static __always_inline int FN(reply)(struct dp_env *env, const struct dp_ctx *ctx,
				     const struct packet *pkt, const FLOW *f, struct dp_result *out)
{
	ADDR addr;
	__be16 port;
	CT_ENTRY *ct = FN(ct_reply_frontend)(env, f, &addr, &port);
	if (!ct)
		return 0;
	FLOW service;
	FN(ct_service_flow)(&service, f, ct, port);
	__u8 closing = ct_close_flags(pkt, MAPLB_CT_REPLY);
	if (closing)
		FN(ct_note_close)(env, ct, closing, &service, MAPLB_CT_SERVICE);
	int err = 0;
	if (!ADDR_IS_ZERO(ct->snat_addr)) { /* source-NATed: the destination becomes the client again */
		FN(snat_renew)(env, ct, f->proto);
		err = FN(unsnat)(ctx, pkt, f, service.saddr, service.sport);
	}
	err = err || FN(revnat)(ctx, pkt, f, addr, port);
	*out = rewritten(env, err, MAPLB_VERDICT_REVNAT, MAPLB_REASON_OK);
	return 1;
}

/* A packet to a frontend without a tracked flow: pick a backend, remember it, rewrite. */
static __always_inline struct dp_result FN(new_flow)(struct dp_env *env, const struct dp_ctx *ctx,
						     const struct packet *pkt, const FLOW *f,
						     SVC_KEY *key, struct lb4_service *master)
{
	__u32 zero = 0;
	const struct maplb_config *cfg = dp_lookup(env, maplb_config, &zero);

	master = FN(svc_pick_scope)(env, cfg, f, key, master);
	if (!FN(svc_source_allowed)(env, master, f->saddr))
		return dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_SOURCE_RANGE);
	if (master->count == 0)
		return dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_NO_BACKEND);

	__u32 id = 0;
	BACKEND *backend = FN(choose_backend)(env, cfg, master, key, f, &id);
	if (!backend)
		return dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_BACKEND_MISSING);

	if (FN(snat_wanted)(cfg, master, f, backend)) {
		__be16 port;
		if (FN(snat_new_flow)(env, cfg, f, backend, id, master->rev_nat_id, &port) < 0)
			return dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_SNAT_NO_PORT);
		return FN(dnat_to)(env, ctx, pkt, f, backend, id, CFG_SNAT_ADDR(cfg), port);
	}
	FN(ct_create)(env, f, backend, id, master->rev_nat_id);
	return FN(dnat_to)(env, ctx, pkt, f, backend, id, ADDR_ZERO, 0);
}

/* A packet that parsed cleanly, with its ports: tracked flow, frontend, reply, or none of ours. */
static __always_inline struct dp_result FN(balance)(struct dp_env *env, const struct dp_ctx *ctx,
						    const struct packet *pkt, const FLOW *flow)
{
	struct dp_result out;
	if (FN(established)(env, ctx, pkt, flow, &out))
		return out;

	SVC_KEY key;
	struct lb4_service *master = FN(svc_lookup_master)(env, flow, &key);
	if (master)
		return FN(new_flow)(env, ctx, pkt, flow, &key, master);

	if (FN(reply)(env, ctx, pkt, flow, &out))
		return out;
	return dp_done(env, MAPLB_VERDICT_PASS, MAPLB_REASON_NO_SERVICE);
}

/* The quote's source (which = 0) or destination (which = 1) becomes addr:port, checksums
 * included (icmp_error.h); *q's flow follows, so that the other end can be rewritten next. */
static __always_inline int FN(icmp_quote_nat)(const struct dp_ctx *ctx, struct FN(icmp_quote) *q,
					      int which, ADDR addr, __be16 port)
{
	if (FN(icmp_quote_rewrite)(ctx, q, which, addr, port))
		return -1;
	if (which) {
		q->flow.daddr = addr;
		q->flow.dport = port;
	} else {
		q->flow.saddr = addr;
		q->flow.sport = port;
	}
	return 0;
}

/* An ICMP error about a tracked flow, either way:
 *   about the client's DNATed packet (quote client -> backend, sent to the client): the quote's
 *   destination becomes the frontend, and the outer source too if the backend sent it: REVNAT;
 *   for a source-NATed flow (quote node:port -> backend, sent to the node), the quote's source and
 *   the outer destination become the client as well;
 *   about a reverse-NATed reply (quote frontend -> client, sent to the frontend by a router on the
 *   client's side, e.g. fragmentation needed for the backend's large answers): the quote's source
 *   becomes the backend, and so does the outer destination, so the backend learns the path MTU:
 *   DNAT; for a source-NATed flow, the quote's destination becomes the node's address and port
 *   the backend knows the client by.
 * The verdict in *verdict; returns 1 when rewritten, 0 when not such an error (the packet is left
 * alone), -1 when the context failed mid-rewrite. */
static __always_inline int FN(icmp_error_nat)(struct dp_env *env, const struct dp_ctx *ctx,
					  const struct packet *pkt, const FLOW *outer,
					  enum maplb_verdict *verdict)
{
	struct FN(icmp_quote) q;
	if (!FN(icmp_read_quote)(ctx, pkt, &q))
		return 0;
	/* The flow of the quoted packet's answer, whose entry tells which way it went. */
	FLOW answer = { .saddr = q.flow.daddr, .daddr = q.flow.saddr, .sport = q.flow.dport,
				.dport = q.flow.sport, .proto = q.flow.proto };
	ADDR frontend;
	__be16 port;
	CT_ENTRY *rev = FN(ct_reply_frontend)(env, &answer, &frontend, &port);
	if (rev) {
		ADDR client = rev->snat_addr; /* set when source-NATed */
		__be16 client_port = rev->snat_port;
		*verdict = MAPLB_VERDICT_REVNAT;
		if (FN(icmp_quote_nat)(ctx, &q, 1, frontend, port))
			return -1;
		if (ADDR_EQ(outer->saddr, answer.saddr) && FN(icmp_outer_addr)(ctx, &q, 0, outer->saddr, frontend))
			return -1;
		if (!ADDR_IS_ZERO(client) && (FN(icmp_quote_nat)(ctx, &q, 0, client, client_port) ||
			       FN(icmp_outer_addr)(ctx, &q, 1, outer->daddr, client)))
			return -1;
		return 1;
	}
	BACKEND *backend = 0;
	__u32 id;
	CT_ENTRY *ct = FN(ct_service_backend)(env, &answer, &backend, &id);
	if (!ct || !backend)
		return 0;
	ADDR snat_addr = ct->snat_addr;
	__be16 snat_port = ct->snat_port;
	*verdict = MAPLB_VERDICT_DNAT;
	if (FN(icmp_quote_nat)(ctx, &q, 0, backend->address, backend->port) ||
	    FN(icmp_outer_addr)(ctx, &q, 1, outer->daddr, backend->address))
		return -1;
	if (!ADDR_IS_ZERO(snat_addr) && FN(icmp_quote_nat)(ctx, &q, 1, snat_addr, snat_port))
		return -1;
	return 1;
}

/* A packet that is not clean TCP/UDP: an ICMP error about a tracked flow is reverse-NATed; a
 * malformed packet is dropped only when its ports name a frontend; the rest passes untouched. */
static __always_inline struct dp_result FN(not_clean)(struct dp_env *env, const struct dp_ctx *ctx,
						      const struct packet *pkt, FLOW *flow,
						      enum maplb_reason reason)
{
	if (reason == MAPLB_REASON_NOT_TCP_UDP && flow->proto == ICMP_PROTO && pkt->has_l4) {
		enum maplb_verdict verdict = MAPLB_VERDICT_PASS;
		int done = FN(icmp_error_nat)(env, ctx, pkt, flow, &verdict);
		if (done)
			return rewritten(env, done < 0, verdict, MAPLB_REASON_ICMP_ERROR);
	}
	SVC_KEY key;
	if (reason != MAPLB_REASON_NOT_TCP_UDP && pkt->ports_read &&
	    FN(svc_lookup_master)(env, flow, &key))
		return dp_done(env, MAPLB_VERDICT_DROP, reason);
	return dp_done(env, MAPLB_VERDICT_PASS, reason);
}

/* One packet of this family, in place. */
static __always_inline struct dp_result FN(dp_process_ip)(struct dp_env *env, const struct dp_ctx *ctx)
{
	struct packet pkt;
	FLOW flow;
	enum maplb_reason reason =
		FN(parse_frame)(ctx_data(ctx), ctx_data_end(ctx), ctx_len(ctx), &pkt, &flow);
	if (reason != MAPLB_REASON_OK)
		return FN(not_clean)(env, ctx, &pkt, &flow, reason);
	if (!pkt.has_l4 && !FN(frag_ports)(env, &pkt, &flow))
		return dp_done(env, MAPLB_VERDICT_PASS, MAPLB_REASON_FRAGMENT);

	struct dp_result r = FN(balance)(env, ctx, &pkt, &flow);
	if (pkt.first_frag && (r.verdict == MAPLB_VERDICT_DNAT || r.verdict == MAPLB_VERDICT_REVNAT))
		FN(frag_record)(env, &pkt, &flow);
	return r;
}
