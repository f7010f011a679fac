/* Parse an Ethernet frame down to the TCP/UDP ports, with every read bounds-checked against
 * data_end (the verifier insists on it for the BPF build; the host build runs the same checks).
 * Parsing only describes the packet: whether it is ours, and so whether a malformed one may be
 * dropped, is for the pipeline to decide (it needs the ports for that: see maplb_abi.h). */
#ifndef MAPLB_PARSE_H
#define MAPLB_PARSE_H

#include "maplb_abi.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

/* The 5-tuple, as found in the packet (network byte order). */
struct flow4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
};

/* The same for IPv6. */
struct flow6 {
	struct maplb_in6 saddr;
	struct maplb_in6 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto; /* the upper-layer protocol, after the extension headers */
};

/* Where things are, as offsets from the frame's start: the rewrite stage goes through the
 * target's context, and on TC a helper may move the data, so no pointer outlives the parse. */
struct packet {
	__u32 l4_off;    /* ETH_HLEN + IHL * 4 (IPv6: + 40 + the extension headers) */
	__u32 ip_end;    /* ETH_HLEN + total length: what follows is Ethernet padding */
	__u32 frame_len; /* the whole packet (skb->len on TC) */
	__be32 frag_id6; /* IPv6: the fragment header's identification (0 without one) */
	__be16 ip_id;
	__u8 has_l4;     /* 0 for a later fragment: this packet carries no L4 header */
	__u8 first_frag; /* MF set at offset 0: later fragments will need its ports */
	__u8 ports_read; /* flow->sport/dport were read (even from a malformed packet) */
	__u8 tcp_flags;  /* TCP: the flags byte (FIN, SYN, RST, ACK); 0 otherwise */
};

#define IPV4_MF 0x2000
#define IPV4_OFFSET_MASK 0x1fff
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10
#define TCP_FLAGS_OFF 13 /* the flags byte in the TCP header */

/* The header length parse_frame insists on for the protocol (0: not TCP or UDP). */
static __always_inline __u32 l4_header_len(__u8 proto)
{
	return proto == IPPROTO_TCP ? sizeof(struct tcphdr)
	       : proto == IPPROTO_UDP ? sizeof(struct udphdr)
				      : 0;
}

/* The L4 checksum's place in its header (0: none to keep). */
static __always_inline __u32 l4_check_off(__u8 proto)
{
	return proto == IPPROTO_TCP ? __builtin_offsetof(struct tcphdr, check)
	       : proto == IPPROTO_UDP ? __builtin_offsetof(struct udphdr, check)
				      : 0;
}

static __always_inline int in_prefix32(__be32 addr, __be32 net, __u32 prefix)
{
	__u32 mask = prefix >= 32 ? 0xffffffffu : prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
	return (bpf_ntohl(addr) & mask) == (bpf_ntohl(net) & mask);
}

static __always_inline int in6_eq(const struct maplb_in6 *a, const struct maplb_in6 *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] && a->w[3] == b->w[3];
}

static __always_inline int in6_is_zero(const struct maplb_in6 *a)
{
	return (a->w[0] | a->w[1] | a->w[2] | a->w[3]) == 0;
}

/* Whether addr is in net/prefix (prefix 0..128), word by word. */
static __always_inline int in6_prefix_match(const struct maplb_in6 *addr, const struct maplb_in6 *net,
					    __u32 prefix)
{
	int match = 1;
	for (int i = 0; i < 4; i++) {
		__u32 bits = prefix > 32u * i ? prefix - 32u * i : 0;
		if (bits)
			match &= in_prefix32(addr->w[i], net->w[i], bits);
	}
	return match;
}

/* Returns MAPLB_REASON_OK with *pkt and *flow filled in, or what is wrong (NOT_TCP_UDP for any
 * other protocol, ICMP included). pkt->ports_read says whether the flow's ports could be read all
 * the same. frame_len is the whole packet's length; data_end may end earlier (an skb's non-linear
 * part). A later fragment is OK with has_l4 = 0 and no ports: fragment tracking supplies them. */
static __always_inline enum maplb_reason parse_frame(void *data, void *data_end, __u32 frame_len,
						     struct packet *pkt, struct flow4 *flow)
{
	__builtin_memset(pkt, 0, sizeof(*pkt));
	__builtin_memset(flow, 0, sizeof(*flow));
	pkt->frame_len = frame_len;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return MAPLB_REASON_TRUNC_ETH;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return MAPLB_REASON_NOT_IP;

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return MAPLB_REASON_TRUNC_IP;
	__u8 version_ihl = *(__u8 *)ip; /* read as a byte: the uapi bitfields depend on endianness */
	if ((version_ihl >> 4) != 4)
		return MAPLB_REASON_BAD_IP_VERSION;
	__u32 ihl_len = (version_ihl & 0xf) * 4;
	if (ihl_len < sizeof(*ip))
		return MAPLB_REASON_BAD_IHL;
	flow->saddr = ip->saddr;
	flow->daddr = ip->daddr;
	flow->proto = ip->protocol;
	pkt->ip_id = ip->id;
	pkt->l4_off = sizeof(*eth) + ihl_len;

