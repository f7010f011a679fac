/* Service lookup: from a packet's destination to the master slot of its frontend, in the right
 * scope, after the source-range check. */
#ifndef MAPLB_SERVICE_H
#define MAPLB_SERVICE_H

#include "parse.h"

static __always_inline void svc_key_of(struct lb4_key *key, __be32 address, const struct flow4 *f,
				       __u8 scope, __u16 slot)
{
	key->address = address;
	key->dport = f->dport;
	key->backend_slot = slot;
	key->proto = f->proto;
	key->scope = scope;
	key->pad[0] = 0;
	key->pad[1] = 0;
}

/* The exact frontend first; then the NodePort wildcard (0.0.0.0), only for the node's own
 * addresses. On success *key is the master's key (slot 0) for the slot lookups that follow. */
static __always_inline struct lb4_service *svc_lookup_master(struct dp_env *env,
							     const struct flow4 *f, struct lb4_key *key)
{
	svc_key_of(key, f->daddr, f, MAPLB_SCOPE_EXT, 0);
	struct lb4_service *svc = dp_lookup(env, lb4_services, key);
	if (svc)
		return svc;
	if (!dp_lookup(env, node_addrs, &f->daddr))
		return 0;
	key->address = 0;
	return dp_lookup(env, lb4_services, key);
}

static __always_inline int in_cluster_cidr(const struct maplb_config *cfg, __be32 saddr)
{
	if (!cfg || cfg->cluster_cidr_prefix == 0 || cfg->cluster_cidr_prefix > 32)
		return 0;
	__u32 mask = 0xffffffffu << (32 - cfg->cluster_cidr_prefix);
	return (bpf_ntohl(saddr) & mask) == (bpf_ntohl(cfg->cluster_cidr_addr) & mask);
}

/* The INT scope's master when `internal` and the frontend has one, else the EXT master. */
static __always_inline struct lb4_service *svc_scope(struct dp_env *env, struct lb4_key *key,
						     struct lb4_service *master, int internal)
{
	if (!internal || !(master->flags & MAPLB_SVC_TWO_SCOPES))
		return master;
	key->scope = MAPLB_SCOPE_INT;
	struct lb4_service *scoped = dp_lookup(env, lb4_services, key);
	if (scoped)
		return scoped;
	key->scope = MAPLB_SCOPE_EXT;
	return master;
}

/* Local traffic policy: the EXT scope holds only local backends; sources inside the cluster see
 * all of them through the INT scope. */
static __always_inline struct lb4_service *svc_pick_scope(struct dp_env *env,
							  const struct maplb_config *cfg,
							  const struct flow4 *f, struct lb4_key *key,
							  struct lb4_service *master)
{
	return svc_scope(env, key, master,
			 (master->flags & MAPLB_SVC_TWO_SCOPES) && in_cluster_cidr(cfg, f->saddr));
}

/* loadBalancerSourceRanges: a source outside every range of the service is refused. */
static __always_inline int svc_source_allowed(struct dp_env *env, const struct lb4_service *master,
					      __be32 saddr)
{
	if (!(master->flags & MAPLB_SVC_SOURCE_RANGE))
		return 1;
	struct lb4_src_range_key key = {
		.prefixlen = MAPLB_SRC_RANGE_PREFIX_BASE + 32,
		.rev_nat_id = master->rev_nat_id,
		.addr = saddr,
	};
	return dp_lookup(env, lb4_source_range, &key) != 0;
}

#endif
