/* Service lookup: from a packet's destination to the master slot of its frontend, in the right
 * scope, after the source-range check. Family-generic (lb_family.h). */
#ifndef MAPLB_SERVICE_H
#define MAPLB_SERVICE_H

static __always_inline int in_cluster_cidr(const struct maplb_config *cfg, __be32 saddr)
{
	if (!cfg || cfg->cluster_cidr_prefix == 0 || cfg->cluster_cidr_prefix > 32)
		return 0;
	return in_prefix32(saddr, cfg->cluster_cidr_addr, cfg->cluster_cidr_prefix);
}

static __always_inline int in_cluster_cidr6(const struct maplb_config *cfg, struct maplb_in6 saddr)
{
	if (!cfg || cfg->cluster_cidr6_prefix == 0 || cfg->cluster_cidr6_prefix > 128)
		return 0;
	return in6_prefix_match(&saddr, &cfg->cluster_cidr6_addr, cfg->cluster_cidr6_prefix);
}

#endif

static __always_inline void FN(svc_key_of)(SVC_KEY *key, ADDR address, const FLOW *f, __u8 scope,
					   __u16 slot)
{
	key->address = address;
	key->dport = f->dport;
	key->backend_slot = slot;
	key->proto = f->proto;
	key->scope = scope;
	key->pad[0] = 0;
	key->pad[1] = 0;
}

/* The exact frontend first; then the NodePort wildcard (0.0.0.0 or ::), only for the node's own
 * addresses. On success *key is the master's key (slot 0) for the slot lookups that follow. */
static __always_inline struct lb4_service *FN(svc_lookup_master)(struct dp_env *env, const FLOW *f,
								 SVC_KEY *key)
{
	FN(svc_key_of)(key, f->daddr, f, MAPLB_SCOPE_EXT, 0);
	struct lb4_service *svc = dpf_lookup(env, FAM_SERVICES, key);
	if (svc)
		return svc;
	if (!dpf_lookup(env, FAM_NODE_ADDRS, &f->daddr))
		return 0;
	key->address = ADDR_ZERO;
	return dpf_lookup(env, FAM_SERVICES, key);
}

/* The INT scope's master when `internal` and the frontend has one, else the EXT master. */
static __always_inline struct lb4_service *FN(svc_scope)(struct dp_env *env, SVC_KEY *key,
							 struct lb4_service *master, int internal)
{
	if (!internal || !(master->flags & MAPLB_SVC_TWO_SCOPES))
		return master;
	key->scope = MAPLB_SCOPE_INT;
	struct lb4_service *scoped = dpf_lookup(env, FAM_SERVICES, key);
	if (scoped)
		return scoped;
	key->scope = MAPLB_SCOPE_EXT;
	return master;
}

/* Local traffic policy: the EXT scope holds only local backends; sources inside the cluster see
 * all of them through the INT scope. */
static __always_inline struct lb4_service *FN(svc_pick_scope)(struct dp_env *env,
							      const struct maplb_config *cfg,
							      const FLOW *f, SVC_KEY *key,
							      struct lb4_service *master)
{
	return FN(svc_scope)(env, key, master,
			     (master->flags & MAPLB_SVC_TWO_SCOPES) && FN(in_cluster_cidr)(cfg, f->saddr));
}

/* loadBalancerSourceRanges: a source outside every range of the service is refused. */
static __always_inline int FN(svc_source_allowed)(struct dp_env *env,
						  const struct lb4_service *master, ADDR saddr)
{
	if (!(master->flags & MAPLB_SVC_SOURCE_RANGE))
		return 1;
	SRC_RANGE_KEY key = {
		.prefixlen = MAPLB_SRC_RANGE_PREFIX_BASE + ADDR_BITS,
		.rev_nat_id = master->rev_nat_id,
		.addr = saddr,
	};
	return dpf_lookup(env, FAM_SRC_RANGE, &key) != 0;
}
