// SPDX-License-Identifier: GPL-2.0
/*
 * The pool: open metadata, the worker, and the I/O path of its disks.
 *
 * One ordered worker does everything that changes metadata: mapping new
 * blocks, control messages, commits.  map() never blocks: a read, or a
 * write to a block the live head holds alone, whose mapping is in memory
 * is remapped there and then (dmrow_pool_map_fast()); every other bio is
 * queued for the worker.  A live disk's mappings come from its mapping
 * cache, read with no lock (dm-row-map-cache.c); what it does not hold is
 * looked up in the tree without blocking, which fills the cache.  The
 * metadata keeps the cache in step with the tree under its own lock, so the
 * rules below hold for a cached mapping as for one read from the tree.
 * The fast path takes a bio over several blocks
 * whole while they are mapped alike (consecutive data blocks read off the
 * mapping tree's leaves, or all unmapped) and cuts it where they stop
 * being so; the worker handles one block per bio, so a bio for it is cut
 * at its first block boundary.  Either way dm sends the rest as a new bio
 * (dm_accept_partial_bio()).
 *
 * Writes.  A write to a block that only the live head holds goes to that
 * block (in place).  Any other write is redirected: a fresh data block is
 * reserved (dmrow_md_alloc_data_block(): held in memory, not counted), the
 * bio is sent to it, and when the write has completed the worker maps the
 * block (dmrow_md_insert_block()).  The worker keeps a run of reserved
 * blocks at hand, so that map() redirects a write of whole blocks itself,
 * to as many consecutive reserved blocks as it covers (up to
 * REDIRECT_RUN_MAX, as one bio), and the worker only maps them
 * (map_redirect()).  A write smaller than a block
 * first has the rest of the block copied from the old one (or zeroed) by
 * kcopyd.  Nothing is ever copied aside before a write, which is what
 * makes this redirect-on-write rather than copy-on-write.  Mapping after
 * the data is what lets everything else run without waiting for I/O:
 *  - every mapping in the open transaction points at data already written,
 *    so a commit waits for no bio (it flushes the data device if a write
 *    completed since its last flush, then writes the metadata);
 *  - a failed write just gives its reserved block back: the old mapping was
 *    never touched, and a crash leaves reserved blocks simply free;
 *  - a read racing a redirected write sees the old block or the new one,
 *    never an unwritten one: the new block is read only once written;
 *  - later writes to the same block wait in a "pending" table until the
 *    redirected one is mapped, so writes to one block stay in order.
 *
 * Acknowledged before mapped.  A write map() redirected to a block at hand
 * is acknowledged as soon as its data is written, without waiting for the
 * worker (ack_written()); the worker maps it soon after, in batches
 * (process_written()).  Until then its entry in the pending table says
 * where its data is, and everything that could see the block looks there
 * first: map() reads such a block from the new block (find_written()), the
 * worker's own lookups, every message, every flush and the pool's status
 * first map all that was acknowledged before them (endio wakes the worker
 * once per batch, so without them the count of used blocks would lag).
 * A write to such a block needs no look there: the block still reads as
 * shared or unmapped (the write was redirected because it did), so map()
 * would redirect it, and map_redirect() finds the entry and leaves the
 * write to the worker, behind the first; once the worker has mapped the
 * new block, a write that finds that mapping goes in place, where the
 * entry points anyway.
 * A write over several blocks is cut where they stop reading alike (all
 * unshared, on consecutive data blocks), so it covers no such block that
 * still reads as before either.  A redirected write over several blocks
 * puts an entry for each of them in the table before it is sent
 * (__take_run()), and they are marked written together when it
 * completes: each block is then to readers and writers what the block
 * of a one-block write is.  If the write fails, every block of it is
 * given back and its entry goes, as for one block (drop_run()).
 * So a read, a snapshot, a rollback or a flush that follows the
 * acknowledgement finds the write as if it were mapped.  Durability is
 * unchanged: a write is durable after a flush, and a flush maps every
 * write acknowledged before it, then commits (the data device flushed
 * first).  A crash before that flush loses the write, as it may lose any
 * write not flushed.  A mapping that was acknowledged can no longer be
 * refused, so room for it is promised before map() may acknowledge early
 * (dmrow_md_promise_io(), "Promises" in dm-row-metadata.c): the worker
 * keeps credits at hand as it keeps blocks, and a redirect without a
 * credit, or without a free entry of the pool's own (one per credit,
 * allocated with the pool), is acknowledged after it is mapped, as
 * before.  What can still fail is a failure of the metadata itself (the
 * pool degrades and aborts the transaction, which drops every write
 * acknowledged since the last commit anyway) or the disk's removal or
 * shrinking under its own writes.
 *
 * Freed blocks and in-flight bios.  Mapping a redirected write can free the
 * block it replaces, a discard frees blocks, and a bio that looked the old
 * mapping up just before may still be reading or writing it.  Such a block
 * is quarantined (held, not free) until every bio admitted before the free
 * has completed; bios are admitted to per-CPU I/O epochs
 * (dm-row-epoch.c), and the worker closes the current epoch at the end of
 * a pass that quarantined blocks and releases them when it drains.  New
 * bios never wait for this.  Messages that free many blocks (delete,
 * merge, rollback, shrink, remove, an automatic snapshot that evicts) free
 * only blocks that no active, unsuspended device maps; they first wait for
 * the bios admitted before them (dmrow_pool_begin_freeing()), after which
 * no bio can reach those blocks, and free them without quarantine.  Within
 * one transaction the data space map never reuses a freed block anyway
 * (the committed state still points at it).
 *
 * Flushes.  A flush from a disk whose changes are all committed, with no
 * acknowledged write of its own waiting to be mapped, needs only the data
 * device's cache flushed: map() sends it straight down, as dm-linear would,
 * and a REQ_FUA write in place goes down with FUA (disk_committed()).
 * Another disk's writes waiting to be mapped do not hold it back: they
 * change only that disk's tree and the blocks given to it, none of which
 * the flushing disk's committed mappings point at, and that disk's own
 * flush still waits for them to be mapped and committed.  Such a
 * flush covers every write completed before it, in place or in a new
 * block whose mapping is committed.  The disk counts as committed only
 * after the superblock is written, so a flush racing a commit goes to the
 * worker; a commit that fails leaves the disk uncommitted, and a failure
 * that drops the transaction is flagged before the abort.  The other
 * flushes of one worker pass are answered together: by a commit if one of
 * their disks has uncommitted mappings, else by one flush of the data
 * device (if a write completed since its last flush), else at once.  A
 * write acknowledged before the flush was sent has completed, so it marked
 * the data device unflushed, and if it went to a new block it is mapped.
 * Any other FUA write is sent without FUA and completed after the commit
 * that follows it (which flushes the data device first).  Without flushes
 * the worker commits about once a second.
 *
 * Metadata between commits.  A mapping that fails half way for lack of
 * metadata can only be undone by aborting the transaction, and with it
 * every write acknowledged since the last commit.  So the worker maps
 * written blocks only while the metadata the transaction can still
 * allocate covers the batch at its worst on top of the reserve (see "The
 * metadata reserve" in dm-row-metadata.c); what does not fit is refused
 * before anything changed and waits for a commit.  That commit is an
 * ordinary one (data flushed, then metadata, then the superblock) and may
 * include mappings of writes not yet acknowledged: their data is written
 * and flushed first, and an unacknowledged write may persist or not.  When
 * nothing fits right after a commit the writes fail with ENOSPC, never
 * acknowledged, and the pool goes read-only with metadata_low.
 *
 * Snapshots under load.  A snapshot must hold every write acknowledged
 * before it and none that was judged unshared before it but lands after.
 * A redirected write is mapped before it is acknowledged, and one in flight
 * is mapped after the snapshot into the live tree only.  An in-place write
 * judged before the snapshot would land in a block the snapshot now shares:
 * so the snapshot message gates its disks (map() sends their new in-place
 * writes to the worker, behind the message), waits for their in-place
 * writes in flight (counted per CPU: inplace_write_admit()), shares the
 * live trees, lifts the gate and commits once.  Reads and other disks
 * never wait.
 */
#include <linux/blkdev.h>
#include <linux/dm-kcopyd.h>
#include <linux/err.h>
#include <linux/hash.h>
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/lockdep.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "dm-row-pool.h"
#include "dm-row-block-manager-kernel.h"
#include "dm-row-map-cache.h"

#define DM_MSG_PREFIX "row-pool"

#define PENDING_BUCKETS		256
#define COMMIT_PERIOD		HZ
/* The most blocks the fast path looks up for one bio (4 MiB of 4 KiB blocks). */
#define FAST_RUN_MAX_BLOCKS	1024
#define DEFAULT_CACHE_BLOCKS	1024

/* The most memory one live disk's mapping cache may use (dm-row-map-cache.c). */
static unsigned int map_cache_mb = 32;
module_param(map_cache_mb, uint, 0644);
MODULE_PARM_DESC(map_cache_mb,
		 "Most MiB the mapping cache of each live disk uses, fixed when its table is loaded (0: none)");

/* New-block writes mapped together, under one metadata lock. */
#define PREPARED_BATCH		32

/* Most blocks one new-block write takes from the stash at once. */
#define REDIRECT_RUN_MAX	64

/* Quarantined blocks past which the worker waits rather than hold more. */
#define QUARANTINE_MAX		65536

/* dmrow_bio_ctx.flags */
#define CTX_EPOCH		(1U << 0)	/* admitted to ctx->epoch */
#define CTX_PENDING		(1U << 1)	/* owns the block's pending entry */
#define CTX_NEW_BLOCK		(1U << 2)	/* written to a reserved block, mapped when done */
#define CTX_COMMIT		(1U << 3)	/* FUA: complete after a commit */
#define CTX_INPLACE		(1U << 4)	/* counted in its disk's inplace_writes */
#define CTX_EARLY_ACK		(1U << 5)	/* promised: acknowledged once written */

/* Promised mappings the worker keeps at hand for map()'s redirects. */
#define ACK_CREDITS		DMROW_POOL_STASH_SIZE

/* Reserved blocks the worker keeps at hand for map(), and when it refills. */
#define STASH_SIZE		DMROW_POOL_STASH_SIZE
#define STASH_LOW		(STASH_SIZE / 2)

static DEFINE_MUTEX(pool_table_lock);
static LIST_HEAD(pool_table);

static struct dmrow_bio_ctx *bio_ctx(struct bio *bio)
{
	return dm_per_bio_data(bio, sizeof(struct dmrow_bio_ctx));
}

