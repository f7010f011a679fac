/* The BPF target's packet context, like Cilium's ctx/xdp.h and ctx/skb.h. One object holds both
 * hooks, so a dp_ctx carries either program's context: the other pointer is a constant NULL that
 * the compiler folds away, and the XDP program never reaches an skb helper.
 *   XDP: the frame is one linear buffer the program owns: writes and checksum updates by hand.
 *   TC:  the kernel's helpers, which know the skb's checksum state (a CHECKSUM_PARTIAL packet from
 *        a local socket holds only the pseudo-header's sum) and make a cloned skb writable. They
 *        may move the data: no packet pointer is used after one of them. */
#ifndef MAPLB_BPF_CTX_H
#define MAPLB_BPF_CTX_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../datapath/ctx_direct.h"

struct dp_ctx {
	struct __sk_buff *skb; /* TC */
	struct xdp_md *xdp;    /* XDP */
};

static __always_inline void *ctx_data(const struct dp_ctx *ctx)
{
	return ctx->skb ? (void *)(long)ctx->skb->data : (void *)(long)ctx->xdp->data;
}

static __always_inline void *ctx_data_end(const struct dp_ctx *ctx)
{
	return ctx->skb ? (void *)(long)ctx->skb->data_end : (void *)(long)ctx->xdp->data_end;
}

/* The whole packet's length: for TC skb->len, which counts the non-linear part too. */
static __always_inline __u32 ctx_len(const struct dp_ctx *ctx)
{
	if (ctx->skb)
		return ctx->skb->len;
	return (__u32)(ctx_data_end(ctx) - ctx_data(ctx));
}

static __always_inline int ctx_store_bytes(const struct dp_ctx *ctx, __u32 off, const void *from,
					   __u32 len)
{
	if (ctx->skb)
		return bpf_skb_store_bytes(ctx->skb, off, from, len, 0);
	return direct_store_bytes(ctx_data(ctx), ctx_data_end(ctx), off, from, len);
}

static __always_inline int ctx_l3_csum_replace(const struct dp_ctx *ctx, __u32 off, __u32 from,
					       __u32 to, __u32 size)
{
	if (ctx->skb)
		return bpf_l3_csum_replace(ctx->skb, off, from, to, size);
	return direct_csum_replace(ctx_data(ctx), ctx_data_end(ctx), off, from, to, size, 0);
}

static __always_inline int ctx_l4_csum_replace(const struct dp_ctx *ctx, __u32 off, __u32 from,
					       __u32 to, __u64 flags)
{
	if (ctx->skb)
		return bpf_l4_csum_replace(ctx->skb, off, from, to, flags);
	return direct_csum_replace(ctx_data(ctx), ctx_data_end(ctx), off, from, to, flags, 0);
}

#endif
