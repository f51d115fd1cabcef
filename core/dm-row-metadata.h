/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pool metadata: disks, snapshot chains and block maps, with crash-safe
 * commits.  The interface the pool target, the offline tools and the tests
 * use; the design essay is at the top of dm-row-metadata.c.
 *
 * Locking: every function takes the metadata lock itself (for reading or
 * writing as it needs) and may block.  None may be called from map().
 *
 * Errors: -ENODATA (no such disk, snapshot or mapping), -EEXIST (id or name
 * taken), -EINVAL (bad argument), -EDQUOT (snapshot quota reached),
 * -ENOSPC (data or metadata space exhausted), -EBUSY (refused while in
 * use), -EILSEQ (metadata corrupt), -EIO, -EROFS (the pool is read-only).
 * A modifying function that fails with anything but the argument errors
 * (-ENODATA, -EEXIST, -EINVAL, -EDQUOT, -EBUSY) may have left the open
 * transaction half done: the caller must dmrow_md_abort() it.
 *
 * Once read-only (dmrow_md_set_read_only(), or opened so), modifying
 * functions return -EROFS and lookups keep working.  Once failed
 * (dmrow_md_set_failed()), everything returns -EIO.
 */
#ifndef DM_ROW_METADATA_H
#define DM_ROW_METADATA_H

#include <linux/types.h>
#include <dm-row/ondisk.h>

struct dmrow_bm;
struct dmrow_metadata;
struct dmrow_map_cache;

#define DMROW_DEFAULT_QUOTA	256

/* Pool. */
struct dmrow_pool_info {
	u64 transaction_id;
	u64 metadata_blocks;
	u64 metadata_used;
	u64 data_blocks;
	u64 data_used;		/* counted: mapped by some image */
	u64 data_held;		/* free on disk but not to hand out: see alloc_data_block */
	u32 data_block_sectors;
	u32 time;
	u32 manual_quota;
	u32 auto_quota;
	u64 next_snapshot_id;
	bool needs_check;
	bool read_only;
	u8 uuid[16];
};

/* The superblock slots are all zero: nothing was ever formatted here. */
int dmrow_md_is_unformatted(struct dmrow_bm *bm, bool *unformatted);

int dmrow_md_format(struct dmrow_bm *bm, u32 data_block_sectors, u64 nr_data_blocks,
		    const u8 uuid[16], struct dmrow_metadata **result);
int dmrow_md_open(struct dmrow_bm *bm, bool read_only, struct dmrow_metadata **result);
/* Frees the in-core state; commits nothing. */
void dmrow_md_close(struct dmrow_metadata *md);

int dmrow_md_commit(struct dmrow_metadata *md);
/* Forget the open transaction: back to the last commit. */
int dmrow_md_abort(struct dmrow_metadata *md);
/* Whether the open transaction changed anything. */
bool dmrow_md_dirty(struct dmrow_metadata *md);
/*
 * A count that goes up with every change to the open transaction: equal
 * before and after a call, the call changed nothing (a refusal).
 */
u64 dmrow_md_changes(struct dmrow_metadata *md);

/*
 * The metadata kept back from the I/O path: what a commit, and the
 * messages that free space, may need once new blocks are refused.
 */
static inline u64 dmrow_metadata_reserve(u64 metadata_blocks)
{
	return metadata_blocks / 64 > 64 ? metadata_blocks / 64 : 64;
}

/*
 * The I/O path keeps dmrow_metadata_reserve() blocks back (see "The
 * metadata reserve" in dm-row-metadata.c).  Harnesses whose images are
 * smaller than the reserve set their own; the pool never calls this.
 */
#define DMROW_IO_RESERVE_DEFAULT (~0ULL)
void dmrow_md_set_io_reserve(struct dmrow_metadata *md, u64 blocks);
/*
 * Promise the I/O path that up to @want more mappings will fit within the
 * metadata reserve whatever else happens before they are inserted: room
 * for them at their worst is kept from every other change of the I/O path
 * until each is passed to dmrow_md_insert_blocks() with @promised set
 * (mapped, refused or failed, the promise is spent).  *@granted: how many
 * were promised, perhaps fewer than @want or none.  dmrow_md_unpromise_io()
 * gives back @nr promises not used.
 */
