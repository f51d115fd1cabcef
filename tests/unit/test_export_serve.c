// SPDX-License-Identifier: GPL-2.0
/*
 * The logic behind serving an export as a block device (the nbdkit plugin,
 * userspace/nbdkit/dmrow-plugin.c), without a server:
 *
 *  - slot lookup: manifest_find() and manifest_lower_bound() find each
 *    slot's entry, or none, in a sorted entry list, at both ends too, and
 *    manifest_slot_bytes() gives the short last slot;
 *  - the chunk cache: hits and misses, the bound (entries reused with
 *    their buffers once full, never more than the bound while nothing is
 *    held, back within it once held entries are let go), least recently
 *    used order, prefetch flags (no waiting, no growing), one fetch per
 *    slot however many readers wait for it, and a failed fetch giving its
 *    error to its waiters and leaving nothing behind, so the next read
 *    fetches again;
 *  - read-ahead: a sequential reader gets the next slots once, up to the
 *    window and the end of the image; random reads get none; a sequential
 *    stream keeps its read-ahead while random reads come in between, and
 *    requests a little out of order do not break it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "chunk-cache.h"
#include "readahead.h"
#include "repo.h"

/*----------------------------------------------------------------*/
/* Slot lookup */

static void test_slot_lookup(void **state)
{
	static const uint64_t slots[] = { 0, 3, 4, 9 };
	struct chunk_entry entries[4];
	struct manifest m;
	uint64_t s;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.chunk_size = 4096;
	m.image_bytes = 10 * 4096 - 100;	/* 10 slots, the last one short */
	m.entries = entries;
	m.nr_entries = 4;
	for (i = 0; i < 4; i++) {
		entries[i].index = slots[i];
		snprintf(entries[i].id, sizeof(entries[i].id), "%064zu", i);
	}
	assert_int_equal(manifest_slots(&m), 10);
	for (s = 0; s < 10; s++) {
		const struct chunk_entry *e = manifest_find(&m, s);
		bool stored = s == 0 || s == 3 || s == 4 || s == 9;

		if (stored) {
			assert_non_null(e);
			assert_int_equal(e->index, s);
		} else {
			assert_null(e);
		}
	}
	assert_null(manifest_find(&m, 10));
	assert_int_equal(manifest_lower_bound(&m, 0), 0);
	assert_int_equal(manifest_lower_bound(&m, 1), 1);
	assert_int_equal(manifest_lower_bound(&m, 4), 2);
	assert_int_equal(manifest_lower_bound(&m, 5), 3);
	assert_int_equal(manifest_lower_bound(&m, 10), 4);
	assert_int_equal(manifest_slot_bytes(&m, 0), 4096);
	assert_int_equal(manifest_slot_bytes(&m, 9), 4096 - 100);
	assert_int_equal(manifest_slot_bytes(&m, 10), 0);

	m.nr_entries = 0;
	assert_null(manifest_find(&m, 0));
	assert_int_equal(manifest_lower_bound(&m, 5), 0);
}

/*----------------------------------------------------------------*/
/* The chunk cache */

/* Fill @slot (a miss) with one byte, @slot's low byte, and let it go. */
static struct cache_entry *fill(struct chunk_cache *c, uint64_t slot)
{
	struct cache_entry *e;

	assert_int_equal(chunk_cache_get(c, slot, 0, &e), CACHE_MISS);
	assert_int_equal(e->slot, slot);
	assert_int_equal(e->state, CACHE_FILLING);
	if (!e->buf.cap) {
		e->buf.data = malloc(64);
		assert_non_null(e->buf.data);
		e->buf.cap = 64;
	}
	e->buf.data[0] = (uint8_t)slot;
	e->buf.len = 1;
	chunk_cache_fill_done(c, e, 0);
	return e;
}

static void expect_hit(struct chunk_cache *c, uint64_t slot)
{
	struct cache_entry *e;

	assert_int_equal(chunk_cache_get(c, slot, 0, &e), CACHE_HIT);
	assert_int_equal(e->state, CACHE_READY);
	assert_int_equal(e->buf.data[0], (uint8_t)slot);
	chunk_cache_put(c, e);
}

