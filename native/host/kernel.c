/* The kernel datapath: build/maplb.bpf.o loaded with libbpf, maps pinned under a directory so a
 * later run (or `maplb list`) finds the same maps, programs run with BPF_PROG_TEST_RUN or
 * attached to an interface. */
#define _GNU_SOURCE /* setns */
#include "dp.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

/* ---- libbpf's log, routed to the caller (native code never prints) ---------------------------- */

static maplb_log_fn log_fn;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!log_fn)
		return 0;
	char msg[1024];
	int n = vsnprintf(msg, sizeof(msg), fmt, args);
	if (n > 0 && (size_t)n < sizeof(msg) && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	log_fn((int)level, msg);
	return n;
}

__attribute__((constructor)) static void silence_libbpf(void) { libbpf_set_print(libbpf_print); }

void maplb_set_log(maplb_log_fn fn) { log_fn = fn; }

/* ---- bpffs and the pin directory ---------------------------------------------------------------- */

#define BPFFS_ROOT "/sys/fs/bpf"

/* Pinning needs bpffs at /sys/fs/bpf; containers and minimal systems may not have mounted it. */
static int ensure_bpffs(const char *pin_dir)
{
	if (strncmp(pin_dir, BPFFS_ROOT "/", sizeof(BPFFS_ROOT)) != 0)
		return 0; /* somewhere else: the caller made sure it is bpffs */
	struct statfs st;
	if (statfs(BPFFS_ROOT, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	mkdir(BPFFS_ROOT, 0700);
	return mount("bpffs", BPFFS_ROOT, "bpf", 0, NULL) ? -errno : 0;
}

static int mkdir_p(const char *dir)
{
	char path[512];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
}

/* ---- open / close ------------------------------------------------------------------------------- */

static int prog_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, name);
	return prog ? bpf_program__fd(prog) : -ENOENT;
}

/* The size of a map already pinned at path, or 0 when there is none. */
static __u32 pinned_max_entries(const char *path)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);
	int err;

	if (fd < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	return err ? 0 : info.max_entries;
}

/* Sizes and pin paths. A map already pinned keeps its size unless the caller asks for one, so
 * `maplb attach` or a second `maplb apply` works on maps first created with any --map-max. */
static int configure_maps(struct maplb_dp *dp, const char *pin_dir, const __u32 *max_entries)
{
	for (__u32 id = 0; id < MAPLB_MAP__COUNT; id++) {
		struct bpf_map *map = bpf_object__find_map_by_name(dp->obj, maplb_maps[id].name);
		char path[512];
		if (!map)
			return -ENOENT;
		if (snprintf(path, sizeof(path), "%s/%s", pin_dir, maplb_maps[id].name) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		__u32 pinned = pinned_max_entries(path);
		int asked = max_entries && max_entries[id];
		dp->max_entries[id] = !asked && pinned ? pinned : maplb_resolve_max_entries(id, max_entries);
		int err = bpf_map__set_max_entries(map, dp->max_entries[id]);
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	return 0;
}

static int find_fds(struct maplb_dp *dp)
{
	for (__u32 id = 0; id < MAPLB_MAP__COUNT; id++) {
		dp->map_fds[id] = bpf_object__find_map_fd_by_name(dp->obj, maplb_maps[id].name);
		if (dp->map_fds[id] < 0)
			return dp->map_fds[id];
	}
	dp->xdp_fd = prog_fd(dp->obj, "maplb_xdp");
	dp->tc_fd = prog_fd(dp->obj, "maplb_tc");
	dp->probe_fd = prog_fd(dp->obj, "maplb_probe");
	dp->bench_new_flows_fd = prog_fd(dp->obj, "maplb_bench_new_flows");
	if (dp->bench_new_flows_fd < 0)
		return dp->bench_new_flows_fd;
	dp->bench_empty_fd = prog_fd(dp->obj, "maplb_bench_empty");
	if (dp->bench_empty_fd < 0)
		return dp->bench_empty_fd;
	if (dp->xdp_fd < 0)
		return dp->xdp_fd;
	if (dp->tc_fd < 0)
		return dp->tc_fd;
	return dp->probe_fd < 0 ? dp->probe_fd : 0;
}

int kernel_open(const char *obj_path, const char *pin_dir, const __u32 *max_entries,
		struct maplb_dp **out)
{
	int err = ensure_bpffs(pin_dir);
	if (!err)
		err = mkdir_p(pin_dir);
	if (err)
		return err;
	struct maplb_dp *dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->kind = MAPLB_KIND_KERNEL;
	dp->obj = bpf_object__open_file(obj_path, NULL);
	err = libbpf_get_error(dp->obj);
	if (err) {
		dp->obj = NULL;
		kernel_close(dp);
		return err;
	}
	err = configure_maps(dp, pin_dir, max_entries);
	if (!err)
		err = bpf_object__load(dp->obj); /* reuses compatible pinned maps, pins the new ones */
	if (!err)
		err = find_fds(dp);
	if (err) {
		kernel_close(dp);
		return err < 0 ? err : -err;
	}
	*out = dp;
	return 0;
}

void kernel_close(struct maplb_dp *dp)
{
	bpf_object__close(dp->obj); /* the pinned maps stay */
	free(dp);
}

/* ---- running packets ---------------------------------------------------------------------------- */

/* maplb_probe returns verdict | reason << 8. */
int kernel_process(struct maplb_dp *dp, __u8 *frames, const __u32 *offsets, const __u32 *lengths,
		   __u8 *verdicts, __u8 *reasons, __u32 n)
{
	for (__u32 i = 0; i < n; i++)
		if (lengths[i] < ETH_HLEN)
			return -EINVAL; /* BPF_PROG_TEST_RUN refuses frames without an Ethernet header */
	for (__u32 i = 0; i < n; i++) {
		__u8 *frame = frames + offsets[i];
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = lengths[i],
			    .data_out = frame, .data_size_out = lengths[i], .repeat = 1);
		int err = bpf_prog_test_run_opts(dp->probe_fd, &opts);
		if (err)
			return err < 0 ? err : -errno;
		verdicts[i] = opts.retval & 0xff;
		reasons[i] = (opts.retval >> 8) & 0xff;
	}
	return 0;
}

int maplb_test_run(struct maplb_dp *dp, int prog, const __u8 *frame, __u32 len, __u8 *out,
		   __u32 *out_len, __u32 repeat, __u32 *retval, __u32 *ns_per_run)
{
	if (dp->kind != MAPLB_KIND_KERNEL)
		return -EOPNOTSUPP;
	int fd = prog == MAPLB_PROG_XDP ? dp->xdp_fd
		 : prog == MAPLB_PROG_TC ? dp->tc_fd
		 : prog == MAPLB_PROG_PROBE ? dp->probe_fd
					     : -1;
	if (fd < 0)
		return -EINVAL;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .data_out = out,
		    .data_size_out = *out_len, .repeat = repeat);
	int err = bpf_prog_test_run_opts(fd, &opts);
	if (err)
		return err < 0 ? err : -errno;
	*out_len = opts.data_size_out;
	*retval = opts.retval;
	*ns_per_run = opts.duration;
	return 0;
}

