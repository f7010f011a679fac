/* Conntrack: established flows keep their backend, whatever happens to the service afterwards,
 * and replies find their way back to the frontend. */
#ifndef MAPLB_CONNTRACK_H
#define MAPLB_CONNTRACK_H

#include "parse.h"

static __always_inline void ct_key_of(struct ct4_key *key, const struct flow4 *f, __u8 direction)
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

static __always_inline struct ct4_entry *ct_lookup(struct dp_env *env, const struct flow4 *f,
						   __u8 direction)
{
	struct ct4_key key;
	ct_key_of(&key, f, direction);
	/* No clock read and no write here: the LRU map tracks use for eviction by itself, and an
	 * established packet should cost one lookup. */
	return dp_lookup(env, ct4, &key);
}

static __always_inline void ct_forget(struct dp_env *env, const struct flow4 *f, __u8 direction)
{
	struct ct4_key key;
	ct_key_of(&key, f, direction);
	dp_delete(env, ct4, &key);
}

/* A new flow's entry: its backend, the address the client used and its rev-NAT id. */
static __always_inline struct ct4_entry ct_entry_new(struct dp_env *env, const struct flow4 *f,
						     __u32 backend_id, __u32 rev_nat_id)
{
	struct ct4_entry entry = {
		.last_seen = dp_now(env),
		.backend_id = backend_id,
		.frontend_addr = f->daddr,
		.rev_nat_id = rev_nat_id,
	};
	return entry;
}

/* Writes `entry` under flow `f` in `direction`; dp_update's result (BPF_NOEXIST: -EEXIST if taken). */
static __always_inline int ct_put(struct dp_env *env, const struct flow4 *f, __u8 direction,
				  const struct ct4_entry *entry, __u64 flags)
{
	struct ct4_key key;
	ct_key_of(&key, f, direction);
	return dp_update(env, ct4, &key, entry, flags);
}

/* Records a new flow to `backend`: the SERVICE entry for the client's packets and the REPLY entry
 * for the backend's answers. A full LRU evicts; a failed insert only costs the flow its pinning. */
static __always_inline void ct_create(struct dp_env *env, const struct flow4 *f,
				      const struct lb4_backend *backend, __u32 backend_id,
				      __u32 rev_nat_id)
{
	struct ct4_entry entry = ct_entry_new(env, f, backend_id, rev_nat_id);
	ct_put(env, f, MAPLB_CT_SERVICE, &entry, BPF_ANY);

	struct flow4 reply = {
		.saddr = backend->address,
		.daddr = f->saddr,
		.sport = backend->port,
		.dport = f->sport,
		.proto = f->proto,
	};
	ct_put(env, &reply, MAPLB_CT_REPLY, &entry, BPF_ANY);
}

#endif
