/* Header rewrites: DNAT (to a backend), reverse NAT (a reply back to the frontend) and SNAT,
 * through the target's context (ctx.h): the kernel's checksum helpers on TC, RFC 1624 by hand on
 * XDP and the host. The L4 checksum covers the pseudo-header, so an address change touches it too.
 * A later fragment has no L4 header: only its IP header changes. Each returns 0, or -1 when the
 * context failed to write (the packet may then be half-rewritten and must be dropped). */
#ifndef MAPLB_NAT_H
#define MAPLB_NAT_H

#include "parse.h"

#define IP_CHECK_OFF (ETH_HLEN + __builtin_offsetof(struct iphdr, check))
#define IP_SADDR_OFF (ETH_HLEN + __builtin_offsetof(struct iphdr, saddr))
#define IP_DADDR_OFF (ETH_HLEN + __builtin_offsetof(struct iphdr, daddr))

/* An IPv4 address at addr_off (outer header) changes: the field and the header checksum. */
static __always_inline int rewrite_ip_addr(const struct dp_ctx *ctx, __u32 addr_off, __be32 from,
					   __be32 to)
{
	if (ctx_store_bytes(ctx, addr_off, &to, sizeof(to)))
		return -1;
	return ctx_l3_csum_replace(ctx, IP_CHECK_OFF, from, to, sizeof(to));
}

/* Rewrites the destination (which = 1) or the source (which = 0) address and port; `old` is the
 * flow as parsed. */
static __always_inline int rewrite_endpoint(const struct dp_ctx *ctx, const struct packet *pkt,
					    const struct flow4 *old, int which, __be32 addr,
					    __be16 port)
{
	__be32 old_addr = which ? old->daddr : old->saddr;
	__be16 old_port = which ? old->dport : old->sport;
	if (rewrite_ip_addr(ctx, which ? IP_DADDR_OFF : IP_SADDR_OFF, old_addr, addr))
		return -1;
	if (!pkt->has_l4)
		return 0;

	__u32 check_off = pkt->l4_off + l4_check_off(old->proto);
	__u64 udp = old->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	if (ctx_l4_csum_replace(ctx, check_off, old_addr, addr, BPF_F_PSEUDO_HDR | udp | sizeof(addr)))
		return -1;
	if (ctx_store_bytes(ctx, pkt->l4_off + (which ? sizeof(__be16) : 0), &port, sizeof(port)))
		return -1;
	return ctx_l4_csum_replace(ctx, check_off, old_port, port, udp | sizeof(port));
}

static __always_inline int dnat(const struct dp_ctx *ctx, const struct packet *pkt,
				const struct flow4 *old, const struct lb4_backend *backend)
{
	return rewrite_endpoint(ctx, pkt, old, 1, backend->address, backend->port);
}

static __always_inline int revnat(const struct dp_ctx *ctx, const struct packet *pkt,
				  const struct flow4 *old, __be32 addr, __be16 port)
{
	return rewrite_endpoint(ctx, pkt, old, 0, addr, port);
}

/* Source NAT (snat.h says when): the client's packet leaves from the node's address and port. */
static __always_inline int snat(const struct dp_ctx *ctx, const struct packet *pkt,
				const struct flow4 *old, __be32 addr, __be16 port)
{
	return rewrite_endpoint(ctx, pkt, old, 0, addr, port);
}

/* Its reverse, on the reply: the destination becomes the client again. */
static __always_inline int unsnat(const struct dp_ctx *ctx, const struct packet *pkt,
				  const struct flow4 *old, __be32 client, __be16 port)
{
	return rewrite_endpoint(ctx, pkt, old, 1, client, port);
}

#endif