/* Data blocks that can be handed out: neither counted nor held. */
static u64 data_free(const struct dmrow_pool_info *info)
{
	u64 taken = info->data_used + info->data_held;

	return taken < info->data_blocks ? info->data_blocks - taken : 0;
}

static void wake_worker(struct dmrow_pool *pool)
{
	queue_work(pool->wq, &pool->worker);
}

void dmrow_pool_wake(struct dmrow_pool *pool)
{
	wake_worker(pool);
}

void dmrow_pool_wake_later(struct dmrow_pool *pool, unsigned long delay)
{
	queue_delayed_work(pool->wq, &pool->delayed_wake, delay);
}

static void do_delayed_wake(struct work_struct *ws)
{
	wake_worker(container_of(to_delayed_work(ws), struct dmrow_pool, delayed_wake));
}

/*----------------------------------------------------------------
 * Modes
 *--------------------------------------------------------------*/

enum pool_mode dmrow_pool_mode(struct dmrow_pool *pool)
{
	enum pool_mode mode;
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	mode = pool->mode;
	spin_unlock_irqrestore(&pool->lock, flags);
	return mode;
}

/* What a message may read of its pool: see dm-row-control.h. */
bool dmrow_pool_metadata_low(struct dmrow_pool *pool)
{
	return pool->metadata_low;
}

struct dmrow_metadata *dmrow_pool_metadata(struct dmrow_pool *pool)
{
	return pool->md;
}

unsigned int dmrow_pool_block_shift(struct dmrow_pool *pool)
{
	return pool->block_shift;
}

static void raise_event(struct dmrow_pool *pool)
{
	if (pool->ti)
		dm_table_event(pool->ti->table);
}

void dmrow_pool_raise_event(struct dmrow_pool *pool)
{
	raise_event(pool);
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
	if (!dmrow_mode_may_change(old, mode)) {
		spin_unlock_irqrestore(&pool->lock, flags);
		return;
	}
	pool->mode = mode;
	if (mode >= POOL_READ_ONLY) {
		bio_list_merge(&failed, &pool->retry_on_space);
		bio_list_init(&pool->retry_on_space);
	}
	spin_unlock_irqrestore(&pool->lock, flags);

	dmrow_mode_entered(pool->md, mode, pool->metadata_low);
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
 * read-only (or fail, if even the last commit cannot be reloaded), as
 * dmrow_mode_after_failure() decides.
 */
void dmrow_pool_metadata_failed(struct dmrow_pool *pool, const char *op, int r)
{
	enum pool_mode mode;
	int needs_check_error;

	DMERR_LIMIT("%pg: metadata operation '%s' failed: error = %d",
		    pool->metadata_bdev, op, r);
	/* Before the abort makes every disk look committed: see disk_committed(). */
	WRITE_ONCE(pool->transaction_dropped, true);
	mode = dmrow_mode_after_failure(pool->md, r, &pool->metadata_low, &needs_check_error);
	if (mode == POOL_FAIL)
		DMERR("%pg: cannot reload the last commit; failing the pool",
		      pool->metadata_bdev);
	else if (needs_check_error)
		DMERR("%pg: cannot set needs_check", pool->metadata_bdev);
	set_pool_mode(pool, mode);
}

/*----------------------------------------------------------------
 * Epochs, in-place writes and the pending table
 *--------------------------------------------------------------*/

/* Admit a bio that will touch a data block to the current epoch. */
static void epoch_enter(struct dmrow_pool *pool, struct dmrow_bio_ctx *ctx)
{
	if (!(ctx->flags & CTX_EPOCH)) {
		ctx->epoch = dmrow_epoch_enter(&pool->epochs);
		ctx->flags |= CTX_EPOCH;
	}
}

static void epoch_exit(struct dmrow_bio_ctx *ctx)
{
	if (ctx->flags & CTX_EPOCH) {
		ctx->flags &= ~CTX_EPOCH;
		dmrow_epoch_exit(ctx->epoch);
	}
}

static void epochs_drained(void *context)
{
	wake_worker(context);
}

/*
 * In-place writes in flight, per disk, for its snapshot gate.  They are
 * counted per CPU, so that no write touches a line shared by the CPUs,
 * and only a snapshot sums the counts (inplace_writes_sum()).
 *
 * Why a sum of zero after the gate closed means that every write admitted
 * before has completed: map() counts a write up, then (after a full
 * barrier) looks at the gate; the snapshot closes the gate, then (after a
 * full barrier) sums.  So either the write sees the gate, or the sum sees
 * its count.  A write that sees the gate counts itself down again on the
 * same CPU, preemption off, before anyone can see it complete; a write
 * admitted is counted down on whichever CPU completes it, and a sum that
 * sees that count down sees the count up too, as the write was admitted
 * before the gate closed.  Every term is then at least what it should
 * be, and the sum never falls below the writes still in flight.
 */
static bool inplace_write_admit(struct dmrow_disk_binding *db, struct dmrow_bio_ctx *ctx)
{
	bool gated;

	preempt_disable();
	this_cpu_inc(db->counts->inplace_writes);
	smp_mb();
	gated = READ_ONCE(db->writes_gated);
	if (gated)
		this_cpu_dec(db->counts->inplace_writes);
	preempt_enable();
	if (!gated)
		ctx->flags |= CTX_INPLACE;
	return !gated;
}

static void inplace_write_done(struct dmrow_pool *pool, struct dmrow_bio_ctx *ctx)
{
	struct dmrow_disk_binding *db = ctx->disk;

	if (!(ctx->flags & CTX_INPLACE))
		return;
	ctx->flags &= ~CTX_INPLACE;
	this_cpu_dec(db->counts->inplace_writes);
	/* Pairs with the gate's barrier: see dmrow_pool_gate_writes(). */
	smp_mb();
	if (READ_ONCE(db->writes_gated))
		wake_up_all(&pool->gate_wait);
}

static long inplace_writes_sum(struct dmrow_disk_binding *db)
{
	long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr(db->counts, cpu)->inplace_writes);
	return sum;
}

static struct hlist_head *pending_bucket(struct dmrow_pool *pool, u64 disk_id, u64 vblock)
{
	return &pool->pending[hash_64(vblock ^ (disk_id << 40), ilog2(PENDING_BUCKETS))];
}

/* The new-block write to this block not mapped yet, if any. */
static struct dmrow_pending *__find_pending(struct dmrow_pool *pool, u64 disk_id, u64 vblock)
{
	struct dmrow_pending *p;

	lockdep_assert_held(&pool->lock);
	if (!pool->nr_pending)
		return NULL;
	hlist_for_each_entry(p, pending_bucket(pool, disk_id, vblock), node)
		if (p->disk_id == disk_id && p->vblock == vblock)
			return p;
	return NULL;
}

/* If a new-block write to this block is not mapped yet, park @bio behind it. */
static bool wait_if_pending(struct dmrow_pool *pool, u64 disk_id, u64 vblock, struct bio *bio)
{
	struct dmrow_pending *p;
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	p = __find_pending(pool, disk_id, vblock);
	if (p)
		bio_list_add(&p->waiters, bio);
	spin_unlock_irqrestore(&pool->lock, flags);
	return p;
}

/* A new-block write to @vblock, not written yet: its entry goes in the table. */
static void __insert_pending(struct dmrow_pool *pool, struct dmrow_pending *p, u64 disk_id,
			     u64 vblock)
{
	lockdep_assert_held(&pool->lock);
	p->disk_id = disk_id;
	p->vblock = vblock;
	p->written = false;
	bio_list_init(&p->waiters);
	hlist_add_head(&p->node, pending_bucket(pool, disk_id, vblock));
	pool->nr_pending++;
}

/* @ctx's new-block write owns its block's entry in the pending table. */
static void __add_pending(struct dmrow_pool *pool, struct dmrow_bio_ctx *ctx)
{
	__insert_pending(pool, &ctx->pending, ctx->disk->disk_id, ctx->vblock);
	ctx->flags |= CTX_PENDING;
}

/* Worker: the entry goes, its waiters go back to the worker, in order. */
static void __remove_pending(struct dmrow_pool *pool, struct dmrow_pending *p)
{
	lockdep_assert_held(&pool->lock);
	hlist_del(&p->node);
	pool->nr_pending--;
	bio_list_merge(&pool->deferred, &p->waiters);
}

static void release_pending(struct dmrow_pool *pool, struct dmrow_bio_ctx *ctx)
{
	unsigned long flags;

	if (!(ctx->flags & CTX_PENDING))
		return;
	spin_lock_irqsave(&pool->lock, flags);
	__remove_pending(pool, &ctx->pending);
	spin_unlock_irqrestore(&pool->lock, flags);
	ctx->flags &= ~CTX_PENDING;
}

/*----------------------------------------------------------------
 * Writes acknowledged before they are mapped
 *--------------------------------------------------------------*/

/*
 * The count of @disk_id's written blocks not mapped yet, shared with the
 * disks whose ids hash alike: zero means none of the disk's.  Changed
 * under pool->lock; map() reads it with acquire (find_written(),
 * disk_committed()), so a bio of one disk does not wait on another's.
 */
static unsigned int *written_slot(struct dmrow_pool *pool, u64 disk_id)
{
	return &pool->nr_written[hash_64(disk_id, DMROW_WRITTEN_SLOT_BITS)];
}

/*
 * A new-block write done and acknowledged: its pending entry until mapped.
 * The pool owns one per ack credit (pool->written_entries); map_redirect()
 * gives one to each write it promises an early acknowledgement, so endio
 * allocates nothing and cannot fail for lack of memory.
 */
struct dmrow_written_block {
	struct dmrow_pending pending;
	struct list_head list;		/* in pool->written, pool->written_free or a ctx's run */
};

/* Written blocks queued past which endio wakes the worker to map them. */
#define WRITTEN_WAKE_BATCH	(2 * PREPARED_BATCH)

/*
 * Endio of a new-block write that holds a promise of room for its mapping
 * (map_redirect()): the write is done, so it is acknowledged now, and its
 * pending entry moves from the bio into the entry map_redirect() gave it,
 * with the block that holds the data, for the worker to map
 * (process_written()).  The worker is woken once a batch is queued, or
 * when bios wait behind the write, not for each write: until it maps
 * them, their entries answer for them (see "Acknowledged before mapped"),
 * and anything else that needs them mapped (a flush, a message, the
 * pool's status, a bio for the worker, the stash running low, the
 * periodic commit) runs the worker, which maps them first.
 */
