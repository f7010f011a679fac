/* Writes straight into the packet's bytes, for the targets that own them outright: XDP and the
 * host build. A header field is stored, and a checksum that covers it is updated by hand
 * (RFC 1624), with the same flags as the kernel's bpf_l3/l4_csum_replace helpers so that one
 * pipeline drives either: the size of the changed field (2 or 4, or 0 for a checksum difference) in BPF_F_HDR_FIELD_MASK,
 * BPF_F_PSEUDO_HDR when the field is in the pseudo-header (an address), BPF_F_MARK_MANGLED_0 for
 * UDP (0 means "no checksum": left alone, and a computed 0 is sent as 0xffff). */
#ifndef MAPLB_CTX_DIRECT_H
#define MAPLB_CTX_DIRECT_H

#include "checksum.h"

/* The `size` bytes at data + off, or NULL when they are not all inside the buffer. The bound on
 * off is for the verifier: a packet offset must be known to be small. */
static __always_inline void *direct_field(void *data, void *data_end, __u32 off, __u32 size)
{
	if (off > 0xffff)
		return 0;
	void *p = data + off;
	if (p + size > data_end)
		return 0;
	return p;
}

static __always_inline int direct_store_bytes(void *data, void *data_end, __u32 off,
					      const void *from, __u32 len)
{
	void *p = direct_field(data, data_end, off, len);
	if (!p)
		return -1;
	if (len == 16)
		__builtin_memcpy(p, from, 16);
	else if (len == 4)
		__builtin_memcpy(p, from, 4);
	else
		__builtin_memcpy(p, from, 2);
	return 0;
}

/* size 0: `to` is a checksum difference (csum_diff_words) and `from` is unused, as the helpers'. */
static __always_inline __u16 csum_replace_sized(__u16 check, __u32 from, __u32 to, __u32 size)
{
	if (size == 0)
		return csum_apply_diff(check, to);
	return size == 4 ? csum_replace32(check, from, to) : csum_replace16(check, (__u16)from, (__u16)to);
}

/* The checksum at off after a covered field changed from `from` to `to` (flags as above).
 * partial: the packet is CHECKSUM_PARTIAL (TC, from a local socket): the field holds the
 * uncomplemented sum of the pseudo-header only, to be finished by whoever sends the packet. Then
 * only a pseudo-header change moves it, as a plain sum; the kernel's helper does exactly this. */
static __always_inline int direct_csum_replace(void *data, void *data_end, __u32 off, __u32 from,
					       __u32 to, __u64 flags, int partial)
{
	__u16 *p = direct_field(data, data_end, off, sizeof(__u16));
	if (!p)
		return -1;
	__u16 check = *p;
	int mangled_0 = (flags & BPF_F_MARK_MANGLED_0) != 0;
	if (mangled_0 && check == 0)
		return 0;
	__u32 size = flags & BPF_F_HDR_FIELD_MASK;
	if (!partial)
		check = csum_replace_sized(check, from, to, size);
	else if (flags & BPF_F_PSEUDO_HDR)
		check = (__u16)~csum_replace_sized((__u16)~check, from, to, size);
	if (mangled_0 && check == 0)
		check = 0xffff;
	*p = check;
	return 0;
}

#endif
