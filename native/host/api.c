/* The exported API: argument checks, then the emulated or kernel implementation. */
#include "dp.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#define ROUND8(n) (((n) + 7u) & ~7u)

int maplb_map_count(void) { return MAPLB_MAP__COUNT; }

int maplb_map_info(__u32 id, struct maplb_map_info *out)
{
	if (id >= MAPLB_MAP__COUNT)
		return -EINVAL;
	const struct map_def *def = &maplb_maps[id];
	memset(out, 0, sizeof(*out));
	strncpy(out->name, def->name, sizeof(out->name) - 1);
	out->type = def->type;
	out->key_size = def->key_size;
	out->value_size = def->value_size;
	out->default_max_entries = def->default_max_entries;
	return 0;
}

int maplb_open_emulated(const __u32 *max_entries, struct maplb_dp **out)
{
	return emulated_open(max_entries, out);
}

int maplb_open_kernel(const char *obj_path, const char *pin_dir, const __u32 *max_entries,
		      struct maplb_dp **out)
{
	return kernel_open(obj_path, pin_dir, max_entries, out);
}

void maplb_close(struct maplb_dp *dp)
{
	if (!dp)
		return;
	if (dp->kind == MAPLB_KIND_KERNEL)
		kernel_close(dp);
	else
		emulated_close(dp);
}

int maplb_kind(const struct maplb_dp *dp) { return dp->kind; }

int maplb_max_entries(const struct maplb_dp *dp, __u32 id)
{
	return id < MAPLB_MAP__COUNT ? (int)dp->max_entries[id] : -EINVAL;
}

/* libbpf's low-level calls return -errno (libbpf 1.0 mode, the default since 1.0). */

static int is_percpu(__u32 id)
{
	return maplb_maps[id].type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       maplb_maps[id].type == BPF_MAP_TYPE_PERCPU_HASH;
}

/* A per-CPU map's value, as the kernel returns it: one copy per possible CPU, 8-byte aligned. Our
 * per-CPU maps hold only __u64 counters, so the caller gets their sum over the CPUs. */
static int kernel_lookup_percpu_sum(struct maplb_dp *dp, __u32 id, const void *key, void *value)
{
	int ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0)
		return ncpus;
	__u32 words = maplb_maps[id].value_size / sizeof(__u64);
	__u64 *all = calloc((size_t)ncpus * words, sizeof(__u64));
	if (!all)
		return -ENOMEM;
	int err = bpf_map_lookup_elem(dp->map_fds[id], key, all);
	if (!err) {
		__u64 *sum = value;
		memset(sum, 0, words * sizeof(__u64));
		for (int cpu = 0; cpu < ncpus; cpu++)
			for (__u32 w = 0; w < words; w++)
				sum[w] += all[(size_t)cpu * words + w];
	}
	free(all);
	return err;
}

/* Writing a per-CPU map from user space: the value goes to CPU 0 and the other CPUs get zero, so a
 * summed read gives the value back. */
static int kernel_update_percpu(struct maplb_dp *dp, __u32 id, const void *key, const void *value,
				__u64 flags)
{
	int ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0)
		return ncpus;
	__u32 size = maplb_maps[id].value_size;
	__u8 *all = calloc((size_t)ncpus, size);
	if (!all)
		return -ENOMEM;
	memcpy(all, value, size);
	int err = bpf_map_update_elem(dp->map_fds[id], key, all, flags);
	free(all);
	return err;
}

/* The map operations as the target has them (kernel: libbpf's syscalls; emulated: sim_map). */
static int raw_lookup(struct maplb_dp *dp, __u32 id, const void *key, void *value)
{
	if (dp->kind == MAPLB_KIND_KERNEL)
		return is_percpu(id) ? kernel_lookup_percpu_sum(dp, id, key, value)
				     : bpf_map_lookup_elem(dp->map_fds[id], key, value);
	const void *found = sim_map_lookup(dp->maps[id], key);
	if (!found)
		return -ENOENT;
	memcpy(value, found, maplb_maps[id].value_size);
	return 0;
}

