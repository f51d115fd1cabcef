// SPDX-License-Identifier: GPL-2.0
/*
 * Exports without a kernel: the chunk codec (ids, compression, encryption,
 * every corruption caught), and repositories on the file backend driven
 * through the same transfer code snapctl uses, with image files standing
 * in for snapshot views: full and incremental exports, restores compared
 * byte for byte, chunk lists split over several objects, damaged
 * manifests, wrong keys, pending exports and garbage collection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "chunk.h"
#include "repo.h"
#include "store.h"
#include "transfer.h"

#define SLOT (64u << 10)	/* the smallest chunk size: many slots, quick tests */

struct fixture {
	char dir[64];		/* scratch directory */
	char url[128];		/* file:// repository inside it */
	char key[128];		/* a key file */
	char other_key[128];
};

static void fill_random(void *buf, size_t len, unsigned int seed)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = seed >> 16;
	}
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	uint8_t key[32];

	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/dmrow-export-XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->url, sizeof(fx->url), "file://%s/repo", fx->dir);
	snprintf(fx->key, sizeof(fx->key), "%s/key", fx->dir);
	snprintf(fx->other_key, sizeof(fx->other_key), "%s/other-key", fx->dir);
	fill_random(key, sizeof(key), 7);
	write_file(fx->key, key, sizeof(key));
	fill_random(key, sizeof(key), 8);
	write_file(fx->other_key, key, sizeof(key));
	*state = fx;
	return store_global_init();
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd))
		return -1;
	free(fx);
	store_global_exit();
	return 0;
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL);
	for (i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
}

/*----------------------------------------------------------------*/

static void test_chunk_plain_roundtrip(void **state)
{
	struct store_buf obj = { 0 }, out = { 0 };
	struct chunk_keys keys;
	struct chunk_codec *codec;
	char id[CHUNK_ID_LEN + 1], sha[65];
	const char *why;
	uint8_t *data = malloc(SLOT);

	chunk_keys_plain(&keys);
	codec = chunk_codec_new(&keys, SLOT);
	assert_non_null(codec);

	/* compressible: a repeating pattern */
	for (size_t i = 0; i < SLOT; i++)
		data[i] = i % 251;
	chunk_id(codec, data, SLOT, id);
	sha256_hex(data, SLOT, sha);
	assert_string_equal(id, sha);		/* unencrypted ids are plain SHA-256 */
	assert_int_equal(chunk_encode(codec, data, SLOT, id, &obj), 0);
	assert_true(obj.len < SLOT / 4);
	assert_int_equal(chunk_decode(codec, &obj, id, &out, &why), 0);
	assert_int_equal(out.len, SLOT);
	assert_memory_equal(out.data, data, SLOT);

	/* incompressible: stored raw, never bigger than data plus the header */
	fill_random(data, SLOT, 1);
	chunk_id(codec, data, SLOT, id);
	assert_int_equal(chunk_encode(codec, data, SLOT, id, &obj), 0);
	assert_int_equal(obj.len, SLOT + CHUNK_HEADER_BYTES);
	assert_int_equal(chunk_decode(codec, &obj, id, &out, &why), 0);
	assert_memory_equal(out.data, data, SLOT);

	/* a short final chunk */
	chunk_id(codec, data, 1000, id);
	assert_int_equal(chunk_encode(codec, data, 1000, id, &obj), 0);
	assert_int_equal(chunk_decode(codec, &obj, id, &out, &why), 0);
	assert_int_equal(out.len, 1000);

	store_buf_free(&obj);
	store_buf_free(&out);
	chunk_codec_free(codec);
	free(data);
	(void)state;
}

/*
 * A big chunk is compressed only if samples of it compress: one whose
 * sampled pieces are random is stored raw without compressing the whole
 * (here its other bytes are zeroes, which the whole would have shrunk),
 * and one whose samples compress is compressed.
 */
static void test_chunk_sampled(void **state)
{
	const size_t len = 4u << 20, piece = 8u << 10, step = (len - piece) / 3;
	struct store_buf obj = { 0 }, out = { 0 };
	struct chunk_keys keys;
	struct chunk_codec *codec;
	char id[CHUNK_ID_LEN + 1];
	const char *why;
	uint8_t *data = calloc(1, len);
	size_t i;

	assert_non_null(data);
	chunk_keys_plain(&keys);
	codec = chunk_codec_new(&keys, len);
	assert_non_null(codec);
	for (i = 0; i < 4; i++)
		fill_random(data + i * step, piece, 10 + i);
	chunk_id(codec, data, len, id);
	assert_int_equal(chunk_encode(codec, data, len, id, &obj), 0);
	assert_int_equal(obj.len, len + CHUNK_HEADER_BYTES);	/* raw */
	assert_int_equal(chunk_decode(codec, &obj, id, &out, &why), 0);
	assert_memory_equal(out.data, data, len);

	/* the same with the sampled pieces zero and random data elsewhere */
	memset(data, 0, len);
	fill_random(data + piece, step - piece, 20);
	chunk_id(codec, data, len, id);
	assert_int_equal(chunk_encode(codec, data, len, id, &obj), 0);
	assert_true(obj.len < len);				/* compressed */
	assert_int_equal(chunk_decode(codec, &obj, id, &out, &why), 0);
	assert_memory_equal(out.data, data, len);

	store_buf_free(&obj);
	store_buf_free(&out);
	chunk_codec_free(codec);
	free(data);
	(void)state;
}

/* Every single-byte change of an object is refused. */
static void check_every_byte_matters(struct chunk_codec *codec, struct store_buf *obj,
				     const char *id)
{
	struct store_buf out = { 0 };
	const char *why;
	size_t i, step = obj->len / 97 + 1;

	for (i = 0; i < obj->len; i += (i < 64 ? 1 : step)) {
		obj->data[i] ^= 0x40;
		why = NULL;
		assert_int_equal(chunk_decode(codec, obj, id, &out, &why), -EBADMSG);
		assert_non_null(why);
		obj->data[i] ^= 0x40;
	}
	obj->len--;
	assert_int_equal(chunk_decode(codec, obj, id, &out, &why), -EBADMSG);
	obj->len++;
	assert_int_equal(chunk_decode(codec, obj, id, &out, &why), 0);
	store_buf_free(&out);
}

static void test_chunk_corruption(void **state)
{
	struct store_buf obj = { 0 }, out = { 0 };
	struct chunk_keys keys;
	struct chunk_codec *codec;
	char id[CHUNK_ID_LEN + 1], other[CHUNK_ID_LEN + 1];
	const char *why;
	uint8_t *data = calloc(1, SLOT);

	chunk_keys_plain(&keys);
	codec = chunk_codec_new(&keys, SLOT);
	memcpy(data, "some text that compresses", 25);
	chunk_id(codec, data, SLOT, id);
	assert_int_equal(chunk_encode(codec, data, SLOT, id, &obj), 0);
	check_every_byte_matters(codec, &obj, id);

	/* a good object under another chunk's name */
	data[0] ^= 1;
	chunk_id(codec, data, SLOT, other);
	assert_int_equal(chunk_decode(codec, &obj, other, &out, &why), -EBADMSG);
	assert_string_equal(why, "content does not match its id");

	store_buf_free(&obj);
	store_buf_free(&out);
	chunk_codec_free(codec);
	free(data);
	(void)state;
}

