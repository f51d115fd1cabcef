// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the mapping cache (core/dm-row-map-cache.c) on its own:
 * what a lookup answers for runs that cross windows, what a changed entry
 * or a dropped cache answers, sharing judged by the published time, and the
 * memory bound.  The cache's agreement with the mapping tree under every
 * kind of change is the metadata model test's (test_metadata_model.c).
 * A random part compares lookups with a model (an array of entries, some
 * unknown) under fills, sets, drops and windows that evict each other;
 * DMROW_TEST_SEED=<n> replays one run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dm-row/ondisk.h>
#include "dm-row-map-cache.h"

#define TEST_NAME "map cache"
#include "test_helpers.h"

#define SEG	DMROW_CACHE_SEGMENT_BLOCKS
#define SEGMENT_BYTES	sizeof(struct dmrow_cache_segment)

static u64 packed(u64 block, u32 time)
{
	return (u64)time << DMROW_MAPPING_BLOCK_BITS | block;
}

static int setup(void **state)
{
	return dmrow_map_cache_module_init();
}

static int teardown(void **state)
{
	dmrow_map_cache_module_exit();
	return 0;
}

/* A fresh cache knows nothing, not even the time. */
static void test_unknown_until_filled(void **state)
{
	struct dmrow_map_cache *c = dmrow_map_cache_create(1, 1024, 1 << 20);
	struct dmrow_cache_hit hit;
	unsigned int n = 8;

	assert_non_null(c);
	assert_int_equal(dmrow_map_cache_find_run(c, 0, &n, &hit), -EAGAIN);
	assert_int_equal(n, 0);
	dmrow_map_cache_fill(c, 5, packed(100, 3));
	n = 1;
	/* Entries but no published time: still a miss. */
	assert_int_equal(dmrow_map_cache_find_run(c, 5, &n, &hit), -EAGAIN);
	dmrow_map_cache_publish_time(c, 3);
	n = 1;
	assert_int_equal(dmrow_map_cache_find_run(c, 5, &n, &hit), 0);
	assert_int_equal(n, 1);
	assert_int_equal(hit.data_block, 100);
	assert_int_equal(hit.time, 3);
	assert_false(hit.shared);	/* written at the snapshotted time: after it */
	n = 1;
	assert_int_equal(dmrow_map_cache_find_run(c, 4, &n, &hit), -EAGAIN);
	dmrow_map_cache_destroy(c);
}

/* A run goes on across windows while blocks follow on; a snapshot moves the time. */
static void test_runs_across_windows(void **state)
{
	struct dmrow_map_cache *c = dmrow_map_cache_create(1, 4 * SEG, 1 << 20);
	struct dmrow_cache_hit hit;
	unsigned int n, i;

	assert_non_null(c);
	dmrow_map_cache_publish_time(c, 2);
	for (i = 0; i < 3 * SEG; i++)
		dmrow_map_cache_fill(c, i, packed(1000 + i, i < SEG + 10 ? 1 : 2));
	/* Blocks 0..SEG+9 shared (time 1 < 2), then unshared: one run, shared first. */
	n = 3 * SEG;
	assert_int_equal(dmrow_map_cache_find_run(c, 0, &n, &hit), 0);
	assert_int_equal(n, 3 * SEG);
	assert_true(hit.shared);
	/* From an unshared block the run stops at nothing: all unshared after. */
	n = 3 * SEG;
	assert_int_equal(dmrow_map_cache_find_run(c, SEG + 10, &n, &hit), 0);
	assert_int_equal(n, 2 * SEG - 10);
	assert_false(hit.shared);
	/* A snapshot: everything written before time 3 is shared now. */
	dmrow_map_cache_publish_time(c, 3);
	n = 1;
	assert_int_equal(dmrow_map_cache_find_run(c, SEG + 10, &n, &hit), 0);
	assert_true(hit.shared);
	/* A block that does not follow on ends the run; at most what was asked. */
	dmrow_map_cache_set(c, 2 * SEG + 5, packed(7, 3));
	n = 3 * SEG;
	assert_int_equal(dmrow_map_cache_find_run(c, SEG, &n, &hit), 0);
	assert_int_equal(n, SEG + 5);
	n = 3;
	assert_int_equal(dmrow_map_cache_find_run(c, SEG, &n, &hit), 0);
	assert_int_equal(n, 3);
	/* An unshared block after a shared first one does not end a run... */
	dmrow_map_cache_set(c, 2 * SEG + 6, packed(1000 + 2 * SEG + 6, 3));
	n = 2;
	assert_int_equal(dmrow_map_cache_find_run(c, 2 * SEG + 6, &n, &hit), 0);
	assert_false(hit.shared);
	/* ...but a shared one after an unshared first one does. */
	assert_int_equal(n, 1);
	/* Unknown blocks end runs: past the filled windows. */
	n = SEG;
	assert_int_equal(dmrow_map_cache_find_run(c, 3 * SEG - 2, &n, &hit), 0);
	assert_int_equal(n, 2);
	dmrow_map_cache_destroy(c);
}

