/* Counters: one row per (verdict, reason), and packets/bytes per backend. Both maps are per-CPU,
 * so plain increments are enough (no other CPU writes this CPU's copy). */
#ifndef MAPLB_COUNTERS_H
#define MAPLB_COUNTERS_H

static __always_inline void count_verdict(struct dp_env *env, enum maplb_verdict verdict,
					  enum maplb_reason reason)
{
	__u32 row = MAPLB_COUNTER(verdict, reason);
	__u64 *count = dp_lookup(env, maplb_counters, &row);
	if (count)
		*count += 1;
}

/* lb4_backend_stats is an array by backend id, like lb4_backends: every id has its row. */
static __always_inline void count_backend(struct dp_env *env, __u32 backend_id, __u32 bytes)
{
	struct lb4_backend_stats *stats = dp_lookup(env, lb4_backend_stats, &backend_id);
	if (!stats)
		return; /* an id past the stats map's size: the packet still goes through */
	stats->packets += 1;
	stats->bytes += bytes;
}

#endif
