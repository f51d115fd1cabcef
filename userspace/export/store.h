/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Object stores that exports live in (Documentation/export-format.rst).
 *
 * A store is a flat namespace of keys ("chunks/ab/ab12...", "exports/x.manifest")
 * holding immutable objects.  Two backends:
 *
 *   file:///srv/backups/vm1   or a plain path    a directory tree; an object is
 *                                                a file written to a temporary
 *                                                name, fsynced and renamed, so
 *                                                it is there whole or not at all
 *   s3://bucket/prefix                           any S3-compatible service, path-
 *                                                style requests signed with SigV4
 *
 * S3 settings come from the environment, which overrides the optional file
 * named by SNAPCTL_S3_CONFIG (default /etc/dm-row/s3.conf, "key = value"
 * lines, '#' comments):
 *
 *   environment               file key            default
 *   AWS_ENDPOINT_URL          endpoint            https://s3.<region>.amazonaws.com
 *   AWS_REGION (or AWS_DEFAULT_REGION) region     us-east-1
 *   AWS_ACCESS_KEY_ID         access_key_id       (required)
 *   AWS_SECRET_ACCESS_KEY     secret_access_key   (required)
 *   SNAPCTL_S3_RETRIES        retries             6
 *
 * Network errors, 5xx and 429 answers are retried with exponential backoff
 * (100 ms doubling, at most 5 s between attempts).  Errors are negative
 * errnos: -ENOENT for a missing object, -EACCES for refused credentials or
 * signatures (403), -EIO for anything else that did not succeed after the
 * retries; store_error() gives a one-line explanation of the last failure.
 *
 * A struct store is used by one thread at a time; parallel transfers open
 * one store per thread (each S3 store keeps its own connection).
 * curl_global_init() must have been called (store_global_init()) before
 * the first S3 store is opened.
 */
#ifndef DMROW_EXPORT_STORE_H
#define DMROW_EXPORT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct store;

struct store_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void store_buf_free(struct store_buf *buf);

/* Once per process, before any thread starts; store_global_exit() at the end. */
int store_global_init(void);
void store_global_exit(void);

/*
 * Open the store named by @url.  On failure returns NULL and, if @why is
 * not NULL, points it at a static explanation ("unknown URL scheme", "S3
 * credentials missing: set AWS_ACCESS_KEY_ID ...").
 */
struct store *store_open(const char *url, const char **why);
void store_close(struct store *s);

/* The URL the store was opened with, for messages. */
const char *store_url(const struct store *s);

/* Create or replace the object @key with @len bytes of @data. */
int store_put(struct store *s, const char *key, const void *data, size_t len);
/*
 * store_put() of the object made of @nr (at most STORE_PARTS_MAX) parts
 * one after the other: a chunk's header and its data, stored as they lie
 * without being copied together first.
 */
#define STORE_PARTS_MAX 4
int store_putv(struct store *s, const char *key, const struct iovec *parts, unsigned int nr);
/*
 * Read the whole object @key into @out (reset first).  An object larger
 * than @max bytes is refused with -EFBIG before more than @max bytes of it
 * are held in memory: a damaged or hostile store cannot exhaust memory.
 * store_get() caps at STORE_GET_MAX, enough for the largest chunk.
 */
#define STORE_GET_MAX ((64u << 20) + (64u << 10))
int store_get_max(struct store *s, const char *key, struct store_buf *out, size_t max);
int store_get(struct store *s, const char *key, struct store_buf *out);
/* 0 if @key exists, -ENOENT if not, another negative errno on failure. */
int store_exists(struct store *s, const char *key);
/* Delete @key; deleting a missing key is not an error. */
int store_delete(struct store *s, const char *key);

/*
 * Call @fn for every key starting with @prefix, in no particular order.
 * A nonzero return from @fn stops the walk and is returned.  A key the
 * backend lists that does not start with @prefix (a hostile or broken
 * server) is skipped with a warning on stderr, never passed to @fn.
 */
int store_list(struct store *s, const char *prefix,
	       int (*fn)(void *context, const char *key, uint64_t size), void *context);

/* The last failure on @s, one line ("HTTP 403 SignatureDoesNotMatch on PUT chunks/..."). */
const char *store_error(const struct store *s);

/* Statistics since the store was opened. */
struct store_stats {
	uint64_t puts;
	uint64_t put_bytes;
	uint64_t gets;
	uint64_t get_bytes;
	uint64_t retries;
	uint64_t skipped_keys;		/* listed outside the asked prefix */
};
void store_get_stats(const struct store *s, struct store_stats *stats);

#endif /* DMROW_EXPORT_STORE_H */
