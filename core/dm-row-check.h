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
	u64 nr_repairable;	/* of those, wrong reference counts a repair fixes */
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

/*
 * Repair what the check finds, when every problem is a wrong reference
 * count (see "Repair" in dm-row-check.c), and clear the needs_check flag,
 * in one commit; then check again.  @found gets the first check, @after
 * the check after the repair (nr_problems 0 unless the repair failed to
 * fix something).  Returns 0 when the pool was clean or was repaired,
 * -EUCLEAN with nothing changed when some problem is not a count (or is a
 * referenced metadata block counted free), -EROFS for a read-only pool,
 * -EBUSY with uncommitted changes, or the error that stopped it (after a
 * failure in the repair's own transaction, the caller must abort it).
 * Takes the metadata lock; may block.
 */
int dmrow_md_repair(struct dmrow_metadata *md, struct dmrow_check_result *found,
		    struct dmrow_check_result *after,
		    void (*problem)(void *context, const char *message), void *context);

#endif /* DM_ROW_CHECK_H */
