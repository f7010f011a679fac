/* Attaching the socket-LB programs of maplb.bpf.o to a cgroup v2, and finding them again. They
 * are attached with bpf_prog_attach (no link), so they stay after the process exits, as the XDP
 * and TC programs do; detach and status find them by name among the cgroup's programs. */
#include "dp.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *prog;
	enum bpf_attach_type type;
} hooks[] = {
	{ "maplb_sock_connect4", BPF_CGROUP_INET4_CONNECT },
	{ "maplb_sock_sendmsg4", BPF_CGROUP_UDP4_SENDMSG },
	{ "maplb_sock_recvmsg4", BPF_CGROUP_UDP4_RECVMSG },
	{ "maplb_sock_getpeername4", BPF_CGROUP_INET4_GETPEERNAME },
	{ "maplb_sock_connect6", BPF_CGROUP_INET6_CONNECT },
	{ "maplb_sock_sendmsg6", BPF_CGROUP_UDP6_SENDMSG },
	{ "maplb_sock_recvmsg6", BPF_CGROUP_UDP6_RECVMSG },
	{ "maplb_sock_getpeername6", BPF_CGROUP_INET6_GETPEERNAME },
	/* the benchmark's floor, attached alone by maplb_attach_sock_empty */
	{ "maplb_sock_empty4", BPF_CGROUP_INET4_CONNECT },
};
#define HOOK_COUNT (sizeof(hooks) / sizeof(hooks[0]))
#define LB_HOOKS 8 /* the first eight: socket LB (IPv4, then IPv6) */
#define QUERY_MAX 64 /* programs per hook looked at; a cgroup with more is not ours to manage */