int dmrow_md_promise_io(struct dmrow_metadata *md, unsigned int want, unsigned int *granted);
void dmrow_md_unpromise_io(struct dmrow_metadata *md, unsigned int nr);

void dmrow_md_set_read_only(struct dmrow_metadata *md);
void dmrow_md_set_failed(struct dmrow_metadata *md);
/* Record in the superblock that the pool needs an offline check (commits). */
/* ... and that it had one and is clean (commits). */
int dmrow_md_clear_needs_check(struct dmrow_metadata *md);
int dmrow_md_set_needs_check(struct dmrow_metadata *md);

int dmrow_md_pool_info(struct dmrow_metadata *md, struct dmrow_pool_info *info);
int dmrow_md_set_quota(struct dmrow_metadata *md, u32 manual, u32 automatic);
/* The data or metadata device grew. */
int dmrow_md_resize_data(struct dmrow_metadata *md, u64 nr_data_blocks);
int dmrow_md_resize_metadata(struct dmrow_metadata *md, u64 nr_metadata_blocks);

/* Disks. */
struct dmrow_disk_info {
	u64 id;
	u64 size_blocks;
	u64 created;
	u64 first_snapshot;
	u64 last_snapshot;
	u64 origin_snapshot;
	u32 flags;		/* DMROW_DISK_* */
	u32 nr_manual;
	u32 nr_auto;
	u32 policy_id;
	u32 snapshotted_time;	/* mappings written before it may be shared */
	u64 origin_blocks;	/* DMROW_DISK_EXTERNAL_ORIGIN: blocks it serves */
	u64 hydrated_blocks;	/* ... and below which every image maps them */
	char name[DMROW_NAME_LEN];
};

/*
 * Walking a disk's snapshot chain along its next links.  A sound chain holds
 * the nr_manual + nr_auto snapshots its disk record counts, but damaged
 * metadata can hold a loop, and a damaged record can count 2^33 snapshots:
 * bounding the walk by the counts alone would go round a loop billions of
 * times under the metadata lock.  So the walk also looks for a loop
 * (Brent's algorithm: the id seen at each power of two of steps is kept;
 * meeting it again is a loop), and ends within a few times as many steps
 * as there are distinct snapshots on the way (four at worst), whatever the
 * record says.  Neither blocks nor needs a lock.
 */
struct dmrow_chain_walk {
	u64 steps;		/* snapshots visited */
	u64 counted;		/* what the disk record counts */
	u64 mark;		/* the id visited at the last power of two */
	u64 next_mark;		/* the step at which mark moves on */
};

static inline void dmrow_chain_walk_init(struct dmrow_chain_walk *walk, u64 counted)
{
	walk->steps = 0;
	walk->counted = counted;
	walk->mark = 0;		/* no snapshot has id 0 */
	walk->next_mark = 1;
}

/*
 * Count a visit to snapshot @id.  False when the walk has come back to a
 * snapshot it passed (a loop) or has gone past the counted length: the
 * chain is corrupt.
 */
static inline bool dmrow_chain_walk_step(struct dmrow_chain_walk *walk, u64 id)
{
	if (id == walk->mark || ++walk->steps > walk->counted)
		return false;
	if (walk->steps == walk->next_mark) {
		walk->mark = id;
		walk->next_mark <<= 1;
	}
	return true;
}

int dmrow_md_create_disk(struct dmrow_metadata *md, u64 id, u64 size_blocks,
			 const char *name, u64 now);
/*
 * Drop a disk's live head.  Its snapshots stay (a removed disk's chain can
 * still be cloned) unless it has DMROW_DISK_DELETE_AUTO_SNAPS, which
 * deletes its automatic ones; the record goes with the last snapshot.
 */
