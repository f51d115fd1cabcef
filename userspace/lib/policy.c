// SPDX-License-Identifier: GPL-2.0
/*
 * Automatic snapshot policies: parsing, schedule arithmetic, snapshot
 * names, retention, and the policy store; see policy.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "statefile.h"

/* CRC-32C of the metadata core's userspace build (userspace/compat/crc32c.c). */
uint32_t crc32c(uint32_t crc, const void *address, unsigned int length);

/* Version 1: every policy in UTC, no tz=.  Version 2: tz= on every policy. */
#define STORE_MAGIC_V1 "dm-row-policies 1"
#define STORE_MAGIC_V2 "dm-row-policies 2"
#define STORE_MAX_BYTES (16u << 20)

/*----------------------------------------------------------------
 * Names, hours, weekdays, retention
 *--------------------------------------------------------------*/

bool policy_name_valid(const char *name)
{
	size_t i, len = strlen(name);

	if (!len || len > POLICY_NAME_MAX || isdigit((unsigned char)name[0]) ||
	    name[0] == '.' || name[0] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return false;
	return true;
}

/* A decimal number of at most 9 digits, the whole of [s, end). */
static int small_number(const char *s, const char *end, unsigned int *v)
{
	unsigned int n = 0;

	if (s == end || end - s > 9)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		n = n * 10 + (*s - '0');
	}
	*v = n;
	return 0;
}

static const char *const day_names[7] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
static const char *const day_full_names[7] = {
	"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
};

