/* Header rewrites: DNAT (to a backend) and reverse NAT (a reply back to the frontend), with the
 * IPv4 and TCP/UDP checksums updated incrementally. The L4 checksum covers the pseudo-header, so
 * an address change touches it too. */
#ifndef MAPLB_NAT_H
#define MAPLB_NAT_H

#include "checksum.h"
#include "parse.h"

static __always_inline void rewrite_l4_check(struct packet *pkt, __u32 old_addr, __u32 new_addr,
					     __u16 old_port, __u16 new_port)
{
	__u16 check = *pkt->l4_check;
	int udp = pkt->ip->protocol == IPPROTO_UDP;
	if (udp && check == 0)
		return; /* UDP without a checksum stays without one */
	check = csum_replace32(check, old_addr, new_addr);
	check = csum_replace16(check, old_port, new_port);
	if (udp && check == 0)
		check = 0xffff; /* 0 means "none" in UDP; the same sum is sent as its other zero */
	*pkt->l4_check = check;
}

/* Rewrites the destination (which = 1) or the source (which = 0) address and port. */
static __always_inline void rewrite_endpoint(struct packet *pkt, int which, __be32 addr, __be16 port)
{
	__be32 *ip_addr = which ? &pkt->ip->daddr : &pkt->ip->saddr;
	__be32 old_addr = *ip_addr;
	__be16 old_port = pkt->ports[which];

	rewrite_l4_check(pkt, old_addr, addr, old_port, port);
	pkt->ip->check = csum_replace32(pkt->ip->check, old_addr, addr);
	*ip_addr = addr;
	pkt->ports[which] = port;
}

static __always_inline void dnat(struct packet *pkt, const struct lb4_backend *backend)
{
	rewrite_endpoint(pkt, 1, backend->address, backend->port);
}

static __always_inline void revnat(struct packet *pkt, __be32 addr, __be16 port)
{
	rewrite_endpoint(pkt, 0, addr, port);
}

#endif
