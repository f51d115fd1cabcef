// SPDX-License-Identifier: GPL-2.0
/*
 * Time zones by name; see zone.h.
 *
 * Where the offsets come from.  The C library knows the tz database: its
 * TZif files, their rules for the years after the last listed change, and
 * the format's versions.  Reading the files ourselves would mean keeping a
 * second copy of that knowledge (the POSIX TZ rule at the end of a file
 * included) in step with it.  So the offsets are the C library's, from
 * localtime_r() with TZ naming the zone's file, and only the arithmetic on
 * top of them is ours.  glibc reads TZ in tzset() only, for the whole
 * process, so zone_span() is the one function that sets TZ: it sets it,
 * calls tzset(), samples the offsets it needs, and puts TZ and the
 * library's state back before it returns.  The rule that follows: call it
 * from one thread at a time (a mutex keeps callers of zone_span() apart),
 * and while it runs no other thread of the process may use local time
 * (localtime, mktime, strftime %Z, getenv("TZ")...).  snapctl calls it
 * from its main thread only.  Code that wants UTC uses gmtime_r() and
 * timegm(), which TZ does not affect.
 *
 * The C library does not say when the offset changes; zone_span() samples
 * it every 15 minutes and finds each change to the second by bisection.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zone.h"

#define ZONE_STEP 900			/* seconds between samples */
#define ZONE_SPAN_LONGEST (366 * 86400)

static const char *const utc_names[] = {
	"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu",
};

const char *zone_dir(void)
{
	const char *dir = getenv("TZDIR");

	return dir && dir[0] == '/' ? dir : "/usr/share/zoneinfo";
}

bool zone_is_utc(const char *name)
{
	unsigned int i;

	for (i = 0; i < sizeof(utc_names) / sizeof(utc_names[0]); i++)
		if (!strcmp(name, utc_names[i]))
			return true;
	return false;
}

static int __attribute__((format(printf, 3, 4)))
why(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return 0;
}

/* Letters, digits, '_', '+', '-', '.' in components joined by '/'; no "." or "..". */
bool zone_name_valid(const char *name)
{
	const char *c = name, *part = name;

	if (!*name || strlen(name) > ZONE_NAME_MAX)
		return false;
	for (;; c++) {
		if (*c == '/' || !*c) {
			size_t len = c - part;

			if (!len || (len == 1 && part[0] == '.') ||
			    (len == 2 && part[0] == '.' && part[1] == '.'))
				return false;
			if (!*c)
				return true;
			part = c + 1;
			continue;
		}
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("_+-.", *c)))
			return false;
	}
}

/* The zone's file exists and is a TZif file. */
static bool zone_file_valid(const char *name)
{
	char path[PATH_MAX], magic[4];
	struct stat st;
	int fd;
	bool ok;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", zone_dir(), name) >= sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);	/* whatever TZDIR holds */
	if (fd < 0)
		return false;
	ok = !fstat(fd, &st) && S_ISREG(st.st_mode) &&
	     read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
	     !memcmp(magic, "TZif", 4);
	close(fd);
	return ok;
}

int zone_check(const char *name, char *canon, size_t len, char *err, size_t errlen)
{
	why(err, errlen, "%s", "");
	if (zone_is_utc(name)) {
		snprintf(canon, len, "UTC");
		return 0;
	}
	if (!zone_name_valid(name)) {
		why(err, errlen, "'%.80s' is not a time zone name (names are like Europe/Berlin or America/New_York)",
		    name);
		return -EINVAL;
	}
	/*
	 * right/...: time_t counting leap seconds, which no Linux clock does.
	 * localtime: the host's zone, which a policy must not follow.
	 */
	if (!strncmp(name, "right/", 6) || !strcmp(name, "localtime") ||
	    !strcmp(name, "posixrules")) {
		why(err, errlen, "'%s' is not a time zone a policy can use (names are like Europe/Berlin or America/New_York)",
		    name);
		return -EINVAL;
	}
	if (!zone_file_valid(name)) {
		why(err, errlen, "unknown time zone '%s': the tz database (%s) has no such zone (names are like Europe/Berlin or America/New_York)",
		    name, zone_dir());
		return -ENOENT;
	}
	if (strlen(name) >= len)
		return -ENAMETOOLONG;
	snprintf(canon, len, "%s", name);
	return 0;
}

/* @path inside the database: the zone's name in @name. */
static int name_of_path(const char *path, char *name, size_t len)
{
	const char *dir = zone_dir(), *rest = NULL, *p;
	size_t dlen = strlen(dir);

	if (!strncmp(path, dir, dlen) && path[dlen] == '/')
		rest = path + dlen + 1;
	/* A link such as ../usr/share/zoneinfo/Europe/Berlin: what follows "zoneinfo/". */
	for (p = path; !rest && (p = strstr(p, "zoneinfo/")); p++)
		if (p == path || p[-1] == '/')
			rest = p + strlen("zoneinfo/");
	if (!rest)
		return -ENOENT;
	return zone_check(rest, name, len, NULL, 0);
}