static int raw_update(struct maplb_dp *dp, __u32 id, const void *key, const void *value, __u64 flags)
{
	if (dp->kind == MAPLB_KIND_KERNEL)
		return is_percpu(id) ? kernel_update_percpu(dp, id, key, value, flags)
				     : bpf_map_update_elem(dp->map_fds[id], key, value, flags);
	return sim_map_update(dp->maps[id], key, value, flags);
}

static int raw_next_key(struct maplb_dp *dp, __u32 id, const void *key, void *next_key)
{
	if (dp->kind == MAPLB_KIND_KERNEL)
		return bpf_map_get_next_key(dp->map_fds[id], key, next_key);
	return sim_map_get_next_key(dp->maps[id], key, next_key);
}

/* ---- id tables (MAPLB_ID_TABLE): arrays read as hash maps, a row of zeros being absent ------- */

#define ID_ROW_MAX 24 /* bytes: at least the largest id-table value (lb6_backend) */
_Static_assert(sizeof(struct lb4_backend_stats) <= ID_ROW_MAX, "ID_ROW_MAX");
_Static_assert(sizeof(struct lb4_backend) <= ID_ROW_MAX, "ID_ROW_MAX");
_Static_assert(sizeof(struct lb6_backend) <= ID_ROW_MAX, "ID_ROW_MAX");

static int all_zero(const void *value, __u32 size)
{
	const __u8 *p = value;
	for (__u32 i = 0; i < size; i++)
		if (p[i])
			return 0;
	return 1;
}

/* 1 when the row holds something, 0 when empty, or a negative errno (-E2BIG past the array). */
static int id_row_used(struct maplb_dp *dp, __u32 id, const void *key, void *value)
{
	__u32 row;
	memcpy(&row, key, sizeof(row));
	if (row >= dp->max_entries[id])
		return -E2BIG;
	int err = raw_lookup(dp, id, key, value);
	return err ? err : !all_zero(value, maplb_maps[id].value_size);
}

static int id_lookup(struct maplb_dp *dp, __u32 id, const void *key, void *value)
{
	int used = id_row_used(dp, id, key, value);
	if (used == -E2BIG || used == 0)
		return -ENOENT;
	return used < 0 ? used : 0;
}

static int id_update(struct maplb_dp *dp, __u32 id, const void *key, const void *value, __u64 flags)
{
	if (flags > BPF_EXIST)
		return -EINVAL;
	/* A backend always has a protocol: the datapath reads proto 0 as an empty row. */
	if (id == MAPLB_MAP_lb4_backends && !((const struct lb4_backend *)value)->proto &&
	    !all_zero(value, sizeof(struct lb4_backend)))
		return -EINVAL;
	if (id == MAPLB_MAP_lb6_backends && !((const struct lb6_backend *)value)->proto &&
	    !all_zero(value, sizeof(struct lb6_backend)))
		return -EINVAL;
	if (flags != BPF_ANY) {
		__u8 old[ID_ROW_MAX];
		int used = id_row_used(dp, id, key, old);
		if (used < 0)
			return used;
		if (flags == BPF_NOEXIST && used)
			return -EEXIST;
		if (flags == BPF_EXIST && !used)
			return -ENOENT;
	}
	return raw_update(dp, id, key, value, BPF_ANY);
}

static int id_delete(struct maplb_dp *dp, __u32 id, const void *key)
{
	__u8 old[ID_ROW_MAX];
	int used = id_row_used(dp, id, key, old);
	if (used == -E2BIG || used == 0)
		return -ENOENT;
	if (used < 0)
		return used;
	static const __u8 zero[ID_ROW_MAX];
	return raw_update(dp, id, key, zero, BPF_ANY);
}

/* The first used row at or after `row` in a kernel array, read ID_SCAN_ROWS rows per syscall
 * (BPF_MAP_LOOKUP_BATCH): a dump walks a 64k-row table in a few hundred calls, not 64k. Per-CPU
 * rows come back once per CPU, and a row is used when any CPU's copy is. 1 and *found, 0 when none
 * is left, or a negative errno. */
