/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A unit test's own directory: made under $TMPDIR (or /tmp) in the test's
 * setup, removed with all it holds in its teardown.
 */
#ifndef DMROW_TESTS_TEMP_DIR_H
#define DMROW_TESTS_TEMP_DIR_H

#include <stdio.h>
#include <stdlib.h>

/* A new directory <TMPDIR>/snapctl-@what-XXXXXX, its path in @dir; 0 or -1. */
static inline int temp_dir_make(char *dir, size_t len, const char *what)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(dir, len, "%s/snapctl-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", what);

	return n > 0 && (size_t)n < len && mkdtemp(dir) ? 0 : -1;
}

/* Remove @dir and everything in it; 0 or -1. */
static inline int temp_dir_remove(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

#endif /* DMROW_TESTS_TEMP_DIR_H */
