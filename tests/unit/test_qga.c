// SPDX-License-Identifier: GPL-2.0
/*
 * The QEMU guest agent client (qga.c) against a scripted agent on the other
 * end of a socketpair: guest-sync-delimited drops stale responses and the
 * parse error the agent answers the 0xFF byte with; requests are what the
 * agent expects; return values, error descriptions, a closed channel and a
 * silent agent each give their result; the JSON reader copes with nesting,
 * escapes and members it does not look for.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "qga.h"

/* One step of the fake agent: the command it expects and what it answers. */
struct step {
	const char *command;	/* NULL: end of script, close the channel */
	const char *reply;	/* "SYNC": the delimited answer with the request's id */
	const char *before;	/* written before the answer (stale output) */
	bool silent;		/* read the request, answer nothing, keep the channel */
};

struct fake {
	int fd;
	const struct step *script;
	char requests[8][256];	/* what it received, 0xFF shown as '#' */
	unsigned int nr;
	pthread_t thread;
};

static void write_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read one request line (0xFF bytes kept, shown as '#'). */
static int read_request(int fd, char *line, size_t size)
{
	size_t n = 0;
	char c;

	while (read(fd, &c, 1) == 1) {
		if (c == '\n') {
			line[n] = '\0';
			return 0;
		}
		if (n + 1 < size)
			line[n++] = c == '\xff' ? '#' : c;
	}
	return -1;
}

static void *fake_agent(void *arg)
{
	struct fake *f = arg;
	const struct step *s;
	char line[256], reply[512];

	for (s = f->script; s->command; s++) {
		if (read_request(f->fd, line, sizeof(line)))
			break;
		if (f->nr < 8)
			snprintf(f->requests[f->nr++], sizeof(f->requests[0]), "%s", line);
		if (!strstr(line, s->command)) {
			fprintf(stderr, "fake agent: expected %s, got %s\n", s->command, line);
			break;
		}
		if (s->silent) {
			pause();
			break;
		}
		if (s->before)
			write_str(f->fd, s->before);
		if (!strcmp(s->reply, "SYNC")) {
			const char *id = strstr(line, "\"id\": ");

			/* The agent answers the 0xFF byte with a parse error first. */
			snprintf(reply, sizeof(reply),
				 "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n\xff{\"return\": %lu}\n",
				 id ? strtoul(id + 6, NULL, 10) : 0UL);
			write_str(f->fd, reply);
		} else {
			write_str(f->fd, s->reply);
		}
	}
	shutdown(f->fd, SHUT_RDWR);
	return NULL;
}

static void fake_start(struct fake *f, struct qga *a, const struct step *script)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->fd = sv[1];
	f->script = script;
	qga_attach(a, sv[0]);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_agent, f), 0);
}

static void fake_stop(struct fake *f, struct qga *a)
{
	qga_close(a);
	pthread_cancel(f->thread);
	pthread_join(f->thread, NULL);
	close(f->fd);
}

static int64_t soon(void)
{
	return qga_now_ms() + 5000;
}

static void test_sync_freeze_thaw(void **state)
{
	static const struct step script[] = {
		{ .command = "guest-sync-delimited", .reply = "SYNC",
		  /* Left over from an earlier client: an answer and a delimited one. */
		  .before = "{\"return\": 7}\n\xff{\"return\": 5}\n" },
		{ .command = "guest-fsfreeze-freeze", .reply = "{\"return\": 2}\n" },
		{ .command = "guest-fsfreeze-status", .reply = "{\"return\": \"frozen\"}\n" },
		{ .command = "guest-sync-delimited", .reply = "SYNC" },
		{ .command = "guest-fsfreeze-thaw", .reply = "{\"return\": 2}\n" },
		{ .command = NULL }
	};
	char status[16];
	struct fake f;
	struct qga a;
	long n = -1;

	(void)state;
	fake_start(&f, &a, script);
	assert_int_equal(qga_sync(&a, 4242, soon()), 0);
	assert_int_equal(qga_freeze(&a, &n, soon()), 0);
	assert_int_equal(n, 2);
	assert_int_equal(qga_freeze_status(&a, status, sizeof(status), soon()), 0);
	assert_string_equal(status, "frozen");
	assert_int_equal(qga_sync(&a, 4243, soon()), 0);
	n = -1;
	assert_int_equal(qga_thaw(&a, &n, soon()), 0);
	assert_int_equal(n, 2);
	fake_stop(&f, &a);

	/* The requests as the agent saw them. */
	assert_string_equal(f.requests[0],
			    "#{\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": 4242}}");
	assert_string_equal(f.requests[1], "{\"execute\": \"guest-fsfreeze-freeze\"}");
	assert_string_equal(f.requests[2], "{\"execute\": \"guest-fsfreeze-status\"}");
	assert_string_equal(f.requests[4], "{\"execute\": \"guest-fsfreeze-thaw\"}");
}

