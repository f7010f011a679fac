/* Conntrack: established flows keep their backend, whatever happens to the service afterwards,
 * and replies find their way back to the frontend. TCP state is only what closing needs: a flow
 * closed by FINs both ways or an RST ages out after MAPLB_CT_CLOSE_TIMEOUT, and a new SYN on its
 * tuple is balanced anew; everything else ages in the LRU as it is used. Family-generic
 * (lb_family.h): ct4 and ct6 work alike. */
#ifndef MAPLB_CONNTRACK_H
#define MAPLB_CONNTRACK_H

#define NS_PER_SEC 1000000000ull

/* The state a TCP packet's FIN or RST adds, seen going `direction` (0 for none). */
static __always_inline __u8 ct_close_flags(const struct packet *pkt, __u8 direction)
{
	if (pkt->tcp_flags & TCP_FLAG_RST)
		return MAPLB_CT_F_RST;
	if (pkt->tcp_flags & TCP_FLAG_FIN)
		return direction == MAPLB_CT_SERVICE ? MAPLB_CT_F_FIN_SERVICE : MAPLB_CT_F_FIN_REPLY;
	return 0;
}

#endif

static __always_inline void FN(ct_key_of)(CT_KEY *key, const FLOW *f, __u8 direction)
{
	key->saddr = f->saddr;
	key->daddr = f->daddr;
	key->sport = f->sport;
	key->dport = f->dport;
	key->proto = f->proto;
	key->direction = direction;
	key->pad[0] = 0;
	key->pad[1] = 0;
}

static __always_inline int FN(ct_closed)(const CT_ENTRY *ct)
{
	__u8 fins = MAPLB_CT_F_FIN_SERVICE | MAPLB_CT_F_FIN_REPLY;
	return (ct->flags & MAPLB_CT_F_RST) || (ct->flags & fins) == fins;
}

static __always_inline void FN(ct_forget)(struct dp_env *env, const FLOW *f, __u8 direction)
{
	CT_KEY key;
	FN(ct_key_of)(&key, f, direction);
	dpf_delete(env, FAM_CT, &key);
}

/* The entry of flow f in `direction`, or NULL. A closed flow's entry is gone once its close
 * timeout has passed (then deleted). */
static __always_inline CT_ENTRY *FN(ct_lookup)(struct dp_env *env, const FLOW *f,
						   __u8 direction)
{
	CT_KEY key;
	FN(ct_key_of)(&key, f, direction);
	/* No clock read and no write for an open flow: the LRU map tracks use for eviction by
	 * itself, and an established packet should cost one lookup. */
	CT_ENTRY *ct = dpf_lookup(env, FAM_CT, &key);
	if (ct && FN(ct_closed)(ct) &&
	    dp_now(env) - ct->last_seen > (__u64)MAPLB_CT_CLOSE_TIMEOUT * NS_PER_SEC) {
		dpf_delete(env, FAM_CT, &key);
		return 0;
	}
	return ct;
}

/* Adds `flags` to a flow's entry `ct` and to its other entry (`other`, in direction
 * `other_direction`), so either direction sees the whole state. When the flow becomes closed,
 * last_seen becomes the close time. Only FIN and RST packets get here. */
static __always_inline void FN(ct_note_close)(struct dp_env *env, CT_ENTRY *ct, __u8 flags,
					  const FLOW *other, __u8 other_direction)
{
	int was_closed = FN(ct_closed)(ct);
	ct->flags |= flags;
	if (!was_closed && FN(ct_closed)(ct))
		ct->last_seen = dp_now(env);
	CT_KEY key;
	FN(ct_key_of)(&key, other, other_direction);
	CT_ENTRY *peer = dpf_lookup(env, FAM_CT, &key);
	if (peer) {
		peer->flags |= ct->flags;
		peer->last_seen = ct->last_seen;
	}
}

/* The flow of a backend's answers to addr:port: backend -> addr:port, a REPLY entry's key. */
static __always_inline void FN(ct_reply_to)(FLOW *reply, const BACKEND *backend,
					ADDR addr, __be16 port, __u8 proto)
{
	reply->saddr = backend->address;
	reply->daddr = addr;
	reply->sport = backend->port;
	reply->dport = port;
	reply->proto = proto;
}

/* The reply flow of f (SERVICE entry ct) once DNATed to backend: backend -> client, or, for a
 * source-NATed flow, backend -> the node's SNAT address and the flow's port (snat.h). */
