/* The C API of libmaplb.so, bound from TypeScript by src/datapath/binding.ts.
 * One handle type for both targets: an emulated datapath (the pipeline compiled for the host,
 * over simulated maps) and a kernel datapath (the BPF object, loaded with libbpf). Every function
 * returns 0 or a negative errno; nothing here prints (libbpf's messages go to maplb_set_log). */
#ifndef MAPLB_API_H
#define MAPLB_API_H

#include <linux/types.h>

#define MAPLB_API __attribute__((visibility("default")))

struct maplb_dp;

enum maplb_dp_kind { MAPLB_KIND_EMULATED = 0, MAPLB_KIND_KERNEL = 1 };

struct maplb_map_info {
	char name[32];
	__u32 type; /* enum bpf_map_type */
	__u32 key_size;
	__u32 value_size;
	__u32 default_max_entries;
};

MAPLB_API int maplb_map_count(void);
MAPLB_API int maplb_map_info(__u32 id, struct maplb_map_info *out);

/* max_entries: MAPLB_MAP__COUNT values indexed by map id, 0 = the default (NULL: all defaults).
 * maplb_config and maplb_counters keep their fixed sizes. */
MAPLB_API int maplb_open_emulated(const __u32 *max_entries, struct maplb_dp **out);
/* Loads obj_path, reusing the maps pinned under pin_dir (creating and pinning missing ones). */
MAPLB_API int maplb_open_kernel(const char *obj_path, const char *pin_dir, const __u32 *max_entries,
				struct maplb_dp **out);
MAPLB_API void maplb_close(struct maplb_dp *dp);
MAPLB_API int maplb_kind(const struct maplb_dp *dp);
MAPLB_API int maplb_max_entries(const struct maplb_dp *dp, __u32 id);

MAPLB_API int maplb_lookup(struct maplb_dp *dp, __u32 id, const void *key, void *value);
MAPLB_API int maplb_update(struct maplb_dp *dp, __u32 id, const void *key, const void *value,
			   __u64 flags);
/* n lookups in one call (keys and values packed): found[i] = 1 when keys[i] is present, values[i]
 * zeroed otherwise. keys_len and values_len are the buffers' sizes in bytes: -EINVAL unless they
 * are n keys and n values of map `id`. Returns 0, or the first error other than -ENOENT. */
MAPLB_API int maplb_lookup_many(struct maplb_dp *dp, __u32 id, const void *keys, __u32 keys_len,
				void *values, __u32 values_len, __u8 *found, __u32 n);
MAPLB_API int maplb_delete(struct maplb_dp *dp, __u32 id, const void *key);
MAPLB_API int maplb_get_next_key(struct maplb_dp *dp, __u32 id, const void *key, void *next_key);
/* *count keys and values (packed; keys_len and values_len their sizes in bytes, -EINVAL unless
 * they hold exactly *count of map `id`'s). On return *count is how many were written. */
MAPLB_API int maplb_update_batch(struct maplb_dp *dp, __u32 id, const void *keys, __u32 keys_len,
				 const void *values, __u32 values_len, __u32 *count, __u64 flags);

/* Runs n frames in place: frame i is frames[offsets[i] .. offsets[i] + lengths[i]), inside the
 * frames_len bytes of frames (-EINVAL otherwise). Writes verdicts[i] (enum maplb_verdict) and
 * reasons[i] (enum maplb_reason). csum_partial (NULL: none) marks frames that are
 * CHECKSUM_PARTIAL, as TC sees packets from a local socket: emulated only (BPF_PROG_TEST_RUN
 * builds CHECKSUM_NONE skbs: -EOPNOTSUPP). The kernel target runs each frame with
 * BPF_PROG_TEST_RUN and needs at least an Ethernet header (else -EINVAL). */
MAPLB_API int maplb_process(struct maplb_dp *dp, __u8 *frames, __u32 frames_len,
			    const __u32 *offsets, const __u32 *lengths, const __u8 *csum_partial,
			    __u8 *verdicts, __u8 *reasons, __u32 n);
