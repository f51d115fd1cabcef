// SPDX-License-Identifier: GPL-2.0
/*
 * Directory-tree object store: key "a/b/c" is the file <root>/a/b/c.
 *
 * A put writes ".tmp.<name>.<pid>.<n>" beside the final name, fsyncs it,
 * renames it over the final name and fsyncs the directory, so an object is
 * there whole or not at all, and stays after a crash once put returned.
 * Directories created on the way are fsynced into their parents too.
 * Everything works relative to a descriptor of the root, so the store does
 * not depend on the current directory.  Objects are raw disk data unless
 * the repository is encrypted: directories are made 0700 and files 0600.
 * Every access walks the key's directories from the root with O_NOFOLLOW,
 * and reads open with O_NOFOLLOW | O_NONBLOCK and take only regular files,
 * so a symlink planted in the tree (as an object or as a directory on the
 * way) is refused and never followed out of the root, a FIFO cannot block
 * a read, and reads stop at the size cap the caller gives.  Deletes are not fsynced: an object
 * that comes back after a crash is only garbage to collect again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "statefile.h"
#include "store-backend.h"

#define TMP_TAG ".tmp."
#define FILE_STORE_DIR_MODE 0700
#define FILE_STORE_FILE_MODE 0600

struct file_store {
	int root_fd;
};

static int root_fd(struct store *s)
{
	return ((struct file_store *)s->priv)->root_fd;
}

static int fail(struct store *s, const char *op, const char *key, int err)
{
	store_set_error(s, "%s %s: %s", op, key, strerror(err));
	return -err;
}

/*
 * Open the directory that holds @key, walking its components from the
 * root with O_NOFOLLOW: a symlink on the way (a planted "exports" or
 * "chunks/ab" link to another tree) fails with -ELOOP or -ENOTDIR instead
 * of being followed, so no read, write or delete leaves the root.  With
 * @create, missing directories are made (0700) and fsynced into their
 * parents.  *@base is the key's last component.
 */
