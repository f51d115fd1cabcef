/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Chunks: the content-addressed objects an export is made of
 * (Documentation/export-format.rst).
 *
 * A chunk holds up to one repository chunk size of image data.  Its id is
 * the SHA-256 of that data, or, in an encrypted repository, an HMAC-SHA256
 * of it under a key derived from the repository key, so that ids say
 * nothing about content to whoever lacks the key.  The stored object is a
 * 16-byte header, the data compressed with zstd (or raw when that is not
 * smaller) and, when encrypted, AES-256-GCM with a random 96-bit nonce and
 * the header and id as additional data.  Decoding checks everything: the
 * header, the tag, the length and finally the id of what came out.
 */
#ifndef DMROW_EXPORT_CHUNK_H
#define DMROW_EXPORT_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define CHUNK_ID_LEN 64			/* lowercase hex SHA-256 / HMAC-SHA256 */
#define CHUNK_HEADER_BYTES 16
#define CHUNK_NONCE_BYTES 12
#define CHUNK_TAG_BYTES 16
/* What an object may add to the data it holds. */
#define CHUNK_OVERHEAD (CHUNK_HEADER_BYTES + CHUNK_NONCE_BYTES + CHUNK_TAG_BYTES)
#define CHUNK_KEY_BYTES 32

struct chunk_keys {
	bool encrypted;
	uint8_t cipher_key[CHUNK_KEY_BYTES];	/* AES-256-GCM */
	uint8_t id_key[CHUNK_KEY_BYTES];	/* keyed chunk ids */
	uint8_t check_key[CHUNK_KEY_BYTES];	/* proves the right key to a repository */
	uint8_t manifest_key[CHUNK_KEY_BYTES];	/* authenticates manifests (format 2) */
	uint8_t name_key[CHUNK_KEY_BYTES];	/* keyed export names (repository format 2) */
	uint8_t manifest_cipher_key[CHUNK_KEY_BYTES];	/* encrypts manifests (format 3) */
};

/*
 * Read a key file: 32 raw bytes, or 64 hex digits with an optional newline.
 * Returns 0, or -errno with @why set to a static explanation.
 */
int chunk_keys_load(const char *path, struct chunk_keys *keys, const char **why);
/* The keys of an unencrypted repository. */
void chunk_keys_plain(struct chunk_keys *keys);
/* The key check a repository records: hex of an HMAC of a fixed label. */
void chunk_keys_check(const struct chunk_keys *keys, char hex[CHUNK_ID_LEN + 1]);

/* HMAC-SHA256 of @len bytes of @data under the manifest key, in hex. */
void chunk_keys_manifest_mac(const struct chunk_keys *keys, const void *data, size_t len,
			     char hex[CHUNK_ID_LEN + 1]);

/* HMAC-SHA256 of the export name @name under the name key, in hex. */
void chunk_keys_name_id(const struct chunk_keys *keys, const char *name,
			char hex[CHUNK_ID_LEN + 1]);

/* One per thread: compression contexts and buffers. */
struct chunk_codec;

struct chunk_codec *chunk_codec_new(const struct chunk_keys *keys, size_t max_data);
void chunk_codec_free(struct chunk_codec *codec);

/* The id of @len bytes of @data. */
void chunk_id(struct chunk_codec *codec, const void *data, size_t len,
	      char id[CHUNK_ID_LEN + 1]);

/* Encode @data (whose id is @id) into the object bytes in @out. */
int chunk_encode(struct chunk_codec *codec, const void *data, size_t len, const char *id,
		 struct store_buf *out);

/*
 * An object as the parts store_putv() takes: the header (with the nonce
 * when encrypted), the payload and, when encrypted, the tag.  iov[] points
 * into the structure itself: it is not to be copied.
 */
struct chunk_parts {
	uint8_t head[CHUNK_HEADER_BYTES + CHUNK_NONCE_BYTES];
	uint8_t tag[CHUNK_TAG_BYTES];
	struct iovec iov[3];
	unsigned int nr;
	size_t len;			/* of the object */
};

/*
 * chunk_encode() without copying the chunk: the same object, as @parts.
 * Its payload is @data itself when the chunk is stored raw (encrypted in
 * place in an encrypted repository, so @data then no longer holds the
 * chunk), or else the compressed data in @zbuf, grown as needed and best
 * kept for the next chunk.  @data and @zbuf must stay until the object is
 * stored.
 */
int chunk_encode_parts(struct chunk_codec *codec, void *data, size_t len, const char *id,
		       struct store_buf *zbuf, struct chunk_parts *parts);

/*
 * Decode the object @obj that should be chunk @id into @out.  -EBADMSG if
 * it is damaged, not chunk @id, or was not written with these keys; @why
 * then says which check failed.
 */
int chunk_decode(struct chunk_codec *codec, const struct store_buf *obj, const char *id,
		 struct store_buf *out, const char **why);

/*
 * chunk_decode() without the last check (the id of the content): for
 * objects that are not content addressed, whose @id (64 hex digits) is
 * only authenticated with them, like an encrypted manifest's keyed name.
 */
int chunk_decode_named(struct chunk_codec *codec, const struct store_buf *obj, const char *id,
		       struct store_buf *out, const char **why);

/* The store key of chunk @id: "chunks/<first two digits>/<id>". */
void chunk_key(const char *id, char *key, size_t len);

/* Is @id 64 lowercase hex digits? */
bool chunk_id_valid(const char *id);

#endif /* DMROW_EXPORT_CHUNK_H */