/* One day: a name or 1 (Monday) to 7 (Sunday); returns 1..7. */
static int parse_day(const char *s, const char *end, unsigned int *day)
{
	size_t len = end - s;
	unsigned int i;

	if (!small_number(s, end, day))
		return *day >= 1 && *day <= 7 ? 0 : -EINVAL;
	for (i = 0; i < 7; i++) {
		if ((len == 3 && !strncasecmp(s, day_names[i], 3)) ||
		    (len == strlen(day_full_names[i]) && !strncasecmp(s, day_full_names[i], len))) {
			*day = i + 1;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_hour(const char *s, const char *end, unsigned int *hour)
{
	if (small_number(s, end, hour) || *hour > 23)
		return -EINVAL;
	return 0;
}

/*
 * "a,b-c,...": each item one value or a range, through @one; @wrap allows
 * ranges that wrap around (fri-mon); @mask gets bit @to_bit(v) of each.
 */
static int parse_list(const char *s, int (*one)(const char *, const char *, unsigned int *),
		      unsigned int first, unsigned int last, bool wrap,
		      unsigned int (*to_bit)(unsigned int), uint32_t all, uint32_t *mask)
{
	uint32_t m = 0;

	if (!strcasecmp(s, "all")) {
		*mask = all;
		return 0;
	}
	for (;;) {
		const char *comma = strchr(s, ','), *end = comma ? comma : s + strlen(s);
		const char *dash = memchr(s, '-', end - s);
		unsigned int a, b, v;

		if (dash) {
			if (one(s, dash, &a) || one(dash + 1, end, &b))
				return -EINVAL;
		} else {
			if (one(s, end, &a))
				return -EINVAL;
			b = a;
		}
		if (b < a && !wrap)
			return -EINVAL;
		for (v = a;; v = v == last ? first : v + 1) {
			m |= 1u << to_bit(v);
			if (v == b)
				break;
		}
		if (!comma)
			break;
		s = comma + 1;
	}
	if (!m)
		return -EINVAL;
	*mask = m;
	return 0;
}

static unsigned int hour_bit(unsigned int h)
{
	return h;
}

/* ISO day (1 Monday ... 7 Sunday) to struct tm's (0 Sunday ... 6 Saturday). */
static unsigned int day_bit(unsigned int d)
{
	return d % 7;
}

int policy_parse_hours(const char *s, uint32_t *mask)
{
	return parse_list(s, parse_hour, 0, 23, false, hour_bit, POLICY_HOURS_ALL, mask);
}

int policy_parse_weekdays(const char *s, uint32_t *mask)
{
	return parse_list(s, parse_day, 1, 7, true, day_bit, POLICY_WEEKDAYS_ALL, mask);
}

int policy_parse_retention(const char *s, uint32_t *days)
{
	unsigned int v;

	if (!strcasecmp(s, "forever")) {
		*days = POLICY_FOREVER;
		return 0;
	}
	/* 0 is forever too, as the store and the pool's metadata write it. */
	if (small_number(s, s + strlen(s), &v) || v > POLICY_RETENTION_MAX)
		return -EINVAL;
	*days = v;
	return 0;
}

/* Items in order, runs of three or more as ranges: "0-3,8,10". */
static const char *format_list(uint32_t mask, unsigned int n, const unsigned int *bits,
			       const char *(*label)(unsigned int, char *), char *buf, size_t len)
{
	unsigned int i = 0, j;
	size_t used = 0;
	char a[8], b[8];

	buf[0] = '\0';
	while (i < n) {
		if (!(mask & (1u << bits[i]))) {
			i++;
			continue;
		}
		for (j = i; j + 1 < n && (mask & (1u << bits[j + 1])); j++)
			;
		if (j - i >= 2)
			used += snprintf(buf + used, used < len ? len - used : 0, "%s%s-%s",
					 used ? "," : "", label(i, a), label(j, b));
		else
			for (; i <= j; i++)
				used += snprintf(buf + used, used < len ? len - used : 0, "%s%s",
						 used ? "," : "", label(i, a));
		i = j + 1;
	}
	if (!used)
		snprintf(buf, len, "-");
	return buf;
}

static const char *hour_label(unsigned int i, char *buf)
{
	snprintf(buf, 8, "%u", i);
	return buf;
}

static const char *day_label(unsigned int i, char *buf)
{
	snprintf(buf, 8, "%s", day_names[i]);
	return buf;
}

const char *policy_format_hours(uint32_t mask, char *buf, size_t len)
{
	static const unsigned int bits[24] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23
	};

	return format_list(mask, 24, bits, hour_label, buf, len);
}

const char *policy_format_weekdays(uint32_t mask, char *buf, size_t len)
{
	static const unsigned int bits[7] = { 1, 2, 3, 4, 5, 6, 0 };	/* Monday first */

	return format_list(mask, 7, bits, day_label, buf, len);
}

const char *policy_format_retention(uint32_t days, char *buf, size_t len)
{
	if (days == POLICY_FOREVER)
		snprintf(buf, len, "forever");
	else
		snprintf(buf, len, "%ud", days);
	return buf;
}

/*----------------------------------------------------------------
 * Schedule
 *
 * The hours and days are the zone's: a slot's "wall" time (zone.h), its
 * local date and hour as seconds since the epoch as if it were UTC, is a
 * whole hour whose hour of the day and day of the week are the policy's.
 * Its instant is zone_span_first() of it: the first instant the zone's
 * clock shows it or later.  That is monotonic in the wall time, so the
 * next slot after t is the first wall time in order whose instant is after
 * t, and the last one the first wall time backwards whose instant is not.
 * A week holds every hour of every day, and offsets are within
 * ZONE_OFFSET_MAX (26 hours): a wall time more than 54 hours after the
 * clock's reading at t has its instant after t, one more than 54 hours
 * before it has its instant before t.  So a scan of the wall times from
 * SCAN_NEAR (3 days) on the near side of the reading to SCAN_FAR (10 days)
 * on the far side finds any slot there is, and the zone's offsets are
 * needed for SCAN_MARGIN (3 days) more on both sides.  In UTC the span is
 * one segment of offset 0: wall times are instants and the arithmetic is
 * as exact and cheap as it always was.
 *--------------------------------------------------------------*/

#define HOUR 3600
#define DAY 86400
#define SCAN_NEAR (3 * DAY)
#define SCAN_FAR (10 * DAY)
#define SCAN_MARGIN (3 * DAY)

const char *policy_zone(const struct policy *p)
{
	return p->zone[0] ? p->zone : "UTC";
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* Is the whole hour @wall one of the policy's hours on one of its days?  Day 0 was a Thursday. */
static bool wall_fires(const struct policy *p, int64_t wall)
{
	int64_t day = floor_div(wall, DAY);
	unsigned int hour = (unsigned int)((wall - day * DAY) / HOUR);
	unsigned int wday = (unsigned int)(day + 4 - floor_div(day + 4, 7) * 7);

	return (p->hours >> hour & 1) && (p->weekdays >> wday & 1);
}

/*
 * The zone's offsets from @before seconds before @t to @after seconds after
 * it (and SCAN_MARGIN more), and the whole hour its clock shows at @t.
 */
static int span_around(const struct policy *p, int64_t t, int64_t before, int64_t after,
		       struct zone_span *span, int64_t *hour)
{
	int r = zone_span(policy_zone(p), t - before - SCAN_MARGIN, t + after + SCAN_MARGIN, span);

	if (r)
		return r;
	*hour = floor_div(t + zone_span_offset(span, t), HOUR) * HOUR;
	return 0;
}

int policy_zone_usable(const struct policy *p)
{
	struct zone_span span;

	return zone_span(policy_zone(p), 0, 0, &span) == -ENOENT ? -ENOENT : 0;
}

int64_t policy_next_slot(const struct policy *p, int64_t t)
{
	struct zone_span span;
	int64_t wall, hour;

	if (t < -1)
		t = -1;		/* slots are at or after the epoch */
	if (!p->hours || !p->weekdays || span_around(p, t, SCAN_NEAR, SCAN_FAR, &span, &hour))
		return -1;
	for (wall = hour - SCAN_NEAR; wall <= hour + SCAN_FAR; wall += HOUR) {
		int64_t slot;

		if (!wall_fires(p, wall))
			continue;
		slot = zone_span_first(&span, wall);
		if (slot > t)
			return slot;
	}
	return -1;
}

int64_t policy_last_slot(const struct policy *p, int64_t t)
{
	struct zone_span span;
	int64_t wall, hour;

	if (t < 0 || !p->hours || !p->weekdays ||
	    span_around(p, t, SCAN_FAR, SCAN_NEAR, &span, &hour))
		return -1;
	for (wall = hour + SCAN_NEAR; wall >= hour - SCAN_FAR; wall -= HOUR) {
		int64_t slot;

		if (!wall_fires(p, wall))
			continue;
		slot = zone_span_first(&span, wall);
		if (slot <= t)
			return slot >= 0 ? slot : -1;
	}
	return -1;
}

bool policy_fires_at(const struct policy *p, int64_t t)
{
	return t >= 0 && policy_last_slot(p, t) == t;
}

int policy_snapshot_name(const struct policy *p, int64_t slot, char *buf, size_t len)
{
	struct zone_span span;
	char when[32];
	struct tm tm;
	time_t local;
	int n;

	if (slot < 0 || zone_span(policy_zone(p), slot, slot, &span))
		return -EINVAL;
	/* The wall time, as gmtime() reads it, is the zone's date and time. */
	local = (time_t)(slot + zone_span_offset(&span, slot));
	if (!gmtime_r(&local, &tm) || !strftime(when, sizeof(when), "%Y%m%d_%H%M", &tm))
		return -EINVAL;
	n = snprintf(buf, len, "auto_%s_%s", when, p->name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

uint64_t policy_retention_until(int64_t created, uint32_t days)
{
	if (days == POLICY_FOREVER)
		return 0;
	return (uint64_t)(created < 0 ? 0 : created) + (uint64_t)days * 86400u;
}

bool policy_retention_expired(uint64_t retention, int64_t now)
{
	return retention && now >= 0 && retention <= (uint64_t)now;
}

/*----------------------------------------------------------------
 * Store: text
 *--------------------------------------------------------------*/

struct buf {
	char *text;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += n;
			return;
		}
		{
			size_t cap = b->cap * 2 + n + 1;
			char *grown = realloc(b->text, cap);

			if (!grown) {
				b->failed = true;
				return;
			}
			b->text = grown;
			b->cap = cap;
		}
	}
}

int policy_store_format(const struct policy_store *s, char **text, size_t *len)
{
	struct buf b = { .cap = 1024 };
	char hours[128], days[64];
	bool zones = false;
	unsigned int i;

	/* An older snapctl reads a store of UTC policies as it always did. */
	for (i = 0; i < s->nr_policies; i++)
		if (strcmp(policy_zone(&s->policies[i]), "UTC"))
			zones = true;
	b.text = malloc(b.cap);
	if (!b.text)
		return -ENOMEM;
	put(&b, "%s\nnext_id=%" PRIu32 "\n", zones ? STORE_MAGIC_V2 : STORE_MAGIC_V1, s->next_id);
	for (i = 0; i < s->nr_policies; i++) {
		const struct policy *p = &s->policies[i];

		put(&b, "policy id=%" PRIu32 " name=%s hours=%s weekdays=%s retention_days=%" PRIu32
			" created=%" PRId64 "%s%s\n", p->id, p->name,
		    policy_format_hours(p->hours, hours, sizeof(hours)),
		    policy_format_weekdays(p->weekdays, days, sizeof(days)),
		    p->retention_days, p->created, zones ? " tz=" : "", zones ? policy_zone(p) : "");
	}
	for (i = 0; i < s->nr_disks; i++) {
		const struct policy_disk *d = &s->disks[i];

		put(&b, "disk pool=%s uuid=%s disk=%" PRIu64 " policy=%" PRIu32 " applied=%" PRId64
			" last_slot=%" PRId64, d->pool, d->uuid, d->disk, d->policy, d->applied,
		    d->last_slot);
		/* Optional, added later: only when there is something to say. */
		if (d->last_run)
			put(&b, " last_run=%" PRId64, d->last_run);
		if (d->last_success)
			put(&b, " last_success=%" PRId64, d->last_success);
		if (d->failures)
			put(&b, " failures=%" PRIu64, d->failures);
		put(&b, "\n");
	}
	if (!b.failed)
		put(&b, "crc32c=%08" PRIx32 "\n", crc32c(~0u, b.text, b.len) ^ ~0u);
	if (b.failed) {
		free(b.text);
		return -ENOMEM;
	}
	*text = b.text;
	*len = b.len;
	return 0;
}

static int __attribute__((format(printf, 4, 5)))
bad(char *err, size_t errlen, unsigned int line, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!err || !errlen)
		return -EILSEQ;
	if (line)
		n = snprintf(err, errlen, "line %u: ", line);
	if (n < 0 || (size_t)n >= errlen)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return -EILSEQ;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		n = n * 10 + (*s - '0');
	}
	if (n > max)
		return -ERANGE;
	*v = n;
	return 0;
}

/* Split "word k=v k=v" in place; at most 16 fields. */
struct fields {
	unsigned int nr;
	char *keys[16];
	char *values[16];
};

static int split_fields(char *line, struct fields *f)
{
	char *word;

	f->nr = 0;
	while ((word = strsep(&line, " "))) {
		char *eq = strchr(word, '=');

		if (!eq || f->nr == 16)
			return -EINVAL;
		*eq = '\0';
		f->keys[f->nr] = word;
		f->values[f->nr] = eq + 1;
		f->nr++;
	}
	return 0;
}

static const char *field_of(const struct fields *f, const char *key)
{
	unsigned int i;

	for (i = 0; i < f->nr; i++)
		if (!strcmp(f->keys[i], key))
			return f->values[i];
	return NULL;
}

static int grow(void **array, unsigned int nr, size_t size)
{
	void *grown;

	/* Powers of two: grow when nr is one. */
	if (nr & (nr - 1))
		return 0;
	grown = realloc(*array, (nr ? nr * 2 : 1) * size);
	if (!grown)
		return -ENOMEM;
	*array = grown;
	return 0;
}

static int parse_policy(struct policy_store *s, const struct fields *f, unsigned int version,
			unsigned int line, char *err, size_t errlen)
{
	const char *id = field_of(f, "id"), *name = field_of(f, "name");
	const char *hours = field_of(f, "hours"), *days = field_of(f, "weekdays");
	const char *retention = field_of(f, "retention_days"), *created = field_of(f, "created");
	const char *tz = field_of(f, "tz");
	struct policy p = { 0 };
	uint64_t v;
	unsigned int i;

	if (!id || !name || !hours || !days || !retention)
		return bad(err, errlen, line, "a policy needs id, name, hours, weekdays and retention_days");
	if (version == 1 && tz)
		return bad(err, errlen, line, "a version 1 store has no time zones (tz=)");
	if (version == 2 && !tz)
		return bad(err, errlen, line, "a policy needs its time zone (tz=)");
	if (parse_u64(id, POLICY_ID_MAX, &v) || !v)
		return bad(err, errlen, line, "bad policy id '%s'", id);
	p.id = v;
	if (!policy_name_valid(name))
		return bad(err, errlen, line, "bad policy name '%s'", name);
	snprintf(p.name, sizeof(p.name), "%s", name);
	if (policy_parse_hours(hours, &p.hours))
		return bad(err, errlen, line, "bad hours '%s'", hours);
	if (policy_parse_weekdays(days, &p.weekdays))
		return bad(err, errlen, line, "bad weekdays '%s'", days);
	if (parse_u64(retention, POLICY_RETENTION_MAX, &v))
		return bad(err, errlen, line, "bad retention_days '%s'", retention);
	p.retention_days = v;
	if (created) {
		if (parse_u64(created, INT64_MAX, &v))
			return bad(err, errlen, line, "bad created '%s'", created);
		p.created = (int64_t)v;
	}
	/*
	 * The name only: a zone that has gone from the tz database since is the
	 * daemon's to report, and the store stays readable to fix it.
	 */
	if (tz && !zone_name_valid(tz))
		return bad(err, errlen, line, "bad time zone '%.80s'", tz);
	snprintf(p.zone, sizeof(p.zone), "%s", tz && !zone_is_utc(tz) ? tz : "UTC");
	for (i = 0; i < s->nr_policies; i++)
		if (s->policies[i].id == p.id || !strcmp(s->policies[i].name, p.name))
			return bad(err, errlen, line, "policy %" PRIu32 " (%s) given twice", p.id, p.name);
	if (s->nr_policies == POLICY_MAX)
		return bad(err, errlen, line, "more than %d policies", POLICY_MAX);
	if (grow((void **)&s->policies, s->nr_policies, sizeof(p)))
		return -ENOMEM;
	s->policies[s->nr_policies++] = p;
	return 0;
}

/* An optional number field: 0 if absent. */
static int parse_optional(const struct fields *f, const char *key, uint64_t max, uint64_t *v,
			  unsigned int line, char *err, size_t errlen)
{
	const char *s = field_of(f, key);

	*v = 0;
	if (s && parse_u64(s, max, v))
		return bad(err, errlen, line, "bad %s '%s'", key, s);
	return 0;
}

static int parse_disk(struct policy_store *s, const struct fields *f, unsigned int line,
		      char *err, size_t errlen)
{
	const char *pool = field_of(f, "pool"), *uuid = field_of(f, "uuid");
	const char *disk = field_of(f, "disk"), *policy = field_of(f, "policy");
	const char *applied = field_of(f, "applied"), *last = field_of(f, "last_slot");
	struct policy_disk d = { 0 };
	uint64_t v;

	if (!pool || !uuid || !disk || !policy || !applied || !last)
		return bad(err, errlen, line, "a disk needs pool, uuid, disk, policy, applied and last_slot");
	if (!*pool || strlen(pool) >= sizeof(d.pool) || strlen(uuid) >= sizeof(d.uuid))
		return bad(err, errlen, line, "bad pool '%s' or uuid '%s'", pool, uuid);
	snprintf(d.pool, sizeof(d.pool), "%s", pool);
	snprintf(d.uuid, sizeof(d.uuid), "%s", uuid);
	if (parse_u64(disk, UINT64_MAX, &d.disk) || !d.disk)
		return bad(err, errlen, line, "bad disk '%s'", disk);
	if (parse_u64(policy, POLICY_ID_MAX, &v) || !v)
		return bad(err, errlen, line, "bad policy '%s'", policy);
	d.policy = v;
	if (parse_u64(applied, INT64_MAX, &v))
		return bad(err, errlen, line, "bad applied '%s'", applied);
	d.applied = (int64_t)v;
	if (parse_u64(last, INT64_MAX, &v))
		return bad(err, errlen, line, "bad last_slot '%s'", last);
	d.last_slot = (int64_t)v;
	/* Added later: optional. */
	if (parse_optional(f, "last_run", INT64_MAX, &v, line, err, errlen))
		return -EILSEQ;
	d.last_run = (int64_t)v;
	if (parse_optional(f, "last_success", INT64_MAX, &v, line, err, errlen))
		return -EILSEQ;
	d.last_success = (int64_t)v;
	if (parse_optional(f, "failures", UINT64_MAX, &d.failures, line, err, errlen))
		return -EILSEQ;
	if (policy_disk_find(s, d.uuid, d.disk))
		return bad(err, errlen, line, "disk %" PRIu64 " of pool %s given twice", d.disk, d.pool);
	if (grow((void **)&s->disks, s->nr_disks, sizeof(d)))
		return -ENOMEM;
	s->disks[s->nr_disks++] = d;
	return 0;
}

int policy_store_parse(struct policy_store *s, const char *text, size_t len, char *err,
		       size_t errlen)
{
	size_t mlen = strlen(STORE_MAGIC_V1) + 1;
	const char *crc_line, *p;
	char *copy, *cursor, *line;
	unsigned int nr = 0, i, version;
	uint32_t want;
	uint64_t v;
	int r = 0;

	memset(s, 0, sizeof(*s));
	if (err && errlen)
		err[0] = '\0';
	if (!len)
		return bad(err, errlen, 0, "the file is empty");
	if (memchr(text, '\0', len))
		return bad(err, errlen, 0, "the file holds NUL bytes");
	if (text[len - 1] != '\n')
		return bad(err, errlen, 0, "the file is cut short (no final newline)");
	if (len >= mlen && !memcmp(text, STORE_MAGIC_V1 "\n", mlen)) {
		version = 1;
	} else if (len >= mlen && !memcmp(text, STORE_MAGIC_V2 "\n", mlen)) {
		version = 2;
	} else {
		if (!strncmp(text, "dm-row-policies ", 16))
			return bad(err, errlen, 1, "unknown format version (written by a newer snapctl?)");
		return bad(err, errlen, 1, "not a dm-row policy store");
	}
	/* The checksum line is the last one and covers everything before it. */
	for (crc_line = text + len - 1; crc_line > text && crc_line[-1] != '\n'; crc_line--)
		;
	if (strncmp(crc_line, "crc32c=", 7) || text + len - crc_line != 7 + 8 + 1)
		return bad(err, errlen, 0, "the checksum line is missing (the file is cut short?)");
	for (p = crc_line + 7, want = 0; p < crc_line + 15; p++) {
		/* Lower case only, as written: any changed bit is damage. */
		if (!isdigit((unsigned char)*p) && (*p < 'a' || *p > 'f'))
			return bad(err, errlen, 0, "the checksum line is damaged");
		want = want * 16 + (isdigit((unsigned char)*p) ? *p - '0' : *p - 'a' + 10);
	}
	if ((crc32c(~0u, text, crc_line - text) ^ ~0u) != want)
		return bad(err, errlen, 0, "checksum mismatch: the file is damaged");

	copy = strndup(text, crc_line - text);
	if (!copy)
		return -ENOMEM;
	cursor = copy;
	while (!r && (line = strsep(&cursor, "\n"))) {
		struct fields f;
		char *rest;

		nr++;
		if (nr == 1)
			continue;	/* the magic */
		if (!*line)
			continue;	/* after the last newline */
		if (!strncmp(line, "next_id=", 8)) {
			if (parse_u64(line + 8, (uint64_t)POLICY_ID_MAX + 1, &v) || !v)
				r = bad(err, errlen, nr, "bad next_id '%s'", line + 8);
			else
				s->next_id = v;
			continue;
		}
		rest = strchr(line, ' ');
		if (!rest) {
			r = bad(err, errlen, nr, "unknown line '%.40s'", line);
			break;
		}
		*rest++ = '\0';
		if (split_fields(rest, &f)) {
			r = bad(err, errlen, nr, "malformed %s record", line);
			break;
		}
		if (!strcmp(line, "policy"))
			r = parse_policy(s, &f, version, nr, err, errlen);
		else if (!strcmp(line, "disk"))
			r = parse_disk(s, &f, nr, err, errlen);
		else
			r = bad(err, errlen, nr, "unknown record '%.40s'", line);
	}
	free(copy);
	if (!r && !s->next_id)
		r = bad(err, errlen, 0, "no next_id");
	for (i = 0; !r && i < s->nr_policies; i++)
		if (s->policies[i].id >= s->next_id)
			r = bad(err, errlen, 0, "policy %" PRIu32 " is not below next_id %" PRIu32,
				s->policies[i].id, s->next_id);
	if (r)
		policy_store_free(s);
	return r;
}

/*----------------------------------------------------------------
 * Store: file and lock
 *--------------------------------------------------------------*/

const char *policy_store_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/policies", state_dir());
	return buf;
}

