// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: decoding export chunks (userspace/export/chunk.c).
 *
 * Input: one flags byte, then bytes.
 *
 *   bit 0  the repository is encrypted (fixed test keys), else plain
 *   bit 1  round trip: encode the bytes as a chunk, then decode it; it must
 *          come back equal; changed in one bit (at an offset taken from the
 *          data) it must be refused, or in a plain repository decode to the
 *          same data; cut short by a byte it must be refused
 *   else   the bytes are an object read from a store: decode it as the
 *          chunk whose id is the one its data would have if it came back
 *          equal to itself minus the header (so that well-formed objects
 *          whose content is right get through), and as a chunk of another
 *          id
 *
 * A crafted object must be refused with -EBADMSG and a reason, never
 * crash, leak, read or write out of bounds, or decode into anything but
 * the data whose id it was asked for.
 */
#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk.h"
#include "store.h"

#define MAX_DATA	(256u << 10)

#define FLAG_ENCRYPTED	(1u << 0)
#define FLAG_ROUND_TRIP	(1u << 1)

static int report_fd = 2;

#define fuzz_fail(...) do {							\
	dprintf(report_fd, "fuzz: " __VA_ARGS__);				\
	abort();								\
} while (0)

static struct chunk_codec *plain, *encrypted;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct chunk_keys keys;
	int fd = dup(2), i;

	if (fd >= 0)
		report_fd = fd;
	chunk_keys_plain(&keys);
	plain = chunk_codec_new(&keys, MAX_DATA);
	memset(&keys, 0, sizeof(keys));
	keys.encrypted = true;
	for (i = 0; i < CHUNK_KEY_BYTES; i++) {
		keys.cipher_key[i] = i;
		keys.id_key[i] = 0x40 + i;
		keys.check_key[i] = 0x80 + i;
	}
	encrypted = chunk_codec_new(&keys, MAX_DATA);
	if (!plain || !encrypted)
		fuzz_fail("cannot make the codecs\n");
	return 0;
}

/* Decoding must either fail with -EBADMSG and a reason, or give @expect. */
static void decode(struct chunk_codec *codec, const struct store_buf *obj, const char *id,
		   const void *expect, size_t expect_len, bool must_fail)
{
	struct store_buf out = { 0 };
	const char *why = NULL;
	int r = chunk_decode(codec, obj, id, &out, &why);

	if (r && r != -EBADMSG && r != -ENOMEM)
		fuzz_fail("decode failed with %d, not -EBADMSG\n", r);
	if (r == -EBADMSG && !why)
		fuzz_fail("decode refused an object without a reason\n");
	if (!r && must_fail)
		fuzz_fail("decode accepted a damaged object\n");
	if (!r && expect && (out.len != expect_len || memcmp(out.data, expect, expect_len)))
		fuzz_fail("decode gave other data than chunk %s holds\n", id);
	if (!r) {
		char actual[CHUNK_ID_LEN + 1];

		chunk_id(codec, out.data, out.len, actual);
		if (strcmp(actual, id))
			fuzz_fail("decode gave data whose id is not %s\n", id);
	}
	store_buf_free(&out);
}

static void round_trip(struct chunk_codec *codec, const uint8_t *data, size_t len)
{
	struct store_buf obj = { 0 };
	char id[CHUNK_ID_LEN + 1];
	size_t at;
	int r;

	if (len > MAX_DATA)
		return;
	chunk_id(codec, data, len, id);
	if (!chunk_id_valid(id))
		fuzz_fail("chunk_id made an invalid id '%s'\n", id);
	r = chunk_encode(codec, data, len, id, &obj);
	if (r)
		fuzz_fail("encode of %zu bytes failed: %d\n", len, r);
	if (obj.len > len + CHUNK_OVERHEAD)
		fuzz_fail("%zu bytes encoded into %zu\n", len, obj.len);
	decode(codec, &obj, id, data, len, false);
	/*
	 * One bit changed: refused when encrypted (the tag covers everything);
	 * in a plain repository only the id protects the data, so a change
	 * that decodes to the same data may pass, and nothing else may.
	 */
	at = len ? (data[0] | (size_t)data[len - 1] << 8) % obj.len : 0;
	obj.data[at] ^= 1u << (len % 8);
	decode(codec, &obj, id, data, len, codec == encrypted);
	/* Cut short by one byte: refused. */
	obj.data[at] ^= 1u << (len % 8);
	obj.len--;
	decode(codec, &obj, id, data, len, true);
	store_buf_free(&obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunk_codec *codec;
	struct store_buf obj;
	char id[CHUNK_ID_LEN + 1];
	uint8_t *copy;

	if (!size)
		return 0;
	codec = data[0] & FLAG_ENCRYPTED ? encrypted : plain;
	data++;
	size--;
	if (data[-1] & FLAG_ROUND_TRIP) {
		round_trip(codec, data, size);
		return 0;
	}
	/* An exact-size copy: ASan sees any read past the object. */
	copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	obj.data = copy;
	obj.len = size;
	obj.cap = size;
	chunk_id(codec, size > CHUNK_HEADER_BYTES ? copy + CHUNK_HEADER_BYTES : copy,
		 size > CHUNK_HEADER_BYTES ? size - CHUNK_HEADER_BYTES : 0, id);
	decode(codec, &obj, id, NULL, 0, false);
	memset(id, 'f', CHUNK_ID_LEN);
	decode(codec, &obj, id, NULL, 0, false);
	free(copy);
	return 0;
}