static void test_chunk_encrypted(void **state)
{
	struct fixture *fx = *state;
	struct store_buf obj = { 0 }, obj2 = { 0 }, out = { 0 };
	struct chunk_keys keys, other, plain;
	struct chunk_codec *codec, *wrong, *nokey;
	char id[CHUNK_ID_LEN + 1], id2[CHUNK_ID_LEN + 1], sha[65];
	const char *why;
	uint8_t *data = calloc(1, SLOT);

	assert_int_equal(chunk_keys_load(fx->key, &keys, &why), 0);
	assert_int_equal(chunk_keys_load(fx->other_key, &other, &why), 0);
	chunk_keys_plain(&plain);
	codec = chunk_codec_new(&keys, SLOT);
	wrong = chunk_codec_new(&other, SLOT);
	nokey = chunk_codec_new(&plain, SLOT);

	memcpy(data, "secret", 6);
	chunk_id(codec, data, SLOT, id);
	sha256_hex(data, SLOT, sha);
	assert_string_not_equal(id, sha);	/* keyed: says nothing of the content */
	chunk_id(wrong, data, SLOT, id2);
	assert_string_not_equal(id, id2);

	assert_int_equal(chunk_encode(codec, data, SLOT, id, &obj), 0);
	assert_int_equal(chunk_encode(codec, data, SLOT, id, &obj2), 0);
	assert_true(obj.len <= SLOT + CHUNK_OVERHEAD);
	/* fresh nonces: the same chunk never encrypts the same way twice */
	assert_true(obj.len != obj2.len || memcmp(obj.data, obj2.data, obj.len));
	assert_null(memmem(obj.data, obj.len, "secret", 6));

	assert_int_equal(chunk_decode(codec, &obj, id, &out, &why), 0);
	assert_memory_equal(out.data, data, SLOT);
	assert_int_equal(chunk_decode(wrong, &obj, id, &out, &why), -EBADMSG);
	assert_int_equal(chunk_decode(nokey, &obj, id, &out, &why), -EBADMSG);
	check_every_byte_matters(codec, &obj, id);

	store_buf_free(&obj);
	store_buf_free(&obj2);
	store_buf_free(&out);
	chunk_codec_free(codec);
	chunk_codec_free(wrong);
	chunk_codec_free(nokey);
	free(data);
}

/* The object in @parts, joined into @obj. */
static void join_parts(const struct chunk_parts *parts, struct store_buf *obj)
{
	unsigned int i;

	obj->len = 0;
	for (i = 0; i < parts->nr; i++) {
		assert_true(obj->len + parts->iov[i].iov_len <= obj->cap);
		memcpy(obj->data + obj->len, parts->iov[i].iov_base, parts->iov[i].iov_len);
		obj->len += parts->iov[i].iov_len;
	}
	assert_int_equal(obj->len, parts->len);
}

/*
 * chunk_encode_parts() makes the objects chunk_encode() makes, without
 * copying a chunk stored raw: unencrypted, byte for byte the same object
 * (raw, compressed, short, big with samples that do not compress); in an
 * encrypted repository, one as long that decodes to the chunk, the raw
 * chunk encrypted where it lies.
 */
static void test_chunk_parts(void **state)
{
	struct fixture *fx = *state;
	const size_t big = 1u << 20, piece = 8u << 10, step = (big - piece) / 3;
	struct store_buf obj = { 0 }, joined = { 0 }, zbuf = { 0 }, out = { 0 };
	struct chunk_parts parts = { 0 };
	struct chunk_keys keys[2];
	struct chunk_codec *codec;
	char id[CHUNK_ID_LEN + 1], want[65], got[65];
	const char *why;
	uint8_t *data = calloc(1, big), *copy = malloc(big);
	size_t lens[4] = { SLOT, SLOT, 1000, big }, i, len;
	int k, c;

	assert_non_null(data);
	assert_non_null(copy);
	joined.data = malloc(big + CHUNK_OVERHEAD);
	joined.cap = big + CHUNK_OVERHEAD;
	chunk_keys_plain(&keys[0]);
	assert_int_equal(chunk_keys_load(fx->key, &keys[1], &why), 0);
	for (k = 0; k < 2; k++) {
		codec = chunk_codec_new(&keys[k], big);
		assert_non_null(codec);
		for (c = 0; c < 4; c++) {
			len = lens[c];
			memset(data, 0, big);
			if (c == 0)
				for (i = 0; i < len; i++)
					data[i] = i % 251;		/* compresses */
			else if (c < 3)
				fill_random(data, len, 30 + c);		/* raw */
			else
				for (i = 0; i < 4; i++)			/* raw, sampled */
					fill_random(data + i * step, piece, 40 + i);
			chunk_id(codec, data, len, id);
			assert_int_equal(chunk_encode(codec, data, len, id, &obj), 0);
			memcpy(copy, data, len);
			assert_int_equal(chunk_encode_parts(codec, copy, len, id, &zbuf, &parts), 0);
			join_parts(&parts, &joined);
			assert_int_equal(joined.len, obj.len);
			if (c) {
				/* stored raw: the chunk's own buffer is the payload */
				assert_ptr_equal(parts.iov[1].iov_base, copy);
				assert_int_equal(parts.iov[1].iov_len, len);
			}
			if (!k) {
				sha256_hex(obj.data, obj.len, want);
				sha256_hex(joined.data, joined.len, got);
				assert_string_equal(got, want);
				assert_memory_equal(copy, data, len);
			} else {
				assert_int_equal(parts.nr, 3);
				assert_memory_equal(joined.data, obj.data, CHUNK_HEADER_BYTES);
				if (c)
					assert_memory_not_equal(copy, data, len);
			}
			assert_int_equal(chunk_decode(codec, &joined, id, &out, &why), 0);
			assert_int_equal(out.len, len);
			assert_memory_equal(out.data, data, len);
		}
		chunk_codec_free(codec);
	}
	store_buf_free(&obj);
	store_buf_free(&joined);
	store_buf_free(&zbuf);
	store_buf_free(&out);
	free(data);
	free(copy);
}

static void test_key_files(void **state)
{
	struct fixture *fx = *state;
	struct chunk_keys raw, hex;
	char path[160], text[80], c1[65], c2[65];
	uint8_t key[32];
	const char *why;
	int i;

	fill_random(key, sizeof(key), 7);	/* the fixture's key */
	for (i = 0; i < 32; i++)
		sprintf(text + 2 * i, "%02x", key[i]);
	strcat(text, "\n");
	snprintf(path, sizeof(path), "%s/hex-key", fx->dir);
	write_file(path, text, strlen(text));
	assert_int_equal(chunk_keys_load(fx->key, &raw, &why), 0);
	assert_int_equal(chunk_keys_load(path, &hex, &why), 0);
	chunk_keys_check(&raw, c1);
	chunk_keys_check(&hex, c2);
	assert_string_equal(c1, c2);

	write_file(path, key, 31);
	assert_int_equal(chunk_keys_load(path, &raw, &why), -EINVAL);
	text[5] = 'x';
	write_file(path, text, strlen(text));
	assert_int_equal(chunk_keys_load(path, &raw, &why), -EINVAL);
	snprintf(path, sizeof(path), "%s/no-such-key", fx->dir);
	assert_int_equal(chunk_keys_load(path, &raw, &why), -ENOENT);
}

/*----------------------------------------------------------------*/

/* An image file of @slots slots, and the list of slots holding data. */
struct image {
	char path[160];
	int fd;
	uint64_t bytes;
	uint8_t *copy;		/* what it holds */
};

