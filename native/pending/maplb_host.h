#include <linux/types.h>
#include "ipt_abi_section.h"
struct ipt_eval;
int maplb_ipt_open(const struct ipt_rule *rules, __u32 nrules, const struct ipt_chain *chains, __u32 nchains,
		   __u16 entry, const __be32 *local, __u32 nlocal, __u64 seed, struct ipt_eval **out);
void maplb_ipt_close(struct ipt_eval *e);
int maplb_ipt_eval(struct ipt_eval *e, const struct ipt_packet *pkts, __u32 n, __u64 now_s,
		   struct ipt_result *results, __u32 *path, __u32 path_cap);