static void ack_written(struct dmrow_pool *pool, struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_written_block *w = ctx->written, *run;
	unsigned int *slot, queued;
	unsigned long flags;
	bool wake;

	ctx->written = NULL;
	w->pending.disk_id = ctx->pending.disk_id;
	w->pending.vblock = ctx->pending.vblock;
	w->pending.data_block = ctx->new_block;
	w->pending.written = true;
	bio_list_init(&w->pending.waiters);

	spin_lock_irqsave(&pool->lock, flags);
	hlist_add_head(&w->pending.node,
		       pending_bucket(pool, w->pending.disk_id, w->pending.vblock));
	hlist_del(&ctx->pending.node);
	bio_list_merge(&w->pending.waiters, &ctx->pending.waiters);
	/* Bios the worker parked behind the write wait for its mapping. */
	wake = !bio_list_empty(&w->pending.waiters);
	list_add_tail(&w->list, &pool->written);
	/* The blocks after the first have their entries in the table already. */
	if (ctx->run_blocks) {
		list_for_each_entry(run, &ctx->run, list) {
			run->pending.written = true;
			wake |= !bio_list_empty(&run->pending.waiters);
		}
		list_splice_tail_init(&ctx->run, &pool->written);
	}
	queued = pool->nr_written_queued;
	pool->nr_written_queued += 1 + ctx->run_blocks;
	wake |= queued < WRITTEN_WAKE_BATCH && pool->nr_written_queued >= WRITTEN_WAKE_BATCH;
	slot = written_slot(pool, w->pending.disk_id);
	WRITE_ONCE(*slot, *slot + 1 + ctx->run_blocks);
	spin_unlock_irqrestore(&pool->lock, flags);

	this_cpu_add(ctx->disk->counts->early_acks, 1 + ctx->run_blocks);
	ctx->flags &= ~(CTX_PENDING | CTX_NEW_BLOCK | CTX_EARLY_ACK);
	ctx->run_blocks = 0;
	if (wake)
		wake_worker(pool);
}

/*
 * map_redirect(): the blocks after @ctx's first, for a write of up to @max
 * more.  Each one must be the next block of the stash (so that the write
 * goes down as one bio), have a promise and an entry at hand (it is
 * acknowledged early, as the first), and have no new-block write of its
 * own pending.  Each gets its own pending entry, in the table from now on,
 * so that it is to every reader and writer of the block what the first
 * block's entry is to the first: endio marks them written
 * (ack_written()), and the worker maps them one by one as any other
 * (process_written()), or drops them if the write failed (drop_run()).
 */
static unsigned int __take_run(struct dmrow_pool *pool, struct dmrow_bio_ctx *ctx,
			       unsigned int max)
{
	struct dmrow_written_block *w;
	u64 vblock;

	lockdep_assert_held(&pool->lock);
	INIT_LIST_HEAD(&ctx->run);
	for (ctx->run_blocks = 0; ctx->run_blocks < max; ctx->run_blocks++) {
		vblock = ctx->vblock + 1 + ctx->run_blocks;
		if (pool->stash_next == pool->stash_end ||
		    pool->stash[pool->stash_next] != ctx->new_block + 1 + ctx->run_blocks ||
		    !pool->ack_credits || list_empty(&pool->written_free) ||
		    __find_pending(pool, ctx->disk->disk_id, vblock))
			break;
		w = list_first_entry(&pool->written_free, struct dmrow_written_block, list);
		list_move_tail(&w->list, &ctx->run);
		pool->ack_credits--;
		w->pending.data_block = pool->stash[pool->stash_next++];
		__insert_pending(pool, &w->pending, ctx->disk->disk_id, vblock);
	}
	return ctx->run_blocks;
}

/*
 * Worker: a new-block write of several blocks failed: the blocks after the
 * first lose nothing that was there before, go back with their promises,
 * and the bios that waited behind them go to the worker.
 */
static void drop_run(struct dmrow_pool *pool, struct dmrow_bio_ctx *ctx)
{
	struct dmrow_written_block *w;
	unsigned int nr = ctx->run_blocks;
	LIST_HEAD(run);

	if (!nr)
		return;
	spin_lock_irq(&pool->lock);
	list_for_each_entry(w, &ctx->run, list)
		__remove_pending(pool, &w->pending);
	list_splice_init(&ctx->run, &run);
	spin_unlock_irq(&pool->lock);
	list_for_each_entry(w, &run, list)
		dmrow_md_release_data_block(pool->md, w->pending.data_block);
	dmrow_md_unpromise_io(pool->md, nr);
	spin_lock_irq(&pool->lock);
	list_splice(&run, &pool->written_free);
	spin_unlock_irq(&pool->lock);
	ctx->run_blocks = 0;
}

/*
 * map(), a read of a live disk: a block with a write acknowledged but not
 * mapped yet is read from that write's block, not the one its mapping
 * names (writes: see "Acknowledged before mapped" above).  Looked at
 * before the mapping: the worker maps a written block, then removes its
 * entry (and uncounts it in its disk's slot with release), so a block
 * found in neither place was mapped before the lookup that follows.
 * *@run is cut before the first such block after @ctx->vblock; true if
 * @ctx->vblock is one, its data in *@block.
 */