int kernel_bench(struct maplb_dp *dp, const __u8 *frame, __u32 len, __u32 repeat, int mode,
		 __u64 *ns_total)
{
	int fd = mode == MAPLB_BENCH_NEW_FLOWS ? dp->bench_new_flows_fd
		 : mode == MAPLB_BENCH_EMPTY   ? dp->bench_empty_fd
					       : dp->xdp_fd;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .repeat = repeat);
	int err = bpf_prog_test_run_opts(fd, &opts);
	if (err)
		return err < 0 ? err : -errno;
	*ns_total = (__u64)opts.duration * repeat;
	return 0;
}

/* Runs in network namespace `netns` (a path; NULL: the caller's) and comes back: only this
 * thread moves, and only for the call. */
static int in_netns(const char *netns, int (*fn)(void *), void *arg)
{
	if (!netns)
		return fn(arg);
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	int target = open(netns, O_RDONLY | O_CLOEXEC);
	int err = target < 0 ? -errno : setns(target, CLONE_NEWNET) ? -errno : 0;
	if (!err) {
		err = fn(arg);
		if (setns(self, CLONE_NEWNET))
			err = -errno; /* cannot happen for a namespace we came from; say so if it does */
	}
	if (target >= 0)
		close(target);
	close(self);
	return err;
}

struct live_run {
	int fd;
	struct bpf_test_run_opts *opts;
};

static int live_run(void *arg)
{
	struct live_run *run = arg;
	return bpf_prog_test_run_opts(run->fd, run->opts) ? -errno : 0;
}

int maplb_xdp_live(struct maplb_dp *dp, const char *netns, const __u8 *frame, __u32 len,
		   __u32 repeat, int mode, __u32 *ns_per_frame)
{
	if (dp->kind != MAPLB_KIND_KERNEL)
		return -EOPNOTSUPP;
	if (len < ETH_HLEN || repeat == 0 || mode < MAPLB_BENCH_ESTABLISHED || mode > MAPLB_BENCH_EMPTY)
		return -EINVAL;
	int fd = mode == MAPLB_BENCH_NEW_FLOWS ? dp->bench_new_flows_fd
		 : mode == MAPLB_BENCH_EMPTY   ? dp->bench_empty_fd
					       : dp->xdp_fd;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .repeat = repeat,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
	struct live_run run = { fd, &opts };
	int err = in_netns(netns, live_run, &run);
	if (!err)
		*ns_per_frame = opts.duration;
	return err;
}

/* ---- attaching ------------------------------------------------------------------------------------ */

int maplb_ifindex(const char *name)
{
	unsigned int index = if_nametoindex(name);
	return index ? (int)index : -ENODEV;
}

int maplb_attach_xdp(struct maplb_dp *dp, int ifindex, __u32 xdp_flags)
{
	if (dp->kind != MAPLB_KIND_KERNEL)
		return -EOPNOTSUPP;
	return bpf_xdp_attach(ifindex, dp->xdp_fd, xdp_flags, NULL);
}

int maplb_detach_xdp(int ifindex, __u32 xdp_flags) { return bpf_xdp_detach(ifindex, xdp_flags, NULL); }

/* maplb's filter: one handle/priority, so attaching again replaces it. */
#define TC_HANDLE 1
#define TC_PRIORITY 1

int maplb_attach_tc(struct maplb_dp *dp, int ifindex, int egress)
{
	if (dp->kind != MAPLB_KIND_KERNEL)
		return -EOPNOTSUPP;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	int err = bpf_tc_hook_create(&hook); /* the clsact qdisc */
	if (err && err != -EEXIST)
		return err;
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY,
		    .prog_fd = dp->tc_fd, .flags = BPF_TC_F_REPLACE);
	return bpf_tc_attach(&hook, &opts);
}

/* Removes maplb's filter; the clsact qdisc stays (other filters may share it). */
int maplb_detach_tc(int ifindex, int egress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	return bpf_tc_detach(&hook, &opts);
}
