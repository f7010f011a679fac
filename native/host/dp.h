/* The handle behind struct maplb_dp, shared by api.c (dispatch), emulated.c and kernel.c. */
#ifndef MAPLB_DP_H
#define MAPLB_DP_H

#include "maplb_abi.h"
#include "maplb_api.h"
#include "sim_map.h"

struct bpf_object;

struct maplb_dp {
	enum maplb_dp_kind kind;
	__u32 max_entries[MAPLB_MAP__COUNT];
	/* emulated */
	struct sim_map *maps[MAPLB_MAP__COUNT];
	__u64 fixed_now;     /* 0: CLOCK_MONOTONIC */
	__u64 last_batch_ns; /* time spent in the last emulated_process loop */
	/* kernel */
	struct bpf_object *obj;
	int map_fds[MAPLB_MAP__COUNT];
	int xdp_fd, tc_fd, probe_fd, bench_new_flows_fd, bench_empty_fd;
};

/* The ABI's list of maps, as data. */
struct map_def {
	const char *name;
	__u32 type, key_size, value_size, default_max_entries;
};
extern const struct map_def maplb_maps[MAPLB_MAP__COUNT];

/* The configured max_entries of map `id` (0 in `requested` = the default; fixed-size arrays keep
 * their size; an id table gets one row more than asked, for the unused row 0). */
__u32 maplb_resolve_max_entries(__u32 id, const __u32 *requested);

int emulated_open(const __u32 *max_entries, struct maplb_dp **out);
void emulated_close(struct maplb_dp *dp);
int emulated_process(struct maplb_dp *dp, __u8 *frames, const __u32 *offsets,
		     const __u32 *lengths, const __u8 *csum_partial, __u8 *verdicts, __u8 *reasons,
		     __u32 n);

int emulated_bench(struct maplb_dp *dp, const __u8 *frame, __u32 len, __u32 repeat, int mode,
		   __u64 *ns_total);
int kernel_bench(struct maplb_dp *dp, const __u8 *frame, __u32 len, __u32 repeat, int mode,
		 __u64 *ns_total);

int kernel_open(const char *obj_path, const char *pin_dir, const __u32 *max_entries,
		struct maplb_dp **out);
void kernel_close(struct maplb_dp *dp);
int kernel_process(struct maplb_dp *dp, __u8 *frames, const __u32 *offsets, const __u32 *lengths,
		   __u8 *verdicts, __u8 *reasons, __u32 n);

#endif
