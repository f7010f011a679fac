/* The emulated datapath: the pipeline compiled for the host, over simulated maps. */
#include "shim.h"
#include "../datapath/pipeline.h"
#include "dp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int emulated_open(const __u32 *max_entries, struct maplb_dp **out)
{
	struct maplb_dp *dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->kind = MAPLB_KIND_EMULATED;
	for (__u32 id = 0; id < MAPLB_MAP__COUNT; id++) {
		const struct map_def *def = &maplb_maps[id];
		dp->max_entries[id] = maplb_resolve_max_entries(id, max_entries);
		int err = sim_map_create(def->type, def->key_size, def->value_size,
					 dp->max_entries[id], &dp->maps[id]);
		if (err) {
			emulated_close(dp);
			return err;
		}
	}
	*out = dp;
	return 0;
}

void emulated_close(struct maplb_dp *dp)
{
	for (__u32 id = 0; id < MAPLB_MAP__COUNT; id++)
		sim_map_free(dp->maps[id]);
	free(dp);
}

static __u64 monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* The kernel hands the pipeline frames whose IP header is 4-byte aligned (NET_IP_ALIGN = 2 before
 * a 14-byte Ethernet header); C, unlike BPF, makes misaligned struct access undefined. So a frame
 * that sits elsewhere in the caller's buffer runs in an aligned scratch copy, copied back after. */
#define NET_IP_ALIGN 2
#define MAX_FRAME 65535

struct aligned_scratch {
	_Alignas(8) __u8 bytes[NET_IP_ALIGN + MAX_FRAME];
};

static int ip_aligned(const __u8 *frame)
{
	return ((unsigned long)(frame + ETH_HLEN) & 3) == 0;
}

int emulated_process(struct maplb_dp *dp, __u8 *frames, const __u32 *offsets,
		     const __u32 *lengths, const __u8 *csum_partial, __u8 *verdicts, __u8 *reasons,
		     __u32 n)
{
	static _Thread_local struct aligned_scratch scratch;
	for (__u32 i = 0; i < n; i++)
		if (lengths[i] > MAX_FRAME)
			return -EMSGSIZE;

	/* One clock reading per batch: packets of a batch arrive "at the same time". */
	__u64 start = monotonic_ns();
	struct dp_env env = { .maps = dp->maps, .now = dp->fixed_now ? dp->fixed_now : start };
	for (__u32 i = 0; i < n; i++) {
		__u8 *frame = frames + offsets[i];
		__u8 *data = ip_aligned(frame) ? frame : scratch.bytes + NET_IP_ALIGN;
		if (data != frame)
			memcpy(data, frame, lengths[i]);
		struct dp_ctx ctx = { .data = data, .data_end = data + lengths[i], .len = lengths[i],
				      .csum_partial = csum_partial && csum_partial[i] };
		struct dp_result r = dp_process(&env, &ctx);
		if (data != frame && (r.verdict == MAPLB_VERDICT_DNAT || r.verdict == MAPLB_VERDICT_REVNAT))
			memcpy(frame, data, lengths[i]);
		verdicts[i] = r.verdict;
		reasons[i] = r.reason;
	}
	dp->last_batch_ns = monotonic_ns() - start;
	return 0;
}

int emulated_bench(struct maplb_dp *dp, const __u8 *frame, __u32 len, __u32 repeat, int mode,
		   __u64 *ns_total)
{
	static _Thread_local struct aligned_scratch scratch;
	if (len > MAX_FRAME)
		return -EMSGSIZE;
	__u8 *data = scratch.bytes + NET_IP_ALIGN;
	memcpy(data, frame, len);
	__be16 *sport = (__be16 *)(data + ETH_HLEN + sizeof(struct iphdr));
	int can_move = len >= ETH_HLEN + sizeof(struct iphdr) + sizeof(*sport);

	__u64 start = monotonic_ns();
	struct dp_env env = { .maps = dp->maps, .now = dp->fixed_now ? dp->fixed_now : start };
	for (__u32 i = 0; i < repeat; i++) {
		struct dp_ctx ctx = { .data = data, .data_end = data + len, .len = len };
		if (mode != MAPLB_BENCH_EMPTY)
			dp_process(&env, &ctx);
		else
			__asm__ volatile("" ::: "memory"); /* keeps the empty loop a loop */
		if (mode == MAPLB_BENCH_NEW_FLOWS && can_move)
			*sport = bpf_htons(bpf_ntohs(*sport) + 1);
	}
	*ns_total = monotonic_ns() - start;
	return 0;
}
