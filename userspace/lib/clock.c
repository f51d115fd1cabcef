// SPDX-License-Identifier: GPL-2.0
/*
 * The real or a fake clock; see clock.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "statefile.h"

static bool is_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int field(const char *s, size_t n)
{
	int v = 0;

	while (n--)
		v = v * 10 + *s++ - '0';
	return v;
}

int clock_parse(const char *s, int64_t *t)
{
	size_t len = strlen(s);
	struct tm tm = { 0 };
	time_t v;

	while (len && (s[len - 1] == '\n' || s[len - 1] == ' '))
		len--;
	if (!len)
		return -EINVAL;
	if (is_digits(s, len)) {
		if (len > 12)
			return -EINVAL;
		*t = (int64_t)strtoll(s, NULL, 10);
		return 0;
	}
	/* YYYY-MM-DD[(T| )HH:MM[:SS]] */
	if ((len != 10 && len != 16 && len != 19) || !is_digits(s, 4) || s[4] != '-' ||
	    !is_digits(s + 5, 2) || s[7] != '-' || !is_digits(s + 8, 2))
		return -EINVAL;
	tm.tm_year = field(s, 4) - 1900;
	tm.tm_mon = field(s + 5, 2) - 1;
	tm.tm_mday = field(s + 8, 2);
	if (len >= 16) {
		if ((s[10] != 'T' && s[10] != ' ') || !is_digits(s + 11, 2) || s[13] != ':' ||
		    !is_digits(s + 14, 2))
			return -EINVAL;
		tm.tm_hour = field(s + 11, 2);
		tm.tm_min = field(s + 14, 2);
	}
	if (len == 19) {
		if (s[16] != ':' || !is_digits(s + 17, 2))
			return -EINVAL;
		tm.tm_sec = field(s + 17, 2);
	}
	if (tm.tm_year < 70 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return -EINVAL;
	v = timegm(&tm);
	/* timegm() normalises Feb 30 into March: refuse what it changed. */
	if (v == (time_t)-1 || tm.tm_mday != field(s + 8, 2))
		return -EINVAL;
	*t = (int64_t)v;
	return 0;
}

const char *clock_format(int64_t t, char *buf, size_t len)
{
	time_t v = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&v, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "@%lld", (long long)t);
	return buf;
}

bool clock_is_fake(void)
{
	const char *file = getenv("SNAPCTL_FAKE_TIME_FILE");
	const char *fixed = getenv("SNAPCTL_FAKE_TIME");

	return (file && *file) || (fixed && *fixed);
}

int64_t clock_now(void)
{
	/* A clock file being rewritten without care may read empty: keep the last good time. */
	static int64_t last_good = -1;
	static bool warned;
	const char *file = getenv("SNAPCTL_FAKE_TIME_FILE");
	const char *fixed = getenv("SNAPCTL_FAKE_TIME");
	int64_t t;

	if (file && *file) {
		char *text = NULL;
		size_t len;

		if (!read_file(file, 64, &text, &len) && !clock_parse(text, &t)) {
			free(text);
			last_good = t;
			return t;
		}
		free(text);
		if (!warned) {
			fprintf(stderr, "snapctl: warning: the fake clock file %s holds no time\n", file);
			warned = true;
		}
		if (last_good >= 0)
			return last_good;
	}
	if (fixed && *fixed) {
		if (!clock_parse(fixed, &t))
			return t;
		if (!warned) {
			fprintf(stderr, "snapctl: warning: SNAPCTL_FAKE_TIME='%s' is not a time; using the real clock\n",
				fixed);
			warned = true;
		}
	}
	return (int64_t)time(NULL);
}

int clock_set(int64_t t)
{
	const char *file = getenv("SNAPCTL_FAKE_TIME_FILE");
	char text[32];
	int n;

	if (!file || !*file)
		return -ENOENT;
	n = snprintf(text, sizeof(text), "%lld\n", (long long)t);
	return write_file_atomic(file, text, n, 0644);
}
