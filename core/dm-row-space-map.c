// SPDX-License-Identifier: GPL-2.0
/*
 * Space maps: reference counts for the blocks of a device.
 *
 * Layout.  Counts are 32-bit, DMROW_REFCOUNTS_PER_BLOCK to a refcount
 * block; a B-tree (the index) maps refcount-block number to its location
 * and how many zero counts it holds.  A refcount block that is absent from
 * the index holds only zeroes, so a space map costs metadata only for the
 * parts of a device in use, and growing a device costs nothing.  Flat
 * 32-bit counts cost 4 bytes per data block, a fifth of what the mapping
 * itself costs, and need no overflow structure: sharing a block between
 * thousands of snapshots and clones is an ordinary count.
 *
 * Never reuse what the committed state still uses.  A block freed in the
 * open transaction is still referenced by the last committed superblock:
 * if it were reused and the machine crashed, the committed trees would
 * point at overwritten data.  So a block is allocated only if its count is
 * zero both now and in the committed state.  The committed index root is
 * kept; its nodes and refcount blocks are intact on disk (shadowing never
 * overwrites them), so the committed count is one lookup away.
 *
 * The metadata space map counts its own blocks.  Changing a count means
 * shadowing a refcount block and index nodes, which means allocating
 * metadata blocks, which means changing counts: a recursion.  It is broken
 * by deferring: during a transaction the metadata space map records count
 * changes in an in-memory delta map (the count of a block is its tree
 * count plus its pending delta) and leaves its tree alone.  At commit the
 * deltas are applied one by one; applying one may shadow blocks and so add
 * new deltas, which later passes apply.  Every block is shadowed at most
 * once per transaction, so the passes end.  The delta map grows with the
 * metadata touched in one transaction, not with the size of the pool.
 *
 * The data space map changes its tree directly: its refcount blocks are
 * metadata blocks, whose own counts go to the deferred metadata map.
 *
 * Data I/O may still be in flight to a block when it is freed (a read of
 * the old copy of a block being overwritten elsewhere, say).  The data
 * space map therefore never hands a block out twice in one transaction:
 * its allocation hint only moves forward, and once it has gone all the way
 * round to where the transaction started, allocation answers -EAGAIN.  The
 * pool commits (after waiting for in-flight data I/O) and tries again.
 */
#define DM_MSG_PREFIX "row-metadata"

#include <linux/device-mapper.h>
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/crc32c.h>

#include "dm-row-space-map.h"
#include "dm-row-transaction.h"

#define PER_BLOCK DMROW_REFCOUNTS_PER_BLOCK

/*----------------------------------------------------------------*/

static void refcount_prepare_for_write(const struct dmrow_validator *v,
				       void *data, u64 blocknr)
{
	struct row_disk_block_header *hdr = data;

	hdr->blocknr = cpu_to_le64(blocknr);
	hdr->csum = cpu_to_le32(crc32c(DMROW_CSUM_SEED_REFCOUNT,
				       (u8 *)data + sizeof(hdr->csum),
				       DMROW_METADATA_BLOCK_SIZE - sizeof(hdr->csum)));
}

static int refcount_check(const struct dmrow_validator *v, const void *data,
			  u64 blocknr)
{
	const struct row_disk_block_header *hdr = data;
	u32 csum = crc32c(DMROW_CSUM_SEED_REFCOUNT, (const u8 *)data + sizeof(hdr->csum),
			  DMROW_METADATA_BLOCK_SIZE - sizeof(hdr->csum));

	if (le32_to_cpu(hdr->csum) != csum) {
		DMERR_LIMIT("refcount block %llu: bad checksum", (unsigned long long)blocknr);
		return -EILSEQ;
	}
	if (le64_to_cpu(hdr->blocknr) != blocknr) {
		DMERR_LIMIT("refcount block %llu: claims to be block %llu",
			    (unsigned long long)blocknr,
			    (unsigned long long)le64_to_cpu(hdr->blocknr));
		return -EILSEQ;
	}
	return 0;
}

