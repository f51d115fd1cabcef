// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the metadata reserve (dm-row-metadata.c, "The metadata
 * reserve"): the I/O path's changes never run the metadata device out
 * half way through a transaction.
 *
 *  - What a transaction can allocate excludes the blocks it shadowed away
 *    (they belong to the committed state until the commit).
 *  - A 256-block metadata device (reserve 64) takes batches of mappings
 *    after a snapshot, where every first write copies a leaf, until not
 *    one mapping fits right after a commit.  On the way: inserts never fail
 *    (a mapping that does not fit is refused with -ENOSPC and changes
 *    nothing), every commit succeeds, no more than the reserve is spent,
 *    every admitted mapping reads back and the metadata checks clean.
 *  - A discard stopped by the reserve keeps what it removed, the rest is
 *    still mapped, and it completes after a commit.
 *  - Promised mappings (writes acknowledged before they are mapped) are
 *    never refused, however much other mappings spend meanwhile: those
 *    are refused earlier instead, and the reserve is still left.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm-row-metadata.h"
#include "dm-row-metadata-internal.h"
#include "md_image.h"

#define TEST_NAME "metadata_reserve"
#include "test_helpers.h"

#define METADATA_BLOCKS 256
#define RESERVE 64		/* dmrow_metadata_reserve(256) */
#define DATA_BLOCKS 200000
#define CACHE_BLOCKS 512
#define DISK_ID 1
#define DISK_BLOCKS 200000
#define BATCH 32

struct fixture {
	struct md_image img;
	u64 *mapped;		/* vblock -> data block + 1, 0 for none */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->mapped = calloc(DISK_BLOCKS, sizeof(*f->mapped));
	assert_non_null(f->mapped);
	md_image_create(&f->img, METADATA_BLOCKS, CACHE_BLOCKS, DATA_BLOCKS, DISK_ID, DISK_BLOCKS, 9);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	md_image_destroy(&f->img);
	free(f->mapped);
	free(f);
	return 0;
}

static u64 nr_problems(struct fixture *f)
{
	return md_image_problems(&f->img);
}

static u64 metadata_free(struct fixture *f)
{
	struct dmrow_pool_info info;

	assert_int_equal(dmrow_md_pool_info(f->img.md, &info), 0);
	return info.metadata_blocks - info.metadata_used;
}

static u64 reserve_block(struct fixture *f)
{
	u64 b;
	int r = dmrow_md_alloc_data_block(f->img.md, &b);

	if (r == -EAGAIN) {
		assert_int_equal(dmrow_md_commit(f->img.md), 0);
		r = dmrow_md_alloc_data_block(f->img.md, &b);
	}
	assert_int_equal(r, 0);
	return b;
}

/*
 * Map @nr blocks from @first, @stride apart, in batches, as the pool does:
 * a batch's refused mappings are tried again after a commit.  Returns how
 * many were mapped before one did not fit even right after a commit.
 */
static unsigned int write_until_full(struct fixture *f, u64 first, u64 stride, unsigned int nr,
				     unsigned int *refusals)
{
	struct dmrow_new_mapping maps[BATCH];
	unsigned int done = 0, i, n, admitted, mapped, refused;
	bool retry;
	u64 changes;

	while (done < nr) {
		n = nr - done < BATCH ? nr - done : BATCH;
		for (i = 0; i < n; i++) {
			maps[i].disk_id = DISK_ID;
			maps[i].vblock = first + (done + i) * stride;
			maps[i].data_block = reserve_block(f);
			maps[i].result = 0;
			maps[i].promised = false;
		}
		for (retry = false, mapped = 0;; retry = true) {
			changes = dmrow_md_changes(f->img.md);
			assert_int_equal(dmrow_md_insert_blocks(f->img.md, maps, n), 0);
			admitted = refused = 0;
			for (i = 0; i < n; i++) {
				if (maps[i].result == 1)
					continue;	/* mapped before */
				if (maps[i].result == -ENOSPC) {
					refused++;
					continue;
				}
				assert_int_equal(maps[i].result, 0);
				f->mapped[maps[i].vblock] = maps[i].data_block + 1;
				maps[i].result = 1;	/* passed over from now on */
				admitted++;
			}
			mapped += admitted;
			if (!admitted)
				assert_true(dmrow_md_changes(f->img.md) == changes);
			if (!refused)
				break;
			if (!admitted && retry) {
				/* Not one fits right after a commit: the pool is low. */
				for (i = 0; i < n; i++)
					if (maps[i].result == -ENOSPC)
						assert_int_equal(dmrow_md_release_data_block(f->img.md,
									maps[i].data_block), 0);
				return done + mapped;
			}
			/* Commit, which gives back what was shadowed away; try again. */
			(*refusals)++;
			assert_int_equal(dmrow_md_commit(f->img.md), 0);
			assert_true(metadata_free(f) > 0);
			for (i = 0; i < n; i++)
				if (maps[i].result == -ENOSPC)
					maps[i].result = 0;
		}
		done += n;
	}
	return done;
}