#define ID_SCAN_ROWS 256

static int kernel_id_scan(struct maplb_dp *dp, __u32 id, __u32 row, __u32 *found)
{
	int copies = is_percpu(id) ? libbpf_num_possible_cpus() : 1;
	if (copies < 0)
		return copies;
	/* As the kernel packs a batch (bpf_map_value_size): per-CPU copies are 8-byte aligned, a plain
	 * array's values are value_size apart (lb6_backend's 20 bytes are not a multiple of 8). */
	__u32 size = is_percpu(id) ? ROUND8(maplb_maps[id].value_size) * (__u32)copies
				   : maplb_maps[id].value_size;
	__u32 *keys = calloc(ID_SCAN_ROWS, sizeof(*keys));
	__u8 *values = calloc(ID_SCAN_ROWS, size);
	int result = 0;
	if (!keys || !values) {
		result = -ENOMEM;
		goto out;
	}
	/* The batch starts after in_batch (a row number for arrays), so row 0 needs no in_batch. */
	__u32 in = row - 1, out = 0;
	while (row < dp->max_entries[id] && result == 0) {
		__u32 count = ID_SCAN_ROWS;
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		int err = bpf_map_lookup_batch(dp->map_fds[id], row ? &in : NULL, &out, keys, values,
					       &count, &opts);
		if (err && err != -ENOENT) {
			result = err;
			break;
		}
		for (__u32 i = 0; i < count; i++)
			if (!all_zero(values + (size_t)i * size, size)) {
				*found = keys[i];
				result = 1;
				break;
			}
		if (err == -ENOENT || count == 0)
			break; /* the last rows were in this batch */
		row = keys[count - 1] + 1;
		in = keys[count - 1];
	}
out:
	free(keys);
	free(values);
	return result;
}

