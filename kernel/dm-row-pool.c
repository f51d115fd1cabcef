// SPDX-License-Identifier: GPL-2.0
/*
 * The pool: open metadata, the worker, and the I/O path of its disks.
 *
 * One ordered worker does everything that changes metadata: inserting
 * block mappings, control messages, commits.  map() never blocks: a read,
 * or a write to a block the live head holds alone, whose mapping is in
 * memory is remapped there and then (dmrow_pool_map_fast()); every other
 * bio is queued for the worker.  The fast path takes a bio over several
 * blocks whole while they are mapped alike (consecutive data blocks read
 * off the mapping tree's leaves, or all unmapped) and cuts it where they
 * stop being so; the worker handles one block per bio, so a bio for it is
 * cut at its first block boundary.  Either way dm sends the rest as a new
 * bio (dm_accept_partial_bio()).
 *
 * Writes.  A write to a block that only the live head holds goes to that
 * block (in place).  Any other write is redirected: a fresh data block is
 * allocated, the mapping is inserted, and the bio is sent to the fresh
 * block; a write smaller than a block first has the rest of the block
 * copied from the old one (or zeroed) by kcopyd.  Nothing is ever copied
 * aside before a write, which is what makes this redirect-on-write rather
 * than copy-on-write.  With 4 KiB blocks (the default) a filesystem's
 * writes cover whole blocks and nothing is copied at all; larger blocks
 * shrink the metadata but make small writes after a snapshot copy the
 * rest of their block.
 *
 * The mapping is inserted before the data is written, so completing a
 * write needs no metadata work (and no worker).  That is safe because
 *  - a commit first waits for every data I/O in flight, so the committed
 *    mapping of a block always points at written data;
 *  - other bios for a block with a new-block write in flight wait in a
 *    "pending" table until it completes, so nobody reads the fresh block
 *    before it holds data;
 *  - the data space map never hands out, within one transaction, a block
 *    freed in it, and a commit waits for in-flight I/O, so a block being
 *    read or written is never reused underneath that I/O;
 *  - if the data write fails, the new mapping is removed before any other
 *    bio for the block runs (reverts are processed first on the worker).
 *
 * Flushes.  An empty REQ_PREFLUSH bio commits: wait for in-flight data
 * I/O, flush the data device if a write was issued to it since its last
 * flush, commit the metadata.  A REQ_FUA write is completed only after the
 * commit that follows it, so it is sent to the data device without FUA.
 * Without flushes the worker commits about once a second.
 *
 * Snapshots under load.  A snapshot message waits, on the worker, for all
 * in-flight data I/O and commits (completing any FUA writes) before it
 * shares the live tree: every write acknowledged before that point is in
 * the snapshot, and no write not yet acknowledged is, since none is in
 * flight and new bios wait behind the message.  The fast path is switched
 * off while messages run and while a commit drains in-flight I/O, so it
 * can neither slip a write past a snapshot nor starve the drain.
 */
#include <linux/blkdev.h>
#include <linux/dm-kcopyd.h>
#include <linux/err.h>
#include <linux/hash.h>
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/slab.h>

#include "dm-row-pool.h"
#include "dm-row-block-manager-kernel.h"

#define DM_MSG_PREFIX "row-pool"

#define PENDING_BUCKETS		256
#define COMMIT_PERIOD		HZ
/* The most blocks the fast path looks up for one bio (4 MiB of 4 KiB blocks). */
#define FAST_RUN_MAX_BLOCKS	1024
#define DEFAULT_CACHE_BLOCKS	1024

/* dmrow_bio_ctx.flags */
#define CTX_IN_FLIGHT		(1U << 0)	/* counted in pool->in_flight */
#define CTX_PENDING		(1U << 1)	/* owns the block's pending entry */
#define CTX_NEW_BLOCK		(1U << 2)	/* written to a freshly mapped block */
#define CTX_COMMIT		(1U << 3)	/* FUA: complete after a commit */

static DEFINE_MUTEX(pool_table_lock);
static LIST_HEAD(pool_table);

/* A block with a new-block write in flight, and the bios waiting for it. */
struct pending_block {
	struct hlist_node node;
	u64 disk_id;
	u64 vblock;
	struct bio_list waiters;
};

/* A failed new-block write whose mapping must go. */
struct revert {
	struct list_head list;
	u64 disk_id;
	u64 vblock;
	u64 block;
	struct dmrow_mapping old;	/* data_block DMROW_UNMAPPED: none */
};

static struct dmrow_bio_ctx *bio_ctx(struct bio *bio)
{
	return dm_per_bio_data(bio, sizeof(struct dmrow_bio_ctx));
}

static void wake_worker(struct dmrow_pool *pool)
{
	queue_work(pool->wq, &pool->worker);
}

/*----------------------------------------------------------------
 * Modes
 *--------------------------------------------------------------*/

const char *dmrow_pool_mode_name(enum pool_mode mode)
{
	switch (mode) {
	case POOL_WRITE:
		return "rw";
	case POOL_OUT_OF_DATA_SPACE:
		return "out_of_data_space";
	case POOL_READ_ONLY:
		return "ro";
	case POOL_FAIL:
		return "fail";
	}
	return "unknown";
}

enum pool_mode dmrow_pool_mode(struct dmrow_pool *pool)
{
	enum pool_mode mode;
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	mode = pool->mode;
	spin_unlock_irqrestore(&pool->lock, flags);
	return mode;
}

static void raise_event(struct dmrow_pool *pool)
{
	if (pool->ti)
		dm_table_event(pool->ti->table);
}

static void error_bio_list(struct bio_list *bios, blk_status_t status)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios))) {
		bio->bi_status = status;
		bio_endio(bio);
	}
}

