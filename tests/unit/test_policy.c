// SPDX-License-Identifier: GPL-2.0
/*
 * Automatic snapshot policies (policy.c, clock.c, statefile.c, disklock.c):
 * the schedule of hours x weekdays against a reference built on gmtime(),
 * the next and last slots, parsing and formatting of hours, days and
 * retention, retention arithmetic, snapshot names, the policy store's round
 * trip, its corruption and crash safety (a writer killed at random moments
 * never leaves an unreadable store), the fake clock, and the per-disk lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "clock.h"
#include "disklock.h"
#include "policy.h"
#include "statefile.h"
#include "zone.h"
#include "temp_dir.h"

uint32_t crc32c(uint32_t crc, const void *address, unsigned int length);

/* 2026-03-02 00:00:00 UTC, a Monday. */
#define MONDAY 1772409600LL

struct env {
	char root[64];
	char path[128];		/* the store */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char dir[128];

	if (!e)
		return -1;
	if (temp_dir_make(e->root, sizeof(e->root), "policy")) {
		free(e);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/state/sub", e->root);	/* made on the first save */
	setenv("SNAPCTL_STATE_DIR", dir, 1);
	snprintf(dir, sizeof(dir), "%s/run", e->root);
	setenv("SNAPCTL_RUN_DIR", dir, 1);
	snprintf(e->path, sizeof(e->path), "%s/state/sub/policies", e->root);
	unsetenv("SNAPCTL_FAKE_TIME");
	unsetenv("SNAPCTL_FAKE_TIME_FILE");
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (temp_dir_remove(e->root))
		return -1;
	unsetenv("SNAPCTL_STATE_DIR");
	unsetenv("SNAPCTL_RUN_DIR");
	unsetenv("SNAPCTL_FAKE_TIME");
	unsetenv("SNAPCTL_FAKE_TIME_FILE");
	free(e);
	return 0;
}

static struct policy make_policy(const char *name, const char *hours, const char *days,
				 uint32_t retention)
{
	struct policy p = { .retention_days = retention, .created = MONDAY };

	snprintf(p.name, sizeof(p.name), "%s", name);
	assert_int_equal(policy_parse_hours(hours, &p.hours), 0);
	assert_int_equal(policy_parse_weekdays(days, &p.weekdays), 0);
	return p;
}

/*----------------------------------------------------------------
 * Schedule
 *--------------------------------------------------------------*/

/* The reference: gmtime() says which hour and day @t is. */
static bool reference_fires(const struct policy *p, int64_t t)
{
	time_t v = (time_t)t;
	struct tm tm;

	gmtime_r(&v, &tm);
	return tm.tm_min == 0 && tm.tm_sec == 0 && (p->hours & (1u << tm.tm_hour)) &&
	       (p->weekdays & (1u << tm.tm_wday));
}

static void check_against_reference(const struct policy *p, int64_t from, int days)
{
	int64_t t, expect_next = -1, expect_last = -1;
	int64_t end = from + (int64_t)days * 86400;

	/* Every hour: fires_at as gmtime() says. */
	for (t = from; t < end; t += 3600)
		assert_int_equal(policy_fires_at(p, t), reference_fires(p, t));
	/* Every quarter hour, next and last slots against a brute-force scan. */
	for (t = end - 900; t >= from; t -= 900) {
		int64_t s;

		expect_next = -1;
		for (s = (t / 3600 + 1) * 3600; s <= t + 8 * 86400; s += 3600)
			if (reference_fires(p, s)) {
				expect_next = s;
				break;
			}
		assert_int_equal(policy_next_slot(p, t), expect_next);
		expect_last = -1;
		for (s = t / 3600 * 3600; s >= t - 8 * 86400; s -= 3600)
			if (reference_fires(p, s)) {
				expect_last = s;
				break;
			}
		assert_int_equal(policy_last_slot(p, t), expect_last);
	}
}

static void test_schedule_hours_by_weekdays(void **state)
{
	static const char *const hours[] = { "0", "23", "2,14", "8-18", "all", "0,23" };
	static const char *const days[] = { "mon", "sun", "mon,wed,fri", "sat-mon", "all", "7" };
	unsigned int h, d;

	for (h = 0; h < sizeof(hours) / sizeof(hours[0]); h++)
		for (d = 0; d < sizeof(days) / sizeof(days[0]); d++) {
			struct policy p = make_policy("p", hours[h], days[d], 1);

			/* Three weeks around a month end and a leap day. */
			check_against_reference(&p, 1709164800LL - 10 * 86400, 21);
		}
	(void)state;
}

static void test_schedule_random_masks(void **state)
{
	unsigned int i;

	srandom(42);
	for (i = 0; i < 40; i++) {
		struct policy p = { .retention_days = 1 };

		p.hours = (uint32_t)random() & POLICY_HOURS_ALL;
		p.weekdays = (uint32_t)random() & POLICY_WEEKDAYS_ALL;
		if (!p.hours)
			p.hours = 1;
		if (!p.weekdays)
			p.weekdays = 1;
		check_against_reference(&p, MONDAY + (int64_t)(random() % 400) * 86400, 9);
	}
	(void)state;
}

static void test_schedule_slots(void **state)
{
	struct policy p = make_policy("daily", "2,14", "mon,wed", 7);

	/* Monday 00:00 -> 02:00; 02:00 itself is a slot (last), the next is 14:00. */
	assert_int_equal(policy_next_slot(&p, MONDAY), MONDAY + 2 * 3600);
	assert_int_equal(policy_last_slot(&p, MONDAY + 2 * 3600), MONDAY + 2 * 3600);
	assert_int_equal(policy_next_slot(&p, MONDAY + 2 * 3600), MONDAY + 14 * 3600);
	assert_int_equal(policy_last_slot(&p, MONDAY + 2 * 3600 - 1), MONDAY - 5 * 86400 + 14 * 3600);
	/* Monday 14:00 -> Wednesday 02:00 (Tuesday is not a day of the policy). */
	assert_int_equal(policy_next_slot(&p, MONDAY + 14 * 3600), MONDAY + 2 * 86400 + 2 * 3600);
	assert_true(policy_fires_at(&p, MONDAY + 14 * 3600));
	assert_false(policy_fires_at(&p, MONDAY + 14 * 3600 + 60));
	assert_false(policy_fires_at(&p, MONDAY + 86400 + 14 * 3600));
	/* Before the epoch there is nothing. */
	assert_int_equal(policy_last_slot(&p, -5), -1);
	assert_int_equal(policy_last_slot(&p, 0), -1);
	/* A policy with no hours (not a valid one) never fires. */
	p.hours = 0;
	assert_int_equal(policy_next_slot(&p, MONDAY), -1);
	assert_int_equal(policy_last_slot(&p, MONDAY), -1);
	(void)state;
}

/* A month of a policy fires exactly as often as its hours x days say. */
static void test_schedule_month_count(void **state)
{
	struct policy p = make_policy("wk", "9,17", "mon-fri", 7);
	int64_t t = MONDAY - 1, end = MONDAY + 28 * 86400;
	unsigned int n = 0;

	while ((t = policy_next_slot(&p, t)) >= 0 && t < end)
		n++;
	assert_int_equal(n, 4 * 5 * 2);
	(void)state;
}

/*----------------------------------------------------------------
 * Parsing and formatting
 *--------------------------------------------------------------*/

static void test_parse_hours(void **state)
{
	static const char *const bad[] = {
		"", "24", "-1", "1,", ",1", "a", "5-3", "1-", "-", "1 2", "0x3", "1,,2", "0000000001000"
	};
	uint32_t m;
	unsigned int i;

	assert_int_equal(policy_parse_hours("2,14", &m), 0);
	assert_int_equal(m, (1u << 2) | (1u << 14));
	assert_int_equal(policy_parse_hours("8-10,23", &m), 0);
	assert_int_equal(m, (1u << 8) | (1u << 9) | (1u << 10) | (1u << 23));
	assert_int_equal(policy_parse_hours("all", &m), 0);
	assert_int_equal(m, POLICY_HOURS_ALL);
	assert_int_equal(policy_parse_hours("0-23", &m), 0);
	assert_int_equal(m, POLICY_HOURS_ALL);
	assert_int_equal(policy_parse_hours("07", &m), 0);
	assert_int_equal(m, 1u << 7);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = 12345;
		assert_int_equal(policy_parse_hours(bad[i], &m), -EINVAL);
		assert_int_equal(m, 12345);
	}
	(void)state;
}

