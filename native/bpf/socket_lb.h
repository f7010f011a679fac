/* Socket-level LB entry points (cgroup/connect4, sendmsg4, recvmsg4, getpeername4), attached to
 * a cgroup v2 by host/sock_attach.c. Part of maplb.bpf.o, so they share its maps; the decision
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