static void image_create(struct image *img, const char *dir, const char *name, uint64_t bytes)
{
	memset(img, 0, sizeof(*img));
	snprintf(img->path, sizeof(img->path), "%s/%s", dir, name);
	img->fd = open(img->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(img->fd >= 0);
	assert_int_equal(ftruncate(img->fd, bytes), 0);
	img->bytes = bytes;
	img->copy = calloc(1, bytes);
	assert_non_null(img->copy);
}

static void image_write(struct image *img, uint64_t off, size_t len, unsigned int seed)
{
	fill_random(img->copy + off, len, seed);
	assert_int_equal(pwrite(img->fd, img->copy + off, len, off), (ssize_t)len);
}

static void image_check(const struct image *img, const char *path)
{
	uint8_t *back = malloc(img->bytes);
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, img->bytes, 0), (ssize_t)img->bytes);
	assert_memory_equal(back, img->copy, img->bytes);
	close(fd);
	free(back);
}

static void image_destroy(struct image *img)
{
	close(img->fd);
	free(img->copy);
}

/*
 * The pool, disk and snapshot names, description and tags do_export()
 * gives the next export (then forgets); NULL: plain ones.
 */
static const struct manifest *export_meta;

/*
 * Export @slots of @img, read through @fd, as @name, with @done_reading
 * (export_chunks_then()); returns the transfer statistics.
 */
static struct transfer_stats export_then(struct repo *repo, struct image *img, int fd,
					 const char *name, const uint64_t *slots, size_t nr,
					 const char *base_name, void (*done_reading)(void *arg),
					 void *arg)
{
	struct chunk_codec *codec = chunk_codec_new(&repo->keys, repo->chunk_size);
	struct manifest m = { 0 }, base = { 0 };
	struct transfer_stats stats;
	struct repo_lease *lease = NULL;

	snprintf(m.name, sizeof(m.name), "%s", name);
	strcpy(m.pool, "pool");
	strcpy(m.pool_uuid, "uuid");
	strcpy(m.disk, "disk");
	m.disk_id = 1;
	m.image_bytes = img->bytes;
	m.block_bytes = 4096;
	m.chunk_size = repo->chunk_size;
	if (export_meta) {
		strcpy(m.pool, export_meta->pool);
		strcpy(m.pool_uuid, export_meta->pool_uuid);
		strcpy(m.disk, export_meta->disk);
		strcpy(m.snapshot, export_meta->snapshot);
		assert_int_equal(tag_set_copy(&m.tags, &export_meta->tags), 0);
		assert_int_equal(tag_set_copy(&m.disk_tags, &export_meta->disk_tags), 0);
		export_meta = NULL;
	}
	if (base_name) {
		assert_int_equal(manifest_read(repo, base_name, &base), 0);
		assert_int_equal(manifest_load_entries(repo, codec, &base), 0);
		snprintf(m.base, sizeof(m.base), "%s", base_name);
	}
	assert_int_equal(repo_lease_take(repo, "export", 0, &lease), 0);
	assert_int_equal(repo_mark_pending(repo, name), 0);
	assert_int_equal(export_chunks_then(repo, fd, slots, nr, base_name ? &base : NULL, &m, 3,
					    false, &stats, done_reading, arg), 0);
	assert_int_equal(manifest_write(repo, codec, &m), 0);
	assert_int_equal(repo_clear_pending(repo, name), 0);
	repo_lease_release(lease);
	manifest_free(&m);
	manifest_free(&base);
	chunk_codec_free(codec);
	return stats;
}

/* Export @slots of @img as @name; returns the transfer statistics. */
static struct transfer_stats do_export(struct repo *repo, struct image *img, const char *name,
				       const uint64_t *slots, size_t nr, const char *base_name)
{
	return export_then(repo, img, img->fd, name, slots, nr, base_name, NULL, NULL);
}

static void do_restore(struct repo *repo, const char *name, const struct image *img,
		       const char *dir)
{
	struct chunk_codec *codec = chunk_codec_new(&repo->keys, repo->chunk_size);
	struct transfer_stats stats;
	struct manifest m;
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/restored-%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(manifest_read(repo, name, &m), 0);
	assert_int_equal(m.image_bytes, img->bytes);
	assert_int_equal(ftruncate(fd, m.image_bytes), 0);
	assert_int_equal(manifest_load_entries(repo, codec, &m), 0);
	assert_int_equal(import_chunks(repo, &m, fd, 3, 0, false, &stats), 0);
	assert_int_equal(stats.chunks, m.stored_chunks);
	close(fd);
	image_check(img, path);
	manifest_free(&m);
	chunk_codec_free(codec);
}

static int count_chunk(void *context, const char *key, uint64_t size)
{
	(*(uint64_t *)context)++;
	return 0;
}

static uint64_t chunk_objects(struct repo *repo)
{
	uint64_t n = 0;

	assert_int_equal(store_list(repo->store, "chunks/", count_chunk, &n), 0);
	return n;
}

static void test_full_incremental_gc(void **state)
{
	struct fixture *fx = *state;
	uint64_t all[64], changed[] = { 3, 40 };
	struct chunk_codec *codec;
	struct transfer_stats s;
	struct gc_result gc;
	struct image img;
	struct repo repo;
	uint8_t *v1;
	size_t i;

	assert_int_equal(repo_open(&repo, fx->url, NULL, SLOT, REPO_CREATE), 0);
	image_create(&img, fx->dir, "image", 64 * SLOT - 512);	/* a short last slot */
	image_write(&img, 0, 5 * SLOT, 1);
	image_write(&img, 40 * SLOT + 100, 3000, 2);
	image_write(&img, 63 * SLOT, SLOT - 512, 3);
	for (i = 0; i < 64; i++)
		all[i] = i;

	/* full: every slot read; zero ones stored nowhere */
	s = do_export(&repo, &img, "v1", all, 64, NULL);
	assert_int_equal(s.chunks, 64);
	assert_int_equal(s.zero_chunks, 64 - 7);
	assert_int_equal(s.new_chunks, 7);
	do_restore(&repo, "v1", &img, fx->dir);
	v1 = malloc(img.bytes);
	memcpy(v1, img.copy, img.bytes);

	/* incremental: two slots change, one of them to zeroes */
	image_write(&img, 3 * SLOT + 8192, 4096, 4);
	memset(img.copy + 40 * SLOT, 0, SLOT);
	assert_int_equal(pwrite(img.fd, img.copy + 40 * SLOT, SLOT, 40 * SLOT), SLOT);
	s = do_export(&repo, &img, "v2", changed, 2, "v1");
	assert_int_equal(s.chunks, 2);
	assert_int_equal(s.new_chunks, 1);
	assert_int_equal(s.zero_chunks, 1);
	do_restore(&repo, "v2", &img, fx->dir);

	/* exporting the same image again under another name sends nothing */
	s = do_export(&repo, &img, "v2-again", all, 64, NULL);
	assert_int_equal(s.new_chunks, 0);
	assert_int_equal(s.stored_chunks, 6);

	/* delete v1: only its two chunks no other export has go (and its list) */
	codec = chunk_codec_new(&repo.keys, repo.chunk_size);
	i = chunk_objects(&repo);
	assert_int_equal(repo_delete_export(&repo, "v1"), 0);
	assert_int_equal(repo_gc(&repo, codec, false, &gc), 0);
	assert_int_equal(gc.deleted, 3);
	assert_int_equal(chunk_objects(&repo), i - 3);
	do_restore(&repo, "v2", &img, fx->dir);
	assert_int_equal(manifest_read(&repo, "v1", &(struct manifest){ 0 }), -ENOENT);

	/* a pending export holds GC off */
	assert_int_equal(repo_mark_pending(&repo, "v3"), 0);
	assert_int_equal(repo_gc(&repo, codec, false, &gc), -EBUSY);
	assert_non_null(strstr(repo.error, "v3"));
	assert_int_equal(repo_gc(&repo, codec, true, &gc), 0);
	assert_int_equal(repo_delete_export(&repo, "v3"), 0);

	chunk_codec_free(codec);
	free(v1);
	image_destroy(&img);
	repo_close(&repo);
}

