/* Simulated BPF maps. See sim_map.h for the contract; the comments here say where the kernel's
 * behaviour is followed and where it is approximated. */
#include "sim_map.h"
#include "sim_map_inline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

	if (max_entries > (1u << 30)) /* 1.5 slots per entry, rounded up to a power of 2, fit a u32 */
		goto nomem;
	__u32 n_slots = 2;
	while (n_slots < max_entries + max_entries / 2 + 1)
		n_slots <<= 1;
	m->slot_mask = n_slots - 1;
	m->elem_size = ROUND8(sizeof(struct sim_elem) + ROUND8(key_size) + ROUND8(value_size));
	/* malloc and memset, not calloc: every page is touched now, as the kernel preallocates its
	 * maps, so that no packet pays for a first-touch page fault. */
	m->slots = malloc((size_t)n_slots * sizeof(*m->slots));
	m->pool = malloc((size_t)max_entries * m->elem_size);
	m->free_list = malloc((size_t)max_entries * sizeof(*m->free_list));
	if (!m->slots || !m->pool || !m->free_list)
		goto nomem;
	memset(m->slots, 0, (size_t)n_slots * sizeof(*m->slots));
	memset(m->pool, 0, (size_t)max_entries * m->elem_size);
	for (__u32 i = 0; i < max_entries; i++) /* the first insert takes element 0, and so on */
		m->free_list[i] = max_entries - 1 - i;
	m->n_free = max_entries;
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
	free(m->slots);
	free(m->free_list);
	free(m);
}

__u32 sim_map_max_entries(const struct sim_map *m) { return m->max_entries; }

/* ---- hash index core (also stores the LPM trie's prefixes, one exact key per prefix) ---------- */

/* The element of key, or NULL; with the key's size a constant for each size the ABI's keys have. */
static struct sim_elem *find(const struct sim_map *m, const void *key)
{
	switch (m->key_size) {
	case 4:
		return find_sized(m, key, 4);
	case 8:
		return find_sized(m, key, 8);
	case 12:
		return find_sized(m, key, 12);
	case 16:
		return find_sized(m, key, 16);
	}
	return find_sized(m, key, m->key_size);
}

static __u32 slot_of(const struct sim_map *m, const void *key, int *found)
{
	return probe(m, key, m->key_size, hash_key(key, m->key_size), found);
}

/* Empties slot i and shifts back the rest of its probe run: each later slot moves into the gap
 * unless its home position lies cyclically after the gap (there it would no longer be found). */
static void slot_remove(struct sim_map *m, __u32 i)
{
	__u32 gap = i;
	for (__u32 j = (i + 1) & m->slot_mask; m->slots[j].elem; j = (j + 1) & m->slot_mask) {
		__u32 home = m->slots[j].hash & m->slot_mask;
		int stays = gap <= j ? (gap < home && home <= j) : (gap < home || home <= j);
		if (stays)
			continue;
		m->slots[gap] = m->slots[j];
		gap = j;
	}
	m->slots[gap].elem = 0;
	m->slots[gap].hash = 0;
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
	int found;
	slot_remove(m, slot_of(m, elem_key(e), &found));
	if (is_lru(m))
		lru_unlink(m, e);
	m->free_list[m->n_free++] = elem_index(m, e);
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

SIM_INLINE int hash_update_sized(struct sim_map *m, const void *key, const void *value, __u64 flags,
				 __u32 size)
{
	__u32 h = hash_key(key, size);
	int found;
	__u32 i = probe(m, key, size, h, &found);
	if (found) {
		if (flags == BPF_NOEXIST)
			return -EEXIST;
		struct sim_elem *e = elem_at(m, m->slots[i].elem - 1);
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
		i = probe(m, key, size, h, &found); /* the eviction may have shifted this run */
	}
	__u32 index = m->free_list[--m->n_free];
	struct sim_elem *e = elem_at(m, index);
	memset(e, 0, m->elem_size);
	memcpy(elem_key(e), key, size);
	memcpy(elem_value(m, e), value, m->value_size);
	m->slots[i].hash = h;
	m->slots[i].elem = index + 1;
	m->count++;
	lru_touch(m, e);
	return 0;
}

/* With the key's size a constant for each size the ABI's keys have, as find(). */
static int hash_update(struct sim_map *m, const void *key, const void *value, __u64 flags)
{
	switch (m->key_size) {
	case 4:
		return hash_update_sized(m, key, value, flags, 4);
	case 8:
		return hash_update_sized(m, key, value, flags, 8);
	case 12:
		return hash_update_sized(m, key, value, flags, 12);
	case 16:
		return hash_update_sized(m, key, value, flags, 16);
	}
	return hash_update_sized(m, key, value, flags, m->key_size);
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
	unsigned char masked[m->key_size];
	for (__u32 l = len + 1; l-- > 0;) {
		lpm_masked(m, key, l, masked);
		struct sim_elem *e = find(m, masked);
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
	struct sim_elem *e = is_lpm(m) ? lpm_longest(m, key) : find(m, key);
	if (!e)
		return NULL;
	if (!e->ref)
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
	if (!is_lpm(m))
		return hash_update(m, key, value, flags);
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
	struct sim_elem *e = find(m, stored);
	if (!e)
		return -ENOENT;
	remove_elem(m, e);
	return 0;
}

/* The element of the first used slot at or after `slot`, or NULL. */
static struct sim_elem *first_from_slot(const struct sim_map *m, __u64 slot)
{
	for (; slot <= m->slot_mask; slot++)
		if (m->slots[slot].elem)
			return elem_at(m, m->slots[slot].elem - 1);
	return NULL;
}

/* Slot order here, not the kernel's (which has its own bucket order, and post-order for LPM). */
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
	struct sim_elem *e = first_from_slot(m, 0);
	if (key) {
		unsigned char buf[m->key_size];
		const void *stored = stored_key(m, key, buf); /* NULL: no such key, start over */
		int found = 0;
		__u32 i = stored ? slot_of(m, stored, &found) : 0;
		if (found) {
			e = first_from_slot(m, (__u64)i + 1);
			if (!e)
				return -ENOENT;
		}
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
