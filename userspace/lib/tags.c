// SPDX-License-Identifier: GPL-2.0
/*
 * Descriptions and tags of disks and snapshots, and their store (tags.h).
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

#include "statefile.h"
#include "tags.h"

/* CRC-32C of the metadata core's userspace build (userspace/compat/crc32c.c). */
uint32_t crc32c(uint32_t crc, const void *address, unsigned int length);

#define STORE_MAGIC "dm-row-tags 1"
#define STORE_MAX_BYTES (64u << 20)

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

/*----------------------------------------------------------------
 * Validation and parsing
 *--------------------------------------------------------------*/

static bool plain_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("_.:/+-@", c);
}

bool tag_key_valid(const char *key)
{
	size_t i;

	for (i = 0; key[i]; i++)
		if (!plain_char(key[i]))
			return false;
	return i >= 1 && i <= TAG_KEY_MAX;
}

bool tag_value_valid(const char *value)
{
	size_t i;

	for (i = 0; value[i]; i++)
		if (!plain_char(value[i]) && value[i] != ' ' && value[i] != '=')
			return false;
	return i <= TAG_VALUE_MAX;
}

bool description_valid(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t len = strlen(text);

	if (len > DESCRIPTION_MAX)
		return false;
	while (*p) {
		unsigned int n, i;
		uint32_t cp;

		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f)
				return false;
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3;
			cp = *p & 0x07;
		} else {
			return false;
		}
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates, past U+10FFFF, C1 controls. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp >= 0x80 && cp < 0xa0))
			return false;
		p += n + 1;
	}
	return true;
}

int tag_parse(const char *arg, bool key_only_ok, char **key, char **value, char *err,
	      size_t errlen)
{
	const char *eq = strchr(arg, '=');
	size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);

	*key = *value = NULL;
	if (!eq && !key_only_ok) {
		say(err, errlen, "'%s' is not a tag: write it key=value", arg);
		return -EINVAL;
	}
	*key = strndup(arg, klen);
	if (!*key)
		return -ENOMEM;
	if (!tag_key_valid(*key)) {
		say(err, errlen, "'%.*s' is not a valid tag key (1-%d of A-Z a-z 0-9 _ . : / + - @)",
		    (int)(klen > 140 ? 140 : klen), arg, TAG_KEY_MAX);
		goto bad;
	}
	if (!eq)
		return 0;
	if (!tag_value_valid(eq + 1)) {
		say(err, errlen, "the value of tag '%s' is not valid (0-%d of A-Z a-z 0-9, space, _ . : / + - @ =)",
		    *key, TAG_VALUE_MAX);
		goto bad;
	}
	*value = strdup(eq + 1);
	if (*value)
		return 0;
	free(*key);
	*key = NULL;
	return -ENOMEM;
bad:
	free(*key);
	*key = NULL;
	return -EINVAL;
}

/*----------------------------------------------------------------
 * Tag sets
 *--------------------------------------------------------------*/

void tag_set_free(struct tag_set *s)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++) {
		free(s->tags[i].key);
		free(s->tags[i].value);
	}
	free(s->tags);
	free(s->description);
	memset(s, 0, sizeof(*s));
}

int tag_set_copy(struct tag_set *dst, const struct tag_set *src)
{
	unsigned int i;
	int r = 0;

	memset(dst, 0, sizeof(*dst));
	if (src->description && src->description[0])
		r = tag_set_describe(dst, src->description);
	for (i = 0; !r && i < src->nr; i++)
		r = tag_set_put(dst, src->tags[i].key, src->tags[i].value);
	if (r)
		tag_set_free(dst);
	return r;
}

bool tag_set_empty(const struct tag_set *s)
{
	return !s->nr && (!s->description || !s->description[0]);
}

