// SPDX-License-Identifier: GPL-2.0
/*
 * Block -> reference-count delta map; see dm-row-delta-map.h.
 */
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "dm-row-delta-map.h"

#define INITIAL_SLOTS 256

static unsigned int slot_of(const struct dmrow_delta_map *map, u64 block)
{
	return (unsigned int)((block * 0x9e3779b97f4a7c15ULL) >> 32) & (map->nr_slots - 1);
}

static struct dmrow_delta_entry *alloc_slots(unsigned int nr)
{
	struct dmrow_delta_entry *slots = kvmalloc(nr * sizeof(*slots), GFP_NOIO);
	unsigned int i;

	if (!slots)
		return NULL;
	for (i = 0; i < nr; i++) {
		slots[i].block = DMROW_DELTA_EMPTY;
		slots[i].delta = 0;
	}
	return slots;
}

int dmrow_delta_map_init(struct dmrow_delta_map *map)
{
	map->slots = alloc_slots(INITIAL_SLOTS);
	if (!map->slots)
		return -ENOMEM;
	map->nr_slots = INITIAL_SLOTS;
	map->nr_used = 0;
	map->generation = 0;
	return 0;
}

void dmrow_delta_map_exit(struct dmrow_delta_map *map)
{
	kvfree(map->slots);
	map->slots = NULL;
}

void dmrow_delta_map_clear(struct dmrow_delta_map *map)
{
	unsigned int i;

	for (i = 0; i < map->nr_slots; i++) {
		map->slots[i].block = DMROW_DELTA_EMPTY;
		map->slots[i].delta = 0;
	}
	map->nr_used = 0;
}

static struct dmrow_delta_entry *find_slot(struct dmrow_delta_map *map, u64 block)
{
	unsigned int i = slot_of(map, block);

	while (map->slots[i].block != DMROW_DELTA_EMPTY && map->slots[i].block != block)
		i = (i + 1) & (map->nr_slots - 1);
	return &map->slots[i];
}

s32 dmrow_delta_map_get(struct dmrow_delta_map *map, u64 block)
{
	struct dmrow_delta_entry *e = find_slot(map, block);

	return e->block == block ? e->delta : 0;
}

static int grow(struct dmrow_delta_map *map)
{
	struct dmrow_delta_entry *old = map->slots;
	unsigned int old_nr = map->nr_slots, i;

	map->slots = alloc_slots(old_nr * 2);
	if (!map->slots) {
		map->slots = old;
		return -ENOMEM;
	}
	map->nr_slots = old_nr * 2;
	for (i = 0; i < old_nr; i++)
		if (old[i].block != DMROW_DELTA_EMPTY)
			*find_slot(map, old[i].block) = old[i];
	kvfree(old);
	map->generation++;
	return 0;
}

int dmrow_delta_map_add(struct dmrow_delta_map *map, u64 block, s32 delta)
{
	struct dmrow_delta_entry *e = find_slot(map, block);
	int r;

	if (e->block != block) {
		/* A new entry: make room first, so that changing one never allocates. */
		if ((map->nr_used + 1) * 4 > map->nr_slots * 3) {
			r = grow(map);
			if (r)
				return r;
			e = find_slot(map, block);
		}
		e->block = block;
		e->delta = 0;
		map->nr_used++;
	}
	e->delta += delta;
	return 0;
}