int dmrow_md_remove_disk(struct dmrow_metadata *md, u64 id);
int dmrow_md_resize_disk(struct dmrow_metadata *md, u64 id, u64 size_blocks);
int dmrow_md_get_disk(struct dmrow_metadata *md, u64 id, struct dmrow_disk_info *info);
/* The disk with the smallest id >= @from: -ENODATA past the last. */
int dmrow_md_next_disk(struct dmrow_metadata *md, u64 from, struct dmrow_disk_info *info);
int dmrow_md_set_disk_name(struct dmrow_metadata *md, u64 id, const char *name);
/* Set the flags in @mask (DELETE_AUTO_SNAPS, LOGICAL_4K) to those of @flags. */
int dmrow_md_set_disk_flags(struct dmrow_metadata *md, u64 id, u32 flags, u32 mask);
int dmrow_md_set_disk_policy(struct dmrow_metadata *md, u64 id, u32 policy_id);
/*
 * Give a live disk an external origin of @origin_blocks (at most its size):
 * -EBUSY unless it has none and holds nothing (no mapping, no snapshot,
 * not a clone).  @origin_blocks 0 takes it away: -ENODATA if none, -EBUSY
 * until hydrated_blocks reaches origin_blocks.  A disk with an origin is
 * never shrunk below it (dmrow_md_resize_disk(): -EBUSY).
 */
int dmrow_md_set_disk_origin(struct dmrow_metadata *md, u64 id, u64 origin_blocks);

/* The I/O path. */
struct dmrow_mapping {
	u64 data_block;
	u32 time;		/* pool time of the write that made it */
	bool shared;		/* held by a snapshot or clone too: write elsewhere */
};

/*
 * Look up @vblock in a disk's live head (@snap_id 0) or in a snapshot.
 * -ENODATA: not mapped.  -ENOENT: no such live disk or snapshot of it.
 */
int dmrow_md_find_block(struct dmrow_metadata *md, u64 disk_id, u64 snap_id,
			u64 vblock, struct dmrow_mapping *result);
/*
 * dmrow_md_find_block() for the I/O fast path: never sleeps (not on I/O, not
 * on the metadata lock); -EWOULDBLOCK when the answer is not at hand.
 */
int dmrow_md_try_find_block(struct dmrow_metadata *md, u64 disk_id, u64 snap_id,
			    u64 vblock, struct dmrow_mapping *result);
/*
 * dmrow_md_try_find_block() for @vblock and up to *@nr_blocks - 1 blocks after
 * it.  The return value and @result are the first block's; on 0 or -ENODATA,
 * *@nr_blocks is the length of the run that starts there: blocks as unmapped
 * as the first, or mapped to the data blocks that follow its data block and,
 * when it is not shared, not shared either.  A lookup that would block ends
 * the run.
 */
int dmrow_md_try_find_run(struct dmrow_metadata *md, u64 disk_id, u64 snap_id,
			  u64 vblock, unsigned int *nr_blocks, struct dmrow_mapping *result);
/*
 * A live disk's mapping cache joins the metadata: from now on every change
 * to the disk's tree or its snapshotted_time reaches it, and lookups of the
 * disk by dmrow_md_try_find_run() fill it.  Detach before destroying it.
 */
void dmrow_md_attach_cache(struct dmrow_metadata *md, struct dmrow_map_cache *cache);
void dmrow_md_detach_cache(struct dmrow_metadata *md, struct dmrow_map_cache *cache);
/*
 * For a shrinker, never blocking: the segments the caches hold (0 when the
 * lock is taken), and freeing up to @nr of them (how many; -EBUSY when the
 * lock is taken).
 */
unsigned long dmrow_md_cache_segments(struct dmrow_metadata *md);
long dmrow_md_shrink_caches(struct dmrow_metadata *md, unsigned long nr);
/*
 * Reserve a free data block for a write in flight: the space map passes over
 * it, but it is not counted, dirties nothing and never reaches the disk
 * until dmrow_md_insert_block() maps it (after a crash or an abort it is
 * simply free; reservations survive an abort).  Reported as data_held,
 * not data_used, by dmrow_md_pool_info().  -EAGAIN: commit first (the only free blocks were
 * freed in this transaction).
 */
int dmrow_md_alloc_data_block(struct dmrow_metadata *md, u64 *data_block);
/*
 * The same for up to @max blocks at once, *@nr of them, in the allocator's
 * ascending order: one lock and one look at each refcount block for a run.
 * Fewer than @max (but at least one) when space or the round ran out; the
 * error comes only when none was found.
 */
int dmrow_md_alloc_data_blocks(struct dmrow_metadata *md, u64 *blocks, unsigned int max,
			       unsigned int *nr);
