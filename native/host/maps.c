/* The ABI's map list (maplb_abi.h) as a table, and max_entries resolution. */
#include <linux/bpf.h>
#include "dp.h"

const struct map_def maplb_maps[MAPLB_MAP__COUNT] = {
#define MAPLB_MAP_DEF(name, type, ksz, vsz, max) { #name, type, ksz, vsz, max },
	MAPLB_MAPS(MAPLB_MAP_DEF)
#undef MAPLB_MAP_DEF
};

__u32 maplb_resolve_max_entries(__u32 id, const __u32 *requested)
{
	if (id == MAPLB_MAP_maplb_config || id == MAPLB_MAP_maplb_counters)
		return maplb_maps[id].default_max_entries;
	__u32 entries = requested && requested[id] ? requested[id] : maplb_maps[id].default_max_entries;
	/* An id table's size counts backends, as a hash map's would: ids 1..N need row 0 too. */
	if (MAPLB_ID_TABLE(id) && entries < 0xffffffffu)
		entries++;
	return entries;
}
