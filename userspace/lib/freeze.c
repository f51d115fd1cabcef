// SPDX-License-Identifier: GPL-2.0
/*
 * Freezing filesystems and guests around a snapshot, and the guardian that
 * thaws them whatever happens to snapctl; see freeze.h for the design.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "freeze.h"
#include "qga.h"

/* How long a thaw through a guest agent may take, past any timeout. */
#define AGENT_THAW_MS 10000

/* Bytes on the socket between snapctl and its guardian. */
#define MSG_HELD	'Y'	/* guardian: every freeze holds */
#define MSG_TIMED_OUT	'T'	/* guardian: the timeout passed, thawed */
#define MSG_LOST	'L'	/* guardian: an agent did not freeze, or thawed */
#define MSG_CANCELLED	'X'	/* guardian: a filesystem could not be frozen */
#define MSG_CHECK	'c'	/* snapctl: the snapshot is next: still held? */
#define MSG_THAW	't'	/* snapctl: the snapshot is done: thaw */

void freeze_init(struct freeze_set *set, unsigned int timeout_ms)
{
	set->nr = 0;
	set->timeout_ms = timeout_ms;
	set->guardian = 0;
	set->chan = -1;
	set->state = FREEZE_HELD;
	set->thaw_failed = false;
}

void freeze_release(struct freeze_set *set)
{
	unsigned int i;

	for (i = 0; i < set->nr; i++) {
		if (set->t[i].kind == FREEZE_FS && set->t[i].fd >= 0)
			close(set->t[i].fd);
		set->t[i].fd = -1;
	}
	if (set->chan >= 0)
		close(set->chan);
	set->chan = -1;
	set->nr = 0;
}

void freeze_unescape(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

int freeze_open_mount(const char *path, dev_t dev)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		r = -errno;
		close(fd);
		return r;
	}
	if (st.st_dev != dev) {
		/* Another filesystem is mounted over this mount point. */
		close(fd);
		return -EXDEV;
	}
	return fd;
}

int freeze_add_mounts(struct freeze_set *set, FILE *mountinfo, dev_t dev, freeze_open_fn open_fn)
{
	char line[4096], mnt[4096];
	unsigned int i, maj, min;
	int r = 0, fd;

	for (i = 0; i < set->nr; i++)
		if (set->t[i].kind == FREEZE_FS && set->t[i].dev == dev)
			return 0;
	while (fgets(line, sizeof(line), mountinfo)) {
		/* "<id> <parent> <major:minor> <root> <mount point> ..." */
		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, mnt) != 3 ||
		    makedev(maj, min) != dev)
			continue;
		freeze_unescape(mnt);
		if (strlen(mnt) >= sizeof(set->t[0].path)) {
			r = -ENAMETOOLONG;
			continue;
		}
		fd = open_fn(mnt, dev);
		if (fd < 0) {
			r = fd;
			continue;	/* over-mounted or gone: another mount of it may do */
		}
		if (set->nr == FREEZE_MAX_TARGETS) {
			close(fd);
			return -E2BIG;
		}
		set->t[set->nr] = (struct freeze_target){ .kind = FREEZE_FS, .dev = dev, .fd = fd };
		memcpy(set->t[set->nr].path, mnt, strlen(mnt) + 1);
		set->nr++;
		return 1;
	}
	return r;
}

int freeze_add_agent(struct freeze_set *set, const char *socket_path)
{
	unsigned int i;

	if (strlen(socket_path) >= sizeof(set->t[0].path))
		return -ENAMETOOLONG;
	for (i = 0; i < set->nr; i++)
		if (set->t[i].kind == FREEZE_AGENT && !strcmp(set->t[i].path, socket_path))
			return 0;
	if (set->nr == FREEZE_MAX_TARGETS)
		return -E2BIG;
	set->t[set->nr] = (struct freeze_target){ .kind = FREEZE_AGENT, .fd = -1 };
	memcpy(set->t[set->nr].path, socket_path, strlen(socket_path) + 1);
	set->nr++;
	return 1;
}

/*----------------------------------------------------------------
 * Guest agents
 *--------------------------------------------------------------*/

static uint32_t sync_id(void)
{
	return ((uint32_t)getpid() << 12 ^ (uint32_t)qga_now_ms()) & 0x7fffffff;
}

/* In the guardian: something could not be thawed (its exit status is 2). */
static bool thaw_failed;

/* Thaw the guest behind @t; false if it may still be frozen. */
static bool agent_thaw(struct freeze_target *t, struct qga *a)
{
	int64_t deadline = qga_now_ms() + AGENT_THAW_MS;
	int r = -EPIPE;
	long n;

	if (a->fd >= 0) {
		r = qga_sync(a, sync_id(), deadline);
		if (!r)
			r = qga_thaw(a, &n, deadline);
		qga_close(a);
	}
	if (r == -EPIPE) {
		/* The connection broke; an agent started again would answer. */
		r = qga_connect(a, t->path);
		if (!r)
			r = qga_sync(a, sync_id(), deadline);
		if (!r)
			r = qga_thaw(a, &n, deadline);
		qga_close(a);
	}
	if (r)
		fprintf(stderr, "snapctl: cannot thaw the guest through %s: %s; if it stays frozen, send it guest-fsfreeze-thaw\n",
			t->path, a->error);
	t->frozen = false;
	return !r;
}