static void test_parse_weekdays(void **state)
{
	static const char *const bad[] = { "", "0", "8", "mo", "mond", "mon,", "mon-", "xyz", "1-8" };
	uint32_t m;
	unsigned int i;

	assert_int_equal(policy_parse_weekdays("mon", &m), 0);
	assert_int_equal(m, 1u << 1);
	assert_int_equal(policy_parse_weekdays("sun", &m), 0);
	assert_int_equal(m, 1u << 0);
	assert_int_equal(policy_parse_weekdays("7", &m), 0);
	assert_int_equal(m, 1u << 0);
	assert_int_equal(policy_parse_weekdays("Monday,FRI", &m), 0);
	assert_int_equal(m, (1u << 1) | (1u << 5));
	assert_int_equal(policy_parse_weekdays("mon-fri", &m), 0);
	assert_int_equal(m, 0x3e);
	assert_int_equal(policy_parse_weekdays("1-5", &m), 0);
	assert_int_equal(m, 0x3e);
	/* A range may wrap around the week's end. */
	assert_int_equal(policy_parse_weekdays("fri-mon", &m), 0);
	assert_int_equal(m, (1u << 5) | (1u << 6) | (1u << 0) | (1u << 1));
	assert_int_equal(policy_parse_weekdays("all", &m), 0);
	assert_int_equal(m, POLICY_WEEKDAYS_ALL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(policy_parse_weekdays(bad[i], &m), -EINVAL);
	(void)state;
}

/* Every mask formats into text that parses back to it. */
static void test_format_round_trip(void **state)
{
	char buf[128];
	uint32_t m, back;
	unsigned int i;

	for (m = 1; m <= POLICY_WEEKDAYS_ALL; m++) {
		policy_format_weekdays(m, buf, sizeof(buf));
		assert_int_equal(policy_parse_weekdays(buf, &back), 0);
		assert_int_equal(back, m);
	}
	assert_string_equal(policy_format_weekdays(0x3e, buf, sizeof(buf)), "mon-fri");
	assert_string_equal(policy_format_weekdays(0x23, buf, sizeof(buf)), "mon,fri,sun");
	assert_string_equal(policy_format_hours((1u << 2) | (1u << 14), buf, sizeof(buf)), "2,14");
	assert_string_equal(policy_format_hours(0x7 | (1u << 8) | (1u << 9), buf, sizeof(buf)),
			    "0-2,8,9");
	assert_string_equal(policy_format_hours(0, buf, sizeof(buf)), "-");
	srandom(7);
	for (i = 0; i < 2000; i++) {
		m = ((uint32_t)random() & POLICY_HOURS_ALL) | 1u << (random() % 24);
		policy_format_hours(m, buf, sizeof(buf));
		assert_int_equal(policy_parse_hours(buf, &back), 0);
		assert_int_equal(back, m);
	}
	(void)state;
}

static void test_retention(void **state)
{
	uint32_t days;
	char buf[32];

	assert_int_equal(policy_parse_retention("1", &days), 0);
	assert_int_equal(days, 1);
	assert_int_equal(policy_parse_retention("65536", &days), 0);
	assert_int_equal(days, 65536);
	assert_int_equal(policy_parse_retention("forever", &days), 0);
	assert_int_equal(days, POLICY_FOREVER);
	days = 7;
	assert_int_equal(policy_parse_retention("0", &days), 0);
	assert_int_equal(days, POLICY_FOREVER);
	assert_int_equal(policy_parse_retention("FOREVER", &days), 0);
	assert_int_equal(policy_parse_retention("forever7", &days), -EINVAL);
	assert_int_equal(policy_parse_retention("65537", &days), -EINVAL);
	assert_int_equal(policy_parse_retention("-1", &days), -EINVAL);
	assert_int_equal(policy_parse_retention("7d", &days), -EINVAL);
	assert_int_equal(policy_parse_retention("", &days), -EINVAL);
	assert_string_equal(policy_format_retention(30, buf, sizeof(buf)), "30d");
	assert_string_equal(policy_format_retention(POLICY_FOREVER, buf, sizeof(buf)), "forever");

	/* Days are whole days of 86400 s after the creation. */
	assert_int_equal(policy_retention_until(MONDAY, 1), MONDAY + 86400);
	assert_int_equal(policy_retention_until(MONDAY, 30), MONDAY + 30 * 86400);
	/* The longest retention does not wrap (it does not fit in 32 bits). */
	assert_int_equal(policy_retention_until(MONDAY, 65536), (uint64_t)MONDAY + 65536ULL * 86400);
	assert_true(policy_retention_until(MONDAY, 65536) > UINT32_MAX);
	assert_int_equal(policy_retention_until(MONDAY, POLICY_FOREVER), 0);
	/* Expired from the very second. */
	assert_false(policy_retention_expired(MONDAY + 86400, MONDAY + 86399));
	assert_true(policy_retention_expired(MONDAY + 86400, MONDAY + 86400));
	assert_true(policy_retention_expired(MONDAY + 86400, MONDAY + 86401));
	/* 0 is forever. */
	assert_false(policy_retention_expired(0, INT64_MAX));
	(void)state;
}

static void test_names(void **state)
{
	struct policy p = make_policy("daily", "14", "all", 7);
	char buf[64], longest[POLICY_NAME_MAX + 2];

	assert_int_equal(policy_snapshot_name(&p, MONDAY + 14 * 3600, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "auto_20260302_1400_daily");
	assert_int_equal(policy_snapshot_name(&p, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "auto_19700101_0000_daily");
	assert_int_equal(policy_snapshot_name(&p, MONDAY + 23 * 3600 + 59 * 60, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "auto_20260302_2359_daily");
	assert_int_equal(policy_snapshot_name(&p, MONDAY, buf, 10), -ENAMETOOLONG);

	/* The longest policy name still makes a valid snapshot name (63 bytes). */
	memset(longest, 'n', POLICY_NAME_MAX);
	longest[POLICY_NAME_MAX] = '\0';
	assert_true(policy_name_valid(longest));
	memcpy(p.name, longest, POLICY_NAME_MAX + 1);
	assert_int_equal(policy_snapshot_name(&p, MONDAY, buf, sizeof(buf)), 0);
	assert_true(strlen(buf) <= 63);
	longest[POLICY_NAME_MAX] = 'n';
	longest[POLICY_NAME_MAX + 1] = '\0';
	assert_false(policy_name_valid(longest));

	assert_true(policy_name_valid("daily"));
	assert_true(policy_name_valid("a.b-c_9"));
	assert_false(policy_name_valid(""));
	assert_false(policy_name_valid("9am"));
	assert_false(policy_name_valid("-x"));
	assert_false(policy_name_valid(".x"));
	assert_false(policy_name_valid("a b"));
	assert_false(policy_name_valid("a/b"));
	assert_false(policy_name_valid("a=b"));
	(void)state;
}

/*----------------------------------------------------------------
 * Time zones
 *--------------------------------------------------------------*/

/* Seconds since the epoch of a UTC date and time. */
static int64_t utc(int year, int month, int day, int hour, int minute)
{
	struct tm tm = { .tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
			 .tm_hour = hour, .tm_min = minute };

	return (int64_t)timegm(&tm);
}

static struct policy zone_policy(const char *zone, const char *hours, const char *days)
{
	struct policy p = make_policy("p", hours, days, 1);
	char err[256];

	if (zone_check(zone, p.zone, sizeof(p.zone), err, sizeof(err)))
		fail_msg("zone %s: %s", zone, err);
	return p;
}

static void assert_name(const struct policy *p, int64_t slot, const char *want)
{
	char buf[64];

	assert_int_equal(policy_snapshot_name(p, slot, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

/* The slots in [from, to). */
static unsigned int count_slots(const struct policy *p, int64_t from, int64_t to)
{
	int64_t t = from - 1;
	unsigned int n = 0;

	while ((t = policy_next_slot(p, t)) >= 0 && t < to) {
		assert_true(policy_fires_at(p, t));
		n++;
	}
	return n;
}

/* Keep the process's TZ as it was around a test that changes it. */
static char *saved_tz;

static int save_tz(void **state)
{
	const char *tz = getenv("TZ");

	saved_tz = tz ? strdup(tz) : NULL;
	(void)state;
	return 0;
}

static int restore_tz(void **state)
{
	if (saved_tz)
		setenv("TZ", saved_tz, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved_tz);
	saved_tz = NULL;
	(void)state;
	return 0;
}

static void test_zone_names(void **state)
{
	static const char *const malformed[] = {
		"", "/etc/localtime", "../../etc/passwd", "Europe/../Europe/Berlin", "Europe//Berlin",
		"Europe/Berlin/", "Europe/Berlin ", "Europe/Berlin\n", "Europe\\Berlin",
		"right/Europe/Berlin", "localtime", "posixrules",
		"A123456789012345678901234567890123456789012345678901234567890123",
	};
	static const char *const unknown[] = {
		"Europe/Berln", "europe/berlin", "Nowhere/Land", "CET-1CEST", "Europe", "zone.tab",
		"Mars/Olympus_Mons",
	};
	char canon[ZONE_NAME_MAX + 1], err[256];
	unsigned int i;

	(void)state;
	assert_int_equal(zone_check("Europe/Berlin", canon, sizeof(canon), err, sizeof(err)), 0);
	assert_string_equal(canon, "Europe/Berlin");
	assert_int_equal(zone_check("America/New_York", canon, sizeof(canon), NULL, 0), 0);
	assert_string_equal(canon, "America/New_York");
	assert_int_equal(zone_check("America/Argentina/Buenos_Aires", canon, sizeof(canon), NULL, 0), 0);
	assert_int_equal(zone_check("Etc/GMT+5", canon, sizeof(canon), NULL, 0), 0);
	/* The names of UTC are UTC. */
	assert_int_equal(zone_check("Etc/UTC", canon, sizeof(canon), NULL, 0), 0);
	assert_string_equal(canon, "UTC");
	assert_int_equal(zone_check("Zulu", canon, sizeof(canon), NULL, 0), 0);
	assert_string_equal(canon, "UTC");
	assert_int_equal(zone_check("UTC", canon, sizeof(canon), NULL, 0), 0);
	assert_string_equal(canon, "UTC");
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		assert_int_equal(zone_check(malformed[i], canon, sizeof(canon), err, sizeof(err)), -EINVAL);
		assert_true(err[0]);
	}
	/* Unknown: refused with words that say so, never taken for UTC. */
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_int_equal(zone_check(unknown[i], canon, sizeof(canon), err, sizeof(err)), -ENOENT);
		if (!strstr(err, "unknown time zone") || !strstr(err, unknown[i]))
			fail_msg("%s: '%s'", unknown[i], err);
	}
}

static void test_zone_system(void **state)
{
	char name[ZONE_NAME_MAX + 1], err[256], target[256];
	ssize_t n;

	(void)state;
	setenv("TZ", "Europe/Berlin", 1);
	assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), 0);
	assert_string_equal(name, "Europe/Berlin");
	setenv("TZ", ":America/New_York", 1);
	assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), 0);
	assert_string_equal(name, "America/New_York");
	setenv("TZ", "/usr/share/zoneinfo/Asia/Tokyo", 1);
	assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), 0);
	assert_string_equal(name, "Asia/Tokyo");
	setenv("TZ", "", 1);
	assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), 0);
	assert_string_equal(name, "UTC");
	/* A link into the database names the zone it links to. */
	snprintf(target, sizeof(target), "%s/zone-link-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 (int)getpid());
	assert_int_equal(symlink("/usr/share/zoneinfo/Australia/Lord_Howe", target), 0);
	setenv("TZ", target, 1);
	assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), 0);
	unlink(target);
	assert_string_equal(name, "Australia/Lord_Howe");
	setenv("TZ", "Etc/UTC", 1);
	assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), 0);
	assert_string_equal(name, "UTC");
	/* A POSIX rule or an unknown name has no name to keep: an error, not UTC. */
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "TZ='CET-1CEST,M3.5.0,M10.5.0/3' is not a time zone"));
	setenv("TZ", "Nowhere/Land", 1);
	assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), -ENOENT);
	setenv("TZ", "/etc/passwd", 1);
	assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), -ENOENT);
	/* Without TZ: the zone /etc/localtime links to. */
	unsetenv("TZ");
	n = readlink("/etc/localtime", target, sizeof(target) - 1);
	if (n > 0 && strstr(target, "zoneinfo/")) {
		char want[ZONE_NAME_MAX + 1];

		target[n] = '\0';
		assert_int_equal(zone_check(strstr(target, "zoneinfo/") + 9, want, sizeof(want), NULL, 0), 0);
		assert_int_equal(zone_system(name, sizeof(name), err, sizeof(err)), 0);
		assert_string_equal(name, want);
	}
}

