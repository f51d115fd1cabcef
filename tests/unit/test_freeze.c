// SPDX-License-Identifier: GPL-2.0
/*
 * Freezing around a snapshot (freeze.c).  Which mounts are frozen: one per
 * filesystem however often it is mounted (a bind mount frozen again fails
 * with EBUSY), an over-mounted mount point passed over for another mount
 * of the same filesystem, escaped mount points.  And the guardian, with
 * guests frozen through a fake guest agent listening on a unix socket: it
 * freezes, reports held, thaws when asked; it thaws by itself when the
 * freeze timeout passes and then reports it; it thaws when the process
 * that started it is killed; an agent that is not there or refuses to
 * freeze gives a crash-consistent snapshot, not a cancelled one (a freeze
 * that outlasts the timeout is undone when it ends; a refused one needs no
 * thaw); an agent that dies with its guest frozen is a failed thaw.
 * (Freezing real filesystems needs a VM: tests/vm/snapshot.)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "freeze.h"
#include "qga.h"

static const char mountinfo[] =
	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	"30 22 254:3 / /mnt/a rw,relatime shared:2 - ext4 /dev/mapper/tank-vm1 rw\n"
	"31 22 0:25 / /tmp rw shared:3 - tmpfs tmp rw\n"
	"32 22 254:3 /sub /srv/b rw,relatime shared:2 - ext4 /dev/mapper/tank-vm1 rw\n"
	"33 22 254:4 / /mnt/my\\040disk rw,relatime shared:4 - xfs /dev/mapper/tank-vm2 rw\n"
	"34 30 254:3 / /mnt/a/again rw,relatime shared:2 - ext4 /dev/mapper/tank-vm1 rw\n";

/* The fake open: paths named in @overmounted are refused with -EXDEV. */
static const char *overmounted[4];
static char opened[8][256];
static unsigned int nr_opened;

