/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mapping cache of a live disk: its block map as map() reads it, with
 * no lock.  See the design comment in dm-row-map-cache.c.
 */
#ifndef DM_ROW_MAP_CACHE_H
#define DM_ROW_MAP_CACHE_H

#include <linux/types.h>
#include <linux/rcupdate.h>
#include <linux/atomic.h>

/* Blocks per segment: one bit each in a segment's word of known entries. */
#define DMROW_CACHE_SEGMENT_BLOCKS	64

/* An entry that says the block is not mapped (no packed mapping is this). */
#define DMROW_CACHE_UNMAPPED		(~0ULL)

/* snapshotted_time while the cache is not to be used. */
#define DMROW_CACHE_TIME_UNKNOWN	(~0U)

/* The entries of one aligned window of blocks; replaced whole, never moved. */
struct dmrow_cache_segment {
	u64 first;			/* the window's first block */
	unsigned long known;		/* bit i: values[i] is what the tree says */
	struct rcu_head rcu;
	u64 values[DMROW_CACHE_SEGMENT_BLOCKS];	/* packed mappings, or UNMAPPED */
};

struct dmrow_map_cache {
	struct dmrow_map_cache *next;	/* in the metadata's list (its lock) */
	u64 disk_id;
	/*
	 * The disk's snapshotted_time: a mapping written before it is shared.
	 * DMROW_CACHE_TIME_UNKNOWN until a lookup under the metadata lock has
	 * published it, and again after anything that drops the whole cache.
	 */
	u32 snapshotted_time;
	unsigned int slot_mask;		/* slots - 1: a window's slot is its number & mask */
	atomic_t nr_segments;
	unsigned int shrink_next;	/* the slot memory pressure frees next */
	struct dmrow_cache_segment __rcu **slots;
};

/* What one block of a hit says; as struct dmrow_mapping, but its own. */
struct dmrow_cache_hit {
	u64 data_block;
	u32 time;
	bool shared;
};

int dmrow_map_cache_module_init(void);
void dmrow_map_cache_module_exit(void);

/*
 * A cache for disk @disk_id of @size_blocks blocks using at most about
 * @budget_bytes (at least one slot).  Not in use until the metadata has it
 * (dmrow_md_attach_cache()).
 */
struct dmrow_map_cache *dmrow_map_cache_create(u64 disk_id, u64 size_blocks, u64 budget_bytes);
/* No lookup may still run: the metadata has let go of it, I/O has stopped. */
void dmrow_map_cache_destroy(struct dmrow_map_cache *cache);

/* The most memory this cache can use, and what it uses now. */
u64 dmrow_map_cache_budget(const struct dmrow_map_cache *cache);
u64 dmrow_map_cache_bytes(const struct dmrow_map_cache *cache);

/*
 * map(), no lock, in an RCU read-side section or not: the run of blocks
 * from @vblock, at most *@nr_blocks of them, mapped alike (as
 * dmrow_md_try_find_run()).  0: mapped, @hit is the first block's;
 * -ENODATA: unmapped; *@nr_blocks is the run's length.  -EAGAIN: the first
 * block is not cached (the tree must say).
 */
int dmrow_map_cache_find_run(struct dmrow_map_cache *cache, u64 vblock,
			     unsigned int *nr_blocks, struct dmrow_cache_hit *hit);

/*
 * The metadata, under its lock: read (fills) or written (the rest).  Fills
 * and changes never run at once, so a fill always records what the tree
 * holds.
 */
/* A lookup found @value (packed, or DMROW_CACHE_UNMAPPED) for @vblock. */
void dmrow_map_cache_fill(struct dmrow_map_cache *cache, u64 vblock, u64 value);
void dmrow_map_cache_publish_time(struct dmrow_map_cache *cache, u32 snapshotted_time);
/* The tree now maps @vblock to @value: the cache follows (a mapping is cached). */
void dmrow_map_cache_set(struct dmrow_map_cache *cache, u64 vblock, u64 value);
/* Forget everything (the tree was replaced), time included. */
void dmrow_map_cache_drop(struct dmrow_map_cache *cache);
/*
 * Memory pressure, with the metadata lock shared (no change runs; fills
 * may): free up to @nr segments, going round the slots from where the
 * last call stopped.  Returns how many it freed.
 */
unsigned long dmrow_map_cache_shrink(struct dmrow_map_cache *cache, unsigned long nr);

#endif /* DM_ROW_MAP_CACHE_H */