	__u16 frag = bpf_ntohs(ip->frag_off);
	pkt->has_l4 = (frag & IPV4_OFFSET_MASK) == 0;
	pkt->first_frag = pkt->has_l4 && (frag & IPV4_MF);
	__u32 l4_min = l4_header_len(ip->protocol);

	/* The ports, as soon as they are in the buffer: they tell whether a malformed packet was
	 * meant for a frontend. */
	__u8 *l4 = (__u8 *)ip + ihl_len;
	if (l4_min && pkt->has_l4 && (void *)(l4 + 4) <= data_end) {
		flow->sport = *(__be16 *)l4;
		flow->dport = *(__be16 *)(l4 + 2);
		pkt->ports_read = 1;
	}

	__u32 ip_len = bpf_ntohs(ip->tot_len);
	if (ip_len < sizeof(*ip) || ip_len > frame_len - sizeof(*eth))
		return MAPLB_REASON_BAD_TOTAL_LEN; /* a longer buffer is fine: Ethernet pads to 60 bytes */
	if (ihl_len > ip_len)
		return MAPLB_REASON_IP_OPTIONS;
	pkt->ip_end = sizeof(*eth) + ip_len;
	if (!l4_min)
		return MAPLB_REASON_NOT_TCP_UDP;
	if (!pkt->has_l4)
		return MAPLB_REASON_OK;
	if (ip_len < ihl_len + l4_min)
		return MAPLB_REASON_TRUNC_L4;
	if (ip->protocol == IPPROTO_TCP) { /* constant sizes: the verifier learns the bound from them */
		if ((void *)(l4 + sizeof(struct tcphdr)) > data_end)
			return MAPLB_REASON_TRUNC_L4;
		pkt->tcp_flags = l4[TCP_FLAGS_OFF];
	} else if ((void *)(l4 + sizeof(struct udphdr)) > data_end) {
		return MAPLB_REASON_TRUNC_L4;
	}
	return MAPLB_REASON_OK;
}

/* ---- IPv6 ----------------------------------------------------------------------------------- */

#define IPV6_HLEN 40
/* Extension headers walked before giving up (EXT_HDR_CHAIN). Real packets carry one or two
 * (hop-by-hop, a fragment header); four covers hop-by-hop, destination options, routing and
 * fragment together. A bound the verifier must walk: each more header multiplies the states it
 * explores behind the parse (XDP's program grew from 90k to 357k processed instructions going from
 * 3 to 4, and passes 1M at 6). */
#define IPV6_EXT_MAX 4
/* And at most this many bytes of them (a hop-by-hop header may be 2 KiB): also for the verifier,
 * which must see every packet offset bounded. */
#define IPV6_EXT_BYTES_MAX 512
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60
#define IPV6_FRAG_OFFSET_MASK 0xfff8
#define IPV6_FRAG_MORE 0x0001

static __always_inline int ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == NEXTHDR_HOP || nexthdr == NEXTHDR_ROUTING || nexthdr == NEXTHDR_FRAGMENT ||
	       nexthdr == NEXTHDR_AUTH || nexthdr == NEXTHDR_DEST;
}

/* The fragment header (RFC 8200 4.5): next header, reserved, offset and M flag, identification. */
struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* The extension header at off (type nexthdr): its length into *len, the next header into *next,
 * and the fragment fields into pkt. 0, or TRUNC_EXT_HDR when it is cut by the buffer or by the
 * payload length. */
