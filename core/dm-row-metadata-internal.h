/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-core pool metadata, shared by the files of the metadata layer
 * (dm-row-metadata.c and the checker, dm-row-check.c).  Nothing outside the
 * metadata layer includes this.
 */
#ifndef DM_ROW_METADATA_INTERNAL_H
#define DM_ROW_METADATA_INTERNAL_H

#include <linux/rwsem.h>

#include "dm-row-metadata.h"
#include "dm-row-block-manager.h"
#include "dm-row-btree.h"
#include "dm-row-space-map.h"
#include "dm-row-transaction.h"

#define MAX_SNAPSHOTS_AT_ONCE 64

/* In-core copy of a disk record, written back at commit when changed. */
struct disk_state {
	struct disk_state *next;
	struct row_disk_disk rec;
	bool changed;
};

/* How many mappings of a batch dmrow_md_insert_blocks() sorts at once. */
#define DMROW_INSERT_CHUNK	64

struct dmrow_metadata {
	struct rw_semaphore lock;
	struct dmrow_bm *bm;
	struct dmrow_tm tm;
	struct dmrow_sm metadata_sm;
	struct dmrow_sm data_sm;
	struct dmrow_btree_info mapping_info;
	struct dmrow_btree_info disk_info;
	struct dmrow_btree_info snapshot_info;
	struct row_disk_superblock sb;		/* the open transaction's */
	struct row_disk_superblock committed_sb;
	struct disk_state *disks;
	/* Live disks' mapping caches, told of every change (dm-row-map-cache.c). */
	struct dmrow_map_cache *caches;
	/*
	 * Held data blocks: free in the space map (count zero) but not to be
	 * handed out.  Two kinds, both in memory only, kept across aborts:
	 * blocks reserved for writes in flight, not mapped yet (a crash or an
	 * abort leaves them simply free), and blocks freed by the I/O path
	 * that a bio admitted before the free may still be reading
	 * (quarantined until the pool says no such bio is left).  The value
	 * is how many times a block is held.
	 */
	struct dmrow_delta_map held;
	u64 nr_held;
	bool quarantine_frees;		/* blocks freed now are quarantined */
	u64 io_reserve;			/* DMROW_IO_RESERVE_DEFAULT, or a test's */
	u64 io_promised;		/* mappings promised room (dmrow_md_promise_io()) */
	u64 io_promise_cost;		/* metadata blocks kept for each of them */
	u64 *quarantine;		/* quarantined blocks, in order */
	unsigned int nr_quarantined;
	unsigned int quarantine_slots;
	unsigned int nr_sealed;		/* the first ones, released together */
	bool read_only;
	bool failed;
	bool dirty;
	/*
	 * Scratch, used under the lock held for writing.  For
	 * dmrow_md_insert_blocks(): a chunk of a batch in key order, handed
	 * to dmrow_btree_insert_run() one disk's run at a time.  For a shared
	 * mapping leaf being copied: its data blocks, sorted to be counted
	 * in runs (a whole leaf of 4 KiB metadata blocks fits).
	 */
	struct {
		u64 leaf_blocks[256];
		u16 order[DMROW_INSERT_CHUNK];	/* indices into the chunk, sorted */
		u64 keys[DMROW_INSERT_CHUNK];
		__le64 values[DMROW_INSERT_CHUNK];
		__le64 olds[DMROW_INSERT_CHUNK];
		bool replaced[DMROW_INSERT_CHUNK];
	} ins;
};


/*
 * The most steps a walk along a disk's snapshot chain can take: the chain
 * holds nr_manual + nr_auto snapshots.  A walk that needs more has met a
 * loop in corrupt metadata (or counts that lie), and stops with -EILSEQ
 * rather than go round forever under the metadata lock.
 */
static inline u64 dmrow_chain_max_len(const struct row_disk_disk *disk)
{
	return (u64)le32_to_cpu(disk->nr_manual) + le32_to_cpu(disk->nr_auto);
}

/* Mapping values: the data block in the low bits, the pool time above. */
static inline void dmrow_unpack_mapping(const void *value, u64 *block, u32 *time)
{
	__le64 le;
	u64 v;

	memcpy(&le, value, sizeof(le));
	v = le64_to_cpu(le);
	*block = v & (DMROW_MAX_DATA_BLOCKS - 1);
	*time = v >> DMROW_MAPPING_BLOCK_BITS;
}

static inline __le64 dmrow_pack_mapping(u64 block, u32 time)
{
	return cpu_to_le64(((u64)time << DMROW_MAPPING_BLOCK_BITS) | block);
}

#endif /* DM_ROW_METADATA_INTERNAL_H */
