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

/* Where things are, as offsets from the frame's start: the rewrite stage goes through the
 * target's context, and on TC a helper may move the data, so no pointer outlives the parse. */
struct packet {
	__u32 l4_off;    /* ETH_HLEN + IHL * 4: the options, if any, are skipped */
	__u32 ip_end;    /* ETH_HLEN + total length: what follows is Ethernet padding */
	__u32 frame_len; /* the whole packet (skb->len on TC) */
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

#endif