static __always_inline enum maplb_reason ipv6_ext_hdr(void *data, void *data_end, __u32 off,
						      __u8 nexthdr, struct packet *pkt, __u32 *len,
						      __u8 *next)
{
	__u8 *h = data + off;
	if ((void *)(h + 2) > data_end || off + 2 > pkt->ip_end)
		return MAPLB_REASON_TRUNC_EXT_HDR;
	*next = h[0];
	if (nexthdr == NEXTHDR_FRAGMENT) {
		struct ipv6_frag_hdr *frag = (void *)h;
		if ((void *)(frag + 1) > data_end || off + sizeof(*frag) > pkt->ip_end)
			return MAPLB_REASON_TRUNC_EXT_HDR;
		__u16 frag_off = bpf_ntohs(frag->frag_off);
		pkt->has_l4 = (frag_off & IPV6_FRAG_OFFSET_MASK) == 0;
		pkt->first_frag = pkt->has_l4 && (frag_off & IPV6_FRAG_MORE);
		pkt->frag_id6 = frag->identification;
		*len = sizeof(*frag);
	} else if (nexthdr == NEXTHDR_AUTH) {
		*len = ((__u32)h[1] + 2) * 4; /* RFC 4302: in 4-byte units, minus 2 */
	} else {
		*len = ((__u32)h[1] + 1) * 8; /* in 8-byte units, not counting the first 8 */
	}
	if (off + *len > pkt->ip_end)
		return MAPLB_REASON_TRUNC_EXT_HDR;
	return MAPLB_REASON_OK;
}

/* parse_frame for IPv6: the fixed header, then the extension headers up to the upper-layer
 * protocol, then the ports as for IPv4. The same reasons; IPv6 has no header checksum and no
 * options of its own (they live in extension headers), so no BAD_IHL or IP_OPTIONS. */
static __always_inline enum maplb_reason parse_frame6(void *data, void *data_end, __u32 frame_len,
						      struct packet *pkt, struct flow6 *flow)
{
	__builtin_memset(pkt, 0, sizeof(*pkt));
	__builtin_memset(flow, 0, sizeof(*flow));
	pkt->frame_len = frame_len;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return MAPLB_REASON_TRUNC_ETH;
	if (eth->h_proto != bpf_htons(ETH_P_IPV6))
		return MAPLB_REASON_NOT_IP;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > data_end)
		return MAPLB_REASON_TRUNC_IP;
	if ((*(__u8 *)ip6 >> 4) != 6)
		return MAPLB_REASON_BAD_IP_VERSION;
	__builtin_memcpy(&flow->saddr, &ip6->saddr, sizeof(flow->saddr));
	__builtin_memcpy(&flow->daddr, &ip6->daddr, sizeof(flow->daddr));
	__u32 payload_len = bpf_ntohs(ip6->payload_len);
	if (frame_len < ETH_HLEN + IPV6_HLEN || payload_len > frame_len - ETH_HLEN - IPV6_HLEN)
		return MAPLB_REASON_BAD_TOTAL_LEN; /* shorter than it says (0: a jumbogram, or empty) */
	pkt->ip_end = ETH_HLEN + IPV6_HLEN + payload_len;
	pkt->has_l4 = 1;

	__u8 nexthdr = ip6->nexthdr;
	__u32 off = ETH_HLEN + IPV6_HLEN;
	for (int i = 0; i < IPV6_EXT_MAX && ipv6_is_ext(nexthdr); i++) {
		__u32 len = 0;
		enum maplb_reason r = ipv6_ext_hdr(data, data_end, off, nexthdr, pkt, &len, &nexthdr);
		if (r != MAPLB_REASON_OK)
			return r;
		off += len;
		if (off > ETH_HLEN + IPV6_HLEN + IPV6_EXT_BYTES_MAX)
			return MAPLB_REASON_EXT_HDR_CHAIN;
	}
	flow->proto = nexthdr;
	if (ipv6_is_ext(nexthdr))
		return MAPLB_REASON_EXT_HDR_CHAIN;
	if (off > pkt->ip_end)
		return MAPLB_REASON_TRUNC_EXT_HDR; /* never: each header was checked; the verifier's bound */
	pkt->l4_off = off;

	__u32 l4_min = l4_header_len(nexthdr);
	__u8 *l4 = data + off;
	if (l4_min && pkt->has_l4 && (void *)(l4 + 4) <= data_end) {
		flow->sport = *(__be16 *)l4;
		flow->dport = *(__be16 *)(l4 + 2);
		pkt->ports_read = 1;
	}
	if (!l4_min)
		return MAPLB_REASON_NOT_TCP_UDP;
	if (!pkt->has_l4)
		return MAPLB_REASON_OK;
	if (pkt->ip_end < off + l4_min)
		return MAPLB_REASON_TRUNC_L4;
	if (nexthdr == IPPROTO_TCP) {
		if ((void *)(l4 + sizeof(struct tcphdr)) > data_end)
			return MAPLB_REASON_TRUNC_L4;
		pkt->tcp_flags = l4[TCP_FLAGS_OFF];
	} else if ((void *)(l4 + sizeof(struct udphdr)) > data_end) {
		return MAPLB_REASON_TRUNC_L4;
	}
	return MAPLB_REASON_OK;
}

#endif
