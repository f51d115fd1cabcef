/* SPDX-License-Identifier: GPL-2.0 */
/*
 * For unit tests that run the built snapctl as an operator would: it sits
 * at build/snapctl, beside build/tests/<test>.
 */
#ifndef DMROW_TESTS_RUN_SNAPCTL_H
#define DMROW_TESTS_RUN_SNAPCTL_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The path of the built snapctl in @path; -1 (said on stderr) if it is not there. */
static inline int find_built_snapctl(char *path, size_t size)
{
	char self[PATH_MAX - 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	snprintf(path, size, "%s/../snapctl", self);
	if (access(path, X_OK)) {
		fprintf(stderr, "no snapctl at %s: build it first\n", path);
		return -1;
	}
	return 0;
}

/*
 * Run @snapctl with @fmt's arguments (a shell word list) and return its exit
 * status; standard output goes to @out, standard error to @err (either may
 * be NULL: /dev/null; the same file for both: merged).
 */
static inline int run_snapctl(const char *snapctl, const char *out, const char *err,
			      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static inline int run_snapctl(const char *snapctl, const char *out, const char *err,
			      const char *fmt, ...)
{
	char args[2048], cmd[PATH_MAX + 2048 + 600];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	if (out && err && !strcmp(out, err))
		snprintf(cmd, sizeof(cmd), "'%s' %s >'%s' 2>&1", snapctl, args, out);
	else
		snprintf(cmd, sizeof(cmd), "'%s' %s >'%s' 2>'%s'", snapctl, args,
			 out ? out : "/dev/null", err ? err : "/dev/null");
	status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The whole of a file, NUL-terminated, in a new buffer (include cmocka.h first). */
static inline char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long size;

	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	buf = calloc(1, size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, size, f), size);
	fclose(f);
	return buf;
}

#endif /* DMROW_TESTS_RUN_SNAPCTL_H */