static bool find_written(struct dmrow_pool *pool, struct dmrow_bio_ctx *ctx, unsigned int *run,
			 u64 *block)
{
	struct dmrow_pending *p;
	unsigned long flags;
	bool found = false;
	unsigned int i;

	if (!smp_load_acquire(written_slot(pool, ctx->disk->disk_id)))
		return false;
	spin_lock_irqsave(&pool->lock, flags);
	for (i = 0; i < *run; i++) {
		p = __find_pending(pool, ctx->disk->disk_id, ctx->vblock + i);
		if (p && p->written) {
			found = !i;
			*block = p->data_block;
			*run = i ? i : 1;
			break;
		}
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	return found;
}

/*
 * Worker: map the written blocks acknowledged so far.  Their room was
 * promised, so the reserve refuses none; what still fails (the disk was
 * removed or shrunk under the write, the metadata failed) loses the write
 * as a crash before the next flush would, and gives its block back.
 * Called before anything that must see every acknowledged write in the
 * trees: messages, bios the worker looks up, flushes.
 */
static void process_written(struct dmrow_pool *pool)
{
	struct dmrow_new_mapping maps[PREPARED_BATCH];
	struct dmrow_written_block *batch[PREPARED_BATCH], *w;
	unsigned int nr, i, lost = 0;
	bool waiters = false;
	LIST_HEAD(written);
	int r;

	spin_lock_irq(&pool->lock);
	list_splice_init(&pool->written, &written);
	pool->nr_written_queued = 0;
	spin_unlock_irq(&pool->lock);

	while (!list_empty(&written)) {
		for (nr = 0; nr < PREPARED_BATCH && !list_empty(&written); nr++) {
			w = list_first_entry(&written, struct dmrow_written_block, list);
			list_del(&w->list);
			batch[nr] = w;
			maps[nr] = (struct dmrow_new_mapping){
				.disk_id = w->pending.disk_id,
				.vblock = w->pending.vblock,
				.data_block = w->pending.data_block,
				.promised = true,
			};
		}
		r = dmrow_md_insert_blocks(pool->md, maps, nr);
		if (r && r != -EROFS)
			dmrow_pool_metadata_failed(pool, "insert mapping", r);

		spin_lock_irq(&pool->lock);
		for (i = 0; i < nr; i++) {
			unsigned int *slot = written_slot(pool, batch[i]->pending.disk_id);

			waiters |= !bio_list_empty(&batch[i]->pending.waiters);
			__remove_pending(pool, &batch[i]->pending);
			/* After the mappings: see find_written(). */
			smp_store_release(slot, *slot - 1);
			list_add(&batch[i]->list, &pool->written_free);
		}
		spin_unlock_irq(&pool->lock);

		for (i = 0; i < nr; i++) {
			if (r || maps[i].result) {
				lost++;
				dmrow_md_release_data_block(pool->md, maps[i].data_block);
			}
		}
		cond_resched();
	}
	if (lost)
		DMERR_LIMIT("%pg: %u acknowledged writes could not be mapped",
			    pool->metadata_bdev, lost);
	if (waiters)
		wake_worker(pool);
}

/* Worker: give back the promises map() has not taken (metadata is short). */
static bool give_back_ack_credits(struct dmrow_pool *pool)
{
	unsigned int nr;

	spin_lock_irq(&pool->lock);
	nr = pool->ack_credits;
	pool->ack_credits = 0;
	spin_unlock_irq(&pool->lock);
	if (nr)
		dmrow_md_unpromise_io(pool->md, nr);
	return nr;
}

/* Worker: keep promised mappings at hand for map()'s redirects. */
static void refill_ack_credits(struct dmrow_pool *pool)
{
	unsigned int want, granted;

	spin_lock_irq(&pool->lock);
	want = ACK_CREDITS - pool->ack_credits;
	spin_unlock_irq(&pool->lock);
	if (want < ACK_CREDITS / 2 || dmrow_md_promise_io(pool->md, want, &granted))
		return;
	spin_lock_irq(&pool->lock);
	pool->ack_credits += granted;
	spin_unlock_irq(&pool->lock);
}

/*----------------------------------------------------------------
 * Reserved blocks at hand for map()
 *--------------------------------------------------------------*/

/*
 * The worker keeps a run of reserved blocks (dmrow_md_alloc_data_blocks():
 * held, not counted) for map() to take, so that a whole-block write to a
 * shared or unmapped block needs the worker only to be mapped once done.
 * The next-fit allocator hands them out in ascending order, so sequential
 * writes land on consecutive data blocks.  Only a pool in write mode with
 * room to spare keeps them; when space runs short they go back first.
 */
static void refill_stash(struct dmrow_pool *pool)
{
	struct dmrow_pool_info info;
	bool committed = false;
	unsigned int nr, got;
	u64 blocks[32];
	int r;

	if (pool->mode != POOL_WRITE || READ_ONCE(pool->suspended))
		return;
	refill_ack_credits(pool);
	spin_lock_irq(&pool->lock);
	nr = pool->stash_end - pool->stash_next;
	if (nr < STASH_LOW && pool->stash_next) {
		memmove(pool->stash, pool->stash + pool->stash_next, nr * sizeof(*pool->stash));
		pool->stash_next = 0;
		pool->stash_end = nr;
	}
	nr = pool->stash_end;
	spin_unlock_irq(&pool->lock);
	if (nr >= STASH_LOW || dmrow_md_pool_info(pool->md, &info) ||
	    data_free(&info) < pool->cfg.low_water_blocks + 4 * STASH_SIZE)
		return;

	/* In runs: one metadata lock and one look at the space map for many. */
	while (nr < STASH_SIZE) {
		r = dmrow_md_alloc_data_blocks(pool->md, blocks,
					       min_t(unsigned int, STASH_SIZE - nr,
						     ARRAY_SIZE(blocks)), &got);
		if (r == -EAGAIN && nr < STASH_LOW && !committed) {
			/* Only this transaction's frees are left: they come back with a commit. */
			committed = true;
			if (!dmrow_pool_commit(pool))
				continue;
		}
		if (r)
			break;		/* -ENOSPC and the like: the worker path will say */
		spin_lock_irq(&pool->lock);
		memcpy(pool->stash + pool->stash_end, blocks, got * sizeof(*blocks));
		pool->stash_end += got;
		spin_unlock_irq(&pool->lock);
		nr += got;
	}
}

/* Worker: give the reserved blocks at hand back (space is short). */
static bool drain_stash(struct dmrow_pool *pool)
{
	unsigned int nr, i, drained = 0;
	u64 blocks[32];

	/* From the end, a few at a time: map() may still take from the front. */
	do {
		spin_lock_irq(&pool->lock);
		nr = min_t(unsigned int, pool->stash_end - pool->stash_next, ARRAY_SIZE(blocks));
		pool->stash_end -= nr;
		memcpy(blocks, pool->stash + pool->stash_end, nr * sizeof(*blocks));
		if (pool->stash_end == pool->stash_next)
			pool->stash_next = pool->stash_end = 0;
		spin_unlock_irq(&pool->lock);
		for (i = 0; i < nr; i++)
			dmrow_md_release_data_block(pool->md, blocks[i]);
		drained += nr;
	} while (nr);
	return drained;
}

/*----------------------------------------------------------------
 * Quarantine: blocks freed under I/O
 *--------------------------------------------------------------*/

/*
 * Worker.  A drained epoch frees the blocks quarantined before it closed,
 * and the discards that freed them complete: a discard is done when its
 * blocks are free.
 */
static void reap_epoch(struct dmrow_pool *pool)
{
	if (!dmrow_epochs_reap(&pool->epochs))
		return;
	if (dmrow_md_nr_quarantined(pool->md, true)) {
		dmrow_md_release_sealed(pool->md);
		dmrow_pool_space_freed(pool);
	}
	error_bio_list(&pool->sealed_discards, BLK_STS_OK);
}

/* Worker: what is quarantined so far waits for the epoch closed now. */
static void seal_and_close(struct dmrow_pool *pool)
{
	dmrow_md_seal_quarantine(pool->md);
	bio_list_merge(&pool->sealed_discards, &pool->quarantine_discards);
	bio_list_init(&pool->quarantine_discards);
	dmrow_epochs_close(&pool->epochs);
}

/*
 * Worker, at the end of a pass: blocks quarantined in it wait for the bios
 * admitted before them, which the closing of the current epoch delimits.
 * Only one epoch closes at a time; should the quarantine grow past its
 * bound meanwhile, the worker waits for the closing one rather than hold
 * more blocks.
 */
static void schedule_quarantine(struct dmrow_pool *pool)
{
	unsigned int nr = dmrow_md_nr_quarantined(pool->md, false);

	if (!nr) {
		/* Discards that freed nothing are done. */
		error_bio_list(&pool->quarantine_discards, BLK_STS_OK);
		return;
	}
	if (dmrow_epochs_closing(&pool->epochs)) {
		if (nr < QUARANTINE_MAX)
			return;
		dmrow_epochs_wait_drained(&pool->epochs);
		reap_epoch(pool);
	}
	seal_and_close(pool);
}

/* Worker: every bio admitted before now has completed when this returns. */
static void wait_for_earlier_io(struct dmrow_pool *pool)
{
	dmrow_epochs_wait_drained(&pool->epochs);
	reap_epoch(pool);
	seal_and_close(pool);
	dmrow_epochs_wait_drained(&pool->epochs);
	reap_epoch(pool);
}

void dmrow_pool_begin_freeing(struct dmrow_pool *pool)
{
	wait_for_earlier_io(pool);
	dmrow_md_quarantine_frees(pool->md, false);
}

void dmrow_pool_end_freeing(struct dmrow_pool *pool)
{
	dmrow_md_quarantine_frees(pool->md, true);
}

/*----------------------------------------------------------------
 * Snapshot gates
 *--------------------------------------------------------------*/

static bool __disk_gated(struct dmrow_pool *pool, u64 disk_id)
{
	unsigned int i;

	lockdep_assert_held(&pool->lock);
	for (i = 0; i < pool->nr_gated; i++)
		if (pool->gated_disks[i] == disk_id)
			return true;
	return false;
}

static bool gated_writes_in_flight(struct dmrow_pool *pool)
{
	struct dmrow_disk_binding *db;
	bool busy = false;

	spin_lock_irq(&pool->lock);
	list_for_each_entry(db, &pool->disks, list)
		if (db->writes_gated && inplace_writes_sum(db))
			busy = true;
	spin_unlock_irq(&pool->lock);
	return busy;
}

void dmrow_pool_gate_writes(struct dmrow_pool *pool, const u64 *disks, unsigned int nr)
{
	struct dmrow_disk_binding *db;

	spin_lock_irq(&pool->lock);
	pool->gated_disks = disks;
	pool->nr_gated = nr;
	list_for_each_entry(db, &pool->disks, list)
		if (!db->snap_id && __disk_gated(pool, db->disk_id))
			WRITE_ONCE(db->writes_gated, true);
	spin_unlock_irq(&pool->lock);
	/*
	 * Pairs with the barriers of inplace_write_admit() (close, then sum)
	 * and inplace_write_done() (count down, then look for a waiter).
	 */
	smp_mb();
	wait_event(pool->gate_wait, !gated_writes_in_flight(pool));
}

void dmrow_pool_release_writes(struct dmrow_pool *pool)
{
	struct dmrow_disk_binding *db;

	spin_lock_irq(&pool->lock);
	list_for_each_entry(db, &pool->disks, list)
		WRITE_ONCE(db->writes_gated, false);
	pool->gated_disks = NULL;
	pool->nr_gated = 0;
	spin_unlock_irq(&pool->lock);
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

	/*
	 * Written data is what the next flush or commit must make durable;
	 * a failed write may have left part of itself in the device's cache.
	 */
	if (op_is_write(bio_op(bio)) && !atomic_read(&pool->data_unflushed))
		atomic_set(&pool->data_unflushed, 1);
	inplace_write_done(pool, ctx);
	epoch_exit(ctx);

	if ((ctx->flags & CTX_EARLY_ACK) && !bio->bi_status) {
		ack_written(pool, bio);
		bio_endio(bio);
		return;
	}
	if (ctx->flags & CTX_NEW_BLOCK) {
		/* Mapped on the worker, then completed: see process_prepared(). */
		spin_lock_irqsave(&pool->lock, flags);
		if (ctx->written) {
			/* Failed: its promise is spent there, its entry goes back. */
			list_add(&ctx->written->list, &pool->written_free);
			ctx->written = NULL;
		}
		bio_list_add(&pool->prepared, bio);
		spin_unlock_irqrestore(&pool->lock, flags);
		wake_worker(pool);
		return;
	}
	if (!bio->bi_status && (ctx->flags & CTX_COMMIT)) {
		spin_lock_irqsave(&pool->lock, flags);
		bio_list_add(&pool->commit_waiters, bio);
		spin_unlock_irqrestore(&pool->lock, flags);
		wake_worker(pool);
		return;
	}
	bio_endio(bio);
}

static void hook(struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);

	ctx->saved_end_io = bio->bi_end_io;
	ctx->saved_private = bio->bi_private;
	bio->bi_end_io = pool_endio;
}

static void remap(struct dmrow_pool *pool, struct bio *bio, u64 block)
{
	sector_t offset = bio->bi_iter.bi_sector & (pool->cfg.block_sectors - 1);

	bio_set_dev(bio, pool->data_bdev);
	bio->bi_iter.bi_sector = (block << pool->block_shift) | offset;
}

/* Send @bio to data block @block, in the current epoch. */
static void issue(struct dmrow_pool *pool, struct bio *bio, u64 block)
{
	epoch_enter(pool, bio_ctx(bio));
	remap(pool, bio, block);
	hook(bio);
	dm_submit_bio_remap(bio, NULL);
}

/* A write to a block the live head holds alone: counted for snapshots. */
static void issue_in_place(struct dmrow_pool *pool, struct bio *bio, u64 block)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);

	/* The worker closes the gates itself: this one is open. */
	this_cpu_inc(ctx->disk->counts->inplace_writes);
	ctx->flags |= CTX_INPLACE;
	issue(pool, bio, block);
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
	if (data_free(&info) && pool->mode == POOL_OUT_OF_DATA_SPACE) {
		cancel_delayed_work(&pool->no_space_timeout);
		spin_lock_irqsave(&pool->lock, flags);
		pool->no_space_timed_out = false;
		bio_list_merge(&pool->deferred, &pool->retry_on_space);
		bio_list_init(&pool->retry_on_space);
		spin_unlock_irqrestore(&pool->lock, flags);
		set_pool_mode(pool, POOL_WRITE);
		wake_worker(pool);
	}
	if (data_free(&info) > pool->cfg.low_water_blocks)
		pool->low_water_signalled = false;
}

static void check_low_water(struct dmrow_pool *pool)
{
	struct dmrow_pool_info info;

	if (pool->low_water_signalled || dmrow_md_pool_info(pool->md, &info))
		return;
	if (data_free(&info) <= pool->cfg.low_water_blocks) {
		DMWARN("%pg: reached low water mark for data device: sending event",
		       pool->metadata_bdev);
		pool->low_water_signalled = true;
		raise_event(pool);
	}
}

/* Metadata space below this many blocks: the pool stops taking new blocks. */
static u64 metadata_reserve(struct dmrow_pool_info *info)
{
	return dmrow_metadata_reserve(info->metadata_blocks);
}

static void enter_metadata_low(struct dmrow_pool *pool, u64 free)
{
	DMWARN("%pg: metadata space low (%llu blocks free): no new blocks until space is freed",
	       pool->metadata_bdev, (unsigned long long)free);
	pool->metadata_low = true;
	set_pool_mode(pool, POOL_READ_ONLY);
}

/* Worker: right after a commit, the I/O path still met the reserve. */
static void metadata_reserve_reached(struct dmrow_pool *pool)
{
	struct dmrow_pool_info info;

	if (pool->metadata_low || dmrow_md_pool_info(pool->md, &info))
		return;
	enter_metadata_low(pool, info.metadata_blocks - info.metadata_used);
}