static int fake_open(const char *path, dev_t dev)
{
	unsigned int i;

	(void)dev;
	if (nr_opened < 8)
		snprintf(opened[nr_opened++], sizeof(opened[0]), "%s", path);
	for (i = 0; i < 4; i++)
		if (overmounted[i] && !strcmp(overmounted[i], path))
			return -EXDEV;
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static int add(struct freeze_set *set, unsigned int maj, unsigned int min)
{
	FILE *f = fmemopen((void *)mountinfo, sizeof(mountinfo) - 1, "r");
	int r;

	assert_non_null(f);
	r = freeze_add_mounts(set, f, makedev(maj, min), fake_open);
	fclose(f);
	return r;
}

static int reset(void **state)
{
	(void)state;
	memset(overmounted, 0, sizeof(overmounted));
	nr_opened = 0;
	return 0;
}

static void test_one_target_per_filesystem(void **state)
{
	struct freeze_set set;

	(void)state;
	freeze_init(&set, 1000);
	/* Mounted three times (a bind mount of /sub among them): frozen once. */
	assert_int_equal(add(&set, 254, 3), 1);
	assert_int_equal(set.nr, 1);
	assert_string_equal(set.t[0].path, "/mnt/a");
	assert_int_equal(set.t[0].kind, FREEZE_FS);
	assert_true(set.t[0].dev == makedev(254, 3));
	assert_true(set.t[0].fd >= 0);
	assert_int_equal(nr_opened, 1);
	/* Given again (the same filesystem through another disk name): nothing. */
	assert_int_equal(add(&set, 254, 3), 0);
	assert_int_equal(set.nr, 1);
	/* Another filesystem, its mount point unescaped. */
	assert_int_equal(add(&set, 254, 4), 1);
	assert_int_equal(set.nr, 2);
	assert_string_equal(set.t[1].path, "/mnt/my disk");
	/* Not mounted: nothing to freeze. */
	assert_int_equal(add(&set, 254, 9), 0);
	assert_int_equal(set.nr, 2);
	/* The minor number is not a prefix match. */
	assert_int_equal(add(&set, 254, 0), 0);
	freeze_release(&set);
	assert_int_equal(set.nr, 0);
}

static void test_overmounted(void **state)
{
	struct freeze_set set;

	(void)state;
	freeze_init(&set, 1000);
	overmounted[0] = "/mnt/a";
	assert_int_equal(add(&set, 254, 3), 1);
	assert_string_equal(set.t[0].path, "/srv/b");
	assert_string_equal(opened[0], "/mnt/a");
	assert_string_equal(opened[1], "/srv/b");
	freeze_release(&set);

	/* Every mount of it covered: that is an error, not "not mounted". */
	freeze_init(&set, 1000);
	overmounted[1] = "/srv/b";
	overmounted[2] = "/mnt/a/again";
	assert_int_equal(add(&set, 254, 3), -EXDEV);
	assert_int_equal(set.nr, 0);
	freeze_release(&set);
}

static void test_unescape(void **state)
{
	char s[64];

	(void)state;
	strcpy(s, "/a\\040b\\011c\\134d\\012");
	freeze_unescape(s);
	assert_string_equal(s, "/a b\tc\\d\n");
	strcpy(s, "/plain\\04");
	freeze_unescape(s);
	assert_string_equal(s, "/plain\\04");
	strcpy(s, "/x\\999");
	freeze_unescape(s);
	assert_string_equal(s, "/x\\999");
}

static void test_agents_once(void **state)
{
	struct freeze_set set;
	char longpath[300];

	(void)state;
	freeze_init(&set, 1000);
	assert_int_equal(freeze_add_agent(&set, "/run/vm1.qga"), 1);
	assert_int_equal(freeze_add_agent(&set, "/run/vm2.qga"), 1);
	assert_int_equal(freeze_add_agent(&set, "/run/vm1.qga"), 0);
	assert_int_equal(set.nr, 2);
	assert_int_equal(set.t[1].kind, FREEZE_AGENT);
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(freeze_add_agent(&set, longpath), -ENAMETOOLONG);
	freeze_release(&set);
}

/*----------------------------------------------------------------
 * The guardian, with a fake guest agent
 *--------------------------------------------------------------*/

struct agent {
	char dir[48], path[96];
	int listen_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	bool frozen;
	bool refuse;		/* answer guest-fsfreeze-freeze with an error */
	bool vanish;		/* die once it has frozen the guest */
	unsigned int freeze_ms;	/* how long freezing takes */
	char log[32][24];	/* commands received, in order */
	unsigned int nr;
};

static struct agent agent;

static void agent_log(const char *what)
{
	pthread_mutex_lock(&agent.lock);
	if (agent.nr < 32)
		snprintf(agent.log[agent.nr++], sizeof(agent.log[0]), "%s", what);
	pthread_mutex_unlock(&agent.lock);
}

static void agent_reply(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		return;
}

static void serve(int fd)
{
	char line[512], reply[128];
	size_t n = 0;
	char c;

	while (read(fd, &c, 1) == 1) {
		if (c == '\xff') {
			n = 0;
			continue;
		}
		if (c != '\n') {
			if (n + 1 < sizeof(line))
				line[n++] = c;
			continue;
		}
		line[n] = '\0';
		n = 0;
		if (strstr(line, "guest-sync-delimited")) {
			snprintf(reply, sizeof(reply), "\xff{\"return\": %lu}\n",
				 strtoul(strstr(line, "\"id\": ") + 6, NULL, 10));
			agent_reply(fd, reply);
			continue;
		}
		if (strstr(line, "guest-fsfreeze-freeze")) {
			agent_log("freeze");
			if (agent.refuse) {
				agent_reply(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"failed to freeze /: Operation not supported\"}}\n");
				continue;
			}
			usleep(agent.freeze_ms * 1000);
			agent.frozen = true;
			agent_reply(fd, "{\"return\": 1}\n");
			if (agent.vanish)
				return;
		} else if (strstr(line, "guest-fsfreeze-thaw")) {
			agent_log("thaw");
			agent.frozen = false;
			agent_reply(fd, "{\"return\": 1}\n");
		} else if (strstr(line, "guest-fsfreeze-status")) {
			agent_log("status");
			agent_reply(fd, agent.frozen ? "{\"return\": \"frozen\"}\n" :
					"{\"return\": \"thawed\"}\n");
		}
	}
}

/* One thread per connection: the guardian keeps one open per machine. */
static void *connection_main(void *arg)
{
	int fd = (int)(intptr_t)arg;

	serve(fd);
	close(fd);
	return NULL;
}

static void *agent_main(void *arg)
{
	pthread_t thread;
	int fd;

	(void)arg;
	while ((fd = accept(agent.listen_fd, NULL, NULL)) >= 0) {
		if (!agent.vanish) {
			if (pthread_create(&thread, NULL, connection_main, (void *)(intptr_t)fd))
				close(fd);
			else
				pthread_detach(thread);
			continue;
		}
		serve(fd);
		close(fd);
		/* Gone; its socket file stays: connecting is refused. */
		close(agent.listen_fd);
		agent.listen_fd = -1;
		break;
	}
	return NULL;
}

static int agent_setup(void **state)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	(void)state;
	memset(&agent, 0, sizeof(agent));
	pthread_mutex_init(&agent.lock, NULL);
	snprintf(agent.dir, sizeof(agent.dir), "%s/qga-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(agent.dir))
		return -1;
	snprintf(agent.path, sizeof(agent.path), "%s/agent.sock", agent.dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", agent.path);
	agent.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (agent.listen_fd < 0 || bind(agent.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(agent.listen_fd, 4))
		return -1;
	return pthread_create(&agent.thread, NULL, agent_main, NULL) ? -1 : 0;
}

static int agent_teardown(void **state)
{
	(void)state;
	if (agent.listen_fd >= 0)
		shutdown(agent.listen_fd, SHUT_RDWR);
	pthread_join(agent.thread, NULL);
	if (agent.listen_fd >= 0)
		close(agent.listen_fd);
	unlink(agent.path);
	rmdir(agent.dir);
	return 0;
}

static bool agent_saw(const char *const *want, unsigned int nr)
{
	unsigned int i;
	bool same;

	pthread_mutex_lock(&agent.lock);
	same = agent.nr == nr;
	for (i = 0; same && i < nr; i++)
		same = !strcmp(agent.log[i], want[i]);
	pthread_mutex_unlock(&agent.lock);
	return same;
}

/* Wait up to 5 s for the agent's log to become @want. */
static bool agent_sees(const char *const *want, unsigned int nr)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (agent_saw(want, nr))
			return true;
		usleep(10 * 1000);
	}
	return false;
}

static void test_guardian_thaws_when_asked(void **state)
{
	static const char *const frozen[] = { "freeze" };
	static const char *const checked[] = { "freeze", "status" };
	static const char *const thawed[] = { "freeze", "status", "thaw" };
	struct freeze_set set;

	(void)state;
	freeze_init(&set, 20000);
	assert_int_equal(freeze_add_agent(&set, agent.path), 1);
	assert_int_equal(freeze_start(&set), 0);
	assert_true(set.guardian > 0);
	assert_true(agent_saw(frozen, 1));
	assert_true(agent.frozen);
	assert_int_equal(freeze_check(&set), FREEZE_HELD);
	assert_true(agent_saw(checked, 2));
	assert_int_equal(freeze_finish(&set), FREEZE_HELD);
	/* Thawed before freeze_finish() returns, and the guardian is reaped. */
	assert_true(agent_saw(thawed, 3));
	assert_false(agent.frozen);
	assert_int_equal(set.guardian, 0);
	freeze_release(&set);
}

static void test_guardian_timeout(void **state)
{
	static const char *const thawed[] = { "freeze", "thaw" };
	struct freeze_set set;

	(void)state;
	freeze_init(&set, 300);
	assert_int_equal(freeze_add_agent(&set, agent.path), 1);
	assert_int_equal(freeze_start(&set), 0);
	/* snapctl is slow: the guardian thaws at the timeout on its own. */
	assert_true(agent_sees(thawed, 2));
	assert_false(agent.frozen);
	assert_int_equal(freeze_check(&set), FREEZE_TIMED_OUT);
	assert_int_equal(freeze_finish(&set), FREEZE_TIMED_OUT);
	assert_true(agent_saw(thawed, 2));
	freeze_release(&set);
}

static void test_guardian_outlives_snapctl(void **state)
{
	static const char *const thawed[] = { "freeze", "thaw" };
	int status, sync_pipe[2];
	pid_t pid;
	char c;

	(void)state;
	assert_int_equal(pipe(sync_pipe), 0);
	/* A child plays snapctl: it freezes, then is killed. */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct freeze_set set;

		freeze_init(&set, 60000);
		if (freeze_add_agent(&set, agent.path) != 1 || freeze_start(&set))
			_exit(1);
		if (write(sync_pipe[1], "f", 1) != 1)
			_exit(1);
		pause();
		_exit(1);
	}
	close(sync_pipe[1]);
	assert_int_equal(read(sync_pipe[0], &c, 1), 1);
	close(sync_pipe[0]);
	assert_true(agent.frozen);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	/* Long before the 60 s timeout. */
	assert_true(agent_sees(thawed, 2));
	assert_false(agent.frozen);
}

