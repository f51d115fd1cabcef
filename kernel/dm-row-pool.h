/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A pool: the metadata and data devices, the open metadata, the worker
 * that does all metadata work, and the I/O path of the disks in it.
 * Shared by the pool target, the disk target and hydration; the message
 * handlers see only dm-row-control.h, which this includes.
 */
#ifndef DM_ROW_POOL_H
#define DM_ROW_POOL_H

#include <linux/bio.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "dm-row.h"
#include "dm-row-epoch.h"
#include "dm-row-control.h"
#include "dm-row-metadata.h"
#include "dm-row-pool-mode.h"

/* What a pool table line asks for, once parsed. */
struct pool_config {
	sector_t block_sectors;
	u64 low_water_blocks;
	bool read_only;
	bool error_if_no_space;
	unsigned int no_space_timeout;	/* seconds, 0: wait forever */
	unsigned int cache_blocks;	/* metadata block cache, 0: default */
};

struct dmrow_bm;
struct dm_kcopyd_client;

#define DMROW_POOL_STASH_SIZE	512
/*
 * Written blocks not mapped yet are counted per disk, in one of these
 * slots by a hash of the disk's id, so that a bio of another disk does
 * not take pool->lock to look for them (find_written()).
 */
#define DMROW_WRITTEN_SLOT_BITS	6

struct dmrow_written_block;

struct dmrow_pool {
	struct list_head list;		/* in the pool table */
	struct mapped_device *pool_md;	/* the pool's own dm device */
	struct block_device *metadata_bdev;
	unsigned int ref_count;		/* under the pool table lock */

	struct dm_target *ti;		/* the pool target now bound, for events */
	struct block_device *data_bdev;
	struct pool_config cfg;
	unsigned int block_shift;	/* log2 of block_sectors */

	struct dmrow_bm *bm;
	struct dmrow_metadata *md;
	struct dm_kcopyd_client *copier;

	struct workqueue_struct *wq;
	struct work_struct worker;
	struct delayed_work waker;		/* periodic commit */
	struct delayed_work no_space_timeout;

	/*
	 * Owners: "worker" fields are touched by the worker only (and by the
	 * constructor and destructor); "lock" ones under @lock; the rest are
	 * atomic or read with READ_ONCE() where map() reads them.
	 */
	spinlock_t lock;			/* protects the lists below and mode */
	struct bio_list deferred;		/* lock: bios for the worker */
	struct bio_list retry_on_space;		/* lock: waiting for free data blocks */
	struct bio_list commit_waiters;		/* lock: done, completed after the next commit */
	struct bio_list prepared;		/* lock: new-block writes done, to be mapped */
	struct bio_list flushes;		/* worker: empty flushes of this pass */
	struct bio_list quarantine_discards;	/* worker: discards done when their */
	struct bio_list sealed_discards;	/*   quarantine (not yet, already sealed) is freed */
	struct list_head messages;		/* lock: control operations for the worker */
	struct hlist_head *pending;		/* lock: blocks with a new-block write not mapped */
	unsigned int nr_pending;		/* lock: entries in @pending */
	struct list_head written;		/* lock: acknowledged, to be mapped, in order */
	unsigned int nr_written_queued;		/* lock: on @written since the worker took it */
	struct list_head written_free;		/* lock: entries for map()'s early acks */
	struct dmrow_written_block *written_entries;	/* all of them, one per ack credit */
	/* lock to change, map() reads with acquire: see written_slot() */
	unsigned int nr_written[1 << DMROW_WRITTEN_SLOT_BITS];
	unsigned int ack_credits;		/* lock: promised mappings map() may hand out */
	u64 stash[DMROW_POOL_STASH_SIZE];	/* lock: reserved blocks at hand for map() */
	unsigned int stash_next, stash_end;	/* lock: the ones left: [next, end) */
	const u64 *gated_disks;			/* lock: disks whose writes a snapshot holds */
	unsigned int nr_gated;
	atomic_t data_unflushed;		/* a data write completed since the last data flush */
	enum pool_mode mode;			/* lock to change; map() reads it racily */
	/*
	 * Set (before the abort) when a metadata failure dropped the open
	 * transaction and with it acknowledged writes; map() then leaves
	 * every flush to the worker, which fails it.
	 */
	bool transaction_dropped;
	bool no_space_timed_out;
	bool low_water_signalled;
	bool metadata_low;			/* read-only for lack of metadata space */
	bool suspended;