/* Emulated only: a fixed clock for the pipeline (ns); 0 returns to CLOCK_MONOTONIC. */
MAPLB_API int maplb_set_clock(struct maplb_dp *dp, __u64 now_ns);
/* The programs of the BPF object, for maplb_test_run. */
enum maplb_prog { MAPLB_PROG_XDP = 0, MAPLB_PROG_TC = 1, MAPLB_PROG_PROBE = 2 };

/* Kernel only: BPF_PROG_TEST_RUN of one program on one frame, `repeat` times (later runs see the
 * bytes earlier runs left). out receives the output frame, *out_len its length (on entry: out's
 * capacity; a reply can be longer than the frame). *retval: the program's return code (XDP_*,
 * TC_ACT_*, or the probe's verdict | reason << 8); *ns_per_run: the kernel's average. */
MAPLB_API int maplb_test_run(struct maplb_dp *dp, int prog, const __u8 *frame, __u32 len, __u8 *out,
			     __u32 *out_len, __u32 repeat, __u32 *retval, __u32 *ns_per_run);

/* The ICMP port unreachable the BPF entry points send for a frame to a service without backends
 * (datapath/icmp.h), built by the host: out must hold 82 bytes. -EINVAL for a frame too short to
 * be such a packet (< 42 bytes). */
MAPLB_API int maplb_icmp_unreachable(const __u8 *frame, __u32 len, __u8 *out);

/* What maplb_bench runs. NEW_FLOWS: each run gets the next source port (a counter), so every run is a
 * new flow. EMPTY: no pipeline at all (kernel: an XDP program that only returns XDP_PASS; host: the
 * loop alone), so the harness's own cost per run can be told apart from maplb's. */
enum maplb_bench_mode {
	MAPLB_BENCH_ESTABLISHED = 0,
	MAPLB_BENCH_NEW_FLOWS = 1,
	MAPLB_BENCH_EMPTY = 2,
};

/* Per-packet cost of the pipeline on one frame, `repeat` times, measured by the target itself:
 * the kernel's BPF_PROG_TEST_RUN duration (integer ns, its average), or the host's clock around
 * the loop. Repeats run on the bytes the previous run left, so benchmark a frontend whose backend
 * is itself (the rewrite is then an identity). mode: enum maplb_bench_mode (-EINVAL otherwise).
 * *ns_total: the whole run. */
MAPLB_API int maplb_bench(struct maplb_dp *dp, const __u8 *frame, __u32 len, __u32 repeat,
			  int mode, __u64 *ns_total);
/* Kernel only: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, `repeat` copies of one frame
 * through the real XDP path on one CPU (the loopback device of network namespace `netns`, a path
 * such as /run/netns/NAME, or NULL for the caller's; XDP_PASS frames enter that namespace's stack
 * as skbs). mode: enum maplb_bench_mode (NEW_FLOWS stamps each frame with the next source port).
 * *ns_per_frame: the kernel's average. -EINVAL: a frame shorter than an Ethernet header, repeat 0,
 * a bad mode; the kernel's -EINVAL for a frame longer than a page; -ENOENT: no such netns. */
MAPLB_API int maplb_xdp_live(struct maplb_dp *dp, const char *netns, const __u8 *frame, __u32 len,
			     __u32 repeat, int mode, __u32 *ns_per_frame);
/* Emulated only: how long the last maplb_process call spent inside the pipeline loop (ns), to
 * tell the FFI's own cost apart. */
MAPLB_API __u64 maplb_last_batch_ns(const struct maplb_dp *dp);

/* The index of interface `name` in the caller's network namespace (if_nametoindex: unlike
 * /sys/class/net, right after `nsenter --net`); -ENODEV when there is none. */
MAPLB_API int maplb_ifindex(const char *name);