static void test_guardian_missing_agent(void **state)
{
	static const char *const none[] = { NULL };
	struct freeze_set set;

	(void)state;
	freeze_init(&set, 5000);
	assert_int_equal(freeze_add_agent(&set, "/nonexistent/qga.sock"), 1);
	/* Not cancelled: crash-consistent, with a warning. */
	assert_int_equal(freeze_start(&set), 0);
	assert_int_equal(freeze_check(&set), FREEZE_LOST);
	assert_int_equal(freeze_finish(&set), FREEZE_LOST);
	assert_true(agent_saw(none, 0));
	freeze_release(&set);
}

static void test_guardian_agent_refuses(void **state)
{
	static const char *const log[] = { "freeze" };
	struct freeze_set set;

	(void)state;
	agent.refuse = true;
	freeze_init(&set, 5000);
	assert_int_equal(freeze_add_agent(&set, agent.path), 1);
	assert_int_equal(freeze_start(&set), 0);
	/* The agent undid its own failed freeze: no thaw is sent. */
	assert_int_equal(freeze_check(&set), FREEZE_LOST);
	assert_int_equal(freeze_finish(&set), FREEZE_LOST);
	assert_true(agent_saw(log, 1));
	assert_false(set.thaw_failed);
	freeze_release(&set);
}

