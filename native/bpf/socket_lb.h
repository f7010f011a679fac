/* Socket-level LB entry points (cgroup/connect4, sendmsg4, recvmsg4, getpeername4 and their
 * IPv6 twins), attached to a cgroup v2 by host/sock_attach.c. Part of maplb.bpf.o, so they share its maps; the decision
 * itself is datapath/sock.h, run by the host target too. */
#ifndef MAPLB_BPF_SOCKET_LB_H
#define MAPLB_BPF_SOCKET_LB_H

#include "../datapath/sock.h"

#define SYS_REJECT 0
#define SYS_PROCEED 1

/* Set by the loader before attaching (--socket-lb-hostns-only): translate only sockets of the
 * host's network namespace, so pods keep per-packet NAT (service meshes that redirect pod
 * traffic need to see the frontend). A global of this object: each attach loads its own. */
volatile __u8 maplb_sock_hostns_only;

static __always_inline int sock_skipped(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return 1;
	return maplb_sock_hostns_only &&
	       bpf_get_netns_cookie(ctx) != bpf_get_netns_cookie((void *)0);
}

/* Who asks, for a connect() or sendmsg() to a frontend; saddr: what the hook knows of the source
 * (0: nothing yet). Helper calls, so only made once the destination is known to be a frontend. */
static __always_inline void sock_identify(struct bpf_sock_addr *ctx, __be32 saddr,
					  struct sock4_req *req)
{
	__u64 netns = bpf_get_netns_cookie(ctx);
	req->cookie = bpf_get_socket_cookie(ctx);
	req->saddr = saddr;
	req->client = (__be32)(netns ^ (netns >> 32));
}

/* Rewrites the destination to the chosen backend; a refusal becomes the errno the caller sees. */
static __always_inline int sock_fwd(struct bpf_sock_addr *ctx, __be32 saddr)
{
	if (sock_skipped(ctx))
		return SYS_PROCEED;
	struct dp_env env = { .now = 0 };
	struct sock4_req req = { .daddr = ctx->user_ip4, .dport = (__be16)ctx->user_port,
				 .proto = (__u8)ctx->protocol };
	struct lb4_key key;
	struct lb4_service *master = sock4_frontend(&env, &req, &key);
	if (!master)
		return SYS_PROCEED;
	sock_identify(ctx, saddr, &req);
	struct sock4_choice choice;
	int r = sock4_xlate(&env, &req, &key, master, &choice);
	if (r < 0) {
		bpf_set_retval(r);
		return SYS_REJECT;
	}
	if (r > 0) {
		ctx->user_ip4 = choice.addr;
		ctx->user_port = choice.port;
	}
	return SYS_PROCEED;
}

static __always_inline __be32 sock_bound_addr(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	return sk ? sk->src_ip4 : 0;
}

SEC("cgroup/connect4")
int maplb_sock_connect4(struct bpf_sock_addr *ctx)
{
	return sock_fwd(ctx, sock_bound_addr(ctx));
}

/* Unconnected UDP: every datagram is balanced (affinity and the cookie keep a socket's choice). */
SEC("cgroup/sendmsg4")
int maplb_sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	__be32 saddr = ctx->msg_src_ip4; /* IP_PKTINFO's source, if the application set one */
	return sock_fwd(ctx, saddr ? saddr : sock_bound_addr(ctx));
}

/* The reply's source, and the peer's address, are the frontend again. */
static __always_inline int sock_rev(struct bpf_sock_addr *ctx)
{
	if (sock_skipped(ctx))
		return SYS_PROCEED;
	struct dp_env env = { .now = 0 };
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	if (sock4_xlate_rev(&env, bpf_get_socket_cookie(ctx), &addr, &port)) {
		ctx->user_ip4 = addr;
		ctx->user_port = port;
	}
	return SYS_PROCEED;
}

SEC("cgroup/recvmsg4")
int maplb_sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sock_rev(ctx);
}

SEC("cgroup/getpeername4")
int maplb_sock_getpeername4(struct bpf_sock_addr *ctx)
{
	return sock_rev(ctx);
}

/* ---- IPv6: the same steps over an AF_INET6 socket's 16-byte addresses (sock46_*: an
 * IPv4-mapped destination is translated through the IPv4 tables) ---- */

