// SPDX-License-Identifier: GPL-2.0
/*
 * Hydration: copying a disk's external origin into the pool in the
 * background, so that the origin can be taken away.
 *
 * A disk with an external origin reads every block it has not mapped, below
 * the origin's length, from the origin device of its table line.  The
 * `hydrate <disk> <rate>` message starts (or re-rates) a hydration of the
 * live disk's origin on the pool's worker; it runs while the disk's live
 * device is loaded, and resumes where it stopped (the disk record's
 * hydrated_blocks) when the message is sent again after a reload or a
 * reboot.
 *
 * It goes in windows.  The worker scans from hydrated_blocks for blocks
 * some image of the disk lacks (dmrow_md_hydrate_scan()), reserves data
 * blocks for them, and copies the origin's blocks in with dm-io, up to
 * HYDRATE_DEPTH copies of up to HYDRATE_RUN blocks each (a run of lacking
 * blocks that got consecutive reserved blocks): a read of the run into
 * memory, then a write of it to the reserved blocks.  When a copy
 * completes the worker maps each of its blocks into every image that
 * still lacks it (dmrow_md_hydrate_block(); a write that got there first
 * keeps its own block, and an unwanted copy is given back).  When the
 * whole window is done, hydrated_blocks moves to its end.
 *
 * Blocks of zeroes are not copied: an image that does not map a block
 * reads the origin's zeroes now and, once the origin is gone, zeroes, the
 * same.  So a block that reads as zeroes is given back after the read (a
 * run of nothing but zeroes is not written at all), and hydrated_blocks
 * means that every image maps every block below it that the origin does
 * not hold as zeroes.  A sparse image (most restored disks) takes in the
 * pool only what it holds.
 *
 * Crash safety is that of a redirected write: the copy's data is written
 * before the worker maps it, the completion marks the data device
 * unflushed, and every commit flushes the data device before it writes the
 * mappings.  A crash loses at most the copies not yet committed; their
 * blocks were only reserved, so they are free again, and the images still
 * read the origin there.  hydrated_blocks is in the same transaction as
 * the mappings below it.
 *
 * The origin may be a network device that fails (an export served over
 * NBD): a failed copy gives its block back and hydration waits a second
 * before it scans the window again.  Reads of blocks not hydrated then fail
 * as the origin fails them; hydrated blocks and writes keep working.
 *
 * Rate.  The operator's rate (bytes per second, 0: as fast as it goes) is
 * kept per tenth of a second.  Foreground I/O comes first: while the disk's
 * own bios arrived in the last tick, a window holds one block.
 *
 * Locking: a hydration belongs to the worker (pool->hydrations), except
 * @stopping, which the disk's destructor sets under pool->lock, and the
 * list of finished copies (pool->hydrate_done, under pool->lock), which
 * dm-io's callback fills.
 */
#include <linux/dm-io.h>
#include <linux/vmalloc.h>
#include <linux/jiffies.h>
#include <linux/slab.h>

#include "dm-row-pool.h"

#define DM_MSG_PREFIX "row-pool"

/*
 * Copies in flight at once, the most blocks one copies (a run of origin
 * blocks some image lacks, into consecutive reserved blocks: one request
 * to the origin, which may be a network device), and the most blocks one
 * window scans.
 */
#define HYDRATE_DEPTH		16
#define HYDRATE_RUN		64
#define HYDRATE_SCAN		4096
#define HYDRATE_TICK		(HZ / 10)
#define HYDRATE_RETRY		HZ

struct dmrow_hydration {
	struct list_head list;		/* in pool->hydrations */
	struct dmrow_disk_binding *db;	/* the live head whose origin it reads */
	u64 hydrated;			/* every image maps the origin below this */
	u64 window_end;			/* the window in flight ends here */
	unsigned int in_flight;		/* copies of the window not mapped yet */
	bool window_failed;		/* a copy of the window failed: scan it again */
	u64 rate;			/* blocks per second, 0: no limit */
	unsigned long tick_start;	/* jiffies */
	u64 tick_blocks;		/* copied in this tick */
	u64 foreground;			/* the disk's bios counted at the last look */
	bool busy;			/* foreground bios in the last tick */
	unsigned long retry_at;		/* after a failed copy: no scan before */
	bool paused;			/* by the operator: read racily by the status */
	bool stopping;			/* pool->lock: the disk's table is going */
	struct completion stopped;
	struct dm_io_client *io;
};