/* An answer to an earlier sync, delimited too, is not taken for ours. */
static void test_sync_skips_old_sync(void **state)
{
	static const struct step script[] = {
		{ .command = "guest-sync-delimited", .reply = "\xff{\"return\": 1}\n\xff{\"return\": 99}\n" },
		{ .command = NULL }
	};
	struct fake f;
	struct qga a;

	(void)state;
	fake_start(&f, &a, script);
	assert_int_equal(qga_sync(&a, 99, soon()), 0);
	fake_stop(&f, &a);

	fake_start(&f, &a, script);
	/* Only stale answers, then the channel closes. */
	assert_int_equal(qga_sync(&a, 100, soon()), -EPIPE);
	fake_stop(&f, &a);
}

static void test_error_reply(void **state)
{
	static const struct step script[] = {
		{ .command = "guest-fsfreeze-freeze",
		  .reply = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"failed to freeze /mnt/\\\"x\\\": Device or resource busy\"}}\n" },
		{ .command = "guest-fsfreeze-thaw",
		  .reply = "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Command guest-fsfreeze-thaw has been disabled\"}}\n" },
		{ .command = "guest-fsfreeze-status", .reply = "{\"return\": 3}\n" },
		{ .command = "guest-fsfreeze-freeze", .reply = "{\"return\": \"three\"}\n" },
		{ .command = "guest-fsfreeze-freeze", .reply = "{\"nothing\": 1}\n" },
		{ .command = NULL }
	};
	char status[16];
	struct fake f;
	struct qga a;
	long n;

	(void)state;
	fake_start(&f, &a, script);
	assert_int_equal(qga_freeze(&a, &n, soon()), -EIO);
	assert_string_equal(a.error, "failed to freeze /mnt/\"x\": Device or resource busy");
	assert_int_equal(qga_thaw(&a, &n, soon()), -EIO);
	assert_string_equal(a.error, "Command guest-fsfreeze-thaw has been disabled");
	assert_int_equal(qga_freeze_status(&a, status, sizeof(status), soon()), -EPROTO);
	assert_int_equal(qga_freeze(&a, &n, soon()), -EPROTO);
	assert_int_equal(qga_freeze(&a, &n, soon()), -EPROTO);
	fake_stop(&f, &a);
}

static void test_closed_and_silent(void **state)
{
	static const struct step closes[] = { { .command = NULL } };
	static const struct step silent[] = {
		{ .command = "guest-fsfreeze-freeze", .silent = true },
		{ .command = NULL }
	};
	struct fake f;
	struct qga a;
	int64_t start;
	long n;

	(void)state;
	fake_start(&f, &a, closes);
	pthread_join(f.thread, NULL);
	assert_int_equal(qga_freeze(&a, &n, soon()), -EPIPE);
	qga_close(&a);
	close(f.fd);

	fake_start(&f, &a, silent);
	start = qga_now_ms();
	assert_int_equal(qga_freeze(&a, &n, qga_now_ms() + 300), -ETIMEDOUT);
	assert_true(qga_now_ms() - start >= 300);
	assert_true(qga_now_ms() - start < 3000);
	fake_stop(&f, &a);
}

static void test_connect_missing(void **state)
{
	struct qga a;

	(void)state;
	assert_int_equal(qga_connect(&a, "/nonexistent/qga.sock"), -ENOENT);
	assert_int_equal(a.fd, -1);
	assert_int_not_equal(a.error[0], '\0');
}

static void test_json(void **state)
{
	const char *obj = " { \"a\" : {\"x\": \"}\\\"{\", \"y\": [1, {\"z\": 2}]}, \"error\":{\"desc\":\"d\\u0041\\n\\\\\"} ,\"return\" : 42 }";
	char out[64];
	const char *v;
	size_t len;

	(void)state;
	v = qga_json_member(obj, "return", &len);
	assert_non_null(v);
	assert_int_equal(len, 2);
	assert_memory_equal(v, "42", 2);
	v = qga_json_member(obj, "a", &len);
	assert_non_null(v);
	assert_int_equal(len, strlen("{\"x\": \"}\\\"{\", \"y\": [1, {\"z\": 2}]}"));
	assert_null(qga_json_member(obj, "x", &len));	/* not at the top level */
	assert_null(qga_json_member(obj, "z", &len));
	assert_null(qga_json_member("[1]", "a", &len));
	assert_null(qga_json_member("{\"a\": }", "a", &len));
	assert_null(qga_json_member("{\"a\": \"open", "a", &len));
	assert_null(qga_json_member("{}", "a", &len));

	v = qga_json_member(obj, "error", &len);
	assert_non_null(v);
	{
		char e[64];

		snprintf(e, sizeof(e), "%.*s", (int)len, v);
		v = qga_json_member(e, "desc", &len);
		assert_non_null(v);
		assert_int_equal(qga_json_string(v, len, out, sizeof(out)), 0);
		assert_string_equal(out, "dA\n\\");
	}
	assert_int_equal(qga_json_string("\"\\u00e9t\\u00e9\"", 15, out, sizeof(out)), 0);
	assert_string_equal(out, "?t?");
	assert_int_equal(qga_json_string("42", 2, out, sizeof(out)), -EPROTO);
	/* Truncated to the buffer, still terminated. */
	assert_int_equal(qga_json_string("\"abcdef\"", 8, out, 4), 0);
	assert_string_equal(out, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_freeze_thaw),
		cmocka_unit_test(test_sync_skips_old_sync),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_closed_and_silent),
		cmocka_unit_test(test_connect_missing),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
