/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The block manager: the metadata core's only way to the metadata device.
 * It caches fixed-size metadata blocks, checks them on first read through a
 * validator and seals them (computes the checksum) when they are written.
 *
 * Two implementations: kernel/dm-row-block-manager.c on dm-bufio, and
 * userspace/compat/block-cache.c on a file for the offline tools and tests.
 * Their creation differs (block device vs file); everything the core calls
 * is declared here.
 *
 * Locking: the core serialises all access to one pool's metadata with its
 * own lock, so a block manager need not lock individual blocks; callers
 * must not hold more than a handful of blocks at once (tree height + 2).
 */
#ifndef DM_ROW_BLOCK_MANAGER_H
#define DM_ROW_BLOCK_MANAGER_H

#include <linux/types.h>

struct dmrow_bm;
struct dmrow_block;

struct dmrow_validator {
	const char *name;
	/* Seal a block before it goes to disk: fill in its checksum. */
	void (*prepare_for_write)(const struct dmrow_validator *v, void *data,
				  u64 blocknr);
	/* Check a block read from disk; 0 or -EILSEQ (names the fault in the log). */
	int (*check)(const struct dmrow_validator *v, const void *data, u64 blocknr);
};

/* Number of metadata blocks on the device. */
u64 dmrow_bm_nr_blocks(struct dmrow_bm *bm);

/* Get a block for reading; checked by v on first read.  May block. */
int dmrow_bm_read_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
		       struct dmrow_block **result);

/* Get a block for modification; it is sealed by v when written back. */
int dmrow_bm_write_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
			struct dmrow_block **result);

/* Get a zeroed block for modification, without reading it. */
int dmrow_bm_write_lock_zero(struct dmrow_bm *bm, u64 b,
			     const struct dmrow_validator *v,
			     struct dmrow_block **result);

/*
 * dmrow_bm_read_lock() that never blocks, for the I/O fast path: -EWOULDBLOCK
 * unless the block is cached and already checked.  The userspace block cache
 * has no I/O to avoid and behaves as dmrow_bm_read_lock().
 */
int dmrow_bm_read_try_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
			   struct dmrow_block **result);

void dmrow_bm_unlock(struct dmrow_block *blk);

void *dmrow_block_data(struct dmrow_block *blk);
u64 dmrow_block_location(struct dmrow_block *blk);

/*
 * Write every dirty block and make it durable (REQ_PREFLUSH).  Blocks must
 * all be unlocked.
 */
int dmrow_bm_flush(struct dmrow_bm *bm);

/* Drop a cached block whose contents no longer matter (it was freed). */
void dmrow_bm_forget(struct dmrow_bm *bm, u64 b);

#endif /* DM_ROW_BLOCK_MANAGER_H */