static int open_cgroup(const char *cgroup)
{
	int fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Calls fn on every program of hook h named hooks[h].prog; returns how many, or -errno. */
static int for_each_ours(int cg, __u32 h, int (*fn)(int cg, int prog_fd, __u32 h, void *arg), void *arg)
{
	__u32 ids[QUERY_MAX], count = QUERY_MAX;
	int err = bpf_prog_query(cg, hooks[h].type, 0, NULL, ids, &count);
	if (err)
		return err;
	int found = 0;
	for (__u32 i = 0; i < count && i < QUERY_MAX; i++) {
		int fd = bpf_prog_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue; /* gone meanwhile */
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		err = bpf_obj_get_info_by_fd(fd, &info, &len);
		/* the kernel keeps BPF_OBJ_NAME_LEN - 1 = 15 characters of the name */
		if (!err && strncmp(info.name, hooks[h].prog, sizeof(info.name) - 1) == 0) {
			err = fn ? fn(cg, fd, h, arg) : 0;
			found++;
		}
		close(fd);
		if (err)
			return err;
	}
	return found;
}

static int detach_one(int cg, int prog_fd, __u32 h, void *arg)
{
	(void)arg;
	return bpf_prog_detach2(prog_fd, cg, hooks[h].type);
}

static int detach_all(int cg)
{
	int total = 0;
	for (__u32 h = 0; h < HOOK_COUNT; h++) {
		int n = for_each_ours(cg, h, detach_one, NULL);
		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

/* Where a global of the object's .bss sits: its offset, read from the section's BTF (the .bss
 * holds other globals too, in an order the compiler chooses). */
static int bss_offset(struct bpf_object *obj, struct bpf_map *bss, const char *var)
{
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *sec = btf ? btf__type_by_id(btf, bpf_map__btf_value_type_id(bss)) : NULL;
	if (!sec || !btf_is_datasec(sec))
		return -ENOENT;
	const struct btf_var_secinfo *vi = btf_var_secinfos(sec);
	for (__u16 i = 0; i < btf_vlen(sec); i++, vi++) {
		const struct btf_type *v = btf__type_by_id(btf, vi->type);
		if (v && strcmp(btf__name_by_offset(btf, v->name_off), var) == 0)
			return (int)vi->offset;
	}
	return -ENOENT;
}

static int set_hostns_only(struct maplb_dp *dp, int hostns_only)
{
	struct bpf_map *map;
	bpf_object__for_each_map(map, dp->obj) {
		const char *name = bpf_map__name(map);
		size_t len = strlen(name);
		if (!bpf_map__is_internal(map) || len < 4 || strcmp(name + len - 4, ".bss") != 0)
			continue;
		__u32 zero = 0;
		__u8 value[64];
		int at = bss_offset(dp->obj, map, "maplb_sock_hostns_only");
		if (at < 0)
			return at;
		if (bpf_map__value_size(map) > sizeof(value) || (__u32)at >= bpf_map__value_size(map))
			return -E2BIG;
		/* Read, change one byte, write back: the other globals keep their values. */
		if (bpf_map_lookup_elem(bpf_map__fd(map), &zero, value))
			return -errno;
		value[at] = hostns_only ? 1 : 0;
		return bpf_map_update_elem(bpf_map__fd(map), &zero, value, BPF_ANY) ? -errno : 0;
	}
	return -ENOENT;
}

/* Attaches hooks[from, to) to the cgroup, in place of maplb's programs there: all or none. */
static int attach_hooks(struct maplb_dp *dp, const char *cgroup, __u32 from, __u32 to)
{
	int cg = open_cgroup(cgroup);
	if (cg < 0)
		return cg;
	int err = detach_all(cg);
	for (__u32 h = from; err >= 0 && h < to; h++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(dp->obj, hooks[h].prog);
		err = prog ? bpf_prog_attach(bpf_program__fd(prog), cg, hooks[h].type, BPF_F_ALLOW_MULTI)
			   : -ENOENT;
	}
	if (err < 0)
		detach_all(cg);
	close(cg);
	return err < 0 ? err : 0;
}

int maplb_attach_sock(struct maplb_dp *dp, const char *cgroup, int hostns_only)
{
	if (dp->kind != MAPLB_KIND_KERNEL)
		return -EOPNOTSUPP;
	int err = set_hostns_only(dp, hostns_only);
	return err ? err : attach_hooks(dp, cgroup, 0, LB_HOOKS);
}

int maplb_attach_sock_empty(struct maplb_dp *dp, const char *cgroup)
{
	if (dp->kind != MAPLB_KIND_KERNEL)
		return -EOPNOTSUPP;
	return attach_hooks(dp, cgroup, LB_HOOKS, HOOK_COUNT);
}

int maplb_detach_sock(const char *cgroup)
{
	int cg = open_cgroup(cgroup);
	if (cg < 0)
		return cg;
	int n = detach_all(cg);
	close(cg);
	return n;
}

int maplb_sock_attached(const char *cgroup)
{
	int cg = open_cgroup(cgroup);
	if (cg < 0)
		return cg;
	int mask = 0;
	for (__u32 h = 0; h < LB_HOOKS; h++) {
		int n = for_each_ours(cg, h, NULL, NULL);
		if (n < 0) {
			close(cg);
			return n;
		}
		if (n > 0)
			mask |= 1 << h;
	}
	close(cg);
	return mask;
}

int maplb_bpf_stats_enable(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	return fd < 0 ? -errno : fd;
}

/* Adds a program's run_time_ns and run_cnt to out[0] and out[1]. */
static int add_run_stats(int cg, int prog_fd, __u32 h, void *arg)
{
	(void)cg;
	(void)h;
	__u64 *out = arg;
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	out[0] += info.run_time_ns;
	out[1] += info.run_cnt;
	return 0;
}

int maplb_sock_connect_stats(const char *cgroup, __u64 *out)
{
	int cg = open_cgroup(cgroup);
	if (cg < 0)
		return cg;
	out[0] = out[1] = 0;
	int err = 0;
	for (__u32 h = 0; err >= 0 && h < HOOK_COUNT; h++)
		if (hooks[h].type == BPF_CGROUP_INET4_CONNECT)
			err = for_each_ours(cg, h, add_run_stats, out);
	close(cg);
	return err < 0 ? err : 0;
}
