/* The BPF target's shim for the pipeline: maps are the globals of maps.h, time is the kernel's
 * monotonic clock. */
#ifndef MAPLB_BPF_SHIM_H
#define MAPLB_BPF_SHIM_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "ctx.h"

struct dp_env {
	__u64 now; /* ns; 0 until dp_now reads the clock */
};

/* The coarse clock (jiffy resolution) is plenty for conntrack and affinity, which count seconds,
 * and costs a fraction of bpf_ktime_get_ns. Read at most once per packet, and only if needed. */
static __always_inline __u64 dp_now(struct dp_env *env)
{
	if (!env->now)
		env->now = bpf_ktime_get_coarse_ns();
	return env->now;
}

/* env is unused here (the maps are globals) but named, so both shims take the same arguments. */
#define dp_lookup(env, map, key) ((void)(env), bpf_map_lookup_elem(&(map), (key)))
#define dp_update(env, map, key, value, flags)                                                     \
	((void)(env), bpf_map_update_elem(&(map), (key), (value), (flags)))
#define dp_delete(env, map, key) ((void)(env), bpf_map_delete_elem(&(map), (key)))

#endif