/* The context's user_ip6, msg_src_ip6 and the socket's src_ip6 are four 32-bit words: the
 * verifier allows only word-sized accesses to them. */
#define SOCK_IN6(words) ((struct maplb_in6){ { (words)[0], (words)[1], (words)[2], (words)[3] } })

static __always_inline void sock6_set_dest(struct bpf_sock_addr *ctx, const struct maplb_in6 *a,
					   __be16 port)
{
	ctx->user_ip6[0] = a->w[0];
	ctx->user_ip6[1] = a->w[1];
	ctx->user_ip6[2] = a->w[2];
	ctx->user_ip6[3] = a->w[3];
	ctx->user_port = port;
}

/* As sock_identify, for an AF_INET6 socket: the netns cookie fills the client's first two words. */
static __always_inline void sock6_identify(struct bpf_sock_addr *ctx, struct maplb_in6 saddr,
					   struct sock6_req *req)
{
	__u64 netns = bpf_get_netns_cookie(ctx);
	struct maplb_in6 client = { { (__be32)netns, (__be32)(netns >> 32), 0, 0 } };
	req->cookie = bpf_get_socket_cookie(ctx);
	req->saddr = saddr;
	req->client = client;
}

static __always_inline int sock6_fwd(struct bpf_sock_addr *ctx, struct maplb_in6 saddr)
{
	if (sock_skipped(ctx))
		return SYS_PROCEED;
	struct dp_env env = { .now = 0 };
	struct sock6_req req = { .daddr = SOCK_IN6(ctx->user_ip6), .dport = (__be16)ctx->user_port,
				 .proto = (__u8)ctx->protocol };
	struct sock46_frontend fe;
	if (!sock46_lookup(&env, &req, &fe))
		return SYS_PROCEED;
	sock6_identify(ctx, saddr, &req);
	struct sock6_choice choice;
	int r = sock46_xlate(&env, &req, &fe, &choice);
	if (r < 0) {
		bpf_set_retval(r);
		return SYS_REJECT;
	}
	if (r > 0)
		sock6_set_dest(ctx, &choice.addr, choice.port);
	return SYS_PROCEED;
}

static __always_inline struct maplb_in6 sock6_bound_addr(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct maplb_in6 none = { { 0, 0, 0, 0 } };
	return sk ? SOCK_IN6(sk->src_ip6) : none;
}

SEC("cgroup/connect6")
int maplb_sock_connect6(struct bpf_sock_addr *ctx)
{
	return sock6_fwd(ctx, sock6_bound_addr(ctx));
}

SEC("cgroup/sendmsg6")
int maplb_sock_sendmsg6(struct bpf_sock_addr *ctx)
{
	struct maplb_in6 saddr = SOCK_IN6(ctx->msg_src_ip6); /* IPV6_PKTINFO's source, if set */
	return sock6_fwd(ctx, in6_is_zero(&saddr) ? sock6_bound_addr(ctx) : saddr);
}

static __always_inline int sock6_rev(struct bpf_sock_addr *ctx)
{
	if (sock_skipped(ctx))
		return SYS_PROCEED;
	struct dp_env env = { .now = 0 };
	struct maplb_in6 addr = SOCK_IN6(ctx->user_ip6);
	__be16 port = (__be16)ctx->user_port;
	if (sock46_xlate_rev(&env, bpf_get_socket_cookie(ctx), &addr, &port))
		sock6_set_dest(ctx, &addr, port);
	return SYS_PROCEED;
}

SEC("cgroup/recvmsg6")
int maplb_sock_recvmsg6(struct bpf_sock_addr *ctx)
{
	return sock6_rev(ctx);
}

SEC("cgroup/getpeername6")
int maplb_sock_getpeername6(struct bpf_sock_addr *ctx)
{
	return sock6_rev(ctx);
}

/* Benchmark only: a connect4 program that does nothing, attached alone to a cgroup of its own, so
 * that what running any program on the hook costs shows beside maplb's (netfilter-real's floor
 * row), as maplb_bench_empty does for XDP. */
SEC("cgroup/connect4")
int maplb_sock_empty4(struct bpf_sock_addr *ctx)
{
	(void)ctx;
	return SYS_PROCEED;
}

#endif
