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
#define DM_ROW_VERSION_MINOR		6
#define DM_ROW_VERSION_PATCH		0

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

/*
 * Disk table line:
 *
 *   <start> <len> row <pool dev> <disk id> [<snapshot id>]
 *                     [logical_block_size=<512|4096>]
 *
 * Without a snapshot id the device is the disk's live, writable head; with
 * one it is a read-only view of that snapshot.  logical_block_size is the
 * logical block size the device advertises (default 512; 4096 needs data
 * blocks of 4 KiB or more).
 *
 * Disk status: <disk id> <snapshot id or -> <pool mode> <new block writes>
 *              <partial block copies> <partial block zero fills>
 */
#define DM_ROW_LOGICAL_BLOCK_SIZE_ARG	"logical_block_size="


/* Identifier limits. */
#define DM_ROW_MAX_DISK_ID		((1ULL << 24) - 1)
#define DM_ROW_NAME_LEN			64	/* including the NUL */

#endif /* _UAPI_LINUX_DM_ROW_H */
