/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-row on-disk metadata format.  Every structure here is little endian,
 * packed, and its size is checked at compile time.  The format is described
 * in Documentation/ondisk-format.rst; change both together.
 *
 * Every metadata block is DMROW_METADATA_BLOCK_SIZE bytes and starts with
 * struct row_disk_block_header: a crc32c over the rest of the block seeded
 * per block type, the block's own location, and the transaction that wrote
 * it.  A block read from the wrong place, or torn, or of the wrong type,
 * fails its check.
 */
#ifndef DM_ROW_ONDISK_H
#define DM_ROW_ONDISK_H

#include <linux/types.h>
#include <linux/build_bug.h>
#include <linux/dm-row.h>

#define DMROW_METADATA_BLOCK_SIZE	4096
#define DMROW_METADATA_BLOCK_SHIFT	12
#define DMROW_SECTORS_PER_METADATA_BLOCK (DMROW_METADATA_BLOCK_SIZE >> 9)

/*
 * Two superblock slots: transaction N is committed by writing slot N % 2,
 * so a torn superblock write leaves the other, previous one intact.
 */
#define DMROW_SUPERBLOCK_SLOTS		2
#define DMROW_SUPERBLOCK_MAGIC		0x3130776f722d6d64ULL	/* "dm-row01" */
#define DMROW_FORMAT_VERSION		1

/*
 * Feature flags.  A pool with an unknown incompat bit is refused; with an
 * unknown ro_compat bit it may only be opened read-only; compat bits are
 * informational.
 */
#define DMROW_FEATURE_COMPAT_SUPP	0ULL
#define DMROW_FEATURE_RO_COMPAT_SUPP	0ULL
/*
 * Some disk has (or had) an external origin: a module that does not know
 * origins would read zeroes where the disk reads its origin.
 */
#define DMROW_FEATURE_INCOMPAT_ORIGINS	(1ULL << 0)
#define DMROW_FEATURE_INCOMPAT_SUPP	DMROW_FEATURE_INCOMPAT_ORIGINS

/* Superblock flags. */
#define DMROW_SB_NEEDS_CHECK		(1U << 0)

/* Per block type checksum seeds: the crc32c's starting value. */
#define DMROW_CSUM_SEED_SUPERBLOCK	0x5b0f8926U
#define DMROW_CSUM_SEED_BTREE		0x2904697eU
#define DMROW_CSUM_SEED_REFCOUNT	0x7a7d77bcU

struct row_disk_block_header {
	__le32 csum;		/* crc32c of bytes 4..end, seeded per type */
	__le32 flags;		/* meaning depends on the block type */
	__le64 blocknr;		/* where this block lives */
	__le64 txn;		/* transaction that wrote it */
} __packed;
static_assert(sizeof(struct row_disk_block_header) == 24);

/*
 * A space map: reference counts of a device's blocks.  Counts live in
 * refcount blocks of DMROW_REFCOUNTS_PER_BLOCK 32-bit counters; an index
 * B-tree maps refcount-block number to struct row_disk_sm_index_entry.  A
 * refcount block that is absent from the index holds only zero counts.
 */
struct row_disk_space_map {
	__le64 nr_blocks;	/* blocks the map covers */
	__le64 nr_allocated;	/* blocks with a nonzero count */
	__le64 index_root;	/* B-tree: refcount-block number -> index entry */
} __packed;
static_assert(sizeof(struct row_disk_space_map) == 24);

struct row_disk_sm_index_entry {
	__le64 blocknr;		/* location of the refcount block */
	__le32 nr_free;		/* zero counts in it */
	__le32 reserved;
} __packed;
static_assert(sizeof(struct row_disk_sm_index_entry) == 16);

#define DMROW_REFCOUNTS_PER_BLOCK \
	((DMROW_METADATA_BLOCK_SIZE - sizeof(struct row_disk_block_header)) / sizeof(__le32))

struct row_disk_refcount_block {
	struct row_disk_block_header hdr;
	__le32 counts[DMROW_REFCOUNTS_PER_BLOCK];
} __packed;
static_assert(sizeof(struct row_disk_refcount_block) == DMROW_METADATA_BLOCK_SIZE);

/*
 * B+tree node.  Keys are 64-bit; values have a size fixed per tree.  In an
 * internal node the value is the __le64 location of a child and key[i] is a
 * lower bound of every key below child i.  hdr.flags says leaf or internal.
 */
#define DMROW_BTREE_INTERNAL		(1U << 0)
#define DMROW_BTREE_LEAF		(1U << 1)

struct row_disk_btree_node {
	struct row_disk_block_header hdr;
	__le32 nr_entries;
	__le32 max_entries;
	__le32 value_size;
	__le32 reserved;
	__le64 keys[];		/* then max_entries values */
} __packed;
static_assert(sizeof(struct row_disk_btree_node) == 40);