/* A day of standard time: the hours are the zone's, the names too. */
static void test_zone_normal_day(void **state)
{
	struct policy berlin = zone_policy("Europe/Berlin", "2,14", "all");
	struct policy ny = zone_policy("America/New_York", "9", "mon-fri");
	struct policy ny21 = zone_policy("America/New_York", "21", "mon-fri");
	struct policy kolkata = zone_policy("Asia/Kolkata", "0", "all");

	(void)state;
	/* Monday 2026-03-02 in Berlin is UTC+1. */
	assert_int_equal(policy_next_slot(&berlin, MONDAY), utc(2026, 3, 2, 1, 0));
	assert_int_equal(policy_next_slot(&berlin, utc(2026, 3, 2, 1, 0)), utc(2026, 3, 2, 13, 0));
	assert_int_equal(policy_last_slot(&berlin, utc(2026, 3, 2, 12, 59)), utc(2026, 3, 2, 1, 0));
	assert_true(policy_fires_at(&berlin, utc(2026, 3, 2, 13, 0)));
	assert_false(policy_fires_at(&berlin, utc(2026, 3, 2, 14, 0)));
	assert_name(&berlin, utc(2026, 3, 2, 1, 0), "auto_20260302_0200_p");
	assert_name(&berlin, utc(2026, 3, 2, 13, 0), "auto_20260302_1400_p");
	assert_int_equal(count_slots(&berlin, utc(2026, 3, 2, 0, 0), utc(2026, 3, 3, 0, 0)), 2);
	/* Summer: UTC+2. */
	assert_int_equal(policy_next_slot(&berlin, utc(2026, 6, 30, 23, 0)), utc(2026, 7, 1, 0, 0));
	assert_name(&berlin, utc(2026, 7, 1, 0, 0), "auto_20260701_0200_p");
	assert_name(&berlin, utc(2026, 7, 1, 12, 0), "auto_20260701_1400_p");

	/* New York, UTC-5 then -4: the weekdays are New York's. */
	assert_int_equal(policy_next_slot(&ny, MONDAY), utc(2026, 3, 2, 14, 0));
	assert_name(&ny, utc(2026, 3, 2, 14, 0), "auto_20260302_0900_p");
	/* Friday 09:00 is 14:00 UTC; Saturday and Sunday have none; Monday 09:00 EDT is 13:00 UTC. */
	assert_int_equal(policy_next_slot(&ny, utc(2026, 3, 6, 14, 0)), utc(2026, 3, 9, 13, 0));
	/*
	 * Friday 21:00 in New York is Saturday in UTC, and a slot; Sunday 21:00
	 * is Monday in UTC, and not one.
	 */
	assert_int_equal(policy_next_slot(&ny21, utc(2026, 3, 6, 12, 0)), utc(2026, 3, 7, 2, 0));
	assert_int_equal(policy_next_slot(&ny21, utc(2026, 3, 7, 2, 0)), utc(2026, 3, 10, 1, 0));
	assert_name(&ny21, utc(2026, 3, 7, 2, 0), "auto_20260306_2100_p");

	/* Half an hour off UTC: midnight in Kolkata is 18:30 UTC the day before. */
	assert_int_equal(policy_next_slot(&kolkata, MONDAY), utc(2026, 3, 2, 18, 30));
	assert_name(&kolkata, utc(2026, 3, 2, 18, 30), "auto_20260303_0000_p");
}