/* Freeze the guest behind @t; on failure, make sure it is thawed. */
static int agent_freeze(struct freeze_target *t, struct qga *a, int64_t deadline)
{
	long n;
	int r;

	r = qga_connect(a, t->path);
	if (!r)
		r = qga_sync(a, sync_id(), deadline);
	if (!r)
		r = qga_freeze(a, &n, deadline);
	if (!r) {
		t->frozen = true;
		return 0;
	}
	fprintf(stderr, "snapctl: warning: guest agent %s: cannot freeze the guest: %s; the snapshot will be crash-consistent\n",
		t->path, a->error);
	if (a->fd >= 0 && r != -EIO) {
		/*
		 * A freeze that timed out or lost its answer may still have
		 * happened: undo it.  An error answer needs nothing: the agent
		 * thaws what it froze before answering, and a guest that some
		 * other client froze is not ours to thaw.
		 */
		t->frozen = true;
		if (!agent_thaw(t, a))
			thaw_failed = true;
	}
	qga_close(a);
	return r;
}

/* Is the guest behind @t still frozen? */
static bool agent_still_frozen(struct freeze_target *t, struct qga *a, int64_t deadline)
{
	char status[32];
	int r;

	r = qga_sync(a, sync_id(), deadline);
	if (!r)
		r = qga_freeze_status(a, status, sizeof(status), deadline);
	if (r) {
		fprintf(stderr, "snapctl: warning: guest agent %s: %s; the guest cannot be known to be frozen, the snapshot will be crash-consistent\n",
			t->path, a->error);
		return false;
	}
	if (strcmp(status, "frozen")) {
		fprintf(stderr, "snapctl: warning: guest agent %s: the guest is %s, no longer frozen; the snapshot will be crash-consistent\n",
			t->path, status);
		return false;
	}
	return true;
}

/*----------------------------------------------------------------
 * The guardian
 *--------------------------------------------------------------*/

static volatile sig_atomic_t guardian_stop;

static void guardian_signal(int sig)
{
	(void)sig;
	guardian_stop = 1;
}

/*
 * Thaw everything frozen, in the reverse order.
 */
static void thaw_all(struct freeze_set *set, struct qga *agents)
{
	unsigned int i = set->nr;

	while (i--) {
		struct freeze_target *t = &set->t[i];

		if (!t->frozen)
			continue;
		if (t->kind == FREEZE_AGENT) {
			if (!agent_thaw(t, &agents[i]))
				thaw_failed = true;
			continue;
		}
		if (ioctl(t->fd, FITHAW, 0) && errno != EINVAL) {
			fprintf(stderr, "snapctl: cannot thaw %s: %s; run 'fsfreeze --unfreeze %s'\n",
				t->path, strerror(errno), t->path);
			thaw_failed = true;
		}
		t->frozen = false;
	}
}

