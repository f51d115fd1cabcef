/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the object stores (store.h): what store.c shares with the backends
 * store-file.c and store-s3.c.  Not for users of stores.
 *
 * store.c checks keys and list prefixes, counts puts and gets, and calls
 * the backend through its struct store_ops; a backend keeps its state in
 * s->priv, records failures with store_set_error() and counts its retries
 * in s->stats.retries.
 */
#ifndef DMROW_EXPORT_STORE_BACKEND_H
#define DMROW_EXPORT_STORE_BACKEND_H

#include "store.h"

typedef int (*store_list_fn)(void *context, const char *key, uint64_t size);

struct store_ops {
	const char *name;
	/* The object is the @nr (at most STORE_PARTS_MAX) @parts, @len bytes in all. */
	int (*put)(struct store *s, const char *key, const struct iovec *parts, unsigned int nr,
		   size_t len);
	/*
	 * @out is empty on entry; on failure its contents do not matter.  An
	 * object of more than @max bytes fails with -EFBIG and never occupies
	 * more than about @max bytes of memory.
	 */
	int (*get)(struct store *s, const char *key, struct store_buf *out, size_t max);
	int (*exists)(struct store *s, const char *key);
	int (*del)(struct store *s, const char *key);
	int (*list)(struct store *s, const char *prefix, store_list_fn fn, void *context);
	void (*close)(struct store *s);
};

/* S3 limits keys to 1024 bytes; the same limit keeps both backends alike. */
#define STORE_KEY_MAX 1024
#define STORE_ERROR_MAX 512

struct store {
	const struct store_ops *ops;
	void *priv;
	char *url;
	struct store_stats stats;
	char error[STORE_ERROR_MAX];
};

void store_set_error(struct store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Make the capacity of @buf at least @cap bytes. */
int store_buf_reserve(struct store_buf *buf, size_t cap);
/* Append @len bytes, keeping a '\0' after the data (not counted in len). */
int store_buf_append(struct store_buf *buf, const void *data, size_t len);

/*
 * Backend constructors: set s->ops and s->priv, or return a negative errno
 * and point *why at a static explanation.  @where is the URL after the
 * scheme: a directory path, or "bucket[/prefix]".
 */
int store_file_open(struct store *s, const char *where, const char **why);
int store_s3_open(struct store *s, const char *where, const char **why);

#endif /* DMROW_EXPORT_STORE_BACKEND_H */
