// SPDX-License-Identifier: GPL-2.0
/*
 * Chunk ids, encoding and decoding: zstd, SHA-256, HMAC-SHA256 and
 * AES-256-GCM from libzstd and OpenSSL.  See chunk.h for the format.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <zstd.h>

#include "chunk.h"

#define CHUNK_MAGIC "DMRC"
#define CHUNK_VERSION 1
#define CHUNK_COMPRESSED 0x1
#define CHUNK_ENCRYPTED 0x2
#define CHUNK_ZSTD_LEVEL 3
/*
 * Data that does not compress is stored raw without compressing all of
 * it: CHUNK_SAMPLES pieces of CHUNK_SAMPLE_BYTES spread over a chunk of at
 * least CHUNK_SAMPLE_MIN bytes are compressed first, and if they shrink
 * by less than 1/32 the whole chunk is taken as incompressible.
 */
#define CHUNK_SAMPLE_MIN (256u << 10)
#define CHUNK_SAMPLE_BYTES (8u << 10)
#define CHUNK_SAMPLES 4

struct chunk_codec {
	struct chunk_keys keys;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	EVP_CIPHER_CTX *cipher;
	uint8_t *scratch;		/* compressed data on its way in or out */
	size_t scratch_len;
};

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void to_hex(const uint8_t *bytes, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[bytes[i] >> 4];
		hex[2 * i + 1] = digits[bytes[i] & 15];
	}
	hex[2 * n] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void hmac_label(const uint8_t *key, const char *label, uint8_t out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, CHUNK_KEY_BYTES, (const uint8_t *)label, strlen(label), out, &len);
}

/* Each use of the key gets its own subkey, so no two uses can be played against each other. */
static void derive_keys(const uint8_t master[CHUNK_KEY_BYTES], struct chunk_keys *keys)
{
	keys->encrypted = true;
	hmac_label(master, "dm-row export: chunk cipher key", keys->cipher_key);
	hmac_label(master, "dm-row export: chunk id key", keys->id_key);
	hmac_label(master, "dm-row export: key check", keys->check_key);
	hmac_label(master, "dm-row export: manifest key", keys->manifest_key);
	hmac_label(master, "dm-row export: export name key", keys->name_key);
	hmac_label(master, "dm-row export: manifest cipher key", keys->manifest_cipher_key);
}