/* A run of origin blocks copied into consecutive reserved blocks. */
struct hydrate_copy {
	struct list_head list;		/* in pool->hydrate_done */
	struct dmrow_hydration *h;
	u64 vblock;
	u64 data_block;
	unsigned int nr;
	bool failed;
	bool written;			/* the write is done, not only the read */
	u64 zero_blocks;		/* bit i: block i of the run holds zeroes */
	void *buf;			/* the run, as read from the origin */
};

/* The bios the disk has seen, summed over the CPUs. */
static u64 foreground_bios(struct dmrow_disk_binding *db)
{
	struct dmrow_disk_counts c;

	dmrow_disk_counts_sum(db, &c);
	return c.cache_hits + c.cache_misses + c.new_block_writes;
}

/* dm-io's callback, for the read and for the write of a copy. */
static void copy_io_done(unsigned long error, void *context)
{
	struct hydrate_copy *copy = context;
	struct dmrow_pool *pool = copy->h->db->pool;
	unsigned long flags;

	copy->failed = error;
	if (copy->written && !error)
		atomic_set(&pool->data_unflushed, 1);	/* before it can be mapped */
	spin_lock_irqsave(&pool->lock, flags);
	list_add_tail(&copy->list, &pool->hydrate_done);
	spin_unlock_irqrestore(&pool->lock, flags);
	dmrow_pool_wake(pool);
}

/* Worker: read the copy's run from the origin, or write it to its blocks. */
static void run_copy_io(struct dmrow_pool *pool, struct hydrate_copy *copy)
{
	struct dm_io_region where;
	struct dm_io_request req = {
		.bi_opf = copy->written ? REQ_OP_WRITE : REQ_OP_READ,
		.mem.type = DM_IO_VMA,
		.mem.ptr.vma = copy->buf,
		.notify.fn = copy_io_done,
		.notify.context = copy,
		.client = copy->h->io,
	};

	where.bdev = copy->written ? pool->data_bdev : copy->h->db->origin_bdev;
	where.sector = (copy->written ? copy->data_block : copy->vblock) << pool->block_shift;
	where.count = (sector_t)copy->nr << pool->block_shift;
	dm_io(&req, 1, &where, NULL, IOPRIO_DEFAULT);
}

/*
 * Worker: copy origin block @vblock, and up to @max - 1 blocks after it
 * that some image lacks too, into consecutive reserved blocks.  The run
 * stops at a block no image lacks, at the origin's end, or where the
 * allocator hands out a block that does not follow.  *@nr: the blocks it
 * copies.  -ENOSPC: no block free.
 */
static int start_copy(struct dmrow_pool *pool, struct dmrow_hydration *h, u64 vblock,
		      unsigned int max, unsigned int *nr)
{
	struct hydrate_copy *copy;
	u64 block, next, found;
	int r;

	copy = kmalloc(sizeof(*copy), GFP_NOIO);
	if (!copy)
		return -ENOMEM;
	/*
	 * vmalloc(), not kvmalloc(): dm-io reads a DM_IO_VMA buffer page by
	 * page through vmalloc_to_page().  The worker allocates with I/O off
	 * (memalloc_noio_save()).
	 */
	copy->buf = vmalloc((size_t)HYDRATE_RUN << (pool->block_shift + SECTOR_SHIFT));
	if (!copy->buf) {
		kfree(copy);
		return -ENOMEM;
	}
	r = dmrow_pool_alloc_data_block(pool, &block);
	if (r) {
		vfree(copy->buf);
		kfree(copy);
		return r;
	}
	copy->nr = 1;
	while (copy->nr < max && vblock + copy->nr < h->db->origin_blocks) {
		if (dmrow_md_hydrate_scan(pool->md, h->db->disk_id, vblock + copy->nr, 1, &found) ||
		    found != vblock + copy->nr)
			break;
		if (dmrow_pool_alloc_data_block(pool, &next))
			break;
		if (next != block + copy->nr) {
			dmrow_md_release_data_block(pool->md, next);
			break;
		}
		copy->nr++;
	}
	*nr = copy->nr;
	copy->h = h;
	copy->vblock = vblock;
	copy->data_block = block;
	copy->failed = false;
	copy->written = false;
	copy->zero_blocks = 0;
	h->in_flight++;
	h->tick_blocks += copy->nr;
	atomic_inc(&pool->hydrate_copies);
	run_copy_io(pool, copy);
	return 0;
}

