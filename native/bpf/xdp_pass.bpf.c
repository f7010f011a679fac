/* XDP_PASS and nothing else, for the lab's veth peers (see src/lab/proxy/maplb.ts). veth hands an
 * XDP_TX frame to its peer's NAPI, which runs only while the peer has an XDP program (or GRO set up
 * for it); without one the frame is lost. maplb's XDP mode answers a connection to a service without
 * endpoints with XDP_TX (an ICMP port unreachable), so the pods and clients on the other end of the
 * lab's veths run this. A physical NIC puts the frame on the wire and needs nothing of the sort. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
