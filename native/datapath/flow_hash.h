/* The one flow hash: both backend algorithms (Maglev row, random slot) read it, and both targets
 * compute it with the same integer operations, so a seed gives the same choice everywhere. */
#ifndef MAPLB_FLOW_HASH_H
#define MAPLB_FLOW_HASH_H

#include "parse.h"

/* murmur3's 32-bit finaliser: every input bit affects every output bit. */
static __always_inline __u32 hash_mix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 flow_hash(const struct flow4 *f, __u32 seed)
{
	__u32 h = hash_mix(seed ^ f->saddr);
	h = hash_mix(h ^ f->daddr);
	h = hash_mix(h ^ (((__u32)f->sport << 16) | f->dport));
	return hash_mix(h ^ f->proto);
}

/* IPv6: each address word in turn, then ports and protocol as for IPv4. */
static __always_inline __u32 flow_hash6(const struct flow6 *f, __u32 seed)
{
	__u32 h = seed;
	for (int i = 0; i < 4; i++)
		h = hash_mix(h ^ f->saddr.w[i]);
	for (int i = 0; i < 4; i++)
		h = hash_mix(h ^ f->daddr.w[i]);
	h = hash_mix(h ^ (((__u32)f->sport << 16) | f->dport));
	return hash_mix(h ^ f->proto);
}

#endif