	/* Gives the disks' mapping caches back under memory pressure. */
	struct shrinker *cache_shrinker;
	struct dmrow_epochs epochs;		/* bios that may touch data blocks */
	wait_queue_head_t gate_wait;		/* a gated disk's in-place writes drain */
	unsigned long last_commit;		/* jiffies */
	struct list_head disks;			/* active disk targets, under lock */
	struct list_head hydrations;		/* worker: origins being hydrated */
	struct list_head hydrate_done;		/* lock: their finished copies */
	atomic_t hydrate_copies;		/* in flight; pool suspend waits (gate_wait) */
	struct delayed_work delayed_wake;	/* the worker again, a while later */
};

/* The pool table: pools by their dm device (disk targets find them so). */
struct dmrow_pool *dmrow_pool_find(struct mapped_device *pool_md);
int dmrow_pool_get(struct dm_target *ti, struct mapped_device *pool_md,
		   struct block_device *metadata_bdev, struct block_device *data_bdev,
		   const struct pool_config *cfg, struct dmrow_pool **result);
void dmrow_pool_put(struct dmrow_pool *pool);
/* For a disk target: hold the pool its table line names. */
struct dmrow_pool *dmrow_pool_lookup_and_get(struct block_device *pool_bdev);

/* Pool target hooks. */
int dmrow_pool_bind(struct dmrow_pool *pool, struct dm_target *ti,
		    struct block_device *data_bdev, const struct pool_config *cfg);
void dmrow_pool_suspend(struct dmrow_pool *pool);
void dmrow_pool_resume(struct dmrow_pool *pool);

/* The I/O path, for the disk target. */
struct dmrow_disk_binding {
	struct list_head list;		/* in pool->disks */
	struct dm_target *ti;
	struct dmrow_pool *pool;
	u64 disk_id;
	u64 snap_id;			/* 0: the live head */
	bool suspended;
	/*
	 * Whether a snapshot of this disk holds new writes in place back
	 * (map() defers them to the worker).  The snapshot waits for those
	 * in flight, counted per CPU in @counts, to drain.
	 */
	bool writes_gated;
	/* Per CPU, so that map() writes no shared line. */
	struct dmrow_disk_counts __percpu *counts;
	/* The live head's mappings for map(), lock-free; NULL for a view. */
	struct dmrow_map_cache *cache;
	/*
	 * The external origin of the table line (external_origin=): a block
	 * below @origin_blocks that the image does not map is read from it.
	 * Set by the constructor; @origin_blocks drops to 0 (map() reads it
	 * racily) when the origin is taken away, hydrated.
	 */
	struct block_device *origin_bdev;	/* NULL: none */
	u64 origin_blocks;
	u64 hydrated_blocks;			/* for the status: as last recorded */
	u64 hydration_errors;			/* worker: failed copies */
	struct dmrow_hydration *hydration;	/* pool->lock to set; the worker's */
};

/*
 * Writes redirected to a fresh block, and those of them that did not cover
 * it, so the rest of the block was first copied from the old one or
 * (unmapped before) zeroed.  Summed over the CPUs: dmrow_disk_counts_sum().
 */
struct dmrow_disk_counts {
	u64 new_block_writes;
	u64 partial_copies;
	u64 partial_zero_fills;
	u64 cache_hits;			/* bios map() remapped from the cache */
	u64 cache_misses;		/* bios whose first block it did not hold */
	u64 early_acks;			/* new-block writes acknowledged before mapped */
	/*
	 * Not for the status: writes in place in flight, counted up on the
	 * CPU that admits one and down on the one that completes it, so
	 * only the sum over the CPUs means anything (inplace_writes_sum()).
	 */
	long inplace_writes;
};

void dmrow_disk_counts_sum(struct dmrow_disk_binding *db, struct dmrow_disk_counts *sum);

