// SPDX-License-Identifier: GPL-2.0
/*
 * The directory object store (userspace/export/store-file.c): objects in,
 * objects out, listing, and no temporary file left behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "store.h"

struct fixture {
	char dir[64];		/* a fresh temporary directory */
	char root[128];		/* the store's directory inside it */
	struct store *s;
	struct store_buf buf;
};

static void remove_tree(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	char sub[1024];

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *why = NULL;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_file.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	/* A store directory that does not exist yet, two levels down. */
	snprintf(f->root, sizeof(f->root), "%s/store/vm1", f->dir);
	f->s = store_open(f->root, &why);
	if (!f->s) {
		fprintf(stderr, "store_open: %s\n", why);
		remove_tree(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	store_buf_free(&f->buf);
	remove_tree(f->dir);
	free(f);
	return 0;
}

static void assert_object(struct fixture *f, const char *key, const char *want)
{
	assert_int_equal(store_get(f->s, key, &f->buf), 0);
	assert_int_equal(f->buf.len, strlen(want));
	assert_memory_equal(f->buf.data, want, f->buf.len);
}

/* Names in the store directory tree (keys and anything else), counted. */
static int count_files(const char *path, int *temps)
{
	struct dirent *de;
	DIR *d = opendir(path);
	char sub[1024];
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strstr(de->d_name, "tmp"))
			(*temps)++;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			n += count_files(sub, temps);
		else
			n++;
	}
	closedir(d);
	return n;
}

static void test_open_creates_directory(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->root, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_string_equal(store_url(f->s), f->root);
}

static void test_put_get(void **state)
{
	struct fixture *f = *state;
	struct store_stats stats;

	assert_int_equal(store_put(f->s, "exports/x.manifest", "hello", 5), 0);
	assert_object(f, "exports/x.manifest", "hello");
	store_get_stats(f->s, &stats);
	assert_int_equal(stats.puts, 1);
	assert_int_equal(stats.put_bytes, 5);
	assert_int_equal(stats.gets, 1);
	assert_int_equal(stats.get_bytes, 5);
	assert_int_equal(stats.retries, 0);
}

static void test_big_object(void **state)
{
	struct fixture *f = *state;
	size_t len = 3 * 1024 * 1024 + 17, i;
	uint8_t *data = malloc(len);

	assert_non_null(data);
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	assert_int_equal(store_put(f->s, "big", data, len), 0);
	assert_int_equal(store_get(f->s, "big", &f->buf), 0);
	assert_int_equal(f->buf.len, len);
	assert_memory_equal(f->buf.data, data, len);
	free(data);
}

static void sha256(const void *data, size_t len, unsigned char md[32])
{
	unsigned int n = 32;

	assert_true(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL));
}

/*
 * An object put in parts (a chunk's header and its data) is their
 * concatenation, the same bytes as the object put whole, empty parts
 * and all; no parts is an empty object, more than STORE_PARTS_MAX are
 * refused.
 */
static void test_put_parts(void **state)
{
	struct fixture *f = *state;
	size_t len = 3 * 1024 * 1024 + 17, i;
	uint8_t *data = malloc(len);
	struct iovec parts[STORE_PARTS_MAX + 1] = {
		{ data, 16 }, { NULL, 0 }, { data + 16, len - 16 - 5 }, { data + len - 5, 5 },
		{ data, 1 },
	};
	unsigned char want[32], got[32];
	struct store_stats stats;

	assert_non_null(data);
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 11);
	sha256(data, len, want);
	assert_int_equal(store_put(f->s, "whole", data, len), 0);
	assert_int_equal(store_putv(f->s, "chunks/ab/parts", parts, STORE_PARTS_MAX), 0);
	assert_int_equal(store_get(f->s, "chunks/ab/parts", &f->buf), 0);
	assert_int_equal(f->buf.len, len);
	sha256(f->buf.data, f->buf.len, got);
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(store_get(f->s, "whole", &f->buf), 0);
	sha256(f->buf.data, f->buf.len, got);
	assert_memory_equal(got, want, sizeof(want));
	store_get_stats(f->s, &stats);
	assert_int_equal(stats.puts, 2);
	assert_int_equal(stats.put_bytes, 2 * len);

	assert_int_equal(store_putv(f->s, "none", NULL, 0), 0);
	assert_object(f, "none", "");
	assert_int_equal(store_putv(f->s, "too-many", parts, STORE_PARTS_MAX + 1), -EINVAL);
	assert_int_equal(store_exists(f->s, "too-many"), -ENOENT);
	free(data);
}