/* Give back a reserved block that was never mapped (its write failed). */
int dmrow_md_release_data_block(struct dmrow_metadata *md, u64 data_block);
/*
 * Map @vblock of a live head to the reserved @data_block, whose data is
 * written: the block is counted, the mapping it replaces loses its
 * reference.  -EINVAL: @vblock is past the disk's end or @data_block is not
 * reserved; nothing changed, the block stays reserved.
 */
int dmrow_md_insert_block(struct dmrow_metadata *md, u64 disk_id, u64 vblock,
			  u64 data_block);
/*
 * dmrow_md_insert_block() of several writes at once, under one lock, the
 * new blocks counted together.  An entry whose @result is nonzero on entry
 * is passed over.  Each entry's refusal (-EINVAL as above, -ENODATA: no
 * such live disk, -ENOSPC: mapping it could take metadata kept in reserve,
 * see "The metadata reserve" in dm-row-metadata.c) is in its @result and
 * changes nothing; the return value is a failure that leaves the
 * transaction to be aborted (-EROFS: none, the pool is read-only).
 */
struct dmrow_new_mapping {
	u64 disk_id;
	u64 vblock;
	u64 data_block;
	int result;
	bool promised;	/* covered by dmrow_md_promise_io(): never refused for the reserve */
};
int dmrow_md_insert_blocks(struct dmrow_metadata *md, struct dmrow_new_mapping *maps,
			   unsigned int nr);
/*
 * Hydration of a disk's external origin (see "Hydration" in
 * dm-row-metadata.c).  dmrow_md_hydrate_scan(): the first block from
 * max(@from, hydrated_blocks) on, at most @max blocks on and below
 * origin_blocks, that some image of the disk does not map, in *@vblock;
 * -ENODATA when there is none, with *@vblock where the scan stopped.
 * dmrow_md_hydrate_block(): map the reserved @data_block, which holds the
 * origin's block @vblock, into every image of the disk that does not map
 * it; *@images: how many (0: none lacked it, the block stays reserved).
 * -ENOSPC: it would take metadata kept in reserve, nothing changed.
 * dmrow_md_set_hydrated(): every image maps every origin block below
 * @blocks (hydrated_blocks only grows).  -ENODATA: no such disk, or no
 * origin.
 */
int dmrow_md_hydrate_scan(struct dmrow_metadata *md, u64 disk_id, u64 from, u64 max,
			  u64 *vblock);
int dmrow_md_hydrate_block(struct dmrow_metadata *md, u64 disk_id, u64 vblock,
			   u64 data_block, unsigned int *images);
int dmrow_md_set_hydrated(struct dmrow_metadata *md, u64 disk_id, u64 blocks);
/*
 * Quarantine, for the I/O path.  While on, a data block whose last
 * reference goes (by insert_block or discard) is held, not free: a bio that
 * looked it up earlier may still be reading it.  Quarantined blocks are
 * released in batches: seal the ones so far (the pool notes which bios may
 * still read them), then release the sealed ones when those bios are done.
 * nr_quarantined(@sealed): how many are sealed, or how many are not.
 * Abort keeps the quarantine (the bios are still in flight).
 */
void dmrow_md_quarantine_frees(struct dmrow_metadata *md, bool on);
unsigned int dmrow_md_nr_quarantined(struct dmrow_metadata *md, bool sealed);
void dmrow_md_seal_quarantine(struct dmrow_metadata *md);
void dmrow_md_release_sealed(struct dmrow_metadata *md);
/* Whether the open transaction changed the disk (its mappings or its record). */
bool dmrow_md_disk_uncommitted(struct dmrow_metadata *md, u64 disk_id);
/*
 * map(), never sleeps: true only if every change to the disk is committed
 * (a commit that failed part way leaves them uncommitted) and the metadata
 * is writable.  False also when the lock is held for writing.
 */
bool dmrow_md_try_disk_committed(struct dmrow_metadata *md, u64 disk_id);
/*
 * Unmap [@begin, @end) of a live head (of a disk with an external origin,
 * only what lies past the origin).  -ENOSPC: it stopped before a
 * removal that could take metadata kept in reserve; what it removed
 * before is removed, the transaction is sound.
 */
int dmrow_md_discard(struct dmrow_metadata *md, u64 disk_id, u64 begin, u64 end);

/* Snapshots. */
struct dmrow_snapshot_attrs {
	const char *name;	/* "" for none; unique per disk otherwise */
	u64 created;
	u32 flags;		/* DMROW_SNAP_* */
	u32 policy_id;
	u64 retention_until;
};

