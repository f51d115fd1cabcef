// SPDX-License-Identifier: GPL-2.0
/*
 * Export repositories: the descriptor, manifests and their chunk lists,
 * listing, deleting and garbage collection.  See repo.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "repo.h"

#define REPO_KEY "dmrow-repository"
#define REPO_MAGIC "dm-row-repository 1"
#define REPO_MAGIC_V2 "dm-row-repository 2"
#define MANIFEST_MAGIC_V1 "dm-row-export 1"
#define MANIFEST_MAGIC "dm-row-export 2"
#define MANIFEST_MAGIC_V3 "dm-row-export 3"
#define PENDING_MAGIC "dm-row-pending 1"
/* An encrypted manifest holds at most this much text. */
#define MANIFEST_SEALED_MAX (64u << 20)
#define MAC_TAIL_LEN (4 + CHUNK_ID_LEN + 5)	/* "mac=<hex>\nend\n" */
#define LIST_LINE_MAX (20 + 1 + CHUNK_ID_LEN + 1)
#define REPO_DESCRIPTOR_MAX (64u << 10)

static int set_error(struct repo *repo, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_error(struct repo *repo, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(repo->error, sizeof(repo->error), fmt, ap);
	va_end(ap);
	return r;
}

static int store_failed(struct repo *repo, int r, const char *what)
{
	return set_error(repo, r, "%s: %s", what, store_error(repo->store));
}

/*
 * Split @text (NUL-terminated, modified in place) into "key=value" lines;
 * @fn is called for each; the first line must be @magic.
 */
static int parse_lines(char *text, const char *magic,
		       int (*fn)(void *context, const char *key, const char *value),
		       void *context)
{
	char *line, *save = NULL, *eq;
	bool first = true;
	int r;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (first) {
			if (strcmp(line, magic))
				return -EBADMSG;
			first = false;
			continue;
		}
		if (!strcmp(line, "end"))
			return 0;
		eq = strchr(line, '=');
		if (!eq)
			return -EBADMSG;
		*eq = '\0';
		r = fn(context, line, eq + 1);
		if (r)
			return r;
	}
	return -EBADMSG;	/* no "end": truncated */
}

/* Make the object in @buf a C string. */
static int buf_terminate(struct store_buf *buf)
{
	uint8_t *data;

	if (memchr(buf->data, '\0', buf->len))
		return -EBADMSG;
	if (buf->cap < buf->len + 1) {
		data = realloc(buf->data, buf->len + 1);
		if (!data)
			return -ENOMEM;
		buf->data = data;
		buf->cap = buf->len + 1;
	}
	buf->data[buf->len] = '\0';
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return -EBADMSG;
	*v = strtoull(s, &end, 10);
	return *end || errno ? -EBADMSG : 0;
}

static int copy_string(char *dst, size_t len, const char *src)
{
	if (strlen(src) >= len)
		return -EBADMSG;
	strcpy(dst, src);
	return 0;
}

/*----------------------------------------------------------------*/

struct descriptor {
	uint64_t chunk_size;
	char encryption[32];
	char key_check[CHUNK_ID_LEN + 1];
};

static int descriptor_field(void *context, const char *key, const char *value)
{
	struct descriptor *d = context;

	if (!strcmp(key, "chunk_size"))
		return parse_u64(value, &d->chunk_size);
	if (!strcmp(key, "encryption"))
		return copy_string(d->encryption, sizeof(d->encryption), value);
	if (!strcmp(key, "key_check"))
		return copy_string(d->key_check, sizeof(d->key_check), value);
	return 0;	/* fields of later versions are ignored */
}

static int create_repository(struct repo *repo, uint32_t chunk_size, bool encrypted,
			     unsigned int format)
{
	char text[256], check[CHUNK_ID_LEN + 1];
	int n, r;

	if (!chunk_size)
		chunk_size = REPO_DEFAULT_CHUNK_SIZE;
	if (chunk_size < REPO_MIN_CHUNK_SIZE || chunk_size > REPO_MAX_CHUNK_SIZE ||
	    chunk_size % 4096)
		return set_error(repo, -EINVAL,
				 "chunk size must be a multiple of 4 KiB from 64 KiB to 64 MiB");
	n = snprintf(text, sizeof(text), "%s\nchunk_size=%u\nencryption=%s\n",
		     format >= 2 ? REPO_MAGIC_V2 : REPO_MAGIC, chunk_size,
		     encrypted ? "aes-256-gcm" : "none");
	if (encrypted) {
		chunk_keys_check(&repo->keys, check);
		n += snprintf(text + n, sizeof(text) - n, "key_check=%s\n", check);
	}
	n += snprintf(text + n, sizeof(text) - n, "end\n");
	r = store_put(repo->store, REPO_KEY, text, n);
	if (r)
		return store_failed(repo, r, "cannot create the repository");
	repo->chunk_size = chunk_size;
	repo->format = format;
	return 0;
}