/* Worker or target context.  Never leaves POOL_FAIL. */
static void set_pool_mode(struct dmrow_pool *pool, enum pool_mode mode)
{
	struct bio_list failed = BIO_EMPTY_LIST;
	enum pool_mode old;
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	old = pool->mode;
	if (old == POOL_FAIL || old == mode) {
		spin_unlock_irqrestore(&pool->lock, flags);
		return;
	}
	pool->mode = mode;
	if (mode >= POOL_READ_ONLY) {
		bio_list_merge(&failed, &pool->retry_on_space);
		bio_list_init(&pool->retry_on_space);
	}
	spin_unlock_irqrestore(&pool->lock, flags);

	if (mode == POOL_FAIL)
		dmrow_md_set_failed(pool->md);
	else if (mode == POOL_READ_ONLY && !pool->metadata_low)
		dmrow_md_set_read_only(pool->md);
	error_bio_list(&failed, mode == POOL_FAIL ? BLK_STS_IOERR : BLK_STS_NOSPC);

	if (mode == POOL_WRITE)
		DMINFO("%pg: switching to write mode", pool->metadata_bdev);
	else
		DMWARN("%pg: switching to %s mode", pool->metadata_bdev,
		       dmrow_pool_mode_name(mode));
	raise_event(pool);
}

/*
 * Metadata could not be changed: drop the open transaction and go
 * read-only (or fail, if even the last commit cannot be reloaded).
 */
void dmrow_pool_metadata_failed(struct dmrow_pool *pool, const char *op, int r)
{
	DMERR_LIMIT("%pg: metadata operation '%s' failed: error = %d",
		    pool->metadata_bdev, op, r);
	if (dmrow_md_abort(pool->md)) {
		DMERR("%pg: cannot reload the last commit; failing the pool",
		      pool->metadata_bdev);
		set_pool_mode(pool, POOL_FAIL);
		return;
	}
	if (r == -ENOSPC) {
		pool->metadata_low = true;
	} else if (dmrow_md_set_needs_check(pool->md)) {
		DMERR("%pg: cannot set needs_check", pool->metadata_bdev);
	}
	set_pool_mode(pool, POOL_READ_ONLY);
}

/*----------------------------------------------------------------
 * In-flight data I/O and the pending table
 *--------------------------------------------------------------*/

static void drain_in_flight(struct dmrow_pool *pool)
{
	wait_event(pool->in_flight_wait, !atomic_read(&pool->in_flight));
}

static void dec_in_flight(struct dmrow_pool *pool)
{
	if (atomic_dec_and_test(&pool->in_flight))
		wake_up(&pool->in_flight_wait);
}

/*
 * Worker only: switch the fast path off (nesting) and wait for the I/O in
 * flight, which then cannot grow without end.
 */
static void quiesce(struct dmrow_pool *pool)
{
	spin_lock_irq(&pool->lock);
	pool->fast_path_off++;
	spin_unlock_irq(&pool->lock);
	drain_in_flight(pool);
}

static void unquiesce(struct dmrow_pool *pool)
{
	spin_lock_irq(&pool->lock);
	pool->fast_path_off--;
	spin_unlock_irq(&pool->lock);
}

static struct hlist_head *pending_bucket(struct dmrow_pool *pool, u64 disk_id, u64 vblock)
{
	return &pool->pending[hash_64(vblock ^ (disk_id << 40), ilog2(PENDING_BUCKETS))];
}

static struct pending_block *__find_pending(struct dmrow_pool *pool, u64 disk_id,
					    u64 vblock)
{
	struct pending_block *p;

	hlist_for_each_entry(p, pending_bucket(pool, disk_id, vblock), node)
		if (p->disk_id == disk_id && p->vblock == vblock)
			return p;
	return NULL;
}

/* Whether any of @nr_blocks blocks from @vblock has a new-block write in flight. */
static bool __any_pending(struct dmrow_pool *pool, u64 disk_id, u64 vblock,
			  unsigned int nr_blocks)
{
	unsigned int i;

	if (!pool->nr_pending)
		return false;
	for (i = 0; i < nr_blocks; i++)
		if (__find_pending(pool, disk_id, vblock + i))
			return true;
	return false;
}

/* If a new-block write to this block is in flight, park @bio behind it. */
static bool wait_if_pending(struct dmrow_pool *pool, u64 disk_id, u64 vblock, struct bio *bio)
{
	struct pending_block *p;
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	p = __find_pending(pool, disk_id, vblock);
	if (p)
		bio_list_add(&p->waiters, bio);
	spin_unlock_irqrestore(&pool->lock, flags);
	return p;
}

static int add_pending(struct dmrow_pool *pool, u64 disk_id, u64 vblock)
{
	struct pending_block *p = kmalloc(sizeof(*p), GFP_NOIO);
	unsigned long flags;

	if (!p)
		return -ENOMEM;
	p->disk_id = disk_id;
	p->vblock = vblock;
	bio_list_init(&p->waiters);
	spin_lock_irqsave(&pool->lock, flags);
	hlist_add_head(&p->node, pending_bucket(pool, disk_id, vblock));
	pool->nr_pending++;
	spin_unlock_irqrestore(&pool->lock, flags);
	return 0;
}

/* Any context.  The waiters go back to the worker, in order. */
static void release_pending(struct dmrow_pool *pool, u64 disk_id, u64 vblock)
{
	struct pending_block *p;
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	p = __find_pending(pool, disk_id, vblock);
	if (p) {
		hlist_del(&p->node);
		pool->nr_pending--;
		bio_list_merge(&pool->deferred, &p->waiters);
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	kfree(p);
	wake_worker(pool);
}

/*----------------------------------------------------------------
 * Issuing and completing data I/O
 *--------------------------------------------------------------*/

static void pool_endio(struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_pool *pool = ctx->disk->pool;
	unsigned long flags;

	bio->bi_end_io = ctx->saved_end_io;
	bio->bi_private = ctx->saved_private;

	if (bio->bi_status && (ctx->flags & CTX_NEW_BLOCK)) {
		/* Queued before the block's waiters are released: see do_worker(). */
		struct revert *rv = kmalloc(sizeof(*rv), GFP_ATOMIC);

		if (rv) {
			rv->disk_id = ctx->disk->disk_id;
			rv->vblock = ctx->vblock;
			rv->block = ctx->new_block;
			rv->old.data_block = ctx->old_block;
			rv->old.time = ctx->old_time;
			spin_lock_irqsave(&pool->lock, flags);
			list_add_tail(&rv->list, &pool->reverts);
			spin_unlock_irqrestore(&pool->lock, flags);
		} else {
			DMERR_LIMIT("%pg: no memory to undo a failed write; the block keeps stale data",
				    pool->metadata_bdev);
		}
	}
	if (ctx->flags & CTX_PENDING)
		release_pending(pool, ctx->disk->disk_id, ctx->vblock);

	if (!bio->bi_status && (ctx->flags & CTX_COMMIT)) {
		spin_lock_irqsave(&pool->lock, flags);
		bio_list_add(&pool->commit_waiters, bio);
		spin_unlock_irqrestore(&pool->lock, flags);
		dec_in_flight(pool);
		wake_worker(pool);
		return;
	}
	dec_in_flight(pool);
	bio_endio(bio);
}

static void hook(struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);

	ctx->saved_end_io = bio->bi_end_io;
	ctx->saved_private = bio->bi_private;
	bio->bi_end_io = pool_endio;
	ctx->flags |= CTX_IN_FLIGHT;
}