/* A freeze that takes longer than the timeout: it is undone when it ends. */
static void test_guardian_agent_slow(void **state)
{
	static const char *const log[] = { "freeze", "thaw" };
	struct freeze_set set;

	(void)state;
	agent.freeze_ms = 1000;
	freeze_init(&set, 300);
	assert_int_equal(freeze_add_agent(&set, agent.path), 1);
	assert_int_equal(freeze_start(&set), 0);
	assert_true(agent_saw(log, 2));
	assert_false(agent.frozen);
	assert_int_equal(freeze_check(&set), FREEZE_TIMED_OUT);
	assert_int_equal(freeze_finish(&set), FREEZE_TIMED_OUT);
	assert_false(set.thaw_failed);
	freeze_release(&set);
}

/* The guest thawed behind our back (its agent restarted, an operator). */
static void test_guardian_guest_thawed(void **state)
{
	static const char *const log[] = { "freeze", "status", "thaw" };
	struct freeze_set set;

	(void)state;
	freeze_init(&set, 5000);
	assert_int_equal(freeze_add_agent(&set, agent.path), 1);
	assert_int_equal(freeze_start(&set), 0);
	agent.frozen = false;
	assert_int_equal(freeze_check(&set), FREEZE_LOST);
	assert_int_equal(freeze_finish(&set), FREEZE_LOST);
	assert_true(agent_saw(log, 3));
	freeze_release(&set);
}

