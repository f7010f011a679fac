/* ICMP errors about a tracked flow, translated so that path MTU discovery (and a traceroute, or
 * an unreachable backend) works through the load balancer. A router on the backend's path that
 * cannot forward the client's DNATed packet sends, to the client, an error quoting that packet's
 * IP header and first L4 bytes: client -> backend. The client's stack matches errors to sockets by
 * the quote, and its socket talks to the frontend; so the quote's destination becomes the frontend
 * again (address, port, the quoted IP checksum and, when quoted, the L4 checksum), the ICMP
 * checksum follows every quoted change, and the outer source too if the backend itself sent it.
 * The other way round, an error about a reply goes to the backend, its quote made backend's. */
#ifndef MAPLB_ICMP_ERROR_H
#define MAPLB_ICMP_ERROR_H

#include "lb_family.h"
#include "icmp.h"
#include "nat.h"

#define ICMP_TIME_EXCEEDED 11

/* What the error quotes: the offending packet's addresses and ports, and where its fields are. */
struct icmp_quote {
	struct flow4 flow;  /* as quoted: client -> backend */
	__u32 icmp_off;     /* the ICMP header */
	__u32 ip_off;       /* the quoted IP header */
	__u32 l4_off;       /* the quoted L4 header (after the quoted options) */
	__u16 ip_check;     /* the quoted IP header checksum */
	__u16 l4_check;     /* the quoted L4 checksum, when has_l4_check */
	__u8 has_l4_check;  /* the quote reaches the L4 checksum (RFC 792 quotes only 8 bytes) */
};

/* Reads the quote of an ICMP destination-unreachable or time-exceeded error whose quoted packet
 * is an unfragmented (or first-fragment) TCP/UDP packet. 0 when the packet is no such error. */
static __always_inline int icmp_read_quote(const struct dp_ctx *ctx, const struct packet *pkt,
					   struct icmp_quote *q)
{
	void *data = ctx_data(ctx), *data_end = ctx_data_end(ctx);
	__u32 icmp_off = pkt->l4_off;
	if (icmp_off > ETH_HLEN + 60) /* it never is; the verifier needs the bound */
		return 0;
	struct icmp_unreach_hdr *icmp = data + icmp_off;
	if ((void *)(icmp + 1) > data_end)
		return 0;
	if (icmp->type != ICMP_DEST_UNREACH && icmp->type != ICMP_TIME_EXCEEDED)
		return 0;
	struct iphdr *ip = (void *)(icmp + 1);
	if ((void *)(ip + 1) > data_end)
		return 0;
	__u8 version_ihl = *(__u8 *)ip;
	__u32 ihl_len = (version_ihl & 0xf) * 4;
	__u32 check_at = l4_check_off(ip->protocol);
	if ((version_ihl >> 4) != 4 || ihl_len < sizeof(*ip) || !check_at ||
	    (ip->frag_off & bpf_htons(IPV4_OFFSET_MASK)))
		return 0;
	__u32 l4_off = icmp_off + sizeof(*icmp) + ihl_len;
	__be16 *ports = data + l4_off;
	if ((void *)(ports + 2) > data_end || l4_off + 4 > pkt->ip_end)
		return 0;

	q->flow.saddr = ip->saddr;
	q->flow.daddr = ip->daddr;
	q->flow.sport = ports[0];
	q->flow.dport = ports[1];
	q->flow.proto = ip->protocol;
	q->icmp_off = icmp_off;
	q->ip_off = icmp_off + sizeof(*icmp);
	q->l4_off = l4_off;
	q->ip_check = ip->check;
	__u16 *l4_check = data + l4_off + check_at;
	q->has_l4_check = (void *)(l4_check + 1) <= data_end && l4_off + check_at + 2 <= pkt->ip_end;
	q->l4_check = q->has_l4_check ? *l4_check : 0;
	return 1;
}

/* A quoted field changes: store it, then move the ICMP checksum (which covers it) along. */
static __always_inline int icmp_quote_store(const struct dp_ctx *ctx, const struct icmp_quote *q,
					    __u32 off, __u32 from, __u32 to, __u32 size)
{
	__u16 to16 = (__u16)to; /* the stored bytes must be the field's own size */
	if (ctx_store_bytes(ctx, off, size == 4 ? (void *)&to : (void *)&to16, size))
		return -1;
	return ctx_l4_csum_replace(ctx, q->icmp_off + __builtin_offsetof(struct icmp_unreach_hdr, checksum),
				   from, to, size);
}

/* The quote's source (which = 0) or destination (which = 1) becomes addr:port, with the quoted IP
 * and L4 checksums and the ICMP checksum. Every new value is computed first, from what was read:
 * the stores may move the data (TC). *q follows, so that the other end can be rewritten next. */