/* The index of @key, or of where it would go; *found says which. */
static unsigned int tag_index(const struct tag_set *s, const char *key, bool *found)
{
	unsigned int lo = 0, hi = s->nr;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;
		int c = strcmp(s->tags[mid].key, key);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const char *tag_set_get(const struct tag_set *s, const char *key)
{
	bool found;
	unsigned int i = tag_index(s, key, &found);

	return found ? s->tags[i].value : NULL;
}

int tag_set_put(struct tag_set *s, const char *key, const char *value)
{
	bool found;
	unsigned int i = tag_index(s, key, &found);
	char *k, *v = strdup(value);
	struct tag *grown;

	if (!v)
		return -ENOMEM;
	if (found) {
		free(s->tags[i].value);
		s->tags[i].value = v;
		return 0;
	}
	if (s->nr >= TAGS_MAX) {
		free(v);
		return -E2BIG;
	}
	k = strdup(key);
	grown = k ? realloc(s->tags, (s->nr + 1) * sizeof(*s->tags)) : NULL;
	if (!grown) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	s->tags = grown;
	memmove(&s->tags[i + 1], &s->tags[i], (s->nr - i) * sizeof(*s->tags));
	s->tags[i].key = k;
	s->tags[i].value = v;
	s->nr++;
	return 0;
}

bool tag_set_remove(struct tag_set *s, const char *key)
{
	bool found;
	unsigned int i = tag_index(s, key, &found);

	if (!found)
		return false;
	free(s->tags[i].key);
	free(s->tags[i].value);
	memmove(&s->tags[i], &s->tags[i + 1], (s->nr - i - 1) * sizeof(*s->tags));
	s->nr--;
	return true;
}

int tag_set_describe(struct tag_set *s, const char *text)
{
	char *copy = NULL;

	if (text && *text) {
		copy = strdup(text);
		if (!copy)
			return -ENOMEM;
	}
	free(s->description);
	s->description = copy;
	return 0;
}

bool tag_set_matches(const struct tag_set *s, const struct tag *filters, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		const char *v = tag_set_get(s, filters[i].key);

		if (!v || (filters[i].value && strcmp(v, filters[i].value)))
			return false;
	}
	return true;
}

const char *tag_set_format(const struct tag_set *s, char *buf, size_t len)
{
	size_t n = 0;
	unsigned int i;

	if (!len)
		return buf;
	if (!s->nr) {
		snprintf(buf, len, "-");
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < s->nr && n < len; i++) {
		int w = snprintf(buf + n, len - n, "%s%s=%s", i ? "," : "", s->tags[i].key,
				 s->tags[i].value);

		if (w < 0)
			break;
		n += w;
	}
	return buf;
}

/*----------------------------------------------------------------
 * Edits
 *--------------------------------------------------------------*/

void tag_edit_init(struct tag_edit *e)
{
	memset(e, 0, sizeof(*e));
}

void tag_edit_free(struct tag_edit *e)
{
	unsigned int i;

	for (i = 0; i < e->nr_set; i++) {
		free(e->set[i].key);
		free(e->set[i].value);
	}
	for (i = 0; i < e->nr_unset; i++)
		free(e->unset[i]);
	tag_edit_init(e);
}

bool tag_edit_empty(const struct tag_edit *e)
{
	return !e->nr_set && !e->nr_unset && !e->description;
}

int tag_edit_add_set(struct tag_edit *e, const char *arg, char *err, size_t errlen)
{
	char *key, *value;
	unsigned int i;
	int r;

	r = tag_parse(arg, false, &key, &value, err, errlen);
	if (r)
		return r;
	for (i = 0; i < e->nr_set; i++) {
		if (strcmp(e->set[i].key, key))
			continue;
		say(err, errlen, "tag '%s' is given twice", key);
		r = -EINVAL;
		goto bad;
	}
	if (e->nr_set == TAGS_MAX) {
		say(err, errlen, "at most %d tags", TAGS_MAX);
		r = -E2BIG;
		goto bad;
	}
	e->set[e->nr_set].key = key;
	e->set[e->nr_set].value = value;
	e->nr_set++;
	return 0;
bad:
	free(key);
	free(value);
	return r;
}

int tag_edit_add_unset(struct tag_edit *e, const char *key, char *err, size_t errlen)
{
	if (!tag_key_valid(key)) {
		say(err, errlen, "'%.140s' is not a valid tag key (1-%d of A-Z a-z 0-9 _ . : / + - @)",
		    key, TAG_KEY_MAX);
		return -EINVAL;
	}
	if (e->nr_unset == TAGS_MAX) {
		say(err, errlen, "at most %d tags to remove at once", TAGS_MAX);
		return -E2BIG;
	}
	e->unset[e->nr_unset] = strdup(key);
	if (!e->unset[e->nr_unset])
		return -ENOMEM;
	e->nr_unset++;
	return 0;
}

int tag_edit_describe(struct tag_edit *e, const char *text, char *err, size_t errlen)
{
	if (!description_valid(text)) {
		say(err, errlen, "the description must be at most %d bytes of UTF-8 text without control characters (no newlines or tabs)",
		    DESCRIPTION_MAX);
		return -EINVAL;
	}
	e->description = text;
	return 0;
}

