/* Incremental Internet checksum updates (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
 * One's complement sums do not depend on byte order, so the raw 16-bit words are used as loaded
 * from the packet, whichever order they are in. */
#ifndef MAPLB_CHECKSUM_H
#define MAPLB_CHECKSUM_H

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* The checksum after a 16-bit word of the covered data changed from `from` to `to`. */
static __always_inline __u16 csum_replace16(__u16 check, __u16 from, __u16 to)
{
	__u32 sum = (__u16)~check + (__u32)(__u16)~from + to;
	return (__u16)~csum_fold(sum);
}

/* The same for a 32-bit field (an address): two 16-bit words. */
static __always_inline __u16 csum_replace32(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;
	sum += (__u16)~(from >> 16);
	sum += (__u16)~(from & 0xffff);
	sum += to >> 16;
	sum += to & 0xffff;
	return (__u16)~csum_fold(sum);
}

/* The checksum difference of `words` 32-bit fields changing from `from` to `to` (what the kernel's
 * bpf_csum_diff gives): one sum to apply with csum_apply_diff, however many words changed. */
static __always_inline __u32 csum_diff_words(const __u32 *from, const __u32 *to, int words)
{
	__u64 sum = 0;
	for (int i = 0; i < words; i++)
		sum += (__u32)~from[i] + (__u64)to[i];
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return (__u32)sum;
}

/* The checksum after the covered data changed by `diff` (csum_diff_words). */
static __always_inline __u16 csum_apply_diff(__u16 check, __u32 diff)
{
	__u64 sum = (__u64)(__u16)~check + diff;
	sum = (sum & 0xffffffff) + (sum >> 32);
	return (__u16)~csum_fold((__u32)sum);
}

#endif
