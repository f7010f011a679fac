/* The answer to a packet for a service without backends: ICMP destination unreachable (port
 * unreachable, as kube-proxy's REJECT sends), from the frontend back to the client, so that the
 * client's connect() fails at once instead of timing out. Optional in the design; the BPF entry
 * points send it, the verdict stays DROP / NO_BACKEND.
 *
 * The target makes room first: the reply is ICMP_REPLY_LEN bytes, and the original frame must sit
 * ICMP_REPLY_GROW bytes in, so that its IP header and first 8 bytes of L4 (what an ICMP error
 * quotes) are already where the quote goes. This function then writes the headers around them. */
#ifndef MAPLB_ICMP_H
#define MAPLB_ICMP_H

#include "checksum.h"
#include "parse.h"

/* The ICMP header of a destination-unreachable error (RFC 792). Not linux/icmp.h: it pulls in
 * libc's socket headers, which the BPF target does not have. */
struct icmp_unreach_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 unused;
};
#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3

/* The offending IP header and 20 bytes of L4: more than RFC 792's 8 (RFC 1812 asks for as much as
 * fits), because a TC program cannot cut an skb whose L4 checksum is still to be filled in
 * (CHECKSUM_PARTIAL, as from a local socket) shorter than that checksum field. Short packets are
 * quoted with zero padding. */
#define ICMP_QUOTE_LEN (sizeof(struct iphdr) + 20)
#define ICMP_REPLY_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct icmp_unreach_hdr) + ICMP_QUOTE_LEN)
/* The quote starts at ICMP_REPLY_LEN - ICMP_QUOTE_LEN; the original IP header was at ETH_HLEN. */
#define ICMP_REPLY_GROW (ICMP_REPLY_LEN - ICMP_QUOTE_LEN - sizeof(struct ethhdr))

/* The Internet checksum of `words` 16-bit words (a constant count: clang unrolls the loop). */
static __always_inline __u16 csum_words(const __u16 *p, int words)
{
	__u32 sum = 0;
	for (int i = 0; i < words; i++)
		sum += p[i];
	return (__u16)~csum_fold(sum);
}

/* [data, data_end) holds (at least) ICMP_REPLY_LEN bytes laid out as described above. 0, or -1
 * when it is shorter. */
static __always_inline int icmp_unreachable_in_place(void *data, void *data_end)
{
	if (data + ICMP_REPLY_LEN > data_end) /* ">", not "!=": the verifier learns bounds from it */
		return -1;
	struct ethhdr *old_eth = data + ICMP_REPLY_GROW;
	struct iphdr *quoted = data + ICMP_REPLY_LEN - ICMP_QUOTE_LEN;

	/* Read what is needed before writing: the old Ethernet header overlaps the new IP header. */
	unsigned char client_mac[ETH_ALEN], node_mac[ETH_ALEN];
	__builtin_memcpy(client_mac, old_eth->h_source, ETH_ALEN);
	__builtin_memcpy(node_mac, old_eth->h_dest, ETH_ALEN);
	__be32 client = quoted->saddr, frontend = quoted->daddr;

	struct ethhdr *eth = data;
	__builtin_memcpy(eth->h_dest, client_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, node_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	struct iphdr *ip = (void *)(eth + 1);
	*(__u8 *)ip = 0x45; /* version 4, IHL 5 */
	ip->tos = 0xc0;     /* internetwork control, as the kernel's own ICMP errors */
	ip->tot_len = bpf_htons(ICMP_REPLY_LEN - sizeof(struct ethhdr));
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = IPPROTO_ICMP;
	ip->check = 0;
	ip->saddr = frontend;
	ip->daddr = client;
	ip->check = csum_words((__u16 *)ip, sizeof(*ip) / 2);

	struct icmp_unreach_hdr *icmp = (void *)(ip + 1);
	icmp->type = ICMP_DEST_UNREACH;
	icmp->code = ICMP_PORT_UNREACH;
	icmp->checksum = 0;
	icmp->unused = 0;
	icmp->checksum = csum_words((__u16 *)icmp, (sizeof(*icmp) + ICMP_QUOTE_LEN) / 2);
	return 0;
}

#endif
