/* Socket-level LB on the emulated datapath: the translation the cgroup hooks make (datapath/sock.h,
 * IPv4 and IPv6), as an FFI call, over the simulated maps. */
#include "shim.h"
#include "../datapath/sock.h"
#include "dp.h"

#include <errno.h>
#include <time.h>

static __u64 clock_of(const struct maplb_dp *dp)
{
	if (dp->fixed_now)
		return dp->fixed_now;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* The hooks' order: the frontend first, then the translation (the host has the whole request). */
static int sock4_translate(struct dp_env *env, const struct sock4_req *req, struct sock4_choice *out)
{
	struct lb4_key key;
	struct lb4_service *master = sock4_frontend(env, req, &key);
	return master ? sock4_xlate(env, req, &key, master, out) : 0;
}

/* The same for an AF_INET6 socket (an IPv4-mapped destination through the IPv4 tables). */
static int sock46_translate(struct dp_env *env, const struct sock6_req *req,
			    struct sock6_choice *out)
{
	struct sock46_frontend fe;
	return sock46_lookup(env, req, &fe) ? sock46_xlate(env, req, &fe, out) : 0;
}

/* A call's environment: the simulated maps and the clock; -EOPNOTSUPP on the kernel target (it
 * runs the hooks only in a cgroup). */
static int sock_call(struct maplb_dp *dp, struct dp_env *env)
{
	if (dp->kind != MAPLB_KIND_EMULATED)
		return -EOPNOTSUPP;
	env->maps = dp->maps;
	env->now = clock_of(dp);
	return 0;
}

int maplb_sock_xlate4(struct maplb_dp *dp, __u64 cookie, __u32 saddr, __u32 client, __u32 daddr,
		      __u16 dport, __u8 proto, __u32 *out)
{
	struct dp_env env;
	int r = sock_call(dp, &env);
	if (r)
		return r;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -EINVAL; /* the hooks leave other protocols alone */
	struct sock4_req req = { .cookie = cookie, .saddr = saddr, .client = client, .daddr = daddr,
				 .dport = dport, .proto = proto };
	struct sock4_choice choice = { 0 };
	r = sock4_translate(&env, &req, &choice);
	if (r > 0) {
		out[0] = choice.addr;
		out[1] = choice.port;
		out[2] = choice.backend_id;
		out[3] = choice.rev_nat_id;
	}
	return r;
}

int maplb_sock_rev4(struct maplb_dp *dp, __u64 cookie, __u32 *addr_port)
{
	struct dp_env env;
	int r = sock_call(dp, &env);
	if (r)
		return r;
	__be32 addr = addr_port[0];
	__be16 port = (__be16)addr_port[1];
	r = sock4_xlate_rev(&env, cookie, &addr, &port);
	addr_port[0] = addr;
	addr_port[1] = port;
	return r;
}

/* 4 words <-> struct maplb_in6, both in network order. */
static struct maplb_in6 in6_of(const __u32 *w)
{
	struct maplb_in6 a = { { w[0], w[1], w[2], w[3] } };
	return a;
}

static void in6_out(__u32 *w, const struct maplb_in6 *a)
{
	for (int i = 0; i < 4; i++)
		w[i] = a->w[i];
}

int maplb_sock_xlate6(struct maplb_dp *dp, __u64 cookie, const __u32 *saddr, const __u32 *client,
		      const __u32 *daddr, __u16 dport, __u8 proto, __u32 *out)
{
	struct dp_env env;
	int r = sock_call(dp, &env);
	if (r)
		return r;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -EINVAL; /* the hooks leave other protocols alone */
	struct sock6_req req = { .cookie = cookie, .saddr = in6_of(saddr), .client = in6_of(client),
				 .daddr = in6_of(daddr), .dport = dport, .proto = proto };
	struct sock6_choice choice = { 0 };
	r = sock46_translate(&env, &req, &choice);
	if (r > 0) {
		in6_out(out, &choice.addr);
		out[4] = choice.port;
		out[5] = choice.backend_id;
		out[6] = choice.rev_nat_id;
	}
	return r;
}

int maplb_sock_rev6(struct maplb_dp *dp, __u64 cookie, __u32 *addr_port)
{
	struct dp_env env;
	int r = sock_call(dp, &env);
	if (r)
		return r;
	struct maplb_in6 addr = in6_of(addr_port);
	__be16 port = (__be16)addr_port[4];
	r = sock46_xlate_rev(&env, cookie, &addr, &port);
	in6_out(addr_port, &addr);
	addr_port[4] = port;
	return r;
}

/* The benchmark's cost of one translation: `repeat` connect()s to one frontend, each a new socket
 * (cookie 1, 2, ...), timed around the loop. */
int maplb_sock_bench(struct maplb_dp *dp, __u32 daddr, __u16 dport, __u8 proto, __u32 repeat,
		     __u64 *ns_total)
{
	if (dp->kind != MAPLB_KIND_EMULATED)
		return -EOPNOTSUPP;
	__u64 start = clock_of(dp);
	struct dp_env env = { .maps = dp->maps, .now = start };
	int last = 0;
	for (__u32 i = 0; i < repeat; i++) {
		struct sock4_req req = { .cookie = (__u64)i + 1, .client = 0x0100000a, .daddr = daddr,
					 .dport = dport, .proto = proto };
		struct sock4_choice choice;
		last = sock4_translate(&env, &req, &choice);
		__asm__ volatile("" ::: "memory"); /* every translation is done */
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	*ns_total = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec - start;
	return last;
}
