/* The host build of the ICMP unreachable the BPF entry points send (datapath/icmp.h): the same
 * code, so tests can compare the kernel's reply with it byte for byte. */
#include "maplb_abi.h"
#include "maplb_api.h"
#include "shim.h"
#include "../datapath/icmp.h"

#include <errno.h>
#include <string.h>

int maplb_icmp_unreachable(const __u8 *frame, __u32 len, __u8 *out)
{
	/* An aligned scratch reply, laid out as the BPF targets leave it after growing the head and
	 * cutting the tail: the original frame ICMP_REPLY_GROW bytes in. */
	struct {
		_Alignas(8) __u8 pad[2];
		__u8 bytes[ICMP_REPLY_LEN];
	} reply = { 0 };
	if (len < ETH_HLEN + sizeof(struct iphdr) + 8) /* the smallest frame NO_BACKEND can drop */
		return -EINVAL;
	__u32 keep = ICMP_REPLY_LEN - ICMP_REPLY_GROW;
	memcpy(reply.bytes + ICMP_REPLY_GROW, frame, len < keep ? len : keep);
	if (icmp_unreachable_in_place(reply.bytes, reply.bytes + ICMP_REPLY_LEN))
		return -EINVAL;
	memcpy(out, reply.bytes, ICMP_REPLY_LEN);
	return 0;
}
