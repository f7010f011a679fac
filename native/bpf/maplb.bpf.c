/* BPF entry points: the same pipeline behind XDP, TC, and a probe for tests.
 * XDP and TC forward a rewritten packet to the stack (XDP_PASS / TC_ACT_OK) and drop with
 * XDP_DROP / TC_ACT_SHOT; the probe returns the verdict and reason themselves, so that
 * BPF_PROG_TEST_RUN can tell DNAT from PASS (XDP return codes are not range-checked by the
 * verifier: anything above XDP_REDIRECT would only count as an abort if it were attached). */
#include "shim.h"
#include "../datapath/pipeline.h"
#include <linux/pkt_cls.h>

static __always_inline struct dp_result run(void *data, void *data_end)
{
	struct dp_env env = { .now = 0 };
	return dp_process(&env, data, data_end, (__u32)(data_end - data));
}

SEC("xdp")
int maplb_xdp(struct xdp_md *ctx)
{
	struct dp_result r = run((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return r.verdict == MAPLB_VERDICT_DROP ? XDP_DROP : XDP_PASS;
}

SEC("tc")
int maplb_tc(struct __sk_buff *skb)
{
	struct dp_result r = run((void *)(long)skb->data, (void *)(long)skb->data_end);
	return r.verdict == MAPLB_VERDICT_DROP ? TC_ACT_SHOT : TC_ACT_OK;
}

/* Returns verdict | reason << 8 for host/kernel.c. An XDP program, because BPF_PROG_TEST_RUN
 * builds an skb for TC programs and refuses IPv4 frames too short for an IP header, which are
 * exactly the frames the parity test needs. */
SEC("xdp")
int maplb_probe(struct xdp_md *ctx)
{
	struct dp_result r = run((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return r.verdict | (r.reason << 8);
}

/* Benchmark only: every BPF_PROG_TEST_RUN repeat must be a new flow, but the kernel runs the
 * repeats on the same (already processed) bytes. So after each run the source port moves on. */
SEC("xdp")
int maplb_bench_new_flows(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct dp_result r = run(data, data_end);
	__be16 *sport = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
	if ((void *)(sport + 1) <= data_end)
		*sport = bpf_htons(bpf_ntohs(*sport) + 1);
	return r.verdict == MAPLB_VERDICT_DROP ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