int tag_edit_apply(const struct tag_edit *e, struct tag_set *s, char *err, size_t errlen)
{
	struct tag_set next;
	unsigned int i;
	int r;

	r = tag_set_copy(&next, s);
	if (r)
		return r;
	for (i = 0; i < e->nr_unset; i++)
		tag_set_remove(&next, e->unset[i]);
	for (i = 0; !r && i < e->nr_set; i++)
		r = tag_set_put(&next, e->set[i].key, e->set[i].value);
	if (!r && e->description)
		r = tag_set_describe(&next, e->description);
	if (r) {
		if (r == -E2BIG)
			say(err, errlen, "a disk or snapshot has at most %d tags; remove some with --untag",
			    TAGS_MAX);
		tag_set_free(&next);
		return r;
	}
	tag_set_free(s);
	*s = next;
	return 0;
}

/*----------------------------------------------------------------
 * Store: text
 *--------------------------------------------------------------*/

struct buf {
	char *text;
	size_t len, cap;
	bool failed;
};

static void put_bytes(struct buf *b, const char *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap + n + 1) * 2;
		char *grown = realloc(b->text, cap);

		if (!grown) {
			b->failed = true;
			return;
		}
		b->text = grown;
		b->cap = cap;
	}
	memcpy(b->text + b->len, p, n);
	b->len += n;
	b->text[b->len] = '\0';
}

static void put_str(struct buf *b, const char *s)
{
	put_bytes(b, s, strlen(s));
}

static void put_encoded(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if (*p > 0x20 && *p < 0x7f && *p != '%') {
			put_bytes(b, (const char *)p, 1);
		} else {
			char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			put_bytes(b, esc, 3);
		}
	}
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* %-decode @s in place. */
static int decode(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (*s != '%') {
			*out++ = *s;
			continue;
		}
		if (hex_digit(s[1]) < 0 || hex_digit(s[2]) < 0)
			return -EINVAL;
		*out++ = (char)(hex_digit(s[1]) << 4 | hex_digit(s[2]));
		if (!out[-1])
			return -EINVAL;
		s += 2;
	}
	*out = '\0';
	return 0;
}

int tag_store_format(const struct tag_store *s, char **text, size_t *len)
{
	struct buf b = { 0 };
	char line[160];
	unsigned int i, t;

	put_str(&b, STORE_MAGIC "\n");
	for (i = 0; i < s->nr; i++) {
		const struct tag_entry *e = &s->entries[i];

		if (e->kind == TAG_DISK)
			snprintf(line, sizeof(line), "disk uuid=%s id=%" PRIu64 " created=%" PRIu64,
				 e->uuid, e->id, e->created);
		else
			snprintf(line, sizeof(line), "snapshot uuid=%s id=%" PRIu64, e->uuid, e->id);
		put_str(&b, line);
		if (e->set.description && e->set.description[0]) {
			put_str(&b, " description=");
			put_encoded(&b, e->set.description);
		}
		for (t = 0; t < e->set.nr; t++) {
			put_str(&b, " tag.");
			put_str(&b, e->set.tags[t].key);
			put_str(&b, "=");
			put_encoded(&b, e->set.tags[t].value);
		}
		put_str(&b, "\n");
	}
	if (!b.failed) {
		snprintf(line, sizeof(line), "crc32c=%08" PRIx32 "\n",
			 crc32c(~0u, b.text, b.len) ^ ~0u);
		put_str(&b, line);
	}
	if (b.failed) {
		free(b.text);
		return -ENOMEM;
	}
	*text = b.text;
	*len = b.len;
	return 0;
}

static struct tag_entry *find_any(const struct tag_store *s, enum tag_object kind,
				  const char *uuid, uint64_t id);

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

static int grow_entries(struct tag_store *s)
{
	struct tag_entry *grown;

	/* Powers of two: grow when nr is one. */
	if (s->nr & (s->nr - 1))
		return 0;
	grown = realloc(s->entries, (s->nr ? s->nr * 2 : 1) * sizeof(*s->entries));
	if (!grown)
		return -ENOMEM;
	s->entries = grown;
	return 0;
}

