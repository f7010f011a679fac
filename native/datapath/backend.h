/* Backend choice for a new flow: session affinity first, then Maglev or random on the flow hash.
 * Family-generic (lb_family.h). */

/* The client's remembered backend (and its id in *id), if it is still fresh, still exists and is not
 * terminating; else NULL. */
static __always_inline BACKEND *FN(affinity_backend)(struct dp_env *env,
							    const struct lb4_service *master,
							    ADDR client, __u32 *id)
{
	AFFINITY_KEY key = { .client = client, .rev_nat_id = master->rev_nat_id };
	struct lb4_affinity_entry *aff = dpf_lookup(env, FAM_AFFINITY, &key);
	if (!aff || dp_now(env) - aff->last_used > (__u64)master->affinity_timeout * NS_PER_SEC)
		return 0;
	*id = aff->backend_id;
	BACKEND *backend = FN(backend_by_id)(env, id);
	if (!backend || (backend->flags & MAPLB_BACKEND_TERMINATING))
		return 0;
	aff->last_used = dp_now(env);
	return backend;
}

static __always_inline void FN(affinity_remember)(struct dp_env *env, const struct lb4_service *master,
					      ADDR client, __u32 backend_id)
{
	AFFINITY_KEY key = { .client = client, .rev_nat_id = master->rev_nat_id };
	struct lb4_affinity_entry entry = { .last_used = dp_now(env), .backend_id = backend_id };
	dpf_update(env, FAM_AFFINITY, &key, &entry, BPF_ANY);
}

/* Maglev: row offset + h % M of the flat table. 0 when the row is missing. */
static __always_inline __u32 FN(maglev_backend)(struct dp_env *env, const struct lb4_service *master,
					    __u32 hash)
{
	if (master->maglev_size == 0)
		return 0;
	__u32 row = master->maglev_offset + hash % master->maglev_size;
	__u32 *id = dpf_lookup(env, FAM_MAGLEV, &row);
	return id ? *id : 0;
}

/* Random: slot h % count + 1, read under the master's key (same frontend, same scope). */
static __always_inline __u32 FN(slot_backend)(struct dp_env *env, const struct lb4_service *master,
					  SVC_KEY *key, __u32 hash)
{
	key->backend_slot = (__u16)(hash % master->count + 1);
	struct lb4_service *slot = dpf_lookup(env, FAM_SERVICES, key);
	key->backend_slot = 0;
	return slot ? slot->backend_id : 0;
}

/* The backend for a new flow (count > 0), its id in *id; NULL when the tables point nowhere. Each
 * path looks the backend up once: affinity already has it, the hash paths fetch it here. */
static __always_inline BACKEND *FN(choose_backend)(struct dp_env *env,
							  const struct maplb_config *cfg,
							  const struct lb4_service *master,
							  SVC_KEY *key, const FLOW *f,
							  __u32 *id)
{
	if (master->flags & MAPLB_SVC_AFFINITY) {
		BACKEND *remembered = FN(affinity_backend)(env, master, f->saddr, id);
		if (remembered)
			return remembered;
	}
	__u32 hash = FN(flow_hash)(f, cfg ? cfg->hash_seed : 0);
	*id = master->algorithm == MAPLB_ALG_MAGLEV ? FN(maglev_backend)(env, master, hash)
						    : FN(slot_backend)(env, master, key, hash);
	BACKEND *backend = FN(backend_by_id)(env, id); /* row 0 is empty */
	if (backend && (master->flags & MAPLB_SVC_AFFINITY))
		FN(affinity_remember)(env, master, f->saddr, *id);
	return backend;
}