struct reading {
	int fd;			/* the export's descriptor of the image */
	int calls;
	bool other_thread;
	pthread_t main;
};

static void close_image(void *arg)
{
	struct reading *rd = arg;

	rd->calls++;
	rd->other_thread = !pthread_equal(pthread_self(), rd->main);
	close(rd->fd);
	rd->fd = -1;
}

/*
 * export_chunks_then() says once, from the thread that reads, when the
 * image is read: the descriptor closed there (a snapshot's view would be
 * removed) while chunks are still stored, the export is whole; so too
 * when the coders read the slots themselves, and when a read fails.  An
 * export that reads nothing does not call it.
 */
static void test_done_reading(void **state)
{
	struct fixture *fx = *state;
	struct reading rd = { .main = pthread_self() };
	uint64_t all[16];
	struct transfer_stats s;
	struct image img;
	struct repo repo;
	size_t i;

	assert_int_equal(repo_open(&repo, fx->url, NULL, SLOT, REPO_CREATE), 0);
	image_create(&img, fx->dir, "read-once", 16 * SLOT);
	image_write(&img, 0, 6 * SLOT, 50);
	image_write(&img, 11 * SLOT, 2 * SLOT + 4096, 51);
	for (i = 0; i < 16; i++)
		all[i] = i;
	rd.fd = dup(img.fd);
	assert_true(rd.fd >= 0);
	s = export_then(&repo, &img, rd.fd, "read-once", all, 16, NULL, close_image, &rd);
	assert_int_equal(rd.calls, 1);
	assert_true(rd.other_thread);
	assert_int_equal(rd.fd, -1);
	assert_int_equal(s.chunks, 16);
	assert_int_equal(s.new_chunks, 9);
	do_restore(&repo, "read-once", &img, fx->dir);

	/* as many slots as coders or fewer: the coders read them, and say so */
	image_write(&img, 12 * SLOT, 4096, 52);
	rd.calls = 0;
	rd.fd = dup(img.fd);
	assert_true(rd.fd >= 0);
	s = export_then(&repo, &img, rd.fd, "read-by-coders", (uint64_t[]){ 3, 12 }, 2,
			"read-once", close_image, &rd);
	assert_int_equal(rd.calls, 1);
	assert_true(rd.other_thread);
	assert_int_equal(rd.fd, -1);
	assert_int_equal(s.chunks, 2);
	assert_int_equal(s.new_chunks, 1);
	assert_int_equal(s.stored_chunks, 1);
	do_restore(&repo, "read-by-coders", &img, fx->dir);

	/* a read that fails: the export fails, the image is released all the same */
	for (i = 0; i < 2; i++) {
		struct manifest m = { .image_bytes = img.bytes, .chunk_size = SLOT };

		rd.calls = 0;
		rd.fd = open(fx->dir, O_RDONLY | O_DIRECTORY);
		assert_true(rd.fd >= 0);
		assert_int_equal(export_chunks_then(&repo, rd.fd, all, i ? 16 : 2, NULL, &m, 3,
						    false, &s, close_image, &rd), -EISDIR);
		assert_int_equal(rd.calls, 1);
		assert_int_equal(rd.fd, -1);
		assert_non_null(strstr(repo.error, "reading bytes"));
		manifest_free(&m);
	}

	rd.calls = 0;
	s = export_then(&repo, &img, img.fd, "nothing-read", all, 0, "read-by-coders",
			close_image, &rd);
	assert_int_equal(rd.calls, 0);
	assert_int_equal(s.chunks, 0);
	do_restore(&repo, "nothing-read", &img, fx->dir);

	image_destroy(&img);
	repo_close(&repo);
}

static void image_resize(struct image *img, uint64_t bytes)
{
	img->copy = realloc(img->copy, bytes);
	assert_non_null(img->copy);
	if (bytes > img->bytes)
		memset(img->copy + img->bytes, 0, bytes - img->bytes);
	assert_int_equal(ftruncate(img->fd, bytes), 0);
	img->bytes = bytes;
}

/*
 * Incrementals of a disk grown and shrunk since the base: only the slots
 * the diff names are given, yet the restores are byte-equal (the slot
 * whose length changed is read again).
 */
static void test_resized_incremental(void **state)
{
	struct fixture *fx = *state;
	uint64_t all[16], grown[] = { 12 }, changed[] = { 2 };
	struct transfer_stats s;
	struct image img;
	struct repo repo;
	char url[160];
	size_t i;

	snprintf(url, sizeof(url), "%s/resize", fx->url);
	assert_int_equal(repo_open(&repo, url, NULL, SLOT, REPO_CREATE), 0);
	image_create(&img, fx->dir, "resize-image", 10 * SLOT + SLOT / 2);
	for (i = 0; i < 11; i++) {
		all[i] = i;
		image_write(&img, i * SLOT, i == 10 ? SLOT / 2 : SLOT, 100 + i);
	}
	do_export(&repo, &img, "r1", all, 11, NULL);
	do_restore(&repo, "r1", &img, fx->dir);

	/* grown to 13.25 slots; only slot 12 written: slot 10 is now whole */
	image_resize(&img, 13 * SLOT + SLOT / 4);
	image_write(&img, 12 * SLOT, 4096, 200);
	s = do_export(&repo, &img, "r2", grown, 1, "r1");
	assert_int_equal(s.chunks, 2);
	do_restore(&repo, "r2", &img, fx->dir);

	/* grown again, by less than a slot: the short last slot keeps its data */
	image_resize(&img, 13 * SLOT + SLOT / 2);
	s = do_export(&repo, &img, "r3", NULL, 0, "r2");
	assert_int_equal(s.chunks, 1);
	do_restore(&repo, "r3", &img, fx->dir);

	/* shrunk to 7.25 slots; slot 2 written: slot 7 is now short */
	image_resize(&img, 7 * SLOT + SLOT / 4);
	image_write(&img, 2 * SLOT + 512, 512, 300);
	s = do_export(&repo, &img, "r4", changed, 1, "r3");
	assert_int_equal(s.chunks, 2);
	do_restore(&repo, "r4", &img, fx->dir);

	/* shrunk to a slot boundary: nothing to read again */
	image_resize(&img, 5 * SLOT);
	s = do_export(&repo, &img, "r5", NULL, 0, "r4");
	assert_int_equal(s.chunks, 0);
	do_restore(&repo, "r5", &img, fx->dir);

	image_destroy(&img);
	repo_close(&repo);
}

/*
 * A restore resumed into what an interrupted one left (here: half the
 * chunks in place, one slot holding another image's data, one chunk
 * damaged) fetches only what is missing and ends byte-equal.
 */