int repo_open(struct repo *repo, const char *url, const char *key_file, uint32_t chunk_size,
	      unsigned int flags)
{
	struct store_buf buf = { 0 };
	struct descriptor d = { 0 };
	char check[CHUNK_ID_LEN + 1];
	const char *why = NULL;
	int r;

	memset(repo, 0, sizeof(*repo));
	snprintf(repo->url, sizeof(repo->url), "%s", url);
	chunk_keys_plain(&repo->keys);
	if (key_file) {
		r = chunk_keys_load(key_file, &repo->keys, &why);
		if (r)
			return set_error(repo, r, "%s: %s", key_file, why);
	}
	repo->store = store_open(url, &why);
	if (!repo->store)
		return set_error(repo, -EINVAL, "%s: %s", url, why ? why : "cannot open");

	r = store_get_max(repo->store, REPO_KEY, &buf, REPO_DESCRIPTOR_MAX);
	if (r == -ENOENT && (flags & REPO_CREATE)) {
		repo->encrypted = key_file != NULL;
		/* only encrypted repositories have names to hide */
		return create_repository(repo, chunk_size, key_file != NULL,
					 key_file && !(flags & REPO_FORMAT1) ? REPO_FORMAT : 1);
	}
	if (r == -ENOENT)
		return set_error(repo, r, "%s holds no dm-row exports", url);
	if (r)
		return store_failed(repo, r, "cannot read the repository");
	r = buf_terminate(&buf);
	repo->format = 1;
	if (!r && !strncmp((char *)buf.data, REPO_MAGIC_V2 "\n", strlen(REPO_MAGIC_V2) + 1))
		repo->format = 2;
	if (!r)
		r = parse_lines((char *)buf.data, repo->format == 2 ? REPO_MAGIC_V2 : REPO_MAGIC,
				descriptor_field, &d);
	store_buf_free(&buf);
	if (!r && repo->format == 2 && strcmp(d.encryption, "aes-256-gcm"))
		r = -EBADMSG;
	if (r || d.chunk_size < REPO_MIN_CHUNK_SIZE || d.chunk_size > REPO_MAX_CHUNK_SIZE ||
	    (strcmp(d.encryption, "none") && strcmp(d.encryption, "aes-256-gcm")))
		return set_error(repo, -EBADMSG, "%s: the repository descriptor is damaged or of a newer format",
				 url);
	repo->chunk_size = d.chunk_size;
	if (chunk_size && chunk_size != repo->chunk_size)
		return set_error(repo, -EINVAL, "%s uses %u-byte chunks, not %u", url,
				 repo->chunk_size, chunk_size);
	if (!strcmp(d.encryption, "none")) {
		if (key_file)
			return set_error(repo, -EINVAL, "%s is not encrypted: give no key file", url);
		return 0;
	}
	repo->encrypted = true;
	if (!key_file && (flags & REPO_KEYLESS)) {
		repo->keyless = true;
		return 0;
	}
	if (!key_file)
		return set_error(repo, -EKEYREJECTED, "%s is encrypted: a key file is needed (--key-file)",
				 url);
	chunk_keys_check(&repo->keys, check);
	if (strcmp(check, d.key_check))
		return set_error(repo, -EKEYREJECTED, "%s: wrong key (%s is not the key of this repository)",
				 url, key_file);
	return 0;
}

void repo_close(struct repo *repo)
{
	if (repo->store)
		store_close(repo->store);
	repo->store = NULL;
	memset(&repo->keys, 0, sizeof(repo->keys));
}

bool export_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (!n || n > EXPORT_NAME_MAX || name[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    name[i]))
			return false;
	return true;
}

/*----------------------------------------------------------------*/

void manifest_free(struct manifest *m)
{
	free(m->lists);
	free(m->entries);
	m->lists = NULL;
	m->entries = NULL;
	m->nr_lists = m->nr_entries = 0;
	tag_set_free(&m->tags);
	tag_set_free(&m->disk_tags);
}

uint64_t manifest_slots(const struct manifest *m)
{
	return (m->image_bytes + m->chunk_size - 1) / m->chunk_size;
}

uint64_t manifest_slot_bytes(const struct manifest *m, uint64_t slot)
{
	uint64_t start = slot * m->chunk_size;

	if (start >= m->image_bytes)
		return 0;
	return m->image_bytes - start < m->chunk_size ? m->image_bytes - start : m->chunk_size;
}