void policy_store_free(struct policy_store *s)
{
	free(s->policies);
	free(s->disks);
	memset(s, 0, sizeof(*s));
}

int policy_store_load(struct policy_store *s, char *err, size_t errlen)
{
	char path[PATH_MAX], *text;
	size_t len;
	int r;

	memset(s, 0, sizeof(*s));
	if (err && errlen)
		err[0] = '\0';
	r = read_file(policy_store_path(path, sizeof(path)), STORE_MAX_BYTES, &text, &len);
	if (r == -ENOENT) {
		s->next_id = 1;
		return 0;
	}
	if (r == -EFBIG)
		return bad(err, errlen, 0, "the file is larger than %u bytes", STORE_MAX_BYTES);
	if (r)
		return r;
	r = policy_store_parse(s, text, len, err, errlen);
	free(text);
	return r;
}

int policy_store_save(const struct policy_store *s)
{
	char path[PATH_MAX], *text;
	size_t len;
	int r;

	r = policy_store_format(s, &text, &len);
	if (r)
		return r;
	r = write_file_atomic(policy_store_path(path, sizeof(path)), text, len, 0644);
	free(text);
	return r;
}

int policy_store_begin(struct policy_txn *txn, struct policy_store *s, char *err,
		       size_t errlen)
{
	char path[PATH_MAX];
	int r;

	memset(s, 0, sizeof(*s));
	txn->lock_fd = -1;
	r = make_dirs(state_dir());
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/policies.lock", state_dir());
	txn->lock_fd = lock_file(path);
	if (txn->lock_fd < 0) {
		r = txn->lock_fd;
		txn->lock_fd = -1;
		return r;
	}
	r = policy_store_load(s, err, errlen);
	if (r) {
		close(txn->lock_fd);
		txn->lock_fd = -1;
	}
	return r;
}

