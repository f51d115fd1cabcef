// SPDX-License-Identifier: GPL-2.0
/*
 * The mapping cache: a live disk's block map as map() reads it, with no lock.
 *
 * Looking a block up in the mapping tree takes the metadata lock (shared)
 * and walks nodes through the block manager, which locks each one; under
 * emulation that is most of what dm-row adds to a bio, and whenever the
 * worker holds the lock the bio waits for the worker.  The cache answers the
 * common case without either: map() reads it in an RCU read-side section,
 * takes no lock and writes no shared memory.
 *
 * Layout.  A disk's blocks are cut into aligned windows of 64; a window's
 * entries live in a segment: the packed mapping of each block (data block
 * and the pool time it was written), or "unmapped", and a word with one bit
 * per block that says the entry is known.  A fixed array of slots holds
 * segments, window number modulo the number of slots, one segment per slot:
 * a window that needs a slot held by another window takes it over.  So the
 * memory a cache can use is fixed when it is made (slots times a segment),
 * and a disk no larger than its slots can hold keeps every window.  The
 * number of slots comes from a budget (the module parameter
 * map_cache_mb, per disk) and the disk's size.
 *
 * Who writes.  Only the metadata writes the cache, under its own lock:
 *  - a lookup in the tree (the lock shared) fills the entries it read, and
 *    publishes the disk's snapshotted_time with them;
 *  - a change to the tree (the lock exclusive) sets the entries it
 *    changed (a new mapping, a discard; a new mapping gets a segment if
 *    its window has none, as a block just written is likely to be read),
 *    or drops the whole cache (a rollback, a removal, an abort).
 * Fills and changes never overlap, so what a fill records is what the tree
 * holds; two fills at once record the same thing.  Fills race only with each
 * other for a slot: a segment is published with cmpxchg, and the one it
 * replaced is freed after a grace period (call_rcu), so a reader holding it
 * reads old but valid memory.  Within a segment an entry is written before
 * its bit is set (smp_wmb(), read as smp_rmb()), and bits are never cleared:
 * forgetting means replacing the segment.  A changed entry is overwritten
 * in place, one 64-bit store, so a reader sees the old mapping or the new.
 *
 * Why an old mapping seen at the last moment is harmless: the same holds
 * for a lookup in the tree that ran just before the change.  A block that a
 * change frees is quarantined until every bio admitted before the change
 * has completed (dm-row-pool.c); the pool admits a bio to its I/O epoch
 * before reading the cache, and closes the epoch after the change, with a
 * release that orders the change before it.  A bio that sees the new epoch
 * sees the change.  A write acknowledged after its mapping changed was
 * mapped under the lock before it was acknowledged, so a read issued after
 * the acknowledgement finds the new entry.
 *
 * Sharing.  Whether a block is shared is a compare of the time it was
 * written with the disk's snapshotted_time, published in the cache: a
 * snapshot moves that time and invalidates no entry.  The pool's snapshot
 * gate keeps in-place writes that judged "not shared" before the snapshot
 * out of it, as for lookups in the tree.  An unknown time (a fresh or
 * dropped cache) makes every lookup a miss until a fill publishes it.
 *
 * What map() does on a miss: looks the tree up without blocking, as before
 * the cache, and that lookup fills the cache.
 *
 * Memory pressure.  The budget bounds a cache; a shrinker (the pool's)
 * gives memory back below it when the system needs it.  It frees segments
 * with the metadata lock shared, so no change runs, and takes each out of
 * its slot with cmpxchg, as a fill would: a fill that loses the race frees
 * its own segment, and one that stores into a segment just taken out
 * writes memory that lives until its read-side section ends, and the
 * entry is simply forgotten.  A forgotten entry is a miss, never a wrong
 * answer.
 */
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/bitops.h>
#include <dm-row/ondisk.h>

#include "dm-row-map-cache.h"

#define SEGMENT_SHIFT	6	/* ilog2(DMROW_CACHE_SEGMENT_BLOCKS) */
static_assert(DMROW_CACHE_SEGMENT_BLOCKS == 1 << SEGMENT_SHIFT);
static_assert(DMROW_CACHE_SEGMENT_BLOCKS <= BITS_PER_LONG);

static struct kmem_cache *segment_cache;

int dmrow_map_cache_module_init(void)
{
	segment_cache = kmem_cache_create("dm_row_map_segment",
					  sizeof(struct dmrow_cache_segment), 0, 0, NULL);
	return segment_cache ? 0 : -ENOMEM;
}

void dmrow_map_cache_module_exit(void)
{
	rcu_barrier();	/* segments still waiting for a grace period */
	kmem_cache_destroy(segment_cache);
}

static void free_segment_rcu(struct rcu_head *rcu)
{
	kmem_cache_free(segment_cache, container_of(rcu, struct dmrow_cache_segment, rcu));
}