static void test_empty_object(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_put(f->s, "empty", NULL, 0), 0);
	assert_int_equal(store_exists(f->s, "empty"), 0);
	assert_int_equal(store_get(f->s, "empty", &f->buf), 0);
	assert_int_equal(f->buf.len, 0);
}

static void test_overwrite(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_put(f->s, "k", "a longer first version", 22), 0);
	assert_int_equal(store_put(f->s, "k", "second", 6), 0);
	assert_object(f, "k", "second");
}

static void test_missing(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_exists(f->s, "nope"), -ENOENT);
	assert_int_equal(store_get(f->s, "nope", &f->buf), -ENOENT);
	assert_int_equal(f->buf.len, 0);
	assert_non_null(strstr(store_error(f->s), "nope"));
	/* A directory, or a path through an object, is no object either. */
	assert_int_equal(store_put(f->s, "dir/obj", "x", 1), 0);
	assert_int_equal(store_exists(f->s, "dir"), -ENOENT);
	assert_int_equal(store_get(f->s, "dir", &f->buf), -ENOENT);
	assert_int_equal(store_exists(f->s, "dir/obj/below"), -ENOENT);
	assert_int_equal(store_get(f->s, "dir/obj/below", &f->buf), -ENOENT);
	assert_int_equal(store_delete(f->s, "dir/obj/below"), 0);
}

static void test_nested_keys(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct stat st;

	assert_int_equal(store_put(f->s, "chunks/ab/ab12cd", "chunk", 5), 0);
	assert_int_equal(store_put(f->s, "chunks/ab/ab99", "other", 5), 0);
	assert_int_equal(store_put(f->s, "chunks/cd/cd00", "third", 5), 0);
	assert_object(f, "chunks/ab/ab12cd", "chunk");
	assert_object(f, "chunks/cd/cd00", "third");
	snprintf(path, sizeof(path), "%s/chunks/ab/ab12cd", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_put(f->s, "a/b", "x", 1), 0);
	assert_int_equal(store_delete(f->s, "a/b"), 0);
	assert_int_equal(store_exists(f->s, "a/b"), -ENOENT);
	assert_int_equal(store_delete(f->s, "a/b"), 0);
	assert_int_equal(store_delete(f->s, "never/there"), 0);
}

static void test_invalid_keys(void **state)
{
	static const char *const bad[] = {
		"", "/abs", "a//b", "a/", "../up", "a/../b", "a/./b", ".", "tab\there",
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_put(f->s, bad[i], "x", 1), -EINVAL);
		assert_int_equal(store_get(f->s, bad[i], &f->buf), -EINVAL);
		assert_int_equal(store_exists(f->s, bad[i]), -EINVAL);
		assert_int_equal(store_delete(f->s, bad[i]), -EINVAL);
	}
	/* Names of temporary files are not keys: list could not show them. */
	assert_int_equal(store_put(f->s, "d/.tmp.x", "x", 1), -EINVAL);
}

struct listing {
	int count;
	char keys[16][64];
	uint64_t sizes[16];
};