const struct dmrow_validator dmrow_refcount_validator = {
	.name = "refcount",
	.prepare_for_write = refcount_prepare_for_write,
	.check = refcount_check,
};

/*----------------------------------------------------------------*/

int dmrow_sm_init(struct dmrow_sm *sm, struct dmrow_tm *tm, bool deferred,
		  const struct row_disk_space_map *disk, u64 nr_blocks)
{
	memset(sm, 0, sizeof(*sm));
	sm->tm = tm;
	sm->deferred = deferred;
	sm->index_info.tm = tm;
	sm->index_info.vt.size = sizeof(struct row_disk_sm_index_entry);
	if (disk) {
		sm->nr_blocks = le64_to_cpu(disk->nr_blocks);
		sm->nr_allocated = le64_to_cpu(disk->nr_allocated);
		sm->index_root = le64_to_cpu(disk->index_root);
		if (sm->nr_allocated > sm->nr_blocks)
			return -EILSEQ;
	} else {
		sm->nr_blocks = nr_blocks;
	}
	sm->committed_index_root = sm->index_root;
	return deferred ? dmrow_delta_map_init(&sm->pending) : 0;
}

void dmrow_sm_exit(struct dmrow_sm *sm)
{
	if (sm->deferred)
		dmrow_delta_map_exit(&sm->pending);
}

static int lookup_index(struct dmrow_sm *sm, u64 root, u64 index,
			struct row_disk_sm_index_entry *entry)
{
	if (!root)
		return -ENODATA;
	return dmrow_btree_lookup(&sm->index_info, root, index, entry);
}

/* The count of @b recorded in the tree under @root. */
static int tree_count(struct dmrow_sm *sm, u64 root, u64 b, u32 *count)
{
	struct row_disk_sm_index_entry entry;
	const struct row_disk_refcount_block *rb;
	struct dmrow_block *blk;
	int r;

	r = lookup_index(sm, root, b / PER_BLOCK, &entry);
	if (r == -ENODATA) {
		*count = 0;
		return 0;
	}
	if (r)
		return r;
	r = dmrow_tm_read_lock(sm->tm, le64_to_cpu(entry.blocknr),
			       &dmrow_refcount_validator, &blk);
	if (r)
		return r;
	rb = dmrow_block_data(blk);
	*count = le32_to_cpu(rb->counts[b % PER_BLOCK]);
	dmrow_tm_unlock(sm->tm, blk);
	return 0;
}

int dmrow_sm_get_count(struct dmrow_sm *sm, u64 b, u32 *count)
{
	int r;

	if (b >= sm->nr_blocks)
		return -EINVAL;
	r = tree_count(sm, sm->index_root, b, count);
	if (r)
		return r;
	if (sm->deferred)
		*count += dmrow_delta_map_get(&sm->pending, b);
	return 0;
}

/*
 * Write @new_count for @b into the tree; @old_count is what it holds now.
 * When applying a deferred change, @pending_adjust takes it out of the
 * delta map at the moment the new count becomes visible, so that the count
 * seen by everything this function goes on to do (shadowing index nodes,
 * which may include @b itself) stays right.  If the refcount block is
 * changed where the index already points, that is at once; if it is new
 * or was copied elsewhere, the index leads to the old count until the
 * insert below has made the new block reachable.
 */
