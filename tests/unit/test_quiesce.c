// SPDX-License-Identifier: GPL-2.0
/*
 * Hooks and freezes around a snapshot (quiesce.c): a hook's exit status,
 * its output kept off standard output, a hook over its timeout killed with
 * its children; the order pre-hook, snapshot, post-hook; a failing pre-hook
 * that cancels and runs no post-hook; nothing to freeze is crash-consistent
 * with both hooks run; an agent that is not there is frozen-but-not-held,
 * crash-consistent, and the post-hook still runs.  (Freezes that hold are
 * test_freeze's, with a fake guest agent; real filesystems are
 * tests/vm/cli/003-snapshot's.)
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "quiesce.h"
#include "temp_dir.h"

static char dir[256];
static char order[300];		/* what the hooks write, in order */

static int setup(void **state)
{
	(void)state;
	if (temp_dir_make(dir, sizeof(dir), "quiesce"))
		return -1;
	snprintf(order, sizeof(order), "%s/order", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return temp_dir_remove(dir);
}

static int clear_order(void **state)
{
	(void)state;
	unlink(order);
	return 0;
}

/* The file's content, "" when it does not exist. */
static const char *contents(const char *path)
{
	static char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static char *hook(const char *fmt, const char *arg)
{
	static char bufs[4][512];
	static unsigned int next;
	char *buf = bufs[next++ % 4];

	snprintf(buf, sizeof(bufs[0]), fmt, arg);
	return buf;
}

static void test_hook_status(void **state)
{
	(void)state;
	assert_int_equal(hook_run("pre-hook", "true", 5), 0);
	assert_int_equal(hook_run("pre-hook", "exit 3", 5), -ECANCELED);
	assert_int_equal(hook_run("pre-hook", "kill -9 $$", 5), -ECANCELED);
	assert_int_equal(hook_run("pre-hook", "/nonexistent/command", 5), -ECANCELED);
}

/* A hook's output goes to standard error: standard output is for --json. */
static void test_hook_output(void **state)
{
	char out[300], err[300];
	int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
	int fo, fe, r;

	(void)state;
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fo >= 0 && fe >= 0);
	fflush(stdout);
	fflush(stderr);
	dup2(fo, STDOUT_FILENO);
	dup2(fe, STDERR_FILENO);
	r = hook_run("post-hook", "echo from-the-hook", 5);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	close(fo);
	close(fe);
	assert_int_equal(r, 0);
	assert_string_equal(contents(out), "");
	assert_string_equal(contents(err), "from-the-hook\n");
}

/* Past its timeout a hook is killed, and so are the processes it started. */
static void test_hook_timeout(void **state)
{
	char late[300];
	time_t start = time(NULL);

	(void)state;
	snprintf(late, sizeof(late), "%s/late", dir);
	assert_int_equal(hook_run("pre-hook", hook("(sleep 2; touch '%s') & sleep 30", late), 1),
			 -ETIMEDOUT);
	assert_true(time(NULL) - start < 10);
	sleep(3);
	if (!access(late, F_OK))
		fail_msg("the hook's child outlived the hook's timeout");
}

/* @q with hooks writing "pre" and "post" to the order file, around @fz with @agent. */
static void quiesce_init(struct quiesce *q, struct freeze_set *fz, const char *agent)
{
	freeze_init(fz, 10000);
	if (agent)
		assert_int_equal(freeze_add_agent(fz, agent), 1);
	memset(q, 0, sizeof(*q));
	q->hook_timeout = 5;
	q->fz = fz;
	q->pre_hook = hook("echo pre >>'%s'", order);
	q->post_hook = hook("echo post >>'%s'", order);
}

static void test_hooks_around(void **state)
{
	struct freeze_set fz;
	struct quiesce q;

	(void)state;
	quiesce_init(&q, &fz, NULL);
	assert_int_equal(quiesce_begin(&q), 0);
	assert_false(q.frozen);
	/* Nothing frozen: the snapshot is crash-consistent. */
	assert_int_equal(q.held, FREEZE_LOST);
	assert_string_equal(contents(order), "pre\n");
	quiesce_thaw(&q);
	assert_false(quiesce_consistent(&q));
	assert_int_equal(quiesce_end(&q), 0);
	assert_string_equal(contents(order), "pre\npost\n");
	freeze_release(&fz);
}

/* A failing pre-hook cancels: no post-hook; a failing post-hook says so. */
static void test_pre_hook_fails(void **state)
{
	struct freeze_set fz;
	struct quiesce q;

	(void)state;
	quiesce_init(&q, &fz, "/nonexistent/qga.sock");
	q.pre_hook = hook("echo pre >>'%s'; exit 1", order);
	assert_int_equal(quiesce_begin(&q), -ECANCELED);
	assert_false(q.frozen);
	assert_int_equal(quiesce_end(&q), 0);
	assert_string_equal(contents(order), "pre\n");

	/* Without a pre-hook the post-hook runs, and its failure is the caller's. */
	q.pre_hook = NULL;
	q.post_hook = "exit 4";
	freeze_release(&fz);
	freeze_init(&fz, 10000);
	assert_int_equal(quiesce_begin(&q), 0);
	assert_false(q.frozen);
	assert_int_equal(quiesce_end(&q), -ECANCELED);
	freeze_release(&fz);
}

/* An agent that is not there: frozen, not held, crash-consistent, post-hook run. */
static void test_agent_missing(void **state)
{
	struct freeze_set fz;
	struct quiesce q;

	(void)state;
	quiesce_init(&q, &fz, "/nonexistent/qga.sock");
	q.pre_hook = NULL;
	assert_int_equal(quiesce_begin(&q), 0);
	assert_true(q.frozen);
	assert_int_not_equal(q.held, FREEZE_HELD);
	quiesce_thaw(&q);
	assert_false(quiesce_consistent(&q));
	assert_int_equal(quiesce_end(&q), 0);
	assert_string_equal(contents(order), "post\n");
	freeze_release(&fz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hook_status),
		cmocka_unit_test(test_hook_output),
		cmocka_unit_test(test_hook_timeout),
		cmocka_unit_test_setup(test_hooks_around, clear_order),
		cmocka_unit_test_setup(test_pre_hook_fails, clear_order),
		cmocka_unit_test_setup(test_agent_missing, clear_order),
	};

	return cmocka_run_group_tests_name("quiesce", tests, setup, teardown);
}
