// SPDX-License-Identifier: GPL-2.0
/*
 * Crash-safe small files; see statefile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statefile.h"

const char *state_dir(void)
{
	const char *dir = getenv("SNAPCTL_STATE_DIR");

	return dir && *dir ? dir : "/var/lib/dm-row";
}

const char *run_dir(void)
{
	const char *dir = getenv("SNAPCTL_RUN_DIR");

	return dir && *dir ? dir : "/run/dm-row";
}

int make_dirs_mode(const char *dir, unsigned int mode)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	if (!buf[0])
		return -ENOENT;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int make_dirs(const char *dir)
{
	return make_dirs_mode(dir, 0755);
}

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, unsigned int mode)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 32];
	const char *slash = strrchr(path, '/');
	int fd, r;

	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)((slash - path) ? slash - path : 1), path);
	else
		snprintf(dir, sizeof(dir), ".");
	r = make_dirs(dir);
	if (r)
		return r;
	/* One writer per file at a time is the caller's business (a lock). */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* The mode asked for, whatever the umask: readers may be other users. */
	r = fchmod(fd, mode) ? -errno : 0;
	if (!r)
		r = write_all(fd, data, len);
	if (!r && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r) {
		unlink(tmp);
		return r;
	}
	/* The rename is only durable once the directory is on disk. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fsync(fd) ? -errno : 0;
	close(fd);
	return r;
}

int read_file(const char *path, size_t max, char **data, size_t *len)
{
	size_t used = 0, size = 4096;
	char *buf;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n;

		if (used == size) {
			char *grown;

			if (size >= max) {
				r = -EFBIG;
				break;
			}
			size *= 2;
			grown = realloc(buf, size + 1);
			if (!grown) {
				r = -ENOMEM;
				break;
			}
			buf = grown;
		}
		n = read(fd, buf + used, size - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (!n)
			break;
		used += n;
	}
	close(fd);
	if (!r && used > max)
		r = -EFBIG;
	if (r) {
		free(buf);
		return r;
	}
	buf[used] = '\0';
	*data = buf;
	*len = used;
	return 0;
}

int lock_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600), r;

	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX)) {
		if (errno != EINTR) {
			r = -errno;
			close(fd);
			return r;
		}
	}
	return fd;
}
