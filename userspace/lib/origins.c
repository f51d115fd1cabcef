// SPDX-License-Identifier: GPL-2.0
/*
 * The store of disks' external origins; see origins.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "chunk.h"
#include "config.h"
#include "origins.h"
#include "statefile.h"

/* CRC-32C of the metadata core's userspace build (userspace/compat/crc32c.c). */
uint32_t crc32c(uint32_t crc, const void *address, unsigned int length);

#define STORE_MAGIC "dm-row-origins 1"
#define STORE_MAX_BYTES (16u << 20)

static void __attribute__((format(printf, 3, 4)))
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

bool origin_valid(const struct origin *o)
{
	if (o->device[0])
		return !o->url[0] && !o->export_name[0] && !o->key_file[0] && !o->root[0] &&
		       strnlen(o->device, sizeof(o->device)) < sizeof(o->device);
	return o->url[0] && o->export_name[0] && (!o->root[0] || chunk_id_valid(o->root)) &&
	       strnlen(o->url, sizeof(o->url)) < sizeof(o->url) &&
	       strnlen(o->export_name, sizeof(o->export_name)) < sizeof(o->export_name) &&
	       strnlen(o->key_file, sizeof(o->key_file)) < sizeof(o->key_file);
}

void origin_store_free(struct origin_store *s)
{
	free(s->entries);
	memset(s, 0, sizeof(*s));
}

/*----------------------------------------------------------------
 * Text
 *--------------------------------------------------------------*/

/* Append @value %-encoded to @f. */
static void put_encoded(FILE *f, const char *value)
{
	const unsigned char *p;

	for (p = (const unsigned char *)value; *p; p++)
		if (*p > 0x20 && *p < 0x7f && *p != '%')
			fputc(*p, f);
		else
			fprintf(f, "%%%02x", *p);
}

