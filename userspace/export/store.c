// SPDX-License-Identifier: GPL-2.0
/*
 * Object stores: URL dispatch, key checks and statistics; the backends are
 * store-file.c and store-s3.c.  See store.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "store-backend.h"

void store_buf_free(struct store_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
}

int store_buf_reserve(struct store_buf *buf, size_t cap)
{
	size_t want = buf->cap ? buf->cap : 4096;
	uint8_t *data;

	if (cap <= buf->cap)
		return 0;
	while (want < cap) {
		if (want > SIZE_MAX / 2)
			return -ENOMEM;
		want *= 2;
	}
	data = realloc(buf->data, want);
	if (!data)
		return -ENOMEM;
	buf->data = data;
	buf->cap = want;
	return 0;
}

int store_buf_append(struct store_buf *buf, const void *data, size_t len)
{
	int ret;

	if (len >= SIZE_MAX - buf->len)
		return -ENOMEM;
	ret = store_buf_reserve(buf, buf->len + len + 1);
	if (ret)
		return ret;
	if (len)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return 0;
}

/*
 * S3 transfers run with CURLOPT_NOSIGNAL (curl's own SIGPIPE juggling is
 * process-wide and races between threads), so a peer closing a TLS
 * connection could raise SIGPIPE: ignore it, once, before threads start.
 */
int store_global_init(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void store_global_exit(void)
{
	curl_global_cleanup();
}

void store_set_error(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
}

/*
 * Keys are relative slash-separated names: no empty, "." or ".."
 * component, no control character.  The file backend turns them into
 * paths, so this is what keeps it inside its directory.
 */
static int key_valid(const char *key)
{
	const char *p, *c;
	size_t n;

	if (!key || !*key || strlen(key) >= STORE_KEY_MAX)
		return 0;
	for (p = key; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	for (c = key; ; c += n + 1) {
		n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (!c[n])
			return 1;
	}
}

static int check_key(struct store *s, const char *op, const char *key)
{
	if (key_valid(key))
		return 0;
	store_set_error(s, "%s: invalid key \"%s\"", op, key ? key : "(null)");
	return -EINVAL;
}

/* "file:///abs/path", a plain path, or "s3://bucket[/prefix]". */
static int open_backend(struct store *s, const char *url, const char **why)
{
	size_t scheme = strspn(url, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

	if (!scheme || strncmp(url + scheme, "://", 3))
		return store_file_open(s, url, why);
	if (!strncmp(url, "file://", 7)) {
		if (url[7] != '/') {
			*why = "a file:// URL needs an absolute path (file:///dir)";
			return -EINVAL;
		}
		return store_file_open(s, url + 7, why);
	}
	if (!strncmp(url, "s3://", 5))
		return store_s3_open(s, url + 5, why);
	*why = "unknown URL scheme (use file:///path, a path or s3://bucket/prefix)";
	return -EINVAL;
}

struct store *store_open(const char *url, const char **why)
{
	const char *dummy;
	struct store *s;

	if (!why)
		why = &dummy;
	if (!url || !*url) {
		*why = "empty store URL";
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->url = strdup(url))) {
		free(s);
		*why = "out of memory";
		return NULL;
	}
	snprintf(s->error, sizeof(s->error), "no error");
	if (open_backend(s, url, why)) {
		free(s->url);
		free(s);
		return NULL;
	}
	return s;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s->url);
	free(s);
}

const char *store_url(const struct store *s)
{
	return s->url;
}

int store_putv(struct store *s, const char *key, const struct iovec *parts, unsigned int nr)
{
	int ret = check_key(s, "PUT", key);
	size_t len = 0;
	unsigned int i;

	if (ret)
		return ret;
	if (nr > STORE_PARTS_MAX) {
		store_set_error(s, "PUT %s: more than %d parts", key, STORE_PARTS_MAX);
		return -EINVAL;
	}
	for (i = 0; i < nr; i++) {
		if (parts[i].iov_len > SIZE_MAX - len) {
			store_set_error(s, "PUT %s: too large", key);
			return -EINVAL;
		}
		len += parts[i].iov_len;
	}
	ret = s->ops->put(s, key, parts, nr, len);
	if (!ret) {
		s->stats.puts++;
		s->stats.put_bytes += len;
	}
	return ret;
}

int store_put(struct store *s, const char *key, const void *data, size_t len)
{
	struct iovec part = { .iov_base = (void *)data, .iov_len = len };

	return store_putv(s, key, &part, 1);
}

int store_get_max(struct store *s, const char *key, struct store_buf *out, size_t max)
{
	int ret;

	out->len = 0;
	ret = check_key(s, "GET", key);
	if (ret)
		return ret;
	ret = s->ops->get(s, key, out, max);
	if (!ret && out->len > max) {
		store_set_error(s, "GET %s: the object is larger than %zu bytes: refused", key, max);
		ret = -EFBIG;
	}
	if (ret) {
		out->len = 0;
		return ret;
	}
	s->stats.gets++;
	s->stats.get_bytes += out->len;
	return 0;
}

int store_get(struct store *s, const char *key, struct store_buf *out)
{
	return store_get_max(s, key, out, STORE_GET_MAX);
}

int store_exists(struct store *s, const char *key)
{
	int ret = check_key(s, "HEAD", key);

	return ret ? ret : s->ops->exists(s, key);
}

int store_delete(struct store *s, const char *key)
{
	int ret = check_key(s, "DELETE", key);

	return ret ? ret : s->ops->del(s, key);
}

struct list_filter {
	struct store *s;
	const char *prefix;
	size_t prefix_len;
	store_list_fn fn;
	void *context;
};

/* Only keys under the prefix reach the caller; a server may list anything. */
static int list_filtered(void *context, const char *key, uint64_t size)
{
	struct list_filter *f = context;

	if (strncmp(key, f->prefix, f->prefix_len) || !key_valid(key)) {
		if (!f->s->stats.skipped_keys++)
			fprintf(stderr, "snapctl: warning: %s listed the key \"%.100s\" outside \"%s\" (or not a valid key): skipped\n",
				f->s->url, key, f->prefix);
		return 0;
	}
	return f->fn(f->context, key, size);
}

int store_list(struct store *s, const char *prefix,
	       int (*fn)(void *context, const char *key, uint64_t size), void *context)
{
	struct list_filter f = { s, prefix, 0, fn, context };
	const char *p;

	if (!prefix)
		prefix = "";
	for (p = prefix; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			store_set_error(s, "LIST: invalid prefix");
			return -EINVAL;
		}
	}
	f.prefix = prefix;
	f.prefix_len = strlen(prefix);
	return s->ops->list(s, prefix, list_filtered, &f);
}

const char *store_error(const struct store *s)
{
	return s->error;
}

void store_get_stats(const struct store *s, struct store_stats *stats)
{
	*stats = s->stats;
}