static int tree_set_count(struct dmrow_sm *sm, u64 b, u32 old_count, u32 new_count,
			  s32 pending_adjust)
{
	struct row_disk_sm_index_entry entry;
	struct row_disk_refcount_block *rb;
	struct dmrow_block *blk;
	bool unused, moved;
	u64 index = b / PER_BLOCK;
	u32 nr_free;
	int r;

	r = lookup_index(sm, sm->index_root, index, &entry);
	if (r == -ENODATA) {
		r = dmrow_tm_new_block(sm->tm, &dmrow_refcount_validator, &blk);
		nr_free = PER_BLOCK;
		moved = true;
	} else if (!r) {
		r = dmrow_tm_shadow(sm->tm, le64_to_cpu(entry.blocknr),
				    &dmrow_refcount_validator, &blk, &unused);
		nr_free = le32_to_cpu(entry.nr_free);
		moved = !r && dmrow_block_location(blk) != le64_to_cpu(entry.blocknr);
	}
	if (r)
		return r;

	rb = dmrow_block_data(blk);
	if (le32_to_cpu(rb->counts[b % PER_BLOCK]) != old_count) {
		dmrow_tm_unlock(sm->tm, blk);
		DMERR_LIMIT("refcount of block %llu changed under us", (unsigned long long)b);
		return -EILSEQ;
	}
	rb->counts[b % PER_BLOCK] = cpu_to_le32(new_count);
	if (pending_adjust && !moved)
		dmrow_delta_map_add(&sm->pending, b, pending_adjust);	/* an existing entry */
	if (!old_count && new_count)
		nr_free--;
	else if (old_count && !new_count)
		nr_free++;
	entry.blocknr = cpu_to_le64(dmrow_block_location(blk));
	entry.nr_free = cpu_to_le32(nr_free);
	entry.reserved = 0;
	dmrow_tm_unlock(sm->tm, blk);

	r = dmrow_btree_insert(&sm->index_info, sm->index_root, index, &entry,
			       &sm->index_root, NULL, NULL);
	if (!r && pending_adjust && moved)
		dmrow_delta_map_add(&sm->pending, b, pending_adjust);	/* an existing entry */
	return r;
}

static int change_count(struct dmrow_sm *sm, u64 b, int delta)
{
	u32 count, tree;
	int r;

	if (b >= sm->nr_blocks) {
		DMERR_LIMIT("block %llu is beyond the end of the device (%llu blocks)",
			    (unsigned long long)b, (unsigned long long)sm->nr_blocks);
		return -EILSEQ;
	}
	r = tree_count(sm, sm->index_root, b, &tree);
	if (r)
		return r;
	count = tree + (sm->deferred ? dmrow_delta_map_get(&sm->pending, b) : 0);
	if (delta < 0 && !count) {
		DMERR_LIMIT("reference count of block %llu would drop below zero",
			    (unsigned long long)b);
		return -EILSEQ;
	}
	if (delta > 0 && count == U32_MAX)
		return -EOVERFLOW;

	if (sm->deferred)
		r = dmrow_delta_map_add(&sm->pending, b, delta);
	else
		r = tree_set_count(sm, b, tree, tree + delta, 0);
	if (r)
		return r;

	if (!count)
		sm->nr_allocated++;
	else if (count == 1 && delta < 0)
		sm->nr_allocated--;
	/* A deferred map's tree is the committed state until the commit. */
	if (sm->deferred && tree) {
		if (count == 1 && delta < 0)
			sm->nr_freed_in_txn++;
		else if (!count && sm->nr_freed_in_txn)
			sm->nr_freed_in_txn--;
	}
	return 0;
}

int dmrow_sm_inc(struct dmrow_sm *sm, u64 b)
{
	return change_count(sm, b, 1);
}

int dmrow_sm_dec(struct dmrow_sm *sm, u64 b)
{
	return change_count(sm, b, -1);
}

/*
 * Add @delta (1 or -1) to the counts of @blocks, all covered by refcount
 * block @index: one shadow and one index update for them all.  A block
 * whose count drops to zero is added to @freed.
 */
