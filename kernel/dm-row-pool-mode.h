/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A pool's modes, and the rules that tie them to its metadata: which mode
 * may follow which and what the metadata does in each, when the open
 * transaction may be committed, and what a failed change to the metadata
 * does to the pool.  The rules act on the metadata alone and leave the
 * rest to their caller: dm-row-pool.c wraps them in the pool's lock, log,
 * dm events, failed bios and data-device flush, and the message fuzzer
 * (tests/fuzz/fuzz_message.c) runs the control plane on them as they are.
 * dmrow_mode_may_change() is pure (the pool calls it under pool->lock);
 * the others take the metadata lock, so never under pool->lock, and the
 * commit and the failure are the worker's.
 */
#ifndef DM_ROW_POOL_MODE_H
#define DM_ROW_POOL_MODE_H

#include "dm-row-metadata.h"

/*
 * Pool modes, ordered by degradation and compared with >=.  A pool never
 * leaves POOL_FAIL; every change raises a dm event.
 */
enum pool_mode {
	POOL_WRITE,		/* normal */
	POOL_OUT_OF_DATA_SPACE,	/* writes needing a new block wait (then fail) */
	POOL_READ_ONLY,		/* metadata cannot change: reads, in-place writes */
	POOL_FAIL,		/* metadata unusable: all I/O fails */
};

/* As the status and "info pool" print it: rw, out_of_data_space, ro, fail. */
const char *dmrow_pool_mode_name(enum pool_mode mode);

/* May a pool in @old go to @mode?  Not to where it is, nor out of POOL_FAIL. */
bool dmrow_mode_may_change(enum pool_mode old, enum pool_mode mode);

/*
 * Once a pool has gone to @mode, its metadata follows: a failed pool's
 * refuses every call, and a read-only pool's every change, unless the
 * pool is read-only for lack of metadata space (@metadata_low), when what
 * frees space may still change it.  Takes the metadata lock.
 */
void dmrow_mode_entered(struct dmrow_metadata *md, enum pool_mode mode, bool metadata_low);

/*
 * The commit rule, for a pool in @mode, read-only for lack of metadata
 * space if @metadata_low, whose data device already holds what the open
 * transaction's mappings point at (the kernel flushes it first):
 *  - a failed pool commits nothing: -EIO;
 *  - a transaction that holds no change needs no commit: 0;
 *  - a pool read-only after a failure commits nothing either: what the
 *    failure left (the needs_check commit failed too) can never be
 *    committed, and aborting it again would forget needs_check: -EIO.
 *    Read-only for lack of metadata space, it commits what frees space;
 *  - otherwise the transaction is committed: 0, or the commit's error with
 *    *@failed set, and the caller degrades the pool as
 *    dmrow_mode_after_failure() says.
 * *@failed is false unless the commit itself failed.
 */
int dmrow_mode_commit(struct dmrow_metadata *md, enum pool_mode mode, bool metadata_low,
		      bool *failed);

/*
 * The degradation rule, after a change to the metadata failed with @error:
 * the open transaction is dropped (aborted back to the last commit) and
 * the pool goes to the mode returned:
 *  - POOL_FAIL if even the last commit cannot be reloaded;
 *  - else POOL_READ_ONLY, for lack of metadata space (@error is -ENOSPC)
 *    with *@metadata_low set and the metadata sound, for anything else
 *    with needs_check set in the metadata.  *@needs_check_error is why it
 *    could not be set, or 0.
 */
enum pool_mode dmrow_mode_after_failure(struct dmrow_metadata *md, int error,
					bool *metadata_low, int *needs_check_error);

#endif /* DM_ROW_POOL_MODE_H */
