/* The BPF target's shim for the pipeline: maps are the globals of maps.h, time is the kernel's
 * monotonic clock. */
#ifndef MAPLB_BPF_SHIM_H
#define MAPLB_BPF_SHIM_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"

struct dp_env {
	__u64 now; /* ns, read once per packet */
};

/* env is unused here (the maps are globals) but named, so both shims take the same arguments. */
#define dp_lookup(env, map, key) ((void)(env), bpf_map_lookup_elem(&(map), (key)))
#define dp_update(env, map, key, value, flags)                                                     \
	((void)(env), bpf_map_update_elem(&(map), (key), (value), (flags)))
#define dp_delete(env, map, key) ((void)(env), bpf_map_delete_elem(&(map), (key)))

#endif
