// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: reading an export's manifest and its chunk lists
 * (userspace/export/repo.c: manifest_read, manifest_load_entries) from a
 * repository in a directory store (on /dev/shm when there is one).
 *
 * Input: text in sections separated by lines "--".  The first section is
 * stored as the manifest of export "fz"; each further one (at most 8) is
 * stored as a chunk list, encoded as the chunk its text is.  In the
 * manifest, "@L<n>" stands for the id of the n-th list (from 1) and "@R"
 * for the root checksum of all the lists in order, so that inputs can be
 * consistent and reach the end of the reader.  The repository has 64 KiB
 * chunks and no encryption.
 *
 * The reader must refuse anything damaged with an error (-EBADMSG) and
 * never crash, leak or overrun; what it accepts must keep its promises:
 * the name asked for, a valid root, the repository's chunk size, entries
 * in increasing order inside the image, as many as stored_chunks, and
 * descriptions and tags that pass their checks, keys unique and sorted.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "chunk.h"
#include "repo.h"
#include "store.h"

#define MAX_LISTS	8

static int report_fd = 2;

#define fuzz_fail(...) do {							\
	dprintf(report_fd, "fuzz: " __VA_ARGS__);				\
	abort();								\
} while (0)

static struct repo repo;
static struct chunk_codec *codec;
static char *repo_dir;

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void remove_repo(void)
{
	nftw(repo_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/dev/shm/dmrow-fuzz-manifest.XXXXXX";
	static char fallback[] = "/tmp/dmrow-fuzz-manifest.XXXXXX";
	char url[PATH_MAX];
	int fd = dup(2), r;
	char *path;

	if (fd >= 0)
		report_fd = fd;
	path = mkdtemp(dir);
	if (!path)
		path = mkdtemp(fallback);
	if (!path)
		fuzz_fail("mkdtemp: %s\n", strerror(errno));
	repo_dir = path;
	atexit(remove_repo);
	snprintf(url, sizeof(url), "file://%s", path);
	if (store_global_init())
		fuzz_fail("store_global_init failed\n");
	r = repo_open(&repo, url, NULL, REPO_MIN_CHUNK_SIZE, REPO_CREATE);
	if (r)
		fuzz_fail("repo_open %s: %d %s\n", url, r, repo.error);
	codec = chunk_codec_new(&repo.keys, REPO_MIN_CHUNK_SIZE);
	if (!codec)
		fuzz_fail("chunk_codec_new failed\n");
	return 0;
}

struct list {
	const char *text;
	size_t len;
	char id[CHUNK_ID_LEN + 1];
};

static void root_of(const struct list *lists, unsigned int n, char hex[CHUNK_ID_LEN + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		abort();
	/* The reader hashes each list's text up to its first NUL. */
	for (i = 0; i < n; i++)
		EVP_DigestUpdate(ctx, lists[i].text, strnlen(lists[i].text, lists[i].len));
	EVP_DigestFinal_ex(ctx, digest, &len);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < len && i < CHUNK_ID_LEN / 2; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
}

/* The manifest with @L<n> and @R replaced; malloc'd. */
static char *expand(const char *text, size_t len, const struct list *lists, unsigned int n,
		    size_t *out_len)
{
	char root[CHUNK_ID_LEN + 1] = "", *out, *o;
	size_t i;

	root_of(lists, n, root);
	out = malloc(len * CHUNK_ID_LEN + 1);	/* every byte could become an id */
	if (!out)
		abort();
	for (i = 0, o = out; i < len; i++) {
		if (text[i] == '@' && i + 1 < len && text[i + 1] == 'R') {
			o = stpcpy(o, root);
			i++;
		} else if (text[i] == '@' && i + 2 < len && text[i + 1] == 'L' &&
			   text[i + 2] >= '1' && text[i + 2] < '1' + (int)n) {
			o = stpcpy(o, lists[text[i + 2] - '1'].id);
			i += 2;
		} else {
			*o++ = text[i];
		}
	}
	*out_len = o - out;
	return out;
}

static void check_tags(const struct tag_set *set)
{
	unsigned int i;

	if (set->nr > TAGS_MAX)
		fuzz_fail("manifest_read accepted %u tags\n", set->nr);
	if (set->description && !description_valid(set->description))
		fuzz_fail("manifest_read accepted an invalid description\n");
	for (i = 0; i < set->nr; i++) {
		if (!tag_key_valid(set->tags[i].key) || !tag_value_valid(set->tags[i].value))
			fuzz_fail("manifest_read accepted an invalid tag\n");
		if (i && strcmp(set->tags[i - 1].key, set->tags[i].key) >= 0)
			fuzz_fail("tags %u and %u out of order or repeated\n", i - 1, i);
	}
}

static void check_accepted(const struct manifest *m)
{
	size_t i;

	if (strcmp(m->name, "fz") || !chunk_id_valid(m->root) ||
	    m->chunk_size != repo.chunk_size || !m->image_bytes)
		fuzz_fail("manifest_read accepted a manifest that breaks its rules\n");
	for (i = 0; i < m->nr_lists; i++)
		if (!chunk_id_valid(m->lists[i]))
			fuzz_fail("manifest_read accepted an invalid list id\n");
	check_tags(&m->tags);
	check_tags(&m->disk_tags);
}

static void check_entries(const struct manifest *m)
{
	size_t i;

	if (m->nr_entries != m->stored_chunks)
		fuzz_fail("%zu entries, stored_chunks says %llu\n", m->nr_entries,
			  (unsigned long long)m->stored_chunks);
	for (i = 0; i < m->nr_entries; i++) {
		if (m->entries[i].index >= manifest_slots(m))
			fuzz_fail("entry %zu past the image\n", i);
		if (i && m->entries[i].index <= m->entries[i - 1].index)
			fuzz_fail("entries %zu and %zu out of order\n", i - 1, i);
		if (!chunk_id_valid(m->entries[i].id))
			fuzz_fail("entry %zu has an invalid id\n", i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct list lists[MAX_LISTS];
	struct store_buf obj = { 0 };
	const char *text = (const char *)data, *end = text + size, *p, *sep;
	size_t manifest_len, expanded_len;
	unsigned int n = 0, i;
	struct manifest m;
	char key[160], *expanded;
	int r;

	/* Sections: up to the first "\n--\n", then the lists. */
	sep = memmem(text, size, "\n--\n", 4);
	manifest_len = sep ? (size_t)(sep - text) + 1 : size;
	for (p = sep ? sep + 4 : end; p < end && n < MAX_LISTS; n++) {
		sep = memmem(p, end - p, "\n--\n", 4);
		lists[n].text = p;
		lists[n].len = sep ? (size_t)(sep - p) + 1 : (size_t)(end - p);
		p = sep ? sep + 4 : end;
	}
	for (i = 0; i < n; i++) {
		chunk_id(codec, lists[i].text, lists[i].len, lists[i].id);
		r = chunk_encode(codec, lists[i].text, lists[i].len, lists[i].id, &obj);
		chunk_key(lists[i].id, key, sizeof(key));
		if (r || store_put(repo.store, key, obj.data, obj.len))
			fuzz_fail("cannot store chunk list %u\n", i);
	}
	expanded = expand(text, manifest_len, lists, n, &expanded_len);
	if (store_put(repo.store, "exports/fz.manifest", expanded, expanded_len))
		fuzz_fail("cannot store the manifest\n");
	free(expanded);

	r = manifest_read(&repo, "fz", &m);
	if (r && r != -EBADMSG)
		fuzz_fail("manifest_read failed with %d (%s), not -EBADMSG\n", r, repo.error);
	if (!r) {
		check_accepted(&m);
		r = manifest_load_entries(&repo, codec, &m);
		if (r && r != -EBADMSG)
			fuzz_fail("manifest_load_entries failed with %d (%s)\n", r, repo.error);
		if (!r)
			check_entries(&m);
		manifest_free(&m);
	}

	for (i = 0; i < n; i++) {
		chunk_key(lists[i].id, key, sizeof(key));
		store_delete(repo.store, key);
	}
	store_buf_free(&obj);
	return 0;
}
