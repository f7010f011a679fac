/* A backend by id: lb4_backends and lb6_backends are arrays indexed by the id (maplb_abi.h), so the
 * lookup is a bounds check and an offset (the verifier inlines it), and an empty row (proto 0) is
 * no backend. Family-generic (lb_family.h). */

static __always_inline BACKEND *FN(backend_by_id)(struct dp_env *env, __u32 *id)
{
	BACKEND *backend = dpf_lookup(env, FAM_BACKENDS, id);
	return backend && backend->proto ? backend : 0;
}