static int sort_ints(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * The guardian keeps nothing of snapctl's but its standard streams: a disk
 * lock it inherited would otherwise outlive snapctl.
 */
static void close_other_fds(struct freeze_set *set, int chan)
{
	int keep[FREEZE_MAX_TARGETS + 1];
	unsigned int nr = 0, i, from = 3;

	keep[nr++] = chan;
	for (i = 0; i < set->nr; i++)
		if (set->t[i].kind == FREEZE_FS)
			keep[nr++] = set->t[i].fd;
	qsort(keep, nr, sizeof(keep[0]), sort_ints);
	for (i = 0; i < nr; i++) {
		if (keep[i] < (int)from)
			continue;
		if (keep[i] > (int)from)
			close_range(from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

static void guardian_reply(int chan, char c)
{
	while (send(chan, &c, 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void __attribute__((noreturn)) guardian(struct freeze_set *set, int chan)
{
	int64_t deadline = qga_now_ms() + set->timeout_ms;
	struct sigaction sa = { .sa_handler = guardian_signal };
	char state = MSG_HELD;
	bool thawed = false;
	struct qga *agents;
	unsigned int i;

	/* Out of the terminal's session: Ctrl-C and a hangup are snapctl's. */
	setsid();
	prctl(PR_SET_NAME, "snapctl-guard", 0, 0, 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	close_other_fds(set, chan);

	agents = calloc(set->nr ? set->nr : 1, sizeof(*agents));
	if (!agents) {
		guardian_reply(chan, MSG_CANCELLED);
		_exit(1);
	}
	for (i = 0; i < set->nr; i++) {
		struct freeze_target *t = &set->t[i];

		agents[i].fd = -1;
		t->frozen = false;
		if (t->kind == FREEZE_AGENT) {
			if (agent_freeze(t, &agents[i], deadline))
				state = MSG_LOST;
			continue;
		}
		if (ioctl(t->fd, FIFREEZE, 0)) {
			fprintf(stderr, "snapctl: cannot freeze %s: %s\n", t->path,
				errno == EBUSY ? "it is frozen already" : strerror(errno));
			thaw_all(set, agents);
			guardian_reply(chan, MSG_CANCELLED);
			_exit(1);
		}
		t->frozen = true;
	}
	if (qga_now_ms() >= deadline && !guardian_stop) {
		thaw_all(set, agents);
		thawed = true;
		state = MSG_TIMED_OUT;
	}
	guardian_reply(chan, state);

	while (!guardian_stop) {
		struct pollfd p = { .fd = chan, .events = POLLIN };
		int64_t left = deadline - qga_now_ms();
		char c;
		int n;

		if (!thawed && left <= 0) {
			thaw_all(set, agents);
			thawed = true;
			if (state == MSG_HELD)
				state = MSG_TIMED_OUT;
			continue;
		}
		n = poll(&p, 1, thawed ? -1 : (int)(left > 60000 ? 60000 : left));
		if (n <= 0)
			continue;	/* a signal, or time to look at the clock */
		n = recv(chan, &c, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* snapctl is gone */
		if (c == MSG_CHECK) {
			for (i = 0; i < set->nr && state == MSG_HELD && !thawed; i++)
				if (set->t[i].kind == FREEZE_AGENT && set->t[i].frozen &&
				    !agent_still_frozen(&set->t[i], &agents[i], deadline))
					state = MSG_LOST;
			guardian_reply(chan, state);
		} else if (c == MSG_THAW) {
			thaw_all(set, agents);
			guardian_reply(chan, state);
			_exit(thaw_failed ? 2 : 0);
		}
	}
	thaw_all(set, agents);
	_exit(thaw_failed ? 2 : 0);
}

/*----------------------------------------------------------------
 * snapctl's side
 *--------------------------------------------------------------*/

/* The guardian is gone without thawing: do it from here. */
static void thaw_without_guardian(struct freeze_set *set)
{
	struct qga a;
	unsigned int i;

	fprintf(stderr, "snapctl: the freeze guardian died; thawing from snapctl\n");
	for (i = 0; i < set->nr; i++) {
		set->t[i].frozen = true;
		if (set->t[i].kind == FREEZE_AGENT) {
			a.fd = -1;
			if (!agent_thaw(&set->t[i], &a))
				set->thaw_failed = true;
		} else if (ioctl(set->t[i].fd, FITHAW, 0) && errno != EINVAL) {
			fprintf(stderr, "snapctl: cannot thaw %s: %s; run 'fsfreeze --unfreeze %s'\n",
				set->t[i].path, strerror(errno), set->t[i].path);
			set->thaw_failed = true;
		}
		set->t[i].frozen = false;
	}
}

static void reap_guardian(struct freeze_set *set)
{
	if (set->chan >= 0)
		close(set->chan);
	set->chan = -1;
	if (set->guardian > 0) {
		int status = 0;

		while (waitpid(set->guardian, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
			set->thaw_failed = true;
	}
	set->guardian = 0;
}

/* Send @msg (if any) and read the guardian's answer; 0 if it is gone. */
static char ask_guardian(struct freeze_set *set, char msg)
{
	char c;
	ssize_t n;

	if (set->chan < 0)
		return 0;
	if (msg && send(set->chan, &msg, 1, MSG_NOSIGNAL) != 1)
		return 0;
	do
		n = recv(set->chan, &c, 1, 0);
	while (n < 0 && errno == EINTR);
	return n == 1 ? c : 0;
}

static enum freeze_state state_of(char c)
{
	return c == MSG_HELD ? FREEZE_HELD : c == MSG_TIMED_OUT ? FREEZE_TIMED_OUT : FREEZE_LOST;
}

int freeze_start(struct freeze_set *set)
{
	int sv[2];
	pid_t pid;
	char c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (!pid) {
		close(sv[0]);
		guardian(set, sv[1]);
	}
	close(sv[1]);
	set->chan = sv[0];
	set->guardian = pid;
	c = ask_guardian(set, 0);
	if (c == MSG_HELD || c == MSG_TIMED_OUT || c == MSG_LOST) {
		set->state = state_of(c);
		return 0;
	}
	if (!c)
		thaw_without_guardian(set);
	reap_guardian(set);
	return -ECANCELED;
}

enum freeze_state freeze_check(struct freeze_set *set)
{
	char c;

	if (set->state != FREEZE_HELD)
		return set->state;
	c = ask_guardian(set, MSG_CHECK);
	if (!c) {
		thaw_without_guardian(set);
		reap_guardian(set);
	}
	set->state = state_of(c);
	return set->state;
}

enum freeze_state freeze_finish(struct freeze_set *set)
{
	char c;

	if (set->chan < 0)
		return set->state;
	c = ask_guardian(set, MSG_THAW);
	if (!c)
		thaw_without_guardian(set);
	reap_guardian(set);
	if (set->state == FREEZE_HELD)
		set->state = state_of(c);
	return set->state;
}
