/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The transaction manager: copy-on-write access to metadata blocks.
 *
 * Nothing the last committed superblock references is ever overwritten.
 * To change a block, the core "shadows" it: a block written in the open
 * transaction and referenced once is changed in place; any other block is
 * copied to a newly allocated one first.  Every block records the
 * transaction that wrote it in its header, so telling the two apart needs
 * no in-memory set; but it needs the block's reference count (a lookup in
 * the metadata space map) and its header (a read lock).  Blocks that the
 * open transaction allocated or copied, and that nothing has referenced a
 * second time since, are known to qualify: they are kept in a set
 * (@fresh), and shadowing one is a write lock and nothing more.  Every
 * added reference goes through dmrow_tm_inc(), which takes the block out
 * of the set; a new transaction starts with it empty.
 *
 * All functions may block and need the pool metadata lock held for writing
 * (read_lock and ref_count: held for reading at least).
 */
#ifndef DM_ROW_TRANSACTION_H
#define DM_ROW_TRANSACTION_H

#include "dm-row-block-manager.h"
#include "dm-row-delta-map.h"

struct dmrow_sm;

struct dmrow_tm {
	struct dmrow_bm *bm;
	struct dmrow_sm *metadata_sm;
	u64 txn;		/* the open transaction: last committed + 1 */
	/*
	 * Goes up whenever a block is written, allocated or has its count
	 * changed (an attempt counts too): unchanged across a call, the call
	 * changed no metadata.  Never reset.
	 */
	u64 changes;
	/*
	 * Blocks of this transaction referenced once: value 1 (see above).
	 * Optional: its owner initialises it (the metadata does).
	 */
	struct dmrow_delta_map fresh;
};

#ifndef __KERNEL__
/* Userspace build: fresh blocks whose count was not 1 (never, if sound). */
extern unsigned long dmrow_tm_fresh_mismatches;
#endif

/* A new transaction (or the state reloaded): no block is fresh. */
void dmrow_tm_begin(struct dmrow_tm *tm);

int dmrow_tm_read_lock(struct dmrow_tm *tm, u64 b, const struct dmrow_validator *v,
		       struct dmrow_block **result);
/* Never blocks: -EWOULDBLOCK if the block would have to be read or checked. */
int dmrow_tm_read_try_lock(struct dmrow_tm *tm, u64 b, const struct dmrow_validator *v,
			   struct dmrow_block **result);

/* A zeroed, newly allocated block with its header filled in. */
int dmrow_tm_new_block(struct dmrow_tm *tm, const struct dmrow_validator *v,
		       struct dmrow_block **result);

/*
 * Make block @orig writable.  *result may be at another location.  When the
 * block was shared (referenced more than once), the copy is a new parent of
 * everything @orig references: *inc_children tells the caller to add a
 * reference to each of them.
 */
int dmrow_tm_shadow(struct dmrow_tm *tm, u64 orig, const struct dmrow_validator *v,
		    struct dmrow_block **result, bool *inc_children);

void dmrow_tm_unlock(struct dmrow_tm *tm, struct dmrow_block *blk);

/* Reference counts of metadata blocks. */
int dmrow_tm_inc(struct dmrow_tm *tm, u64 b);
int dmrow_tm_dec(struct dmrow_tm *tm, u64 b);
int dmrow_tm_ref_count(struct dmrow_tm *tm, u64 b, u32 *count);

#endif /* DM_ROW_TRANSACTION_H */
