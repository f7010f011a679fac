/* Source NAT where kube-proxy masquerades, as Cilium's datapath does it.
 *
 * DNAT alone breaks when the backend's reply would not pass the node that translated the request:
 * - hairpin: a pod reaching itself through its Service would answer itself directly;
 * - a backend on another node: it answers the client directly, by its own address.
 * The reverse NAT never sees such replies, and the client drops them. So those flows also get a new
 * source, this node's SNAT address (maplb_config.snat_addr, snat6_addr for IPv6) with a port
 * allocated to the flow; the backend answers that, and the reply comes back here to be translated
 * back. Family-generic (lb_family.h): both families share the port range and the logic.
 *
 * Conntrack carries it: the SERVICE entry holds the node address and port the client's packets get,
 * and the REPLY entry, keyed backend -> node:port, holds the client to restore. Inserted with
 * BPF_NOEXIST, that REPLY entry is also the record that the port is taken for this backend (the role
 * of Cilium's SNAT map), so allocation is: probe a few ports derived from the flow hash until one
 * insert succeeds (Cilium's snat_v4_new_mapping). A UDP flow never closes, so its reservation lapses
 * once the flow has been idle for SNAT_UDP_IDLE_SECONDS (each of its packets renews it); a TCP
 * flow's goes with its conntrack entries (MAPLB_CT_CLOSE_TIMEOUT after it closes, or when the LRU
 * evicts them). The packet rewrites themselves are pipeline_family.h's snat() and unsnat(). */
#ifndef MAPLB_SNAT_H
#define MAPLB_SNAT_H

/* Ports tried for one new flow before it is dropped (MAPLB_REASON_SNAT_NO_PORT). */
#define SNAT_PORT_PROBES 16
/* How long an idle UDP flow keeps its port: conntrack's nf_conntrack_udp_timeout_stream. */
#define SNAT_UDP_IDLE_SECONDS 120

/* The i-th port a flow with this hash tries: spread over the range, the same on every target. */
static __always_inline __be16 snat_port_candidate(const struct maplb_config *cfg, __u32 hash, __u32 i)
{
	__u32 span = (__u32)cfg->snat_port_max - cfg->snat_port_min + 1;
	return bpf_htons((__u16)(cfg->snat_port_min + hash_mix(hash + i) % span));
}

#endif

static __always_inline int FN(snat_enabled)(const struct maplb_config *cfg)
{
	return cfg && !ADDR_IS_ZERO(CFG_SNAT_ADDR(cfg)) && cfg->snat_port_min <= cfg->snat_port_max;
}

/* Whether a new flow to `backend` needs SNAT: where kube-proxy masquerades, unless the backend is on
 * this node (its reply comes back through here anyway, so the backend keeps seeing the client, as
 * Cilium does). kube-proxy's cases: a hairpin (KUBE-SEP's `-s EPIP`); an external frontend with
 * externalTrafficPolicy=Cluster, from any source (KUBE-EXT); a ClusterIP from outside the cluster
 * CIDR (KUBE-SVC's `! -s CLUSTERCIDR`). Policy Local (TWO_SCOPES, both scopes) keeps the client. */
static __always_inline int FN(snat_wanted)(const struct maplb_config *cfg,
					    const struct lb4_service *master, const FLOW *f,
					    const BACKEND *backend)
{
	if (!FN(snat_enabled)(cfg))
		return 0;
	if (ADDR_EQ(f->saddr, backend->address))
		return 1;
	if (backend->flags & MAPLB_BACKEND_LOCAL)
		return 0;
	if (master->flags & MAPLB_SVC_TWO_SCOPES)
		return 0;
	if (master->flags & (MAPLB_SVC_NODEPORT | MAPLB_SVC_EXTERNAL))
		return 1;
	return CFG_CLUSTER_CIDR_PREFIX(cfg) != 0 && !FN(in_cluster_cidr)(cfg, f->saddr);
}

