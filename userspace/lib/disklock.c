// SPDX-License-Identifier: GPL-2.0
/*
 * Per-disk snapshot locks; see disklock.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "disklock.h"
#include "statefile.h"

void disk_lock_path(const char *pool, uint64_t disk, char *buf, size_t len)
{
	snprintf(buf, len, "%s/locks/%s.%" PRIu64 ".lock", run_dir(), pool, disk);
}

static void read_holder(int fd, char *buf, size_t len)
{
	ssize_t n;

	if (!buf || !len)
		return;
	n = pread(fd, buf, len - 1, 0);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!buf[0])
		snprintf(buf, len, "another snapshot operation");
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int disk_lock_take(struct disk_lock *lock, const char *pool, uint64_t disk, const char *what,
		   int timeout_ms, char *holder, size_t holder_len,
		   void (*waiting)(const char *holder, void *arg), void *arg)
{
	char dir[300], line[256], seen[256];
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	bool told = false;
	int r, n;

	lock->fd = -1;
	snprintf(dir, sizeof(dir), "%s/locks", run_dir());
	r = make_dirs(dir);
	if (r)
		return r;
	disk_lock_path(pool, disk, lock->path, sizeof(lock->path));
	lock->fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock->fd < 0)
		return -errno;
	while (flock(lock->fd, LOCK_EX | LOCK_NB)) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			r = -errno;
			goto fail;
		}
		read_holder(lock->fd, seen, sizeof(seen));
		if (timeout_ms == 0 || (timeout_ms > 0 && now_ms() >= deadline)) {
			if (holder)
				snprintf(holder, holder_len, "%s", seen);
			r = -EBUSY;
			goto fail;
		}
		if (!told && waiting)
			waiting(seen, arg);
		told = true;
		usleep(50 * 1000);
	}
	n = snprintf(line, sizeof(line), "pid %d: %s\n", (int)getpid(), what);
	if (ftruncate(lock->fd, 0) || pwrite(lock->fd, line, n, 0) != n) {
		/* Only a description: the lock is held all the same. */
	}
	return 0;
fail:
	close(lock->fd);
	lock->fd = -1;
	return r;
}

void disk_lock_release(struct disk_lock *lock)
{
	if (lock->fd < 0)
		return;
	if (ftruncate(lock->fd, 0)) {
		/* The next holder overwrites it anyway. */
	}
	close(lock->fd);
	lock->fd = -1;
}
