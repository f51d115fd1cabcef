/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The interface between a pool and its control plane: all that
 * dm-row-message.c sees of the pool, and the one call the pool makes into
 * it.  The message layer includes this header and not dm-row-pool.h, so
 * struct dmrow_pool stays opaque to it: the I/O path's lists, pool->lock
 * and the fields the worker owns are out of its reach, and what a message
 * may read of its pool or ask of it is the list of functions below.
 * dm-row-pool.c and dm-row-hydrate.c implement them; the message fuzzer
 * (tests/fuzz/fuzz_message.c) implements them on an in-memory pool.
 *
 * Who calls what, on which thread, under which lock:
 *  - The pool's worker runs every message, one at a time:
 *    process_messages() (dm-row-pool.c) takes the next one that
 *    dmrow_pool_run_message() queued, maps every write acknowledged before
 *    it, and calls dmrow_process_message().
 *  - The message calls the functions below on that same worker, in the
 *    order it needs them.  Being on the worker orders it with the I/O path
 *    and with every other change to the metadata, which is why a message
 *    takes no lock of its own around the dmrow_md_*() calls it makes in
 *    sequence (each of those takes the metadata lock itself).
 *  - No call either way is made with a lock held, and none returns with
 *    one held: not pool->lock, which a function below takes and drops
 *    itself where it needs it, nor the metadata lock.  They may sleep: a
 *    commit writes, the write gate and dmrow_pool_begin_freeing() wait for
 *    bios in flight.
 */
#ifndef DM_ROW_CONTROL_H
#define DM_ROW_CONTROL_H

#include <linux/types.h>

#include "dm-row-metadata.h"
#include "dm-row-pool-mode.h"

struct dmrow_pool;

/*
 * The worker: run one message (dm-row-message.c).  Returns 1 with text in
 * @result (@maxlen bytes, NULL for none), 0, or a negative errno.
 */
int dmrow_process_message(struct dmrow_pool *pool, unsigned int argc, char **argv,
			  char *result, unsigned int maxlen);

/*
 * What a message may read of its pool.  The metadata and the data block
 * size (log2 of its sectors) are fixed for the pool's life.  The mode may
 * be read from any context (it takes pool->lock); whether the pool is
 * read-only for lack of metadata space is the worker's.
 */
struct dmrow_metadata *dmrow_pool_metadata(struct dmrow_pool *pool);
unsigned int dmrow_pool_block_shift(struct dmrow_pool *pool);
enum pool_mode dmrow_pool_mode(struct dmrow_pool *pool);
bool dmrow_pool_metadata_low(struct dmrow_pool *pool);

/*
 * Commits and failures (the rules are dm-row-pool-mode.c's).
 * dmrow_pool_commit(): flush the data device if written to, then commit.
 * dmrow_pool_flush_data(): flush the data device if written to since its
 * last flush.  dmrow_pool_metadata_failed(): a change to the metadata
 * failed with @r in @op; drop the open transaction and degrade the pool.
 * dmrow_pool_space_freed(): space may have been freed; let the writes
 * waiting for it try again.
 */
int dmrow_pool_commit(struct dmrow_pool *pool);
int dmrow_pool_flush_data(struct dmrow_pool *pool);
void dmrow_pool_metadata_failed(struct dmrow_pool *pool, const char *op, int r);
void dmrow_pool_space_freed(struct dmrow_pool *pool);

/*
 * Around a message that frees data blocks (delete, merge, rollback,
 * shrink, remove, an automatic snapshot that evicts): wait until every
 * bio admitted before it has completed, so that the blocks it frees are
 * free at once (no quarantine).
 */
void dmrow_pool_begin_freeing(struct dmrow_pool *pool);
void dmrow_pool_end_freeing(struct dmrow_pool *pool);
/*
 * For a snapshot of @disks: hold back their new in-place writes (map()
 * defers them) and wait for those in flight; and let them go again.
 * Reads and other disks are not held.  @disks stays the caller's until
 * released.
 */
void dmrow_pool_gate_writes(struct dmrow_pool *pool, const u64 *disks, unsigned int nr);
void dmrow_pool_release_writes(struct dmrow_pool *pool);
/*
 * Has @disk_id a device loaded, the live head (@snap_id 0) or the view of
 * snapshot @snap_id (~0ULL: any of them)?  A suspended one counts only
 * with @include_suspended.
 */
bool dmrow_pool_disk_active(struct dmrow_pool *pool, u64 disk_id, u64 snap_id,
			    bool include_suspended);

/*
 * External origins.  dmrow_pool_origin_detached(): @disk_id's origin was
 * taken away; its devices stop reading it.  dmrow_hydrate_start() and
 * dmrow_hydrate_pause() (dm-row-hydrate.c): the hydrate message.
 */
void dmrow_pool_origin_detached(struct dmrow_pool *pool, u64 disk_id);
int dmrow_hydrate_start(struct dmrow_pool *pool, u64 disk_id, u64 rate, const char **why);
int dmrow_hydrate_pause(struct dmrow_pool *pool, u64 disk_id);

#endif /* DM_ROW_CONTROL_H */
