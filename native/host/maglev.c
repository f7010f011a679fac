/* The Maglev table fill of src/compile/maglev.ts in C: the same turns, probes and finish, so the
 * same rows. The compile spends most of its time here at scale (10k tables of 16381 rows), and
 * the probing loop runs about twice as fast in C as in JS. The hashes, seeds and the size of the
 * finish stay in maglev.ts (one definition); test/compile-maglev.test.ts compares both fills. */
#include "maplb_api.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* x⁻¹ mod m (extended Euclid); 0 when x and m share a factor: then x's permutation would not
 * visit every row, and probing for a free row could loop forever. */
static __u32 mod_inverse(__u32 x, __u32 m)
{
	int64_t r0 = m, r1 = x, t0 = 0, t1 = 1;
	while (r1 != 0) {
		int64_t q = r0 / r1, r = r0 - q * r1, t = t0 - q * t1;
		r0 = r1;
		r1 = r;
		t0 = t1;
		t1 = t;
	}
	if (r0 != 1)
		return 0;
	return (__u32)(((t0 % m) + m) % m);
}

/* The last `free` rows, as fillLastRows() in maglev.ts picks them: each turn, the free row that
 * comes first in the backend's permutation from its position, k = (row − position)·skip⁻¹ mod M. */
static void fill_last_rows(__u32 *rows, const __u8 *taken, __u32 m, const __u32 *pos,
			   const __u32 *inv, const __u32 *ids, __u32 n, __u32 next, __u32 *free_rows)
{
	__u32 nfree = 0;
	for (__u32 r = 0; r < m; r++)
		if (!taken[r])
			free_rows[nfree++] = r;
	for (__u32 i = next; nfree > 0; i = i + 1 == n ? 0 : i + 1) {
		__u32 p = pos[i], best = 0;
		uint64_t best_k = UINT64_MAX;
		for (__u32 j = 0; j < nfree; j++) {
			__u32 d = free_rows[j] >= p ? free_rows[j] - p : free_rows[j] + m - p;
			uint64_t k = (uint64_t)d * inv[i] % m;
			if (k < best_k) {
				best_k = k;
				best = j;
			}
		}
		rows[free_rows[best]] = ids[i];
		free_rows[best] = free_rows[--nfree];
	}
}

MAPLB_API int maplb_maglev_fill(const __u32 *offsets, const __u32 *skips, const __u32 *ids,
				__u32 n, __u32 m, __u32 last, __u32 *rows)
{
	if (!offsets || !skips || !ids || !rows || n == 0 || m < 2 || m > MAPLB_MAGLEV_FILL_MAX_M ||
	    last >= m)
		return -EINVAL;
	/* One allocation: positions, inverses, the finish's free rows, then a byte per taken row. */
	__u32 *pos = malloc((size_t)4 * (2 * n + last) + m);
	if (!pos)
		return -ENOMEM;
	__u32 *inv = pos + n, *free_rows = inv + n;
	__u8 *taken = (__u8 *)(free_rows + last);
	int err = 0;
	for (__u32 i = 0; i < n; i++) {
		inv[i] = skips[i] < m ? mod_inverse(skips[i], m) : 0;
		if (offsets[i] >= m || inv[i] == 0) {
			err = -EINVAL;
			goto out;
		}
		pos[i] = offsets[i];
	}
	for (__u32 r = 0; r < m; r++)
		taken[r] = 0;

	__u32 filled = 0, i = 0;
	while (m - filled > last) {
		__u32 step = skips[i], row = pos[i];
		while (taken[row]) {
			row += step;
			if (row >= m)
				row -= m;
		}
		taken[row] = 1;
		rows[row] = ids[i];
		row += step;
		pos[i] = row >= m ? row - m : row;
		filled++;
		i = i + 1 == n ? 0 : i + 1;
	}
	fill_last_rows(rows, taken, m, pos, inv, ids, n, i, free_rows);
out:
	free(pos);
	return err;
}
