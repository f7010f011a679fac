/* Parse an Ethernet frame down to the TCP/UDP ports, with every read bounds-checked against
 * data_end (the verifier insists on it for the BPF build; the host build runs the same checks). */
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

/* Where the rewrite stage writes: all pointers are inside the bounds checked here. */
struct packet {
	struct iphdr *ip;
	__be16 *ports; /* [0] source, [1] destination: the same place in TCP and UDP */
	__sum16 *l4_check;
	__u32 frame_len;
};

#define IPV4_FRAG_MASK 0x3fff /* MF flag + fragment offset */

/* Returns MAPLB_REASON_OK with *pkt and *flow filled in, or the reason the packet is not ours
 * (its verdict is fixed by the reason: see maplb_abi.h). frame_len is data_end - data. */
static __always_inline enum maplb_reason parse_frame(void *data, void *data_end, __u32 frame_len,
						     struct packet *pkt, struct flow4 *flow)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return MAPLB_REASON_TRUNC_ETH;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return MAPLB_REASON_NOT_IPV4;

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return MAPLB_REASON_TRUNC_IP;
	__u8 version_ihl = *(__u8 *)ip; /* read as a byte: the uapi bitfields depend on endianness */
	if ((version_ihl >> 4) != 4)
		return MAPLB_REASON_BAD_IP_VERSION;
	if ((version_ihl & 0xf) < 5)
		return MAPLB_REASON_BAD_IHL;
	if ((version_ihl & 0xf) > 5)
		return MAPLB_REASON_IP_OPTIONS;
	__u32 ip_len = bpf_ntohs(ip->tot_len);
	if (ip_len < sizeof(*ip) || ip_len > frame_len - sizeof(*eth))
		return MAPLB_REASON_BAD_TOTAL_LEN; /* a longer buffer is fine: Ethernet pads to 60 bytes */
	if (ip->frag_off & bpf_htons(IPV4_FRAG_MASK))
		return MAPLB_REASON_FRAGMENT;

	__u32 l4_min;
	if (ip->protocol == IPPROTO_TCP)
		l4_min = sizeof(struct tcphdr);
	else if (ip->protocol == IPPROTO_UDP)
		l4_min = sizeof(struct udphdr);
	else
		return MAPLB_REASON_NOT_TCP_UDP;
	if (ip_len < sizeof(*ip) + l4_min)
		return MAPLB_REASON_TRUNC_L4;

	void *l4 = ip + 1;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > data_end)
			return MAPLB_REASON_TRUNC_L4;
		pkt->l4_check = &tcp->check;
	} else {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > data_end)
			return MAPLB_REASON_TRUNC_L4;
		pkt->l4_check = &udp->check;
	}
	pkt->ip = ip;
	pkt->ports = l4;
	pkt->frame_len = frame_len;

	flow->saddr = ip->saddr;
	flow->daddr = ip->daddr;
	flow->sport = pkt->ports[0];
	flow->dport = pkt->ports[1];
	flow->proto = ip->protocol;
	return MAPLB_REASON_OK;
}

#endif