struct dmrow_map_cache *dmrow_map_cache_create(u64 disk_id, u64 size_blocks, u64 budget_bytes)
{
	u64 windows = DIV_ROUND_UP(size_blocks ? size_blocks : 1, DMROW_CACHE_SEGMENT_BLOCKS);
	u64 per_slot = sizeof(struct dmrow_cache_segment) + sizeof(void *);
	u64 slots = max_t(u64, budget_bytes / per_slot, 1);
	struct dmrow_map_cache *cache;

	slots = min_t(u64, rounddown_pow_of_two(slots), roundup_pow_of_two(windows));
	slots = min_t(u64, slots, 1U << 30);
	cache = kzalloc(sizeof(*cache), GFP_KERNEL);
	if (!cache)
		return NULL;
	cache->slots = kvcalloc(slots, sizeof(*cache->slots), GFP_KERNEL);
	if (!cache->slots) {
		kfree(cache);
		return NULL;
	}
	cache->disk_id = disk_id;
	cache->snapshotted_time = DMROW_CACHE_TIME_UNKNOWN;
	cache->slot_mask = slots - 1;
	atomic_set(&cache->nr_segments, 0);
	return cache;
}

void dmrow_map_cache_destroy(struct dmrow_map_cache *cache)
{
	u64 i;

	if (!cache)
		return;
	for (i = 0; i <= cache->slot_mask; i++) {
		struct dmrow_cache_segment *seg = rcu_dereference_protected(cache->slots[i], true);

		if (seg)
			kmem_cache_free(segment_cache, seg);
	}
	kvfree(cache->slots);
	kfree(cache);
}

u64 dmrow_map_cache_budget(const struct dmrow_map_cache *cache)
{
	u64 slots = (u64)cache->slot_mask + 1;

	return slots * (sizeof(struct dmrow_cache_segment) + sizeof(void *));
}

u64 dmrow_map_cache_bytes(const struct dmrow_map_cache *cache)
{
	u64 slots = (u64)cache->slot_mask + 1;

	return slots * sizeof(void *) +
	       (u64)atomic_read(&cache->nr_segments) * sizeof(struct dmrow_cache_segment);
}

static struct dmrow_cache_segment __rcu **slot_of(struct dmrow_map_cache *cache, u64 vblock)
{
	return &cache->slots[(vblock >> SEGMENT_SHIFT) & cache->slot_mask];
}

static u64 window_of(u64 vblock)
{
	return vblock & ~(u64)(DMROW_CACHE_SEGMENT_BLOCKS - 1);
}

static void unpack(u64 value, u32 snapshotted_time, struct dmrow_cache_hit *hit)
{
	hit->data_block = value & (DMROW_MAX_DATA_BLOCKS - 1);
	hit->time = value >> DMROW_MAPPING_BLOCK_BITS;
	hit->shared = hit->time < snapshotted_time;
}

/* Does @value, @len blocks after @first, continue @first's run? */
static bool continues(const struct dmrow_cache_hit *first, u64 first_value, u64 value,
		      unsigned int len, u32 snapshotted_time)
{
	struct dmrow_cache_hit next;

	if (first_value == DMROW_CACHE_UNMAPPED || value == DMROW_CACHE_UNMAPPED)
		return first_value == value;
	unpack(value, snapshotted_time, &next);
	return next.data_block == first->data_block + len && (first->shared || !next.shared);
}

int dmrow_map_cache_find_run(struct dmrow_map_cache *cache, u64 vblock,
			     unsigned int *nr_blocks, struct dmrow_cache_hit *hit)
{
	unsigned int max = *nr_blocks ? *nr_blocks : 1, len = 0, i;
	u32 time = READ_ONCE(cache->snapshotted_time);
	const struct dmrow_cache_segment *seg;
	u64 v, value, first_value = 0;

	*nr_blocks = 0;
	if (time == DMROW_CACHE_TIME_UNKNOWN)
		return -EAGAIN;
	rcu_read_lock();
	while (len < max) {
		v = vblock + len;
		seg = rcu_dereference(*slot_of(cache, v));
		if (!seg || seg->first != window_of(v))
			break;
		for (i = v - seg->first; i < DMROW_CACHE_SEGMENT_BLOCKS && len < max; i++) {
			if (!test_bit(i, &seg->known))
				goto out;
			smp_rmb();	/* the entry was written before its bit */
			value = READ_ONCE(seg->values[i]);
			if (!len) {
				first_value = value;
				if (value != DMROW_CACHE_UNMAPPED)
					unpack(value, time, hit);
			} else if (!continues(hit, first_value, value, len, time)) {
				goto out;
			}
			len++;
		}
	}
out:
	rcu_read_unlock();
	if (!len)
		return -EAGAIN;
	*nr_blocks = len;
	return first_value == DMROW_CACHE_UNMAPPED ? -ENODATA : 0;
}

