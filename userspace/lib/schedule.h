/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The scheduler's decisions about one disk's policy at one pass of
 * 'snapctl daemon' (Documentation/snapshot-policies.rst), apart from the
 * pass itself (locks, messages, the log), so that unit tests reach them:
 * which slot is due, whether a snapshot takes it already, and which
 * automatic snapshots an automatic snapshot evicted.
 */
#ifndef SNAPCTL_SCHEDULE_H
#define SNAPCTL_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "poolctl.h"

enum slot_due {
	SLOT_NOT_DUE,		/* nothing to do */
	SLOT_DUE,		/* take *slot now */
	SLOT_MISSED,		/* *slot passed more than POLICY_SLOT_WINDOW ago: give it up */
};

/*
 * At @now, for a disk that @p applies to from @applied and whose newest
 * slot taken or given up is @last (0: none): the newest slot of @p into
 * *slot, and what to do about it.  A slot before @applied or at or before
 * @last is not due.
 */
enum slot_due schedule_slot_due(const struct policy *p, int64_t now, int64_t applied,
				int64_t last, int64_t *slot);

/*
 * The snapshot of the chain @snaps that takes @slot of @p already: the one
 * named @name, or an automatic snapshot of @p taken at @slot or later.
 * NULL if there is none.
 */
const struct record *schedule_slot_taken(const struct record_list *snaps, const struct policy *p,
					 int64_t slot, const char *name);

/*
 * Did the automatic snapshot @snap of the chain before a snapshot go (the
 * pool evicts the oldest over the automatic quota): is it not in @after?
 * False for a manual snapshot, which is never evicted.
 */
bool schedule_evicted(const struct record *snap, const struct record_list *after);

#endif
