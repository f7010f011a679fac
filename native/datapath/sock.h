/* Socket-level load balancing, as Cilium's bpf_sock.c: a local socket's connect() (or an
 * unconnected UDP socket's sendmsg()) is given the backend's address once, so its packets leave
 * already addressed to the backend and no packet is NATed. The choice is the packet pipeline's
 * own: the same service lookup, scope, source-range check and backend choice (service.h,
 * backend.h) over the same maps, for IPv4 and IPv6 alike (sock_family.h, compiled once per
 * family as the pipeline is). What differs is only what a socket knows:
 *   - no source port yet: the flow hash gets a per-socket value in its place (the socket cookie),
 *     so that connections spread over the backends as packets' source ports spread them;
 *   - maybe no source address yet (an unbound socket): affinity and the hash then use the
 *     caller's client id (the BPF programs pass the network namespace's cookie, as Cilium keys
 *     socket affinity by netns), and a frontend with source ranges is left to the per-packet
 *     path, which sees the real source;
 *   - a local socket is inside the cluster: a two-scope (Local policy) frontend is looked up in
 *     its INT scope, as Cilium's socket LB switches scope for local sockets.
 * The reverse entry (lb4_reverse_sk, lb6_reverse_sk) lets recvmsg() and getpeername() show the
 * frontend. An AF_INET6 socket may name an IPv4 peer as ::ffff:a.b.c.d: sock46_* translate it
 * through the IPv4 tables, as Cilium's sock6_xlate_v4_in_v6 does. */
#ifndef MAPLB_SOCK_H
#define MAPLB_SOCK_H

#include "maplb_abi.h"
#include <linux/errno.h>
#include "lb_family.h"

#define MAPLB_FAMILY 4
#include "family.h"
#define SOCK(name) sock4_##name
#define SOCK_KEY struct lb4_sock_key
#define SOCK_REVNAT struct lb4_sock_revnat
#define FAM_REVERSE_SK lb4_reverse_sk
#include "sock_family.h"
#undef SOCK
#undef SOCK_KEY
#undef SOCK_REVNAT
#undef FAM_REVERSE_SK
#undef MAPLB_FAMILY

#define MAPLB_FAMILY 6
#include "family.h"
#define SOCK(name) sock6_##name
#define SOCK_KEY struct lb6_sock_key
#define SOCK_REVNAT struct lb6_sock_revnat
#define FAM_REVERSE_SK lb6_reverse_sk
#include "sock_family.h"
#undef SOCK
#undef SOCK_KEY
#undef SOCK_REVNAT
#undef FAM_REVERSE_SK
#undef MAPLB_FAMILY

/* ::ffff:a.b.c.d (RFC 4291 2.5.5.2): an IPv4 address as an AF_INET6 socket names it. */
static __always_inline int in6_is_v4_mapped(const struct maplb_in6 *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == bpf_htonl(0xffff);
}

static __always_inline struct maplb_in6 in6_v4_mapped(__be32 addr)
{
	struct maplb_in6 a = { { 0, 0, bpf_htonl(0xffff), addr } };
	return a;
}

/* An AF_INET6 socket's request as the IPv4 tables see it, for an IPv4-mapped destination: its
 * source only if mapped too, an unbound socket's client folded to 32 bits. */
static __always_inline void sock46_req4(struct sock4_req *req4, const struct sock6_req *req)
{
	req4->cookie = req->cookie;
	req4->saddr = in6_is_v4_mapped(&req->saddr) ? req->saddr.w[3] : 0;
	req4->client = req->client.w[0] ^ req->client.w[1] ^ req->client.w[2] ^ req->client.w[3];
	req4->daddr = req->daddr.w[3];
	req4->dport = req->dport;
	req4->proto = req->proto;
}

/* An AF_INET6 socket's frontend: in the IPv4 tables for an IPv4-mapped destination (key4), in the
 * IPv6 ones for any other (key6). */
struct sock46_frontend {
	struct lb4_service *master;
	struct lb4_key key4;
	struct lb6_key key6;
};

/* As sockN_frontend for an AF_INET6 socket's destination (daddr, dport, proto): 1 when it is a
 * frontend (*fe filled for sock46_xlate), 0 otherwise. */
static __always_inline int sock46_lookup(struct dp_env *env, const struct sock6_req *req,
					 struct sock46_frontend *fe)
{
	if (in6_is_v4_mapped(&req->daddr)) {
		struct sock4_req req4;
		sock46_req4(&req4, req);
		fe->master = sock4_frontend(env, &req4, &fe->key4);
	} else {
		fe->master = sock6_frontend(env, req, &fe->key6);
	}
	return fe->master != 0;
}

/* An AF_INET6 socket's connect()/sendmsg() to the frontend sock46_lookup found: through the IPv4
 * tables for an IPv4-mapped destination, the backend given back mapped (as Cilium's
 * sock6_xlate_v4_in_v6); through the IPv6 ones otherwise. Returns as sockN_xlate. */
static __always_inline int sock46_xlate(struct dp_env *env, const struct sock6_req *req,
					struct sock46_frontend *fe, struct sock6_choice *out)
{
	if (!in6_is_v4_mapped(&req->daddr))
		return sock6_xlate(env, req, &fe->key6, fe->master, out);
	struct sock4_req req4;
	struct sock4_choice choice4;
	sock46_req4(&req4, req);
	int r = sock4_xlate(env, &req4, &fe->key4, fe->master, &choice4);
	if (r > 0) {
		out->addr = in6_v4_mapped(choice4.addr);
		out->port = choice4.port;
		out->backend_id = choice4.backend_id;
		out->rev_nat_id = choice4.rev_nat_id;
	}
	return r;
}

/* An AF_INET6 socket's recvmsg()/getpeername(): as sock6_xlate_rev, an IPv4-mapped peer through
 * lb4_reverse_sk (where sock46_xlate remembered it). */
static __always_inline int sock46_xlate_rev(struct dp_env *env, __u64 cookie, struct maplb_in6 *addr,
					    __be16 *port)
{
	if (!in6_is_v4_mapped(addr))
		return sock6_xlate_rev(env, cookie, addr, port);
	__be32 addr4 = addr->w[3];
	int r = sock4_xlate_rev(env, cookie, &addr4, port);
	if (r > 0)
		*addr = in6_v4_mapped(addr4);
	return r;
}

#endif