static int parse_entry(struct tag_store *s, char *line, unsigned int nr, char *err,
		       size_t errlen)
{
	struct tag_entry e = { 0 };
	bool have_uuid = false, have_id = false, have_created = false;
	char *word, *kind = strsep(&line, " ");
	int r = 0;

	if (!strcmp(kind, "disk")) {
		e.kind = TAG_DISK;
	} else if (!strcmp(kind, "snapshot")) {
		e.kind = TAG_SNAPSHOT;
	} else {
		say(err, errlen, "line %u: unknown record '%.40s'", nr, kind);
		return -EILSEQ;
	}
	while (!r && line && (word = strsep(&line, " "))) {
		char *eq = strchr(word, '=');

		if (!eq) {
			r = -EINVAL;
			break;
		}
		*eq++ = '\0';
		if (!strcmp(word, "uuid")) {
			have_uuid = strlen(eq) > 0 && strlen(eq) < sizeof(e.uuid);
			r = have_uuid ? 0 : -EINVAL;
			if (!r)
				strcpy(e.uuid, eq);
		} else if (!strcmp(word, "id")) {
			r = parse_number(eq, &e.id);
			have_id = !r;
		} else if (!strcmp(word, "created")) {
			r = parse_number(eq, &e.created);
			have_created = !r;
		} else if (!strcmp(word, "description")) {
			r = decode(eq);
			if (!r)
				r = description_valid(eq) ? tag_set_describe(&e.set, eq) : -EINVAL;
		} else if (!strncmp(word, "tag.", 4)) {
			r = decode(eq);
			if (!r && (!tag_key_valid(word + 4) || !tag_value_valid(eq) ||
				   tag_set_get(&e.set, word + 4)))
				r = -EINVAL;
			if (!r)
				r = tag_set_put(&e.set, word + 4, eq);
		} else {
			r = -EINVAL;
		}
	}
	if (!r && (!have_uuid || !have_id || have_created != (e.kind == TAG_DISK)))
		r = -EINVAL;
	if (!r && find_any(s, e.kind, e.uuid, e.id))
		r = -EEXIST;
	if (!r)
		r = grow_entries(s);
	if (r) {
		tag_set_free(&e.set);
		if (r == -ENOMEM)
			return r;
		say(err, errlen, "line %u: %s %s record", nr, r == -EEXIST ? "repeated" : "malformed",
		    kind);
		return -EILSEQ;
	}
	s->entries[s->nr++] = e;
	return 0;
}

int tag_store_parse(struct tag_store *s, const char *text, size_t len, char *err,
		    size_t errlen)
{
	size_t mlen = strlen(STORE_MAGIC) + 1;
	const char *crc_line, *p;
	char *copy, *cursor, *line;
	unsigned int nr = 0;
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
		say(err, errlen, strncmp(text, "dm-row-tags ", 12) ? "not a dm-row tag store" :
		    "unknown format version (written by a newer snapctl?)");
		return -EILSEQ;
	}
	for (crc_line = text + len - 1; crc_line > text && crc_line[-1] != '\n'; crc_line--)
		;
	if (strncmp(crc_line, "crc32c=", 7) || text + len - crc_line != 7 + 8 + 1) {
		say(err, errlen, "the checksum line is missing (the file is cut short?)");
		return -EILSEQ;
	}
	for (p = crc_line + 7, want = 0; p < crc_line + 15; p++) {
		if (hex_digit(*p) < 0) {
			say(err, errlen, "the checksum line is damaged");
			return -EILSEQ;
		}
		want = want * 16 + hex_digit(*p);
	}
	if ((crc32c(~0u, text, crc_line - text) ^ ~0u) != want) {
		say(err, errlen, "checksum mismatch: the file is damaged");
		return -EILSEQ;
	}
	copy = strndup(text, crc_line - text);
	if (!copy)
		return -ENOMEM;
	cursor = copy;
	while (!r && (line = strsep(&cursor, "\n"))) {
		if (++nr == 1 || !*line)
			continue;	/* the magic; after the last newline */
		r = parse_entry(s, line, nr, err, errlen);
	}
	free(copy);
	if (r)
		tag_store_free(s);
	return r;
}

void tag_store_free(struct tag_store *s)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		tag_set_free(&s->entries[i].set);
	free(s->entries);
	memset(s, 0, sizeof(*s));
}

/*----------------------------------------------------------------
 * Store: file and lock
 *--------------------------------------------------------------*/

const char *tag_store_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/tags", state_dir());
	return buf;
}

int tag_store_load(struct tag_store *s, char *err, size_t errlen)
{
	char path[PATH_MAX], *text;
	size_t len;
	int r;

	memset(s, 0, sizeof(*s));
	if (err && errlen)
		err[0] = '\0';
	r = read_file(tag_store_path(path, sizeof(path)), STORE_MAX_BYTES, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r == -EFBIG) {
		say(err, errlen, "the file is larger than %u bytes", STORE_MAX_BYTES);
		return -EILSEQ;
	}
	if (r)
		return r;
	r = tag_store_parse(s, text, len, err, errlen);
	free(text);
	return r;
}