/*
 * A block mapping, the value of a mapping tree: the data block in the low
 * 40 bits, the pool time of the write that put it there in the high 24.
 * A mapping older than its disk's snapshotted_time is shared with a
 * snapshot and must not be overwritten in place.
 */
#define DMROW_MAPPING_TIME_BITS		24
#define DMROW_MAPPING_BLOCK_BITS	40
#define DMROW_MAX_DATA_BLOCKS		(1ULL << DMROW_MAPPING_BLOCK_BITS)
#define DMROW_MAX_POOL_TIME		((1U << DMROW_MAPPING_TIME_BITS) - 1)

#define DMROW_NAME_LEN			DM_ROW_NAME_LEN	/* the ABI's, NUL included */

/* Disk record flags. */
#define DMROW_DISK_REMOVED		(1U << 0)	/* live head gone, chain kept */
#define DMROW_DISK_DELETE_AUTO_SNAPS	(1U << 1)	/* on remove, delete auto snapshots */
#define DMROW_DISK_LOGICAL_4K		(1U << 2)	/* its devices use 4 KiB logical blocks */
/*
 * An external origin: a block below origin_blocks that an image of the disk
 * (its live head, its snapshots) does not map reads from a read-only
 * device given in the table line, not as zeroes.  Every image of the disk
 * maps every origin block below hydrated_blocks that is not all zeroes.
 */
#define DMROW_DISK_EXTERNAL_ORIGIN	(1U << 3)

/* A disk: its live head and the ends of its snapshot chain. */
struct row_disk_disk {
	__le64 id;
	__le64 root;			/* mapping tree of the live head, 0 if none */
	__le64 size_blocks;		/* virtual size in data blocks */
	__le64 created;			/* seconds since the epoch */
	__le64 first_snapshot;		/* oldest snapshot id, 0 if none */
	__le64 last_snapshot;		/* newest snapshot id, 0 if none */
	__le64 reserved0;
	__le64 origin_snapshot;		/* a clone's source, 0 if none */
	__le32 snapshotted_time;	/* mappings older than this are shared */
	__le32 flags;
	__le32 nr_manual;		/* manual snapshots in the chain */
	__le32 nr_auto;			/* automatic snapshots in the chain */
	__le32 policy_id;		/* automatic snapshot policy, 0 if none */
	__le32 reserved;
	__le64 origin_blocks;		/* EXTERNAL_ORIGIN: blocks the origin serves */
	__le64 hydrated_blocks;		/* EXTERNAL_ORIGIN: hydrated below this */
	__le64 reserved2[2];
	char name[DMROW_NAME_LEN];
} __packed;
static_assert(sizeof(struct row_disk_disk) == 184);

/* Snapshot record flags. */
#define DMROW_SNAP_AUTO			(1U << 0)	/* taken by a policy */
#define DMROW_SNAP_APP_CONSISTENT	(1U << 1)	/* filesystems were frozen */

#define DMROW_DELTA_UNKNOWN		(~0ULL)

/* A snapshot: a read-only mapping tree in a disk's chain. */
struct row_disk_snapshot {
	__le64 id;
	__le64 disk_id;
	__le64 root;			/* mapping tree */
	__le64 prev;			/* older neighbour in the chain, 0 if none */
	__le64 next;			/* newer neighbour in the chain, 0 if none */
	__le64 created;			/* seconds since the epoch */
	__le64 size_blocks;		/* the disk's size when taken */
	__le64 delta_blocks;		/* blocks it holds that prev does not;
					 * DMROW_DELTA_UNKNOWN until first asked */
	__le64 retention_until;		/* seconds since the epoch, 0: forever */
	__le64 group_id;		/* instance snapshot: id of the group's first, else 0 */
	__le32 time;			/* pool time when taken */
	__le32 flags;
	__le32 policy_id;
	__le32 reserved;
	__le64 reserved2[2];
	char name[DMROW_NAME_LEN];
} __packed;
static_assert(sizeof(struct row_disk_snapshot) == 176);

struct row_disk_superblock {
	struct row_disk_block_header hdr;
	__le64 magic;
	__le32 version;
	__le32 metadata_block_size;	/* bytes */
	__le64 compat_flags;
	__le64 ro_compat_flags;
	__le64 incompat_flags;
	__u8 uuid[16];
	__le32 data_block_sectors;
	__le32 time;			/* pool time: bumped by every snapshot operation */
	__le64 next_snapshot_id;
	__le32 manual_quota;		/* per disk */
	__le32 auto_quota;		/* per disk */
	struct row_disk_space_map metadata_sm;
	struct row_disk_space_map data_sm;
	__le64 disk_tree_root;		/* disk id -> struct row_disk_disk */
	__le64 snapshot_tree_root;	/* snapshot id -> struct row_disk_snapshot */
	__le64 reserved[8];
} __packed;
static_assert(sizeof(struct row_disk_superblock) == 232);

#endif /* DM_ROW_ONDISK_H */
