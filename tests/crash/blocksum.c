// SPDX-License-Identifier: GPL-2.0
/*
 * blocksum: the SHA-256 of every block of files or block devices.
 *
 *   blocksum [--block-size BYTES] [--direct] FILE...
 *
 * Prints one lowercase hex digest per line: the blocks of the first FILE in
 * order, then those of the next.  A last partial block is hashed as it is.
 * The same digests as `split -b BYTES` followed by `sha256sum` on the
 * pieces, in one process: under emulation, creating thousands of small
 * files costs far more than hashing them.  --direct reads with O_DIRECT,
 * past any page cache of the device (where the file system has no
 * O_DIRECT, tmpfs for one, the file is read normally).  Files are read
 * 1 MiB at a time (or one block, if larger), and a block of zeroes gets
 * the digest of zeroes without being hashed: under emulation, a read per
 * block and hashing the unwritten blocks of a device cost most of the time.
 *
 * SHA-256 as specified in FIPS 180-4.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "blocksum";

struct sha256 {
	uint32_t h[8];
	uint64_t len;			/* bytes hashed */
	unsigned char buf[64];
	unsigned int used;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(s->h, h0, sizeof(h0));
	s->len = 0;
	s->used = 0;
}

static void sha256_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	unsigned int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++)
		w[i] = w[i - 16] + (ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
		       w[i - 7] + (ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10));
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_update(struct sha256 *s, const unsigned char *p, size_t len)
{
	size_t n;

	s->len += len;
	if (s->used) {
		n = 64 - s->used < len ? 64 - s->used : len;
		memcpy(s->buf + s->used, p, n);
		s->used += n;
		p += n;
		len -= n;
		if (s->used < 64)
			return;
		sha256_block(s, s->buf);
		s->used = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha256_block(s, p);
	memcpy(s->buf, p, len);
	s->used = len;
}

static void sha256_final(struct sha256 *s, unsigned char out[32])
{
	uint64_t bits = s->len * 8;
	unsigned int i;

	s->buf[s->used++] = 0x80;
	if (s->used > 56) {
		memset(s->buf + s->used, 0, 64 - s->used);
		sha256_block(s, s->buf);
		s->used = 0;
	}
	memset(s->buf + s->used, 0, 56 - s->used);
	for (i = 0; i < 8; i++)
		s->buf[56 + i] = bits >> (56 - 8 * i);
	sha256_block(s, s->buf);
	for (i = 0; i < 8; i++) {
		out[4 * i] = s->h[i] >> 24;
		out[4 * i + 1] = s->h[i] >> 16;
		out[4 * i + 2] = s->h[i] >> 8;
		out[4 * i + 3] = s->h[i];
	}
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--block-size BYTES] [--direct] FILE...\n"
		"\n"
		"Print the SHA-256 of every block of each FILE, one per line, in order.\n"
		"\n"
		"  -b, --block-size BYTES  block size [4096]\n"
		"  -d, --direct            read with O_DIRECT (block size a multiple of 512)\n"
		"  -h, --help              this text\n", prog);
}

/* Fill @buf with up to @len bytes; fewer only at the end of the file. */
static size_t read_block(int fd, unsigned char *buf, size_t len, const char *path)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("%s: %s", path, strerror(errno));
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

static void hex_digest(const unsigned char *p, size_t len, char line[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[32];
	struct sha256 s;
	int i;

	sha256_init(&s);
	sha256_update(&s, p, len);
	sha256_final(&s, digest);
	for (i = 0; i < 32; i++) {
		line[2 * i] = hex[digest[i] >> 4];
		line[2 * i + 1] = hex[digest[i] & 15];
	}
	line[64] = '\0';
}

static bool all_zero(const unsigned char *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	for (i = len / 8 * 8; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* @buf holds @chunk bytes, a multiple of @bs; @zero_line the digest of @bs zeroes. */
static void sum_file(const char *path, unsigned char *buf, size_t bs, size_t chunk,
		     const char *zero_line, bool direct)
{
	char line[65];
	size_t n, off, len;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (fd < 0 && direct && errno == EINVAL)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	while ((n = read_block(fd, buf, chunk, path))) {
		for (off = 0; off < n; off += bs) {
			len = n - off < bs ? n - off : bs;
			if (len == bs && all_zero(buf + off, len)) {
				puts(zero_line);
				continue;
			}
			hex_digest(buf + off, len, line);
			puts(line);
		}
		if (n < chunk)
			break;
	}
	close(fd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "block-size", required_argument, NULL, 'b' },
		{ "direct", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long bs = 4096;
	bool direct = false;
	unsigned char *buf;
	char zero_line[65];
	size_t chunk;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "b:dh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			errno = 0;
			bs = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || !bs || bs > (64UL << 20)) {
				fprintf(stderr, "%s: invalid block size '%s'\nTry '%s --help'.\n",
					prog, optarg, prog);
				return 2;
			}
			break;
		case 'd':
			direct = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "%s: no file given\nTry '%s --help'.\n", prog, prog);
		return 2;
	}
	if (direct && bs % 512) {
		fprintf(stderr, "%s: --direct needs a block size that is a multiple of 512\n", prog);
		return 2;
	}
	chunk = bs < (1UL << 20) ? (1UL << 20) / bs * bs : bs;
	if (posix_memalign((void **)&buf, 4096, chunk))
		die("out of memory");
	memset(buf, 0, bs);
	hex_digest(buf, bs, zero_line);
	for (; optind < argc; optind++)
		sum_file(argv[optind], buf, bs, chunk, zero_line, direct);
	if (fflush(stdout) || ferror(stdout))
		die("write error on standard output");
	free(buf);
	return 0;
}
