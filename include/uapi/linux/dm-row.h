/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dm-row: redirect-on-write snapshots for device-mapper.
 *
 * This header is the ABI between the dm-row targets and userspace: the
 * target names and versions, the table-line grammar, the message verbs and
 * the order of status fields.  Numbers and field orders are append-only;
 * every interface change bumps the target version (see the Version History
 * in Documentation/dm-row.rst).
 */
#ifndef _UAPI_LINUX_DM_ROW_H
#define _UAPI_LINUX_DM_ROW_H

#include <linux/types.h>

/* Target type names, as they appear in a dmsetup table line. */
#define DM_ROW_POOL_TARGET_NAME		"row-pool"
#define DM_ROW_DISK_TARGET_NAME		"row"

/* Target versions: major.minor.patch, reported by `dmsetup targets`. */
#define DM_ROW_VERSION_MAJOR		0
#define DM_ROW_VERSION_MINOR		7
#define DM_ROW_VERSION_PATCH		1

/*
 * Pool table line:
 *
 *   <start> <len> row-pool <metadata dev> <data dev> <data block size>
 *                          <low water mark> [<#feature args> <arg>*]
 *
 * data block size: in 512-byte sectors, a power of two between
 *                  DM_ROW_MIN_BLOCK_SECTORS and DM_ROW_MAX_BLOCK_SECTORS.
 * low water mark:  free data blocks below which a dm event is raised.
 * feature args:    read_only, error_if_no_space,
 *                  no_space_timeout <seconds>, cache_blocks <n>.
 */
#define DM_ROW_MIN_BLOCK_SECTORS	8	/* 4 KiB */
#define DM_ROW_MAX_BLOCK_SECTORS	2048	/* 1 MiB */
#define DM_ROW_DEFAULT_NO_SPACE_TIMEOUT	60	/* seconds */

/* Pool feature args: no_space_timeout and cache_blocks take a value. */
#define DM_ROW_POOL_READ_ONLY_ARG		"read_only"
#define DM_ROW_POOL_ERROR_IF_NO_SPACE_ARG	"error_if_no_space"
#define DM_ROW_POOL_NO_SPACE_TIMEOUT_ARG	"no_space_timeout"	/* <seconds> */
#define DM_ROW_POOL_CACHE_BLOCKS_ARG		"cache_blocks"		/* <n> */

/*
 * Disk table line:
 *
 *   <start> <len> row <pool dev> <disk id> [<snapshot id>]
 *                     [logical_block_size=<512|4096>] [external_origin=<dev>]
 *
 * Without a snapshot id the device is the disk's live, writable head; with
 * one it is a read-only view of that snapshot.  logical_block_size is the
 * logical block size the device advertises (default 512; 4096 needs data
 * blocks of 4 KiB or more).  external_origin is the read-only device a
 * disk with an external origin reads where it maps nothing (required for
 * such a disk, refused for any other).
 *
 * Disk status: the fields of enum dm_row_disk_status_field, in that order.
 */
#define DM_ROW_LOGICAL_BLOCK_SIZE_ARG	"logical_block_size="
#define DM_ROW_EXTERNAL_ORIGIN_ARG	"external_origin="	/* <dev> */

/*
 * Messages: `dmsetup message <pool> 0 <verb> [<argument>...]`, the grammar
 * of each in Documentation/dm-row.rst ("Messages").  Ids and sizes are
 * decimal; sizes are in sectors, a multiple of the data block size.
 */
#define DM_ROW_MSG_COMMIT		"commit"
#define DM_ROW_MSG_CREATE_DISK		"create_disk"	/* <disk> <size> [<name>] */
#define DM_ROW_MSG_REMOVE_DISK		"remove_disk"	/* <disk> */
#define DM_ROW_MSG_RESIZE_DISK		"resize_disk"	/* <disk> <size> */
#define DM_ROW_MSG_SET_DISK		"set_disk"	/* <disk> <attr>=<value>... */
#define DM_ROW_MSG_SNAPSHOT		"snapshot"	/* <disk>[,<disk>...] [<attr>=<value>...] */
#define DM_ROW_MSG_DELETE_SNAPSHOT	"delete_snapshot" /* <snapshot> */
#define DM_ROW_MSG_MERGE		"merge"		/* <first snapshot> <last snapshot> */
#define DM_ROW_MSG_ROLLBACK		"rollback"	/* <disk> <snapshot> [keep_size|snapshot_size] */
#define DM_ROW_MSG_CLONE		"clone"		/* <snapshot> <new disk> [<name> [<size>]] */
#define DM_ROW_MSG_SET_SNAPSHOT		"set_snapshot"	/* <snapshot> <attr>=<value>... */
#define DM_ROW_MSG_SET_QUOTA		"set_quota"	/* <manual> <auto> */
#define DM_ROW_MSG_INFO			"info"		/* pool | disk <id> | snapshot <id> */
#define DM_ROW_MSG_LIST_DISKS		"list_disks"	/* [<from disk>] */
#define DM_ROW_MSG_LIST_SNAPSHOTS	"list_snapshots" /* <disk> [<from snapshot>] */
#define DM_ROW_MSG_SPACE		"space"		/* disk <id> | snapshot <id> */
#define DM_ROW_MSG_DIFF			"diff"		/* <disk> <from|0> <to|0> [<start block>] */
#define DM_ROW_MSG_HYDRATE		"hydrate"	/* <disk> <bytes per second>|stop */

