/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Space maps: the reference count of every block of a device.  One for the
 * data device (a count per data block: how many mapping-tree leaves point
 * at it) and one for the metadata device (how many parents each metadata
 * block has).  See the design comment in dm-row-space-map.c.
 *
 * All functions may block and need the pool metadata lock held for writing,
 * except dmrow_sm_get_count() and the nr_* readers (read lock is enough).
 */
#ifndef DM_ROW_SPACE_MAP_H
#define DM_ROW_SPACE_MAP_H

#include <dm-row/ondisk.h>
#include "dm-row-btree.h"
#include "dm-row-delta-map.h"

struct dmrow_tm;

struct dmrow_sm {
	struct dmrow_tm *tm;
	struct dmrow_btree_info index_info;
	bool deferred;			/* the metadata space map: see the design comment */
	u64 nr_blocks;
	u64 nr_allocated;
	u64 index_root;
	u64 committed_index_root;
	u64 alloc_hint;
	struct dmrow_delta_map pending;	/* deferred changes */
	/*
	 * Deferred map: blocks whose count fell to zero in this transaction
	 * while the committed state still counts them.  They are not counted
	 * as allocated, but cannot be handed out before the commit.
	 */
	u64 nr_freed_in_txn;
	/* Data space map: never hand out again a block freed in this transaction. */
	bool no_reuse_in_txn;
	u64 txn_start;			/* alloc_hint when the transaction began */
	bool wrapped;			/* the hint went past the end since then */
	/*
	 * Free blocks the allocator passes over: the data blocks handed out
	 * to writes in flight, not yet mapped (their count is still zero).
	 */
	bool (*held)(void *context, u64 b);
	void *held_context;
	u64 nr_held;
};

/* Set up from an on-disk description, or empty for @nr_blocks if @disk is NULL. */
int dmrow_sm_init(struct dmrow_sm *sm, struct dmrow_tm *tm, bool deferred,
		  const struct row_disk_space_map *disk, u64 nr_blocks);
void dmrow_sm_exit(struct dmrow_sm *sm);

int dmrow_sm_get_count(struct dmrow_sm *sm, u64 b, u32 *count);
int dmrow_sm_inc(struct dmrow_sm *sm, u64 b);
int dmrow_sm_dec(struct dmrow_sm *sm, u64 b);
/*
 * dmrow_sm_inc() of @nr blocks (repeats allowed).  Neighbours that share a
 * refcount block are counted with one shadow and one index update, which
 * is what copying a shared mapping leaf costs.  The data space map only.
 */
int dmrow_sm_inc_blocks(struct dmrow_sm *sm, const u64 *blocks, unsigned int nr);
/*
 * dmrow_sm_dec() of @nr blocks (repeats allowed), counted in runs as
 * dmrow_sm_inc_blocks() does: sorted, the blocks of one refcount block
 * cost one shadow.  The blocks whose count dropped to zero are put in
 * @freed (room for @nr), *@nr_freed of them.  A count that would drop
 * below zero is -EILSEQ, with the blocks before it changed: the caller
 * aborts the transaction, as for any failure part way.
 */
int dmrow_sm_dec_blocks(struct dmrow_sm *sm, const u64 *blocks, unsigned int nr, u64 *freed,
			unsigned int *nr_freed);

/*
 * Find a block free now and in the committed state, and take it (count 1).
 * -ENOSPC: none.  -EAGAIN (no_reuse_in_txn only): the free blocks were all
 * freed in the open transaction; commit and try again.
 */
int dmrow_sm_alloc(struct dmrow_sm *sm, u64 *b);
/*
 * Find free blocks as dmrow_sm_alloc() does, but leave their counts zero:
 * the caller holds them (see @held).  Up to @max of them, *@nr, in
 * ascending order from the first refcount block that has any, so that a
 * run costs one look at the index, not one per block.
 */
int dmrow_sm_find_free(struct dmrow_sm *sm, u64 *blocks, unsigned int max, unsigned int *nr);

/* The device grew. */
int dmrow_sm_extend(struct dmrow_sm *sm, u64 nr_blocks);

/* Apply the deferred changes; then describe the map for the superblock. */
int dmrow_sm_commit(struct dmrow_sm *sm);
void dmrow_sm_to_disk(struct dmrow_sm *sm, struct row_disk_space_map *disk);
/* The superblock describing the map is durable: it is the committed state. */
void dmrow_sm_committed(struct dmrow_sm *sm);

static inline u64 dmrow_sm_nr_free(struct dmrow_sm *sm)
{
	return sm->nr_blocks - sm->nr_allocated;
}

/* What the open transaction can still allocate (deferred map). */
static inline u64 dmrow_sm_nr_free_in_txn(struct dmrow_sm *sm)
{
	u64 unusable = sm->nr_allocated + sm->nr_held + sm->nr_freed_in_txn;

	return unusable < sm->nr_blocks ? sm->nr_blocks - unusable : 0;
}

/* Call @fn for every block with a nonzero count, in block order. */
int dmrow_sm_walk(struct dmrow_sm *sm,
		  int (*fn)(void *context, u64 b, u32 count), void *context);

extern const struct dmrow_validator dmrow_refcount_validator;

#endif /* DM_ROW_SPACE_MAP_H */