/*
 * Spring forward: the clock jumps over the hour.  Its slot is the jump,
 * taken once, named with the time the clock shows then.
 */
static void test_zone_spring_forward(void **state)
{
	/* Europe/Berlin, 2026-03-29: 02:00 CET (01:00 UTC) becomes 03:00 CEST. */
	struct policy two = zone_policy("Europe/Berlin", "2", "all");
	struct policy two_three = zone_policy("Europe/Berlin", "2,3", "sun");
	struct policy all = zone_policy("Europe/Berlin", "all", "all");
	/* America/New_York, 2026-03-08: 02:00 EST (07:00 UTC) becomes 03:00 EDT. */
	struct policy ny = zone_policy("America/New_York", "2", "all");
	int64_t jump = utc(2026, 3, 29, 1, 0);

	(void)state;
	assert_int_equal(policy_next_slot(&two, utc(2026, 3, 28, 1, 0)), jump);
	assert_int_equal(policy_next_slot(&two, jump), utc(2026, 3, 30, 0, 0));
	assert_int_equal(policy_last_slot(&two, jump + 1800), jump);
	assert_int_equal(policy_last_slot(&two, jump - 1), utc(2026, 3, 28, 1, 0));
	assert_true(policy_fires_at(&two, jump));
	assert_false(policy_fires_at(&two, jump + 3600));
	assert_name(&two, jump, "auto_20260329_0300_p");
	assert_int_equal(count_slots(&two, utc(2026, 3, 27, 0, 0), utc(2026, 4, 1, 0, 0)), 5);
	assert_name(&two, utc(2026, 3, 28, 1, 0), "auto_20260328_0200_p");
	assert_name(&two, utc(2026, 3, 30, 0, 0), "auto_20260330_0200_p");

	/* 02:00 does not exist, 03:00 comes at once: one slot for the two. */
	assert_int_equal(count_slots(&two_three, utc(2026, 3, 28, 0, 0), utc(2026, 3, 30, 0, 0)), 1);
	assert_int_equal(policy_next_slot(&two_three, utc(2026, 3, 28, 0, 0)), jump);
	assert_int_equal(count_slots(&two_three, utc(2026, 3, 21, 0, 0), utc(2026, 3, 23, 0, 0)), 2);
	/* Every hour: 23 on the short day, each name once. */
	assert_int_equal(count_slots(&all, utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0)), 23);

	assert_int_equal(policy_next_slot(&ny, utc(2026, 3, 7, 12, 0)), utc(2026, 3, 8, 7, 0));
	assert_name(&ny, utc(2026, 3, 8, 7, 0), "auto_20260308_0300_p");
	assert_int_equal(policy_next_slot(&ny, utc(2026, 3, 8, 7, 0)), utc(2026, 3, 9, 6, 0));
	assert_int_equal(count_slots(&ny, utc(2026, 3, 7, 0, 0), utc(2026, 3, 10, 0, 0)), 3);
}

/* Fall back: the hour comes twice; its slot is the first, taken once. */
static void test_zone_fall_back(void **state)
{
	/* Europe/Berlin, 2026-10-25: 03:00 CEST (01:00 UTC) becomes 02:00 CET. */
	struct policy two = zone_policy("Europe/Berlin", "2", "all");
	struct policy all = zone_policy("Europe/Berlin", "all", "all");
	/* America/New_York, 2026-11-01: 02:00 EDT (06:00 UTC) becomes 01:00 EST. */
	struct policy ny = zone_policy("America/New_York", "1", "sun");
	int64_t first = utc(2026, 10, 25, 0, 0), again = utc(2026, 10, 25, 1, 0);
	unsigned int n;
	int64_t t;
	char names[25][64];

	(void)state;
	assert_int_equal(policy_next_slot(&two, utc(2026, 10, 24, 12, 0)), first);
	assert_int_equal(policy_next_slot(&two, first), utc(2026, 10, 26, 1, 0));
	assert_true(policy_fires_at(&two, first));
	assert_false(policy_fires_at(&two, again));
	/* During the second 02:00 the slot taken is still the first one. */
	assert_int_equal(policy_last_slot(&two, again + 1800), first);
	assert_name(&two, first, "auto_20261025_0200_p");
	assert_int_equal(count_slots(&two, utc(2026, 10, 24, 0, 0), utc(2026, 10, 27, 0, 0)), 3);

	/* Every hour: 24 slots in the 25 hours of the long day, 24 names. */
	t = utc(2026, 10, 24, 22, 0) - 1;
	for (n = 0; (t = policy_next_slot(&all, t)) < utc(2026, 10, 25, 23, 0); n++) {
		unsigned int k;

		assert_true(n < 24);
		assert_int_equal(policy_snapshot_name(&all, t, names[n], sizeof(names[n])), 0);
		for (k = 0; k < n; k++)
			assert_string_not_equal(names[k], names[n]);
	}
	assert_int_equal(n, 24);
	assert_false(policy_fires_at(&all, again));

	assert_int_equal(policy_next_slot(&ny, utc(2026, 10, 31, 12, 0)), utc(2026, 11, 1, 5, 0));
	assert_int_equal(policy_next_slot(&ny, utc(2026, 11, 1, 5, 0)), utc(2026, 11, 8, 6, 0));
	assert_false(policy_fires_at(&ny, utc(2026, 11, 1, 6, 0)));
	assert_name(&ny, utc(2026, 11, 1, 5, 0), "auto_20261101_0100_p");
}

