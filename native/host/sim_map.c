/* Simulated BPF maps. See sim_map.h for the contract; the comments here say where the kernel's
 * behaviour is followed and where it is approximated. */
#include "sim_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ROUND8(n) (((n) + 7u) & ~7u)

/* One entry of a hash, LRU hash or LPM map: chained in a bucket, and (LRU) in the use list. */
struct sim_elem {
	struct sim_elem *next;
	struct sim_elem *lru_prev, *lru_next; /* most recently inserted or rescued at lru_head */
	unsigned long ref;                    /* LRU: used since it was last at the head */
	unsigned char data[];                 /* key, then the value at an 8-byte boundary */
};

struct sim_map {
	enum bpf_map_type type;
	__u32 key_size, value_size, max_entries;
	/* ARRAY: max_entries values, zeroed, value_size rounded to 8 as in the kernel. */
	unsigned char *values;
	/* HASH / LRU_HASH / LPM_TRIE: a preallocated pool, a free list and buckets. */
	unsigned char *pool;
	size_t elem_size;
	struct sim_elem *free_list;
	struct sim_elem **buckets;
	__u32 n_buckets, count;
	struct sim_elem *lru_head, *lru_tail;
};

static void *elem_key(struct sim_elem *e) { return e->data; }
static void *elem_value(const struct sim_map *m, struct sim_elem *e)
{
	return e->data + ROUND8(m->key_size);
}

/* The per-CPU types behave as their plain kind with one CPU: the host runs one batch at a time. */
static int is_array(const struct sim_map *m)
{
	return m->type == BPF_MAP_TYPE_ARRAY || m->type == BPF_MAP_TYPE_PERCPU_ARRAY;
}
static int is_lru(const struct sim_map *m) { return m->type == BPF_MAP_TYPE_LRU_HASH; }
static int is_lpm(const struct sim_map *m) { return m->type == BPF_MAP_TYPE_LPM_TRIE; }

/* ---- creation ---------------------------------------------------------------------------------- */

int sim_map_create(enum bpf_map_type type, __u32 key_size, __u32 value_size, __u32 max_entries,
		   struct sim_map **out)
{
	if (type != BPF_MAP_TYPE_HASH && type != BPF_MAP_TYPE_LRU_HASH &&
	    type != BPF_MAP_TYPE_ARRAY && type != BPF_MAP_TYPE_LPM_TRIE &&
	    type != BPF_MAP_TYPE_PERCPU_ARRAY && type != BPF_MAP_TYPE_PERCPU_HASH)
		return -EINVAL;
	if (key_size == 0 || value_size == 0 || max_entries == 0)
		return -EINVAL;
	if ((type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY) && key_size != 4)
		return -EINVAL;
	if (type == BPF_MAP_TYPE_LPM_TRIE && key_size <= sizeof(__u32))
		return -EINVAL;

	struct sim_map *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->type = type;
	m->key_size = key_size;
	m->value_size = value_size;
	m->max_entries = max_entries;

	if (is_array(m)) {
		m->values = calloc(max_entries, ROUND8(value_size));
		if (!m->values)
			goto nomem;
		*out = m;
		return 0;
	}

	m->n_buckets = 1;
	while (m->n_buckets < max_entries && m->n_buckets < (1u << 30))
		m->n_buckets <<= 1;
	m->elem_size = ROUND8(sizeof(struct sim_elem) + ROUND8(key_size) + ROUND8(value_size));
	m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
	m->pool = calloc(max_entries, m->elem_size);
	if (!m->buckets || !m->pool)
		goto nomem;
	for (__u32 i = max_entries; i-- > 0;) {
		struct sim_elem *e = (struct sim_elem *)(m->pool + (size_t)i * m->elem_size);
		e->next = m->free_list;
		m->free_list = e;
	}
	*out = m;
	return 0;
nomem:
	sim_map_free(m);
	return -ENOMEM;
}

void sim_map_free(struct sim_map *m)
{
	if (!m)
		return;
	free(m->values);
	free(m->pool);
	free(m->buckets);
	free(m);
}

__u32 sim_map_max_entries(const struct sim_map *m) { return m->max_entries; }

/* ---- hash table core (also stores the LPM trie's prefixes, one exact key per prefix) ---------- */