static void check_metadata_space(struct dmrow_pool *pool)
{
	struct dmrow_pool_info info;
	u64 free;

	if (dmrow_md_pool_info(pool->md, &info))
		return;
	free = info.metadata_blocks - info.metadata_used;
	if (!pool->metadata_low && free < metadata_reserve(&info)) {
		enter_metadata_low(pool, free);
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

/*
 * Every mapping in the open transaction points at data whose write has
 * completed (new blocks are mapped only then), so a commit waits for no
 * I/O: it flushes the data device if a write completed since its last
 * flush, then commits the metadata.
 */
int dmrow_pool_flush_data(struct dmrow_pool *pool)
{
	int r = 0;

	if (atomic_xchg(&pool->data_unflushed, 0)) {
		r = blkdev_issue_flush(pool->data_bdev);
		if (r)
			atomic_set(&pool->data_unflushed, 1);
	}
	return r;
}

/*
 * What may be committed, and what a failed commit does to the pool, is
 * the commit rule's (dmrow_mode_commit()): a failed pool commits nothing,
 * and one read-only after a failure fails every flush.
 */
int dmrow_pool_commit(struct dmrow_pool *pool)
{
	struct bio_list waiters = BIO_EMPTY_LIST;
	bool failed;
	int r = 0;

	spin_lock_irq(&pool->lock);
	bio_list_merge(&waiters, &pool->commit_waiters);
	bio_list_init(&pool->commit_waiters);
	spin_unlock_irq(&pool->lock);

	/*
	 * Data first: the mappings about to be committed point at it, and a
	 * flush must make acknowledged writes durable.  Nothing written since
	 * the last data flush, nothing to flush; a failed pool flushes nothing.
	 */
	if (pool->mode < POOL_FAIL)
		r = dmrow_pool_flush_data(pool);
	if (!r) {
		r = dmrow_mode_commit(pool->md, pool->mode, pool->metadata_low, &failed);
		if (failed)
			dmrow_pool_metadata_failed(pool, "commit", r);
	}
	pool->last_commit = jiffies;
	error_bio_list(&waiters, r ? BLK_STS_IOERR : BLK_STS_OK);
	if (!r) {
		check_metadata_space(pool);
		/* Blocks freed in the transaction are free now. */
		if (!bio_list_empty(&pool->retry_on_space))
			dmrow_pool_space_freed(pool);
	}
	return r;
}

/*----------------------------------------------------------------
 * The I/O path (worker)
 *--------------------------------------------------------------*/

static void fail_bio(struct bio *bio, blk_status_t status)
{
	bio->bi_status = status;
	bio_endio(bio);
}

static void copy_done(int read_err, unsigned long write_err, void *context)
{
	struct bio *bio = context;
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_pool *pool = ctx->disk->pool;

	if (read_err || write_err) {
		/* The write never reached the block: fail it through the endio. */
		remap(pool, bio, ctx->new_block);
		hook(bio);
		fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	issue(pool, bio, ctx->new_block);
}

/* Does @vblock of the disk read from its external origin while unmapped? */
static bool in_origin(struct dmrow_disk_binding *db, u64 vblock)
{
	return db->origin_bdev && vblock < READ_ONCE(db->origin_blocks);
}

/*
 * A write that does not cover its block: fill the rest of the fresh block
 * first, from the old block, the external origin or with zeroes.  The
 * bio's epoch covers the copy's read of the old block.
 */
static void prepare_partial_block(struct dmrow_pool *pool, struct bio *bio,
				  u64 old_block, u64 new_block)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dm_io_region to = {
		.bdev = pool->data_bdev,
		.sector = new_block << pool->block_shift,
		.count = pool->cfg.block_sectors,
	};
	struct dm_io_region from = to;

	epoch_enter(pool, ctx);
	if (old_block != DMROW_UNMAPPED) {
		from.sector = old_block << pool->block_shift;
		dm_kcopyd_copy(pool->copier, &from, 1, &to, 0, copy_done, bio);
	} else if (in_origin(ctx->disk, ctx->vblock)) {
		from.bdev = ctx->disk->origin_bdev;
		from.sector = ctx->vblock << pool->block_shift;
		dm_kcopyd_copy(pool->copier, &from, 1, &to, 0, copy_done, bio);
	} else {
		dm_kcopyd_zero(pool->copier, 1, &to, 0, copy_done, bio);
	}
}

/*
 * A read of blocks no image maps, below the disk's external origin: the
 * origin's blocks are the image's (its sectors are the disk's), and it is
 * never written, so no epoch guards the read.
 */
static void read_origin(struct dmrow_disk_binding *db, struct bio *bio)
{
	bio_set_dev(bio, db->origin_bdev);
	dm_submit_bio_remap(bio, NULL);
}

static bool covers_block(struct dmrow_pool *pool, struct bio *bio)
{
	return bio->bi_iter.bi_size == (pool->cfg.block_sectors << SECTOR_SHIFT);
}

/*
 * A read needs no wait for a new-block write to its block in flight: until
 * that write is mapped (and only then acknowledged) the old block is the
 * block's content, and the old block cannot be reused under the read (it
 * is quarantined if the mapping frees it).
 */
static void process_read(struct dmrow_pool *pool, struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_disk_binding *db = ctx->disk;
	struct dmrow_mapping m;
	int r;

	/* In the epoch before the lookup: what it finds cannot be freed under it. */
	epoch_enter(pool, ctx);
	r = dmrow_md_find_block(pool->md, db->disk_id, db->snap_id, ctx->vblock, &m);
	if (r == -ENODATA && in_origin(db, ctx->vblock)) {
		epoch_exit(ctx);
		read_origin(db, bio);
	} else if (r == -ENODATA) {
		epoch_exit(ctx);
		zero_fill_bio(bio);
		bio_endio(bio);
	} else if (r == -ENOENT) {
		/* The disk or snapshot is gone (deleted under an active device). */
		epoch_exit(ctx);
		fail_bio(bio, BLK_STS_IOERR);
	} else if (r) {
		DMERR_LIMIT("%pg: lookup of block %llu failed: %d", pool->metadata_bdev,
			    (unsigned long long)ctx->vblock, r);
		epoch_exit(ctx);
		fail_bio(bio, BLK_STS_IOERR);
	} else {
		issue(pool, bio, m.data_block);
	}
}

int dmrow_pool_alloc_data_block(struct dmrow_pool *pool, u64 *block)
{
	int r = dmrow_md_alloc_data_block(pool->md, block);

	/* The blocks kept for map() go back before the pool has no space. */
	if ((r == -ENOSPC || r == -EAGAIN) && drain_stash(pool))
		r = dmrow_md_alloc_data_block(pool->md, block);
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
	struct dmrow_pending *parked;
	struct dmrow_mapping m;
	u64 new_block, old_block;
	int r;

	if (db->snap_id) {
		fail_bio(bio, BLK_STS_IOERR);	/* snapshots are read-only */
		return;
	}
	/* Writes to one block stay in order behind a new-block write. */
	if (wait_if_pending(pool, db->disk_id, ctx->vblock, bio))
		return;

	epoch_enter(pool, ctx);
	r = dmrow_md_find_block(pool->md, db->disk_id, 0, ctx->vblock, &m);
	if (r == -ENOENT) {
		epoch_exit(ctx);
		fail_bio(bio, BLK_STS_IOERR);	/* the disk was removed */
		return;
	}
	if (r && r != -ENODATA) {
		DMERR_LIMIT("%pg: lookup of block %llu failed: %d", pool->metadata_bdev,
			    (unsigned long long)ctx->vblock, r);
		epoch_exit(ctx);
		fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	if (!r && !m.shared) {
		/*
		 * In place.  A FUA write whose mapping is committed is durable
		 * when the device says so; otherwise the commit that maps it
		 * completes it (and flushes the data device first).
		 */
		if ((bio->bi_opf & REQ_FUA) && dmrow_md_disk_uncommitted(pool->md, db->disk_id)) {
			ctx->flags |= CTX_COMMIT;
			bio->bi_opf &= ~REQ_FUA;
		}
		issue_in_place(pool, bio, m.data_block);
		return;
	}

	old_block = r ? DMROW_UNMAPPED : m.data_block;

	if (pool->mode >= POOL_READ_ONLY) {
		epoch_exit(ctx);
		fail_bio(bio, pool->metadata_low ? BLK_STS_NOSPC : BLK_STS_IOERR);
		return;
	}
	r = dmrow_pool_alloc_data_block(pool, &new_block);
	if (r == -ENOSPC) {
		epoch_exit(ctx);
		no_space(pool, bio);
		return;
	}
	if (r) {
		epoch_exit(ctx);
		dmrow_pool_metadata_failed(pool, "allocate data block", r);
		fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	check_low_water(pool);

	/* map() may have redirected a write to this block meanwhile: then wait for it. */
	spin_lock_irq(&pool->lock);
	parked = __find_pending(pool, db->disk_id, ctx->vblock);
	if (parked)
		bio_list_add(&parked->waiters, bio);
	else
		__add_pending(pool, ctx);
	spin_unlock_irq(&pool->lock);
	if (parked) {
		epoch_exit(ctx);
		dmrow_md_release_data_block(pool->md, new_block);
		return;
	}
	/* Mapped once written: the commit that maps it completes a FUA write. */
	if (bio->bi_opf & REQ_FUA) {
		ctx->flags |= CTX_COMMIT;
		bio->bi_opf &= ~REQ_FUA;
	}
	ctx->flags |= CTX_NEW_BLOCK;
	ctx->new_block = new_block;
	this_cpu_inc(db->counts->new_block_writes);
	if (covers_block(pool, bio)) {
		issue(pool, bio, new_block);
		return;
	}
	if (old_block == DMROW_UNMAPPED && !in_origin(db, ctx->vblock))
		this_cpu_inc(db->counts->partial_zero_fills);
	else
		this_cpu_inc(db->counts->partial_copies);
	prepare_partial_block(pool, bio, old_block, new_block);
}

/* Worker: a new-block write mapped (@r 0) or not: let it and its waiters go. */
static void complete_prepared(struct dmrow_pool *pool, struct bio *bio, int r)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);

	if (r) {
		/* A failed write loses nothing that was there before it. */
		dmrow_md_release_data_block(pool->md, ctx->new_block);
		if (!bio->bi_status)
			bio->bi_status = r == -ENOSPC || (r == -EROFS && pool->metadata_low) ?
					 BLK_STS_NOSPC : BLK_STS_IOERR;
	}
	release_pending(pool, ctx);
	drop_run(pool, ctx);		/* only a failed write has one here */
	ctx->flags &= ~CTX_NEW_BLOCK;
	if (!bio->bi_status && (ctx->flags & CTX_COMMIT)) {
		spin_lock_irq(&pool->lock);
		bio_list_add(&pool->commit_waiters, bio);
		spin_unlock_irq(&pool->lock);
	} else {
		bio_endio(bio);
	}
}

/*
 * The metadata reserve (see dm-row-metadata.c): a mapping that could take
 * metadata kept back is refused, unchanged.  Refusal goes by the worst
 * case, which real changes rarely reach, so first try the refused ones
 * again as they are (what the admitted ones really took is known now);
 * when none fits, commit, which gives back the blocks the transaction
 * shadowed away, and try again.  When not one fits right after a commit,
 * the pool stops taking new blocks (metadata_low) and the writes fail
 * with ENOSPC, never acknowledged: nothing acknowledged is lost.
 */
static unsigned int refused_for_reserve(struct dmrow_new_mapping *maps, unsigned int nr)
{
	unsigned int i, refused = 0;

	for (i = 0; i < nr; i++)
		refused += maps[i].result == -ENOSPC;
	return refused;
}

static int insert_refused(struct dmrow_pool *pool, struct dmrow_new_mapping *maps,
			  unsigned int nr)
{
	struct dmrow_new_mapping again[PREPARED_BATCH];
	unsigned int i, n, refused = refused_for_reserve(maps, nr);
	bool just_committed = false;
	int r;

	while (refused) {
		for (i = 0, n = 0; i < nr; i++) {
			if (maps[i].result != -ENOSPC)
				continue;
			again[n] = maps[i];
			again[n++].result = 0;
		}
		r = dmrow_md_insert_blocks(pool->md, again, n);
		if (r)
			return r;
		for (i = 0, n = 0; i < nr; i++)
			if (maps[i].result == -ENOSPC)
				maps[i].result = again[n++].result;
		n = refused_for_reserve(maps, nr);
		if (n < refused) {
			refused = n;
			just_committed = false;
			continue;
		}
		if (just_committed) {
			/* Unused promises first; then the reserve is reached. */
			if (give_back_ack_credits(pool))
				continue;
			metadata_reserve_reached(pool);
			return 0;
		}
		r = dmrow_pool_commit(pool);
		if (r)
			return r;
		just_committed = true;
	}
	return 0;
}

/*
 * New-block writes whose data write has completed: map them, let the bios
 * that waited behind them go, and complete them (a FUA one after the next
 * commit).  Mapping may free the block the write replaced; quarantine
 * keeps it from reuse while a bio admitted earlier may still read it.
 */
static void process_prepared(struct dmrow_pool *pool)
{
	struct dmrow_new_mapping maps[PREPARED_BATCH];
	struct bio *batch[PREPARED_BATCH];
	struct bio_list bios = BIO_EMPTY_LIST;
	unsigned int nr, i;
	struct bio *bio;
	int r;

	spin_lock_irq(&pool->lock);
	bio_list_merge(&bios, &pool->prepared);
	bio_list_init(&pool->prepared);
	spin_unlock_irq(&pool->lock);

	while (!bio_list_empty(&bios)) {
		/* The written ones of a batch are mapped together. */
		for (nr = 0; nr < PREPARED_BATCH && (bio = bio_list_pop(&bios)); nr++) {
			struct dmrow_bio_ctx *ctx = bio_ctx(bio);

			batch[nr] = bio;
			maps[nr].disk_id = ctx->disk->disk_id;
			maps[nr].vblock = ctx->vblock;
			maps[nr].data_block = ctx->new_block;
			maps[nr].result = bio->bi_status ? -EIO : 0;
			maps[nr].promised = ctx->flags & CTX_EARLY_ACK;
			ctx->flags &= ~CTX_EARLY_ACK;
		}
		r = dmrow_md_insert_blocks(pool->md, maps, nr);
		if (!r && refused_for_reserve(maps, nr))
			r = insert_refused(pool, maps, nr);
		if (r) {
			/* Read-only meanwhile: the writes fail, the pool stays as it is. */
			if (r != -EROFS)
				dmrow_pool_metadata_failed(pool, "insert mapping", r);
			for (i = 0; i < nr; i++)
				if (!maps[i].result)
					maps[i].result = r;
		}
		for (i = 0; i < nr; i++)
			complete_prepared(pool, batch[i], maps[i].result);
		cond_resched();
	}
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
	/*
	 * Only whole blocks are released; a partial block keeps its data.
	 * What the discard frees is quarantined while earlier bios may read it.
	 */
	if (begin_block < end_block) {
		r = dmrow_md_discard(pool->md, db->disk_id, begin_block, end_block);
		if (r == -ENOSPC) {
			/* The metadata reserve, as for mappings: commit, go on. */
			r = dmrow_pool_commit(pool);
			if (!r)
				r = dmrow_md_discard(pool->md, db->disk_id, begin_block, end_block);
			if (r == -ENOSPC && give_back_ack_credits(pool))
				r = dmrow_md_discard(pool->md, db->disk_id, begin_block, end_block);
			if (r == -ENOSPC) {
				/* What was removed is removed; a discard is advice. */
				metadata_reserve_reached(pool);
				r = 0;
			}
		}
		if (r) {
			dmrow_pool_metadata_failed(pool, "discard", r);
			fail_bio(bio, BLK_STS_IOERR);
			return;
		}
	}
	/* Completed with the quarantine it joined: see reap_epoch(). */
	bio_list_add(&pool->quarantine_discards, bio);
}

static void process_bio(struct dmrow_pool *pool, struct bio *bio)
{
	if (pool->mode == POOL_FAIL) {
		fail_bio(bio, BLK_STS_IOERR);
		return;
	}
	if (bio->bi_opf & REQ_PREFLUSH) {
		/* dm sends flushes as empty bios: answered together, at the end of the pass. */
		bio_list_add(&pool->flushes, bio);
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
	/* Writes acknowledged before these bios came are mapped first. */
	process_written(pool);

	while ((bio = bio_list_pop(&bios))) {
		process_bio(pool, bio);
		cond_resched();
	}
}

/*
 * The flushes of one pass share what they need.  Every write acknowledged
 * before a flush arrived has completed (so marked the data device
 * unflushed) and, if it went to a new block, been mapped.  A flush from a
 * disk whose mappings are all committed needs only the data device's
 * cache flushed; one from a disk with uncommitted mappings needs a commit,
 * which flushes the data device first.  One commit or one device flush
 * answers them all.
 */
static void process_flushes(struct dmrow_pool *pool)
{
	struct bio_list bios = BIO_EMPTY_LIST;
	bool need_commit;
	struct bio *bio;
	int r = 0;

	bio_list_merge(&bios, &pool->flushes);
	bio_list_init(&pool->flushes);
	if (bio_list_empty(&bios))
		return;
	/* Every write acknowledged before a flush came is in what it commits. */
	process_written(pool);

	/*
	 * A degraded pool goes the commit's way: it fails every flush while a
	 * failure left its transaction uncommittable (acknowledged writes were
	 * dropped), as dmrow_pool_commit() says.
	 */
	need_commit = pool->mode >= POOL_READ_ONLY;
	bio_list_for_each(bio, &bios)
		if (dmrow_md_disk_uncommitted(pool->md, bio_ctx(bio)->disk->disk_id))
			need_commit = true;
	r = need_commit ? dmrow_pool_commit(pool) : dmrow_pool_flush_data(pool);
	error_bio_list(&bios, r ? BLK_STS_IOERR : BLK_STS_OK);
}

/*
 * Messages run without stopping I/O: a read-only one only reads metadata,
 * and a changing one says itself what it needs held (a snapshot gates its
 * disks' in-place writes; a message that frees waits for earlier bios).
 */
static void process_messages(struct dmrow_pool *pool)
{
	struct dmrow_message *msg;

	for (;;) {
		spin_lock_irq(&pool->lock);
		msg = list_first_entry_or_null(&pool->messages, struct dmrow_message, list);
		if (msg)
			list_del(&msg->list);
		spin_unlock_irq(&pool->lock);
		if (!msg)
			break;
		/* A message sees every write acknowledged before it came. */
		process_written(pool);
		if (msg->fn)
			msg->error = msg->fn(pool, msg->arg);
		else
			msg->error = dmrow_process_message(pool, msg->argc, msg->argv,
							   msg->result, msg->maxlen);
		complete(&msg->done);
	}
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
 * Completed new-block writes come first: mapping them lets the bios that
 * waited for their blocks go, and puts them in what a snapshot shares.
 */
static void do_worker(struct work_struct *ws)
{
	struct dmrow_pool *pool = container_of(ws, struct dmrow_pool, worker);
	/*
	 * Nothing the worker allocates may recurse into I/O: reclaim could
	 * write to one of this pool's disks and wait for the worker.
	 */
	unsigned int noio = memalloc_noio_save();

	reap_epoch(pool);
	process_written(pool);
	process_prepared(pool);
	process_messages(pool);
	process_deferred_bios(pool);
	dmrow_hydrate_work(pool);
	process_flushes(pool);
	if (commit_due(pool) && pool->mode < POOL_FAIL)
		dmrow_pool_commit(pool);
	schedule_quarantine(pool);
	refill_stash(pool);
	memalloc_noio_restore(noio);
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
 * is at hand (in the disk's mapping cache, or in cached nodes under an
 * uncontended lock) the bio is remapped at once instead of waiting for the
 * worker.  It takes no lock of the pool's and
 * writes no cache line that other CPUs' bios write.  What keeps it right:
 *
 *  - The bio joins the current epoch before the lookup: a block freed after
 *    the lookup is quarantined until the bio completes.  The cache is read
 *    after the epoch (smp_rmb()): the worker closes an epoch after the
 *    change that freed a block, so a bio in the new epoch sees the change.
 *  - An in-place write is counted on its disk before the disk's gate is
 *    looked at (a full barrier between; the snapshot sets the gate, then a
 *    barrier, then waits for the count): either the snapshot waits for the
 *    write, or the write sees the gate and goes to the worker, behind the
 *    snapshot.
 *  - A block with a new-block write in flight is not mapped in place
 *    (it is unmapped or shared until that write is mapped), so such a write
 *    goes to the worker and waits there in the pending table.
 *  - A flush, and a FUA write in place, from a disk whose mappings are
 *    all committed go straight down (disk_committed()).
 *  - Anything else (other flushes and FUA writes, discards, shared or
 *    unmapped writes, a pool not writable, a lookup that would block)
 *    goes to the worker.
 */
/*
 * map(): a write of whole blocks to a shared or unmapped run of @max
 * blocks goes to reserved blocks at hand, and is mapped by the worker once
 * written (process_written(), process_prepared()).  Its first block owns
 * its pending entry, so later writes to the block wait for it; a write of
 * several blocks takes the stash's next blocks while they follow on
 * (__take_run()), so that sequential writes go down whole, to consecutive
 * data blocks.  It reads nothing, so it joins no epoch.  False: no block
 * at hand, or one write to the first block is in flight already: the
 * worker takes it.
 */
static bool map_redirect(struct dmrow_pool *pool, struct bio *bio, unsigned int max)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	sector_t block_sectors = pool->cfg.block_sectors;
	unsigned int nr_blocks = 1;
	unsigned long flags;
	bool low = false, go;

	if ((bio->bi_iter.bi_sector & (block_sectors - 1)) || bio_sectors(bio) < block_sectors ||
	    READ_ONCE(pool->mode) != POOL_WRITE)
		return false;
	max = min3(max, (unsigned int)(bio_sectors(bio) >> pool->block_shift),
		   (unsigned int)REDIRECT_RUN_MAX);
	spin_lock_irqsave(&pool->lock, flags);
	go = pool->stash_next < pool->stash_end &&
	     !__find_pending(pool, ctx->disk->disk_id, ctx->vblock);
	if (go) {
		ctx->new_block = pool->stash[pool->stash_next++];
		__add_pending(pool, ctx);
		if (pool->ack_credits && !list_empty(&pool->written_free)) {
			pool->ack_credits--;
			ctx->written = list_first_entry(&pool->written_free,
							struct dmrow_written_block, list);
			list_del(&ctx->written->list);
			ctx->flags |= CTX_EARLY_ACK;
			if (max > 1)
				nr_blocks += __take_run(pool, ctx, max - 1);
		}
		low = pool->stash_end - pool->stash_next < STASH_LOW;
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	if (low)
		wake_worker(pool);
	if (!go)
		return false;

	if (bio_sectors(bio) > (sector_t)nr_blocks << pool->block_shift)
		dm_accept_partial_bio(bio, (sector_t)nr_blocks << pool->block_shift);
	ctx->flags |= CTX_NEW_BLOCK;
	this_cpu_add(ctx->disk->counts->new_block_writes, nr_blocks);
	remap(pool, bio, ctx->new_block);
	hook(bio);
	dm_submit_bio_remap(bio, NULL);
	return true;
}

/*
 * map(): whether every write to @db's disk acknowledged so far is durable
 * once the data device has flushed its cache, because every mapping those
 * writes need is committed.  A write acknowledged before this was asked
 * was counted in its disk's written slot (early) or mapped (ds->changed
 * set under the metadata lock) before it was acknowledged; the worker maps
 * a written block before it uncounts it, with release.  So reading the
 * slot with acquire and then the disk's state under the metadata lock
 * misses none.  Other disks' written blocks do not matter here.
 * A failed commit leaves the disk changed, and a failure that drops the
 * transaction sets @transaction_dropped before the abort makes the disks
 * look committed again: whoever sees the aborted state sees the flag.
 */
static bool disk_committed(struct dmrow_pool *pool, struct dmrow_disk_binding *db)
{
	if (db->snap_id || READ_ONCE(pool->suspended) ||
	    READ_ONCE(pool->mode) >= POOL_READ_ONLY)
		return false;
	if (smp_load_acquire(written_slot(pool, db->disk_id)))
		return false;
	if (!dmrow_md_try_disk_committed(pool->md, db->disk_id))
		return false;
	return !READ_ONCE(pool->transaction_dropped);
}

/*
 * map(), an empty flush: from a disk whose mappings are all committed it
 * asks only that the data device make its completed writes durable, so it
 * goes straight down, as through dm-linear.  Any other flush waits for the
 * worker's pass (process_flushes()).
 */
static bool map_flush(struct dmrow_pool *pool, struct bio *bio)
{
	if (bio_sectors(bio) || !disk_committed(pool, bio_ctx(bio)->disk))
		return false;
	bio_set_dev(bio, pool->data_bdev);
	dm_submit_bio_remap(bio, NULL);
	return true;
}

bool dmrow_pool_map_fast(struct dmrow_pool *pool, struct bio *bio)
{
	struct dmrow_bio_ctx *ctx = bio_ctx(bio);
	struct dmrow_disk_binding *db = ctx->disk;
	bool write = bio_op(bio) == REQ_OP_WRITE;
	bool fua = bio->bi_opf & REQ_FUA;
	sector_t offset = bio->bi_iter.bi_sector & (pool->cfg.block_sectors - 1);
	unsigned int nr_blocks, run;
	struct dmrow_mapping m;
	int r;

	if (bio->bi_opf & REQ_PREFLUSH)
		return map_flush(pool, bio);
	if ((!write && bio_op(bio) != REQ_OP_READ) || (write && db->snap_id) || !bio_sectors(bio))
		return false;
	if (READ_ONCE(pool->suspended) ||
	    READ_ONCE(pool->mode) > (write ? POOL_OUT_OF_DATA_SPACE : POOL_READ_ONLY))
		return false;
	nr_blocks = min_t(sector_t, FAST_RUN_MAX_BLOCKS,
			  (offset + bio_sectors(bio) + pool->cfg.block_sectors - 1) >>
			  pool->block_shift);

	if (write && !inplace_write_admit(db, ctx))
		return false;
	epoch_enter(pool, ctx);

	if (!db->snap_id && !write) {
		u64 block;

		if (find_written(pool, ctx, &nr_blocks, &block)) {
			if (bio_sectors(bio) > pool->cfg.block_sectors - offset)
				dm_accept_partial_bio(bio, pool->cfg.block_sectors - offset);
			remap(pool, bio, block);
			hook(bio);
			dm_submit_bio_remap(bio, NULL);
			return true;
		}
	}
	run = nr_blocks;
	r = -EAGAIN;
	if (db->cache) {
		struct dmrow_cache_hit hit;

		/* The epoch and the gate before the entries (dm-row-map-cache.c). */
		smp_rmb();
		r = dmrow_map_cache_find_run(db->cache, ctx->vblock, &run, &hit);
		if (r == -EAGAIN) {
			this_cpu_inc(db->counts->cache_misses);
			run = nr_blocks;
		} else {
			this_cpu_inc(db->counts->cache_hits);
			m.data_block = hit.data_block;
			m.time = hit.time;
			m.shared = hit.shared;
		}
	}
	if (r == -EAGAIN)
		r = dmrow_md_try_find_run(pool->md, db->disk_id, db->snap_id, ctx->vblock,
					  &run, &m);
	if (write && ((!r && m.shared) || r == -ENODATA)) {
		if (fua)
			goto defer;	/* durable only once mapped and committed */
		/* Redirect-on-write: to blocks at hand, or by the worker. */
		epoch_exit(ctx);
		inplace_write_done(pool, ctx);
		return map_redirect(pool, bio, run);
	}
	if (r && !(r == -ENODATA && !write))
		goto defer;
	/* An unmapped run reads the origin up to its end, zeroes after. */
	if (r == -ENODATA && in_origin(db, ctx->vblock))
		run = min_t(u64, run, READ_ONCE(db->origin_blocks) - ctx->vblock);

	/* The blocks after the run come back to map() as a bio of their own. */
	if (((sector_t)run << pool->block_shift) - offset < bio_sectors(bio))
		dm_accept_partial_bio(bio, ((sector_t)run << pool->block_shift) - offset);

	if (r == -ENODATA) {
		epoch_exit(ctx);
		if (in_origin(db, ctx->vblock)) {
			read_origin(db, bio);
			return true;
		}
		zero_fill_bio(bio);
		bio_endio(bio);
		return true;
	}
	/*
	 * A FUA write in place is durable when the device says so if the
	 * mapping it found is committed; asked after the lookup, so a mapping
	 * that changed since is seen as a change.
	 */
	if (fua && !disk_committed(pool, db))
		goto defer;
	remap(pool, bio, m.data_block);
	hook(bio);
	dm_submit_bio_remap(bio, NULL);
	return true;

defer:
	epoch_exit(ctx);
	inplace_write_done(pool, ctx);
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

static int run_on_worker(struct dmrow_pool *pool, struct dmrow_message *msg)
{
	init_completion(&msg->done);
	spin_lock_irq(&pool->lock);
	list_add_tail(&msg->list, &pool->messages);
	spin_unlock_irq(&pool->lock);
	wake_worker(pool);
	wait_for_completion(&msg->done);
	return msg->error;
}

int dmrow_pool_run_message(struct dmrow_pool *pool, unsigned int argc, char **argv,
			   char *result, unsigned int maxlen)
{
	struct dmrow_message msg = {
		.argc = argc, .argv = argv, .result = result, .maxlen = maxlen,
	};

	return run_on_worker(pool, &msg);
}

static int map_written_on_worker(struct dmrow_pool *pool, void *arg)
{
	return 0;	/* process_messages() mapped them before calling this */
}

/*
 * From outside the worker, before the pool's status is read: have the
 * worker map every write acknowledged so far, and wait, so that the data
 * blocks the status counts as used include them.  endio leaves up to a
 * batch of them to the next pass of the worker, which may be the periodic
 * commit's; the status would lag that long.  Nothing is committed.
 */
void dmrow_pool_map_written(struct dmrow_pool *pool)
{
	struct dmrow_message msg = { .fn = map_written_on_worker };
	bool queued;

	spin_lock_irq(&pool->lock);
	queued = !list_empty(&pool->written);
	spin_unlock_irq(&pool->lock);
	if (queued)
		run_on_worker(pool, &msg);
}

/* From outside the worker: have it commit, and wait. */
static void commit_on_worker(struct dmrow_pool *pool)
{
	char *argv[] = { DM_ROW_MSG_COMMIT };

	if (pool->mode < POOL_READ_ONLY && dmrow_pool_run_message(pool, 1, argv, NULL, 0))
		DMERR("%pg: commit failed", pool->metadata_bdev);
	flush_workqueue(pool->wq);
}

/*----------------------------------------------------------------
 * Disks
 *--------------------------------------------------------------*/

int dmrow_pool_attach_disk(struct dmrow_pool *pool, struct dmrow_disk_binding *db,
			   u64 size_blocks)
{
	u64 budget = (u64)READ_ONCE(map_cache_mb) << 20;

	db->cache = NULL;
	if (!db->snap_id && budget) {
		db->cache = dmrow_map_cache_create(db->disk_id, size_blocks, budget);
		if (!db->cache)
			return -ENOMEM;
		dmrow_md_attach_cache(pool->md, db->cache);
	}
	spin_lock_irq(&pool->lock);
	/* A table loaded while its disk is being snapshotted starts gated. */
	db->writes_gated = !db->snap_id && __disk_gated(pool, db->disk_id);
	list_add_tail(&db->list, &pool->disks);
	spin_unlock_irq(&pool->lock);
	return 0;
}

void dmrow_disk_counts_sum(struct dmrow_disk_binding *db, struct dmrow_disk_counts *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct dmrow_disk_counts *c = per_cpu_ptr(db->counts, cpu);

		sum->new_block_writes += READ_ONCE(c->new_block_writes);
		sum->partial_copies += READ_ONCE(c->partial_copies);
		sum->partial_zero_fills += READ_ONCE(c->partial_zero_fills);
		sum->cache_hits += READ_ONCE(c->cache_hits);
		sum->cache_misses += READ_ONCE(c->cache_misses);
		sum->early_acks += READ_ONCE(c->early_acks);
	}
}

/* No bio of the disk is in flight (its table is going). */
void dmrow_pool_detach_disk(struct dmrow_pool *pool, struct dmrow_disk_binding *db)
{
	dmrow_hydrate_detach(pool, db);
	spin_lock_irq(&pool->lock);
	list_del(&db->list);
	spin_unlock_irq(&pool->lock);
	if (db->cache) {
		dmrow_md_detach_cache(pool->md, db->cache);
		dmrow_map_cache_destroy(db->cache);
		db->cache = NULL;
	}
}

void dmrow_pool_origin_detached(struct dmrow_pool *pool, u64 disk_id)
{
	struct dmrow_disk_binding *db;

	spin_lock_irq(&pool->lock);
	list_for_each_entry(db, &pool->disks, list)
		if (db->disk_id == disk_id)
			WRITE_ONCE(db->origin_blocks, 0);
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

/*
 * Memory pressure: the disks' mapping caches give segments back (a lookup
 * refills what is used again).  Never waits: the worker may be the one
 * reclaiming, with the metadata lock held.
 */
static unsigned long cache_shrinker_count(struct shrinker *s, struct shrink_control *sc)
{
	struct dmrow_pool *pool = dmrow_shrinker_private(s);
	unsigned long nr = dmrow_md_cache_segments(pool->md);

	return nr ? nr : SHRINK_EMPTY;
}

static unsigned long cache_shrinker_scan(struct shrinker *s, struct shrink_control *sc)
{
	struct dmrow_pool *pool = dmrow_shrinker_private(s);
	long freed = dmrow_md_shrink_caches(pool->md, sc->nr_to_scan);

	return freed < 0 ? SHRINK_STOP : freed;
}

static const struct dmrow_shrinker_ops cache_shrinker_ops = {
	.count = cache_shrinker_count,
	.scan = cache_shrinker_scan,
};

static void destroy_pool(struct dmrow_pool *pool)
{
	dmrow_shrinker_destroy(pool->cache_shrinker);
	cancel_delayed_work_sync(&pool->waker);
	cancel_delayed_work_sync(&pool->no_space_timeout);
	commit_on_worker(pool);
	cancel_delayed_work_sync(&pool->delayed_wake);
	/* No disk is left, so no bio: the closing epoch drains, if one is. */
	dmrow_epochs_exit(&pool->epochs);
	destroy_workqueue(pool->wq);
	kvfree(pool->written_entries);
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
	unsigned int i;
	char name[64];
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
	bio_list_init(&pool->prepared);
	bio_list_init(&pool->flushes);
	bio_list_init(&pool->quarantine_discards);
	bio_list_init(&pool->sealed_discards);
	INIT_LIST_HEAD(&pool->messages);
	INIT_LIST_HEAD(&pool->written);
	INIT_LIST_HEAD(&pool->written_free);
	INIT_LIST_HEAD(&pool->disks);
	INIT_LIST_HEAD(&pool->hydrations);
	INIT_LIST_HEAD(&pool->hydrate_done);
	atomic_set(&pool->data_unflushed, 1);	/* the first commit flushes */
	init_waitqueue_head(&pool->gate_wait);
	INIT_WORK(&pool->worker, do_worker);
	INIT_DELAYED_WORK(&pool->waker, do_waker);
	INIT_DELAYED_WORK(&pool->no_space_timeout, do_no_space_timeout);
	INIT_DELAYED_WORK(&pool->delayed_wake, do_delayed_wake);
	pool->last_commit = jiffies;
	pool->mode = POOL_WRITE;

	pool->pending = kcalloc(PENDING_BUCKETS, sizeof(*pool->pending), GFP_KERNEL);
	if (!pool->pending) {
		*error = "Cannot allocate pending table";
		r = -ENOMEM;
		goto out_free_pool;
	}
	pool->written_entries = kvcalloc(ACK_CREDITS, sizeof(*pool->written_entries),
					 GFP_KERNEL);
	if (!pool->written_entries) {
		*error = "Cannot allocate written-block entries";
		r = -ENOMEM;
		goto out_free_pending;
	}
	for (i = 0; i < ACK_CREDITS; i++)
		list_add_tail(&pool->written_entries[i].list, &pool->written_free);
	r = dmrow_epochs_init(&pool->epochs, epochs_drained, pool);
	if (r) {
		*error = "Cannot allocate I/O epochs";
		goto out_free_pending;
	}
	pool->bm = dmrow_bm_create(metadata_bdev,
				   cfg->cache_blocks ? cfg->cache_blocks : DEFAULT_CACHE_BLOCKS,
				   cfg->read_only);
	if (IS_ERR(pool->bm)) {
		*error = "Cannot create metadata block cache";
		r = PTR_ERR(pool->bm);
		goto out_exit_epochs;
	}
	r = open_metadata(pool, error);
	if (r)
		goto out_destroy_bm;
	r = check_block_size(pool, error);
	if (r)
		goto out_close_md;
	/* The I/O path frees blocks under bios that may still read them. */
	dmrow_md_quarantine_frees(pool->md, true);
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
	snprintf(name, sizeof(name), "dm-row-cache:%pg", metadata_bdev);
	pool->cache_shrinker = dmrow_shrinker_create(name, &cache_shrinker_ops, pool);
	if (!pool->cache_shrinker) {
		*error = "Cannot register the mapping caches' shrinker";
		r = -ENOMEM;
		goto out_destroy_wq;
	}
	return pool;

out_destroy_wq:
	destroy_workqueue(pool->wq);
out_destroy_copier:
	dm_kcopyd_client_destroy(pool->copier);
out_close_md:
	dmrow_md_close(pool->md);
out_destroy_bm:
	dmrow_bm_destroy(pool->bm);
out_exit_epochs:
	dmrow_epochs_exit(&pool->epochs);
out_free_pending:
	kvfree(pool->written_entries);
	kfree(pool->pending);
out_free_pool:
	kfree(pool);
	return ERR_PTR(r);
}

static struct dmrow_pool *__find_by_md(struct mapped_device *pool_md)
{
	struct dmrow_pool *pool;

	lockdep_assert_held(&pool_table_lock);
	list_for_each_entry(pool, &pool_table, list)
		if (pool->pool_md == pool_md)
			return pool;
	return NULL;
}

static struct dmrow_pool *__find_by_metadata(struct block_device *metadata_bdev)
{
	struct dmrow_pool *pool;

	lockdep_assert_held(&pool_table_lock);
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

struct grow_args {
	u64 nr_metadata_blocks;
	u64 nr_data_blocks;
};

/*
 * On the worker, like every other metadata change: the data device is
 * flushed before the commit (dmrow_pool_commit()), so the grown pool's
 * first commit, like any, points only at written data, and the disks'
 * I/O goes on meanwhile.
 */
static int grow_on_worker(struct dmrow_pool *pool, void *arg)
{
	struct grow_args *grow = arg;
	struct dmrow_pool_info info;
	int r;

	if (pool->mode >= POOL_READ_ONLY)
		return 0;
	r = dmrow_md_pool_info(pool->md, &info);
	if (r)
		return r;
	if (grow->nr_metadata_blocks > info.metadata_blocks) {
		r = dmrow_md_resize_metadata(pool->md, grow->nr_metadata_blocks);
		if (!r)
			r = dmrow_pool_commit(pool);
		if (r) {
			dmrow_pool_metadata_failed(pool, "grow metadata device", r);
			return r;
		}
		DMINFO("%pg: metadata device grew", pool->metadata_bdev);
	}
	if (grow->nr_data_blocks > info.data_blocks) {
		r = dmrow_md_resize_data(pool->md, grow->nr_data_blocks);
		if (!r)
			r = dmrow_pool_commit(pool);
		if (r) {
			dmrow_pool_metadata_failed(pool, "grow data device", r);
			return r;
		}
		DMINFO("%pg: data device grew to %llu blocks", pool->metadata_bdev,
		       (unsigned long long)grow->nr_data_blocks);
		dmrow_pool_space_freed(pool);
	}
	return 0;
}

int dmrow_pool_bind(struct dmrow_pool *pool, struct dm_target *ti,
		    struct block_device *data_bdev, const struct pool_config *cfg)
{
	struct grow_args grow = {
		.nr_metadata_blocks = bdev_nr_sectors(pool->metadata_bdev) /
				      DMROW_SECTORS_PER_METADATA_BLOCK,
		.nr_data_blocks = bdev_nr_sectors(data_bdev) >> pool->block_shift,
	};
	struct dmrow_message msg = { .fn = grow_on_worker, .arg = &grow };
	struct dmrow_pool_info info;
	int r;

	r = dmrow_md_pool_info(pool->md, &info);
	if (r)
		return r;
	if (grow.nr_data_blocks < info.data_blocks) {
		DMERR("%pg: data device shrank from %llu to %llu blocks: refusing",
		      pool->metadata_bdev, (unsigned long long)info.data_blocks,
		      (unsigned long long)grow.nr_data_blocks);
		return -EINVAL;
	}
	/* A new data device (the same blocks) takes effect before any grow. */
	pool->ti = ti;
	pool->data_bdev = data_bdev;
	pool->cfg.low_water_blocks = cfg->low_water_blocks;
	pool->cfg.error_if_no_space = cfg->error_if_no_space;
	pool->cfg.no_space_timeout = cfg->no_space_timeout;
	if (grow.nr_metadata_blocks <= info.metadata_blocks &&
	    grow.nr_data_blocks <= info.data_blocks)
		return 0;
	return run_on_worker(pool, &msg);
}

void dmrow_pool_resume(struct dmrow_pool *pool)
{
	WRITE_ONCE(pool->suspended, false);
	queue_delayed_work(pool->wq, &pool->waker, COMMIT_PERIOD);
	wake_worker(pool);
}

/* Commit everything and stop background work. */
void dmrow_pool_suspend(struct dmrow_pool *pool)
{
	cancel_delayed_work_sync(&pool->waker);
	commit_on_worker(pool);
	WRITE_ONCE(pool->suspended, true);
	/* Hydration starts no copy now; those under way finish on the worker. */
	wait_event(pool->gate_wait, !atomic_read(&pool->hydrate_copies));
}