/*
 * An instance snapshot of two machines (here two paths to the one fake
 * agent): both frozen, both checked, thawed in the reverse order.  With one
 * of them missing, the other is still frozen and thawed, and the snapshot
 * is crash-consistent.
 */
static void test_guardian_two_agents(void **state)
{
	static const char *const both[] = { "freeze", "freeze", "status", "status", "thaw", "thaw" };
	static const char *const one[] = { "freeze", "thaw" };
	struct freeze_set set;
	char second[128];

	(void)state;
	snprintf(second, sizeof(second), "%s/second.sock", agent.dir);
	assert_int_equal(symlink(agent.path, second), 0);
	freeze_init(&set, 5000);
	assert_int_equal(freeze_add_agent(&set, agent.path), 1);
	assert_int_equal(freeze_add_agent(&set, second), 1);
	assert_int_equal(freeze_start(&set), 0);
	assert_int_equal(freeze_check(&set), FREEZE_HELD);
	assert_int_equal(freeze_finish(&set), FREEZE_HELD);
	assert_false(set.thaw_failed);
	assert_true(agent_saw(both, 6));
	freeze_release(&set);

	agent.nr = 0;
	unlink(second);
	freeze_init(&set, 5000);
	assert_int_equal(freeze_add_agent(&set, agent.path), 1);
	assert_int_equal(freeze_add_agent(&set, second), 1);
	assert_int_equal(freeze_start(&set), 0);
	assert_true(agent.frozen);
	assert_int_equal(freeze_check(&set), FREEZE_LOST);
	assert_int_equal(freeze_finish(&set), FREEZE_LOST);
	assert_true(agent_saw(one, 2));
	assert_false(agent.frozen);
	freeze_release(&set);
}

/* The agent dies with the guest frozen: nothing can thaw it, and snapctl says so. */
static void test_guardian_agent_dies(void **state)
{
	static const char *const log[] = { "freeze" };
	struct freeze_set set;

	(void)state;
	agent.vanish = true;
	freeze_init(&set, 5000);
	assert_int_equal(freeze_add_agent(&set, agent.path), 1);
	assert_int_equal(freeze_start(&set), 0);
	assert_int_equal(freeze_check(&set), FREEZE_LOST);
	assert_false(set.thaw_failed);
	assert_int_equal(freeze_finish(&set), FREEZE_LOST);
	assert_true(set.thaw_failed);
	assert_true(agent_saw(log, 1));
	assert_true(agent.frozen);
	freeze_release(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_one_target_per_filesystem, reset),
		cmocka_unit_test_setup(test_overmounted, reset),
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_agents_once),
		cmocka_unit_test_setup_teardown(test_guardian_thaws_when_asked, agent_setup, agent_teardown),
		cmocka_unit_test_setup_teardown(test_guardian_timeout, agent_setup, agent_teardown),
		cmocka_unit_test_setup_teardown(test_guardian_outlives_snapctl, agent_setup, agent_teardown),
		cmocka_unit_test_setup_teardown(test_guardian_missing_agent, agent_setup, agent_teardown),
		cmocka_unit_test_setup_teardown(test_guardian_agent_refuses, agent_setup, agent_teardown),
		cmocka_unit_test_setup_teardown(test_guardian_agent_slow, agent_setup, agent_teardown),
		cmocka_unit_test_setup_teardown(test_guardian_guest_thawed, agent_setup, agent_teardown),
		cmocka_unit_test_setup_teardown(test_guardian_agent_dies, agent_setup, agent_teardown),
		cmocka_unit_test_setup_teardown(test_guardian_two_agents, agent_setup, agent_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