static void test_import_resume(void **state)
{
	struct fixture *fx = *state;
	struct chunk_codec *codec;
	struct transfer_stats s;
	uint64_t all[24];
	struct image img;
	struct repo repo;
	struct manifest m;
	uint8_t junk[4096];
	char url[160], path[160];
	size_t i;
	int fd;

	snprintf(url, sizeof(url), "%s/resume", fx->url);
	assert_int_equal(repo_open(&repo, url, NULL, SLOT, REPO_CREATE), 0);
	codec = chunk_codec_new(&repo.keys, repo.chunk_size);
	image_create(&img, fx->dir, "resume-image", 24 * SLOT);
	for (i = 0; i < 24; i++) {
		all[i] = i;
		if (i % 3)
			image_write(&img, i * SLOT, SLOT, 500 + i);
	}
	do_export(&repo, &img, "res", all, 24, NULL);
	assert_int_equal(manifest_read(&repo, "res", &m), 0);
	assert_int_equal(manifest_load_entries(&repo, codec, &m), 0);

	/* what a killed restore left: the first half, a stray write, a torn chunk */
	snprintf(path, sizeof(path), "%s/resumed", fx->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, img.bytes), 0);
	assert_int_equal(pwrite(fd, img.copy, 12 * SLOT, 0), 12 * SLOT);
	fill_random(junk, sizeof(junk), 77);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 15 * SLOT + 100), sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 4 * SLOT), sizeof(junk));

	assert_int_equal(import_chunks(&repo, &m, fd, 2, IMPORT_RESUME, false, &s), 0);
	/* slots 1 2 4 5 7 8 10 11 hold data in the first half; 4 is torn */
	assert_int_equal(s.stored_chunks, 7);
	assert_int_equal(s.chunks, m.nr_entries);
	close(fd);
	image_check(&img, path);

	manifest_free(&m);
	chunk_codec_free(codec);
	image_destroy(&img);
	repo_close(&repo);
}

/* Thousands of chunks: the chunk list spans several objects. */
static void test_long_chunk_list(void **state)
{
	struct fixture *fx = *state;
	uint64_t *slots = malloc(3000 * sizeof(*slots));
	struct transfer_stats s;
	struct image img;
	struct repo repo;
	struct manifest m;
	char url[160];
	size_t i;

	snprintf(url, sizeof(url), "%s/long", fx->url);
	assert_int_equal(repo_open(&repo, url, NULL, SLOT, REPO_CREATE), 0);
	image_create(&img, fx->dir, "long-image", 3000ull * SLOT);
	for (i = 0; i < 3000; i++) {
		slots[i] = i;
		image_write(&img, i * SLOT + (i % 7) * 512, 64, i + 1);
	}
	s = do_export(&repo, &img, "long", slots, 3000, NULL);
	assert_int_equal(s.new_chunks, 3000);
	assert_int_equal(manifest_read(&repo, "long", &m), 0);
	assert_true(m.nr_lists >= 3);
	assert_int_equal(m.stored_chunks, 3000);
	manifest_free(&m);
	do_restore(&repo, "long", &img, fx->dir);
	image_destroy(&img);
	repo_close(&repo);
	free(slots);
}

static void test_damaged_manifest(void **state)
{
	struct fixture *fx = *state;
	struct chunk_codec *codec;
	struct store_buf buf = { 0 };
	uint64_t slot = 0;
	struct image img;
	struct repo repo;
	struct manifest m;
	char url[160], *root, saved;

	snprintf(url, sizeof(url), "%s/damaged", fx->url);
	assert_int_equal(repo_open(&repo, url, NULL, SLOT, REPO_CREATE), 0);
	codec = chunk_codec_new(&repo.keys, repo.chunk_size);
	image_create(&img, fx->dir, "small", SLOT);
	image_write(&img, 0, 100, 5);
	do_export(&repo, &img, "x", &slot, 1, NULL);

	assert_int_equal(store_get(repo.store, "exports/x.manifest", &buf), 0);
	/* a changed root checksum */
	root = memmem(buf.data, buf.len, "root=", 5);
	assert_non_null(root);
	saved = root[5];
	root[5] = saved == 'a' ? 'b' : 'a';
	assert_int_equal(store_put(repo.store, "exports/x.manifest", buf.data, buf.len), 0);
	assert_int_equal(manifest_read(&repo, "x", &m), 0);
	assert_int_equal(manifest_load_entries(&repo, codec, &m), -EBADMSG);
	assert_non_null(strstr(repo.error, "root checksum"));
	manifest_free(&m);
	/* a truncated one */
	assert_int_equal(store_put(repo.store, "exports/x.manifest", buf.data, buf.len / 2), 0);
	assert_int_equal(manifest_read(&repo, "x", &m), -EBADMSG);
	assert_non_null(strstr(repo.error, "damaged"));
	/* a missing chunk is named by the restore */
	root[5] = saved;
	assert_int_equal(store_put(repo.store, "exports/x.manifest", buf.data, buf.len), 0);
	assert_int_equal(manifest_read(&repo, "x", &m), 0);
	assert_int_equal(manifest_load_entries(&repo, codec, &m), 0);
	{
		struct transfer_stats s;
		char key[128];

		chunk_key(m.entries[0].id, key, sizeof(key));
		assert_int_equal(store_delete(repo.store, key), 0);
		assert_int_equal(import_chunks(&repo, &m, -1, 2, 0, false, &s), -EBADMSG);
		assert_non_null(strstr(repo.error, m.entries[0].id));
		assert_non_null(strstr(repo.error, "missing"));
	}
	manifest_free(&m);
	store_buf_free(&buf);
	chunk_codec_free(codec);
	image_destroy(&img);
	repo_close(&repo);
}

static void test_encrypted_repository(void **state)
{
	struct fixture *fx = *state;
	struct export_list list;
	struct image img;
	struct repo repo;
	struct manifest m;
	uint64_t slot = 0;
	char url[160];

	snprintf(url, sizeof(url), "%s/encrypted", fx->url);
	assert_int_equal(repo_open(&repo, url, fx->key, SLOT, REPO_CREATE), 0);
	image_create(&img, fx->dir, "secret", SLOT);
	image_write(&img, 0, 4096, 9);
	do_export(&repo, &img, "e", &slot, 1, NULL);
	repo_close(&repo);

	assert_int_equal(repo_open(&repo, url, fx->other_key, 0, 0), -EKEYREJECTED);
	assert_non_null(strstr(repo.error, "wrong key"));
	repo_close(&repo);
	assert_int_equal(repo_open(&repo, url, NULL, 0, 0), -EKEYREJECTED);
	repo_close(&repo);
	/* the names are hidden: listing needs the key */
	assert_int_equal(repo_open(&repo, url, NULL, 0, REPO_KEYLESS), 0);
	assert_int_equal(repo.format, 2);
	assert_int_equal(repo_list_exports(&repo, &list), -EKEYREJECTED);
	assert_non_null(strstr(repo.error, "--key-file"));
	assert_int_equal(manifest_read(&repo, "e", &m), -EKEYREJECTED);
	assert_int_equal(repo_delete_export(&repo, "e"), -EKEYREJECTED);
	repo_close(&repo);
	assert_int_equal(repo_open(&repo, url, fx->key, 0, REPO_KEYLESS), 0);
	assert_int_equal(repo_list_exports(&repo, &list), 0);
	assert_int_equal(list.nr, 1);
	assert_string_equal(list.entries[0].name, "e");
	assert_true(list.entries[0].complete);
	assert_int_equal(manifest_read(&repo, "e", &m), 0);
	assert_int_equal(m.format, MANIFEST_FORMAT_SEALED);
	assert_true(m.authenticated);
	manifest_free(&m);
	export_list_free(&list);
	repo_close(&repo);

	assert_int_equal(repo_open(&repo, url, fx->key, 0, 0), 0);
	do_restore(&repo, "e", &img, fx->dir);
	repo_close(&repo);
	/* a plain repository refuses a key rather than ignoring it */
	assert_int_equal(repo_open(&repo, fx->url, fx->key, 0, 0), -EINVAL);
	repo_close(&repo);
	image_destroy(&img);
}

