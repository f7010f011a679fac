/* Header rewrites: DNAT (to a backend), reverse NAT (a reply back to the frontend) and SNAT,
 * through the target's context (ctx.h): the kernel's checksum helpers on TC, RFC 1624 by hand on
 * XDP and the host. The L4 checksum covers the pseudo-header, so an address change touches it too.
 * A later fragment has no L4 header: only its IP header changes. DNAT, reverse NAT and SNAT
 * themselves, family-generic, are in pipeline_family.h. Each returns 0, or -1 when the
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

/* The L4 port at which = 1 (destination) or 0 (source) changes, with the L4 checksum. */
static __always_inline int rewrite_port(const struct dp_ctx *ctx, const struct packet *pkt,
					__u8 proto, int which, __be16 old_port, __be16 port)
{
	__u32 check_off = pkt->l4_off + l4_check_off(proto);
	__u64 udp = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	if (ctx_store_bytes(ctx, pkt->l4_off + (which ? sizeof(__be16) : 0), &port, sizeof(port)))
		return -1;
	return ctx_l4_csum_replace(ctx, check_off, old_port, port, udp | sizeof(port));
}

/* An address in the L4 pseudo-header changed by one 32-bit word (an IPv4 address, or a word of an
 * IPv6 one): the L4 checksum follows. UDP's checksum 0 stays 0 and a computed 0 becomes 0xffff
 * (BPF_F_MARK_MANGLED_0): over IPv6, where 0 is invalid, a rewrite never produces it. */
static __always_inline int l4_pseudo_word(const struct dp_ctx *ctx, const struct packet *pkt,
					  __u8 proto, __be32 from, __be32 to)
{
	__u32 check_off = pkt->l4_off + l4_check_off(proto);
	__u64 udp = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	return ctx_l4_csum_replace(ctx, check_off, from, to, BPF_F_PSEUDO_HDR | udp | sizeof(to));
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
	if (l4_pseudo_word(ctx, pkt, old->proto, old_addr, addr))
		return -1;
	return rewrite_port(ctx, pkt, old->proto, which, old_port, port);
}

#define IP6_SADDR_OFF (ETH_HLEN + __builtin_offsetof(struct ipv6hdr, saddr))
#define IP6_DADDR_OFF (ETH_HLEN + __builtin_offsetof(struct ipv6hdr, daddr))

/* The same for IPv6: no header checksum; the L4 checksum's pseudo-header holds both 16-byte
 * addresses, so it moves by the difference of the old and new address, applied at once (size 0:
 * the kernel helper's "from/to is a checksum difference" form, which keeps a CHECKSUM_PARTIAL skb
 * right as for IPv4). */
static __always_inline int rewrite_endpoint6(const struct dp_ctx *ctx, const struct packet *pkt,
					     const struct flow6 *old, int which, struct maplb_in6 addr,
					     __be16 port)
{
	const struct maplb_in6 *old_addr = which ? &old->daddr : &old->saddr;
	__be16 old_port = which ? old->dport : old->sport;
	if (ctx_store_bytes(ctx, which ? IP6_DADDR_OFF : IP6_SADDR_OFF, &addr, sizeof(addr)))
		return -1;
	if (!pkt->has_l4)
		return 0;
	__u32 check_off = pkt->l4_off + l4_check_off(old->proto);
	__u64 udp = old->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 diff = csum_diff_words(old_addr->w, addr.w, 4);
	if (ctx_l4_csum_replace(ctx, check_off, 0, diff, BPF_F_PSEUDO_HDR | udp))
		return -1;
	return rewrite_port(ctx, pkt, old->proto, which, old_port, port);
}

#endif