static void hook_and_count(struct dmrow_pool *pool, struct bio *bio)
{
	hook(bio);
	atomic_inc(&pool->in_flight);
}

static void remap(struct dmrow_pool *pool, struct bio *bio, u64 block)
{
	sector_t offset = bio->bi_iter.bi_sector & (pool->cfg.block_sectors - 1);

	bio_set_dev(bio, pool->data_bdev);
	bio->bi_iter.bi_sector = (block << pool->block_shift) | offset;
}

/*
 * Any write to the data device, before it is issued: the next commit must
 * flush the data device.  Commits drain the writes in flight first, so none
 * that is counted here is still being written when the flag is taken.
 */
static void note_data_write(struct dmrow_pool *pool, struct bio *bio)
{
	if (op_is_write(bio_op(bio)) && !atomic_read(&pool->data_unflushed))
		atomic_set(&pool->data_unflushed, 1);
}

static void issue(struct dmrow_pool *pool, struct bio *bio, u64 block)
{
	note_data_write(pool, bio);
	remap(pool, bio, block);
	hook_and_count(pool, bio);
	dm_submit_bio_remap(bio, NULL);
}

/*----------------------------------------------------------------
 * Out of data space
 *--------------------------------------------------------------*/

static void no_space(struct dmrow_pool *pool, struct bio *bio)
{
	unsigned long flags;
	bool wait;

	spin_lock_irqsave(&pool->lock, flags);
	wait = !pool->cfg.error_if_no_space && !pool->no_space_timed_out &&
	       pool->mode < POOL_READ_ONLY;
	if (wait)
		bio_list_add(&pool->retry_on_space, bio);
	spin_unlock_irqrestore(&pool->lock, flags);

	if (pool->mode < POOL_OUT_OF_DATA_SPACE) {
		set_pool_mode(pool, POOL_OUT_OF_DATA_SPACE);
		if (wait && pool->cfg.no_space_timeout)
			queue_delayed_work(pool->wq, &pool->no_space_timeout,
					   (unsigned long)pool->cfg.no_space_timeout * HZ);
	}
	if (!wait) {
		bio->bi_status = BLK_STS_NOSPC;
		bio_endio(bio);
	}
}

