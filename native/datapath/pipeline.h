/* The maplb datapath, one pipeline for every target:
 *   parse -> for a frontend or a tracked flow? (else pass, untouched) -> conntrack -> service
 *   lookup -> scope -> source range -> backend choice -> [SNAT] -> DNAT -> count
 * and, for a reply of a tracked flow, reverse NAT (and reverse SNAT: snat.h); for an ICMP error
 * about one, NAT of its quote and of its outer header the same way; for a later fragment, the
 * ports its first fragment left. The same for IPv4 and IPv6: pipeline_family.h is compiled once
 * per family (family.h), and dp_process picks by the ethertype. Written once as static inline functions with no libc: the
 * target's shim (bpf/shim.h or host/shim.h, included first) supplies struct dp_env, dp_now(env)
 * (ns; read only when a flow, an affinity entry or a UDP flow's SNAT port is written or aged),
 * dp_lookup/dp_update/dp_delete on the maps named in maplb_abi.h, and the packet context
 * (struct dp_ctx, ctx_*: see bpf/ctx.h and host/ctx.h). */
#ifndef MAPLB_PIPELINE_H
#define MAPLB_PIPELINE_H

#include "maplb_abi.h"
#include "lb_family.h"
#include "nat.h"
#include "icmp_error.h"
#include "counters.h"

struct dp_result {
	__u8 verdict; /* enum maplb_verdict */
	__u8 reason;  /* enum maplb_reason */
};

static __always_inline struct dp_result dp_done(struct dp_env *env, enum maplb_verdict verdict,
						enum maplb_reason reason)
{
	count_verdict(env, verdict, reason);
	struct dp_result r = { .verdict = verdict, .reason = reason };
	return r;
}

/* A rewrite the context failed to finish leaves a half-written packet: drop it. */
static __always_inline struct dp_result rewritten(struct dp_env *env, int err,
						  enum maplb_verdict verdict, enum maplb_reason reason)
{
	return err ? dp_done(env, MAPLB_VERDICT_DROP, MAPLB_REASON_CTX_ERROR) : dp_done(env, verdict, reason);
}

#define MAPLB_FAMILY 4
#include "family.h"
#include "pipeline_family.h"
#undef MAPLB_FAMILY

#define MAPLB_FAMILY 6
#include "family.h"
#include "pipeline_family.h"
#undef MAPLB_FAMILY

/* Runs one packet in place: IPv6 by its ethertype, everything else through the IPv4 parse (which
 * tells a short frame or a non-IP one). */
static __always_inline struct dp_result dp_process(struct dp_env *env, const struct dp_ctx *ctx)
{
	struct ethhdr *eth = ctx_data(ctx);
	if ((void *)(eth + 1) <= ctx_data_end(ctx) && eth->h_proto == bpf_htons(ETH_P_IPV6))
		return dp_process_ip6(env, ctx);
	return dp_process_ip(env, ctx);
}

#endif