/*
 * The reference: the zone's clock followed minute by minute (localtime_r
 * under TZ, the test's own), and its highest reading so far.  A slot is
 * the minute at which that reading reaches one of the policy's hours on
 * one of its days: the first time the clock shows it or jumps past it.
 */
struct reference {
	int64_t from, to;
	unsigned int nr;
	int64_t slots[512];
};

static void reference_slots(const struct policy *p, int64_t from, int64_t to, struct reference *ref)
{
	int64_t t, high = INT64_MIN;

	setenv("TZ", p->zone, 1);
	tzset();
	ref->from = from;
	ref->to = to;
	ref->nr = 0;
	for (t = from - 2 * 86400; t < to; t += 60) {
		time_t v = (time_t)t;
		struct tm tm, w;
		int64_t wall, hour;

		assert_non_null(localtime_r(&v, &tm));
		wall = t + tm.tm_gmtoff;
		if (high == INT64_MIN)
			high = wall;	/* the first reading: no before */
		if (wall <= high)
			continue;
		/* Each whole hour in (high, wall]: reached now. */
		for (hour = (high / 3600 + 1) * 3600; hour <= wall; hour += 3600) {
			time_t h = (time_t)hour;

			gmtime_r(&h, &w);
			if (t >= from && (p->hours & (1u << w.tm_hour)) && (p->weekdays & (1u << w.tm_wday)) &&
			    (!ref->nr || ref->slots[ref->nr - 1] != t)) {
				assert_true(ref->nr < 512);
				ref->slots[ref->nr++] = t;
			}
		}
		high = wall;
	}
	unsetenv("TZ");
	tzset();
}

static void check_zone_against_reference(const struct policy *p, int64_t from, int days)
{
	struct reference ref;
	int64_t to = from + (int64_t)days * 86400, t;
	unsigned int i;

	reference_slots(p, from, to, &ref);
	assert_true(ref.nr > 0);
	/* Around each slot and every 5 hours (an odd step), next and last. */
	for (i = 0; i < ref.nr; i++) {
		int64_t s = ref.slots[i];

		assert_true(policy_fires_at(p, s));
		assert_false(policy_fires_at(p, s - 1));
		assert_false(policy_fires_at(p, s + 60));
		if (i)
			assert_int_equal(policy_next_slot(p, s - 1), s);
		if (i + 1 < ref.nr) {
			assert_int_equal(policy_next_slot(p, s), ref.slots[i + 1]);
			assert_int_equal(policy_last_slot(p, ref.slots[i + 1] - 1), s);
		}
		assert_int_equal(policy_last_slot(p, s), s);
	}
	for (t = ref.slots[0]; t < ref.slots[ref.nr - 1]; t += 5 * 3600 + 60) {
		for (i = 0; ref.slots[i] <= t; i++)
			;
		assert_int_equal(policy_next_slot(p, t), ref.slots[i]);
		assert_int_equal(policy_last_slot(p, t), ref.slots[i - 1]);
	}
}

static void test_zone_reference(void **state)
{
	static const struct {
		const char *zone;
		int year, month, day;	/* a week before a change of the clock */
	} cases[] = {
		{ "Europe/Berlin", 2026, 3, 22 },
		{ "Europe/Berlin", 2026, 10, 18 },
		{ "America/New_York", 2026, 3, 1 },
		{ "America/New_York", 2026, 10, 25 },
		{ "Australia/Sydney", 2026, 3, 29 },	/* southern: back in April */
		{ "Australia/Sydney", 2026, 9, 27 },	/* forward in October */
		{ "Australia/Lord_Howe", 2026, 3, 29 },	/* half an hour */
		{ "Australia/Lord_Howe", 2026, 9, 27 },
		{ "Asia/Kolkata", 2026, 3, 22 },		/* +05:30, no change */
		{ "Pacific/Chatham", 2026, 3, 29 },	/* +13:45 to +12:45 */
		{ "America/St_Johns", 2026, 3, 1 },	/* -03:30 to -02:30 */
	};
	static const char *const hours[] = { "2", "1,2,3", "0,12", "all" };
	unsigned int c, h;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (h = 0; h < sizeof(hours) / sizeof(hours[0]); h++) {
			struct policy p = zone_policy(cases[c].zone, hours[h], h & 1 ? "sat,sun" : "all");

			int64_t from = utc(cases[c].year, cases[c].month, cases[c].day, 0, 0);

			/* Every hour: the three days around the change. */
			if (h == 3)
				check_zone_against_reference(&p, from + 6 * 86400, 3);
			else
				check_zone_against_reference(&p, from, 10);
		}
}

/* The zone is the policy's, whatever the process's TZ, which stays as it was. */
static void test_zone_process_tz(void **state)
{
	struct policy berlin = zone_policy("Europe/Berlin", "2", "all");
	struct policy plain = make_policy("p", "2", "all", 1);	/* no zone: UTC */
	time_t v = (time_t)MONDAY;
	struct tm tm;

	(void)state;
	setenv("TZ", "Asia/Tokyo", 1);
	tzset();
	assert_int_equal(policy_next_slot(&berlin, MONDAY), utc(2026, 3, 2, 1, 0));
	assert_int_equal(policy_next_slot(&berlin, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 29, 1, 0));
	assert_name(&berlin, utc(2026, 3, 29, 1, 0), "auto_20260329_0300_p");
	assert_int_equal(policy_next_slot(&plain, MONDAY), MONDAY + 2 * 3600);
	assert_name(&plain, MONDAY + 2 * 3600, "auto_20260302_0200_p");
	assert_string_equal(getenv("TZ"), "Asia/Tokyo");
	assert_non_null(localtime_r(&v, &tm));
	assert_int_equal(tm.tm_gmtoff, 9 * 3600);
	assert_int_equal(tm.tm_hour, 9);

	setenv("TZ", "America/Los_Angeles", 1);
	tzset();
	assert_int_equal(policy_next_slot(&berlin, MONDAY), utc(2026, 3, 2, 1, 0));
	assert_int_equal(policy_last_slot(&berlin, utc(2026, 10, 25, 1, 30)), utc(2026, 10, 25, 0, 0));
	unsetenv("TZ");
	tzset();
	assert_int_equal(policy_next_slot(&berlin, MONDAY), utc(2026, 3, 2, 1, 0));
	assert_null(getenv("TZ"));
}

/* A zone that is not in the database takes no slot, rather than UTC's. */
static void test_zone_unknown(void **state)
{
	struct policy p = make_policy("p", "all", "all", 1);
	char buf[64];

	(void)state;
	snprintf(p.zone, sizeof(p.zone), "Nowhere/Land");
	assert_int_equal(policy_zone_usable(&p), -ENOENT);
	assert_int_equal(policy_next_slot(&p, MONDAY), -1);
	assert_int_equal(policy_last_slot(&p, MONDAY), -1);
	assert_false(policy_fires_at(&p, MONDAY));
	assert_int_equal(policy_snapshot_name(&p, MONDAY, buf, sizeof(buf)), -EINVAL);
	snprintf(p.zone, sizeof(p.zone), "Europe/Berlin");
	assert_int_equal(policy_zone_usable(&p), 0);
	snprintf(p.zone, sizeof(p.zone), "UTC");
	assert_int_equal(policy_zone_usable(&p), 0);
}

/*----------------------------------------------------------------
 * The store
 *--------------------------------------------------------------*/