size_t manifest_lower_bound(const struct manifest *m, uint64_t slot)
{
	size_t lo = 0, hi = m->nr_entries, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m->entries[mid].index < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct chunk_entry *manifest_find(const struct manifest *m, uint64_t slot)
{
	size_t i = manifest_lower_bound(m, slot);

	return i < m->nr_entries && m->entries[i].index == slot ? &m->entries[i] : NULL;
}

/*
 * The store key of export @name's manifest or pending marker: the name
 * itself in a format 1 repository, its keyed hash in a format 2 one (so
 * @id gets the hash, the authenticated data of the sealed object).
 */
static void manifest_key_id(const struct repo *repo, const char *name, const char *suffix,
			    char *key, size_t len, char id[CHUNK_ID_LEN + 1])
{
	char hash[CHUNK_ID_LEN + 1] = "";

	if (repo->format >= 2)
		chunk_keys_name_id(&repo->keys, name, hash);
	if (id)
		strcpy(id, hash);
	snprintf(key, len, "exports/%s.%s", repo->format >= 2 ? hash : name, suffix);
}

static void manifest_key(const struct repo *repo, const char *name, const char *suffix,
			 char *key, size_t len)
{
	manifest_key_id(repo, name, suffix, key, len, NULL);
}

/* A codec for the objects of a format 2 repository that are not chunks. */
static struct chunk_codec *sealed_codec(const struct repo *repo, size_t max_data)
{
	struct chunk_keys keys = repo->keys;
	struct chunk_codec *codec;

	/* a key of their own: no chunk can pass for one, nor one for a chunk */
	memcpy(keys.cipher_key, keys.manifest_cipher_key, sizeof(keys.cipher_key));
	codec = chunk_codec_new(&keys, max_data ? max_data : 1);
	OPENSSL_cleanse(&keys, sizeof(keys));
	return codec;
}

/* Store @len bytes of @text encrypted, authenticated with @id, at @key. */
static int put_sealed(struct repo *repo, const char *key, const char *id, const char *text,
		      size_t len)
{
	struct chunk_codec *codec = sealed_codec(repo, len);
	struct store_buf obj = { 0 };
	int r;

	if (!codec)
		return -ENOMEM;
	r = chunk_encode(codec, text, len, id, &obj);
	chunk_codec_free(codec);
	if (!r)
		r = store_put(repo->store, key, obj.data, obj.len);
	store_buf_free(&obj);
	return r;
}

/*
 * Decrypt the object in @obj, which must have been sealed with @id, into
 * @text (a C string).  -EBADMSG if it was not, or is damaged.
 */
static int open_sealed(struct repo *repo, const struct store_buf *obj, const char *id,
		       struct store_buf *text)
{
	struct chunk_codec *codec;
	const char *why = NULL;
	size_t max;
	int r;

	if (obj->len < CHUNK_OVERHEAD)
		return -EBADMSG;
	/* the header's data length sizes the codec; bounded */
	max = obj->data[8] | obj->data[9] << 8 | obj->data[10] << 16 | (size_t)obj->data[11] << 24;
	if (max < obj->len)
		max = obj->len;
	if (max > MANIFEST_SEALED_MAX)
		return -EBADMSG;
	codec = sealed_codec(repo, max);
	if (!codec)
		return -ENOMEM;
	r = chunk_decode_named(codec, obj, id, text, &why);
	chunk_codec_free(codec);
	if (!r)
		r = buf_terminate(text);
	return r;
}

/* "description=" and "tag=<key>=<value>" (optional, once per key). */
static int tag_field(struct tag_set *set, const char *key, const char *value)
{
	char *tag_key, *tag_value;
	int r;

	if (!strcmp(key, "description"))
		return description_valid(value) && !set->description ?
		       tag_set_describe(set, value) : -EBADMSG;
	r = tag_parse(value, false, &tag_key, &tag_value, NULL, 0);
	if (r)
		return r == -ENOMEM ? r : -EBADMSG;
	r = tag_set_get(set, tag_key) ? -EBADMSG : tag_set_put(set, tag_key, tag_value);
	free(tag_key);
	free(tag_value);
	return r == -E2BIG ? -EBADMSG : r;
}

static int manifest_field(void *context, const char *key, const char *value)
{
	struct manifest *m = context;
	uint64_t v = 0;
	void *p;
	int r;

	if (!strcmp(key, "description") || !strcmp(key, "tag"))
		return tag_field(&m->tags, key, value);
	if (!strcmp(key, "disk_description") || !strcmp(key, "disk_tag"))
		return tag_field(&m->disk_tags, key + 5, value);

#define STRING_FIELD(f) if (!strcmp(key, #f)) return copy_string(m->f, sizeof(m->f), value)
#define U64_FIELD(f) if (!strcmp(key, #f)) return parse_u64(value, &m->f)
	STRING_FIELD(name);
	STRING_FIELD(pool);
	STRING_FIELD(pool_uuid);
	STRING_FIELD(disk);
	STRING_FIELD(snapshot);
	STRING_FIELD(base);
	STRING_FIELD(root);
	U64_FIELD(disk_id);
	U64_FIELD(snapshot_id);
	U64_FIELD(snapshot_time);
	U64_FIELD(image_bytes);
	U64_FIELD(stored_chunks);
	U64_FIELD(new_chunks);
	U64_FIELD(new_bytes);
	U64_FIELD(read_chunks);
	U64_FIELD(created);
#undef STRING_FIELD
#undef U64_FIELD
	if (!strcmp(key, "block_bytes") || !strcmp(key, "chunk_size")) {
		r = parse_u64(value, &v);
		if (r || v > UINT32_MAX)
			return -EBADMSG;
		*(!strcmp(key, "block_bytes") ? &m->block_bytes : &m->chunk_size) = v;
		return 0;
	}
	if (!strcmp(key, "list")) {
		if (!chunk_id_valid(value))
			return -EBADMSG;
		p = realloc(m->lists, (m->nr_lists + 1) * sizeof(*m->lists));
		if (!p)
			return -ENOMEM;
		m->lists = p;
		strcpy(m->lists[m->nr_lists++], value);
	}
	return 0;
}

/*
 * The MAC of a format 2 manifest: its last lines are "mac=<hex>" and
 * "end", the MAC covering every byte before "mac=".  Returns 0 if it is
 * there and right, -EBADMSG if not; with no key (a plain repository or a
 * keyless open) a MAC line is only skipped.
 */
static int check_manifest_mac(struct repo *repo, const struct store_buf *buf,
			      struct manifest *m)
{
	const char *text = (const char *)buf->data, *tail;
	char mac[CHUNK_ID_LEN + 1];
	bool has_mac;

	tail = buf->len >= MAC_TAIL_LEN ? text + buf->len - MAC_TAIL_LEN : NULL;
	has_mac = tail && tail > text && tail[-1] == '\n' && !strncmp(tail, "mac=", 4) &&
		  !strcmp(tail + 4 + CHUNK_ID_LEN, "\nend\n");
	if (!repo->encrypted || repo->keyless)
		return 0;
	if (!has_mac)
		return -EBADMSG;
	chunk_keys_manifest_mac(&repo->keys, text, tail - text, mac);
	if (CRYPTO_memcmp(mac, tail + 4, CHUNK_ID_LEN))
		return -EBADMSG;
	m->authenticated = true;
	return 0;
}

/* The names are hidden: nothing can be done without the key. */
static int keyless_refused(struct repo *repo)
{
	return set_error(repo, -EKEYREJECTED, "%s is encrypted and hides its export names: a key file is needed (--key-file)",
			 repo->url);
}

/* A format 2 repository's manifest: encrypted, its keyed name authenticated. */
static int read_sealed_manifest(struct repo *repo, const char *name, const char *id,
				struct store_buf *obj, struct manifest *m)
{
	struct store_buf text = { 0 };
	int r;

	r = open_sealed(repo, obj, id, &text);
	if (r == -EBADMSG || (!r && strncmp((char *)text.data, MANIFEST_MAGIC_V3 "\n",
					   strlen(MANIFEST_MAGIC_V3) + 1)))
		r = set_error(repo, -EBADMSG, "the manifest of export '%s' is not authenticated by this repository's key: replaced or damaged",
			      name);
	if (!r) {
		m->format = MANIFEST_FORMAT_SEALED;
		m->authenticated = true;
		r = parse_lines((char *)text.data, MANIFEST_MAGIC_V3, manifest_field, m);
		if (r)
			r = r == -ENOMEM ? r : -EPROTO;	/* reported below as damaged */
	}
	store_buf_free(&text);
	return r;
}

int manifest_read(struct repo *repo, const char *name, struct manifest *m)
{
	struct store_buf buf = { 0 };
	char key[160], id[CHUNK_ID_LEN + 1];
	int r;

	memset(m, 0, sizeof(*m));
	if (!export_name_valid(name))
		return set_error(repo, -EINVAL, "'%s' is not a valid export name", name);
	if (repo->format >= 2 && repo->keyless)
		return keyless_refused(repo);
	manifest_key_id(repo, name, "manifest", key, sizeof(key), id);
	r = store_get(repo->store, key, &buf);
	if (r == -ENOENT)
		return set_error(repo, r, "%s has no export '%s'", repo->url, name);
	if (r)
		return store_failed(repo, r, "cannot read the manifest");
	if (repo->format >= 2) {
		r = read_sealed_manifest(repo, name, id, &buf, m);
		store_buf_free(&buf);
		if (r == -EBADMSG) {
			manifest_free(m);
			return r;
		}
		if (r == -EPROTO)
			r = -EBADMSG;
	} else {
		r = buf_terminate(&buf);
	}
	if (repo->format >= 2) {
		/* read above */
	} else if (!r && !strncmp((char *)buf.data, MANIFEST_MAGIC_V1 "\n", strlen(MANIFEST_MAGIC_V1) + 1)) {
		m->format = 1;
		if (repo->encrypted && !repo->keyless) {
			store_buf_free(&buf);
			return set_error(repo, -EBADMSG, "export '%s' has a format 1 manifest, which is not authenticated: an encrypted repository restores only format 2 exports (export it again)",
					 name);
		}
		r = parse_lines((char *)buf.data, MANIFEST_MAGIC_V1, manifest_field, m);
	} else if (!r) {
		m->format = 2;
		r = check_manifest_mac(repo, &buf, m);
		if (r) {
			store_buf_free(&buf);
			return set_error(repo, r, "the manifest of export '%s' is not authenticated by this repository's key: replaced or damaged",
					 name);
		}
		r = parse_lines((char *)buf.data, MANIFEST_MAGIC, manifest_field, m);
	}
	store_buf_free(&buf);
	if (!r && (strcmp(m->name, name) || !chunk_id_valid(m->root) ||
		   m->chunk_size != repo->chunk_size || !m->image_bytes))
		r = -EBADMSG;
	if (r) {
		manifest_free(m);
		return set_error(repo, r == -ENOMEM ? r : -EBADMSG,
				 "the manifest of export '%s' is damaged", name);
	}
	return 0;
}

/* The root checksum: SHA-256 over the text of every chunk list, in order. */
static EVP_MD_CTX *digest_begin(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx && !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static void digest_end(EVP_MD_CTX *ctx, char hex[CHUNK_ID_LEN + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_DigestFinal_ex(ctx, digest, &len);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < len && i < CHUNK_ID_LEN / 2; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
}

/* Parse one chunk list's text, appending to m->entries; indexes must increase. */
static int parse_chunk_list(struct manifest *m, char *text, EVP_MD_CTX *root)
{
	char *line, *save = NULL, *space;
	uint64_t index;
	void *p;

	EVP_DigestUpdate(root, text, strlen(text));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		space = strchr(line, ' ');
		if (!space)
			return -EBADMSG;
		*space = '\0';
		if (parse_u64(line, &index) || !chunk_id_valid(space + 1) ||
		    index >= manifest_slots(m) ||
		    (m->nr_entries && index <= m->entries[m->nr_entries - 1].index))
			return -EBADMSG;
		/* capacity: 64, then doubled whenever a power of two is reached */
		if (!m->nr_entries ||
		    (m->nr_entries >= 64 && !(m->nr_entries & (m->nr_entries - 1)))) {
			p = realloc(m->entries, (m->nr_entries ? 2 * m->nr_entries : 64) *
					     sizeof(*m->entries));
			if (!p)
				return -ENOMEM;
			m->entries = p;
		}
		m->entries[m->nr_entries].index = index;
		strcpy(m->entries[m->nr_entries].id, space + 1);
		m->nr_entries++;
	}
	return 0;
}

int manifest_load_entries(struct repo *repo, struct chunk_codec *codec, struct manifest *m)
{
	struct store_buf obj = { 0 }, text = { 0 };
	char key[128], root[CHUNK_ID_LEN + 1];
	const char *why = NULL;
	EVP_MD_CTX *ctx;
	size_t i;
	int r = 0;

	free(m->entries);
	m->entries = NULL;
	m->nr_entries = 0;
	ctx = digest_begin();
	if (!ctx)
		return -ENOMEM;
	for (i = 0; i < m->nr_lists && !r; i++) {
		chunk_key(m->lists[i], key, sizeof(key));
		r = store_get_max(repo->store, key, &obj, repo->chunk_size + CHUNK_OVERHEAD);
		if (r) {
			store_failed(repo, r, "cannot read a chunk list");
			if (r == -ENOENT)
				set_error(repo, -EBADMSG, "export '%s': chunk list %s is missing",
					  m->name, m->lists[i]);
			break;
		}
		r = chunk_decode(codec, &obj, m->lists[i], &text, &why);
		if (!r)
			r = buf_terminate(&text);
		if (!r)
			r = parse_chunk_list(m, (char *)text.data, ctx);
		if (r)
			set_error(repo, r, "export '%s': chunk list %s is damaged (%s)", m->name,
				  m->lists[i], r == -EBADMSG && why ? why : "bad entries");
	}
	store_buf_free(&obj);
	store_buf_free(&text);
	digest_end(ctx, root);
	if (r)
		return r == -ENOENT ? -EBADMSG : r;
	if (strcmp(root, m->root) || m->nr_entries != m->stored_chunks)
		return set_error(repo, -EBADMSG, "export '%s': the chunk lists do not match the manifest's root checksum",
				 m->name);
	return 0;
}

/* Store one chunk list (text of whole lines) as a chunk; its id goes to m->lists. */
static int store_chunk_list(struct repo *repo, struct chunk_codec *codec, struct manifest *m,
			    const char *text, size_t len, struct store_buf *obj)
{
	char id[CHUNK_ID_LEN + 1], key[128];
	void *p;
	int r;

	chunk_id(codec, text, len, id);
	r = chunk_encode(codec, text, len, id, obj);
	if (r)
		return set_error(repo, r, "cannot encode a chunk list");
	chunk_key(id, key, sizeof(key));
	r = store_put(repo->store, key, obj->data, obj->len);
	if (r)
		return store_failed(repo, r, "cannot store a chunk list");
	p = realloc(m->lists, (m->nr_lists + 1) * sizeof(*m->lists));
	if (!p)
		return -ENOMEM;
	m->lists = p;
	strcpy(m->lists[m->nr_lists++], id);
	return 0;
}

/* The bytes tag_lines() writes at most. */
static size_t tag_lines_size(const struct tag_set *set)
{
	return 32 + DESCRIPTION_MAX + set->nr * (16 + TAG_KEY_MAX + TAG_VALUE_MAX);
}

static size_t tag_lines(char *text, size_t cap, const char *prefix, const struct tag_set *set)
{
	size_t n = 0;
	unsigned int i;

	if (set->description && set->description[0])
		n += snprintf(text + n, cap - n, "%sdescription=%s\n", prefix, set->description);
	for (i = 0; i < set->nr && n < cap; i++)
		n += snprintf(text + n, cap - n, "%stag=%s=%s\n", prefix, set->tags[i].key,
			      set->tags[i].value);
	return n;
}

static int write_manifest_text(struct repo *repo, const struct manifest *m)
{
	size_t cap = 4096 + (m->nr_lists + 1) * (CHUNK_ID_LEN + 8) +
		     tag_lines_size(&m->tags) + tag_lines_size(&m->disk_tags), n = 0, i;
	char *text = malloc(cap), key[160], id[CHUNK_ID_LEN + 1];
	bool sealed = repo->format >= 2;
	int r;

	if (!text)
		return -ENOMEM;
#define ADD(...) (n += snprintf(text + n, cap - n, __VA_ARGS__))
	ADD("%s\n", sealed ? MANIFEST_MAGIC_V3 : MANIFEST_MAGIC);
	ADD("name=%s\npool=%s\npool_uuid=%s\ndisk=%s\ndisk_id=%" PRIu64 "\n", m->name, m->pool,
	    m->pool_uuid, m->disk, m->disk_id);
	ADD("snapshot=%s\nsnapshot_id=%" PRIu64 "\nsnapshot_time=%" PRIu64 "\nbase=%s\n",
	    m->snapshot, m->snapshot_id, m->snapshot_time, m->base);
	ADD("image_bytes=%" PRIu64 "\nblock_bytes=%u\nchunk_size=%u\n", m->image_bytes,
	    m->block_bytes, m->chunk_size);
	ADD("stored_chunks=%" PRIu64 "\nnew_chunks=%" PRIu64 "\nnew_bytes=%" PRIu64 "\n",
	    m->stored_chunks, m->new_chunks, m->new_bytes);
	ADD("read_chunks=%" PRIu64 "\ncreated=%" PRIu64 "\nroot=%s\n", m->read_chunks,
	    m->created, m->root);
	if (n < cap)
		n += tag_lines(text + n, cap - n, "", &m->tags);
	if (n < cap)
		n += tag_lines(text + n, cap - n, "disk_", &m->disk_tags);
	for (i = 0; i < m->nr_lists; i++)
		ADD("list=%s\n", m->lists[i]);
	if (repo->encrypted && !sealed && n < cap) {
		char mac[CHUNK_ID_LEN + 1];

		chunk_keys_manifest_mac(&repo->keys, text, n, mac);
		ADD("mac=%s\n", mac);
	}
	ADD("end\n");
#undef ADD
	manifest_key_id(repo, m->name, "manifest", key, sizeof(key), id);
	if (n >= cap)
		r = -EOVERFLOW;
	else if (sealed)
		r = put_sealed(repo, key, id, text, n);
	else
		r = store_put(repo->store, key, text, n);
	OPENSSL_cleanse(text, n < cap ? n : cap);
	free(text);
	return r ? store_failed(repo, r, "cannot write the manifest") : 0;
}

int manifest_write(struct repo *repo, struct chunk_codec *codec, struct manifest *m)
{
	struct store_buf obj = { 0 };
	size_t cap = repo->chunk_size, n = 0, i;
	char *text = malloc(cap), line[LIST_LINE_MAX + 1];
	EVP_MD_CTX *ctx = digest_begin();
	int r = 0, len;

	if (!text || !ctx) {
		free(text);
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	free(m->lists);
	m->lists = NULL;
	m->nr_lists = 0;
	m->stored_chunks = m->nr_entries;
	m->chunk_size = repo->chunk_size;
	for (i = 0; i < m->nr_entries && !r; i++) {
		len = snprintf(line, sizeof(line), "%" PRIu64 " %s\n", m->entries[i].index,
			       m->entries[i].id);
		if (n + len > cap) {
			r = store_chunk_list(repo, codec, m, text, n, &obj);
			n = 0;
		}
		memcpy(text + n, line, len);
		n += len;
		EVP_DigestUpdate(ctx, line, len);
	}
	if (!r && n)
		r = store_chunk_list(repo, codec, m, text, n, &obj);
	free(text);
	store_buf_free(&obj);
	digest_end(ctx, m->root);
	if (r)
		return r;
	if (!m->created)
		m->created = time(NULL);
	return write_manifest_text(repo, m);
}

int repo_mark_pending(struct repo *repo, const char *name)
{
	char key[160], text[64 + EXPORT_NAME_MAX], id[CHUNK_ID_LEN + 1];
	int n, r;

	manifest_key_id(repo, name, "pending", key, sizeof(key), id);
	if (repo->format >= 2) {
		/* the name, for export list, which sees only its hash */
		n = snprintf(text, sizeof(text), PENDING_MAGIC "\nname=%s\nstarted=%lld\nend\n",
			     name, (long long)time(NULL));
		r = put_sealed(repo, key, id, text, n);
	} else {
		n = snprintf(text, sizeof(text), "started=%lld\n", (long long)time(NULL));
		r = store_put(repo->store, key, text, n);
	}
	return r ? store_failed(repo, r, "cannot mark the export as under way") : 0;
}

int repo_clear_pending(struct repo *repo, const char *name)
{
	char key[160];
	int r;

	manifest_key(repo, name, "pending", key, sizeof(key));
	r = store_delete(repo->store, key);
	return r ? store_failed(repo, r, "cannot clear the pending marker") : 0;
}


/*----------------------------------------------------------------*/
/* Leases: see repo.h. */

#define LEASE_PREFIX "leases/"
#define LEASE_MAGIC "dm-row-lease 1"
#define LEASE_DEFAULT_SECONDS 60
#define LEASE_MAX_BYTES 1024

struct repo_lease {
	struct store *store;		/* the renewing thread's own connection */
	char key[64];
	char kind[16];
	char owner[160];
	unsigned int seconds;
	time_t valid_until;		/* the last written expiry, less a margin */
	pthread_mutex_t lock;		/* valid_until, stop */
	pthread_mutex_t io;		/* the store: one thread at a time */
	pthread_cond_t wake;
	bool stop;
	bool thread_running;
	pthread_t thread;
};

static unsigned int lease_seconds(void)
{
	const char *v = getenv("SNAPCTL_LEASE_SECONDS");
	unsigned long n = v ? strtoul(v, NULL, 10) : 0;

	return n >= 3 && n <= 86400 ? n : LEASE_DEFAULT_SECONDS;
}

static int lease_write(struct repo_lease *l)
{
	char text[LEASE_MAX_BYTES];
	time_t now = time(NULL), expires = now + l->seconds;
	int n, r;

	n = snprintf(text, sizeof(text), LEASE_MAGIC "\nkind=%s\nowner=%s\nexpires=%lld\nend\n",
		     l->kind, l->owner, (long long)expires);
	pthread_mutex_lock(&l->io);
	r = store_put(l->store, l->key, text, n);
	pthread_mutex_unlock(&l->io);
	if (!r) {
		pthread_mutex_lock(&l->lock);
		/* a third of the time is left for the work after a check */
		l->valid_until = now + l->seconds - l->seconds / 3;
		pthread_mutex_unlock(&l->lock);
	}
	return r;
}

static void *lease_renew(void *arg)
{
	struct repo_lease *l = arg;
	struct timespec at;

	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += l->seconds / 3;
		if (pthread_cond_timedwait(&l->wake, &l->lock, &at) == ETIMEDOUT && !l->stop) {
			pthread_mutex_unlock(&l->lock);
			lease_write(l);	/* a failure shows as an expiring lease */
			pthread_mutex_lock(&l->lock);
		}
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

struct lease_info {
	char kind[16];
	char owner[160];
	uint64_t expires;
};

static int lease_field(void *context, const char *key, const char *value)
{
	struct lease_info *li = context;

	if (!strcmp(key, "kind"))
		return copy_string(li->kind, sizeof(li->kind), value);
	if (!strcmp(key, "owner"))
		return copy_string(li->owner, sizeof(li->owner), value);
	if (!strcmp(key, "expires"))
		return parse_u64(value, &li->expires);
	return 0;
}

struct lease_scan {
	struct repo *repo;
	struct repo_lease *self;
	const char *kind;		/* the kind looked for */
	struct lease_info found;	/* the live one seen, if any */
	bool any;
	int error;
};

static int scan_lease(void *context, const char *key, uint64_t size)
{
	struct lease_scan *scan = context;
	struct store_buf buf = { 0 };
	struct lease_info li = { 0 };
	int r;

	if (!strcmp(key, scan->self->key) || strncmp(key + strlen(LEASE_PREFIX), scan->kind,
						     strlen(scan->kind)))
		return 0;
	r = store_get_max(scan->repo->store, key, &buf, LEASE_MAX_BYTES);
	if (r == -ENOENT)
		return 0;	/* released meanwhile */
	if (!r)
		r = buf_terminate(&buf);
	if (!r)
		r = parse_lines((char *)buf.data, LEASE_MAGIC, lease_field, &li);
	store_buf_free(&buf);
	if (r == -EBADMSG) {
		/* unreadable: someone's, unknown until when; count it live for a while */
		snprintf(li.owner, sizeof(li.owner), "unknown (damaged lease %s)", key);
		li.expires = (uint64_t)time(NULL) + 1;
		r = 0;
	}
	if (r) {
		scan->error = r;
		return r;
	}
	if (li.expires > (uint64_t)time(NULL) && (!scan->any || li.expires > scan->found.expires)) {
		scan->found = li;
		scan->any = true;
	}
	return 0;
}

/* Is a live lease of @kind (other than @self) held?  1 yes, 0 no, or -errno. */
static int lease_held(struct repo *repo, struct repo_lease *self, const char *kind,
		      struct lease_info *found)
{
	struct lease_scan scan = { .repo = repo, .self = self, .kind = kind };
	int r = store_list(repo->store, LEASE_PREFIX, scan_lease, &scan);

	if (r)
		return scan.error ? store_failed(repo, r, "cannot read a lease") :
		       store_failed(repo, r, "cannot list the leases");
	if (scan.any)
		*found = scan.found;
	return scan.any;
}

static void lease_free(struct repo_lease *l)
{
	if (l->thread_running) {
		pthread_mutex_lock(&l->lock);
		l->stop = true;
		pthread_cond_signal(&l->wake);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
	}
	if (l->store) {
		store_delete(l->store, l->key);
		store_close(l->store);
	}
	pthread_mutex_destroy(&l->lock);
	pthread_mutex_destroy(&l->io);
	pthread_cond_destroy(&l->wake);
	free(l);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int repo_lease_take(struct repo *repo, const char *kind, unsigned int flags,
		    struct repo_lease **out)
{
	const char *other = strcmp(kind, "gc") ? "gc" : "export";
	struct lease_info found;
	struct repo_lease *l;
	uint8_t rnd[8];
	char host[64] = "?";
	const char *why = NULL;
	unsigned int delay = 20;
	bool told = false;
	int r, i;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->io, NULL);
	pthread_cond_init(&l->wake, NULL);
	snprintf(l->kind, sizeof(l->kind), "%s", kind);
	gethostname(host, sizeof(host) - 1);
	snprintf(l->owner, sizeof(l->owner), "%s %s pid %d", kind, host, (int)getpid());
	/*
	 * Unique, not secret: the kernel's random bytes, without setting up
	 * OpenSSL's generator (millions of instructions, under emulation tens
	 * of milliseconds before an unencrypted export starts).
	 */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		lease_free(l);
		return set_error(repo, -EIO, "cannot make a lease id");
	}
	i = snprintf(l->key, sizeof(l->key), LEASE_PREFIX "%s-", kind);
	for (r = 0; r < (int)sizeof(rnd); r++)
		i += snprintf(l->key + i, sizeof(l->key) - i, "%02x", rnd[r]);
	l->seconds = lease_seconds();
	l->store = store_open(repo->url, &why);
	if (!l->store) {
		lease_free(l);
		return set_error(repo, -EIO, "%s: %s", repo->url, why ? why : "cannot open");
	}
	r = lease_write(l);
	if (r) {
		set_error(repo, r, "cannot write a lease: %s", store_error(l->store));
		store_close(l->store);
		l->store = NULL;
		lease_free(l);
		return r;
	}
	for (;;) {
		r = lease_held(repo, l, other, &found);
		if (r <= 0)
			break;
		if (!strcmp(kind, "gc") && !(flags & LEASE_WAIT)) {
			char when[32];
			time_t t = found.expires;
			struct tm tm;

			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
			r = set_error(repo, -EBUSY, "an export is under way (%s; its lease runs to %s UTC unless renewed): try again when it ends, or use --wait",
				      found.owner, when);
			break;
		}
		if (!strcmp(kind, "gc")) {
			/* give way while waiting, so that the export can start */
			pthread_mutex_lock(&l->io);
			store_delete(l->store, l->key);
			pthread_mutex_unlock(&l->io);
		}
		if (!told)
			fprintf(stderr, "snapctl: waiting for %s to end\n", found.owner);
		told = true;
		sleep_ms(delay);
		delay = delay < 1000 ? delay * 2 : 1000;
		if (!strcmp(kind, "gc")) {
			r = lease_write(l);
			if (r) {
				set_error(repo, r, "cannot write a lease: %s", store_error(l->store));
				break;
			}
		}
	}
	if (!r && pthread_create(&l->thread, NULL, lease_renew, l))
		r = set_error(repo, -EAGAIN, "cannot start the lease renewal");
	if (r) {
		lease_free(l);
		return r;
	}
	l->thread_running = true;
	*out = l;
	return 0;
}

bool repo_lease_valid(struct repo_lease *l)
{
	bool ok;

	pthread_mutex_lock(&l->lock);
	ok = time(NULL) < l->valid_until;
	pthread_mutex_unlock(&l->lock);
	return ok;
}

void repo_lease_release(struct repo_lease *l)
{
	if (l)
		lease_free(l);
}

/*----------------------------------------------------------------*/

static int collect_export(void *context, const char *key, uint64_t size)
{
	struct export_list *list = context;
	const char *base, *dot;
	struct export_list_entry *e = NULL;
	char name[EXPORT_NAME_MAX + 1];
	size_t i, n;
	void *p;

	if (strncmp(key, "exports/", strlen("exports/")))
		return 0;	/* store_list() passes none; never read past a short key */
	base = key + strlen("exports/");
	dot = strrchr(base, '.');
	if (!dot || (strcmp(dot, ".manifest") && strcmp(dot, ".pending")))
		return 0;
	n = dot - base;
	if (n > EXPORT_NAME_MAX)
		return 0;
	memcpy(name, base, n);
	name[n] = '\0';
	if (!export_name_valid(name))
		return 0;
	for (i = 0; i < list->nr; i++)
		if (!strcmp(list->entries[i].name, name))
			e = &list->entries[i];
	if (!e) {
		p = realloc(list->entries, (list->nr + 1) * sizeof(*list->entries));
		if (!p)
			return -ENOMEM;
		list->entries = p;
		e = &list->entries[list->nr++];
		memset(e, 0, sizeof(*e));
		strcpy(e->name, name);
	}
	if (!strcmp(dot, ".manifest"))
		e->complete = true;
	else
		e->pending = true;
	return 0;
}

static int compare_export_names(const void *a, const void *b)
{
	return strcmp(((const struct export_list_entry *)a)->name,
		      ((const struct export_list_entry *)b)->name);
}

static int pending_field(void *context, const char *key, const char *value)
{
	if (!strcmp(key, "name"))
		return copy_string(context, EXPORT_NAME_MAX + 1, value);
	return 0;
}

/*
 * The name of the export whose objects a format 2 repository keeps under
 * the keyed hash @id: in its manifest, or in its pending marker.  1 if
 * neither is there any more (finished, or deleted meanwhile).
 */
static int export_name_of(struct repo *repo, const struct export_list_entry *e,
			  char name[EXPORT_NAME_MAX + 1])
{
	struct store_buf obj = { 0 }, text = { 0 };
	bool pending = !e->complete;
	char key[160];
	int r;

	snprintf(key, sizeof(key), "exports/%s.%s", e->name, pending ? "pending" : "manifest");
	r = store_get(repo->store, key, &obj);
	if (r == -ENOENT && pending) {
		/* it may have just finished */
		pending = false;
		snprintf(key, sizeof(key), "exports/%s.manifest", e->name);
		r = store_get(repo->store, key, &obj);
	}
	if (r == -ENOENT)
		return 1;
	if (r)
		return store_failed(repo, r, "cannot read an export");
	r = open_sealed(repo, &obj, e->name, &text);
	store_buf_free(&obj);
	name[0] = '\0';
	if (!r)
		r = parse_lines((char *)text.data, pending ? PENDING_MAGIC : MANIFEST_MAGIC_V3,
				pending_field, name);
	store_buf_free(&text);
	return r;
}

/* Replace every keyed hash in @list by the name it stands for. */
static int resolve_export_names(struct repo *repo, struct export_list *list)
{
	char hash[CHUNK_ID_LEN + 1];
	size_t i, j;
	int r;

	for (i = 0, j = 0; i < list->nr; i++) {
		struct export_list_entry e = list->entries[i];

		if (!chunk_id_valid(e.name))
			continue;	/* not one of ours */
		r = export_name_of(repo, &e, list->entries[j].name);
		if (r == 1)
			continue;
		if (!r) {
			chunk_keys_name_id(&repo->keys, list->entries[j].name, hash);
			if (strcmp(hash, e.name))
				r = -EBADMSG;
		}
		if (r == -EBADMSG)
			return set_error(repo, r, "exports/%s: not authenticated by this repository's key: replaced or damaged",
					 e.name);
		if (r)
			return r;
		list->entries[j].complete = e.complete;
		list->entries[j].pending = e.pending;
		j++;
	}
	list->nr = j;
	return 0;
}

int repo_list_exports(struct repo *repo, struct export_list *list)
{
	int r;

	memset(list, 0, sizeof(*list));
	if (repo->format >= 2 && repo->keyless)
		return keyless_refused(repo);
	r = store_list(repo->store, "exports/", collect_export, list);
	if (r) {
		export_list_free(list);
		return r == -ENOMEM ? r : store_failed(repo, r, "cannot list the exports");
	}
	if (repo->format >= 2) {
		r = resolve_export_names(repo, list);
		if (r) {
			export_list_free(list);
			return r;
		}
	}
	qsort(list->entries, list->nr, sizeof(*list->entries), compare_export_names);
	return 0;
}

void export_list_free(struct export_list *list)
{
	free(list->entries);
	list->entries = NULL;
	list->nr = 0;
}

int repo_delete_export(struct repo *repo, const char *name)
{
	char key[160];
	int r;

	if (repo->format >= 2 && repo->keyless)
		return keyless_refused(repo);
	manifest_key(repo, name, "manifest", key, sizeof(key));
	r = store_delete(repo->store, key);
	if (!r)
		r = repo_clear_pending(repo, name);
	return r ? store_failed(repo, r, "cannot delete the export") : 0;
}

/* The set of chunk ids some manifest references: a sorted array. */
struct id_set {
	size_t nr, cap;
	char (*ids)[CHUNK_ID_LEN + 1];
};

static int id_set_add(struct id_set *set, const char *id)
{
	void *p;

	if (set->nr == set->cap) {
		set->cap = set->cap ? 2 * set->cap : 1024;
		p = realloc(set->ids, set->cap * sizeof(*set->ids));
		if (!p)
			return -ENOMEM;
		set->ids = p;
	}
	strcpy(set->ids[set->nr++], id);
	return 0;
}

static int compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct gc_walk {
	struct repo_lease *lease;
	struct repo *repo;
	struct id_set *referenced;
	struct gc_result *res;
};

static int gc_chunk(void *context, const char *key, uint64_t size)
{
	struct gc_walk *w = context;
	const char *id = strrchr(key, '/');
	int r;

	if (!id || !chunk_id_valid(id + 1))
		return 0;	/* not ours */
	if (bsearch(id + 1, w->referenced->ids, w->referenced->nr, sizeof(*w->referenced->ids),
		    compare_ids)) {
		w->res->kept++;
		return 0;
	}
	/* an export may start once our lease could have run out: stop first */
	if (!repo_lease_valid(w->lease))
		return set_error(w->repo, -ETIMEDOUT, "the gc lease could not be renewed in time: stopped (run gc again)");
	r = store_delete(w->repo->store, key);
	if (r)
		return store_failed(w->repo, r, "cannot delete an unreferenced chunk");
	w->res->deleted++;
	w->res->deleted_bytes += size;
	return 0;
}

int repo_gc_leased(struct repo *repo, struct chunk_codec *codec, bool force,
		   unsigned int lease_flags, struct repo_lease *held, struct gc_result *res)
{
	struct id_set referenced = { 0 };
	struct export_list list;
	struct gc_walk walk;
	struct lease_info found;
	struct manifest m;
	size_t i, j;
	int r;

	memset(res, 0, sizeof(*res));
	walk = (struct gc_walk){ held, repo, &referenced, res };
	/* an interrupted export is reported as such, before any lease it left */
	if (!force) {
		r = repo_list_exports(repo, &list);
		for (i = 0; !r && i < list.nr; i++)
			if (list.entries[i].pending)
				r = set_error(repo, -EBUSY, "export '%s' is under way or was interrupted: finish it (run it again) or delete it first",
					      list.entries[i].name);
		export_list_free(&list);
		if (r)
			return r;
	}
	if (!held) {
		r = repo_lease_take(repo, "gc", lease_flags, &walk.lease);
		if (r)
			return r;
	}
	r = repo_list_exports(repo, &list);
	if (r)
		goto out;
	for (i = 0; i < list.nr && !r; i++) {
		if (list.entries[i].pending && !force) {
			r = set_error(repo, -EBUSY, "export '%s' is under way or was interrupted: finish it (run it again) or delete it first",
				      list.entries[i].name);
			break;
		}
		if (!list.entries[i].complete)
			continue;
		r = manifest_read(repo, list.entries[i].name, &m);
		if (!r)
			r = manifest_load_entries(repo, codec, &m);
		for (j = 0; !r && j < m.nr_lists; j++)
			r = id_set_add(&referenced, m.lists[j]);
		for (j = 0; !r && j < m.nr_entries; j++)
			r = id_set_add(&referenced, m.entries[j].id);
		manifest_free(&m);
	}
	export_list_free(&list);
	/* checked again before the first deletion: no export may have started */
	if (!r) {
		r = lease_held(repo, walk.lease, "export", &found);
		if (r > 0)
			r = set_error(repo, -EBUSY, "an export started while gc ran (%s): nothing deleted; run gc again when it ends",
				      found.owner);
	}
	if (!r) {
		qsort(referenced.ids, referenced.nr, sizeof(*referenced.ids), compare_ids);
		for (i = 0, j = 0; i < referenced.nr; i++)
			if (!j || strcmp(referenced.ids[j - 1], referenced.ids[i]))
				memmove(referenced.ids[j++], referenced.ids[i], sizeof(*referenced.ids));
		referenced.nr = j;
		res->referenced = j;
		r = store_list(repo->store, "chunks/", gc_chunk, &walk);
	}
	free(referenced.ids);
out:
	if (!held)
		repo_lease_release(walk.lease);
	return r;
}

int repo_gc(struct repo *repo, struct chunk_codec *codec, bool force, struct gc_result *res)
{
	return repo_gc_leased(repo, codec, force, 0, NULL, res);
}