static void test_cache_hit_miss_lru(void **state)
{
	struct chunk_cache c;
	struct cache_stats st;
	struct cache_entry *e, *first;
	uint8_t *buffer;
	uint64_t s;

	assert_int_equal(chunk_cache_init(&c, 4), 0);
	first = fill(&c, 10);
	buffer = first->buf.data;
	for (s = 11; s < 14; s++)
		fill(&c, s);
	expect_hit(&c, 10);		/* 10 is now the most recent: 11 is the oldest */
	e = fill(&c, 20);		/* full: 11 goes, its entry and buffer reused */
	assert_false(chunk_cache_has(&c, 11));
	assert_true(chunk_cache_has(&c, 10));
	assert_true(chunk_cache_has(&c, 20));
	assert_non_null(e->buf.data);
	expect_hit(&c, 20);
	expect_hit(&c, 12);
	expect_hit(&c, 13);
	expect_hit(&c, 10);
	assert_ptr_equal(first->buf.data, buffer);

	/* many slots through: the bound holds, every miss reuses an entry */
	for (s = 100; s < 1000; s++)
		fill(&c, s);
	chunk_cache_get_stats(&c, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.max_entries, 4);
	assert_int_equal(st.misses, 5 + 900);
	assert_int_equal(st.evictions, 1 + 900);
	assert_int_equal(st.hits, 5);
	for (s = 996; s < 1000; s++)
		expect_hit(&c, s);
	chunk_cache_destroy(&c);
}

static void test_cache_held_entries(void **state)
{
	struct cache_entry *held[2], *e;
	struct chunk_cache c;
	struct cache_stats st;

	assert_int_equal(chunk_cache_init(&c, 2), 0);
	fill(&c, 1);
	fill(&c, 2);
	/* readers hold both: a third reader goes past the bound, a prefetch does not */
	assert_int_equal(chunk_cache_get(&c, 1, 0, &held[0]), CACHE_HIT);
	assert_int_equal(chunk_cache_get(&c, 2, 0, &held[1]), CACHE_HIT);
	assert_int_equal(chunk_cache_get(&c, 3, CACHE_NOGROW, &e), CACHE_FULL);
	assert_null(e);
	assert_false(chunk_cache_has(&c, 3));
	assert_int_equal(chunk_cache_get(&c, 3, 0, &e), CACHE_MISS);
	chunk_cache_get_stats(&c, &st);
	assert_int_equal(st.entries, 3);
	/* the first one let go goes: back to the bound */
	chunk_cache_put(&c, held[0]);
	chunk_cache_get_stats(&c, &st);
	assert_int_equal(st.entries, 2);
	assert_false(chunk_cache_has(&c, 1));
	chunk_cache_fill_done(&c, e, 0);
	chunk_cache_put(&c, held[1]);
	chunk_cache_get_stats(&c, &st);
	assert_int_equal(st.entries, 2);
	assert_true(chunk_cache_has(&c, 2));
	assert_true(chunk_cache_has(&c, 3));

	/* a fill that ends while every other entry is held is not kept past the bound */
	assert_int_equal(chunk_cache_get(&c, 2, 0, &held[0]), CACHE_HIT);
	assert_int_equal(chunk_cache_get(&c, 3, 0, &held[1]), CACHE_HIT);
	assert_int_equal(chunk_cache_get(&c, 4, 0, &e), CACHE_MISS);
	chunk_cache_fill_done(&c, e, 0);
	chunk_cache_get_stats(&c, &st);
	assert_int_equal(st.entries, 2);
	assert_false(chunk_cache_has(&c, 4));
	chunk_cache_put(&c, held[0]);
	chunk_cache_put(&c, held[1]);
	chunk_cache_destroy(&c);
}

static void test_cache_failed_fill(void **state)
{
	struct chunk_cache c;
	struct cache_stats st;
	struct cache_entry *e, *other;

	assert_int_equal(chunk_cache_init(&c, 2), 0);
	assert_int_equal(chunk_cache_get(&c, 7, 0, &e), CACHE_MISS);
	/* a prefetch does not wait for a fetch under way */
	assert_int_equal(chunk_cache_get(&c, 7, CACHE_NOWAIT, &other), CACHE_BUSY);
	assert_null(other);
	assert_true(chunk_cache_has(&c, 7));
	chunk_cache_fill_done(&c, e, -EIO);
	assert_false(chunk_cache_has(&c, 7));
	chunk_cache_get_stats(&c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.failures, 1);
	/* the next read fetches again */
	fill(&c, 7);
	expect_hit(&c, 7);
	chunk_cache_destroy(&c);
}

struct waiter {
	struct chunk_cache *c;
	uint64_t slot;
	int result;
	uint8_t byte;
	pthread_t thread;
};

static void *wait_for_slot(void *arg)
{
	struct waiter *w = arg;
	struct cache_entry *e;

	w->result = chunk_cache_get(w->c, w->slot, 0, &e);
	if (w->result == CACHE_HIT) {
		w->byte = e->buf.data[0];
		chunk_cache_put(w->c, e);
	} else if (w->result == CACHE_MISS) {
		chunk_cache_fill_done(w->c, e, -ENOMEM);	/* not expected */
	}
	return NULL;
}

