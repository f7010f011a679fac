/* BPF entry points: the same pipeline behind XDP, TC, and a probe for tests.
 * XDP and TC forward a rewritten packet to the stack (XDP_PASS / TC_ACT_OK) and drop with
 * XDP_DROP / TC_ACT_SHOT, except that a packet for a service without backends is answered with an
 * ICMP port unreachable (XDP_TX / redirect back out); the probe returns the verdict and reason themselves, so that
 * BPF_PROG_TEST_RUN can tell DNAT from PASS (XDP return codes are not range-checked by the
 * verifier: anything above XDP_REDIRECT would only count as an abort if it were attached). */
#include "shim.h"
#include "../datapath/pipeline.h"
#include "../datapath/icmp.h"
#include <linux/pkt_cls.h>

static __always_inline struct dp_result run_xdp(struct xdp_md *xdp)
{
	struct dp_env env = { .now = 0 };
	struct dp_ctx ctx = { .xdp = xdp };
	return dp_process(&env, &ctx);
}

/* The ICMP answer is IPv4's (icmp.h); an IPv6 packet for a service without backends is dropped
 * without an ICMPv6 one. */
static __always_inline int wants_icmp(struct dp_result r, void *data, void *data_end)
{
	struct ethhdr *eth = data;
	return r.verdict == MAPLB_VERDICT_DROP && r.reason == MAPLB_REASON_NO_BACKEND &&
	       (void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IP);
}

/* XDP: turn the frame into the ICMP error and send it back out of the interface it came in on. */
static __always_inline int xdp_reply_unreachable(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	if (bpf_xdp_adjust_head(ctx, -(int)ICMP_REPLY_GROW))
		return XDP_DROP;
	if (bpf_xdp_adjust_tail(ctx, (int)ICMP_REPLY_LEN - (int)(len + ICMP_REPLY_GROW)))
		return XDP_DROP;
	if (icmp_unreachable_in_place((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_DROP;
	return XDP_TX;
}

SEC("xdp")
int maplb_xdp(struct xdp_md *ctx)
{
	struct dp_result r = run_xdp(ctx);
	if (wants_icmp(r, (void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return xdp_reply_unreachable(ctx);
	return r.verdict == MAPLB_VERDICT_DROP ? XDP_DROP : XDP_PASS;
}

/* TC: the same, sent back out of the interface the packet arrived on. */
static __always_inline int tc_reply_unreachable(struct __sk_buff *skb)
{
	if (bpf_skb_change_head(skb, ICMP_REPLY_GROW, 0))
		return TC_ACT_SHOT;
	if (bpf_skb_change_tail(skb, ICMP_REPLY_LEN, 0))
		return TC_ACT_SHOT;
	if (icmp_unreachable_in_place((void *)(long)skb->data, (void *)(long)skb->data_end))
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

/* What the pipeline reads directly, at most: Ethernet, the longest IPv4 header, then the longer of
 * a TCP header with options (60) and an ICMP error's header (8), quoted IPv4 header (60) and the
 * quoted L4 bytes up to a TCP checksum (20); or, for IPv6, its header, the extension headers the
 * parser walks and a TCP header with options. */
#define TC_HEADERS_V4 (sizeof(struct ethhdr) + 60 + 8 + 60 + 20)
#define TC_HEADERS_V6 (sizeof(struct ethhdr) + IPV6_HLEN + IPV6_EXT_BYTES_MAX + 60)
#define TC_HEADERS (TC_HEADERS_V6 > TC_HEADERS_V4 ? TC_HEADERS_V6 : TC_HEADERS_V4)

SEC("tc")
int maplb_tc(struct __sk_buff *skb)
{
	/* An skb keeps only part of a packet linear (data..data_end); with scatter-gather or GRO the
	 * payload sits in page fragments. Make sure the headers are linear; the context gives the
	 * pipeline the whole packet's length (skb->len), so its total-length check and byte counters
	 * see the packet and not just its linear part. */
	struct dp_env env = { .now = 0 };
	if (skb->len > skb->data_end - skb->data && skb->data_end - skb->data < TC_HEADERS &&
	    bpf_skb_pull_data(skb, skb->len < TC_HEADERS ? skb->len : TC_HEADERS)) {
		dp_done(&env, MAPLB_VERDICT_DROP, MAPLB_REASON_CTX_ERROR); /* out of memory */
		return TC_ACT_SHOT;
	}
	/* The pull may have moved the data: the pipeline reads skb->data and data_end afresh. */
	struct dp_ctx ctx = { .skb = skb };
	struct dp_result r = dp_process(&env, &ctx);
	if (wants_icmp(r, (void *)(long)skb->data, (void *)(long)skb->data_end))
		return tc_reply_unreachable(skb);
	return r.verdict == MAPLB_VERDICT_DROP ? TC_ACT_SHOT : TC_ACT_OK;
}

/* Returns verdict | reason << 8 for host/kernel.c. An XDP program, because BPF_PROG_TEST_RUN
 * builds an skb for TC programs and refuses IPv4 frames too short for an IP header, which are
 * exactly the frames the parity test needs. */
SEC("xdp")
int maplb_probe(struct xdp_md *ctx)
{
	struct dp_result r = run_xdp(ctx);
	return r.verdict | (r.reason << 8);
}

/* Benchmark only: every run must be a new flow. BPF_PROG_TEST_RUN repeats on the bytes the last
 * run left, and BPF_F_TEST_XDP_LIVE_FRAMES copies the frame into a pool of pages it recycles, so a
 * frame cannot move its own port on; a counter shared by all runs stamps the next port instead. */
static __u16 next_sport;

SEC("xdp")
int maplb_bench_new_flows(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__be16 *sport = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
	if ((void *)(sport + 1) <= data_end)
		*sport = bpf_htons(next_sport++);
	struct dp_result r = run_xdp(ctx);
	return r.verdict == MAPLB_VERDICT_DROP ? XDP_DROP : XDP_PASS;
}

/* Benchmark only: no work at all, so BPF_PROG_TEST_RUN's own cost per run shows beside maplb's. */
SEC("xdp")
int maplb_bench_empty(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

#include "socket_lb.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