/* The next used row after key (from row 0 when key is NULL or past the end). */
static int id_next_key(struct maplb_dp *dp, __u32 id, const void *key, void *next_key)
{
	__u32 row = 0;
	if (key) {
		memcpy(&row, key, sizeof(row));
		row = row + 1 < dp->max_entries[id] && row + 1 != 0 ? row + 1 : 0;
		if (row == 0)
			return -ENOENT;
	}
	if (dp->kind == MAPLB_KIND_KERNEL) {
		__u32 found;
		int used = kernel_id_scan(dp, id, row, &found);
		if (used <= 0)
			return used < 0 ? used : -ENOENT;
		memcpy(next_key, &found, sizeof(found));
		return 0;
	}
	__u8 value[ID_ROW_MAX];
	for (; row < dp->max_entries[id]; row++) {
		int used = id_row_used(dp, id, &row, value);
		if (used < 0)
			return used;
		if (used) {
			memcpy(next_key, &row, sizeof(row));
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- the exported operations ------------------------------------------------------------------ */

int maplb_lookup(struct maplb_dp *dp, __u32 id, const void *key, void *value)
{
	if (id >= MAPLB_MAP__COUNT)
		return -EINVAL;
	return MAPLB_ID_TABLE(id) ? id_lookup(dp, id, key, value) : raw_lookup(dp, id, key, value);
}

/* Whether len bytes hold exactly n items of size `size` (in 64 bits: n * size may not fit 32). */
static int holds(__u32 len, __u32 n, __u32 size)
{
	return (__u64)n * size == len;
}

int maplb_lookup_many(struct maplb_dp *dp, __u32 id, const void *keys, __u32 keys_len,
		      void *values, __u32 values_len, __u8 *found, __u32 n)
{
	if (id >= MAPLB_MAP__COUNT)
		return -EINVAL;
	const struct map_def *def = &maplb_maps[id];
	if (!holds(keys_len, n, def->key_size) || !holds(values_len, n, def->value_size))
		return -EINVAL;
	for (__u32 i = 0; i < n; i++) {
		void *value = (__u8 *)values + (size_t)i * def->value_size;
		int err = maplb_lookup(dp, id, (const __u8 *)keys + (size_t)i * def->key_size, value);
		found[i] = err == 0;
		if (err == -ENOENT)
			memset(value, 0, def->value_size);
		else if (err)
			return err;
	}
	return 0;
}

int maplb_update(struct maplb_dp *dp, __u32 id, const void *key, const void *value, __u64 flags)
{
	if (id >= MAPLB_MAP__COUNT)
		return -EINVAL;
	return MAPLB_ID_TABLE(id) ? id_update(dp, id, key, value, flags)
				  : raw_update(dp, id, key, value, flags);
}

int maplb_delete(struct maplb_dp *dp, __u32 id, const void *key)
{
	if (id >= MAPLB_MAP__COUNT)
		return -EINVAL;
	if (MAPLB_ID_TABLE(id))
		return id_delete(dp, id, key);
	if (dp->kind == MAPLB_KIND_KERNEL)
		return bpf_map_delete_elem(dp->map_fds[id], key);
	return sim_map_delete(dp->maps[id], key);
}

int maplb_get_next_key(struct maplb_dp *dp, __u32 id, const void *key, void *next_key)
{
	if (id >= MAPLB_MAP__COUNT)
		return -EINVAL;
	return MAPLB_ID_TABLE(id) ? id_next_key(dp, id, key, next_key)
				  : raw_next_key(dp, id, key, next_key);
}

int maplb_update_batch(struct maplb_dp *dp, __u32 id, const void *keys, __u32 keys_len,
		       const void *values, __u32 values_len, __u32 *count, __u64 flags)
{
	if (id >= MAPLB_MAP__COUNT || !holds(keys_len, *count, maplb_maps[id].key_size) ||
	    !holds(values_len, *count, maplb_maps[id].value_size))
		return -EINVAL;
	if (dp->kind == MAPLB_KIND_KERNEL && is_percpu(id))
		return -EOPNOTSUPP; /* counters are not written in batches */
	if (dp->kind == MAPLB_KIND_KERNEL) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags);
		return bpf_map_update_batch(dp->map_fds[id], keys, values, count, &opts);
	}
	return sim_map_update_batch(dp->maps[id], keys, values, count, flags);
}

int maplb_process(struct maplb_dp *dp, __u8 *frames, __u32 frames_len, const __u32 *offsets,
		  const __u32 *lengths, const __u8 *csum_partial, __u8 *verdicts, __u8 *reasons,
		  __u32 n)
{
	for (__u32 i = 0; i < n; i++)
		if (offsets[i] > frames_len || lengths[i] > frames_len - offsets[i])
			return -EINVAL;
	if (dp->kind == MAPLB_KIND_KERNEL) {
		for (__u32 i = 0; csum_partial && i < n; i++)
			if (csum_partial[i])
				return -EOPNOTSUPP; /* BPF_PROG_TEST_RUN's skb is CHECKSUM_NONE */
		return kernel_process(dp, frames, offsets, lengths, verdicts, reasons, n);
	}
	return emulated_process(dp, frames, offsets, lengths, csum_partial, verdicts, reasons, n);
}

int maplb_set_clock(struct maplb_dp *dp, __u64 now_ns)
{
	if (dp->kind != MAPLB_KIND_EMULATED)
		return -EOPNOTSUPP;
	dp->fixed_now = now_ns;
	return 0;
}

int maplb_bench(struct maplb_dp *dp, const __u8 *frame, __u32 len, __u32 repeat, int mode,
		__u64 *ns_total)
{
	if (repeat == 0 || mode < MAPLB_BENCH_ESTABLISHED || mode > MAPLB_BENCH_EMPTY)
		return -EINVAL;
	if (dp->kind == MAPLB_KIND_KERNEL)
		return kernel_bench(dp, frame, len, repeat, mode, ns_total);
	return emulated_bench(dp, frame, len, repeat, mode, ns_total);
}

__u64 maplb_last_batch_ns(const struct maplb_dp *dp) { return dp->last_batch_ns; }
