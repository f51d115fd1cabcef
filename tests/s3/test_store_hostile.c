// SPDX-License-Identifier: GPL-2.0
/*
 * The S3 object store against a hostile S3-protocol endpoint
 * (tests/s3/hostile-server.py, started here on 127.0.0.1): huge and
 * endless bodies, truncated and overlong ones, listings with keys outside
 * the prefix and endless listings.  Every one must end in a clear error
 * or a filtered answer, with memory bounded by the caps, never a hang.
 *
 *   test_store_hostile [path of hostile-server.py]
 *
 * Prints "PASS s3-hostile/<test>" or "FAIL s3-hostile/<test> (why)" for
 * each test, then "N passed, N failed"; exits nonzero if any failed.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

static char failure[1024];
static struct store *s;

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static bool fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(failure, sizeof(failure), fmt, ap);
	va_end(ap);
	return false;
}

#define CHECK(cond)							\
	do {								\
		if (!(cond))						\
			return fail("line %d: %s (store: %s)", __LINE__, #cond, \
				    store_error(s));			\
	} while (0)

static long max_rss_mib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

/* A Content-Length of 2 GiB: refused before the body is read. */
static bool test_huge(void)
{
	struct store_buf buf = { 0 };
	int r = store_get(s, "chunks/ab/huge", &buf);

	store_buf_free(&buf);
	CHECK(r == -EFBIG);
	CHECK(strstr(store_error(s), "larger than"));
	CHECK(strstr(store_error(s), "chunks/ab/huge"));
	return true;
}

/* No length given, bytes without end: stopped at the cap. */
static bool test_endless(void)
{
	struct store_buf buf = { 0 };
	int r = store_get_max(s, "chunks/ab/endless", &buf, 1u << 20);

	CHECK(r == -EFBIG);
	CHECK(buf.cap <= (4u << 20));
	r = store_get(s, "exports/endless", &buf);	/* the default cap */
	store_buf_free(&buf);
	CHECK(r == -EFBIG);
	CHECK(strstr(store_error(s), "larger than"));
	return true;
}

/* A body shorter than its Content-Length: retried, then an error. */
static bool test_truncated(void)
{
	struct store_buf buf = { 0 };
	int r = store_get(s, "chunks/ab/truncated", &buf);

	store_buf_free(&buf);
	CHECK(r == -EIO);
	CHECK(strstr(store_error(s), "chunks/ab/truncated"));
	return true;
}

/* A body longer than its Content-Length: no more than announced is taken. */
static bool test_overlong(void)
{
	struct store_buf buf = { 0 };
	int r = store_get(s, "chunks/ab/overlong", &buf);
	size_t len = buf.len;

	store_buf_free(&buf);
	CHECK(r == 0 || r == -EIO);
	CHECK(r || len == 10);
	return true;
}

struct seen {
	int n;
	bool bad;
};

static int collect(void *context, const char *key, uint64_t size)
{
	struct seen *seen = context;

	seen->n++;
	if (strncmp(key, "exports/", 8) || strstr(key, ".."))
		seen->bad = true;
	return 0;
}

/* Keys outside the prefix asked for never reach the caller. */
static bool test_foreign_keys(void)
{
	struct store_stats st;
	struct seen seen = { 0 };
	int r = store_list(s, "exports/", collect, &seen);

	store_get_stats(s, &st);
	CHECK(r == 0);
	CHECK(!seen.bad);
	CHECK(seen.n == 2);
	CHECK(st.skipped_keys >= 4);
	return true;
}

static bool test_endless_listing(void)
{
	struct seen seen = { 0 };
	int r = store_list(s, "endless/", collect, &seen);

	CHECK(r == -EFBIG);
	CHECK(seen.n == 0);
	return true;
}

/* After all of it the process holds no more than its caps allow. */
static bool test_memory_bounded(void)
{
	long mib = max_rss_mib();

	if (mib > 200)
		return fail("peak resident memory %ld MiB", mib);
	return true;
}

static const struct {
	const char *name;
	bool (*fn)(void);
} tests[] = {
	{ "huge_body", test_huge },
	{ "endless_body", test_endless },
	{ "truncated_body", test_truncated },
	{ "overlong_body", test_overlong },
	{ "foreign_keys", test_foreign_keys },
	{ "endless_listing", test_endless_listing },
	{ "memory_bounded", test_memory_bounded },
};

static pid_t start_server(const char *script, int *port)
{
	int fds[2];
	char line[64];
	FILE *f;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execlp("python3", "python3", script, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	if (pid < 0 || !f || !fgets(line, sizeof(line), f) || sscanf(line, "port %d", port) != 1) {
		if (pid > 0)
			kill(pid, SIGTERM);
		return -1;
	}
	fclose(f);
	return pid;
}

int main(int argc, char **argv)
{
	const char *script = argc > 1 ? argv[1] : "tests/s3/hostile-server.py";
	unsigned int i, failed = 0;
	const char *why = NULL;
	char endpoint[64];
	int port = 0;
	pid_t pid;

	pid = start_server(script, &port);
	if (pid < 0) {
		printf("FAIL s3-hostile/server (%s did not start)\n0 passed, 1 failed\n", script);
		return 1;
	}
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", port);
	setenv("AWS_ENDPOINT_URL", endpoint, 1);
	setenv("AWS_ACCESS_KEY_ID", "HOSTILE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "HOSTILE", 1);
	setenv("AWS_REGION", "us-east-1", 1);
	setenv("SNAPCTL_S3_CONFIG", "/dev/null", 1);
	setenv("SNAPCTL_S3_RETRIES", "1", 1);
	if (store_global_init() || !(s = store_open("s3://bucket/prefix", &why))) {
		printf("FAIL s3-hostile/open (%s)\n0 passed, 1 failed\n", why ? why : "init");
		kill(pid, SIGTERM);
		return 1;
	}
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		failure[0] = '\0';
		if (tests[i].fn()) {
			printf("PASS s3-hostile/%s\n", tests[i].name);
		} else {
			printf("FAIL s3-hostile/%s (%s)\n", tests[i].name, failure);
			failed++;
		}
		fflush(stdout);
	}
	store_close(s);
	store_global_exit();
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	printf("%u passed, %u failed\n", i - failed, failed);
	return failed ? 1 : 0;
}