int zone_system(char *name, size_t len, char *err, size_t errlen)
{
	const char *tz = getenv("TZ");
	char target[PATH_MAX], line[128];
	ssize_t n;
	FILE *f;

	why(err, errlen, "%s", "");
	if (tz) {
		const char *zone = tz[0] == ':' ? tz + 1 : tz;

		if (!*zone) {
			snprintf(name, len, "UTC");	/* the C library's reading of TZ="" */
			return 0;
		}
		if (zone[0] != '/' ? !zone_check(zone, name, len, NULL, 0) :
		    !name_of_path(zone, name, len) ||
		    /* A link into the database, such as /etc/localtime. */
		    (realpath(zone, target) && !name_of_path(target, name, len)))
			return 0;
		why(err, errlen, "TZ='%.80s' is not a time zone of the tz database in %s", tz, zone_dir());
		return -ENOENT;
	}
	n = readlink("/etc/localtime", target, sizeof(target) - 1);
	if (n < 0 && errno == ENOENT) {
		snprintf(name, len, "UTC");		/* what the C library uses then */
		return 0;
	}
	if (n > 0) {
		target[n] = '\0';
		if (!name_of_path(target, name, len))
			return 0;
		why(err, errlen, "/etc/localtime links to %s, which is not a zone of the tz database in %s",
		    target, zone_dir());
		return -ENOENT;
	}
	/* A copy rather than a link: Debian names the zone in /etc/timezone. */
	f = fopen("/etc/timezone", "re");
	if (f) {
		bool got = fgets(line, sizeof(line), f) != NULL;

		fclose(f);
		if (got) {
			line[strcspn(line, "\n")] = '\0';
			if (!zone_check(line, name, len, NULL, 0))
				return 0;
		}
	}
	why(err, errlen, "/etc/localtime is not a link into the tz database and /etc/timezone names no zone");
	return -ENOENT;
}

/*----------------------------------------------------------------
 * Offsets
 *--------------------------------------------------------------*/

static pthread_mutex_t zone_lock = PTHREAD_MUTEX_INITIALIZER;

static int offset_at(int64_t t, int32_t *offset)
{
	time_t v = (time_t)t;
	struct tm tm;

	if (!localtime_r(&v, &tm))
		return -EOVERFLOW;
	*offset = (int32_t)tm.tm_gmtoff;
	return 0;
}

/* Sample under TZ (the caller has set it). */
static int sample(int64_t from, int64_t to, struct zone_span *s)
{
	int64_t t = from;
	int32_t o, next;
	int r;

	r = offset_at(from, &o);
	if (r)
		return r;
	s->nr = 1;
	s->start[0] = from;
	s->offset[0] = o;
	while (t < to) {
		int64_t probe = t + ZONE_STEP < to ? t + ZONE_STEP : to, lo = t, hi = probe;

		r = offset_at(probe, &next);
		if (r)
			return r;
		if (next == o) {
			t = probe;
			continue;
		}
		/* The offset is o at lo and something else at hi: the first second of the change. */
		while (hi - lo > 1) {
			int64_t mid = lo + (hi - lo) / 2;
			int32_t m;

			r = offset_at(mid, &m);
			if (r)
				return r;
			if (m == o)
				lo = mid;
			else
				hi = mid;
		}
		r = offset_at(hi, &o);
		if (r)
			return r;
		if (s->nr == ZONE_SPAN_MAX)
			return -E2BIG;
		s->start[s->nr] = hi;
		s->offset[s->nr] = o;
		s->nr++;
		t = hi;
	}
	return 0;
}

int zone_span(const char *name, int64_t from, int64_t to, struct zone_span *s)
{
	char tz[PATH_MAX + 1], *saved = NULL;
	const char *old;
	int r;

	memset(s, 0, sizeof(*s));
	if (to < from || to - from > ZONE_SPAN_LONGEST)
		return -EINVAL;
	s->from = from;
	s->to = to;
	if (zone_is_utc(name)) {
		s->nr = 1;
		s->start[0] = from;
		return 0;
	}
	/* Checked first: the C library would take an unknown zone for UTC. */
	if (!zone_name_valid(name) || !zone_file_valid(name))
		return -ENOENT;
	if ((size_t)snprintf(tz, sizeof(tz), ":%s/%s", zone_dir(), name) >= sizeof(tz))
		return -ENAMETOOLONG;

	pthread_mutex_lock(&zone_lock);
	old = getenv("TZ");
	if (old) {
		saved = strdup(old);
		if (!saved) {
			pthread_mutex_unlock(&zone_lock);
			return -ENOMEM;
		}
	}
	if (setenv("TZ", tz, 1)) {
		r = -errno;
	} else {
		tzset();
		r = sample(from, to, s);
		if (saved)
			setenv("TZ", saved, 1);
		else
			unsetenv("TZ");
		tzset();
	}
	pthread_mutex_unlock(&zone_lock);
	free(saved);
	return r;
}

int32_t zone_span_offset(const struct zone_span *s, int64_t t)
{
	unsigned int i;

	for (i = s->nr; i > 1; i--)
		if (t >= s->start[i - 1])
			break;
	return s->offset[i - 1];
}

int64_t zone_span_first(const struct zone_span *s, int64_t wall)
{
	unsigned int i;

	/*
	 * Within a segment the clock runs on: the first instant of segment i
	 * showing @wall or later is wall - offset, or the segment's start if
	 * the clock is past @wall there already (it jumped over it).  The
	 * first segment with one has the answer.
	 */
	for (i = 0; i < s->nr; i++) {
		int64_t t = wall - s->offset[i];

		if (i && t < s->start[i])
			t = s->start[i];
		if (i + 1 == s->nr || t < s->start[i + 1])
			return t;
	}
	return wall;	/* not reached: the last segment has no end */
}
