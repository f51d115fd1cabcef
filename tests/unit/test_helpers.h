/* SPDX-License-Identifier: GPL-2.0 */
/*
 * For the randomized unit tests of the metadata core: a seeded
 * pseudo-random generator (xorshift64*) and check(), an assertion that
 * says the seed and where the test was, so that a failure can be replayed.
 *
 * Define before including it:
 *   TEST_NAME        what a failure message starts with: "btree" gives
 *                    "btree test failed: seed=<n> phase=<phase>: ..."
 *   TEST_WHERE_FMT,  (optional) a printf format and its arguments for the
 *   TEST_WHERE_ARGS  place a failure names after the seed.  Without them
 *                    the place is a phase, which start() sets.
 * The core's types (u64) must be declared first.
 */
#ifndef DMROW_TESTS_TEST_HELPERS_H
#define DMROW_TESTS_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TEST_NAME
#error "define TEST_NAME before including test_helpers.h"
#endif

static u64 seed, rng_state;

/* qsort() order of u64 keys and blocks. */
static inline int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Seed the generator with @s (0 works too: the state is never 0). */
static inline void rnd_seed(u64 s)
{
	seed = s;
	rng_state = s ? s : 1;
}

#ifndef TEST_WHERE_FMT
static const char *phase = "setup";

#define TEST_WHERE_FMT	"phase=%s"
#define TEST_WHERE_ARGS	phase

/* Phase @name begins, with @fixed_seed unless DMROW_TEST_SEED=<n> replaces it. */
static inline void start(const char *name, u64 fixed_seed)
{
	const char *env = getenv("DMROW_TEST_SEED");

	rnd_seed(env ? strtoull(env, NULL, 0) : fixed_seed);
	phase = name;
}
#endif

#define check(cond, ...) do {							\
	if (!(cond)) {								\
		fprintf(stderr, TEST_NAME " test failed: seed=%llu "		\
			TEST_WHERE_FMT ": ", (unsigned long long)seed,		\
			TEST_WHERE_ARGS);					\
		fprintf(stderr, __VA_ARGS__);					\
		fprintf(stderr, "\n");						\
		fail();								\
	}									\
} while (0)

#define check_ok(expr) do {							\
	int r__ = (expr);							\
	check(r__ == 0, "%s returned %d", #expr, r__);				\
} while (0)

/* xorshift64* */
static inline u64 rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* 0 .. @n - 1 (0 for 0). */
static inline unsigned int rnd_below(unsigned int n)
{
	return n ? rnd() % n : 0;
}

#ifdef DMROW_BLOCK_CACHE_H
/*
 * Destroy a block cache (compat/public/block-cache.h, included first), with
 * what it says on standard error in @buf: a block still locked, a leak,
 * makes it warn ("WARN_ON").
 */
static inline void bm_destroy_capture(struct dmrow_bm *bm, char *buf, size_t len)
{
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_true(f && saved >= 0);
	fflush(stderr);
	dup2(fileno(f), 2);
	dmrow_bm_destroy(bm);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
}
#endif

#endif
