/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace stand-ins for what kernel/dm-row-message.c needs beyond the
 * metadata core's compat shim (userspace/compat/): kstrtou64() and
 * kstrtou32() with the kernel's rules, and a fixed clock.  The message
 * code sees its pool through kernel/dm-row-control.h only, which
 * tests/fuzz/fuzz_message.c implements, so nothing of the pool's kernel
 * headers needs standing in for.
 */
#ifndef DMROW_FUZZ_SHIM_H
#define DMROW_FUZZ_SHIM_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../../userspace/compat/compat.h"

#define __printf(a, b)	__attribute__((format(printf, a, b)))

/*
 * kstrtoull() in base 10: an optional '+', digits, an optional newline,
 * nothing else; -ERANGE past 2^64 - 1, -EINVAL for anything malformed.
 */
static inline int kstrtou64(const char *s, unsigned int base, u64 *res)
{
	const char *p;
	u64 v = 0;

	if (base != 10)
		abort();	/* the message code only uses base 10 */
	if (*s == '+')
		s++;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		unsigned int digit = *p - '0';

		if (v > (U64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	if (p == s)
		return -EINVAL;
	if (*p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	*res = v;
	return 0;
}

static inline int kstrtou32(const char *s, unsigned int base, u32 *res)
{
	u64 v;
	int r = kstrtou64(s, base, &v);

	if (r)
		return r;
	if (v > U32_MAX)
		return -ERANGE;
	*res = v;
	return 0;
}

/* A fixed clock: every run of an input does the same. */
static inline s64 ktime_get_real_seconds(void)
{
	return 1700000000;
}

#endif /* DMROW_FUZZ_SHIM_H */
