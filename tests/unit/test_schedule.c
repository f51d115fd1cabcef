// SPDX-License-Identifier: GPL-2.0
/*
 * The scheduler's decisions (schedule.c): a slot is due from its instant
 * for POLICY_SLOT_WINDOW, then missed; never before the policy applied nor
 * twice; a slot is taken already by a snapshot of its name or by a later
 * automatic snapshot of the same policy, not by a manual one or another
 * policy's; an automatic snapshot missing after a snapshot was evicted, a
 * manual one never.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "schedule.h"

#define DAY0	1772409600LL		/* Monday 2026-03-02 00:00 UTC */
#define HOUR	3600LL

static struct policy make_policy(uint32_t id, const char *hours)
{
	struct policy p = { .id = id, .retention_days = 7, .created = DAY0 - 7 * 24 * HOUR };

	snprintf(p.name, sizeof(p.name), "p%u", id);
	assert_int_equal(policy_parse_hours(hours, &p.hours), 0);
	assert_int_equal(policy_parse_weekdays("all", &p.weekdays), 0);
	return p;
}

static void test_slot_due(void **state)
{
	struct policy p = make_policy(4, "2,14");
	const int64_t two = DAY0 + 2 * HOUR, fourteen = DAY0 + 14 * HOUR;
	int64_t slot = 0;

	(void)state;
	/* Due at its instant and for the window after it. */
	assert_int_equal(schedule_slot_due(&p, two, 0, 0, &slot), SLOT_DUE);
	assert_int_equal(slot, two);
	assert_int_equal(schedule_slot_due(&p, two + POLICY_SLOT_WINDOW - 1, 0, 0, &slot), SLOT_DUE);
	assert_int_equal(slot, two);
	/* Then missed, until the next slot. */
	assert_int_equal(schedule_slot_due(&p, two + POLICY_SLOT_WINDOW, 0, 0, &slot), SLOT_MISSED);
	assert_int_equal(slot, two);
	assert_int_equal(schedule_slot_due(&p, fourteen - 1, 0, 0, &slot), SLOT_MISSED);
	assert_int_equal(schedule_slot_due(&p, fourteen, 0, 0, &slot), SLOT_DUE);
	assert_int_equal(slot, fourteen);
	/* Taken or given up already: not due again. */
	assert_int_equal(schedule_slot_due(&p, two + 60, 0, two, &slot), SLOT_NOT_DUE);
	assert_int_equal(schedule_slot_due(&p, two + 5 * HOUR, 0, two, &slot), SLOT_NOT_DUE);
	assert_int_equal(schedule_slot_due(&p, fourteen + 60, 0, two, &slot), SLOT_DUE);
	/* Not before the policy applied to the disk. */
	assert_int_equal(schedule_slot_due(&p, two + 60, two + 1, 0, &slot), SLOT_NOT_DUE);
	assert_int_equal(schedule_slot_due(&p, two + 60, two, 0, &slot), SLOT_DUE);
	/* A policy that never fires. */
	p.hours = 0;
	assert_int_equal(schedule_slot_due(&p, two, 0, 0, &slot), SLOT_NOT_DUE);
}

static void chain(struct record_list *list, const char *const *lines, unsigned int nr)
{
	unsigned int i;

	list->nr = nr;
	list->records = calloc(nr ? nr : 1, sizeof(*list->records));
	assert_non_null(list->records);
	for (i = 0; i < nr; i++)
		assert_int_equal(record_parse(lines[i], &list->records[i]), 0);
}

static void test_slot_taken(void **state)
{
	static const char *const lines[] = {
		"snapshot id=1 disk=7 created=1772416800 kind=auto policy=4 name=auto_20260302_0200_p4",
		"snapshot id=2 disk=7 created=1772460000 kind=manual policy=0 name=mine",
		"snapshot id=3 disk=7 created=1772460000 kind=auto policy=5 name=auto_20260302_1400_p5",
	};
	struct policy p = make_policy(4, "2,14");
	const int64_t two = DAY0 + 2 * HOUR, fourteen = DAY0 + 14 * HOUR;
	struct record_list snaps;
	const struct record *taken;

	(void)state;
	chain(&snaps, lines, 3);
	/* Its own automatic snapshot takes the 02:00 slot, and any before it. */
	taken = schedule_slot_taken(&snaps, &p, two, "auto_20260302_0200_p4");
	assert_non_null(taken);
	assert_int_equal(record_u64(taken, "id"), 1);
	assert_ptr_equal(schedule_slot_taken(&snaps, &p, two - 24 * HOUR, "auto_20260301_0200_p4"),
			 taken);
	/* Not 14:00's: the manual and the other policy's snapshot do not count. */
	assert_null(schedule_slot_taken(&snaps, &p, fourteen, "auto_20260302_1400_p4"));
	/* A snapshot of the slot's name does, whatever made it. */
	taken = schedule_slot_taken(&snaps, &p, fourteen, "mine");
	assert_non_null(taken);
	assert_int_equal(record_u64(taken, "id"), 2);
	record_list_free(&snaps);
	chain(&snaps, lines, 0);
	assert_null(schedule_slot_taken(&snaps, &p, two, "auto_20260302_0200_p4"));
	record_list_free(&snaps);
}

static void test_evicted(void **state)
{
	static const char *const before_lines[] = {
		"snapshot id=1 disk=7 kind=auto policy=4 name=a1",
		"snapshot id=2 disk=7 kind=manual policy=0 name=m",
		"snapshot id=3 disk=7 kind=auto policy=4 name=a3",
	};
	static const char *const after_lines[] = {
		"snapshot id=3 disk=7 kind=auto policy=4 name=a3",
		"snapshot id=4 disk=7 kind=auto policy=4 name=a4",
	};
	struct record_list before, after;

	(void)state;
	chain(&before, before_lines, 3);
	chain(&after, after_lines, 2);
	assert_true(schedule_evicted(&before.records[0], &after));
	/* A manual snapshot is never evicted, even when it is gone. */
	assert_false(schedule_evicted(&before.records[1], &after));
	assert_false(schedule_evicted(&before.records[2], &after));
	record_list_free(&before);
	record_list_free(&after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_due),
		cmocka_unit_test(test_slot_taken),
		cmocka_unit_test(test_evicted),
	};

	return cmocka_run_group_tests_name("schedule", tests, NULL, NULL);
}