int tag_store_begin(struct tag_txn *txn, struct tag_store *s, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int r;

	memset(s, 0, sizeof(*s));
	txn->lock_fd = -1;
	r = make_dirs(state_dir());
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/tags.lock", state_dir());
	txn->lock_fd = lock_file(path);
	if (txn->lock_fd < 0) {
		r = txn->lock_fd;
		txn->lock_fd = -1;
		return r;
	}
	r = tag_store_load(s, err, errlen);
	if (r) {
		close(txn->lock_fd);
		txn->lock_fd = -1;
	}
	return r;
}

int tag_store_commit(struct tag_txn *txn, const struct tag_store *s)
{
	char path[PATH_MAX], *text;
	size_t len;
	int r;

	if (txn->lock_fd < 0)
		return -EBADF;
	r = tag_store_format(s, &text, &len);
	if (r)
		return r;
	r = write_file_atomic(tag_store_path(path, sizeof(path)), text, len, 0644);
	free(text);
	return r;
}

void tag_store_end(struct tag_txn *txn, struct tag_store *s)
{
	if (txn->lock_fd >= 0)
		close(txn->lock_fd);
	txn->lock_fd = -1;
	tag_store_free(s);
}

/*----------------------------------------------------------------
 * Store: entries
 *--------------------------------------------------------------*/

static struct tag_entry *find_any(const struct tag_store *s, enum tag_object kind,
				  const char *uuid, uint64_t id)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		if (s->entries[i].kind == kind && s->entries[i].id == id &&
		    !strcmp(s->entries[i].uuid, uuid))
			return &s->entries[i];
	return NULL;
}

struct tag_entry *tag_store_find_id(const struct tag_store *s, enum tag_object kind,
				    const char *uuid, uint64_t id)
{
	return find_any(s, kind, uuid, id);
}

struct tag_entry *tag_store_find(const struct tag_store *s, enum tag_object kind,
				 const char *uuid, uint64_t id, uint64_t created)
{
	struct tag_entry *e = find_any(s, kind, uuid, id);

	if (e && kind == TAG_DISK && e->created != created)
		return NULL;
	return e;
}

void tag_store_remove(struct tag_store *s, enum tag_object kind, const char *uuid, uint64_t id)
{
	struct tag_entry *e = find_any(s, kind, uuid, id);

	if (!e)
		return;
	tag_set_free(&e->set);
	*e = s->entries[--s->nr];
}

int tag_store_put(struct tag_store *s, enum tag_object kind, const char *uuid, uint64_t id,
		  uint64_t created, const struct tag_set *set)
{
	struct tag_entry *e;
	struct tag_set copy;
	int r;

	if (strlen(uuid) >= sizeof(e->uuid) || !*uuid)
		return -EINVAL;
	if (tag_set_empty(set)) {
		tag_store_remove(s, kind, uuid, id);
		return 0;
	}
	r = tag_set_copy(&copy, set);
	if (r)
		return r;
	e = find_any(s, kind, uuid, id);
	if (!e) {
		r = grow_entries(s);
		if (r) {
			tag_set_free(&copy);
			return r;
		}
		e = &s->entries[s->nr++];
		memset(e, 0, sizeof(*e));
		e->kind = kind;
		e->id = id;
		strcpy(e->uuid, uuid);
	}
	tag_set_free(&e->set);
	e->set = copy;
	e->created = kind == TAG_DISK ? created : 0;
	return 0;
}

bool tag_store_has_pool(const struct tag_store *s, const char *uuid)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		if (!strcmp(s->entries[i].uuid, uuid))
			return true;
	return false;
}

unsigned int tag_store_prune(struct tag_store *s, const char *uuid,
			     bool (*exists)(void *arg, enum tag_object kind, uint64_t id,
					    uint64_t created),
			     void *arg)
{
	unsigned int i = 0, dropped = 0;

	while (i < s->nr) {
		struct tag_entry *e = &s->entries[i];

		if (strcmp(e->uuid, uuid) || exists(arg, e->kind, e->id, e->created)) {
			i++;
			continue;
		}
		tag_set_free(&e->set);
		*e = s->entries[--s->nr];
		dropped++;
	}
	return dropped;
}