static int change_in_refcount_block(struct dmrow_sm *sm, u64 index, const u64 *blocks,
				    unsigned int nr, int delta, u64 *freed,
				    unsigned int *nr_freed)
{
	struct row_disk_sm_index_entry entry;
	struct row_disk_refcount_block *rb;
	struct dmrow_block *blk;
	u32 nr_free, count, was_free;
	bool unused, moved = true;
	unsigned int i;
	int r;

	r = lookup_index(sm, sm->index_root, index, &entry);
	if (r == -ENODATA && delta > 0) {
		r = dmrow_tm_new_block(sm->tm, &dmrow_refcount_validator, &blk);
		nr_free = PER_BLOCK;
	} else if (!r) {
		r = dmrow_tm_shadow(sm->tm, le64_to_cpu(entry.blocknr),
				    &dmrow_refcount_validator, &blk, &unused);
		nr_free = le32_to_cpu(entry.nr_free);
		moved = !r && dmrow_block_location(blk) != le64_to_cpu(entry.blocknr);
	} else if (r == -ENODATA) {
		DMERR_LIMIT("reference count of block %llu would drop below zero",
			    (unsigned long long)blocks[0]);
		return -EILSEQ;
	}
	if (r)
		return r;
	was_free = nr_free;
	rb = dmrow_block_data(blk);
	for (i = 0; i < nr; i++) {
		count = le32_to_cpu(rb->counts[blocks[i] % PER_BLOCK]);
		if (delta > 0 && count == U32_MAX) {
			r = -EOVERFLOW;
			break;
		}
		if (delta < 0 && !count) {
			DMERR_LIMIT("reference count of block %llu would drop below zero",
				    (unsigned long long)blocks[i]);
			r = -EILSEQ;
			break;
		}
		rb->counts[blocks[i] % PER_BLOCK] = cpu_to_le32(count + delta);
		if (!count) {
			nr_free--;
			sm->nr_allocated++;
		} else if (count == 1 && delta < 0) {
			nr_free++;
			sm->nr_allocated--;
			freed[(*nr_freed)++] = blocks[i];
		}
	}
	/*
	 * A refcount block already copied in this transaction stays where
	 * it is: unless a count came to or left zero, its index entry is
	 * unchanged and needs no update, which is most runs of a batch.
	 */
	if (!moved && nr_free == was_free) {
		dmrow_tm_unlock(sm->tm, blk);
		return r;
	}
	entry.blocknr = cpu_to_le64(dmrow_block_location(blk));
	entry.nr_free = cpu_to_le32(nr_free);
	entry.reserved = 0;
	dmrow_tm_unlock(sm->tm, blk);
	if (r)
		return r;
	return dmrow_btree_insert(&sm->index_info, sm->index_root, index, &entry,
				  &sm->index_root, NULL, NULL);
}

static int change_blocks(struct dmrow_sm *sm, const u64 *blocks, unsigned int nr, int delta,
			 u64 *freed, unsigned int *nr_freed)
{
	unsigned int first = 0, i;
	int r;

	if (WARN_ON_ONCE(sm->deferred))
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		if (blocks[i] >= sm->nr_blocks) {
			DMERR_LIMIT("block %llu is beyond the end of the device (%llu blocks)",
				    (unsigned long long)blocks[i],
				    (unsigned long long)sm->nr_blocks);
			return -EILSEQ;
		}
	}
	/* Runs of neighbours in one refcount block, in the order given. */
	for (i = 1; i <= nr; i++) {
		if (i < nr && blocks[i] / PER_BLOCK == blocks[first] / PER_BLOCK)
			continue;
		r = change_in_refcount_block(sm, blocks[first] / PER_BLOCK, blocks + first,
					     i - first, delta, freed, nr_freed);
		if (r)
			return r;
		first = i;
	}
	return 0;
}

int dmrow_sm_inc_blocks(struct dmrow_sm *sm, const u64 *blocks, unsigned int nr)
{
	unsigned int none = 0;

	return change_blocks(sm, blocks, nr, 1, NULL, &none);
}

int dmrow_sm_dec_blocks(struct dmrow_sm *sm, const u64 *blocks, unsigned int nr, u64 *freed,
			unsigned int *nr_freed)
{
	*nr_freed = 0;
	return change_blocks(sm, blocks, nr, -1, freed, nr_freed);
}

/*
 * Look for free blocks among those covered by refcount block @index, from
 * offset @start: up to @max of them, in ascending order, into @found.
 * Returns 0 with *@nr found, or -ENOSPC if none.
 */
