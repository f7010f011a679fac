/* Counters: one row per verdict and per reason, and packets/bytes per backend. */
#ifndef MAPLB_COUNTERS_H
#define MAPLB_COUNTERS_H

static __always_inline void counter_add(struct dp_env *env, __u32 row)
{
	__u64 *count = dp_lookup(env, maplb_counters, &row);
	if (count)
		__sync_fetch_and_add(count, 1);
}

static __always_inline void count_verdict(struct dp_env *env, enum maplb_verdict verdict,
					  enum maplb_reason reason)
{
	counter_add(env, MAPLB_COUNTER_VERDICT(verdict));
	counter_add(env, MAPLB_COUNTER_REASON(reason));
}

static __always_inline void count_backend(struct dp_env *env, __u32 backend_id, __u32 bytes)
{
	struct lb4_backend_stats *stats = dp_lookup(env, lb4_backend_stats, &backend_id);
	if (!stats) {
		struct lb4_backend_stats zero = { 0, 0 };
		dp_update(env, lb4_backend_stats, &backend_id, &zero, BPF_NOEXIST);
		stats = dp_lookup(env, lb4_backend_stats, &backend_id);
		if (!stats)
			return; /* the stats map is full: the packet still goes through */
	}
	__sync_fetch_and_add(&stats->packets, 1);
	__sync_fetch_and_add(&stats->bytes, bytes);
}

#endif