/* Keys are 2..16 bytes: mixed four bytes at a time (murmur3's body and finaliser). */
static __u32 key_hash(const struct sim_map *m, const void *key)
{
	const unsigned char *p = key;
	__u32 h = m->key_size, i = 0;
	for (; i + 4 <= m->key_size; i += 4) {
		__u32 k;
		memcpy(&k, p + i, 4);
		k *= 0xcc9e2d51u;
		k = (k << 15) | (k >> 17);
		h ^= k * 0x1b873593u;
		h = ((h << 13) | (h >> 19)) * 5 + 0xe6546b64u;
	}
	for (; i < m->key_size; i++)
		h = (h ^ p[i]) * 0x01000193u;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h & (m->n_buckets - 1);
}

static struct sim_elem *find(const struct sim_map *m, const void *key, struct sim_elem ***link)
{
	struct sim_elem **pp = &m->buckets[key_hash(m, key)];
	for (; *pp; pp = &(*pp)->next)
		if (memcmp(elem_key(*pp), key, m->key_size) == 0)
			break;
	if (link)
		*link = pp;
	return *pp;
}

static void lru_unlink(struct sim_map *m, struct sim_elem *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		m->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		m->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_touch(struct sim_map *m, struct sim_elem *e)
{
	if (!is_lru(m) || m->lru_head == e)
		return;
	if (e->lru_prev || e->lru_next || m->lru_tail == e)
		lru_unlink(m, e);
	e->lru_next = m->lru_head;
	if (m->lru_head)
		m->lru_head->lru_prev = e;
	m->lru_head = e;
	if (!m->lru_tail)
		m->lru_tail = e;
}

static void remove_elem(struct sim_map *m, struct sim_elem *e)
{
	struct sim_elem **pp;
	find(m, elem_key(e), &pp);
	*pp = e->next;
	if (is_lru(m))
		lru_unlink(m, e);
	e->next = m->free_list;
	m->free_list = e;
	m->count--;
}

/* The least recently used entry, by second chance: entries looked up since they were last moved
 * to the head go back there (unmarked) instead. The kernel's LRU works the same way, with per-CPU
 * lists on top, so which entry goes first under pressure can differ. */
static struct sim_elem *lru_victim(struct sim_map *m)
{
	while (m->lru_tail->ref) {
		struct sim_elem *e = m->lru_tail;
		e->ref = 0;
		lru_touch(m, e);
	}
	return m->lru_tail;
}

static int hash_update(struct sim_map *m, const void *key, const void *value, __u64 flags)
{
	struct sim_elem **link;
	struct sim_elem *e = find(m, key, &link);
	if (e) {
		if (flags == BPF_NOEXIST)
			return -EEXIST;
		memcpy(elem_value(m, e), value, m->value_size);
		lru_touch(m, e);
		return 0;
	}
	if (flags == BPF_EXIST)
		return -ENOENT;
	if (m->count == m->max_entries) {
		if (!is_lru(m))
			return is_lpm(m) ? -ENOSPC : -E2BIG;
		remove_elem(m, lru_victim(m));
		find(m, key, &link); /* the eviction may have changed this bucket's chain */
	}
	e = m->free_list;
	m->free_list = e->next;
	memset(e, 0, m->elem_size);
	memcpy(elem_key(e), key, m->key_size);
	memcpy(elem_value(m, e), value, m->value_size);
	*link = e;
	m->count++;
	lru_touch(m, e);
	return 0;
}

/* ---- LPM trie: prefixes stored masked; lookup tries the longest prefix first ------------------ */

static __u32 lpm_data_bits(const struct sim_map *m) { return (m->key_size - sizeof(__u32)) * 8; }

/* Copies key with prefixlen `len` and every data bit after the prefix cleared. */
static void lpm_masked(const struct sim_map *m, const void *key, __u32 len, unsigned char *out)
{
	memset(out, 0, m->key_size);
	memcpy(out, &len, sizeof(len));
	const unsigned char *data = (const unsigned char *)key + sizeof(__u32);
	unsigned char *dst = out + sizeof(__u32);
	for (__u32 bit = 0; bit < len; bit += 8) {
		__u32 left = len - bit;
		unsigned char mask = left >= 8 ? 0xff : (unsigned char)(0xff << (8 - left));
		dst[bit / 8] = data[bit / 8] & mask;
	}
}

static struct sim_elem *lpm_longest(const struct sim_map *m, const void *key)
{
	__u32 len;
	memcpy(&len, key, sizeof(len));
	if (len > lpm_data_bits(m))
		return NULL;
	unsigned char probe[m->key_size];
	for (__u32 l = len + 1; l-- > 0;) {
		lpm_masked(m, key, l, probe);
		struct sim_elem *e = find(m, probe, NULL);
		if (e)
			return e;
	}
	return NULL;
}

/* ---- the public operations --------------------------------------------------------------------- */

static int array_index(const struct sim_map *m, const void *key, __u32 *index)
{
	memcpy(index, key, sizeof(*index));
	return *index < m->max_entries;
}

void *sim_map_lookup(struct sim_map *m, const void *key)
{
	if (is_array(m)) {
		__u32 i;
		return array_index(m, key, &i) ? m->values + (size_t)i * ROUND8(m->value_size) : NULL;
	}
	struct sim_elem *e = is_lpm(m) ? lpm_longest(m, key) : find(m, key, NULL);
	if (!e)
		return NULL;
	e->ref = 1; /* as the kernel's LRU: a lookup only marks; eviction gives marked ones a second chance */
	return elem_value(m, e);
}

/* The key as the table stores it: an LPM key masked to its prefix length (into buf), any other key
 * as given. NULL for an LPM prefix longer than the key's data. */
static const void *stored_key(const struct sim_map *m, const void *key, unsigned char *buf)
{
	if (!is_lpm(m))
		return key;
	__u32 len;
	memcpy(&len, key, sizeof(len));
	if (len > lpm_data_bits(m))
		return NULL;
	lpm_masked(m, key, len, buf);
	return buf;
}

int sim_map_update(struct sim_map *m, const void *key, const void *value, __u64 flags)
{
	if (flags > BPF_EXIST)
		return -EINVAL;
	if (is_array(m)) {
		__u32 i;
		if (!array_index(m, key, &i))
			return -E2BIG;
		if (flags == BPF_NOEXIST)
			return -EEXIST; /* every array element always exists */
		memcpy(m->values + (size_t)i * ROUND8(m->value_size), value, m->value_size);
		return 0;
	}
	unsigned char buf[m->key_size];
	const void *stored = stored_key(m, key, buf);
	return stored ? hash_update(m, stored, value, flags) : -EINVAL;
}

int sim_map_delete(struct sim_map *m, const void *key)
{
	if (is_array(m))
		return -EINVAL;
	unsigned char buf[m->key_size];
	const void *stored = stored_key(m, key, buf);
	if (!stored)
		return -EINVAL;
	struct sim_elem *e = find(m, stored, NULL);
	if (!e)
		return -ENOENT;
	remove_elem(m, e);
	return 0;
}

static struct sim_elem *first_from_bucket(const struct sim_map *m, __u32 bucket)
{
	for (; bucket < m->n_buckets; bucket++)
		if (m->buckets[bucket])
			return m->buckets[bucket];
	return NULL;
}

/* Hash order here, not the kernel's (which has its own bucket order, and post-order for LPM). */
int sim_map_get_next_key(struct sim_map *m, const void *key, void *next_key)
{
	if (is_array(m)) {
		__u32 i;
		if (!key || !array_index(m, key, &i)) {
			i = 0;
		} else if (i + 1 >= m->max_entries) {
			return -ENOENT;
		} else {
			i++;
		}
		memcpy(next_key, &i, sizeof(i));
		return 0;
	}
	struct sim_elem *e = NULL;
	if (key) {
		unsigned char buf[m->key_size];
		const void *stored = stored_key(m, key, buf); /* NULL: no such key, start over */
		struct sim_elem *cur = stored ? find(m, stored, NULL) : NULL;
		if (cur)
			e = cur->next ? cur->next : first_from_bucket(m, key_hash(m, stored) + 1);
		else
			e = first_from_bucket(m, 0);
		if (cur && !e)
			return -ENOENT;
	} else {
		e = first_from_bucket(m, 0);
	}
	if (!e)
		return -ENOENT;
	memcpy(next_key, elem_key(e), m->key_size);
	return 0;
}

int sim_map_update_batch(struct sim_map *m, const void *keys, const void *values, __u32 *count,
			 __u64 flags)
{
	/* The kernel accepts no element flag here but BPF_F_LOCK, and fails before touching count. */
	if (flags != BPF_ANY)
		return -EINVAL;
	__u32 n = *count, done = 0;
	int err = 0;
	for (; done < n; done++) {
		err = sim_map_update(m, (const unsigned char *)keys + (size_t)done * m->key_size,
				     (const unsigned char *)values + (size_t)done * m->value_size, flags);
		if (err)
			break;
	}
	*count = done;
	return err;
}