int chunk_keys_load(const char *path, struct chunk_keys *keys, const char **why)
{
	uint8_t buf[80], master[CHUNK_KEY_BYTES];
	ssize_t n;
	int fd, i;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = "cannot open the key file";
		return -errno;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		*why = "cannot read the key file";
		return -EIO;
	}
	if (n == CHUNK_KEY_BYTES) {
		memcpy(master, buf, sizeof(master));
	} else {
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		if (n != 2 * CHUNK_KEY_BYTES) {
			*why = "a key file holds 32 bytes, or 64 hex digits";
			return -EINVAL;
		}
		for (i = 0; i < CHUNK_KEY_BYTES; i++) {
			int hi = hex_value(buf[2 * i]), lo = hex_value(buf[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				*why = "a key file holds 32 bytes, or 64 hex digits";
				return -EINVAL;
			}
			master[i] = hi << 4 | lo;
		}
	}
	derive_keys(master, keys);
	OPENSSL_cleanse(master, sizeof(master));
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

void chunk_keys_plain(struct chunk_keys *keys)
{
	memset(keys, 0, sizeof(*keys));
}

void chunk_keys_check(const struct chunk_keys *keys, char hex[CHUNK_ID_LEN + 1])
{
	uint8_t mac[32];

	hmac_label(keys->check_key, "dm-row export: this is the repository key", mac);
	to_hex(mac, sizeof(mac), hex);
}

void chunk_keys_manifest_mac(const struct chunk_keys *keys, const void *data, size_t len,
			     char hex[CHUNK_ID_LEN + 1])
{
	uint8_t mac[32];
	unsigned int n = sizeof(mac);

	HMAC(EVP_sha256(), keys->manifest_key, CHUNK_KEY_BYTES, data, len, mac, &n);
	to_hex(mac, sizeof(mac), hex);
}

void chunk_keys_name_id(const struct chunk_keys *keys, const char *name,
			char hex[CHUNK_ID_LEN + 1])
{
	uint8_t mac[32];
	unsigned int n = sizeof(mac);

	HMAC(EVP_sha256(), keys->name_key, CHUNK_KEY_BYTES, (const uint8_t *)name, strlen(name),
	     mac, &n);
	to_hex(mac, sizeof(mac), hex);
}

struct chunk_codec *chunk_codec_new(const struct chunk_keys *keys, size_t max_data)
{
	struct chunk_codec *codec = calloc(1, sizeof(*codec));

	if (!codec)
		return NULL;
	codec->keys = *keys;
	codec->scratch_len = ZSTD_compressBound(max_data);
	codec->scratch = malloc(codec->scratch_len);
	codec->cctx = ZSTD_createCCtx();
	codec->dctx = ZSTD_createDCtx();
	codec->cipher = EVP_CIPHER_CTX_new();
	if (!codec->scratch || !codec->cctx || !codec->dctx || !codec->cipher) {
		chunk_codec_free(codec);
		return NULL;
	}
	return codec;
}

void chunk_codec_free(struct chunk_codec *codec)
{
	if (!codec)
		return;
	ZSTD_freeCCtx(codec->cctx);
	ZSTD_freeDCtx(codec->dctx);
	EVP_CIPHER_CTX_free(codec->cipher);
	free(codec->scratch);
	OPENSSL_cleanse(&codec->keys, sizeof(codec->keys));
	free(codec);
}

void chunk_id(struct chunk_codec *codec, const void *data, size_t len,
	      char id[CHUNK_ID_LEN + 1])
{
	uint8_t digest[32];
	unsigned int dlen = sizeof(digest);

	if (codec->keys.encrypted)
		HMAC(EVP_sha256(), codec->keys.id_key, CHUNK_KEY_BYTES, data, len, digest, &dlen);
	else
		SHA256(data, len, digest);
	to_hex(digest, sizeof(digest), id);
}

static int buf_reserve(struct store_buf *buf, size_t len)
{
	uint8_t *data;

	if (buf->cap >= len)
		return 0;
	data = realloc(buf->data, len);
	if (!data)
		return -ENOMEM;
	buf->data = data;
	buf->cap = len;
	return 0;
}

/* AES-256-GCM over @in into @out (which may be @in), authenticating the header and the id. */
static int gcm_seal(struct chunk_codec *codec, const uint8_t *header, const char *id,
		    const uint8_t *nonce, const uint8_t *in, size_t len, uint8_t *out,
		    uint8_t *tag)
{
	EVP_CIPHER_CTX *c = codec->cipher;
	int n, ok;

	ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, codec->keys.cipher_key, nonce) &&
	     EVP_EncryptUpdate(c, NULL, &n, header, CHUNK_HEADER_BYTES) &&
	     EVP_EncryptUpdate(c, NULL, &n, (const uint8_t *)id, CHUNK_ID_LEN) &&
	     EVP_EncryptUpdate(c, out, &n, in, len) &&
	     EVP_EncryptFinal_ex(c, out + n, &n) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CHUNK_TAG_BYTES, tag);
	return ok ? 0 : -EIO;
}

static int gcm_open(struct chunk_codec *codec, const uint8_t *header, const char *id,
		    const uint8_t *nonce, const uint8_t *in, size_t len, uint8_t *out,
		    const uint8_t *tag)
{
	EVP_CIPHER_CTX *c = codec->cipher;
	int n;

	if (!EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, codec->keys.cipher_key, nonce) ||
	    !EVP_DecryptUpdate(c, NULL, &n, header, CHUNK_HEADER_BYTES) ||
	    !EVP_DecryptUpdate(c, NULL, &n, (const uint8_t *)id, CHUNK_ID_LEN) ||
	    !EVP_DecryptUpdate(c, out, &n, in, len) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CHUNK_TAG_BYTES, (void *)tag))
		return -EIO;
	return EVP_DecryptFinal_ex(c, out + n, &n) > 0 ? 0 : -EBADMSG;
}

