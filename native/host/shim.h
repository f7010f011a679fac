/* The host target's shim for the pipeline: maps are simulated (sim_map.c), time is whatever the
 * caller set for the batch. */
#ifndef MAPLB_HOST_SHIM_H
#define MAPLB_HOST_SHIM_H

#include <linux/bpf.h>
#include "maplb_abi.h"
#include "sim_map.h"
#include "sim_map_inline.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#include "ctx.h"

struct dp_env {
	struct sim_map **maps; /* indexed by enum maplb_map_id */
	__u64 now;             /* ns: one reading per batch (or the fixed test clock) */
};

static __always_inline __u64 dp_now(struct dp_env *env)
{
	return env->now;
}

/* Each map's type as a constant (MAPLB_TYPE_<name>), so that a lookup inlines only its own kind. */
enum maplb_map_type_of {
#define MAPLB_MAP_TYPE_OF(name, type, ksz, vsz, max) MAPLB_TYPE_##name = type,
	MAPLB_MAPS(MAPLB_MAP_TYPE_OF)
#undef MAPLB_MAP_TYPE_OF
};

#define dp_lookup(env, map, key)                                                                   \
	sim_map_lookup_inline((env)->maps[MAPLB_MAP_##map], (key), sizeof(*(key)), MAPLB_TYPE_##map)
#define dp_update(env, map, key, value, flags)                                                     \
	sim_map_update((env)->maps[MAPLB_MAP_##map], (key), (value), (flags))
#define dp_delete(env, map, key) sim_map_delete((env)->maps[MAPLB_MAP_##map], (key))

#endif