/* Several readers of a slot being fetched: one fetch, every reader gets its outcome. */
static void run_waiters(int error)
{
	struct waiter w[4];
	struct chunk_cache c;
	struct cache_stats st;
	struct cache_entry *e;
	int i;

	assert_int_equal(chunk_cache_init(&c, 4), 0);
	assert_int_equal(chunk_cache_get(&c, 5, 0, &e), CACHE_MISS);
	for (i = 0; i < 4; i++) {
		w[i] = (struct waiter){ .c = &c, .slot = 5, .result = 99 };
		assert_int_equal(pthread_create(&w[i].thread, NULL, wait_for_slot, &w[i]), 0);
	}
	/* until every reader waits */
	for (;;) {
		chunk_cache_get_stats(&c, &st);
		if (st.waits == 4)
			break;
		usleep(1000);
	}
	e->buf.data = malloc(1);
	assert_non_null(e->buf.data);
	e->buf.cap = 1;
	e->buf.data[0] = 0x5a;
	e->buf.len = 1;
	chunk_cache_fill_done(&c, e, error);
	for (i = 0; i < 4; i++) {
		pthread_join(w[i].thread, NULL);
		if (error) {
			assert_int_equal(w[i].result, error);
		} else {
			assert_int_equal(w[i].result, CACHE_HIT);
			assert_int_equal(w[i].byte, 0x5a);
		}
	}
	chunk_cache_get_stats(&c, &st);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.entries, error ? 0 : 1);
	chunk_cache_destroy(&c);
}

static void test_cache_one_fetch_many_readers(void **state)
{
	run_waiters(0);
	run_waiters(-EBADMSG);
}

/*----------------------------------------------------------------*/
/* Read-ahead */

/* readahead_note() of @first..@last should ask for @count slots from @from. */
static void expect_ahead(struct readahead *ra, uint64_t first, uint64_t last, uint64_t count,
			 uint64_t from)
{
	uint64_t got_from, got = readahead_note(ra, first, last, &got_from);

	assert_int_equal(got, count);
	if (count)
		assert_int_equal(got_from, from);
}

static void test_readahead_sequential(void **state)
{
	struct readahead ra;
	uint64_t s;

	readahead_init(&ra, 4, 100);
	/* reads within the first slot: not sequential yet */
	expect_ahead(&ra, 0, 0, 0, 0);
	expect_ahead(&ra, 0, 0, 0, 0);
	/* into the next slot: the next four */
	expect_ahead(&ra, 1, 1, 4, 2);
	/* more reads of the same slot ask for nothing more */
	expect_ahead(&ra, 1, 1, 0, 0);
	/* each new slot asks for one more, four ahead */
	for (s = 2; s < 96; s++)
		expect_ahead(&ra, s, s, 1, s + 4);
	/* the end of the image stops it */
	for (s = 96; s < 100; s++)
		expect_ahead(&ra, s, s, 0, 0);

	/* a read over several slots is sequential at once */
	readahead_init(&ra, 8, 1000);
	expect_ahead(&ra, 500, 502, 8, 503);

	/* window 0: never */
	readahead_init(&ra, 0, 100);
	expect_ahead(&ra, 0, 0, 0, 0);
	expect_ahead(&ra, 1, 3, 0, 0);
}

static void test_readahead_random_and_mixed(void **state)
{
	static const uint64_t scattered[] = { 50, 7, 91, 23, 64, 2, 77, 38, 12, 85 };
	struct readahead ra;
	unsigned int i;
	uint64_t s;

	readahead_init(&ra, 4, 100);
	for (i = 0; i < sizeof(scattered) / sizeof(scattered[0]); i++)
		expect_ahead(&ra, scattered[i], scattered[i], 0, 0);

	/* a sequential reader with random reads in between keeps its stream */
	readahead_init(&ra, 4, 1000);
	expect_ahead(&ra, 0, 0, 0, 0);
	expect_ahead(&ra, 1, 1, 4, 2);
	for (s = 2; s < 40; s++) {
		expect_ahead(&ra, 500 + 37 * s % 400, 500 + 37 * s % 400, 0, 0);
		expect_ahead(&ra, s, s, 1, s + 4);
	}
	/* requests a little out of order: the stream goes on */
	expect_ahead(&ra, 39, 39, 0, 0);
	expect_ahead(&ra, 41, 41, 2, 44);
	expect_ahead(&ra, 40, 40, 0, 0);
	expect_ahead(&ra, 42, 42, 1, 46);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_lookup),
		cmocka_unit_test(test_cache_hit_miss_lru),
		cmocka_unit_test(test_cache_held_entries),
		cmocka_unit_test(test_cache_failed_fill),
		cmocka_unit_test(test_cache_one_fetch_many_readers),
		cmocka_unit_test(test_readahead_sequential),
		cmocka_unit_test(test_readahead_random_and_mixed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