/* Kernel only: attach/detach on an interface. xdp_flags: XDP_FLAGS_* (0 = kernel's choice). */
MAPLB_API int maplb_attach_xdp(struct maplb_dp *dp, int ifindex, __u32 xdp_flags);
MAPLB_API int maplb_detach_xdp(int ifindex, __u32 xdp_flags);
MAPLB_API int maplb_attach_tc(struct maplb_dp *dp, int ifindex, int egress);
MAPLB_API int maplb_detach_tc(int ifindex, int egress);

/* Socket-level LB (datapath/sock.h; host/sock.c). Emulated only: one connect()/sendmsg()
 * translation as the cgroup hooks make it, addresses and ports in network order. Returns 1 with
 * out[0] = backend address, out[1] = its port, out[2] = backend id, out[3] = rev-NAT id; 0 when the
 * destination is not a frontend (or is left to the per-packet path); -EPERM or -ECONNREFUSED as
 * the application would see them. The kernel target runs it only in a cgroup: -EOPNOTSUPP. */
MAPLB_API int maplb_sock_xlate4(struct maplb_dp *dp, __u64 cookie, __u32 saddr, __u32 client,
				__u32 daddr, __u16 dport, __u8 proto, __u32 *out);
/* recvmsg()/getpeername(): addr_port[0..1] (a backend) become the frontend; 1 when they did. */
MAPLB_API int maplb_sock_rev4(struct maplb_dp *dp, __u64 cookie, __u32 *addr_port);
/* An AF_INET6 socket's, as maplb_sock_xlate4 with 4-word addresses (an IPv4-mapped destination
 * goes through the IPv4 tables): out[0..3] = backend address, out[4] its port, out[5] backend id,
 * out[6] rev-NAT id. */
MAPLB_API int maplb_sock_xlate6(struct maplb_dp *dp, __u64 cookie, const __u32 *saddr,
				const __u32 *client, const __u32 *daddr, __u16 dport, __u8 proto,
				__u32 *out);
/* As maplb_sock_rev4: addr_port[0..3] the address, addr_port[4] the port. */
MAPLB_API int maplb_sock_rev6(struct maplb_dp *dp, __u64 cookie, __u32 *addr_port);
/* Emulated only: `repeat` translations to one frontend (each a new socket), *ns_total the whole
 * loop on CLOCK_MONOTONIC (a fixed clock, if set, is not advanced); returns the last result. */
MAPLB_API int maplb_sock_bench(struct maplb_dp *dp, __u32 daddr, __u16 dport, __u8 proto,
			       __u32 repeat, __u64 *ns_total);

/* The socket hooks maplb_attach_sock attaches, in the order of MAPLB_SOCK_HOOK_* bits. */
#define MAPLB_SOCK_HOOK_CONNECT4 (1 << 0)
#define MAPLB_SOCK_HOOK_SENDMSG4 (1 << 1)
#define MAPLB_SOCK_HOOK_RECVMSG4 (1 << 2)
#define MAPLB_SOCK_HOOK_GETPEERNAME4 (1 << 3)
#define MAPLB_SOCK_HOOK_CONNECT6 (1 << 4)
#define MAPLB_SOCK_HOOK_SENDMSG6 (1 << 5)
#define MAPLB_SOCK_HOOK_RECVMSG6 (1 << 6)
#define MAPLB_SOCK_HOOK_GETPEERNAME6 (1 << 7)
#define MAPLB_SOCK_HOOK_ALL 0xff

/* Kernel only: attach the eight hooks to the cgroup v2 directory `cgroup` (BPF_F_ALLOW_MULTI:
 * other programs stay; maplb's own earlier ones are replaced). hostns_only: translate only sockets
 * of the host network namespace. */
MAPLB_API int maplb_attach_sock(struct maplb_dp *dp, const char *cgroup, int hostns_only);
/* Kernel only, benchmark only: attach maplb_sock_empty4, a connect4 program that does nothing, to
 * `cgroup` in place of maplb's programs there: the cost of running any program on the hook. */
MAPLB_API int maplb_attach_sock_empty(struct maplb_dp *dp, const char *cgroup);
/* The kernel's run-time statistics of BPF programs, on while the returned fd is open (close(2) it),
 * or -errno. They cost every program's every run two clock reads: for breakdowns, not figures. */
