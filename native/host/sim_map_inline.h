/* The simulated maps' layout and lookup, inlined into the host pipeline (host/shim.h) as the
 * verifier inlines the kernel's array and hash lookups into a BPF program: with the map's type and
 * the key's size known at each call site, an array lookup is a bounds check and an offset, and a
 * hash lookup a hash of a few multiplies and one probe run, with no call. sim_map.c has the rest. */
#ifndef MAPLB_SIM_MAP_INLINE_H
#define MAPLB_SIM_MAP_INLINE_H

#include <linux/bpf.h>
#include <string.h>
#include "sim_map.h"

#define SIM_INLINE static inline __attribute__((always_inline))
#define ROUND8(n) (((n) + 7u) & ~7u)

/* One entry of a hash, LRU hash or LPM map, in a preallocated pool: it never moves while it exists
 * (the pipeline updates values through the pointer a lookup returned). */
struct sim_elem {
	struct sim_elem *lru_prev, *lru_next; /* most recently inserted or rescued at lru_head */
	unsigned long ref;                    /* LRU: used since it was last at the head */
	unsigned char data[];                 /* key, then the value at an 8-byte boundary */
};

/* The index of a hash map: open addressing with linear probing, one 8-byte slot per position (the
 * key's hash beside its element's number), at most two-thirds full (a 64k-entry map's slots fit
 * 1 MiB). A lookup hashes once, reads neighbouring slots of one cache line and compares a key only
 * where the whole hash matches: no chain of elements to follow. Deletion shifts the probe run back
 * (no tombstones). */
struct sim_slot {
	__u32 hash;
	__u32 elem; /* pool index + 1; 0 = empty */
};

struct sim_map {
	enum bpf_map_type type;
	__u32 key_size, value_size, max_entries;
	/* ARRAY: max_entries values, zeroed, value_size rounded to 8 as in the kernel. */
	unsigned char *values;
	/* HASH / LRU_HASH / LPM_TRIE: a preallocated pool, a stack of free elements and the slots. */
	unsigned char *pool;
	size_t elem_size;
	__u32 *free_list;
	__u32 n_free;
	struct sim_slot *slots;
	__u32 slot_mask, count;
	struct sim_elem *lru_head, *lru_tail;
};

SIM_INLINE struct sim_elem *elem_at(const struct sim_map *m, __u32 index)
{
	return (struct sim_elem *)(m->pool + (size_t)index * m->elem_size);
}
SIM_INLINE __u32 elem_index(const struct sim_map *m, const struct sim_elem *e)
{
	return (__u32)(((const unsigned char *)e - m->pool) / m->elem_size);
}
SIM_INLINE void *elem_key(struct sim_elem *e) { return e->data; }
SIM_INLINE void *elem_value(const struct sim_map *m, struct sim_elem *e)
{
	return e->data + ROUND8(m->key_size);
}

/* Keys are 4..16 bytes: eight bytes at a time, multiplied and folded (a murmur-style finaliser), so
 * a change in any byte reaches the low bits the slot index takes. Inlined with a constant size, the
 * loop and the key comparison below unroll into a few instructions. */
SIM_INLINE __u32 hash_key(const void *key, __u32 size)
{
	const unsigned char *p = key;
	__u64 h = size * 0x9e3779b97f4a7c15ull;
	__u32 i = 0;
	for (; i + 8 <= size; i += 8) {
		__u64 w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (i + 4 <= size) {
		__u32 w;
		memcpy(&w, p + i, 4);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		i += 4;
	}
	for (; i < size; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 32;
	return (__u32)h;
}

/* The slot holding key (hash h), or the empty slot that ends its probe run: *found says which. */
SIM_INLINE __u32 probe(const struct sim_map *m, const void *key, __u32 size, __u32 h, int *found)
{
	for (__u32 i = h & m->slot_mask;; i = (i + 1) & m->slot_mask) {
		const struct sim_slot *s = &m->slots[i];
		if (!s->elem) {
			*found = 0;
			return i;
		}
		if (s->hash == h && memcmp(elem_at(m, s->elem - 1)->data, key, size) == 0) {
			*found = 1;
			return i;
		}
	}
}

SIM_INLINE struct sim_elem *find_sized(const struct sim_map *m, const void *key, __u32 size)
{
	int found;
	__u32 i = probe(m, key, size, hash_key(key, size), &found);
	return found ? elem_at(m, m->slots[i].elem - 1) : NULL;
}

/* The value of key in a map of type `type` with keys of `size` bytes (both constants at the
 * pipeline's call sites, so the branches fold away), or NULL. As sim_map_lookup. */
SIM_INLINE void *sim_map_lookup_inline(struct sim_map *m, const void *key, __u32 size, __u32 type)
{
	if (size != m->key_size || type == BPF_MAP_TYPE_LPM_TRIE)
		return sim_map_lookup(m, key);
	if (type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		__u32 i;
		memcpy(&i, key, sizeof(i));
		return i < m->max_entries ? m->values + (size_t)i * ROUND8(m->value_size) : NULL;
	}
	struct sim_elem *e = find_sized(m, key, size);
	if (!e)
		return NULL;
	if (!e->ref)
		e->ref = 1; /* an LRU's use mark, written only when it changes (as the kernel does) */
	return elem_value(m, e);
}

#endif