/* Would compressing @data be worth it?  Guessed from samples of a big chunk. */
static bool worth_compressing(struct chunk_codec *codec, const uint8_t *data, size_t len)
{
	size_t in = 0, out = 0, step, z;
	unsigned int i;

	if (len < CHUNK_SAMPLE_MIN)
		return true;
	step = (len - CHUNK_SAMPLE_BYTES) / (CHUNK_SAMPLES - 1);
	for (i = 0; i < CHUNK_SAMPLES; i++) {
		z = ZSTD_compressCCtx(codec->cctx, codec->scratch, codec->scratch_len,
				      data + i * step, CHUNK_SAMPLE_BYTES, CHUNK_ZSTD_LEVEL);
		if (ZSTD_isError(z))
			return true;
		in += CHUNK_SAMPLE_BYTES;
		out += z;
	}
	return out < in - in / 32;
}

/*
 * @data compressed into @out (of @cap bytes, at least ZSTD_compressBound(@len)):
 * the compressed length, or 0 if that is no smaller than @len.
 */
static size_t compress(struct chunk_codec *codec, const uint8_t *data, size_t len, uint8_t *out,
		       size_t cap)
{
	size_t z = ZSTD_compressCCtx(codec->cctx, out, cap, data, len, CHUNK_ZSTD_LEVEL);

	return ZSTD_isError(z) || z >= len ? 0 : z;
}

static int check_len(struct chunk_codec *codec, size_t len)
{
	return len > ZSTD_compressBound(len) || ZSTD_compressBound(len) > codec->scratch_len ?
	       -EINVAL : 0;
}

static void make_header(struct chunk_codec *codec, uint8_t *header, size_t len,
			size_t payload_len, bool compressed)
{
	memset(header, 0, CHUNK_HEADER_BYTES);
	memcpy(header, CHUNK_MAGIC, 4);
	header[4] = CHUNK_VERSION;
	header[5] = (compressed ? CHUNK_COMPRESSED : 0) |
		    (codec->keys.encrypted ? CHUNK_ENCRYPTED : 0);
	put_le32(header + 8, len);
	put_le32(header + 12, payload_len);
}

int chunk_encode(struct chunk_codec *codec, const void *data, size_t len, const char *id,
		 struct store_buf *out)
{
	const uint8_t *payload = data;
	size_t payload_len = len, zlen = 0;
	uint8_t header[CHUNK_HEADER_BYTES];
	uint8_t *p;
	int r;

	r = check_len(codec, len);
	if (r)
		return r;
	if (worth_compressing(codec, data, len))
		zlen = compress(codec, data, len, codec->scratch, codec->scratch_len);
	if (zlen) {
		payload = codec->scratch;
		payload_len = zlen;
	}
	make_header(codec, header, len, payload_len, zlen);

	r = buf_reserve(out, CHUNK_OVERHEAD + payload_len);
	if (r)
		return r;
	p = out->data;
	memcpy(p, header, CHUNK_HEADER_BYTES);
	p += CHUNK_HEADER_BYTES;
	if (!codec->keys.encrypted) {
		memcpy(p, payload, payload_len);
		out->len = CHUNK_HEADER_BYTES + payload_len;
		return 0;
	}
	if (RAND_bytes(p, CHUNK_NONCE_BYTES) != 1)
		return -EIO;
	r = gcm_seal(codec, header, id, p, payload, payload_len, p + CHUNK_NONCE_BYTES,
		     p + CHUNK_NONCE_BYTES + payload_len);
	if (r)
		return r;
	out->len = CHUNK_OVERHEAD + payload_len;
	return 0;
}

int chunk_encode_parts(struct chunk_codec *codec, void *data, size_t len, const char *id,
		       struct store_buf *zbuf, struct chunk_parts *parts)
{
	uint8_t *payload = data, *nonce = parts->head + CHUNK_HEADER_BYTES;
	size_t payload_len = len, zlen = 0, head_len = CHUNK_HEADER_BYTES;
	int r;