/* set_disk attributes */
#define DM_ROW_DISK_NAME		"name"
#define DM_ROW_DISK_DELETE_AUTO_SNAPSHOTS "delete_auto_snapshots"	/* 0 or 1 */
#define DM_ROW_DISK_POLICY		"policy"
#define DM_ROW_DISK_LOGICAL_BLOCK_SIZE	"logical_block_size"		/* 512 or 4096 */
#define DM_ROW_DISK_EXTERNAL_ORIGIN	"external_origin"	/* <sectors>, or none */

/* set_disk external_origin=none: the disk no longer has one */
#define DM_ROW_DISK_EXTERNAL_ORIGIN_NONE "none"

/* snapshot attributes (name, policy and retention also of set_snapshot) */
#define DM_ROW_SNAP_NAME		"name"		/* one per disk, comma separated */
#define DM_ROW_SNAP_KIND		"kind"		/* manual (default) or auto */
#define DM_ROW_SNAP_CONSISTENCY		"consistency"	/* crash (default) or app */
#define DM_ROW_SNAP_POLICY		"policy"
#define DM_ROW_SNAP_RETENTION		"retention"	/* seconds since the epoch; 0: forever */
#define DM_ROW_SNAP_TIME		"time"		/* creation time instead of now */

/* values of kind= and consistency= */
#define DM_ROW_SNAP_KIND_MANUAL		"manual"
#define DM_ROW_SNAP_KIND_AUTO		"auto"
#define DM_ROW_SNAP_CONSISTENCY_CRASH	"crash"
#define DM_ROW_SNAP_CONSISTENCY_APP	"app"

/* rollback's last argument */
#define DM_ROW_ROLLBACK_KEEP_SIZE	"keep_size"
#define DM_ROW_ROLLBACK_SNAPSHOT_SIZE	"snapshot_size"

/* what info and space report on (space: a disk or a snapshot) */
#define DM_ROW_OBJECT_POOL		"pool"
#define DM_ROW_OBJECT_DISK		"disk"		/* <id> */
#define DM_ROW_OBJECT_SNAPSHOT		"snapshot"	/* <id> */

/* hydrate's argument instead of a rate */
#define DM_ROW_HYDRATE_STOP		"stop"

/* Disks in one snapshot message (an instance snapshot). */
#define DM_ROW_MAX_SNAPSHOT_DISKS	64

/*
 * Pool status, after "<start> <length> row-pool": these fields, blank
 * separated, in this order; or "Fail" alone once the pool has failed.
 */
enum dm_row_pool_status_field {
	DM_ROW_POOL_STATUS_TRANSACTION,		/* last committed transaction id */
	DM_ROW_POOL_STATUS_METADATA,		/* <used>/<total> metadata blocks */
	DM_ROW_POOL_STATUS_DATA,		/* <used>/<total> data blocks */
	DM_ROW_POOL_STATUS_MODE,		/* rw, out_of_data_space, ro */
	DM_ROW_POOL_STATUS_NEEDS_CHECK,		/* needs_check or - */
	DM_ROW_POOL_STATUS_NO_SPACE,		/* error_if_no_space or queue_if_no_space */
	DM_ROW_POOL_STATUS_METADATA_LOW,	/* metadata_low or - */
	DM_ROW_POOL_STATUS_NR_FIELDS
};
#define DM_ROW_POOL_STATUS_FAIL		"Fail"

/* Disk status, after "<start> <length> row": these fields, in this order. */
enum dm_row_disk_status_field {
	DM_ROW_DISK_STATUS_DISK,		/* disk id */
	DM_ROW_DISK_STATUS_SNAPSHOT,		/* snapshot id of a view, - for the live head */
	DM_ROW_DISK_STATUS_POOL_MODE,		/* rw, out_of_data_space, ro, fail */
	DM_ROW_DISK_STATUS_NEW_BLOCK_WRITES,
	DM_ROW_DISK_STATUS_PARTIAL_COPIES,
	DM_ROW_DISK_STATUS_PARTIAL_ZERO_FILLS,
	DM_ROW_DISK_STATUS_CACHE_BYTES,
	DM_ROW_DISK_STATUS_CACHE_BUDGET,
	DM_ROW_DISK_STATUS_CACHE_HITS,
	DM_ROW_DISK_STATUS_CACHE_MISSES,
	DM_ROW_DISK_STATUS_EARLY_ACKS,
	DM_ROW_DISK_STATUS_HYDRATED,		/* <hydrated>/<origin> blocks, - without an origin */
	DM_ROW_DISK_STATUS_HYDRATION,		/* -, off, paused, running, done */
	DM_ROW_DISK_STATUS_HYDRATION_ERRORS,	/* failed copies from the origin */
	DM_ROW_DISK_STATUS_NR_FIELDS
};


/*
 * Identifier limits.  A disk or snapshot name is up to DM_ROW_NAME_LEN - 1
 * printable ASCII characters without blanks (0x21 to 0x7e); an empty name
 * is no name.  DM_ROW_NAME_LEN is the on-disk DMROW_NAME_LEN.
 */
#define DM_ROW_MAX_DISK_ID		((1ULL << 24) - 1)
#define DM_ROW_NAME_LEN			64	/* including the NUL */

#endif /* _UAPI_LINUX_DM_ROW_H */