struct dmrow_snapshot_info {
	u64 id;
	u64 disk_id;
	u64 prev;
	u64 next;
	u64 created;
	u64 size_blocks;
	u64 delta_blocks;	/* DMROW_DELTA_UNKNOWN until computed */
	u64 retention_until;
	u64 group_id;
	u32 time;
	u32 flags;
	u32 policy_id;
	char name[DMROW_NAME_LEN];
};

/*
 * Snapshot @nr disks at one point in time, in one transaction.  A manual
 * snapshot over quota fails with -EDQUOT; an automatic one evicts the
 * disk's oldest automatic snapshot.  -ERANGE: the pool's clock (2^24
 * snapshot operations) is exhausted.
 */
int dmrow_md_create_snapshots(struct dmrow_metadata *md, unsigned int nr,
			      const u64 *disk_ids,
			      const struct dmrow_snapshot_attrs *attrs,
			      u64 *snap_ids);
int dmrow_md_delete_snapshot(struct dmrow_metadata *md, u64 snap_id);
/* Collapse the consecutive snapshots @first..@last into @last. */
int dmrow_md_merge_snapshots(struct dmrow_metadata *md, u64 first, u64 last);
/*
 * Make the disk's content the snapshot's; later snapshots are kept.  The
 * disk takes the snapshot's size, or with @keep_size keeps its own when
 * that is larger (what lies past the snapshot's size then reads as zeroes).
 */
int dmrow_md_rollback(struct dmrow_metadata *md, u64 disk_id, u64 snap_id, bool keep_size);
/*
 * A new disk sharing the snapshot's blocks, @size_blocks long (0: the
 * snapshot's size; smaller than the snapshot's: -ERANGE).  It inherits its
 * origin disk's logical block size.
 */
int dmrow_md_clone(struct dmrow_metadata *md, u64 snap_id, u64 new_disk_id,
		   const char *name, u64 size_blocks, u64 now);
int dmrow_md_get_snapshot(struct dmrow_metadata *md, u64 snap_id,
			  struct dmrow_snapshot_info *info);
/* The snapshot with the smallest id >= @from: -ENODATA past the last. */
int dmrow_md_next_snapshot(struct dmrow_metadata *md, u64 from,
			   struct dmrow_snapshot_info *info);
int dmrow_md_set_snapshot_name(struct dmrow_metadata *md, u64 snap_id, const char *name);
int dmrow_md_set_snapshot_retention(struct dmrow_metadata *md, u64 snap_id,
				    u64 retention_until);

/* Space accounting, in data blocks. */
/* Blocks the snapshot holds that its predecessor does not (computed once, kept). */
int dmrow_md_snapshot_delta(struct dmrow_metadata *md, u64 snap_id, u64 *blocks);
/* Blocks nothing but this snapshot holds: freed by deleting it. */
int dmrow_md_snapshot_exclusive(struct dmrow_metadata *md, u64 snap_id, u64 *blocks);
/* Blocks the live head holds that its newest snapshot does not. */
int dmrow_md_disk_delta(struct dmrow_metadata *md, u64 disk_id, u64 *blocks);
/* All the disk's snapshots hold: the sum of their deltas. */
int dmrow_md_chain_capacity(struct dmrow_metadata *md, u64 disk_id, u64 *blocks);
/* Blocks mapped in a disk's live head (@snap_id 0) or a snapshot. */
int dmrow_md_mapped_blocks(struct dmrow_metadata *md, u64 disk_id, u64 snap_id,
			   u64 *blocks);

/*
 * The blocks that differ between two images of one chain: @from_snap (0:
 * the empty disk) and @to_snap (0: the disk's live head).  @fn gets each
 * changed virtual block in order from @start on, with the data block
 * @to_snap maps it to, or DMROW_UNMAPPED if @to_snap does not map it.
 * The blocks below @start are not read.
 */
#define DMROW_UNMAPPED (~0ULL)
int dmrow_md_diff(struct dmrow_metadata *md, u64 disk_id, u64 from_snap, u64 to_snap,
		  u64 start, int (*fn)(void *context, u64 vblock, u64 data_block),
		  void *context);

#endif /* DM_ROW_METADATA_H */