int origin_store_format(const struct origin_store *s, char **text, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	unsigned int i;
	FILE *f = open_memstream(&buf, &n);

	if (!f)
		return -ENOMEM;
	fputs(STORE_MAGIC "\n", f);
	for (i = 0; i < s->nr; i++) {
		const struct origin *o = &s->entries[i];

		fprintf(f, "disk id=%" PRIu64 " created=%" PRIu64, o->disk_id, o->created);
		if (!origin_is_export(o)) {
			fputs(" device=", f);
			put_encoded(f, o->device);
		} else {
			fputs(" url=", f);
			put_encoded(f, o->url);
			fputs(" export=", f);
			put_encoded(f, o->export_name);
			if (o->key_file[0]) {
				fputs(" key_file=", f);
				put_encoded(f, o->key_file);
			}
			if (o->root[0])
				fprintf(f, " root=%s", o->root);
		}
		if (o->hydrate)
			fprintf(f, " rate=%" PRIu64 "\n", o->rate);
		else
			fputs(" rate=-\n", f);
	}
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	f = open_memstream(text, len);
	if (!f) {
		free(buf);
		return -ENOMEM;
	}
	fprintf(f, "%scrc32c=%08" PRIx32 "\n", buf, crc32c(~0u, buf, n) ^ ~0u);
	free(buf);
	return fclose(f) ? -ENOMEM : 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* %-decode @s into @out (@len bytes): -EINVAL if malformed or too long. */
static int decode_into(const char *s, char *out, size_t len)
{
	size_t n = 0;

	for (; *s; s++) {
		char c = *s;

		if (c == '%') {
			if (hex_digit(s[1]) < 0 || hex_digit(s[2]) < 0)
				return -EINVAL;
			c = (char)(hex_digit(s[1]) << 4 | hex_digit(s[2]));
			if (!c)
				return -EINVAL;
			s += 2;
		}
		if (n + 1 >= len)
			return -EINVAL;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

static int parse_number(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		n = n * 10 + (*s - '0');
	}
	*v = n;
	return 0;
}

/* One "disk ..." line into @o: 0 or -EINVAL. */
static int parse_entry(char *line, struct origin *o)
{
	bool have_id = false, have_created = false, have_rate = false;
	char *word;
	int r = 0;

	memset(o, 0, sizeof(*o));
	if (strncmp(line, "disk ", 5))
		return -EINVAL;
	line += 5;
	while (!r && line && (word = strsep(&line, " "))) {
		char *eq = strchr(word, '=');

		if (!eq)
			return -EINVAL;
		*eq++ = '\0';
		if (!strcmp(word, "id")) {
			r = have_id ? -EINVAL : parse_number(eq, &o->disk_id);
			have_id = true;
		} else if (!strcmp(word, "created")) {
			r = have_created ? -EINVAL : parse_number(eq, &o->created);
			have_created = true;
		} else if (!strcmp(word, "rate")) {
			o->hydrate = strcmp(eq, "-");
			r = have_rate ? -EINVAL : o->hydrate ? parse_number(eq, &o->rate) : 0;
			have_rate = true;
		} else if (!strcmp(word, "device") && !o->device[0]) {
			r = decode_into(eq, o->device, sizeof(o->device));
		} else if (!strcmp(word, "url") && !o->url[0]) {
			r = decode_into(eq, o->url, sizeof(o->url));
		} else if (!strcmp(word, "export") && !o->export_name[0]) {
			r = decode_into(eq, o->export_name, sizeof(o->export_name));
		} else if (!strcmp(word, "key_file") && !o->key_file[0]) {
			r = decode_into(eq, o->key_file, sizeof(o->key_file));
		} else if (!strcmp(word, "root") && !o->root[0]) {
			r = decode_into(eq, o->root, sizeof(o->root));
		} else {
			r = -EINVAL;
		}
	}
	if (!r && (!have_id || !have_created || !have_rate || !origin_valid(o)))
		r = -EINVAL;
	return r;
}

int origin_store_parse(struct origin_store *s, const char *text, size_t len, char *err,
		       size_t errlen)
{
	size_t mlen = strlen(STORE_MAGIC) + 1;
	const char *crc_line;
	char *copy, *cursor, *line;
	unsigned int nr = 1;
	uint32_t want;
	int r = 0;

	memset(s, 0, sizeof(*s));
	if (err && errlen)
		err[0] = '\0';
	if (!len || memchr(text, '\0', len) || text[len - 1] != '\n') {
		say(err, errlen, "the file is empty, cut short or holds NUL bytes");
		return -EILSEQ;
	}
	if (len < mlen || memcmp(text, STORE_MAGIC "\n", mlen)) {
		say(err, errlen, strncmp(text, "dm-row-origins ", 15) ? "not a dm-row origin store" :
		    "unknown format version (written by a newer snapctl?)");
		return -EILSEQ;
	}
	for (crc_line = text + len - 1; crc_line > text && crc_line[-1] != '\n'; crc_line--)
		;
	if (sscanf(crc_line, "crc32c=%8" SCNx32 "\n", &want) != 1 ||
	    (crc32c(~0u, text, crc_line - text) ^ ~0u) != want) {
		say(err, errlen, "the checksum does not match (a damaged or hand-edited file)");
		return -EILSEQ;
	}
	copy = strndup(text + mlen, crc_line - text - mlen);
	if (!copy)
		return -ENOMEM;
	cursor = copy;
	while (!r && (line = strsep(&cursor, "\n"))) {
		struct origin o, *grown;

		nr++;
		if (!*line)
			continue;
		if (parse_entry(line, &o)) {
			say(err, errlen, "line %u: malformed record", nr);
			r = -EILSEQ;
		} else if (origin_store_find(s, o.disk_id, o.created)) {
			say(err, errlen, "line %u: repeated record of disk %" PRIu64, nr, o.disk_id);
			r = -EILSEQ;
		} else {
			grown = realloc(s->entries, (s->nr + 1) * sizeof(*s->entries));
			if (!grown) {
				r = -ENOMEM;
				break;
			}
			s->entries = grown;
			s->entries[s->nr++] = o;
		}
	}
	free(copy);
	if (r)
		origin_store_free(s);
	return r;
}

/*----------------------------------------------------------------
 * Files
 *--------------------------------------------------------------*/

const char *origin_store_path(const char *pool, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.origins", config_dir(), pool);
	return buf;
}

int origin_store_load(const char *pool, struct origin_store *s, char *err, size_t errlen)
{
	char path[PATH_MAX], *text;
	size_t len;
	int r;

	memset(s, 0, sizeof(*s));
	if (err && errlen)
		err[0] = '\0';
	if (!config_name_valid(pool))
		return -EINVAL;
	r = read_file(origin_store_path(pool, path, sizeof(path)), STORE_MAX_BYTES, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r == -EFBIG) {
		say(err, errlen, "the file is larger than %u bytes", STORE_MAX_BYTES);
		return -EILSEQ;
	}
	if (r)
		return r;
	r = origin_store_parse(s, text, len, err, errlen);
	free(text);
	return r;
}

int origin_store_begin(struct origin_txn *txn, const char *pool, struct origin_store *s,
		       char *err, size_t errlen)
{
	char path[PATH_MAX];
	int r;

	memset(s, 0, sizeof(*s));
	txn->lock_fd = -1;
	if (!config_name_valid(pool))
		return -EINVAL;
	snprintf(txn->pool, sizeof(txn->pool), "%s", pool);
	r = make_dirs(run_dir());
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/origins-%s.lock", run_dir(), pool);
	txn->lock_fd = lock_file(path);
	if (txn->lock_fd < 0) {
		r = txn->lock_fd;
		txn->lock_fd = -1;
		return r;
	}
	r = origin_store_load(pool, s, err, errlen);
	if (r) {
		close(txn->lock_fd);
		txn->lock_fd = -1;
	}
	return r;
}

int origin_store_commit(struct origin_txn *txn, const struct origin_store *s)
{
	char path[PATH_MAX], *text;
	size_t len;
	int r;

	if (txn->lock_fd < 0)
		return -EBADF;
	origin_store_path(txn->pool, path, sizeof(path));
	if (!s->nr) {
		/* Nothing to remember: no file (a pool without origins has none). */
		r = unlink(path) && errno != ENOENT ? -errno : 0;
		return r;
	}
	r = origin_store_format(s, &text, &len);
	if (r)
		return r;
	r = write_file_atomic(path, text, len, 0600);
	free(text);
	return r;
}

void origin_store_end(struct origin_txn *txn, struct origin_store *s)
{
	if (txn->lock_fd >= 0)
		close(txn->lock_fd);
	txn->lock_fd = -1;
	origin_store_free(s);
}

/*----------------------------------------------------------------
 * Entries
 *--------------------------------------------------------------*/

static struct origin *find_id(const struct origin_store *s, uint64_t id)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		if (s->entries[i].disk_id == id)
			return &s->entries[i];
	return NULL;
}

struct origin *origin_store_find(const struct origin_store *s, uint64_t id, uint64_t created)
{
	struct origin *o = find_id(s, id);

	return o && o->created == created ? o : NULL;
}

int origin_store_put(struct origin_store *s, const struct origin *o)
{
	struct origin *e, *grown;

	if (!origin_valid(o))
		return -EINVAL;
	e = find_id(s, o->disk_id);
	if (!e) {
		grown = realloc(s->entries, (s->nr + 1) * sizeof(*s->entries));
		if (!grown)
			return -ENOMEM;
		s->entries = grown;
		e = &s->entries[s->nr++];
	}
	*e = *o;
	return 0;
}

bool origin_store_remove(struct origin_store *s, uint64_t id)
{
	struct origin *e = find_id(s, id);

	if (!e)
		return false;
	*e = s->entries[--s->nr];
	return true;
}

bool origin_store_uses_export(const struct origin_store *s, const char *url,
			      const char *export_name, uint64_t except)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++) {
		const struct origin *o = &s->entries[i];

		if (o->disk_id != except && origin_is_export(o) && !strcmp(o->url, url) &&
		    !strcmp(o->export_name, export_name))
			return true;
	}
	return false;
}