static void fill_store(struct policy_store *s)
{
	struct policy a = make_policy("daily", "2,14", "all", 7);
	struct policy b = make_policy("weekdays", "8-18", "mon-fri", POLICY_FOREVER);
	struct policy_disk *d;

	memset(s, 0, sizeof(*s));
	s->next_id = 1;
	assert_int_equal(policy_add(s, &a), 0);
	assert_int_equal(a.id, 1);
	assert_int_equal(policy_add(s, &b), 0);
	assert_int_equal(b.id, 2);
	d = policy_disk_get(s, "tank", "174ffe4b-42e7-1cc2-cca2-6cab98058e20", 1);
	assert_non_null(d);
	d->policy = 1;
	d->applied = MONDAY;
	d->last_slot = MONDAY + 14 * 3600;
	d->last_run = MONDAY + 14 * 3600 + 2;
	d->last_success = MONDAY + 2 * 3600 + 1;
	d->failures = 3;
	d = policy_disk_get(s, "tank", "174ffe4b-42e7-1cc2-cca2-6cab98058e20", 7);
	assert_non_null(d);
	d->policy = 2;
	d->applied = MONDAY + 5;
}

static void assert_stores_equal(const struct policy_store *a, const struct policy_store *b)
{
	unsigned int i;

	assert_int_equal(a->next_id, b->next_id);
	assert_int_equal(a->nr_policies, b->nr_policies);
	assert_int_equal(a->nr_disks, b->nr_disks);
	for (i = 0; i < a->nr_policies; i++) {
		assert_int_equal(a->policies[i].id, b->policies[i].id);
		assert_string_equal(a->policies[i].name, b->policies[i].name);
		assert_int_equal(a->policies[i].hours, b->policies[i].hours);
		assert_int_equal(a->policies[i].weekdays, b->policies[i].weekdays);
		assert_int_equal(a->policies[i].retention_days, b->policies[i].retention_days);
		assert_int_equal(a->policies[i].created, b->policies[i].created);
		assert_string_equal(policy_zone(&a->policies[i]), policy_zone(&b->policies[i]));
	}
	for (i = 0; i < a->nr_disks; i++) {
		assert_string_equal(a->disks[i].pool, b->disks[i].pool);
		assert_string_equal(a->disks[i].uuid, b->disks[i].uuid);
		assert_int_equal(a->disks[i].disk, b->disks[i].disk);
		assert_int_equal(a->disks[i].policy, b->disks[i].policy);
		assert_int_equal(a->disks[i].applied, b->disks[i].applied);
		assert_int_equal(a->disks[i].last_slot, b->disks[i].last_slot);
		assert_int_equal(a->disks[i].last_run, b->disks[i].last_run);
		assert_int_equal(a->disks[i].last_success, b->disks[i].last_success);
		assert_int_equal(a->disks[i].failures, b->disks[i].failures);
	}
}

static void test_store_round_trip(void **state)
{
	struct env *e = *state;
	struct policy_store s, back;
	char err[256], path[256];
	struct stat st;

	/* No file yet: an empty store whose first policy is number 1. */
	assert_int_equal(policy_store_load(&back, err, sizeof(err)), 0);
	assert_int_equal(back.nr_policies, 0);
	assert_int_equal(back.next_id, 1);
	policy_store_free(&back);

	fill_store(&s);
	assert_int_equal(policy_store_save(&s), 0);	/* makes the directories */
	assert_string_equal(policy_store_path(path, sizeof(path)), e->path);
	assert_int_equal(stat(e->path, &st), 0);
	assert_int_equal(policy_store_load(&back, err, sizeof(err)), 0);
	assert_stores_equal(&s, &back);
	assert_non_null(policy_find(&back, "weekdays"));
	assert_ptr_equal(policy_find(&back, "2"), policy_find(&back, "weekdays"));
	assert_null(policy_find(&back, "3"));
	assert_null(policy_find(&back, "nosuch"));
	assert_non_null(policy_disk_find(&back, "174ffe4b-42e7-1cc2-cca2-6cab98058e20", 7));
	assert_null(policy_disk_find(&back, "other", 7));
	policy_store_free(&back);

	/* Numbers are never reused, also after the newest policy is deleted. */
	policy_remove(&s, 2);
	assert_int_equal(s.nr_policies, 1);
	assert_int_equal(s.nr_disks, 1);		/* its disk record went with it */
	assert_int_equal(policy_store_save(&s), 0);
	assert_int_equal(policy_store_load(&back, err, sizeof(err)), 0);
	{
		struct policy c = make_policy("again", "3", "all", 1);

		assert_int_equal(policy_add(&back, &c), 0);
		assert_int_equal(c.id, 3);
		/* Names are unique. */
		assert_int_equal(policy_add(&back, &c), -EEXIST);
	}
	policy_store_free(&back);
	policy_store_free(&s);
}