/*
 * An entry of the pool's pending table: a block of a live disk with a
 * new-block write not yet mapped, in flight (in the bio's context) or
 * written and acknowledged (@written: in a struct written_block of
 * dm-row-pool.c, @data_block holding the data), and the later writes to the
 * block that wait for its mapping.
 */
struct dmrow_pending {
	struct hlist_node node;
	u64 disk_id;
	u64 vblock;
	u64 data_block;			/* if @written */
	bool written;
	struct bio_list waiters;
};

struct dmrow_bio_ctx {
	struct dmrow_disk_binding *disk;
	struct dmrow_epoch *epoch;	/* while CTX_EPOCH */
	u64 vblock;
	u64 new_block;			/* the block a new-block write goes to */
	struct dmrow_pending pending;	/* while CTX_PENDING */
	struct dmrow_written_block *written;	/* while CTX_EARLY_ACK: its entry once done */
	/*
	 * A new-block write of several blocks: the blocks after the first,
	 * each with its own pending entry, in @run (see map_redirect()).
	 */
	struct list_head run;		/* if @run_blocks */
	unsigned int run_blocks;
	unsigned int flags;
	bio_end_io_t *saved_end_io;
	void *saved_private;
	int kcopyd_error;
};

/*
 * From map() only: cut a read or write that crosses a block boundary at the
 * first one (dm sends the rest as a bio of its own), as the worker handles
 * one block per bio.  The fast path takes a bio whole while its blocks are
 * mapped alike, in one run.
 */
void dmrow_pool_clip_to_block(struct dmrow_pool *pool, struct bio *bio);
void dmrow_pool_defer_bio(struct dmrow_pool *pool, struct bio *bio);
/* Remap @bio at once if it needs no metadata work; false: defer it. */
bool dmrow_pool_map_fast(struct dmrow_pool *pool, struct bio *bio);
/*
 * A live head gets its mapping cache here, sized for @size_blocks within
 * the module's budget (map_cache_mb; 0: no cache).  -ENOMEM.
 */
int dmrow_pool_attach_disk(struct dmrow_pool *pool, struct dmrow_disk_binding *db,
			   u64 size_blocks);
void dmrow_pool_detach_disk(struct dmrow_pool *pool, struct dmrow_disk_binding *db);

/*
 * Control operations run on the worker through this: a message
 * (dmrow_process_message(), see dm-row-control.h) or @fn.
 */
struct dmrow_message {
	struct list_head list;
	int (*fn)(struct dmrow_pool *pool, void *arg);	/* instead of a message */
	void *arg;
	unsigned int argc;
	char **argv;
	char *result;
	unsigned int maxlen;
	int error;
	struct completion done;
};

int dmrow_pool_run_message(struct dmrow_pool *pool, unsigned int argc, char **argv,
			   char *result, unsigned int maxlen);
/* Have the worker map the writes acknowledged so far, and wait. */
void dmrow_pool_map_written(struct dmrow_pool *pool);
/* Have the worker run now, or after @delay jiffies (if not due earlier). */
void dmrow_pool_wake(struct dmrow_pool *pool);
void dmrow_pool_wake_later(struct dmrow_pool *pool, unsigned long delay);
/* Tell userspace to look at the status (a dm event on the pool). */
void dmrow_pool_raise_event(struct dmrow_pool *pool);
/*
 * On the worker: reserve a free data block (dmrow_md_alloc_data_block()),
 * giving back the blocks kept for map() and committing first if that is
 * what it takes.  -ENOSPC: none.
 */
int dmrow_pool_alloc_data_block(struct dmrow_pool *pool, u64 *block);

/* Hydration of external origins (dm-row-hydrate.c), on the worker but the last. */
struct dmrow_hydration;
void dmrow_hydrate_work(struct dmrow_pool *pool);
/* Any context but map(): -, off, paused, running or done. */
const char *dmrow_hydrate_state(struct dmrow_disk_binding *db);
/* The disk's destructor: stop, and wait for the copies reading its origin. */
void dmrow_hydrate_detach(struct dmrow_pool *pool, struct dmrow_disk_binding *db);

#endif /* DM_ROW_POOL_H */
