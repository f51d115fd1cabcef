/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Consistency check of pool metadata: see dm-row-check.c.
 */
#ifndef DM_ROW_CHECK_H
#define DM_ROW_CHECK_H

#include <linux/types.h>

struct dmrow_metadata;

struct dmrow_check_result {
	u64 nr_problems;
	u64 nr_disks;
	u64 nr_snapshots;
	u64 nr_mapping_nodes;	/* distinct nodes of all mapping trees */
	u64 nr_mappings;	/* entries in those nodes */
	u64 metadata_used;
	u64 data_used;
	bool needs_check_flag;
};

/*
 * Check everything reachable from the superblock.  @problem (may be NULL)
 * gets one line per problem found.  Returns 0 when the check ran (see
 * result->nr_problems), -EBUSY if the pool has uncommitted changes, or the
 * error that stopped it.  Takes the metadata lock; may block.
 */
int dmrow_md_check(struct dmrow_metadata *md, struct dmrow_check_result *result,
		   void (*problem)(void *context, const char *message), void *context);

#endif /* DM_ROW_CHECK_H */