/* Replace the store file's bytes. */
static void write_raw(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* @body with its correct checksum line. */
static void write_signed(const char *path, const char *body)
{
	char text[2048];

	snprintf(text, sizeof(text), "%scrc32c=%08x\n", body,
		 crc32c(~0u, body, strlen(body)) ^ ~0u);
	write_raw(path, text, strlen(text));
}

static void expect_damaged(const char *what, const char *needle)
{
	struct policy_store s;
	char err[256];

	(void)what;
	assert_int_equal(policy_store_load(&s, err, sizeof(err)), -EILSEQ);
	if (!strstr(err, needle))
		fail_msg("%s: error '%s' does not say '%s'", what, err, needle);
	assert_int_equal(s.nr_policies, 0);
	assert_null(s.policies);
}

static void test_store_corruption(void **state)
{
	struct env *e = *state;
	struct policy_store s;
	char *text;
	size_t len, i;

	fill_store(&s);
	assert_int_equal(policy_store_save(&s), 0);
	assert_int_equal(policy_store_format(&s, &text, &len), 0);
	policy_store_free(&s);

	/* Any single flipped bit is caught. */
	for (i = 0; i < len; i++) {
		char *copy = malloc(len);

		assert_non_null(copy);
		memcpy(copy, text, len);
		copy[i] ^= 1u << (i % 8);
		write_raw(e->path, copy, len);
		assert_int_equal(policy_store_load(&s, NULL, 0), -EILSEQ);
		free(copy);
	}
	/* Cut short anywhere. */
	for (i = 0; i < len; i += 7) {
		write_raw(e->path, text, i);
		assert_int_equal(policy_store_load(&s, NULL, 0), -EILSEQ);
	}
	write_raw(e->path, text, 0);
	expect_damaged("empty", "empty");
	write_raw(e->path, text, len - 1);
	expect_damaged("no newline", "cut short");
	write_raw(e->path, text, len - 16);	/* the whole checksum line */
	expect_damaged("no checksum", "checksum");
	write_raw(e->path, "\0\0\0\0", 4);
	expect_damaged("zeroes", "NUL");
	write_raw(e->path, "hello\n", 6);
	expect_damaged("foreign", "not a dm-row policy store");
	write_signed(e->path, "dm-row-policies 3\nnext_id=1\n");
	expect_damaged("newer", "newer snapctl");
	/* Time zones: in version 2 only, always there, names only. */
	write_signed(e->path, "dm-row-policies 1\nnext_id=5\n"
			      "policy id=1 name=a hours=1 weekdays=mon retention_days=1 tz=Europe/Berlin\n");
	expect_damaged("zone in version 1", "line 3: a version 1 store has no time zones");
	write_signed(e->path, "dm-row-policies 2\nnext_id=5\n"
			      "policy id=1 name=a hours=1 weekdays=mon retention_days=1\n");
	expect_damaged("no zone in version 2", "line 3: a policy needs its time zone");
	write_signed(e->path, "dm-row-policies 2\nnext_id=5\n"
			      "policy id=1 name=a hours=1 weekdays=mon retention_days=1 tz=../../etc/passwd\n");
	expect_damaged("bad zone", "line 3: bad time zone '../../etc/passwd'");
	/* Checksummed but inconsistent. */
	write_signed(e->path, "dm-row-policies 1\nnext_id=5\n"
			      "policy id=1 name=a hours=1 weekdays=mon retention_days=1\n"
			      "policy id=1 name=b hours=1 weekdays=mon retention_days=1\n");
	expect_damaged("same id", "line 4: policy 1 (b) given twice");
	write_signed(e->path, "dm-row-policies 1\nnext_id=2\n"
			      "policy id=2 name=a hours=1 weekdays=mon retention_days=1\n");
	expect_damaged("id past next_id", "not below next_id");
	write_signed(e->path, "dm-row-policies 1\nnext_id=5\n"
			      "policy id=1 name=a hours=24 weekdays=mon retention_days=1\n");
	expect_damaged("bad hours", "line 3: bad hours '24'");
	write_signed(e->path, "dm-row-policies 1\nnext_id=5\n"
			      "policy id=1 name=a hours=1 weekdays=mon retention_days=65537\n");
	expect_damaged("bad retention", "bad retention_days");
	write_signed(e->path, "dm-row-policies 1\nnext_id=5\npolicy id=1 name=a\n");
	expect_damaged("missing fields", "needs id, name");
	write_signed(e->path, "dm-row-policies 1\nnext_id=5\nsnapshot id=1\n");
	expect_damaged("unknown record", "unknown record 'snapshot'");
	write_signed(e->path, "dm-row-policies 1\n");
	expect_damaged("no next_id", "no next_id");
	write_signed(e->path, "dm-row-policies 1\nnext_id=5\n"
			      "disk pool=t uuid=u disk=1 policy=1 applied=1 last_slot=x\n");
	expect_damaged("bad disk", "bad last_slot");
	write_signed(e->path, "dm-row-policies 1\nnext_id=5\n"
			      "disk pool=t uuid=u disk=1 policy=1 applied=1 last_slot=2 failures=-1\n");
	expect_damaged("bad failures", "bad failures '-1'");
	/* A store written before the scheduler's figures were kept loads, with zeroes. */
	write_signed(e->path, "dm-row-policies 1\nnext_id=5\n"
			      "disk pool=t uuid=u disk=1 policy=1 applied=1 last_slot=2\n");
	assert_int_equal(policy_store_load(&s, NULL, 0), 0);
	assert_int_equal(s.nr_disks, 1);
	assert_int_equal(s.disks[0].last_slot, 2);
	assert_int_equal(s.disks[0].last_run, 0);
	assert_int_equal(s.disks[0].failures, 0);
	/* and is written back as it was: the figures only when not 0 */
	{
		char *again;
		size_t again_len;

		assert_int_equal(policy_store_format(&s, &again, &again_len), 0);
		assert_non_null(strstr(again, "\ndisk pool=t uuid=u disk=1 policy=1 applied=1 last_slot=2\n"));
		free(again);
		s.disks[0].failures = 4;
		assert_int_equal(policy_store_format(&s, &again, &again_len), 0);
		assert_non_null(strstr(again, " last_slot=2 failures=4\n"));
		free(again);
	}
	policy_store_free(&s);

	/* A good store loads again. */
	write_raw(e->path, text, len);
	assert_int_equal(policy_store_load(&s, NULL, 0), 0);
	assert_int_equal(s.nr_policies, 2);
	policy_store_free(&s);
	free(text);
}

/*
 * The zone is stored with the policy: version 1 as before while all are in
 * UTC, version 2 with tz= on every policy once one is not; loaded the same
 * whatever the process's TZ.
 */
static void test_store_zones(void **state)
{
	struct env *e = *state;
	struct policy_store s, back;
	struct policy berlin = zone_policy("Europe/Berlin", "2", "all");
	char *text;
	size_t len;

	fill_store(&s);
	assert_int_equal(policy_store_format(&s, &text, &len), 0);
	assert_true(!strncmp(text, "dm-row-policies 1\n", 18));
	assert_null(strstr(text, "tz="));
	free(text);

	snprintf(berlin.name, sizeof(berlin.name), "berlin");
	assert_int_equal(policy_add(&s, &berlin), 0);
	assert_int_equal(policy_store_format(&s, &text, &len), 0);
	assert_true(!strncmp(text, "dm-row-policies 2\n", 18));
	assert_non_null(strstr(text, " created=1772409600 tz=UTC\n"));
	assert_non_null(strstr(text, "policy id=3 name=berlin hours=2 weekdays=mon-sun retention_days=1 created=1772409600 tz=Europe/Berlin\n"));
	free(text);
	assert_int_equal(policy_store_save(&s), 0);

	setenv("TZ", "America/New_York", 1);
	tzset();
	assert_int_equal(policy_store_load(&back, NULL, 0), 0);
	assert_stores_equal(&s, &back);
	assert_string_equal(policy_zone(policy_find(&back, "berlin")), "Europe/Berlin");
	assert_int_equal(policy_next_slot(policy_find(&back, "berlin"), MONDAY), utc(2026, 3, 2, 1, 0));
	policy_store_free(&back);

	/* Back to UTC only: version 1 again. */
	policy_remove(&s, berlin.id);
	assert_int_equal(policy_store_save(&s), 0);
	assert_int_equal(policy_store_load(&back, NULL, 0), 0);
	assert_stores_equal(&s, &back);
	policy_store_free(&back);
	assert_int_equal(policy_store_format(&s, &text, &len), 0);
	assert_true(!strncmp(text, "dm-row-policies 1\n", 18));
	free(text);

	/* A zone gone from the database since: the store still loads, the policy does not fire. */
	write_signed(e->path, "dm-row-policies 2\nnext_id=5\n"
			      "policy id=1 name=a hours=1 weekdays=mon retention_days=1 tz=Mars/Olympus_Mons\n");
	assert_int_equal(policy_store_load(&back, NULL, 0), 0);
	assert_string_equal(policy_zone(&back.policies[0]), "Mars/Olympus_Mons");
	assert_int_equal(policy_zone_usable(&back.policies[0]), -ENOENT);
	assert_int_equal(policy_next_slot(&back.policies[0], MONDAY), -1);
	policy_store_free(&back);
	policy_store_free(&s);
}

/* Left-over temporary files of a writer that died are ignored and harmless. */
static void test_store_stale_temporary(void **state)
{
	struct env *e = *state;
	struct policy_store s, back;
	char tmp[256];

	fill_store(&s);
	assert_int_equal(policy_store_save(&s), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", e->path, (int)getpid());
	write_raw(tmp, "dm-row-policies 1\nnext_id=9\n", 28);	/* half written */
	assert_int_equal(policy_store_load(&back, NULL, 0), 0);
	assert_stores_equal(&s, &back);
	policy_store_free(&back);
	/* The next save replaces it. */
	assert_int_equal(policy_store_save(&s), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	policy_store_free(&s);
}

/*
 * A writer killed at random moments while it saves, over and over, two
 * versions in turn: the store is always whole, one version or the other.
 */
static void test_store_killed_writer(void **state)
{
	struct policy_store a, b, back;
	unsigned int round;

	(void)state;
	fill_store(&a);
	fill_store(&b);
	b.disks[0].last_slot += 3600;
	snprintf(b.policies[0].name, sizeof(b.policies[0].name), "renamed");
	assert_int_equal(policy_store_save(&a), 0);
	srandom(1234);
	for (round = 0; round < 12; round++) {
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (!pid) {
			unsigned int i;

			for (i = 0;; i++)
				if (policy_store_save(i & 1 ? &a : &b))
					_exit(1);
		}
		usleep(1000 + random() % 20000);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(policy_store_load(&back, NULL, 0), 0);
		if (!strcmp(back.policies[0].name, "renamed"))
			assert_stores_equal(&b, &back);
		else
			assert_stores_equal(&a, &back);
		policy_store_free(&back);
	}
	policy_store_free(&a);
	policy_store_free(&b);
}

/* Changes made under the store lock by two processes are all kept. */
static void test_store_transactions(void **state)
{
	struct policy_store s;
	struct policy_txn txn;
	pid_t pids[4];
	unsigned int i;
	char err[256];

	(void)state;
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (!pids[i]) {
			unsigned int k;

			for (k = 0; k < 10; k++) {
				char name[16];
				struct policy p = make_policy("x", "1", "all", 1);

				snprintf(name, sizeof(name), "p%u_%u", i, k);
				snprintf(p.name, sizeof(p.name), "%s", name);
				if (policy_store_begin(&txn, &s, err, sizeof(err)) ||
				    policy_add(&s, &p) || policy_store_commit(&txn, &s))
					_exit(1);
				policy_store_end(&txn, &s);
			}
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(policy_store_load(&s, NULL, 0), 0);
	assert_int_equal(s.nr_policies, 40);
	assert_int_equal(s.next_id, 41);
	policy_store_free(&s);
}

/*----------------------------------------------------------------
 * Clock and locks
 *--------------------------------------------------------------*/

static void test_clock(void **state)
{
	struct env *e = *state;
	char file[256], buf[32];
	int64_t t;

	assert_int_equal(clock_parse("1772409600", &t), 0);
	assert_int_equal(t, MONDAY);
	assert_int_equal(clock_parse("2026-03-02", &t), 0);
	assert_int_equal(t, MONDAY);
	assert_int_equal(clock_parse("2026-03-02T14:00", &t), 0);
	assert_int_equal(t, MONDAY + 14 * 3600);
	assert_int_equal(clock_parse("2026-03-02 14:00:59", &t), 0);
	assert_int_equal(t, MONDAY + 14 * 3600 + 59);
	assert_int_equal(clock_parse("2024-02-29T00:00\n", &t), 0);
	assert_int_equal(clock_parse("2026-02-29", &t), -EINVAL);
	assert_int_equal(clock_parse("2026-13-01", &t), -EINVAL);
	assert_int_equal(clock_parse("2026-03-02T24:00", &t), -EINVAL);
	assert_int_equal(clock_parse("2026-03-02T14", &t), -EINVAL);
	assert_int_equal(clock_parse("soon", &t), -EINVAL);
	assert_int_equal(clock_parse("", &t), -EINVAL);
	assert_int_equal(clock_parse("-5", &t), -EINVAL);
	assert_string_equal(clock_format(MONDAY + 3661, buf, sizeof(buf)), "2026-03-02 01:01:01");

	/* Real, fixed, then a file read again on every look. */
	assert_false(clock_is_fake());
	assert_true(llabs(clock_now() - (int64_t)time(NULL)) <= 2);
	assert_int_equal(clock_set(5), -ENOENT);
	setenv("SNAPCTL_FAKE_TIME", "2026-03-02T14:00", 1);
	assert_true(clock_is_fake());
	assert_int_equal(clock_now(), MONDAY + 14 * 3600);
	snprintf(file, sizeof(file), "%s/clock", e->root);
	setenv("SNAPCTL_FAKE_TIME_FILE", file, 1);
	assert_int_equal(clock_set(MONDAY + 7), 0);
	assert_int_equal(clock_now(), MONDAY + 7);
	write_raw(file, "2026-03-03\n", 11);
	assert_int_equal(clock_now(), MONDAY + 86400);
	/* A file caught half-written keeps the last good time. */
	write_raw(file, "", 0);
	assert_int_equal(clock_now(), MONDAY + 86400);
	unsetenv("SNAPCTL_FAKE_TIME_FILE");
	unsetenv("SNAPCTL_FAKE_TIME");
}

static void test_disk_lock(void **state)
{
	struct disk_lock a, b, c;
	char holder[256], path[256];
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(disk_lock_take(&a, "tank", 3, "automatic snapshot auto_x", 0, NULL, 0,
					NULL, NULL), 0);
	/* Another open file (as another process would have) cannot take it... */
	assert_int_equal(disk_lock_take(&b, "tank", 3, "manual snapshot", 0, holder, sizeof(holder),
					NULL, NULL), -EBUSY);
	assert_non_null(strstr(holder, "automatic snapshot auto_x"));
	assert_non_null(strstr(holder, "pid "));
	assert_int_equal(b.fd, -1);
	/* ...even when it waits a little, */
	assert_int_equal(disk_lock_take(&b, "tank", 3, "manual snapshot", 120, holder,
					sizeof(holder), NULL, NULL), -EBUSY);
	/* but another disk's lock is free. */
	assert_int_equal(disk_lock_take(&c, "tank", 4, "manual snapshot", 0, NULL, 0, NULL, NULL), 0);
	disk_lock_release(&c);
	disk_lock_path("tank", 3, path, sizeof(path));
	assert_non_null(strstr(path, "/locks/tank.3.lock"));

	/* A holder that waits gets it once the other lets go. */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		usleep(200 * 1000);
		disk_lock_release(&a);
		_exit(0);
	}
	/* The child has its own copy of the descriptor: close ours. */
	close(a.fd);
	assert_int_equal(disk_lock_take(&b, "tank", 3, "manual snapshot", 5000, NULL, 0, NULL,
					NULL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	disk_lock_release(&b);

	/* A holder that dies lets go. */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		/* It waits: the probes below hold the lock for moments. */
		if (disk_lock_take(&a, "tank", 5, "doomed", 10000, NULL, 0, NULL, NULL))
			_exit(1);
		pause();
		_exit(0);
	}
	for (;;) {
		int r = disk_lock_take(&b, "tank", 5, "probe", 0, NULL, 0, NULL, NULL);

		if (r == -EBUSY)
			break;		/* the child holds it */
		assert_int_equal(r, 0);
		disk_lock_release(&b);
		/* A child that could not take it has exited: fail, do not spin. */
		assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
		usleep(10 * 1000);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(disk_lock_take(&b, "tank", 5, "after", 1000, NULL, 0, NULL, NULL), 0);
	disk_lock_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule_hours_by_weekdays),
		cmocka_unit_test(test_schedule_random_masks),
		cmocka_unit_test(test_schedule_slots),
		cmocka_unit_test(test_schedule_month_count),
		cmocka_unit_test(test_parse_hours),
		cmocka_unit_test(test_parse_weekdays),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_zone_names),
		cmocka_unit_test_setup_teardown(test_zone_system, save_tz, restore_tz),
		cmocka_unit_test(test_zone_normal_day),
		cmocka_unit_test(test_zone_spring_forward),
		cmocka_unit_test(test_zone_fall_back),
		cmocka_unit_test_setup_teardown(test_zone_reference, save_tz, restore_tz),
		cmocka_unit_test_setup_teardown(test_zone_process_tz, save_tz, restore_tz),
		cmocka_unit_test(test_zone_unknown),
		cmocka_unit_test_setup_teardown(test_store_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_zones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_stale_temporary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_killed_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_lock, setup, teardown),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