/* Worker: map one block of a finished copy where it is still lacking. */
static int map_copied(struct dmrow_pool *pool, struct dmrow_hydration *h, u64 vblock,
		      u64 block)
{
	unsigned int images = 0;
	int r = dmrow_md_hydrate_block(pool->md, h->db->disk_id, vblock, block, &images);

	if (r == -ENOSPC) {
		/* The metadata reserve: commit, which gives shadowed blocks back. */
		r = dmrow_pool_commit(pool);
		if (!r)
			r = dmrow_md_hydrate_block(pool->md, h->db->disk_id, vblock, block, &images);
	}
	if (!images)
		dmrow_md_release_data_block(pool->md, block);
	return r;
}

/* Which blocks of the run read as zeroes; true if all of them do. */
static bool find_zero_blocks(struct dmrow_pool *pool, struct hydrate_copy *copy)
{
	size_t bytes = (size_t)pool->cfg.block_sectors << SECTOR_SHIFT;
	unsigned int i;

	for (i = 0; i < copy->nr; i++)
		if (!memchr_inv(copy->buf + i * bytes, 0, bytes))
			copy->zero_blocks |= 1ULL << i;
	return copy->zero_blocks == (copy->nr == 64 ? ~0ULL : (1ULL << copy->nr) - 1);
}

/*
 * Worker: a copy's read or write is done.  After the read, a run of
 * zeroes is done (nothing to map), any other is written; after the
 * write, its blocks are mapped where they are still lacking.
 */
static void finish_copy(struct dmrow_pool *pool, struct hydrate_copy *copy)
{
	struct dmrow_hydration *h = copy->h;
	unsigned int i;
	int r = 0;

	if (!copy->failed && !copy->written && !find_zero_blocks(pool, copy)) {
		copy->written = true;
		run_copy_io(pool, copy);
		return;
	}
	if (copy->failed) {
		DMERR_LIMIT("%pg: disk %llu: cannot copy blocks %llu-%llu of its origin",
			    pool->metadata_bdev, (unsigned long long)h->db->disk_id,
			    (unsigned long long)copy->vblock,
			    (unsigned long long)(copy->vblock + copy->nr - 1));
		h->window_failed = true;
		h->retry_at = jiffies + HYDRATE_RETRY;
		h->db->hydration_errors++;
		for (i = 0; i < copy->nr; i++)
			dmrow_md_release_data_block(pool->md, copy->data_block + i);
	} else {
		for (i = 0; i < copy->nr; i++) {
			if (!r && !(copy->zero_blocks & (1ULL << i)))
				r = map_copied(pool, h, copy->vblock + i, copy->data_block + i);
			else
				dmrow_md_release_data_block(pool->md, copy->data_block + i);
		}
		if (r) {
			h->window_failed = true;
			h->retry_at = jiffies + HYDRATE_RETRY;
			if (r != -ENOSPC && r != -EROFS)
				dmrow_pool_metadata_failed(pool, "hydrate block", r);
		}
	}
	h->in_flight--;
	vfree(copy->buf);
	kfree(copy);
	if (atomic_dec_and_test(&pool->hydrate_copies))
		wake_up_all(&pool->gate_wait);
}

static void finish_copies(struct dmrow_pool *pool)
{
	struct hydrate_copy *copy, *tmp;
	LIST_HEAD(done);

	spin_lock_irq(&pool->lock);
	list_splice_init(&pool->hydrate_done, &done);
	spin_unlock_irq(&pool->lock);
	list_for_each_entry_safe(copy, tmp, &done, list)
		finish_copy(pool, copy);
}

/*
 * Worker: how many more blocks the hydration may copy in this tick (0:
 * none), at most HYDRATE_RUN.
 */