static __always_inline int icmp_quote_rewrite(const struct dp_ctx *ctx, struct icmp_quote *q,
					      int which, __be32 addr, __be16 port)
{
	__be32 old_addr = which ? q->flow.daddr : q->flow.saddr;
	__be16 old_port = which ? q->flow.dport : q->flow.sport;
	__u16 ip_check = csum_replace32(q->ip_check, old_addr, addr);
	__u16 l4_check = q->l4_check;
	int udp = q->flow.proto == IPPROTO_UDP;
	if (q->has_l4_check && !(udp && l4_check == 0)) {
		l4_check = csum_replace32(l4_check, old_addr, addr);
		l4_check = csum_replace16(l4_check, old_port, port);
		if (udp && l4_check == 0)
			l4_check = 0xffff;
	}

	__u32 addr_at = q->ip_off + (which ? __builtin_offsetof(struct iphdr, daddr)
					   : __builtin_offsetof(struct iphdr, saddr));
	__u32 ip_check_at = q->ip_off + __builtin_offsetof(struct iphdr, check);
	if (icmp_quote_store(ctx, q, addr_at, old_addr, addr, sizeof(addr)) ||
	    icmp_quote_store(ctx, q, ip_check_at, q->ip_check, ip_check, sizeof(ip_check)) ||
	    icmp_quote_store(ctx, q, q->l4_off + (which ? sizeof(__be16) : 0), old_port, port,
			     sizeof(port)))
		return -1;
	if (q->has_l4_check &&
	    icmp_quote_store(ctx, q, q->l4_off + l4_check_off(q->flow.proto), q->l4_check, l4_check,
			     sizeof(l4_check)))
		return -1;
	q->ip_check = ip_check;
	q->l4_check = l4_check;
	if (which) {
		q->flow.daddr = addr;
		q->flow.dport = port;
	} else {
		q->flow.saddr = addr;
		q->flow.sport = port;
	}
	return 0;
}

/* An ICMP error about a tracked flow, either way:
 *   about the client's DNATed packet (quote client -> backend, sent to the client): the quote's
 *   destination becomes the frontend, and the outer source too if the backend sent it: REVNAT;
 *   for a source-NATed flow (quote node:port -> backend, sent to the node), the quote's source and
 *   the outer destination become the client as well;
 *   about a reverse-NATed reply (quote frontend -> client, sent to the frontend by a router on the
 *   client's side, e.g. fragmentation needed for the backend's large answers): the quote's source
 *   becomes the backend, and so does the outer destination, so the backend learns the path MTU:
 *   DNAT; for a source-NATed flow, the quote's destination becomes the node's address and port
 *   the backend knows the client by.
 * The verdict in *verdict; returns 1 when rewritten, 0 when not such an error (the packet is left
 * alone), -1 when the context failed mid-rewrite. */
static __always_inline int icmp_error_nat(struct dp_env *env, const struct dp_ctx *ctx,
					  const struct packet *pkt, const struct flow4 *outer,
					  enum maplb_verdict *verdict)
{
	struct icmp_quote q;
	if (!icmp_read_quote(ctx, pkt, &q))
		return 0;
	/* The flow of the quoted packet's answer, whose entry tells which way it went. */
	struct flow4 answer = { .saddr = q.flow.daddr, .daddr = q.flow.saddr, .sport = q.flow.dport,
				.dport = q.flow.sport, .proto = q.flow.proto };
	__be32 frontend;
	__be16 port;
	struct ct4_entry *rev = ct_reply_frontend(env, &answer, &frontend, &port);
	if (rev) {
		__be32 client = rev->snat_addr; /* set when source-NATed */
		__be16 client_port = rev->snat_port;
		*verdict = MAPLB_VERDICT_REVNAT;
		if (icmp_quote_rewrite(ctx, &q, 1, frontend, port))
			return -1;
		if (outer->saddr == answer.saddr && rewrite_ip_addr(ctx, IP_SADDR_OFF, outer->saddr, frontend))
			return -1;
		if (client && (icmp_quote_rewrite(ctx, &q, 0, client, client_port) ||
			       rewrite_ip_addr(ctx, IP_DADDR_OFF, outer->daddr, client)))
			return -1;
		return 1;
	}
	struct lb4_backend *backend = 0;
	__u32 id;
	struct ct4_entry *ct = ct_service_backend(env, &answer, &backend, &id);
	if (!ct || !backend)
		return 0;
	__be32 snat_addr = ct->snat_addr;
	__be16 snat_port = ct->snat_port;
	*verdict = MAPLB_VERDICT_DNAT;
	if (icmp_quote_rewrite(ctx, &q, 0, backend->address, backend->port) ||
	    rewrite_ip_addr(ctx, IP_DADDR_OFF, outer->daddr, backend->address))
		return -1;
	if (snat_addr && icmp_quote_rewrite(ctx, &q, 1, snat_addr, snat_port))
		return -1;
	return 1;
}

#endif