static int open_parent(int dfd, const char *key, bool create, const char **base)
{
	char comp[STORE_KEY_MAX];
	const char *p = key, *slash;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), next, err;

	if (fd < 0)
		return -errno;
	while ((slash = strchr(p, '/'))) {
		size_t n = slash - p;
		bool made = false;

		if (n >= sizeof(comp)) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (create) {
			if (mkdirat(fd, comp, FILE_STORE_DIR_MODE) == 0)
				made = true;
			else if (errno != EEXIST)
				goto fail;
		}
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			goto fail;
		if (made && fsync(fd)) {
			err = errno;
			close(next);
			close(fd);
			return -err;
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*base = p;
	return fd;
fail:
	err = errno;
	close(fd);
	return -err;
}

/* Open a fresh temporary file for @key; its name goes into @tmp. */
static int open_temp(int dfd, const char *key, char *tmp, size_t size)
{
	static unsigned long counter;
	const char *base = strrchr(key, '/');
	int dirlen = base ? (int)(base - key + 1) : 0;
	int tries;

	base = base ? base + 1 : key;
	for (tries = 0; tries < 100; tries++) {
		unsigned long n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
		int fd;

		if (snprintf(tmp, size, "%.*s" TMP_TAG "%s.%d.%lu", dirlen, key, base,
			     (int)getpid(), n) >= (int)size)
			return -ENAMETOOLONG;
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    FILE_STORE_FILE_MODE);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/* Write the @nr parts one after the other, as many writev() calls as it takes. */
static int write_parts(int fd, const struct iovec *parts, unsigned int nr)
{
	struct iovec iov[STORE_PARTS_MAX];
	unsigned int i = 0;
	ssize_t n;

	memcpy(iov, parts, nr * sizeof(*iov));
	for (;;) {
		while (i < nr && !iov[i].iov_len)
			i++;
		if (i == nr)
			return 0;
		n = writev(fd, iov + i, nr - i);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		for (; n > 0; i++) {
			size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;

			iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			n -= k;
			if (iov[i].iov_len)
				break;
		}
	}
}

static int write_temp(int dfd, const char *key, const struct iovec *parts, unsigned int nr,
		      char *tmp, size_t size)
{
	int fd = open_temp(dfd, key, tmp, size);
	int ret;

	if (fd < 0)
		return fd;
	ret = write_parts(fd, parts, nr);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (ret)
		unlinkat(dfd, tmp, 0);
	return ret;
}

/* Keys whose name a temporary file could have: list skips those. */
static int reserved(const char *key)
{
	const char *c = key;

	for (;;) {
		if (!strncmp(c, TMP_TAG, strlen(TMP_TAG)))
			return 1;
		c = strchr(c, '/');
		if (!c)
			return 0;
		c++;
	}
}

static int file_put(struct store *s, const char *key, const struct iovec *parts, unsigned int nr,
		    size_t len)
{
	char tmp[STORE_KEY_MAX + 64];
	const char *base;
	int dfd, ret;

	if (reserved(key)) {
		store_set_error(s, "PUT %s: names starting with \"" TMP_TAG "\" are reserved", key);
		return -EINVAL;
	}
	dfd = open_parent(root_fd(s), key, true, &base);
	if (dfd == -ELOOP || dfd == -ENOTDIR) {
		store_set_error(s, "PUT %s: a directory on the way is a symbolic link or a file: refused", key);
		return -EBADMSG;
	}
	if (dfd < 0)
		return fail(s, "PUT", key, -dfd);
	ret = write_temp(dfd, base, parts, nr, tmp, sizeof(tmp));
	if (!ret && renameat(dfd, tmp, dfd, base)) {
		ret = -errno;
		unlinkat(dfd, tmp, 0);
	}
	if (!ret && fsync(dfd))
		ret = -errno;
	close(dfd);
	return ret ? fail(s, "PUT", key, -ret) : 0;
}

/* A key that names a directory, or runs through a file, is no object. */
static int missing(int err)
{
	return err == ENOENT || err == ENOTDIR || err == EISDIR;
}

/* Read the regular file @fd, at most @max bytes (-EFBIG beyond). */
static int read_all(int fd, struct store_buf *out, size_t max)
{
	struct stat st;
	int ret;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	ret = store_buf_reserve(out, (size_t)st.st_size + 1);
	if (ret)
		return ret;
	for (;;) {
		ssize_t n;

		if (out->len > max)
			return -EFBIG;	/* grew while read */
		if (out->cap - out->len < 2) {
			ret = store_buf_reserve(out, out->cap + 1);
			if (ret)
				return ret;
		}
		n = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		out->len += n;
	}
	out->data[out->len] = '\0';
	return 0;
}

static int file_get(struct store *s, const char *key, struct store_buf *out, size_t max)
{
	const char *base;
	int dfd = open_parent(root_fd(s), key, false, &base), fd, ret;

	if (dfd < 0) {
		ret = dfd;
	} else {
		fd = openat(dfd, base, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		ret = fd < 0 ? -errno : 0;
		close(dfd);
	}
	if (!ret) {
		ret = read_all(fd, out, max);
		close(fd);
	}
	if (ret && missing(-ret)) {
		store_set_error(s, "GET %s: no such object", key);
		return -ENOENT;
	}
	if (ret == -ELOOP) {
		store_set_error(s, "GET %s: a symbolic link, not an object: refused", key);
		return -EBADMSG;
	}
	if (ret == -EFBIG) {
		store_set_error(s, "GET %s: the object is larger than %zu bytes: refused", key, max);
		return ret;
	}
	return ret ? fail(s, "GET", key, -ret) : 0;
}

static int file_exists(struct store *s, const char *key)
{
	const char *base;
	int dfd = open_parent(root_fd(s), key, false, &base), err = 0;
	struct stat st;

	if (dfd < 0)
		err = -dfd;
	else if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW))
		err = errno;
	if (dfd >= 0)
		close(dfd);
	if (err)
		return missing(err) || err == ELOOP ? -ENOENT : fail(s, "HEAD", key, err);
	return S_ISREG(st.st_mode) ? 0 : -ENOENT;
}

/* A key whose way runs through a symlink names nothing of the store's: gone already. */
static int file_delete(struct store *s, const char *key)
{
	const char *base;
	int dfd = open_parent(root_fd(s), key, false, &base), err = 0;

	if (dfd < 0)
		err = -dfd;
	else if (unlinkat(dfd, base, 0))
		err = errno;
	if (dfd >= 0)
		close(dfd);
	if (err && !missing(err) && err != ELOOP)
		return fail(s, "DELETE", key, err);
	return 0;
}

struct walk {
	struct store *s;
	const char *prefix;
	size_t prefix_len;
	store_list_fn fn;
	void *context;
	char key[STORE_KEY_MAX + 1];
};

/* Can keys under the directory key[0..len) (ending in '/') match the prefix? */
static int may_match(const struct walk *w, size_t len)
{
	return !strncmp(w->key, w->prefix, len < w->prefix_len ? len : w->prefix_len);
}

static int walk_dir(struct walk *w, int dfd, size_t len);

static int walk_entry(struct walk *w, int dfd, const char *name, size_t len)
{
	size_t n = strlen(name);
	struct stat st;
	int fd;

	if (!strcmp(name, ".") || !strcmp(name, "..") || !strncmp(name, TMP_TAG, strlen(TMP_TAG)))
		return 0;
	if (len + n + 1 >= sizeof(w->key))
		return 0;	/* too long to be a key this store wrote */
	memcpy(w->key + len, name, n + 1);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : fail(w->s, "LIST", w->key, errno);
	if (S_ISREG(st.st_mode)) {
		if (strncmp(w->key, w->prefix, w->prefix_len))
			return 0;
		return w->fn(w->context, w->key, st.st_size);
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	w->key[len + n] = '/';
	w->key[len + n + 1] = '\0';
	if (!may_match(w, len + n + 1))
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : fail(w->s, "LIST", w->key, errno);
	return walk_dir(w, fd, len + n + 1);
}

/*
 * Walk the directory @dfd (closed here), whose keys start with key[0..len).
 * Depth is bounded by the key length, so recursion is fine.  Returns what
 * the callback returned to stop the walk, or a negative errno.
 */
static int walk_dir(struct walk *w, int dfd, size_t len)
{
	DIR *d = fdopendir(dfd);
	int ret = 0;

	if (!d) {
		ret = errno;
		close(dfd);
		w->key[len] = '\0';
		return fail(w->s, "LIST", w->key, ret);
	}
	for (;;) {
		struct dirent *de;

		errno = 0;
		de = readdir(d);
		if (!de) {
			ret = errno;
			w->key[len] = '\0';
			ret = ret ? fail(w->s, "LIST", w->key, ret) : 0;
			break;
		}
		ret = walk_entry(w, dirfd(d), de->d_name, len);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

static int file_list(struct store *s, const char *prefix, store_list_fn fn, void *context)
{
	struct walk *w = calloc(1, sizeof(*w));
	int fd, ret;

	if (!w)
		return fail(s, "LIST", prefix, ENOMEM);
	w->s = s;
	w->prefix = prefix;
	w->prefix_len = strlen(prefix);
	w->fn = fn;
	w->context = context;
	fd = openat(root_fd(s), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = fd < 0 ? fail(s, "LIST", prefix, errno) : walk_dir(w, fd, 0);
	free(w);
	return ret;
}

static void file_close(struct store *s)
{
	struct file_store *fs = s->priv;

	close(fs->root_fd);
	free(fs);
}

static const struct store_ops file_ops = {
	.name = "file",
	.put = file_put,
	.get = file_get,
	.exists = file_exists,
	.del = file_delete,
	.list = file_list,
	.close = file_close,
};

int store_file_open(struct store *s, const char *where, const char **why)
{
	struct file_store *fs;
	int fd;

	if (!*where) {
		*why = "empty store path";
		return -EINVAL;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		*why = "out of memory";
		return -ENOMEM;
	}
	/* What goes wrong here, the open below reports. */
	make_dirs_mode(where, FILE_STORE_DIR_MODE);
	fd = open(where, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		*why = err == ENOTDIR ? "the store path is not a directory" :
		       err == EACCES ? "the store directory cannot be created or opened: permission denied" :
		       "the store directory cannot be created or opened";
		free(fs);
		return -err;
	}
	fs->root_fd = fd;
	s->ops = &file_ops;
	s->priv = fs;
	return 0;
}