static void store(struct dmrow_cache_segment *seg, u64 vblock, u64 value)
{
	unsigned int i = vblock - seg->first;

	WRITE_ONCE(seg->values[i], value);
	smp_wmb();	/* the entry before its bit */
	if (!test_bit(i, &seg->known))
		set_bit(i, &seg->known);
}

/* An empty segment for @vblock's window; NULL if memory is short (no sleeping). */
static struct dmrow_cache_segment *new_segment(u64 vblock)
{
	struct dmrow_cache_segment *seg = kmem_cache_alloc(segment_cache,
							   GFP_NOWAIT | __GFP_NOWARN);

	if (seg) {
		seg->first = window_of(vblock);
		seg->known = 0;
	}
	return seg;
}

/* @fresh took @old's slot: count it, and free @old after a grace period. */
static void took_slot(struct dmrow_map_cache *cache, struct dmrow_cache_segment *old)
{
	atomic_inc(&cache->nr_segments);
	if (old) {
		atomic_dec(&cache->nr_segments);
		call_rcu(&old->rcu, free_segment_rcu);
	}
}

void dmrow_map_cache_fill(struct dmrow_map_cache *cache, u64 vblock, u64 value)
{
	struct dmrow_cache_segment __rcu **slot = slot_of(cache, vblock);
	struct dmrow_cache_segment *seg, *fresh, *old;

	rcu_read_lock();
	seg = rcu_dereference(*slot);
	if (seg && seg->first == window_of(vblock)) {
		store(seg, vblock, value);
		goto out;
	}
	/* From map(): failing is fine, it is a cache. */
	fresh = new_segment(vblock);
	if (!fresh)
		goto out;
	old = unrcu_pointer(cmpxchg(slot, RCU_INITIALIZER(seg), RCU_INITIALIZER(fresh)));
	if (old != seg) {
		/* Another fill took the slot first: leave it that one's. */
		kmem_cache_free(segment_cache, fresh);
		goto out;
	}
	took_slot(cache, seg);
	store(fresh, vblock, value);
out:
	rcu_read_unlock();
}

void dmrow_map_cache_publish_time(struct dmrow_map_cache *cache, u32 snapshotted_time)
{
	if (READ_ONCE(cache->snapshotted_time) != snapshotted_time)
		WRITE_ONCE(cache->snapshotted_time, snapshotted_time);
}

void dmrow_map_cache_set(struct dmrow_map_cache *cache, u64 vblock, u64 value)
{
	struct dmrow_cache_segment __rcu **slot = slot_of(cache, vblock);
	struct dmrow_cache_segment *seg = rcu_dereference_protected(*slot, true), *fresh;

	if (seg && seg->first == window_of(vblock)) {
		store(seg, vblock, value);
		return;
	}
	/*
	 * A block just written is likely to be read: it gets a segment of its
	 * own window (no fill runs now, so the slot is this change's to take).
	 */
	if (value == DMROW_CACHE_UNMAPPED)
		return;
	fresh = new_segment(vblock);
	if (!fresh)
		return;
	store(fresh, vblock, value);
	rcu_assign_pointer(*slot, fresh);
	took_slot(cache, seg);
}

void dmrow_map_cache_drop(struct dmrow_map_cache *cache)
{
	struct dmrow_cache_segment *seg;
	u64 i;

	WRITE_ONCE(cache->snapshotted_time, DMROW_CACHE_TIME_UNKNOWN);
	for (i = 0; i <= cache->slot_mask; i++) {
		seg = unrcu_pointer(xchg(&cache->slots[i], NULL));
		if (seg) {
			atomic_dec(&cache->nr_segments);
			call_rcu(&seg->rcu, free_segment_rcu);
		}
	}
}

unsigned long dmrow_map_cache_shrink(struct dmrow_map_cache *cache, unsigned long nr)
{
	unsigned int next = READ_ONCE(cache->shrink_next);
	struct dmrow_cache_segment *seg;
	unsigned long freed = 0;
	u64 looked;

	for (looked = 0; freed < nr && looked <= cache->slot_mask; looked++) {
		struct dmrow_cache_segment __rcu **slot = &cache->slots[next++ & cache->slot_mask];

		seg = rcu_access_pointer(*slot);
		if (!seg || atomic_read(&cache->nr_segments) == 0)
			continue;
		if (unrcu_pointer(cmpxchg(slot, RCU_INITIALIZER(seg), NULL)) != seg)
			continue;	/* a fill replaced it meanwhile */
		atomic_dec(&cache->nr_segments);
		call_rcu(&seg->rcu, free_segment_rcu);
		freed++;
	}
	WRITE_ONCE(cache->shrink_next, next);
	return freed;
}
