/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Time zones of the tz database (IANA), by name: Europe/Berlin,
 * America/New_York, UTC.  The automatic snapshot policies (policy.h) keep
 * their hours in one of them.
 *
 * A zone is a file under the tz database directory ($TZDIR, else
 * /usr/share/zoneinfo) that starts with the TZif magic.  The C library
 * treats an unknown TZ silently as UTC; zone_check() refuses it instead.
 * The names of UTC (UTC, Etc/UTC, Etc/UCT, Etc/Universal, Etc/Zulu, UCT,
 * Universal, Zulu) are all made "UTC", which needs no file.
 *
 * Offsets come from the C library (localtime_r() with TZ set to the zone's
 * file) over an interval of time, as a zone_span: the segments of constant
 * offset in it.  Everything else is integer arithmetic on "wall" times, the
 * local date and time written as seconds since the epoch as if it were UTC
 * (wall = t + offset(t)).
 */
#ifndef SNAPCTL_ZONE_H
#define SNAPCTL_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZONE_NAME_MAX 63		/* bytes, without the NUL */
#define ZONE_OFFSET_MAX (26 * 3600)	/* no zone is further from UTC */
#define ZONE_SPAN_MAX 64		/* segments in a span */

/* $TZDIR if it is an absolute path, else /usr/share/zoneinfo. */
const char *zone_dir(void);

/*
 * Could @name be a zone: 1 to 63 of letters, digits, '_', '+', '-', '.' in
 * parts joined by '/', none of them "." or "..".  (Whether it is one is
 * zone_check()'s question.)
 */
bool zone_name_valid(const char *name);

/* Is @name one of the names of UTC? */
bool zone_is_utc(const char *name);

/*
 * Is @name a zone of the tz database?  0 and its canonical name in @canon
 * (UTC for the names of UTC, else @name); -EINVAL for a name that cannot
 * be one, -ENOENT for one the database does not have.  @err, if given,
 * says why in words.
 */
int zone_check(const char *name, char *canon, size_t len, char *err, size_t errlen);

/*
 * The name of the system's zone, as the C library finds it: TZ (a name, or
 * a path into the database), else the link /etc/localtime, else
 * /etc/timezone; UTC if TZ is empty or there is no /etc/localtime.
 * -ENOENT (and why in @err) if it has no name in the database, such as a
 * POSIX rule in TZ or a copied /etc/localtime without /etc/timezone.
 */
int zone_system(char *name, size_t len, char *err, size_t errlen);

/*
 * The offsets of a zone from @from to @to: segment i starts at start[i]
 * (start[0] == from) and has offset[i] seconds east of UTC up to the next.
 */
struct zone_span {
	int64_t from, to;
	unsigned int nr;
	int64_t start[ZONE_SPAN_MAX];
	int32_t offset[ZONE_SPAN_MAX];
};

/*
 * Fill @span for @name over [@from, @to] (at most a year).  Changes of
 * offset are found to the second; two changes less than 15 minutes apart
 * (there are none in the database since 1970) may be seen as one.
 * -ENOENT if the zone is not (or no longer) in the database, -EOVERFLOW if
 * the C library cannot convert the times, -E2BIG for more than
 * ZONE_SPAN_MAX segments.
 *
 * Not thread-safe: see zone.c.
 */
int zone_span(const char *name, int64_t from, int64_t to, struct zone_span *span);

/* The offset at @t (that of the first or last segment outside the span). */
int32_t zone_span_offset(const struct zone_span *span, int64_t t);

/*
 * The first instant at which the zone's clock shows @wall or later: the
 * instant of @wall if it exists once, the first of the two if it exists
 * twice (a clock set back), and the instant the clock jumps past it if it
 * does not exist (a clock set forward).
 */
int64_t zone_span_first(const struct zone_span *span, int64_t wall);

#endif
