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

/* An AF_INET6 socket's connect()/sendmsg(): an IPv4-mapped destination goes through the IPv4
 * tables (its source too, when that is mapped; an unbound socket's client folded to 32 bits) and
 * the backend comes back mapped; any other through the IPv6 ones. Returns as sock6_xlate. */
static __always_inline int sock46_xlate(struct dp_env *env, const struct sock6_req *req,
					struct sock6_choice *out)
{
	if (!in6_is_v4_mapped(&req->daddr))
		return sock6_xlate(env, req, out);
	struct sock4_req req4 = {
		.cookie = req->cookie,
		.saddr = in6_is_v4_mapped(&req->saddr) ? req->saddr.w[3] : 0,
		.client = req->client.w[0] ^ req->client.w[1] ^ req->client.w[2] ^ req->client.w[3],
		.daddr = req->daddr.w[3],
		.dport = req->dport,
		.proto = req->proto,
	};
	struct sock4_choice choice4;
	int r = sock4_xlate(env, &req4, &choice4);
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
