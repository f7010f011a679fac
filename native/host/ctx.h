/* The host target's packet context: a frame in a buffer, written by hand like XDP. To model TC's
 * CHECKSUM_PARTIAL packets (from a local socket; their L4 checksum field holds the uncomplemented
 * pseudo-header sum, finished later by the NIC or skb_checksum_help), a frame can be marked
 * csum_partial: the L4 updates then do what the kernel's bpf_l4_csum_replace does to such an skb,
 * so the parity tests cover it. */
#ifndef MAPLB_HOST_CTX_H
#define MAPLB_HOST_CTX_H

#include <linux/bpf.h>
#include "../datapath/ctx_direct.h"

struct dp_ctx {
	void *data, *data_end;
	__u32 len;        /* the whole frame */
	int csum_partial; /* the frame is CHECKSUM_PARTIAL */
};

static __always_inline void *ctx_data(const struct dp_ctx *ctx) { return ctx->data; }
static __always_inline void *ctx_data_end(const struct dp_ctx *ctx) { return ctx->data_end; }
static __always_inline __u32 ctx_len(const struct dp_ctx *ctx) { return ctx->len; }

static __always_inline int ctx_store_bytes(const struct dp_ctx *ctx, __u32 off, const void *from,
					   __u32 len)
{
	return direct_store_bytes(ctx->data, ctx->data_end, off, from, len);
}

static __always_inline int ctx_l3_csum_replace(const struct dp_ctx *ctx, __u32 off, __u32 from,
					       __u32 to, __u32 size)
{
	return direct_csum_replace(ctx->data, ctx->data_end, off, from, to, size, 0);
}

static __always_inline int ctx_l4_csum_replace(const struct dp_ctx *ctx, __u32 off, __u32 from,
					       __u32 to, __u64 flags)
{
	return direct_csum_replace(ctx->data, ctx->data_end, off, from, to, flags, ctx->csum_partial);
}

#endif
