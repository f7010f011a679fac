/* The maps of the BPF object, BTF-style, generated from the one list in maplb_abi.h. The
 * max_entries here are the defaults; the loader (host/kernel.c) sets the configured ones. */
#ifndef MAPLB_BPF_MAPS_H
#define MAPLB_BPF_MAPS_H

#include "maplb_abi.h"

/* LPM tries must be created without preallocation; every other map keeps the default. */
#define MAPLB_MAP_FLAGS(type) ((type) == BPF_MAP_TYPE_LPM_TRIE ? BPF_F_NO_PREALLOC : 0)

#define MAPLB_BPF_MAP(name, type_, ksz, vsz, max)                                                  \
	struct {                                                                                   \
		__uint(type, type_);                                                               \
		__uint(max_entries, max);                                                          \
		__uint(key_size, ksz);                                                             \
		__uint(value_size, vsz);                                                           \
		__uint(map_flags, MAPLB_MAP_FLAGS(type_));                                         \
	} name SEC(".maps");

MAPLB_MAPS(MAPLB_BPF_MAP)

#endif
