/* Socket-level load balancing, as Cilium's bpf_sock.c: a local socket's connect() (or an
 * unconnected UDP socket's sendmsg()) is given the backend's address once, so its packets leave
 * already addressed to the backend and no packet is NATed. The choice is the packet pipeline's
 * own: the same service lookup, scope, source-range check and backend choice (service.h,
 * backend.h) over the same maps. What differs is only what a socket knows:
 *   - no source port yet: the flow hash gets a per-socket value in its place (the socket cookie),
 *     so that connections spread over the backends as packets' source ports spread them;
 *   - maybe no source address yet (an unbound socket): affinity and the hash then use the
 *     caller's client id (the BPF programs pass the network namespace's cookie, as Cilium keys
 *     socket affinity by netns), and a frontend with source ranges is left to the per-packet
 *     path, which sees the real source;
 *   - a local socket is inside the cluster: a two-scope (Local policy) frontend is looked up in
 *     its INT scope, as Cilium's socket LB switches scope for local sockets.
 * The reverse entry (lb4_reverse_sk) lets recvmsg() and getpeername() show the frontend. */
#ifndef MAPLB_SOCK_H
#define MAPLB_SOCK_H

#include "maplb_abi.h"
#include <linux/errno.h>
#include "lb_family.h"

/* What the application asked for, and who asks. */
struct sock4_req {
	__u64 cookie;    /* the socket's cookie: the reverse entry's key, and the hash's "port" */
	__be32 saddr;    /* the socket's source address; 0 when not bound yet */
	__be32 client;   /* affinity and hash identity when saddr is 0 (the BPF side: netns cookie) */
	__be32 daddr;    /* the destination the application gave */
	__be16 dport;
	__u8 proto;      /* IPPROTO_TCP / IPPROTO_UDP */
};

/* sock4_xlate's answer besides its return value. */
struct sock4_choice {
	__be32 addr; /* the backend */
	__be16 port;
	__u32 backend_id;
	__u32 rev_nat_id;
};

/* The flow the pipeline's helpers see for this socket. */
static __always_inline void sock4_flow(struct flow4 *f, const struct sock4_req *req)
{
	f->saddr = req->saddr ? req->saddr : req->client;
	f->daddr = req->daddr;
	f->sport = (__be16)(req->cookie ^ (req->cookie >> 16) ^ (req->cookie >> 32));
	f->dport = req->dport;
	f->proto = req->proto;
}

/* 1: translated (*out filled, reverse entry written); 0: not a frontend, or left to the per-packet
 * path; -EPERM: the bound source is outside the frontend's source ranges; -ECONNREFUSED: the
 * frontend has no backend to give (the application sees it at connect(), as with Cilium). */
static __always_inline int sock4_xlate(struct dp_env *env, const struct sock4_req *req,
				       struct sock4_choice *out)
{
	struct flow4 f;
	sock4_flow(&f, req);
	struct lb4_key key;
	struct lb4_service *master = svc_lookup_master(env, &f, &key);
	if (!master)
		return 0;
	master = svc_scope(env, &key, master, 1);
	if (master->flags & MAPLB_SVC_SOURCE_RANGE) {
		if (!req->saddr)
			return 0; /* source unknown until routing: the per-packet path checks it */
		if (!svc_source_allowed(env, master, req->saddr))
			return -EPERM;
	}
	if (master->count == 0)
		return -ECONNREFUSED;
	__u32 zero = 0;
	const struct maplb_config *cfg = dp_lookup(env, maplb_config, &zero);
	__u32 id = 0;
	struct lb4_backend *backend = choose_backend(env, cfg, master, &key, &f, &id);
	if (!backend)
		return -ECONNREFUSED;
	out->addr = backend->address;
	out->port = backend->port;
	out->backend_id = id;
	out->rev_nat_id = master->rev_nat_id;

	struct lb4_sock_key rkey = { .cookie = req->cookie, .address = backend->address,
				     .port = backend->port };
	struct lb4_sock_revnat rev = { .address = req->daddr, .port = req->dport,
				       .rev_nat_id = master->rev_nat_id };
	dp_update(env, lb4_reverse_sk, &rkey, &rev, BPF_ANY);
	return 1;
}

/* recvmsg()/getpeername(): the frontend the socket asked for when it talks to addr:port, 1 when
 * there is one (*addr, *port rewritten), 0 otherwise. An entry whose frontend is gone is dropped. */
static __always_inline int sock4_xlate_rev(struct dp_env *env, __u64 cookie, __be32 *addr,
					   __be16 *port)
{
	struct lb4_sock_key rkey = { .cookie = cookie, .address = *addr, .port = *port };
	struct lb4_sock_revnat *rev = dp_lookup(env, lb4_reverse_sk, &rkey);
	if (!rev)
		return 0;
	if (!dp_lookup(env, lb4_reverse_nat, &rev->rev_nat_id)) {
		dp_delete(env, lb4_reverse_sk, &rkey);
		return 0;
	}
	*addr = rev->address;
	*port = rev->port;
	return 1;
}

#endif