	r = check_len(codec, len);
	if (r)
		return r;
	if (worth_compressing(codec, data, len)) {
		/* pages of @zbuf past what the compressed data fills stay untouched */
		r = buf_reserve(zbuf, ZSTD_compressBound(len));
		if (r)
			return r;
		zlen = compress(codec, data, len, zbuf->data, zbuf->cap);
	}
	if (zlen) {
		payload = zbuf->data;
		payload_len = zlen;
		zbuf->len = zlen;
	}
	make_header(codec, parts->head, len, payload_len, zlen);
	parts->nr = 0;
	if (codec->keys.encrypted) {
		if (RAND_bytes(nonce, CHUNK_NONCE_BYTES) != 1)
			return -EIO;
		r = gcm_seal(codec, parts->head, id, nonce, payload, payload_len, payload,
			     parts->tag);
		if (r)
			return r;
		head_len += CHUNK_NONCE_BYTES;
	}
	parts->iov[parts->nr++] = (struct iovec){ parts->head, head_len };
	parts->iov[parts->nr++] = (struct iovec){ payload, payload_len };
	if (codec->keys.encrypted)
		parts->iov[parts->nr++] = (struct iovec){ parts->tag, CHUNK_TAG_BYTES };
	parts->len = head_len + payload_len + (codec->keys.encrypted ? CHUNK_TAG_BYTES : 0);
	return 0;
}

static int decode(struct chunk_codec *codec, const struct store_buf *obj, const char *id,
		  struct store_buf *out, const char **why, bool check_id)
{
	const uint8_t *header = obj->data, *payload;
	uint32_t data_len, payload_len;
	char actual[CHUNK_ID_LEN + 1];
	uint8_t flags;
	size_t n;
	int r;

	*why = "damaged header";
	if (obj->len < CHUNK_HEADER_BYTES || memcmp(header, CHUNK_MAGIC, 4) ||
	    header[4] != CHUNK_VERSION)
		return -EBADMSG;
	flags = header[5];
	data_len = get_le32(header + 8);
	payload_len = get_le32(header + 12);
	if ((flags & ~(CHUNK_COMPRESSED | CHUNK_ENCRYPTED)) || header[6] || header[7] ||
	    ZSTD_compressBound(data_len) > codec->scratch_len ||
	    payload_len > codec->scratch_len)
		return -EBADMSG;
	if (!(flags & CHUNK_ENCRYPTED) != !codec->keys.encrypted) {
		*why = codec->keys.encrypted ? "not encrypted, in an encrypted repository" :
					       "encrypted, and no key was given";
		return -EBADMSG;
	}
	n = CHUNK_HEADER_BYTES + payload_len + (codec->keys.encrypted ? CHUNK_NONCE_BYTES +
						CHUNK_TAG_BYTES : 0);
	if (obj->len != n || (!(flags & CHUNK_COMPRESSED) && payload_len != data_len)) {
		*why = "wrong length";
		return -EBADMSG;
	}
	r = buf_reserve(out, data_len ? data_len : 1);
	if (r)
		return r;
	payload = header + CHUNK_HEADER_BYTES;
	if (codec->keys.encrypted) {
		const uint8_t *nonce = payload;

		payload += CHUNK_NONCE_BYTES;
		r = gcm_open(codec, header, id, nonce, payload, payload_len, codec->scratch,
			     payload + payload_len);
		if (r) {
			*why = "authentication failed (damaged, or another key)";
			return r == -EBADMSG ? r : -EIO;
		}
		payload = codec->scratch;
	}
	if (flags & CHUNK_COMPRESSED) {
		n = ZSTD_decompressDCtx(codec->dctx, out->data, data_len, payload, payload_len);
		if (ZSTD_isError(n) || n != data_len) {
			*why = "damaged compressed data";
			return -EBADMSG;
		}
	} else {
		memcpy(out->data, payload, data_len);
	}
	out->len = data_len;
	if (!check_id)
		return 0;
	chunk_id(codec, out->data, data_len, actual);
	if (strcmp(actual, id)) {
		*why = "content does not match its id";
		return -EBADMSG;
	}
	return 0;
}

int chunk_decode(struct chunk_codec *codec, const struct store_buf *obj, const char *id,
		 struct store_buf *out, const char **why)
{
	return decode(codec, obj, id, out, why, true);
}

int chunk_decode_named(struct chunk_codec *codec, const struct store_buf *obj, const char *id,
		       struct store_buf *out, const char **why)
{
	return decode(codec, obj, id, out, why, false);
}

void chunk_key(const char *id, char *key, size_t len)
{
	snprintf(key, len, "chunks/%.2s/%s", id, id);
}

bool chunk_id_valid(const char *id)
{
	size_t i;

	for (i = 0; i < CHUNK_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return id[CHUNK_ID_LEN] == '\0';
}
