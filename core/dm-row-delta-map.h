/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A map from block number to a signed reference-count change: the metadata
 * space map's changes held back until commit (see dm-row-space-map.c).
 * Open addressing, linear probing; entries whose delta returns to zero stay
 * in place until the map is cleared.
 */
#ifndef DM_ROW_DELTA_MAP_H
#define DM_ROW_DELTA_MAP_H

#include <linux/types.h>

struct dmrow_delta_entry {
	u64 block;		/* DMROW_DELTA_EMPTY if the slot is unused */
	s32 delta;
};

#define DMROW_DELTA_EMPTY (~0ULL)

struct dmrow_delta_map {
	struct dmrow_delta_entry *slots;
	unsigned int nr_slots;		/* a power of two */
	unsigned int nr_used;
	unsigned int generation;	/* bumped when the slots are reallocated */
};

int dmrow_delta_map_init(struct dmrow_delta_map *map);
void dmrow_delta_map_exit(struct dmrow_delta_map *map);
void dmrow_delta_map_clear(struct dmrow_delta_map *map);

/* The delta recorded for @block (0 if none). */
s32 dmrow_delta_map_get(struct dmrow_delta_map *map, u64 block);

/* Add @delta to @block's entry.  Allocates only for a new entry. */
int dmrow_delta_map_add(struct dmrow_delta_map *map, u64 block, s32 delta);

#endif /* DM_ROW_DELTA_MAP_H */