static void verify(struct fixture *f)
{
	struct dmrow_mapping m;
	u64 v;
	int r;

	for (v = 0; v < DISK_BLOCKS; v++) {
		r = dmrow_md_find_block(f->img.md, DISK_ID, 0, v, &m);
		if (!f->mapped[v]) {
			assert_int_equal(r, -ENODATA);
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(m.data_block, f->mapped[v] - 1);
	}
}

static void test_free_in_transaction(void **state)
{
	struct fixture *f = *state;
	struct dmrow_sm *sm = &f->img.md->metadata_sm;
	unsigned int refusals = 0;
	u64 free_before;

	assert_int_equal(write_until_full(f, 0, 1, 300, &refusals), 300);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(sm->nr_freed_in_txn, 0);
	free_before = dmrow_sm_nr_free_in_txn(sm);
	assert_int_equal(free_before, dmrow_sm_nr_free(sm));

	/* Changing the committed tree shadows its path: the old copies stay busy. */
	assert_int_equal(write_until_full(f, 0, 1, 1, &refusals), 1);
	assert_true(sm->nr_freed_in_txn > 0);
	assert_int_equal(dmrow_sm_nr_free_in_txn(sm), dmrow_sm_nr_free(sm) - sm->nr_freed_in_txn);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(sm->nr_freed_in_txn, 0);
	assert_int_equal(refusals, 0);
	assert_int_equal(nr_problems(f), 0);
}

static void test_burst_stops_at_reserve(void **state)
{
	struct fixture *f = *state;
	struct dmrow_snapshot_attrs attrs = { .name = "base", .created = 1 };
	unsigned int refusals = 0, written;
	u64 snap;

	/* Dense: about 60 leaves of the mapping tree. */
	assert_int_equal(write_until_full(f, 0, 1, 8000, &refusals), 8000);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	refusals = 0;
	assert_int_equal(dmrow_md_create_snapshots(f->img.md, 1, (u64[]){ DISK_ID }, &attrs, &snap), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);

	/*
	 * Every leaf shared: one write per 16 blocks copies each leaf, then
	 * fresh regions add leaves of their own, until the reserve is met.
	 */
	written = write_until_full(f, 0, 16, DISK_BLOCKS / 16, &refusals);
	print_message("reserve: %u mappings after the snapshot, %u refusals, %llu blocks free\n",
		      written, refusals, (unsigned long long)metadata_free(f));
	assert_true(written > 500);
	assert_true(written < DISK_BLOCKS / 16);
	assert_true(refusals > 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	/* The reserve is left, give or take one change at its worst. */
	assert_true(metadata_free(f) >= RESERVE - 20);
	assert_true(metadata_free(f) < 3 * RESERVE);
	assert_int_equal(nr_problems(f), 0);
	verify(f);

	/* The reserve is there for freeing: deleting the snapshot works. */
	assert_int_equal(dmrow_md_delete_snapshot(f->img.md, snap), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_true(metadata_free(f) > 2 * RESERVE);
	assert_int_equal(nr_problems(f), 0);
	verify(f);
}

static void test_discard_stops_at_reserve(void **state)
{
	struct fixture *f = *state;
	struct dmrow_snapshot_attrs attrs = { .name = "base", .created = 1 };
	unsigned int refusals = 0, short_discards = 0;
	u64 snap, v, begin;
	int r;

	/* Dense mappings, shared with a snapshot. */
	assert_int_equal(write_until_full(f, 0, 1, 12000, &refusals), 12000);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(dmrow_md_create_snapshots(f->img.md, 1, (u64[]){ DISK_ID }, &attrs, &snap), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	/* Fill the metadata up to the reserve with scattered first writes. */
	write_until_full(f, 12000, 16, (DISK_BLOCKS - 12000) / 16, &refusals);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);

	/* Discards over shared leaves need copies: they stop, keep what they did. */
	for (begin = 0; begin < 12000; begin += 1000) {
		r = dmrow_md_discard(f->img.md, DISK_ID, begin, begin + 1000);
		if (r == -ENOSPC) {
			short_discards++;
			for (v = begin; v < begin + 1000; v++) {
				struct dmrow_mapping m;
				int found = dmrow_md_find_block(f->img.md, DISK_ID, 0, v, &m);

				assert_true(found == 0 || found == -ENODATA);
				if (found == -ENODATA)
					f->mapped[v] = 0;
			}
			assert_int_equal(dmrow_md_commit(f->img.md), 0);
			break;
		}
		assert_int_equal(r, 0);
		for (v = begin; v < begin + 1000; v++)
			f->mapped[v] = 0;
	}
	print_message("reserve: %u short discards, %llu blocks free\n", short_discards,
		      (unsigned long long)metadata_free(f));
	assert_int_equal(short_discards, 1);
	assert_int_equal(nr_problems(f), 0);
	verify(f);
}

/* Map @nr blocks at random places that were promised room. */
static void write_promised(struct fixture *f, unsigned int nr)
{
	struct dmrow_new_mapping maps[BATCH];
	unsigned int i;

	assert_true(nr <= BATCH);
	for (i = 0; i < nr; i++) {
		maps[i] = (struct dmrow_new_mapping){
			.disk_id = DISK_ID, .vblock = rnd_below(DISK_BLOCKS),
			.data_block = reserve_block(f), .promised = true,
		};
	}
	assert_int_equal(dmrow_md_insert_blocks(f->img.md, maps, nr), 0);
	for (i = 0; i < nr; i++) {
		assert_int_equal(maps[i].result, 0);
		f->mapped[maps[i].vblock] = maps[i].data_block + 1;
	}
}

static void test_promised_mappings_fit(void **state)
{
	struct fixture *f = *state;
	struct dmrow_snapshot_attrs attrs = { .name = "base", .created = 1 };
	unsigned int refusals = 0, granted, again, rounds = 0, promised = 0;

	start("promised", 7);
	u64 snap, free_low = ~0ULL;

	assert_int_equal(write_until_full(f, 0, 1, 8000, &refusals), 8000);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(dmrow_md_create_snapshots(f->img.md, 1, (u64[]){ DISK_ID }, &attrs, &snap), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);

	/* A promise given back leaves the budget as it was. */
	assert_int_equal(dmrow_md_promise_io(f->img.md, 4, &granted), 0);
	assert_true(granted > 0);
	assert_int_equal(f->img.md->io_promised, granted);
	dmrow_md_unpromise_io(f->img.md, granted);
	assert_int_equal(f->img.md->io_promised, 0);

	for (;;) {
		assert_int_equal(dmrow_md_promise_io(f->img.md, BATCH, &granted), 0);
		if (!granted)
			break;
		/* A second promise covers the first too: never more than fits. */
		assert_int_equal(dmrow_md_promise_io(f->img.md, BATCH, &again), 0);
		granted += again;
		assert_true(granted <= BATCH * 2);
		/* Other first writes spend all they may, all over the disk... */
		write_until_full(f, rnd_below(DISK_BLOCKS / 2), 97, BATCH, &refusals);
		/* ...and the promised ones still fit, however many were refused. */
		while (granted) {
			unsigned int n = granted < BATCH ? granted : BATCH;

			write_promised(f, n);
			promised += n;
			granted -= n;
		}
		assert_int_equal(f->img.md->io_promised, 0);
		if (metadata_free(f) < free_low)
			free_low = metadata_free(f);
		assert_int_equal(dmrow_md_commit(f->img.md), 0);
		assert_true(++rounds < 5000);
	}
	print_message("reserve: %u promised mappings in %u rounds, %llu blocks free at least\n",
		      promised, rounds, (unsigned long long)free_low);
	assert_true(promised > 0);
	assert_true(rounds > 1);
	/* The reserve held, give or take one change at its worst. */
	assert_true(free_low >= RESERVE - 20);
	assert_int_equal(nr_problems(f), 0);
	verify(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_free_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_stops_at_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_stops_at_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_promised_mappings_fit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