/* Replace the object @key by @text with @from replaced by @to (once). */
static void put_edited(struct repo *repo, const char *key, const struct store_buf *text,
		       const char *from, const char *to)
{
	char *copy = malloc(text->len + strlen(to) + 1), *at;
	size_t n;

	assert_non_null(copy);
	memcpy(copy, text->data, text->len);
	copy[text->len] = '\0';
	at = strstr(copy, from);
	assert_non_null(at);
	n = at - copy;
	memmove(copy + n + strlen(to), at + strlen(from), text->len - n - strlen(from) + 1);
	memcpy(copy + n, to, strlen(to));
	assert_int_equal(store_put(repo->store, key, copy, strlen(copy)), 0);
	free(copy);
}

/*
 * In an encrypted repository of format 1 (as older versions made them,
 * and as they stay: exports into one keep its format), a manifest swapped
 * for another export's, or edited, is refused by import and verify;
 * format 1 manifests are read in a plain repository and refused in an
 * encrypted one; listing needs no key.
 */
static void test_manifest_authenticated(void **state)
{
	struct fixture *fx = *state;
	struct store_buf a = { 0 }, b = { 0 };
	struct image img;
	struct repo repo;
	struct manifest m;
	uint64_t slot = 0;
	char url[160];

	snprintf(url, sizeof(url), "%s/swap", fx->url);
	assert_int_equal(repo_open(&repo, url, fx->key, SLOT, REPO_CREATE | REPO_FORMAT1), 0);
	assert_int_equal(repo.format, 1);
	image_create(&img, fx->dir, "swap-a", SLOT);
	image_write(&img, 0, 4096, 21);
	do_export(&repo, &img, "a", &slot, 1, NULL);
	repo_close(&repo);
	/* opened again by this version: still format 1, names in the keys */
	assert_int_equal(repo_open(&repo, url, fx->key, 0, REPO_CREATE), 0);
	assert_int_equal(repo.format, 1);
	assert_int_equal(store_get(repo.store, "dmrow-repository", &a), 0);
	assert_memory_equal(a.data, "dm-row-repository 1\n", 20);
	store_buf_free(&a);
	image_write(&img, 0, 4096, 22);
	do_export(&repo, &img, "b", &slot, 1, NULL);
	do_restore(&repo, "b", &img, fx->dir);
	assert_int_equal(manifest_read(&repo, "b", &m), 0);
	assert_int_equal(m.format, 2);
	assert_true(m.authenticated);
	manifest_free(&m);

	assert_int_equal(store_get(repo.store, "exports/a.manifest", &a), 0);
	assert_int_equal(store_get(repo.store, "exports/b.manifest", &b), 0);
	/* a's manifest under b's name, its name line edited to match */
	put_edited(&repo, "exports/b.manifest", &a, "name=a\n", "name=b\n");
	assert_int_equal(manifest_read(&repo, "b", &m), -EBADMSG);
	assert_non_null(strstr(repo.error, "not authenticated"));
	/* copied as it is: the name inside gives it away */
	assert_int_equal(store_put(repo.store, "exports/b.manifest", a.data, a.len), 0);
	assert_int_equal(manifest_read(&repo, "b", &m), -EBADMSG);
	/* the MAC line dropped */
	put_edited(&repo, "exports/b.manifest", &b, "mac=", "xac=");
	assert_int_equal(manifest_read(&repo, "b", &m), -EBADMSG);
	/* an unauthenticated format 1 manifest */
	put_edited(&repo, "exports/b.manifest", &b, "dm-row-export 2", "dm-row-export 1");
	assert_int_equal(manifest_read(&repo, "b", &m), -EBADMSG);
	assert_non_null(strstr(repo.error, "format 1"));
	/* listing without the key still reads it */
	repo_close(&repo);
	assert_int_equal(repo_open(&repo, url, NULL, 0, REPO_KEYLESS), 0);
	{
		struct export_list list;

		assert_int_equal(repo_list_exports(&repo, &list), 0);
		assert_int_equal(list.nr, 2);
		assert_string_equal(list.entries[0].name, "a");
		assert_string_equal(list.entries[1].name, "b");
		export_list_free(&list);
	}
	assert_int_equal(manifest_read(&repo, "b", &m), 0);
	assert_false(m.authenticated);
	manifest_free(&m);
	repo_close(&repo);
	/* the right one back: restorable */
	assert_int_equal(repo_open(&repo, url, fx->key, 0, 0), 0);
	assert_int_equal(store_put(repo.store, "exports/b.manifest", b.data, b.len), 0);
	do_restore(&repo, "b", &img, fx->dir);
	repo_close(&repo);

	/* a plain repository still reads format 1 */
	snprintf(url, sizeof(url), "%s/old-format", fx->url);
	assert_int_equal(repo_open(&repo, url, NULL, SLOT, REPO_CREATE), 0);
	do_export(&repo, &img, "old", &slot, 1, NULL);
	store_buf_free(&a);
	assert_int_equal(store_get(repo.store, "exports/old.manifest", &a), 0);
	assert_null(memmem(a.data, a.len, "mac=", 4));
	put_edited(&repo, "exports/old.manifest", &a, "dm-row-export 2", "dm-row-export 1");
	assert_int_equal(manifest_read(&repo, "old", &m), 0);
	assert_int_equal(m.format, 1);
	manifest_free(&m);
	do_restore(&repo, "old", &img, fx->dir);
	repo_close(&repo);

	store_buf_free(&a);
	store_buf_free(&b);
	image_destroy(&img);
}

/* What an encrypted repository must not show to whoever reads its store. */
static const char *const secrets[] = {
	"payroll-q3", "financepool", "payrolldisk", "quarterclose", "ledger before audit",
	"alice-secret", "accounting server", "centre-4711", "custodian", "costcentre",
};

static char scan_problem[512];
static unsigned int scan_objects;

static int scan_object(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	uint8_t *data;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (strstr(path + ftw->base, secrets[i]) && !scan_problem[0])
			snprintf(scan_problem, sizeof(scan_problem), "%s names '%s'", path,
				 secrets[i]);
	if (type != FTW_F)
		return 0;
	scan_objects++;
	data = malloc(st->st_size + 1);
	assert_non_null(data);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, data, st->st_size), st->st_size);
	close(fd);
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (memmem(data, st->st_size, secrets[i], strlen(secrets[i])) && !scan_problem[0])
			snprintf(scan_problem, sizeof(scan_problem), "%s holds '%s'", path,
				 secrets[i]);
	free(data);
	return 0;
}

/* Every object's key and bytes under @dir: none may hold a secret. */
static void scan_store(const char *dir)
{
	scan_problem[0] = '\0';
	scan_objects = 0;
	assert_int_equal(nftw(dir, scan_object, 16, FTW_PHYS), 0);
	assert_true(scan_objects > 0);
	if (scan_problem[0])
		fail_msg("the store shows what it should hide: %s", scan_problem);
}

/*
 * An encrypted repository shows no export name, pool, disk or snapshot
 * name, description or tag, in any object's key or bytes, through a full
 * and an incremental export, a pending one, restores, verification,
 * listing (with the key), deletion and garbage collection.
 */