static __always_inline void FN(ct_reply_flow)(FLOW *reply, const FLOW *f,
					  const BACKEND *backend,
					  const CT_ENTRY *ct)
{
	if (!ADDR_IS_ZERO(ct->snat_addr))
		FN(ct_reply_to)(reply, backend, ct->snat_addr, ct->snat_port, f->proto);
	else
		FN(ct_reply_to)(reply, backend, f->saddr, f->sport, f->proto);
}

/* The other way round: the client's flow (client -> frontend_addr:frontend_port) of reply f,
 * whose REPLY entry is ct. The client is f's destination, or the one a source-NATed flow's REPLY
 * entry records. */
static __always_inline void FN(ct_service_flow)(FLOW *service, const FLOW *f,
					    const CT_ENTRY *ct, __be16 frontend_port)
{
	int snated = !ADDR_IS_ZERO(ct->snat_addr);
	service->saddr = snated ? ct->snat_addr : f->daddr;
	service->daddr = ct->frontend_addr;
	service->sport = snated ? ct->snat_port : f->dport;
	service->dport = frontend_port;
	service->proto = f->proto;
}

/* The SERVICE entry of flow f (client -> frontend), with the backend it names in *backend (NULL
 * once that backend is gone) and its id in *id; NULL when f is not tracked. */
static __always_inline CT_ENTRY *FN(ct_service_backend)(struct dp_env *env,
							    const FLOW *f,
							    BACKEND **backend, __u32 *id)
{
	CT_ENTRY *ct = FN(ct_lookup)(env, f, MAPLB_CT_SERVICE);
	if (!ct)
		return 0;
	*id = ct->backend_id;
	*backend = FN(backend_by_id)(env, id);
	return ct;
}

/* The REPLY entry of flow f (backend -> client) and the frontend its source becomes (rev-NAT:
 * the wildcard NodePort's address is the one the client used); NULL when f is not tracked. */
static __always_inline CT_ENTRY *FN(ct_reply_frontend)(struct dp_env *env,
							   const FLOW *f, ADDR *addr,
							   __be16 *port)
{
	CT_ENTRY *ct = FN(ct_lookup)(env, f, MAPLB_CT_REPLY);
	if (!ct)
		return 0;
	__u32 rev_nat_id = ct->rev_nat_id;
	REVNAT *rn = dpf_lookup(env, FAM_REVNAT, &rev_nat_id);
	if (!rn)
		return 0;
	*addr = ADDR_IS_ZERO(rn->address) ? ct->frontend_addr : rn->address;
	*port = rn->port;
	return ct;
}

/* A new flow's entry: its backend, the address the client used and its rev-NAT id. */
static __always_inline CT_ENTRY FN(ct_entry_new)(struct dp_env *env, const FLOW *f,
						     __u32 backend_id, __u32 rev_nat_id)
{
	CT_ENTRY entry = {
		.last_seen = dp_now(env),
		.backend_id = backend_id,
		.frontend_addr = f->daddr,
		.rev_nat_id = rev_nat_id,
	};
	return entry;
}

/* Writes `entry` under flow `f` in `direction`; dp_update's result (BPF_NOEXIST: -EEXIST if taken). */
static __always_inline int FN(ct_put)(struct dp_env *env, const FLOW *f, __u8 direction,
				  const CT_ENTRY *entry, __u64 flags)
{
	CT_KEY key;
	FN(ct_key_of)(&key, f, direction);
	return dpf_update(env, FAM_CT, &key, entry, flags);
}

/* Records a new flow to `backend`: the SERVICE entry for the client's packets and the REPLY entry
 * for the backend's answers. A full LRU evicts; a failed insert only costs the flow its pinning. */
static __always_inline void FN(ct_create)(struct dp_env *env, const FLOW *f,
				      const BACKEND *backend, __u32 backend_id,
				      __u32 rev_nat_id)
{
	CT_ENTRY entry = FN(ct_entry_new)(env, f, backend_id, rev_nat_id);
	FN(ct_put)(env, f, MAPLB_CT_SERVICE, &entry, BPF_ANY);

	FLOW reply;
	FN(ct_reply_flow)(&reply, f, backend, &entry);
	FN(ct_put)(env, &reply, MAPLB_CT_REPLY, &entry, BPF_ANY);
}