static int find_free_in_range(struct dmrow_sm *sm, u64 index, unsigned int start,
			      u64 *found, unsigned int max, unsigned int *nr)
{
	struct row_disk_sm_index_entry cur_entry, old_entry;
	struct dmrow_block *cur_blk = NULL, *old_blk = NULL;
	const struct row_disk_refcount_block *cur = NULL, *old = NULL;
	unsigned int off;
	int r;

	r = lookup_index(sm, sm->index_root, index, &cur_entry);
	if (!r) {
		if (!cur_entry.nr_free)
			return -ENOSPC;
		r = dmrow_tm_read_lock(sm->tm, le64_to_cpu(cur_entry.blocknr),
				       &dmrow_refcount_validator, &cur_blk);
		if (r)
			return r;
		cur = dmrow_block_data(cur_blk);
	} else if (r != -ENODATA) {
		return r;
	}

	r = lookup_index(sm, sm->committed_index_root, index, &old_entry);
	if (!r) {
		r = dmrow_tm_read_lock(sm->tm, le64_to_cpu(old_entry.blocknr),
				       &dmrow_refcount_validator, &old_blk);
		if (r)
			goto out;
		old = dmrow_block_data(old_blk);
	} else if (r != -ENODATA) {
		goto out;
	}

	r = -ENOSPC;
	for (off = start; off < PER_BLOCK; off++) {
		u64 b = index * PER_BLOCK + off;

		if (b >= sm->nr_blocks)
			break;
		if (cur && cur->counts[off])
			continue;
		if (old && old->counts[off])
			continue;
		if (sm->deferred && dmrow_delta_map_get(&sm->pending, b))
			continue;
		if (sm->held && sm->held(sm->held_context, b))
			continue;
		if (sm->no_reuse_in_txn && sm->wrapped && b >= sm->txn_start) {
			if (!*nr)
				r = -EAGAIN;
			break;
		}
		found[(*nr)++] = b;
		r = 0;
		if (*nr == max)
			break;
	}
out:
	if (old_blk)
		dmrow_tm_unlock(sm->tm, old_blk);
	if (cur_blk)
		dmrow_tm_unlock(sm->tm, cur_blk);
	return r;
}

/* Blocks neither counted nor held: what allocation can still find. */
static bool __any_free(struct dmrow_sm *sm)
{
	return sm->nr_allocated + sm->nr_held < sm->nr_blocks;
}

/* Up to @max free blocks, the first *@nr of @b; @take counts them (one only). */
static int __alloc(struct dmrow_sm *sm, u64 *b, unsigned int max, unsigned int *nr, bool take)
{
	u64 nr_ranges = DIV_ROUND_UP(sm->nr_blocks, PER_BLOCK);
	u64 index, scanned;
	unsigned int start;
	int r;

	if (!sm->nr_blocks || !__any_free(sm))
		return -ENOSPC;
	if (sm->alloc_hint >= sm->nr_blocks) {
		sm->alloc_hint = 0;
		sm->wrapped = true;
	}
	if (sm->no_reuse_in_txn && sm->wrapped && sm->alloc_hint >= sm->txn_start)
		return -EAGAIN;

	index = sm->alloc_hint / PER_BLOCK;
	start = sm->alloc_hint % PER_BLOCK;
	/* One more range than there are, to revisit the start of the first. */
	for (scanned = 0; scanned <= nr_ranges; scanned++) {
		*nr = 0;
		r = find_free_in_range(sm, index, start, b, max, nr);
		if (!r) {
			r = take ? dmrow_sm_inc(sm, *b) : 0;
			if (r)
				return r;
			sm->alloc_hint = b[*nr - 1] + 1;
			if (sm->alloc_hint >= sm->nr_blocks) {
				sm->alloc_hint = 0;
				sm->wrapped = true;
			}
			return 0;
		}
		if (r != -ENOSPC)
			return r;
		start = 0;
		if (++index >= nr_ranges) {
			/*
			 * Wrapping a second time passes txn_start, even when no
			 * free block beyond it made find_free_in_range() say so:
			 * what follows was handed out in this transaction.
			 */
			if (sm->no_reuse_in_txn && sm->wrapped)
				return __any_free(sm) ? -EAGAIN : -ENOSPC;
			index = 0;
			sm->wrapped = true;
		}
		if (sm->no_reuse_in_txn && sm->wrapped && index * PER_BLOCK >= sm->txn_start)
			return __any_free(sm) ? -EAGAIN : -ENOSPC;
	}
	return -ENOSPC;
}