static void test_names_hidden(void **state)
{
	struct fixture *fx = *state;
	uint64_t all[4] = { 0, 1, 2, 3 }, changed = 2;
	struct manifest meta = { 0 }, m;
	struct chunk_codec *codec;
	struct export_list list;
	struct transfer_stats s;
	struct gc_result gc;
	struct image img;
	struct repo repo;
	char url[160], dir[160];

	snprintf(url, sizeof(url), "%s/hidden", fx->url);
	snprintf(dir, sizeof(dir), "%s/repo/hidden", fx->dir);
	strcpy(meta.pool, "financepool");
	strcpy(meta.pool_uuid, "174ffe4b-42e7-1cc2-cca2-6cab98058e20");
	strcpy(meta.disk, "payrolldisk");
	strcpy(meta.snapshot, "quarterclose");
	assert_int_equal(tag_set_describe(&meta.tags, "ledger before audit"), 0);
	assert_int_equal(tag_set_put(&meta.tags, "custodian", "alice-secret"), 0);
	assert_int_equal(tag_set_describe(&meta.disk_tags, "accounting server"), 0);
	assert_int_equal(tag_set_put(&meta.disk_tags, "costcentre", "centre-4711"), 0);

	assert_int_equal(repo_open(&repo, url, fx->key, SLOT, REPO_CREATE), 0);
	assert_int_equal(repo.format, 2);
	image_create(&img, fx->dir, "hidden", 4 * SLOT);
	image_write(&img, 0, 4 * SLOT, 61);
	export_meta = &meta;
	do_export(&repo, &img, "payroll-q3.1", all, 4, NULL);
	image_write(&img, 2 * SLOT, 4096, 62);
	export_meta = &meta;
	do_export(&repo, &img, "payroll-q3.2", &changed, 1, "payroll-q3.1");
	assert_int_equal(repo_mark_pending(&repo, "payroll-q3.3"), 0);
	scan_store(dir);

	/* with the key: listed by name, metadata intact, restorable, verified */
	assert_int_equal(repo_list_exports(&repo, &list), 0);
	assert_int_equal(list.nr, 3);
	assert_string_equal(list.entries[0].name, "payroll-q3.1");
	assert_true(list.entries[0].complete);
	assert_string_equal(list.entries[1].name, "payroll-q3.2");
	assert_string_equal(list.entries[2].name, "payroll-q3.3");
	assert_false(list.entries[2].complete);
	assert_true(list.entries[2].pending);
	export_list_free(&list);
	assert_int_equal(repo_clear_pending(&repo, "payroll-q3.3"), 0);
	assert_int_equal(manifest_read(&repo, "payroll-q3.2", &m), 0);
	assert_string_equal(m.disk, "payrolldisk");
	assert_string_equal(m.base, "payroll-q3.1");
	assert_string_equal(m.tags.description, "ledger before audit");
	assert_string_equal(tag_set_get(&m.disk_tags, "costcentre"), "centre-4711");
	codec = chunk_codec_new(&repo.keys, repo.chunk_size);
	assert_int_equal(manifest_load_entries(&repo, codec, &m), 0);
	assert_int_equal(import_chunks(&repo, &m, -1, 2, 0, false, &s), 0);	/* verify */
	manifest_free(&m);
	do_restore(&repo, "payroll-q3.2", &img, fx->dir);

	/* delete the full export: the incremental one stays restorable */
	assert_int_equal(repo_delete_export(&repo, "payroll-q3.1"), 0);
	assert_int_equal(repo_gc(&repo, codec, false, &gc), 0);
	assert_true(gc.deleted >= 1);
	assert_int_equal(manifest_read(&repo, "payroll-q3.1", &m), -ENOENT);
	do_restore(&repo, "payroll-q3.2", &img, fx->dir);
	assert_int_equal(repo_list_exports(&repo, &list), 0);
	assert_int_equal(list.nr, 1);
	assert_string_equal(list.entries[0].name, "payroll-q3.2");
	export_list_free(&list);
	scan_store(dir);
	chunk_codec_free(codec);
	repo_close(&repo);

	/* the whole cycle again in a plain repository shows them: the scan works */
	snprintf(url, sizeof(url), "%s/shown", fx->url);
	snprintf(dir, sizeof(dir), "%s/repo/shown", fx->dir);
	assert_int_equal(repo_open(&repo, url, NULL, SLOT, REPO_CREATE), 0);
	export_meta = &meta;
	do_export(&repo, &img, "payroll-q3.1", all, 4, NULL);
	repo_close(&repo);
	scan_problem[0] = '\0';
	assert_int_equal(nftw(dir, scan_object, 16, FTW_PHYS), 0);
	assert_true(scan_problem[0]);

	manifest_free(&meta);
	image_destroy(&img);
}

/*
 * In a repository of format 2 the manifests are sealed, each bound to its
 * export's keyed name: one put in place of another's, a plain one, or a
 * damaged one is refused (so import and verify refuse it) and makes a
 * listing fail; the right one put back restores.
 */
static void test_sealed_manifest_swapped(void **state)
{
	struct fixture *fx = *state;
	struct store_buf a = { 0 }, b = { 0 };
	char url[160], key_a[160], key_b[160], id[CHUNK_ID_LEN + 1];
	const char *plain = "dm-row-export 2\nname=b\nroot=0000000000000000000000000000000000000000000000000000000000000000\nimage_bytes=65536\nchunk_size=65536\nend\n";
	struct export_list list;
	struct image img;
	struct repo repo;
	struct manifest m;
	uint64_t slot = 0;

	snprintf(url, sizeof(url), "%s/sealed", fx->url);
	assert_int_equal(repo_open(&repo, url, fx->key, SLOT, REPO_CREATE), 0);
	image_create(&img, fx->dir, "sealed", SLOT);
	image_write(&img, 0, 4096, 71);
	do_export(&repo, &img, "a", &slot, 1, NULL);
	image_write(&img, 0, 4096, 72);
	do_export(&repo, &img, "b", &slot, 1, NULL);
	chunk_keys_name_id(&repo.keys, "a", id);
	snprintf(key_a, sizeof(key_a), "exports/%s.manifest", id);
	chunk_keys_name_id(&repo.keys, "b", id);
	snprintf(key_b, sizeof(key_b), "exports/%s.manifest", id);
	assert_int_equal(store_get(repo.store, key_a, &a), 0);
	assert_int_equal(store_get(repo.store, key_b, &b), 0);

	/* a's manifest under b's name */
	assert_int_equal(store_put(repo.store, key_b, a.data, a.len), 0);
	assert_int_equal(manifest_read(&repo, "b", &m), -EBADMSG);
	assert_non_null(strstr(repo.error, "not authenticated"));
	assert_int_equal(repo_list_exports(&repo, &list), -EBADMSG);
	assert_non_null(strstr(repo.error, "not authenticated"));
	/* a plain (format 2) manifest */
	assert_int_equal(store_put(repo.store, key_b, plain, strlen(plain)), 0);
	assert_int_equal(manifest_read(&repo, "b", &m), -EBADMSG);
	/* one bit of b's own flipped */
	b.data[b.len / 2] ^= 1;
	assert_int_equal(store_put(repo.store, key_b, b.data, b.len), 0);
	assert_int_equal(manifest_read(&repo, "b", &m), -EBADMSG);
	b.data[b.len / 2] ^= 1;
	/* put back */
	repo_close(&repo);
	assert_int_equal(repo_open(&repo, url, fx->key, 0, 0), 0);
	assert_int_equal(store_put(repo.store, key_b, b.data, b.len), 0);
	do_restore(&repo, "b", &img, fx->dir);
	repo_close(&repo);

	store_buf_free(&a);
	store_buf_free(&b);
	image_destroy(&img);
}

/*
 * gc and delete racing exports: each round exports an image as "old-<n>",
 * then at once exports the same image as "new-<n>" (every chunk already
 * stored: none is sent) while another thread deletes "old-<n>" and
 * collects.  Leases make one wait for or give way to the other, so
 * "new-<n>" always restores; without them gc deletes the chunks the new
 * export counted as stored.
 */