static int collect(void *context, const char *key, uint64_t size)
{
	struct listing *l = context;

	if (l->count < 16) {
		snprintf(l->keys[l->count], sizeof(l->keys[0]), "%s", key);
		l->sizes[l->count] = size;
	}
	l->count++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* List @prefix; the keys sorted, joined by spaces. */
static const char *list_keys(struct fixture *f, const char *prefix)
{
	static char out[1024];
	struct listing l = { 0 };
	int i;

	assert_int_equal(store_list(f->s, prefix, collect, &l), 0);
	assert_true(l.count <= 16);
	qsort(l.keys, l.count, sizeof(l.keys[0]), cmp_str);
	out[0] = '\0';
	for (i = 0; i < l.count; i++) {
		strcat(out, i ? " " : "");
		strcat(out, l.keys[i]);
	}
	return out;
}

static void put_tree(struct fixture *f)
{
	static const char *const keys[] = {
		"chunks/ab/ab01", "chunks/ab/ab02", "chunks/ac/ac01", "chunks/b0/b001",
		"exports/x.manifest", "top",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(store_put(f->s, keys[i], keys[i], strlen(keys[i])), 0);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct listing l = { 0 };

	put_tree(f);
	assert_string_equal(list_keys(f, ""),
			    "chunks/ab/ab01 chunks/ab/ab02 chunks/ac/ac01 chunks/b0/b001 "
			    "exports/x.manifest top");
	assert_string_equal(list_keys(f, NULL),
			    "chunks/ab/ab01 chunks/ab/ab02 chunks/ac/ac01 chunks/b0/b001 "
			    "exports/x.manifest top");
	assert_string_equal(list_keys(f, "chunks/"),
			    "chunks/ab/ab01 chunks/ab/ab02 chunks/ac/ac01 chunks/b0/b001");
	assert_string_equal(list_keys(f, "chunks/a"),
			    "chunks/ab/ab01 chunks/ab/ab02 chunks/ac/ac01");
	assert_string_equal(list_keys(f, "chunks/ab/ab0"), "chunks/ab/ab01 chunks/ab/ab02");
	assert_string_equal(list_keys(f, "chunks/ab/ab02"), "chunks/ab/ab02");
	assert_string_equal(list_keys(f, "t"), "top");
	assert_string_equal(list_keys(f, "zzz"), "");

	assert_int_equal(store_list(f->s, "exports/", collect, &l), 0);
	assert_int_equal(l.count, 1);
	assert_int_equal(l.sizes[0], strlen("exports/x.manifest"));
}

static int stop_second(void *context, const char *key, uint64_t size)
{
	int *calls = context;

	return ++*calls == 2 ? 7 : 0;
}

static void test_list_stops(void **state)
{
	struct fixture *f = *state;
	int calls = 0;

	put_tree(f);
	assert_int_equal(store_list(f->s, "", stop_second, &calls), 7);
	assert_int_equal(calls, 2);
}

static void test_list_empty(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(list_keys(f, ""), "");
	assert_string_equal(list_keys(f, "chunks/"), "");
}

static void test_no_temporary_files(void **state)
{
	struct fixture *f = *state;
	int temps = 0;

	put_tree(f);
	assert_int_equal(store_put(f->s, "top", "again", 5), 0);
	assert_int_equal(count_files(f->root, &temps), 6);
	assert_int_equal(temps, 0);
}

static void test_list_skips_temporary_files(void **state)
{
	struct fixture *f = *state;
	char path[256];
	FILE *tmp;

	put_tree(f);
	/* What a put interrupted by a crash leaves. */
	snprintf(path, sizeof(path), "%s/chunks/ab/.tmp.ab03.1234.0", f->root);
	tmp = fopen(path, "w");
	assert_non_null(tmp);
	fclose(tmp);
	assert_string_equal(list_keys(f, "chunks/ab/"), "chunks/ab/ab01 chunks/ab/ab02");
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	char url[160];
	struct store *s;

	assert_int_equal(store_put(f->s, "kept", "kept", 4), 0);
	snprintf(url, sizeof(url), "file://%s/", f->root);
	s = store_open(url, NULL);
	assert_non_null(s);
	assert_int_equal(store_get(s, "kept", &f->buf), 0);
	assert_int_equal(f->buf.len, 4);
	store_close(s);
}

static void test_bad_urls(void **state)
{
	const char *why = NULL;
	char path[160];
	struct fixture *f = *state;

	assert_null(store_open("file://relative/path", &why));
	assert_non_null(why);
	why = NULL;
	assert_null(store_open("gopher://x", &why));
	assert_non_null(why);
	assert_int_equal(store_put(f->s, "file", "x", 1), 0);
	snprintf(path, sizeof(path), "%s/file", f->root);
	why = NULL;
	assert_null(store_open(path, &why));
	assert_non_null(why);
}

/* Unencrypted objects are raw disk data: nobody but the owner reads them. */
static void test_private_modes(void **state)
{
	struct fixture *f = *state;
	char path[1024];
	struct stat st;

	assert_int_equal(store_put(f->s, "chunks/ab/abcd", "data", 4), 0);
	assert_int_equal(stat(f->root, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/chunks", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/chunks/ab", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/chunks/ab/abcd", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* A file outside the store's root that no store call may read or change. */
static void write_secret(const char *path)
{
	FILE *o = fopen(path, "w");

	assert_non_null(o);
	fputs("secret", o);
	fclose(o);
}

/* A symlink or a FIFO planted in the tree is refused at once, never followed or waited on. */
static void test_symlink_and_fifo(void **state)
{
	struct fixture *f = *state;
	char path[1024], target[1024];

	snprintf(target, sizeof(target), "%s/outside", f->dir);
	assert_int_equal(store_put(f->s, "dummy", "x", 1), 0);
	write_secret(target);
	snprintf(path, sizeof(path), "%s/link", f->root);
	assert_int_equal(symlink(target, path), 0);
	assert_int_not_equal(store_get(f->s, "link", &f->buf), 0);
	assert_int_equal(f->buf.len, 0);
	assert_int_equal(store_exists(f->s, "link"), -ENOENT);
	assert_non_null(strstr(store_error(f->s), "link"));

	snprintf(path, sizeof(path), "%s/fifo", f->root);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(store_get(f->s, "fifo", &f->buf), -ENOENT);
	assert_int_equal(store_exists(f->s, "fifo"), -ENOENT);
}

/*
 * A directory on a key's way replaced by a symlink to another tree: no
 * read, existence check, delete or write goes through it, so a planted
 * "exports" or "chunks/ab" link can neither feed objects from elsewhere
 * nor make the store write or delete outside its root.
 */
static void test_symlinked_directory(void **state)
{
	struct fixture *f = *state;
	char path[1100], outside[900], victim[1000];
	struct stat st;

	snprintf(outside, sizeof(outside), "%s/outside-dir", f->dir);
	assert_int_equal(mkdir(outside, 0700), 0);
	snprintf(victim, sizeof(victim), "%s/obj", outside);
	write_secret(victim);
	snprintf(path, sizeof(path), "%s/exports", f->root);
	assert_int_equal(symlink(outside, path), 0);

	assert_int_not_equal(store_get(f->s, "exports/obj", &f->buf), 0);
	assert_int_equal(f->buf.len, 0);
	assert_int_equal(store_exists(f->s, "exports/obj"), -ENOENT);
	assert_int_not_equal(store_put(f->s, "exports/new", "x", 1), 0);
	snprintf(path, sizeof(path), "%s/new", outside);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(store_delete(f->s, "exports/obj"), 0);	/* nothing of ours there */
	assert_int_equal(lstat(victim, &st), 0);

	/* a link deeper down, below a real directory, the same */
	assert_int_equal(store_put(f->s, "chunks/aa/x", "x", 1), 0);
	snprintf(path, sizeof(path), "%s/chunks/bb", f->root);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_not_equal(store_get(f->s, "chunks/bb/obj", &f->buf), 0);
	assert_int_not_equal(store_put(f->s, "chunks/bb/new", "x", 1), 0);
	snprintf(path, sizeof(path), "%s/new", outside);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(store_delete(f->s, "chunks/bb/obj"), 0);
	assert_int_equal(lstat(victim, &st), 0);
	/* real directories still work */
	assert_int_equal(store_get(f->s, "chunks/aa/x", &f->buf), 0);
	assert_int_equal(f->buf.len, 1);
}

/* A read stops at the caller's cap, whatever the file's size. */
static void test_size_cap(void **state)
{
	struct fixture *f = *state;
	char data[4096];

	memset(data, 'a', sizeof(data));
	assert_int_equal(store_put(f->s, "obj", data, sizeof(data)), 0);
	assert_int_equal(store_get_max(f->s, "obj", &f->buf, sizeof(data)), 0);
	assert_int_equal(f->buf.len, sizeof(data));
	assert_int_equal(store_get_max(f->s, "obj", &f->buf, sizeof(data) - 1), -EFBIG);
	assert_non_null(strstr(store_error(f->s), "larger than"));
	assert_true(f->buf.cap <= 4 * sizeof(data));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_creates_directory),
		T(test_put_get),
		T(test_big_object),
		T(test_put_parts),
		T(test_empty_object),
		T(test_overwrite),
		T(test_missing),
		T(test_nested_keys),
		T(test_delete),
		T(test_invalid_keys),
		T(test_list),
		T(test_list_stops),
		T(test_list_empty),
		T(test_no_temporary_files),
		T(test_list_skips_temporary_files),
		T(test_reopen),
		T(test_bad_urls),
		T(test_private_modes),
		T(test_symlink_and_fifo),
		T(test_symlinked_directory),
		T(test_size_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
