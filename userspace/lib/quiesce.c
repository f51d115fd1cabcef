// SPDX-License-Identifier: GPL-2.0
/*
 * Hooks and freezes around a snapshot; see quiesce.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quiesce.h"

int hook_run(const char *what, const char *command, unsigned int timeout)
{
	struct timespec start, now;
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		setpgid(0, 0);
		/* snapctl's standard output is for its results (--json). */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	/* Also here, so that a timeout cannot come before the child's own call. */
	setpgid(pid, pid);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= (time_t)timeout) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "snapctl: %s '%s' did not finish in %u s and was killed\n",
				what, command, timeout);
			return -ETIMEDOUT;
		}
		usleep(20 * 1000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "snapctl: %s '%s' failed (exit status %d)\n", what, command,
			WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return -ECANCELED;
	}
	return 0;
}

/*
 * A test point: SNAPCTL_TEST_FROZEN_HOOK is a command run while everything
 * is frozen, just before the snapshot, so that tests can look at the frozen
 * filesystems and kill snapctl there (Documentation/testing.rst).
 */
static void run_test_frozen_hook(unsigned int timeout)
{
	const char *command = getenv("SNAPCTL_TEST_FROZEN_HOOK");

	if (command && *command)
		hook_run("test hook", command, timeout);
}

int quiesce_begin(struct quiesce *q)
{
	q->pre_hook_ran = false;
	q->frozen = false;
	q->held = q->held_through = FREEZE_LOST;
	if (q->pre_hook && hook_run("pre-hook", q->pre_hook, q->hook_timeout))
		return -ECANCELED;
	q->pre_hook_ran = true;
	if (!q->fz->nr)
		return 0;
	if (freeze_start(q->fz))
		return -EIO;
	q->frozen = true;
	run_test_frozen_hook(q->hook_timeout);
	/* The record says app only if every freeze holds now. */
	q->held = freeze_check(q->fz);
	if (q->held == FREEZE_TIMED_OUT)
		fprintf(stderr, "snapctl: warning: the freeze hit its %u s timeout and everything was thawed before the snapshot; it is crash-consistent\n",
			q->fz->timeout_ms / 1000);
	/* FREEZE_LOST: the guardian said which agent and why. */
	return 0;
}

void quiesce_thaw(struct quiesce *q)
{
	if (q->frozen)
		q->held_through = freeze_finish(q->fz);
}

int quiesce_end(struct quiesce *q)
{
	if (!q->post_hook || !q->pre_hook_ran)
		return 0;
	return hook_run("post-hook", q->post_hook, q->hook_timeout);
}