static unsigned int within_rate(struct dmrow_pool *pool, struct dmrow_hydration *h)
{
	u64 bios, budget;

	if (time_after_eq(jiffies, h->tick_start + HYDRATE_TICK)) {
		bios = foreground_bios(h->db);
		h->busy = bios != h->foreground;
		h->foreground = bios;
		h->tick_start = jiffies;
		h->tick_blocks = 0;
	}
	if (h->busy)
		budget = 1;
	else if (h->rate)
		budget = max_t(u64, 1, h->rate / (HZ / HYDRATE_TICK));
	else
		return HYDRATE_RUN;	/* no limit but the depth */
	return h->tick_blocks < budget ? min_t(u64, budget - h->tick_blocks, HYDRATE_RUN) : 0;
}

/* Worker: the window is mapped; record it and scan the next one. */
static void next_window(struct dmrow_pool *pool, struct dmrow_hydration *h)
{
	struct dmrow_disk_info disk;
	unsigned int n, budget, copied;
	u64 from, vblock;
	int r;

	if (h->window_end > h->hydrated && !h->window_failed) {
		r = dmrow_md_set_hydrated(pool->md, h->db->disk_id, h->window_end);
		if (r) {
			if (r != -EROFS)
				dmrow_pool_metadata_failed(pool, "record hydration", r);
			h->retry_at = jiffies + HYDRATE_RETRY;
			return;
		}
		h->hydrated = h->window_end;
		WRITE_ONCE(h->db->hydrated_blocks, h->hydrated);
		if (h->hydrated == h->db->origin_blocks) {
			DMINFO("%pg: disk %llu: hydrated", pool->metadata_bdev,
			       (unsigned long long)h->db->disk_id);
			dmrow_pool_raise_event(pool);
		}
	}
	/*
	 * From the record: an aborted transaction (the pool then goes
	 * read-only, and may come back after a repair) takes the mark back
	 * with the mappings below it, and the window scans them again.
	 */
	if (dmrow_md_get_disk(pool->md, h->db->disk_id, &disk) ||
	    !(disk.flags & DMROW_DISK_EXTERNAL_ORIGIN)) {
		h->retry_at = jiffies + HYDRATE_RETRY;
		return;
	}
	h->hydrated = disk.hydrated_blocks;
	WRITE_ONCE(h->db->hydrated_blocks, h->hydrated);
	h->window_failed = false;
	h->window_end = h->hydrated;
	if (h->hydrated >= h->db->origin_blocks || h->paused || time_before(jiffies, h->retry_at) ||
	    READ_ONCE(pool->suspended) || dmrow_pool_mode(pool) != POOL_WRITE)
		return;

	for (n = 0, from = h->hydrated; n < HYDRATE_DEPTH && (budget = within_rate(pool, h));
	     n++) {
		r = dmrow_md_hydrate_scan(pool->md, h->db->disk_id, from,
					  h->hydrated + HYDRATE_SCAN - from, &vblock);
		if (r == -ENODATA) {
			h->window_end = vblock;
			return;
		}
		if (!r)
			r = start_copy(pool, h, vblock, budget, &copied);
		if (r) {
			/* No space or no memory now: what was started ends the window. */
			h->retry_at = jiffies + HYDRATE_RETRY;
			return;
		}
		from = vblock + copied;
		h->window_end = from;
	}
}

/* Worker, every pass: map finished copies, move windows on. */
void dmrow_hydrate_work(struct dmrow_pool *pool)
{
	struct dmrow_hydration *h, *tmp;
	bool wait = false;
	unsigned int i;

	finish_copies(pool);
	list_for_each_entry_safe(h, tmp, &pool->hydrations, list) {
		bool stopping;

		spin_lock_irq(&pool->lock);
		stopping = h->stopping;
		spin_unlock_irq(&pool->lock);
		if (stopping) {
			if (h->in_flight)
				continue;
			list_del(&h->list);
			complete(&h->stopped);
			continue;
		}
		/* Windows the scan found nothing to copy in follow at once, a few. */
		for (i = 0; i < 16 && !h->in_flight; i++) {
			u64 scanned = h->window_end;

			next_window(pool, h);
			if (h->window_end == h->hydrated || h->window_end == scanned)
				break;
		}
		if (!h->in_flight && !h->paused && h->hydrated < h->db->origin_blocks)
			wait = true;	/* held back by the rate or a failure */
	}
	if (wait)
		dmrow_pool_wake_later(pool, HYDRATE_TICK);
}