static void do_no_space_timeout(struct work_struct *ws)
{
	struct dmrow_pool *pool = container_of(to_delayed_work(ws), struct dmrow_pool,
					       no_space_timeout);
	struct bio_list failed = BIO_EMPTY_LIST;
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	if (pool->mode == POOL_OUT_OF_DATA_SPACE) {
		pool->no_space_timed_out = true;
		bio_list_merge(&failed, &pool->retry_on_space);
		bio_list_init(&pool->retry_on_space);
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	if (!bio_list_empty(&failed))
		DMWARN("%pg: no data space for %u seconds: failing writes that need it",
		       pool->metadata_bdev, pool->cfg.no_space_timeout);
	error_bio_list(&failed, BLK_STS_NOSPC);
}

void dmrow_pool_space_freed(struct dmrow_pool *pool)
{
	struct dmrow_pool_info info;
	unsigned long flags;

	if (dmrow_md_pool_info(pool->md, &info))
		return;
	if (info.data_used < info.data_blocks && pool->mode == POOL_OUT_OF_DATA_SPACE) {
		cancel_delayed_work(&pool->no_space_timeout);
		spin_lock_irqsave(&pool->lock, flags);
		pool->no_space_timed_out = false;
		bio_list_merge(&pool->deferred, &pool->retry_on_space);
		bio_list_init(&pool->retry_on_space);
		spin_unlock_irqrestore(&pool->lock, flags);
		set_pool_mode(pool, POOL_WRITE);
		wake_worker(pool);
	}
	if (info.data_blocks - info.data_used > pool->cfg.low_water_blocks)
		pool->low_water_signalled = false;
}

static void check_low_water(struct dmrow_pool *pool)
{
	struct dmrow_pool_info info;

	if (pool->low_water_signalled || dmrow_md_pool_info(pool->md, &info))
		return;
	if (info.data_blocks - info.data_used <= pool->cfg.low_water_blocks) {
		DMWARN("%pg: reached low water mark for data device: sending event",
		       pool->metadata_bdev);
		pool->low_water_signalled = true;
		raise_event(pool);
	}
}

/* Metadata space below this many blocks: the pool stops taking new blocks. */
static u64 metadata_reserve(struct dmrow_pool_info *info)
{
	return max_t(u64, 64, info->metadata_blocks / 64);
}

static void check_metadata_space(struct dmrow_pool *pool)
{
	struct dmrow_pool_info info;
	u64 free;

	if (dmrow_md_pool_info(pool->md, &info))
		return;
	free = info.metadata_blocks - info.metadata_used;
	if (!pool->metadata_low && free < metadata_reserve(&info)) {
		DMWARN("%pg: metadata space low (%llu blocks free): no new blocks until space is freed",
		       pool->metadata_bdev, (unsigned long long)free);
		pool->metadata_low = true;
		set_pool_mode(pool, POOL_READ_ONLY);
	} else if (pool->metadata_low && free >= 2 * metadata_reserve(&info) &&
		   !info.read_only && pool->mode == POOL_READ_ONLY) {
		pool->metadata_low = false;
		DMINFO("%pg: metadata space recovered", pool->metadata_bdev);
		set_pool_mode(pool, POOL_WRITE);
	}
}

/*----------------------------------------------------------------
 * Commit
 *--------------------------------------------------------------*/

static void process_reverts(struct dmrow_pool *pool)
{
	struct revert *rv, *tmp;
	LIST_HEAD(reverts);
	int r;

	spin_lock_irq(&pool->lock);
	list_splice_init(&pool->reverts, &reverts);
	spin_unlock_irq(&pool->lock);

	list_for_each_entry_safe(rv, tmp, &reverts, list) {
		r = dmrow_md_revert_block(pool->md, rv->disk_id, rv->vblock, rv->block,
					  rv->old.data_block == DMROW_UNMAPPED ? NULL : &rv->old);
		if (r && r != -ENOENT)	/* -ENOENT: the disk is gone */
			dmrow_pool_metadata_failed(pool, "undo failed write", r);
		list_del(&rv->list);
		kfree(rv);
	}
}

int dmrow_pool_commit(struct dmrow_pool *pool)
{
	struct bio_list waiters = BIO_EMPTY_LIST;
	int r = 0;

	quiesce(pool);
	process_reverts(pool);

	spin_lock_irq(&pool->lock);
	bio_list_merge(&waiters, &pool->commit_waiters);
	bio_list_init(&pool->commit_waiters);
	spin_unlock_irq(&pool->lock);

	if (pool->mode >= POOL_FAIL) {
		r = -EIO;
	} else {
		/*
		 * Data first: the mappings about to be committed point at it,
		 * and a flush must make acknowledged writes durable.  Nothing
		 * written since the last data flush, nothing to flush.
		 */
		if (atomic_xchg(&pool->data_unflushed, 0)) {
			r = blkdev_issue_flush(pool->data_bdev);
			if (r)
				atomic_set(&pool->data_unflushed, 1);
		}
		if (!r && dmrow_md_dirty(pool->md)) {
			if (pool->mode == POOL_READ_ONLY && !pool->metadata_low) {
				/*
				 * Left over by a failure (the needs_check
				 * commit failed too): it can never be
				 * committed, and aborting it again would
				 * forget needs_check.  Fail every flush.
				 */
				r = -EIO;
			} else {
				r = dmrow_md_commit(pool->md);
				if (r)
					dmrow_pool_metadata_failed(pool, "commit", r);
			}
		}
	}
	pool->last_commit = jiffies;
	error_bio_list(&waiters, r ? BLK_STS_IOERR : BLK_STS_OK);
	if (!r) {
		check_metadata_space(pool);
		/* Blocks freed in the transaction are free now. */
		if (!bio_list_empty(&pool->retry_on_space))
			dmrow_pool_space_freed(pool);
	}
	unquiesce(pool);
	return r;
}

/*----------------------------------------------------------------
 * The I/O path (worker)
 *--------------------------------------------------------------*/

static void copy_done(int read_err, unsigned long write_err, void *context)
{
	struct bio *bio = context;
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_pool *pool = ctx->disk->pool;

	if (read_err || write_err) {
		/* The write never reached the block: fail it through the endio. */
		bio->bi_status = BLK_STS_IOERR;
		remap(pool, bio, ctx->new_block);
		hook_and_count(pool, bio);
		dec_in_flight(pool);	/* the copy's count */
		bio_endio(bio);
		return;
	}
	issue(pool, bio, ctx->new_block);
	dec_in_flight(pool);		/* the copy's count */
}

/* A write that does not cover its block: fill the rest of the fresh block first. */
static void prepare_partial_block(struct dmrow_pool *pool, struct bio *bio,
				  u64 old_block, u64 new_block)
{
	struct dm_io_region to = {
		.bdev = pool->data_bdev,
		.sector = new_block << pool->block_shift,
		.count = pool->cfg.block_sectors,
	};

	atomic_inc(&pool->in_flight);	/* for the copy */
	note_data_write(pool, bio);
	if (old_block == DMROW_UNMAPPED) {
		dm_kcopyd_zero(pool->copier, 1, &to, 0, copy_done, bio);
	} else {
		struct dm_io_region from = to;

		from.sector = old_block << pool->block_shift;
		dm_kcopyd_copy(pool->copier, &from, 1, &to, 0, copy_done, bio);
	}
}

static bool covers_block(struct dmrow_pool *pool, struct bio *bio)
{
	return bio->bi_iter.bi_size == (pool->cfg.block_sectors << SECTOR_SHIFT);
}

static void fail_bio(struct bio *bio, blk_status_t status)
{
	bio->bi_status = status;
	bio_endio(bio);
}

static void process_read(struct dmrow_pool *pool, struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_disk_binding *db = ctx->disk;
	struct dmrow_mapping m;
	int r;

	if (wait_if_pending(pool, db->disk_id, ctx->vblock, bio))
		return;
	r = dmrow_md_find_block(pool->md, db->disk_id, db->snap_id, ctx->vblock, &m);
	if (r == -ENODATA) {
		zero_fill_bio(bio);
		bio_endio(bio);
	} else if (r == -ENOENT) {
		/* The disk or snapshot is gone (deleted under an active device). */
		fail_bio(bio, BLK_STS_IOERR);
	} else if (r) {
		DMERR_LIMIT("%pg: lookup of block %llu failed: %d", pool->metadata_bdev,
			    (unsigned long long)ctx->vblock, r);
		fail_bio(bio, BLK_STS_IOERR);
	} else {
		issue(pool, bio, m.data_block);
	}
}

static int alloc_data_block(struct dmrow_pool *pool, u64 *block)
{
	int r = dmrow_md_alloc_data_block(pool->md, block);

	if (r == -EAGAIN) {
		/* Only blocks freed in this transaction are left: commit, retry. */
		r = dmrow_pool_commit(pool);
		if (!r)
			r = dmrow_md_alloc_data_block(pool->md, block);
		if (r == -EAGAIN)
			r = -ENOSPC;
	}
	return r;
}

static void process_write(struct dmrow_pool *pool, struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_disk_binding *db = ctx->disk;
	struct dmrow_mapping m;
	u64 old_block, new_block;
	int r;

	if (db->snap_id) {
		fail_bio(bio, BLK_STS_IOERR);	/* snapshots are read-only */
		return;
	}
	if (wait_if_pending(pool, db->disk_id, ctx->vblock, bio))
		return;
	if (bio->bi_opf & REQ_FUA) {
		/* The commit that completes it flushes the data device first. */
		ctx->flags |= CTX_COMMIT;
		bio->bi_opf &= ~REQ_FUA;
	}

	r = dmrow_md_find_block(pool->md, db->disk_id, 0, ctx->vblock, &m);
	if (r == -ENOENT) {
		fail_bio(bio, BLK_STS_IOERR);	/* the disk was removed */
		return;
	}
	if (r && r != -ENODATA) {
		DMERR_LIMIT("%pg: lookup of block %llu failed: %d", pool->metadata_bdev,
			    (unsigned long long)ctx->vblock, r);
		fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	if (!r && !m.shared) {
		issue(pool, bio, m.data_block);
		return;
	}
	old_block = r ? DMROW_UNMAPPED : m.data_block;
	ctx->old_time = r ? 0 : m.time;

	if (pool->mode >= POOL_READ_ONLY) {
		fail_bio(bio, pool->metadata_low ? BLK_STS_NOSPC : BLK_STS_IOERR);
		return;
	}
	r = alloc_data_block(pool, &new_block);
	if (r == -ENOSPC) {
		no_space(pool, bio);
		return;
	}
	if (r) {
		dmrow_pool_metadata_failed(pool, "allocate data block", r);
		fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	check_low_water(pool);

	r = add_pending(pool, db->disk_id, ctx->vblock);
	if (r) {
		dmrow_md_release_data_block(pool->md, new_block);
		fail_bio(bio, BLK_STS_RESOURCE);
		return;
	}
	r = dmrow_md_insert_block(pool->md, db->disk_id, ctx->vblock, new_block);
	if (r == -EINVAL || r == -ENOENT) {
		/*
		 * Past the disk's end (its device is longer than the disk after
		 * a shrink or rollback it was suspended for) or a removed disk:
		 * the write fails, the pool is fine.
		 */
		release_pending(pool, db->disk_id, ctx->vblock);
		dmrow_md_release_data_block(pool->md, new_block);
		fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	if (r) {
		release_pending(pool, db->disk_id, ctx->vblock);
		dmrow_pool_metadata_failed(pool, "insert mapping", r);
		fail_bio(bio, r == -ENOSPC ? BLK_STS_NOSPC : BLK_STS_IOERR);
		return;
	}
	ctx->flags |= CTX_PENDING | CTX_NEW_BLOCK;
	ctx->new_block = new_block;
	ctx->old_block = old_block;
	if (covers_block(pool, bio))
		issue(pool, bio, new_block);
	else
		prepare_partial_block(pool, bio, old_block, new_block);
}

static void process_discard(struct dmrow_pool *pool, struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_disk_binding *db = ctx->disk;
	sector_t start = bio->bi_iter.bi_sector;	/* made target-relative by map() */
	sector_t end = start + bio_sectors(bio);
	u64 begin_block = DIV_ROUND_UP_ULL(start, pool->cfg.block_sectors);
	u64 end_block = end >> pool->block_shift;
	int r;

	if (db->snap_id || pool->mode >= POOL_READ_ONLY) {
		fail_bio(bio, db->snap_id ? BLK_STS_IOERR : BLK_STS_OK);
		return;
	}
	/* Only whole blocks are released; a partial block keeps its data. */
	if (begin_block < end_block) {
		r = dmrow_md_discard(pool->md, db->disk_id, begin_block, end_block);
		if (r) {
			dmrow_pool_metadata_failed(pool, "discard", r);
			fail_bio(bio, BLK_STS_IOERR);
			return;
		}
		dmrow_pool_space_freed(pool);
	}
	bio_endio(bio);
}

static void process_bio(struct dmrow_pool *pool, struct bio *bio)
{
	if (pool->mode == POOL_FAIL) {
		fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	if (bio->bi_opf & REQ_PREFLUSH) {
		/* dm sends flushes as empty bios. */
		int r = dmrow_pool_commit(pool);

		fail_bio(bio, r ? BLK_STS_IOERR : BLK_STS_OK);
		return;
	}
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		process_read(pool, bio);
		break;
	case REQ_OP_WRITE:
		process_write(pool, bio);
		break;
	case REQ_OP_DISCARD:
		process_discard(pool, bio);
		break;
	default:
		fail_bio(bio, BLK_STS_NOTSUPP);
	}
}

static void process_deferred_bios(struct dmrow_pool *pool)
{
	struct bio_list bios = BIO_EMPTY_LIST;
	struct bio *bio;

	spin_lock_irq(&pool->lock);
	bio_list_merge(&bios, &pool->deferred);
	bio_list_init(&pool->deferred);
	spin_unlock_irq(&pool->lock);

	while ((bio = bio_list_pop(&bios))) {
		process_bio(pool, bio);
		cond_resched();
	}
}

/*
 * Messages change what the fast path relies on (a snapshot makes the live
 * disk's blocks shared): it is switched off, and the I/O it let through is
 * drained, before the first message runs.
 */
static void process_messages(struct dmrow_pool *pool)
{
	struct dmrow_message *msg;
	bool quiesced = false;

	for (;;) {
		spin_lock_irq(&pool->lock);
		msg = list_first_entry_or_null(&pool->messages, struct dmrow_message, list);
		if (msg)
			list_del(&msg->list);
		spin_unlock_irq(&pool->lock);
		if (!msg)
			break;
		if (!quiesced) {
			quiesce(pool);
			/* Failed writes drained just now are undone before any message. */
			process_reverts(pool);
			quiesced = true;
		}
		msg->error = dmrow_process_message(pool, msg->argc, msg->argv, msg->result,
						   msg->maxlen);
		complete(&msg->done);
	}
	if (quiesced)
		unquiesce(pool);
}

static bool commit_due(struct dmrow_pool *pool)
{
	bool waiters;

	spin_lock_irq(&pool->lock);
	waiters = !bio_list_empty(&pool->commit_waiters);
	spin_unlock_irq(&pool->lock);
	return waiters || (time_after_eq(jiffies, pool->last_commit + COMMIT_PERIOD) &&
			   dmrow_md_dirty(pool->md));
}

/*
 * Reverts come first: a failed write's mapping must be gone before the
 * bios that waited for that block run again.
 */
static void do_worker(struct work_struct *ws)
{
	struct dmrow_pool *pool = container_of(ws, struct dmrow_pool, worker);

	process_reverts(pool);
	process_messages(pool);
	process_deferred_bios(pool);
	if (commit_due(pool) && pool->mode < POOL_FAIL)
		dmrow_pool_commit(pool);
}

static void do_waker(struct work_struct *ws)
{
	struct dmrow_pool *pool = container_of(to_delayed_work(ws), struct dmrow_pool, waker);

	wake_worker(pool);
	queue_delayed_work(pool->wq, &pool->waker, COMMIT_PERIOD);
}

/*
 * The fast path (map(), the submitter's context).  A read, or a write to a
 * block the live disk holds alone, needs no metadata change: if its mapping
 * is at hand (cached nodes, uncontended lock) the bio is remapped at once
 * instead of waiting for the worker.  What keeps it right:
 *
 *  - It is counted in flight before the lookup, under the pool lock, and
 *    only while no message runs: a snapshot (which makes blocks shared)
 *    switches it off and drains it first, so no write the lookup judged
 *    unshared can land after the snapshot.  Commits drain it too, so a
 *    block freed in a transaction gets no write once it can be reused.
 *  - A new-block write publishes its mapping before its data is written,
 *    under a pending entry: the pending table (and the list of failed writes
 *    to undo) is checked again after the lookup, so a mapping seen while its
 *    data is still in flight is never used.
 *  - Anything else (flushes, FUA, discards, shared or unmapped writes, a
 *    pool not writable, a lookup that would block) goes to the worker.
 */
bool dmrow_pool_map_fast(struct dmrow_pool *pool, struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_disk_binding *db = ctx->disk;
	bool write = bio_op(bio) == REQ_OP_WRITE;
	sector_t offset = bio->bi_iter.bi_sector & (pool->cfg.block_sectors - 1);
	unsigned int nr_blocks, run;
	struct dmrow_mapping m;
	unsigned long flags;
	bool go;
	int r;

	if ((!write && bio_op(bio) != REQ_OP_READ) || (bio->bi_opf & (REQ_PREFLUSH | REQ_FUA)) ||
	    (write && db->snap_id) || !bio_sectors(bio))
		return false;
	nr_blocks = min_t(sector_t, FAST_RUN_MAX_BLOCKS,
			  (offset + bio_sectors(bio) + pool->cfg.block_sectors - 1) >>
			  pool->block_shift);

	spin_lock_irqsave(&pool->lock, flags);
	go = !pool->fast_path_off && !pool->suspended &&
	     pool->mode <= (write ? POOL_OUT_OF_DATA_SPACE : POOL_READ_ONLY) &&
	     !__find_pending(pool, db->disk_id, ctx->vblock);
	if (go)
		atomic_inc(&pool->in_flight);
	spin_unlock_irqrestore(&pool->lock, flags);
	if (!go)
		return false;

	run = nr_blocks;
	r = dmrow_md_try_find_run(pool->md, db->disk_id, db->snap_id, ctx->vblock, &run, &m);
	if (!r && write && m.shared)
		r = -EWOULDBLOCK;	/* redirect-on-write: the worker allocates */
	if (r && !(r == -ENODATA && !write))
		goto defer;

	spin_lock_irqsave(&pool->lock, flags);
	go = !__any_pending(pool, db->disk_id, ctx->vblock, run) && list_empty(&pool->reverts);
	spin_unlock_irqrestore(&pool->lock, flags);
	if (!go)
		goto defer;

	/* The blocks after the run come back to map() as a bio of their own. */
	if (((sector_t)run << pool->block_shift) - offset < bio_sectors(bio))
		dm_accept_partial_bio(bio, ((sector_t)run << pool->block_shift) - offset);

	if (r == -ENODATA) {
		zero_fill_bio(bio);
		dec_in_flight(pool);
		bio_endio(bio);
		return true;
	}
	note_data_write(pool, bio);
	remap(pool, bio, m.data_block);
	hook(bio);
	dm_submit_bio_remap(bio, NULL);
	return true;

defer:
	dec_in_flight(pool);
	return false;
}

void dmrow_pool_clip_to_block(struct dmrow_pool *pool, struct bio *bio)
{
	sector_t offset = bio->bi_iter.bi_sector & (pool->cfg.block_sectors - 1);
	sector_t left = pool->cfg.block_sectors - offset;

	if ((bio_op(bio) == REQ_OP_READ || bio_op(bio) == REQ_OP_WRITE) &&
	    !(bio->bi_opf & REQ_PREFLUSH) && bio_sectors(bio) > left)
		dm_accept_partial_bio(bio, left);
}

void dmrow_pool_defer_bio(struct dmrow_pool *pool, struct bio *bio)
{
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	bio_list_add(&pool->deferred, bio);
	spin_unlock_irqrestore(&pool->lock, flags);
	wake_worker(pool);
}

int dmrow_pool_run_message(struct dmrow_pool *pool, unsigned int argc, char **argv,
			   char *result, unsigned int maxlen)
{
	struct dmrow_message msg = {
		.argc = argc, .argv = argv, .result = result, .maxlen = maxlen,
	};

	init_completion(&msg.done);
	spin_lock_irq(&pool->lock);
	list_add_tail(&msg.list, &pool->messages);
	spin_unlock_irq(&pool->lock);
	wake_worker(pool);
	wait_for_completion(&msg.done);
	return msg.error;
}

/* From outside the worker: have it commit, and wait. */
static void commit_on_worker(struct dmrow_pool *pool)
{
	char *argv[] = { "commit" };

	if (pool->mode < POOL_READ_ONLY && dmrow_pool_run_message(pool, 1, argv, NULL, 0))
		DMERR("%pg: commit failed", pool->metadata_bdev);
	flush_workqueue(pool->wq);
}

/*----------------------------------------------------------------
 * Disks
 *--------------------------------------------------------------*/

void dmrow_pool_attach_disk(struct dmrow_pool *pool, struct dmrow_disk_binding *db)
{
	spin_lock_irq(&pool->lock);
	list_add_tail(&db->list, &pool->disks);
	spin_unlock_irq(&pool->lock);
}

void dmrow_pool_detach_disk(struct dmrow_pool *pool, struct dmrow_disk_binding *db)
{
	spin_lock_irq(&pool->lock);
	list_del(&db->list);
	spin_unlock_irq(&pool->lock);
}

bool dmrow_pool_disk_active(struct dmrow_pool *pool, u64 disk_id, u64 snap_id,
			    bool include_suspended)
{
	struct dmrow_disk_binding *db;
	bool active = false;

	spin_lock_irq(&pool->lock);
	list_for_each_entry(db, &pool->disks, list) {
		if (db->disk_id == disk_id && (snap_id == ~0ULL || db->snap_id == snap_id) &&
		    (include_suspended || !db->suspended)) {
			active = true;
			break;
		}
	}
	spin_unlock_irq(&pool->lock);
	return active;
}

/*----------------------------------------------------------------
 * Life cycle
 *--------------------------------------------------------------*/

static void destroy_pool(struct dmrow_pool *pool)
{
	cancel_delayed_work_sync(&pool->waker);
	cancel_delayed_work_sync(&pool->no_space_timeout);
	commit_on_worker(pool);
	destroy_workqueue(pool->wq);
	dm_kcopyd_client_destroy(pool->copier);
	dmrow_md_close(pool->md);
	dmrow_bm_destroy(pool->bm);
	kfree(pool->pending);
	kfree(pool);
}

static int open_metadata(struct dmrow_pool *pool, char **error)
{
	bool unformatted;
	int r;

	r = dmrow_md_is_unformatted(pool->bm, &unformatted);
	if (r) {
		*error = r == -ENOSPC ? "Metadata device too small" : "Cannot read metadata device";
		return r;
	}
	if (unformatted) {
		u64 nr_data_blocks = bdev_nr_sectors(pool->data_bdev) >> pool->block_shift;
		u8 uuid[16];

		if (pool->cfg.read_only) {
			*error = "Metadata device is empty and the pool is read-only";
			return -EINVAL;
		}
		if (!nr_data_blocks) {
			*error = "Data device smaller than one block";
			return -EINVAL;
		}
		get_random_bytes(uuid, sizeof(uuid));
		r = dmrow_md_format(pool->bm, pool->cfg.block_sectors, nr_data_blocks, uuid,
				    &pool->md);
		if (r)
			*error = "Cannot format metadata device";
		return r;
	}

	r = dmrow_md_open(pool->bm, pool->cfg.read_only, &pool->md);
	if (r) {
		*error = r == -EOPNOTSUPP ? "Metadata needs a newer dm-row" :
			 r == -EROFS ? "Metadata has features only readable by this dm-row: use read_only" :
			 "Metadata device holds no valid dm-row pool (run 'snapctl check')";
		return r;
	}
	return 0;
}

static int check_block_size(struct dmrow_pool *pool, char **error)
{
	struct dmrow_pool_info info;
	int r = dmrow_md_pool_info(pool->md, &info);

	if (r) {
		*error = "Cannot read pool information";
		return r;
	}
	if (info.data_block_sectors != pool->cfg.block_sectors) {
		*error = "Data block size differs from the one the pool was made with";
		return -EINVAL;
	}
	return 0;
}

static struct dmrow_pool *create_pool(struct mapped_device *pool_md,
				      struct block_device *metadata_bdev,
				      struct block_device *data_bdev,
				      const struct pool_config *cfg, char **error)
{
	struct dmrow_pool *pool;
	int r;

	pool = kzalloc(sizeof(*pool), GFP_KERNEL);
	if (!pool) {
		*error = "Cannot allocate pool";
		return ERR_PTR(-ENOMEM);
	}
	pool->pool_md = pool_md;
	pool->metadata_bdev = metadata_bdev;
	pool->data_bdev = data_bdev;
	pool->cfg = *cfg;
	pool->block_shift = ilog2(cfg->block_sectors);
	pool->ref_count = 1;
	spin_lock_init(&pool->lock);
	bio_list_init(&pool->deferred);
	bio_list_init(&pool->retry_on_space);
	bio_list_init(&pool->commit_waiters);
	INIT_LIST_HEAD(&pool->messages);
	INIT_LIST_HEAD(&pool->reverts);
	INIT_LIST_HEAD(&pool->disks);
	atomic_set(&pool->in_flight, 0);
	atomic_set(&pool->data_unflushed, 1);	/* the first commit flushes */
	init_waitqueue_head(&pool->in_flight_wait);
	INIT_WORK(&pool->worker, do_worker);
	INIT_DELAYED_WORK(&pool->waker, do_waker);
	INIT_DELAYED_WORK(&pool->no_space_timeout, do_no_space_timeout);
	pool->last_commit = jiffies;
	pool->mode = POOL_WRITE;

	pool->pending = kcalloc(PENDING_BUCKETS, sizeof(*pool->pending), GFP_KERNEL);
	if (!pool->pending) {
		*error = "Cannot allocate pending table";
		r = -ENOMEM;
		goto out_free_pool;
	}
	pool->bm = dmrow_bm_create(metadata_bdev,
				   cfg->cache_blocks ? cfg->cache_blocks : DEFAULT_CACHE_BLOCKS,
				   cfg->read_only);
	if (IS_ERR(pool->bm)) {
		*error = "Cannot create metadata block cache";
		r = PTR_ERR(pool->bm);
		goto out_free_pending;
	}
	r = open_metadata(pool, error);
	if (r)
		goto out_destroy_bm;
	r = check_block_size(pool, error);
	if (r)
		goto out_close_md;
	if (cfg->read_only) {
		pool->mode = POOL_READ_ONLY;
	} else {
		struct dmrow_pool_info info;

		if (!dmrow_md_pool_info(pool->md, &info) && info.needs_check) {
			DMWARN("%pg: the pool needs a check (run 'snapctl check'); opening it read-only",
			       metadata_bdev);
			dmrow_md_set_read_only(pool->md);
			pool->mode = POOL_READ_ONLY;
		}
		/* Metadata that was low when the pool went away is low still. */
		if (pool->mode == POOL_WRITE)
			check_metadata_space(pool);
	}

	pool->copier = dm_kcopyd_client_create(NULL);
	if (IS_ERR(pool->copier)) {
		*error = "Cannot create kcopyd client";
		r = PTR_ERR(pool->copier);
		goto out_close_md;
	}
	pool->wq = alloc_ordered_workqueue("dm-" DM_MSG_PREFIX, WQ_MEM_RECLAIM);
	if (!pool->wq) {
		*error = "Cannot create workqueue";
		r = -ENOMEM;
		goto out_destroy_copier;
	}
	return pool;

out_destroy_copier:
	dm_kcopyd_client_destroy(pool->copier);
out_close_md:
	dmrow_md_close(pool->md);
out_destroy_bm:
	dmrow_bm_destroy(pool->bm);
out_free_pending:
	kfree(pool->pending);
out_free_pool:
	kfree(pool);
	return ERR_PTR(r);
}

static struct dmrow_pool *__find_by_md(struct mapped_device *pool_md)
{
	struct dmrow_pool *pool;

	list_for_each_entry(pool, &pool_table, list)
		if (pool->pool_md == pool_md)
			return pool;
	return NULL;
}

static struct dmrow_pool *__find_by_metadata(struct block_device *metadata_bdev)
{
	struct dmrow_pool *pool;

	list_for_each_entry(pool, &pool_table, list)
		if (pool->metadata_bdev == metadata_bdev)
			return pool;
	return NULL;
}

int dmrow_pool_get(struct dm_target *ti, struct mapped_device *pool_md,
		   struct block_device *metadata_bdev, struct block_device *data_bdev,
		   const struct pool_config *cfg, struct dmrow_pool **result)
{
	struct dmrow_pool *pool;
	int r = 0;

	mutex_lock(&pool_table_lock);
	pool = __find_by_md(pool_md);
	if (pool) {
		/* A table reload of a live pool. */
		if (pool->metadata_bdev != metadata_bdev) {
			ti->error = "A pool's metadata device cannot be changed";
			r = -EINVAL;
		} else if (pool->cfg.block_sectors != cfg->block_sectors) {
			ti->error = "A pool's data block size cannot be changed";
			r = -EINVAL;
		} else if (pool->cfg.read_only != cfg->read_only ||
			   pool->cfg.cache_blocks != cfg->cache_blocks) {
			ti->error = "read_only and cache_blocks cannot change in a reload: remove and recreate the pool device";
			r = -EINVAL;
		} else {
			pool->ref_count++;
		}
	} else if (__find_by_metadata(metadata_bdev)) {
		ti->error = "Metadata device is already in use by another pool";
		r = -EBUSY;
	} else {
		pool = create_pool(pool_md, metadata_bdev, data_bdev, cfg, &ti->error);
		if (IS_ERR(pool))
			r = PTR_ERR(pool);
		else
			list_add(&pool->list, &pool_table);
	}
	mutex_unlock(&pool_table_lock);
	if (!r)
		*result = pool;
	return r;
}

void dmrow_pool_put(struct dmrow_pool *pool)
{
	bool last;

	mutex_lock(&pool_table_lock);
	last = !--pool->ref_count;
	if (last)
		list_del(&pool->list);
	mutex_unlock(&pool_table_lock);
	if (last)
		destroy_pool(pool);
}

struct dmrow_pool *dmrow_pool_lookup_and_get(struct block_device *pool_bdev)
{
	struct mapped_device *pool_md = dm_get_md(pool_bdev->bd_dev);
	struct dmrow_pool *pool;

	if (!pool_md)
		return NULL;
	mutex_lock(&pool_table_lock);
	pool = __find_by_md(pool_md);
	if (pool)
		pool->ref_count++;
	mutex_unlock(&pool_table_lock);
	dm_put(pool_md);
	return pool;
}

/*----------------------------------------------------------------
 * Pool target hooks
 *--------------------------------------------------------------*/

int dmrow_pool_bind(struct dmrow_pool *pool, struct dm_target *ti,
		    struct block_device *data_bdev, const struct pool_config *cfg)
{
	struct dmrow_pool_info info;
	u64 nr_data_blocks = bdev_nr_sectors(data_bdev) >> pool->block_shift;
	int r;

	r = dmrow_md_pool_info(pool->md, &info);
	if (r)
		return r;
	if (nr_data_blocks < info.data_blocks) {
		DMERR("%pg: data device shrank from %llu to %llu blocks: refusing",
		      pool->metadata_bdev, (unsigned long long)info.data_blocks,
		      (unsigned long long)nr_data_blocks);
		return -EINVAL;
	}
	if (bdev_nr_sectors(pool->metadata_bdev) / DMROW_SECTORS_PER_METADATA_BLOCK >
	    info.metadata_blocks && pool->mode < POOL_READ_ONLY) {
		r = dmrow_md_resize_metadata(pool->md, bdev_nr_sectors(pool->metadata_bdev) /
						       DMROW_SECTORS_PER_METADATA_BLOCK);
		if (!r)
			r = dmrow_md_commit(pool->md);
		if (r) {
			dmrow_pool_metadata_failed(pool, "grow metadata device", r);
			return r;
		}
		DMINFO("%pg: metadata device grew", pool->metadata_bdev);
	}
	pool->ti = ti;
	pool->data_bdev = data_bdev;
	pool->cfg.low_water_blocks = cfg->low_water_blocks;
	pool->cfg.error_if_no_space = cfg->error_if_no_space;
	pool->cfg.no_space_timeout = cfg->no_space_timeout;

	if (nr_data_blocks > info.data_blocks && pool->mode < POOL_READ_ONLY) {
		r = dmrow_md_resize_data(pool->md, nr_data_blocks);
		if (!r)
			r = dmrow_md_commit(pool->md);
		if (r) {
			dmrow_pool_metadata_failed(pool, "grow data device", r);
			return r;
		}
		DMINFO("%pg: data device grew to %llu blocks", pool->metadata_bdev,
		       (unsigned long long)nr_data_blocks);
		dmrow_pool_space_freed(pool);
	}
	return 0;
}

void dmrow_pool_resume(struct dmrow_pool *pool)
{
	pool->suspended = false;
	queue_delayed_work(pool->wq, &pool->waker, COMMIT_PERIOD);
	wake_worker(pool);
}

/* Commit everything and stop background work. */
void dmrow_pool_suspend(struct dmrow_pool *pool)
{
	cancel_delayed_work_sync(&pool->waker);
	commit_on_worker(pool);
	pool->suspended = true;
}
