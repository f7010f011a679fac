/* A backend by id: lb4_backends is an array indexed by the id (maplb_abi.h), so the lookup is a
 * bounds check and an offset (the verifier inlines it), and an empty row (proto 0) is no backend. */
#ifndef MAPLB_BACKEND_ROW_H
#define MAPLB_BACKEND_ROW_H

static __always_inline struct lb4_backend *backend_by_id(struct dp_env *env, __u32 *id)
{
	struct lb4_backend *backend = dp_lookup(env, lb4_backends, id);
	return backend && backend->proto ? backend : 0;
}

#endif