static struct dmrow_disk_binding *live_binding(struct dmrow_pool *pool, u64 disk_id)
{
	struct dmrow_disk_binding *db, *found = NULL;

	spin_lock_irq(&pool->lock);
	list_for_each_entry(db, &pool->disks, list)
		if (db->disk_id == disk_id && !db->snap_id)
			found = db;
	spin_unlock_irq(&pool->lock);
	return found;
}

/*
 * Worker, the hydrate message: start hydrating @disk_id's origin at @rate
 * bytes a second (0: no limit), or set the rate of the one under way.
 * -ENODATA: the disk has no origin; -EBUSY: its live device is not loaded.
 */
int dmrow_hydrate_start(struct dmrow_pool *pool, u64 disk_id, u64 rate, const char **why)
{
	struct dmrow_disk_binding *db = live_binding(pool, disk_id);
	struct dmrow_disk_info disk;
	struct dmrow_hydration *h;
	int r;

	r = dmrow_md_get_disk(pool->md, disk_id, &disk);
	if (r)
		return r;
	if (!(disk.flags & DMROW_DISK_EXTERNAL_ORIGIN)) {
		*why = "the disk has no external origin";
		return -ENODATA;
	}
	if (!db || !db->origin_bdev) {
		*why = "the disk's live device, with its origin, is not loaded";
		return -EBUSY;
	}
	h = db->hydration;
	if (!h) {
		h = kzalloc(sizeof(*h), GFP_NOIO);
		if (!h)
			return -ENOMEM;
		h->io = dm_io_client_create();
		if (IS_ERR(h->io)) {
			r = PTR_ERR(h->io);
			kfree(h);
			return r;
		}
		h->db = db;
		h->hydrated = disk.hydrated_blocks;
		h->window_end = h->hydrated;
		h->tick_start = jiffies;
		h->foreground = foreground_bios(db);
		init_completion(&h->stopped);
		list_add_tail(&h->list, &pool->hydrations);
		spin_lock_irq(&pool->lock);
		db->hydration = h;
		spin_unlock_irq(&pool->lock);
	}
	h->rate = div_u64(rate, pool->cfg.block_sectors << SECTOR_SHIFT);
	if (rate && !h->rate)
		h->rate = 1;
	WRITE_ONCE(h->paused, false);
	h->retry_at = jiffies;
	dmrow_pool_wake(pool);
	return 0;
}

/* Worker, the hydrate message with "stop": nothing new is copied. */
int dmrow_hydrate_pause(struct dmrow_pool *pool, u64 disk_id)
{
	struct dmrow_disk_binding *db = live_binding(pool, disk_id);

	if (db && db->hydration)
		WRITE_ONCE(db->hydration->paused, true);
	return 0;
}

/* For the status: -, off, paused, running or done. */
const char *dmrow_hydrate_state(struct dmrow_disk_binding *db)
{
	struct dmrow_hydration *h;
	const char *state;

	if (!db->origin_bdev)
		return "-";
	spin_lock_irq(&db->pool->lock);
	h = db->hydration;
	if (READ_ONCE(db->hydrated_blocks) >= db->origin_blocks)
		state = "done";
	else if (!h || h->stopping)
		state = "off";
	else if (READ_ONCE(h->paused))
		state = "paused";
	else
		state = "running";
	spin_unlock_irq(&db->pool->lock);
	return state;
}

/*
 * The disk's table is going: stop its hydration and wait until no copy
 * reads its origin any more.
 */
void dmrow_hydrate_detach(struct dmrow_pool *pool, struct dmrow_disk_binding *db)
{
	struct dmrow_hydration *h;

	spin_lock_irq(&pool->lock);
	h = db->hydration;
	if (h)
		h->stopping = true;
	spin_unlock_irq(&pool->lock);
	if (!h)
		return;
	dmrow_pool_wake(pool);
	wait_for_completion(&h->stopped);
	spin_lock_irq(&pool->lock);
	db->hydration = NULL;
	spin_unlock_irq(&pool->lock);
	dm_io_client_destroy(h->io);
	kfree(h);
}
