// SPDX-License-Identifier: GPL-2.0
/*
 * The scheduler's decisions about a disk's policy; see schedule.h.
 */
#include <string.h>

#include "schedule.h"

static bool is_auto(const struct record *snap)
{
	const char *kind = record_get(snap, "kind");

	return kind && !strcmp(kind, "auto");
}

enum slot_due schedule_slot_due(const struct policy *p, int64_t now, int64_t applied,
				int64_t last, int64_t *slot)
{
	*slot = policy_last_slot(p, now);
	if (*slot < 0 || *slot < applied || *slot <= last)
		return SLOT_NOT_DUE;
	if (now - *slot >= POLICY_SLOT_WINDOW)
		return SLOT_MISSED;
	return SLOT_DUE;
}

const struct record *schedule_slot_taken(const struct record_list *snaps, const struct policy *p,
					 int64_t slot, const char *name)
{
	unsigned int i;

	for (i = 0; i < snaps->nr; i++) {
		const struct record *s = &snaps->records[i];
		const char *sname = record_get(s, "name");

		if (sname && !strcmp(sname, name))
			return s;
		if (is_auto(s) && record_u64(s, "policy") == p->id &&
		    (int64_t)record_u64(s, "created") >= slot)
			return s;
	}
	return NULL;
}

bool schedule_evicted(const struct record *snap, const struct record_list *after)
{
	unsigned int k;

	if (!is_auto(snap))
		return false;
	for (k = 0; k < after->nr; k++)
		if (record_u64(&after->records[k], "id") == record_u64(snap, "id"))
			return false;
	return true;
}
