/* Simulated BPF maps for the host build: hash, LRU hash, array and LPM trie (and per-CPU hash and
 * array, as if the host had one CPU), with the kernel's
 * semantics (fixed key/value sizes, max_entries, BPF_ANY/NOEXIST/EXIST, errnos, get_next_key,
 * batch update). Values live at stable addresses until deleted, like preallocated BPF maps, so
 * the pipeline can update them through the pointer a lookup returned.
 * Not thread-safe: one batch runs at a time per datapath. */
#ifndef MAPLB_SIM_MAP_H
#define MAPLB_SIM_MAP_H

#include <linux/bpf.h>
#include <stddef.h>

struct sim_map;

/* Negative errno on bad sizes or no memory. */
int sim_map_create(enum bpf_map_type type, __u32 key_size, __u32 value_size, __u32 max_entries,
		   struct sim_map **out);
void sim_map_free(struct sim_map *map);

/* The value in place, or NULL. LRU maps count a lookup as a use. */
void *sim_map_lookup(struct sim_map *map, const void *key);
/* 0, or -E2BIG (full), -EEXIST (NOEXIST on a present key), -ENOENT (EXIST on a missing key),
 * -EINVAL (bad flags, array index out of range, LPM prefix too long). */
int sim_map_update(struct sim_map *map, const void *key, const void *value, __u64 flags);
/* 0, -ENOENT, or -EINVAL (arrays cannot delete). */
int sim_map_delete(struct sim_map *map, const void *key);
/* The key after `key` (the first key when key is NULL or missing); -ENOENT after the last. */
int sim_map_get_next_key(struct sim_map *map, const void *key, void *next_key);
/* Updates keys[i] -> values[i] in order and stops at the first error; *count returns how many
 * succeeded (as the kernel's BPF_MAP_UPDATE_BATCH does). flags must be BPF_ANY (the kernel's
 * elem_flags take only BPF_F_LOCK): anything else is -EINVAL with *count untouched. */
int sim_map_update_batch(struct sim_map *map, const void *keys, const void *values, __u32 *count,
			 __u64 flags);
__u32 sim_map_max_entries(const struct sim_map *map);

#endif
