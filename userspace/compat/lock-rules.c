// SPDX-License-Identifier: GPL-2.0
/*
 * The lock rules of the metadata core, checked in userspace: see struct
 * rw_semaphore in compat.h.
 */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>

#include "compat.h"

__thread int compat_read_holds;

void compat_lock_rule_broken(const char *rule, const char *file, int line, const char *func)
{
	void *frames[32];
	int nr;

	fprintf(stderr, "%s:%d: %s() runs without the metadata lock %s\n", file, line, func,
		rule);
	fflush(stderr);
	nr = backtrace(frames, 32);
	backtrace_symbols_fd(frames, nr, 2);
	abort();
}