MAPLB_API int maplb_bpf_stats_enable(void);
/* Kernel only: out[0] = run_time_ns, out[1] = run_cnt, summed over maplb's connect4 programs on
 * `cgroup` (the socket-LB hook or the empty one; counted only while the statistics are on). */
MAPLB_API int maplb_sock_connect_stats(const char *cgroup, __u64 *out);
/* Detaches every maplb socket program (the empty one too) from `cgroup`: how many were attached, or -errno. */
MAPLB_API int maplb_detach_sock(const char *cgroup);
/* Which hooks of `cgroup` have a maplb socket program (MAPLB_SOCK_HOOK_* bits), or -errno. */
MAPLB_API int maplb_sock_attached(const char *cgroup);

/* lock.c: an exclusive flock(2) on `path` (created if missing), waiting up to timeout_ms. Returns
 * the locked fd (exiting unlocks too), or a negative errno: -EWOULDBLOCK when another process
 * still holds it, its pid in *holder_pid (0 when unknown). Unlocking removes the file. */
MAPLB_API int maplb_lock_file(const char *path, __u32 timeout_ms, int *holder_pid);
MAPLB_API int maplb_unlock_file(const char *path, int fd);

/* libbpf's messages (level: 0 warn, 1 info, 2 debug). NULL silences them (the default). */
typedef void (*maplb_log_fn)(int level, const char *msg);
MAPLB_API void maplb_set_log(maplb_log_fn fn);

/* The kube-proxy chain evaluator (ipt_eval.c). The arrays are copied; `local` holds the node's
 * addresses for -m addrtype LOCAL (127.0.0.0/8 always counts); `seed` drives the statistic
 * match. -EINVAL for a table that points outside itself. */
struct maplb_ipt;
struct ipt_rule;
struct ipt_chain;
struct ipt_packet;
struct ipt_result;
MAPLB_API int maplb_ipt_open(const struct ipt_rule *rules, __u32 rule_count,
			     const struct ipt_chain *chains, __u32 chain_count, __u32 entry,
			     const __be32 *local, __u32 local_count, __u64 seed,
			     struct maplb_ipt **out);
/* Walks n packets from the entry chain; results[i] for each. path (may be NULL) receives the
 * indices of the rules the first packet matched, up to path_cap. -ELOOP on a jump loop. */
MAPLB_API int maplb_ipt_eval(struct maplb_ipt *ipt, const struct ipt_packet *packets, __u32 n,
			     __u64 now_seconds, struct ipt_result *results, __u32 *path,
			     __u32 path_cap);
MAPLB_API void maplb_ipt_close(struct maplb_ipt *ipt);

/* maglev.c: fills a Maglev table of m rows (m prime, as maglev.ts's maglevRows: backend i starts
 * at offsets[i] and steps by skips[i], the turns go round until `last` rows are free, then the
 * modular-inverse finish). rows[r] = ids of the backend owning row r. -EINVAL for n = 0, m < 2 or
 * above MAPLB_MAGLEV_FILL_MAX_M, last >= m, an offset >= m, or a skip that is 0, >= m or shares a
 * factor with m (its permutation would not visit every row); -ENOMEM. */
#define MAPLB_MAGLEV_FILL_MAX_M (1u << 24)
MAPLB_API int maplb_maglev_fill(const __u32 *offsets, const __u32 *skips, const __u32 *ids,
				__u32 n, __u32 m, __u32 last, __u32 *rows);

/* The layout of every ABI struct, for the TypeScript mirror's test: -1 when unknown. */
MAPLB_API long maplb_abi_sizeof(const char *type);
MAPLB_API long maplb_abi_offsetof(const char *type, const char *field);
/* The value of a named ABI constant (MAPLB_REASON__MAX, MAPLB_SVC_AFFINITY, ...); -1 when unknown. */
MAPLB_API long maplb_abi_constant(const char *name);

#endif