int policy_store_commit(struct policy_txn *txn, const struct policy_store *s)
{
	if (txn->lock_fd < 0)
		return -EBADF;
	return policy_store_save(s);
}

void policy_store_end(struct policy_txn *txn, struct policy_store *s)
{
	if (txn->lock_fd >= 0)
		close(txn->lock_fd);
	txn->lock_fd = -1;
	policy_store_free(s);
}

/*----------------------------------------------------------------
 * Store: contents
 *--------------------------------------------------------------*/

struct policy *policy_by_id(const struct policy_store *s, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < s->nr_policies; i++)
		if (s->policies[i].id == id)
			return &s->policies[i];
	return NULL;
}

struct policy *policy_find(const struct policy_store *s, const char *spec)
{
	unsigned int i;
	uint64_t id;

	if (!parse_u64(spec, POLICY_ID_MAX, &id))
		return policy_by_id(s, id);
	for (i = 0; i < s->nr_policies; i++)
		if (!strcmp(s->policies[i].name, spec))
			return &s->policies[i];
	return NULL;
}

int policy_add(struct policy_store *s, struct policy *p)
{
	unsigned int i;

	for (i = 0; i < s->nr_policies; i++)
		if (!strcmp(s->policies[i].name, p->name))
			return -EEXIST;
	if (s->nr_policies >= POLICY_MAX || !s->next_id || s->next_id > POLICY_ID_MAX)
		return -ENOSPC;
	if (grow((void **)&s->policies, s->nr_policies, sizeof(*p)))
		return -ENOMEM;
	p->id = s->next_id++;
	s->policies[s->nr_policies++] = *p;
	return 0;
}