struct racer {
	const char *url;
	char name[32];
	int deleted, busy;
};

static void *race_delete(void *arg)
{
	struct racer *rc = arg;
	struct chunk_codec *codec;
	struct repo_lease *lease;
	struct gc_result gc;
	struct repo repo;
	int r;

	if (repo_open(&repo, rc->url, NULL, 0, 0))
		return NULL;
	codec = chunk_codec_new(&repo.keys, repo.chunk_size);
	for (;;) {
		/* what snapctl export delete does */
		r = repo_lease_take(&repo, "gc", 0, &lease);
		if (!r) {
			r = repo_delete_export(&repo, rc->name);
			if (!r)
				r = repo_gc_leased(&repo, codec, true, 0, lease, &gc);
			repo_lease_release(lease);
		}
		if (r != -EBUSY)
			break;
		rc->busy++;
		usleep(1000);
	}
	rc->deleted = r == 0;
	chunk_codec_free(codec);
	repo_close(&repo);
	return NULL;
}

static void test_gc_races_export(void **state)
{
	struct fixture *fx = *state;
	uint64_t slots[32];
	struct racer rc = { 0 };
	struct transfer_stats s;
	struct image img;
	struct repo repo;
	char url[160], name[32];
	pthread_t thread;
	int round, busy = 0;
	size_t i;

	snprintf(url, sizeof(url), "%s/race", fx->url);
	rc.url = url;
	assert_int_equal(repo_open(&repo, url, NULL, SLOT, REPO_CREATE), 0);
	image_create(&img, fx->dir, "race-image", 32 * SLOT);
	for (i = 0; i < 32; i++)
		slots[i] = i;
	for (round = 0; round < 40; round++) {
		image_write(&img, 0, 32 * SLOT, 1000 + round);
		snprintf(rc.name, sizeof(rc.name), "old-%d", round);
		do_export(&repo, &img, rc.name, slots, 32, NULL);
		rc.busy = 0;
		assert_int_equal(pthread_create(&thread, NULL, race_delete, &rc), 0);
		snprintf(name, sizeof(name), "new-%d", round);
		s = do_export(&repo, &img, name, slots, 32, NULL);
		pthread_join(thread, NULL);
		assert_true(rc.deleted);
		busy += rc.busy;
		(void)s;
		{
			struct chunk_codec *codec = chunk_codec_new(&repo.keys, repo.chunk_size);
			struct transfer_stats v;
			struct manifest m;

			assert_int_equal(manifest_read(&repo, name, &m), 0);
			assert_int_equal(manifest_load_entries(&repo, codec, &m), 0);
			if (import_chunks(&repo, &m, -1, 2, 0, false, &v))
				fail_msg("round %d: %s", round, repo.error);
			manifest_free(&m);
			chunk_codec_free(codec);
		}
	}
	print_message("gc gave way to an export %d times in 40 rounds\n", busy);
	do_restore(&repo, "new-39", &img, fx->dir);
	image_destroy(&img);
	repo_close(&repo);
}

/* A live export lease holds gc off and is named; an expired one does not. */
static void test_lease_refusals(void **state)
{
	struct fixture *fx = *state;
	struct chunk_codec *codec;
	struct repo_lease *lease;
	struct gc_result gc;
	struct repo repo;
	char url[160], text[160];
	int n;

	snprintf(url, sizeof(url), "%s/leases", fx->url);
	assert_int_equal(repo_open(&repo, url, NULL, SLOT, REPO_CREATE), 0);
	codec = chunk_codec_new(&repo.keys, repo.chunk_size);

	n = snprintf(text, sizeof(text), "dm-row-lease 1\nkind=export\nowner=export elsewhere pid 7\nexpires=%lld\nend\n",
		     (long long)time(NULL) + 600);
	assert_int_equal(store_put(repo.store, "leases/export-0123456789abcdef", text, n), 0);
	assert_int_equal(repo_gc(&repo, codec, false, &gc), -EBUSY);
	assert_non_null(strstr(repo.error, "export elsewhere pid 7"));
	assert_int_equal(repo_gc(&repo, codec, true, &gc), -EBUSY);	/* --force is no way round */
	/* nor is a gc lease taken first: it gives way */
	assert_int_equal(repo_lease_take(&repo, "gc", 0, &lease), -EBUSY);
	/* an export is not held off by another export */
	assert_int_equal(repo_lease_take(&repo, "export", 0, &lease), 0);
	repo_lease_release(lease);

	/* the holder was killed: once its lease expired, gc runs */
	n = snprintf(text, sizeof(text), "dm-row-lease 1\nkind=export\nowner=export elsewhere pid 7\nexpires=%lld\nend\n",
		     (long long)time(NULL) - 1);
	assert_int_equal(store_put(repo.store, "leases/export-0123456789abcdef", text, n), 0);
	assert_int_equal(repo_gc(&repo, codec, false, &gc), 0);
	/* a gc's own lease is gone when it ends */
	assert_int_equal(repo_lease_take(&repo, "export", 0, &lease), 0);
	repo_lease_release(lease);
	{
		uint64_t leases = 0;

		assert_int_equal(store_list(repo.store, "leases/", count_chunk, &leases), 0);
		assert_int_equal(leases, 1);	/* only the expired one written above */
	}
	chunk_codec_free(codec);
	repo_close(&repo);
}

/*
 * A lease outlives its first expiry while its holder runs: with 3-second
 * leases, an export lease taken 5 seconds ago still holds gc off, and
 * gc runs once it is released.  Without the renewal it would have
 * expired and gc deleted what the export counts on.
 */
static void test_lease_renewed(void **state)
{
	struct fixture *fx = *state;
	struct chunk_codec *codec;
	struct repo_lease *lease;
	struct gc_result gc;
	struct repo repo;
	char url[160];

	snprintf(url, sizeof(url), "%s/renewed", fx->url);
	assert_int_equal(setenv("SNAPCTL_LEASE_SECONDS", "3", 1), 0);
	assert_int_equal(repo_open(&repo, url, NULL, SLOT, REPO_CREATE), 0);
	codec = chunk_codec_new(&repo.keys, repo.chunk_size);
	assert_int_equal(repo_lease_take(&repo, "export", 0, &lease), 0);
	sleep(5);
	assert_true(repo_lease_valid(lease));
	assert_int_equal(repo_gc(&repo, codec, false, &gc), -EBUSY);
	assert_non_null(strstr(repo.error, "an export is under way"));
	repo_lease_release(lease);
	assert_int_equal(repo_gc(&repo, codec, false, &gc), 0);
	unsetenv("SNAPCTL_LEASE_SECONDS");
	chunk_codec_free(codec);
	repo_close(&repo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_plain_roundtrip),
		cmocka_unit_test(test_chunk_sampled),
		cmocka_unit_test(test_chunk_corruption),
		cmocka_unit_test(test_chunk_encrypted),
		cmocka_unit_test(test_chunk_parts),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_full_incremental_gc),
		cmocka_unit_test(test_done_reading),
		cmocka_unit_test(test_resized_incremental),
		cmocka_unit_test(test_import_resume),
		cmocka_unit_test(test_long_chunk_list),
		cmocka_unit_test(test_damaged_manifest),
		cmocka_unit_test(test_encrypted_repository),
		cmocka_unit_test(test_manifest_authenticated),
		cmocka_unit_test(test_names_hidden),
		cmocka_unit_test(test_sealed_manifest_swapped),
		cmocka_unit_test(test_gc_races_export),
		cmocka_unit_test(test_lease_refusals),
		cmocka_unit_test(test_lease_renewed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