/* A UDP flow's packets keep its reservation `rev` alive (last_seen: its last packet). */
static __always_inline void FN(snat_renew)(struct dp_env *env, CT_ENTRY *rev, __u8 proto)
{
	if (proto == IPPROTO_UDP)
		rev->last_seen = dp_now(env);
}

/* Whether reservation `rev` no longer holds its port: a UDP flow idle for too long. */
static __always_inline int FN(snat_lapsed)(struct dp_env *env, const CT_ENTRY *rev, __u8 proto)
{
	return proto == IPPROTO_UDP &&
	       dp_now(env) - rev->last_seen > (__u64)SNAT_UDP_IDLE_SECONDS * NS_PER_SEC;
}

/* A new flow that needs SNAT: allocates a port and records both conntrack entries. The port in
 * *port (the caller rewrites the packet); -1 when every port probed is taken. */
static __always_inline int FN(snat_new_flow)(struct dp_env *env, const struct maplb_config *cfg,
					      const FLOW *f, const BACKEND *backend,
					      __u32 backend_id, __u32 rev_nat_id, __be16 *port)
{
	CT_ENTRY entry = FN(ct_entry_new)(env, f, backend_id, rev_nat_id);
	entry.snat_addr = f->saddr; /* the REPLY entry's: whom the port stands for */
	entry.snat_port = f->sport;
	__u32 hash = FN(flow_hash)(f, cfg->hash_seed);
	for (__u32 i = 0; i < SNAT_PORT_PROBES; i++) {
		__be16 candidate = snat_port_candidate(cfg, hash, i);
		FLOW reply;
		FN(ct_reply_to)(&reply, backend, CFG_SNAT_ADDR(cfg), candidate, f->proto);
		/* Looked up first (through ct_lookup, so conntrack's own ageing, the close timeout
		 * included, has its say), and then inserted only if still free: a lapsed reservation
		 * is overwritten. */
		CT_ENTRY *taken = FN(ct_lookup)(env, &reply, MAPLB_CT_REPLY);
		if (taken && !FN(snat_lapsed)(env, taken, f->proto))
			continue; /* another flow to this backend holds it */
		if (FN(ct_put)(env, &reply, MAPLB_CT_REPLY, &entry, taken ? BPF_ANY : BPF_NOEXIST) != 0)
			continue;
		entry.snat_addr = CFG_SNAT_ADDR(cfg); /* the SERVICE entry's: the source to give */
		entry.snat_port = candidate;
		FN(ct_put)(env, f, MAPLB_CT_SERVICE, &entry, BPF_ANY);
		*port = candidate;
		return 0;
	}
	return -1;
}

/* An established source-NATed flow f, whose reply flow is `reply` (backend -> node:port): its
 * REPLY entry, the port's reservation, in *rev (NULL when the LRU evicted it). 0 when the port has
 * gone to another flow since: then the caller balances f anew. */
static __always_inline int FN(snat_reservation)(struct dp_env *env, const FLOW *f,
						 const FLOW *reply, CT_ENTRY **rev)
{
	*rev = FN(ct_lookup)(env, reply, MAPLB_CT_REPLY);
	return !*rev || (ADDR_EQ((*rev)->snat_addr, f->saddr) && (*rev)->snat_port == f->sport);
}

/* Keeps f's reservation `rev` (from snat_reservation): a UDP flow's packet renews it, and one the
 * LRU evicted is put back from f's SERVICE entry ct. That insert may evict *ct in turn: ct is not
 * to be used after. 0 when another flow took the port in between. */
static __always_inline int FN(snat_keep)(struct dp_env *env, const FLOW *f, const CT_ENTRY *ct,
					  const FLOW *reply, CT_ENTRY *rev)
{
	if (rev) {
		FN(snat_renew)(env, rev, f->proto);
		return 1;
	}
	CT_ENTRY restored = *ct;
	restored.last_seen = dp_now(env);
	restored.snat_addr = f->saddr;
	restored.snat_port = f->sport;
	return FN(ct_put)(env, reply, MAPLB_CT_REPLY, &restored, BPF_NOEXIST) == 0;
}