/* Unmapped runs; a discard is "unmapped"; a drop forgets everything. */
static void test_unmapped_and_drop(void **state)
{
	struct dmrow_map_cache *c = dmrow_map_cache_create(1, 2 * SEG, 1 << 20);
	struct dmrow_cache_hit hit;
	unsigned int n, i;

	assert_non_null(c);
	dmrow_map_cache_publish_time(c, 1);
	for (i = 0; i < 2 * SEG; i++)
		dmrow_map_cache_fill(c, i, i == 40 ? packed(9, 1) : DMROW_CACHE_UNMAPPED);
	n = 2 * SEG;
	assert_int_equal(dmrow_map_cache_find_run(c, 0, &n, &hit), -ENODATA);
	assert_int_equal(n, 40);
	n = 2 * SEG;
	assert_int_equal(dmrow_map_cache_find_run(c, 41, &n, &hit), -ENODATA);
	assert_int_equal(n, 2 * SEG - 41);
	dmrow_map_cache_set(c, 40, DMROW_CACHE_UNMAPPED);
	n = 2 * SEG;
	assert_int_equal(dmrow_map_cache_find_run(c, 0, &n, &hit), -ENODATA);
	assert_int_equal(n, 2 * SEG);
	assert_true(dmrow_map_cache_bytes(c) > 2 * SEGMENT_BYTES - 1);
	dmrow_map_cache_drop(c);
	n = 1;
	assert_int_equal(dmrow_map_cache_find_run(c, 0, &n, &hit), -EAGAIN);
	dmrow_map_cache_publish_time(c, 1);
	n = 1;
	assert_int_equal(dmrow_map_cache_find_run(c, 0, &n, &hit), -EAGAIN);
	assert_true(dmrow_map_cache_bytes(c) < SEGMENT_BYTES);
	dmrow_map_cache_destroy(c);
}

/* Slots: a power of two, no more than the disk's windows, within the budget. */
static void test_budget(void **state)
{
	u64 per_slot = SEGMENT_BYTES + sizeof(void *);
	struct dmrow_map_cache *c;

	c = dmrow_map_cache_create(1, 10 * SEG, 1 << 20);
	assert_int_equal(dmrow_map_cache_budget(c), 16 * per_slot);
	dmrow_map_cache_destroy(c);
	c = dmrow_map_cache_create(1, 1ULL << 28, 1 << 20);	/* 1 TiB of 4 KiB blocks */
	assert_int_equal(dmrow_map_cache_budget(c), 1024 * per_slot);
	assert_true(dmrow_map_cache_budget(c) <= 1 << 20);
	dmrow_map_cache_destroy(c);
	c = dmrow_map_cache_create(1, 1ULL << 28, 1);		/* less than a slot: one */
	assert_int_equal(dmrow_map_cache_budget(c), per_slot);
	dmrow_map_cache_destroy(c);
}

/* Memory pressure frees segments round the slots; what it freed is a miss. */
static void test_shrink(void **state)
{
	struct dmrow_map_cache *c = dmrow_map_cache_create(1, 16 * SEG, 1 << 20);
	struct dmrow_cache_hit hit;
	unsigned int n, w, cached;

	assert_non_null(c);
	dmrow_map_cache_publish_time(c, 1);
	for (w = 0; w < 10; w++)
		dmrow_map_cache_fill(c, w * SEG, packed(1000 + w, 1));
	assert_int_equal(atomic_read(&c->nr_segments), 10);
	assert_int_equal(dmrow_map_cache_shrink(c, 3), 3);
	assert_int_equal(atomic_read(&c->nr_segments), 7);
	assert_int_equal(dmrow_map_cache_bytes(c),
			 16 * sizeof(void *) + 7 * SEGMENT_BYTES);
	/* The next call goes on from where this one stopped. */
	assert_int_equal(dmrow_map_cache_shrink(c, 2), 2);
	for (w = 0, cached = 0; w < 10; w++) {
		n = 1;
		if (dmrow_map_cache_find_run(c, w * SEG, &n, &hit) == -EAGAIN) {
			check(w < 5, "window %u forgotten out of turn", w);
			continue;
		}
		check(w >= 5 && hit.data_block == 1000 + w, "window %u: block %llu", w,
		      (unsigned long long)hit.data_block);
		cached++;
	}
	assert_int_equal(cached, 5);
	/* More than it holds: all of it, and a fill starts again. */
	assert_int_equal(dmrow_map_cache_shrink(c, 100), 5);
	assert_int_equal(atomic_read(&c->nr_segments), 0);
	assert_int_equal(dmrow_map_cache_shrink(c, 100), 0);
	dmrow_map_cache_fill(c, 3 * SEG, packed(7, 1));
	n = 1;
	assert_int_equal(dmrow_map_cache_find_run(c, 3 * SEG, &n, &hit), 0);
	assert_int_equal(hit.data_block, 7);
	dmrow_map_cache_destroy(c);
}