void policy_remove(struct policy_store *s, uint32_t id)
{
	unsigned int i, kept = 0;

	for (i = 0; i < s->nr_policies; i++)
		if (s->policies[i].id != id)
			s->policies[kept++] = s->policies[i];
	s->nr_policies = kept;
	for (i = 0, kept = 0; i < s->nr_disks; i++)
		if (s->disks[i].policy != id)
			s->disks[kept++] = s->disks[i];
	s->nr_disks = kept;
}

struct policy_disk *policy_disk_find(const struct policy_store *s, const char *uuid,
				     uint64_t disk)
{
	unsigned int i;

	for (i = 0; i < s->nr_disks; i++)
		if (s->disks[i].disk == disk && !strcmp(s->disks[i].uuid, uuid))
			return &s->disks[i];
	return NULL;
}

struct policy_disk *policy_disk_get(struct policy_store *s, const char *pool, const char *uuid,
				    uint64_t disk)
{
	struct policy_disk *d = policy_disk_find(s, uuid, disk);

	if (d)
		return d;
	if (grow((void **)&s->disks, s->nr_disks, sizeof(*d)))
		return NULL;
	d = &s->disks[s->nr_disks++];
	memset(d, 0, sizeof(*d));
	snprintf(d->pool, sizeof(d->pool), "%s", pool);
	snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
	d->disk = disk;
	return d;
}

void policy_disk_remove(struct policy_store *s, const char *uuid, uint64_t disk)
{
	struct policy_disk *d = policy_disk_find(s, uuid, disk);

	if (!d)
		return;
	*d = s->disks[--s->nr_disks];
}