int dmrow_sm_alloc(struct dmrow_sm *sm, u64 *b)
{
	unsigned int nr;

	return __alloc(sm, b, 1, &nr, true);
}

int dmrow_sm_find_free(struct dmrow_sm *sm, u64 *blocks, unsigned int max, unsigned int *nr)
{
	if (WARN_ON_ONCE(!max))
		return -EINVAL;
	return __alloc(sm, blocks, max, nr, false);
}

int dmrow_sm_extend(struct dmrow_sm *sm, u64 nr_blocks)
{
	if (nr_blocks < sm->nr_blocks)
		return -EINVAL;
	sm->nr_blocks = nr_blocks;
	return 0;
}

/* Apply one pass of the deferred deltas; *applied says if any were. */
static int apply_pending_pass(struct dmrow_sm *sm, bool *applied)
{
	struct dmrow_delta_map *map = &sm->pending;
	unsigned int i, generation = map->generation;
	int r;

	*applied = false;
	for (i = 0; i < map->nr_slots; i++) {
		u64 b = map->slots[i].block;
		s32 delta = map->slots[i].delta;
		u32 tree;

		if (b == DMROW_DELTA_EMPTY || !delta)
			continue;
		r = tree_count(sm, sm->index_root, b, &tree);
		if (r)
			return r;
		r = tree_set_count(sm, b, tree, tree + delta, -delta);
		if (r)
			return r;
		*applied = true;
		if (map->generation != generation)
			return 0;	/* the slots moved: start a new pass */
	}
	return 0;
}

int dmrow_sm_commit(struct dmrow_sm *sm)
{
	bool applied;
	int r;

	if (!sm->deferred)
		return 0;
	do {
		r = apply_pending_pass(sm, &applied);
		if (r)
			return r;
	} while (applied);
	dmrow_delta_map_clear(&sm->pending);
	return 0;
}

void dmrow_sm_to_disk(struct dmrow_sm *sm, struct row_disk_space_map *disk)
{
	disk->nr_blocks = cpu_to_le64(sm->nr_blocks);
	disk->nr_allocated = cpu_to_le64(sm->nr_allocated);
	disk->index_root = cpu_to_le64(sm->index_root);
}

void dmrow_sm_committed(struct dmrow_sm *sm)
{
	sm->nr_freed_in_txn = 0;
	sm->committed_index_root = sm->index_root;
	sm->txn_start = sm->alloc_hint;
	sm->wrapped = false;
}

struct walk_state {
	struct dmrow_sm *sm;
	int (*fn)(void *context, u64 b, u32 count);
	void *context;
};

static int walk_refcount_block(void *context, u64 index, const void *value)
{
	const struct row_disk_sm_index_entry *entry = value;
	struct walk_state *ws = context;
	const struct row_disk_refcount_block *rb;
	struct dmrow_block *blk;
	unsigned int off;
	int r;

	r = dmrow_tm_read_lock(ws->sm->tm, le64_to_cpu(entry->blocknr),
			       &dmrow_refcount_validator, &blk);
	if (r)
		return r;
	rb = dmrow_block_data(blk);
	for (off = 0; off < PER_BLOCK && !r; off++) {
		u64 b = index * PER_BLOCK + off;
		u32 count = le32_to_cpu(rb->counts[off]);

		if (!count)
			continue;
		if (b >= ws->sm->nr_blocks) {
			DMERR_LIMIT("refcount for block %llu beyond the device end",
				    (unsigned long long)b);
			r = -EILSEQ;
			break;
		}
		r = ws->fn(ws->context, b, count);
	}
	dmrow_tm_unlock(ws->sm->tm, blk);
	return r;
}

int dmrow_sm_walk(struct dmrow_sm *sm,
		  int (*fn)(void *context, u64 b, u32 count), void *context)
{
	struct walk_state ws = { .sm = sm, .fn = fn, .context = context };

	if (!sm->index_root)
		return 0;
	return dmrow_btree_walk(&sm->index_info, sm->index_root,
				walk_refcount_block, &ws);
}