/*
 * Random fills and changes against a model, with few slots: a hit must be
 * what the model holds for every block of its run; memory stays bounded.
 */
#define NB	(8 * SEG)
static u64 model[NB];		/* packed, UNMAPPED, or UNKNOWN */
#define UNKNOWN	(DMROW_CACHE_UNMAPPED - 1)

static void test_random_against_model(void **state)
{
	struct dmrow_map_cache *c = dmrow_map_cache_create(1, NB, 3 * (SEGMENT_BYTES + 8));
	struct dmrow_cache_hit hit;
	u64 hits = 0, misses = 0, v, value;
	unsigned int n, i, op;
	u32 time = 1;
	int r;

	start("random", 20261206);
	assert_non_null(c);
	for (i = 0; i < NB; i++)
		model[i] = UNKNOWN;
	dmrow_map_cache_publish_time(c, time);
	for (op = 0; op < 200000; op++) {
		/* Mostly three windows (the slots' worth), sometimes any. */
		v = rnd_below(4) ? rnd_below(3 * SEG) : rnd_below(NB);
		value = rnd_below(4) ? packed(rnd_below(1 << 20), rnd_below(time + 1))
				     : DMROW_CACHE_UNMAPPED;
		switch (rnd_below(9)) {
		case 0:	/* a change: the tree and the cache both */
			dmrow_map_cache_set(c, v, value);
			model[v] = value;
			break;
		case 1:	/* a snapshot */
			dmrow_map_cache_publish_time(c, ++time);
			break;
		case 2:
			if (!rnd_below(8)) {
				/* memory pressure: forgets, never changes */
				dmrow_map_cache_shrink(c, rnd_below(3));
			} else if (!rnd_below(50)) {
				dmrow_map_cache_drop(c);
				for (i = 0; i < NB; i++)
					model[i] = UNKNOWN;
				dmrow_map_cache_publish_time(c, time);
			}
			break;
		case 3:
		case 4:
		case 5:	/* a fill from the tree: what the model holds, if known */
			if (model[v] == UNKNOWN)
				model[v] = value;
			dmrow_map_cache_fill(c, v, model[v]);
			break;
		default:
			n = rnd_below(3 * SEG) + 1;
			r = dmrow_map_cache_find_run(c, v, &n, &hit);
			if (r == -EAGAIN) {
				misses++;
				break;
			}
			hits++;
			check((r == 0 || r == -ENODATA) && n >= 1 && v + n <= NB,
			      "run of %u from %llu: %d", n, (unsigned long long)v, r);
			for (i = 0; i < n; i++) {
				u64 m = model[v + i];

				check(m != UNKNOWN, "block %llu: cached, but never filled or set",
				      (unsigned long long)(v + i));
				if (r == -ENODATA) {
					check(m == DMROW_CACHE_UNMAPPED,
					      "block %llu: in an unmapped run, model %llx",
					      (unsigned long long)(v + i), (unsigned long long)m);
					continue;
				}
				check(m != DMROW_CACHE_UNMAPPED &&
				      (m & (DMROW_MAX_DATA_BLOCKS - 1)) == hit.data_block + i,
				      "block %llu: cached %llu+%u, model %llx",
				      (unsigned long long)(v + i),
				      (unsigned long long)hit.data_block, i, (unsigned long long)m);
				if (!i)
					check(hit.shared == ((m >> DMROW_MAPPING_BLOCK_BITS) < time),
					      "block %llu: shared %d at time %u, model %llx",
					      (unsigned long long)v, hit.shared, time,
					      (unsigned long long)m);
			}
			break;
		}
		check(dmrow_map_cache_bytes(c) <= dmrow_map_cache_budget(c),
		      "cache uses %llu bytes of %llu", (unsigned long long)dmrow_map_cache_bytes(c),
		      (unsigned long long)dmrow_map_cache_budget(c));
	}
	printf("map cache: %llu hits, %llu misses\n", (unsigned long long)hits,
	       (unsigned long long)misses);
	check(hits > 1000 && misses > 1000, "hits %llu, misses %llu", (unsigned long long)hits,
	      (unsigned long long)misses);
	dmrow_map_cache_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_until_filled),
		cmocka_unit_test(test_runs_across_windows),
		cmocka_unit_test(test_unmapped_and_drop),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests_name("map_cache", tests, setup, teardown);
}
