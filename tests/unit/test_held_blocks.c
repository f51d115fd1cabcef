// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of held data blocks (dm-row-metadata.c): blocks reserved for
 * writes in flight, and blocks the I/O path freed and quarantined.
 *
 *  - A reserved block is never handed out twice, is counted as used, costs
 *    nothing on disk (a commit records it free, the check stays clean), and
 *    survives an abort; mapping it counts it, releasing it frees it.
 *  - A block freed while quarantine is on is not handed out again until its
 *    quarantine is sealed and released, over any number of commits; one
 *    freed while quarantine is off is handed out again after a commit.
 *  - Releasing the sealed part leaves later quarantined blocks held.
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

#define METADATA_BLOCKS 256
#define DATA_BLOCKS 64
#define CACHE_BLOCKS 128
#define DISK_ID 1
#define DISK_BLOCKS 32

struct fixture {
	struct md_image img;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	md_image_create(&f->img, METADATA_BLOCKS, CACHE_BLOCKS, DATA_BLOCKS, DISK_ID, DISK_BLOCKS, 7);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	md_image_destroy(&f->img);
	free(f);
	return 0;
}

static u64 nr_problems(struct fixture *f)
{
	return md_image_problems(&f->img);
}

/* Counted or held: what cannot be handed out. */
static u64 data_used(struct fixture *f)
{
	struct dmrow_pool_info info;

	assert_int_equal(dmrow_md_pool_info(f->img.md, &info), 0);
	return info.data_used + info.data_held;
}

/* Reserve a block, committing when only this transaction's frees are left. */
static int reserve(struct fixture *f, u64 *b)
{
	int r = dmrow_md_alloc_data_block(f->img.md, b);

	if (r == -EAGAIN) {
		assert_int_equal(dmrow_md_commit(f->img.md), 0);
		r = dmrow_md_alloc_data_block(f->img.md, b);
	}
	return r;
}

static void write_block(struct fixture *f, u64 vblock, u64 *b)
{
	assert_int_equal(reserve(f, b), 0);
	assert_int_equal(dmrow_md_insert_block(f->img.md, DISK_ID, vblock, *b), 0);
}

static void test_reserved_blocks(void **state)
{
	struct fixture *f = *state;
	bool seen[DATA_BLOCKS] = { false };
	u64 b, first = 0, used = data_used(f);
	int i;

	/* Every block can be reserved once, and then there are none. */
	for (i = 0; i < DATA_BLOCKS; i++) {
		assert_int_equal(reserve(f, &b), 0);
		assert_true(b < DATA_BLOCKS);
		assert_false(seen[b]);
		seen[b] = true;
		if (!i)
			first = b;
	}
	assert_int_equal(reserve(f, &b), -ENOSPC);
	assert_int_equal(data_used(f), used + DATA_BLOCKS);

	/* Nothing of it reaches the disk, and an abort keeps it. */
	assert_false(dmrow_md_dirty(f->img.md));
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(nr_problems(f), 0);
	assert_int_equal(dmrow_md_abort(f->img.md), 0);
	assert_int_equal(reserve(f, &b), -ENOSPC);

	/* A block not reserved cannot be mapped or released. */
	assert_int_equal(dmrow_md_release_data_block(f->img.md, first), 0);
	assert_int_equal(dmrow_md_release_data_block(f->img.md, first), -EINVAL);
	assert_int_equal(dmrow_md_insert_block(f->img.md, DISK_ID, 0, first), -EINVAL);

	/* Past the disk's end: refused, the block stays reserved. */
	assert_int_equal(reserve(f, &b), 0);
	assert_int_equal(b, first);
	assert_int_equal(dmrow_md_insert_block(f->img.md, DISK_ID, DISK_BLOCKS, b), -EINVAL);
	assert_int_equal(dmrow_md_insert_block(f->img.md, DISK_ID, 0, b), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(nr_problems(f), 0);

	for (i = 0; i < DATA_BLOCKS; i++)
		if (i != (int)first)
			assert_int_equal(dmrow_md_release_data_block(f->img.md, i), 0);
	assert_int_equal(data_used(f), used + 1);
}

/*
 * Blocks reserved and given back unmapped, round after round, change
 * nothing: the allocator must not end up refusing (-EAGAIN) with no commit
 * that could ever end its round, since a clean transaction has nothing to
 * commit.  The pool would then call every write out of space.
 */
static void test_rounds_without_changes(void **state)
{
	struct fixture *f = *state;
	u64 b;
	int i, r;

	for (i = 0; i < 3 * DATA_BLOCKS; i++) {
		r = dmrow_md_alloc_data_block(f->img.md, &b);
		if (r == -EAGAIN) {
			/* What the pool does: commit (a clean one: nothing) and retry. */
			assert_false(dmrow_md_dirty(f->img.md));
			assert_int_equal(dmrow_md_commit(f->img.md), 0);
			r = dmrow_md_alloc_data_block(f->img.md, &b);
		}
		assert_int_equal(r, 0);
		assert_int_equal(dmrow_md_release_data_block(f->img.md, b), 0);
	}
	assert_false(dmrow_md_dirty(f->img.md));
	assert_int_equal(nr_problems(f), 0);
}

/* Overwrite every mapped block until @b comes back from the allocator. */
static bool handed_out_again(struct fixture *f, u64 freed, unsigned int commits)
{
	u64 b;
	unsigned int i;
	int v;

	for (i = 0; i < commits; i++) {
		for (v = 8; v < 24; v++) {
			write_block(f, v, &b);
			if (b == freed)
				return true;
		}
		assert_int_equal(dmrow_md_commit(f->img.md), 0);
	}
	return false;
}

static void test_quarantine(void **state)
{
	struct fixture *f = *state;
	struct dmrow_mapping m;
	u64 b, old;

	/* Quarantine off: a freed block comes back after a commit. */
	write_block(f, 0, &old);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	write_block(f, 0, &b);
	assert_true(b != old);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_true(handed_out_again(f, old, 8));

	/* Quarantine on: an overwrite's old block stays held over commits. */
	dmrow_md_quarantine_frees(f->img.md, true);
	assert_int_equal(dmrow_md_find_block(f->img.md, DISK_ID, 0, 0, &m), 0);
	old = m.data_block;
	write_block(f, 0, &b);
	assert_int_equal(dmrow_md_nr_quarantined(f->img.md, false), 1);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(nr_problems(f), 0);
	dmrow_md_seal_quarantine(f->img.md);
	assert_int_equal(dmrow_md_nr_quarantined(f->img.md, true), 1);

	/* A discard's blocks too, in the next batch. */
	assert_int_equal(dmrow_md_find_block(f->img.md, DISK_ID, 0, 8, &m), 0);
	assert_int_equal(dmrow_md_discard(f->img.md, DISK_ID, 8, 9), 0);
	assert_int_equal(dmrow_md_nr_quarantined(f->img.md, false), 1);
	/* (Later frees are not quarantined, or the test would run out of blocks.) */
	dmrow_md_quarantine_frees(f->img.md, false);
	assert_int_equal(dmrow_md_abort(f->img.md), 0);	/* keeps the quarantine */
	assert_int_equal(dmrow_md_discard(f->img.md, DISK_ID, 8, 9), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_false(handed_out_again(f, old, 8));
	assert_false(handed_out_again(f, m.data_block, 8));
	assert_int_equal(nr_problems(f), 0);

	/* Released: the sealed block comes back, the later one stays held. */
	dmrow_md_release_sealed(f->img.md);
	assert_int_equal(dmrow_md_nr_quarantined(f->img.md, true), 0);
	assert_int_equal(dmrow_md_nr_quarantined(f->img.md, false), 1);
	assert_true(handed_out_again(f, old, 8));
	assert_false(handed_out_again(f, m.data_block, 8));
	dmrow_md_seal_quarantine(f->img.md);
	dmrow_md_release_sealed(f->img.md);
	assert_int_equal(dmrow_md_nr_quarantined(f->img.md, false), 0);
	assert_true(handed_out_again(f, m.data_block, 8));
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(nr_problems(f), 0);
}

/* Several writes mapped at once: each refusal is its own, the rest map. */
static void test_insert_batch(void **state)
{
	struct fixture *f = *state;
	struct dmrow_new_mapping maps[6];
	struct dmrow_mapping m;
	u64 b[6];
	int i;

	for (i = 0; i < 6; i++) {
		assert_int_equal(reserve(f, &b[i]), 0);
		maps[i] = (struct dmrow_new_mapping){
			.disk_id = DISK_ID, .vblock = 2 * i, .data_block = b[i],
		};
	}
	maps[1].vblock = DISK_BLOCKS;		/* past the end */
	maps[2].disk_id = DISK_ID + 1;		/* no such disk */
	maps[3].result = -EIO;			/* its write failed */
	assert_int_equal(dmrow_md_insert_blocks(f->img.md, maps, 6), 0);
	assert_int_equal(maps[0].result, 0);
	assert_int_equal(maps[1].result, -EINVAL);
	assert_int_equal(maps[2].result, -ENODATA);
	assert_int_equal(maps[3].result, -EIO);
	for (i = 0; i < 6; i++) {
		int r = dmrow_md_find_block(f->img.md, DISK_ID, 0, maps[i].vblock, &m);

		if (maps[i].result) {
			/* Not mapped, still reserved: the caller releases it. */
			assert_int_equal(dmrow_md_release_data_block(f->img.md, b[i]), 0);
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(m.data_block, b[i]);
			assert_int_equal(dmrow_md_release_data_block(f->img.md, b[i]), -EINVAL);
		}
	}
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(nr_problems(f), 0);
}

/* A pool whose data spans several refcount blocks, for runs and batches. */
#define LARGE_DATA_BLOCKS	3000
#define LARGE_DISK_BLOCKS	1200

static int setup_large(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	md_image_create(&f->img, 4 * METADATA_BLOCKS, CACHE_BLOCKS, LARGE_DATA_BLOCKS, DISK_ID,
			LARGE_DISK_BLOCKS, 11);
	*state = f;
	return 0;
}

/*
 * Reserved in runs: each run ascending, no block twice, every block once
 * before -ENOSPC; and after some are released and committed, exactly
 * those come back.
 */
static void test_reserved_runs(void **state)
{
	struct fixture *f = *state;
	static bool seen[LARGE_DATA_BLOCKS];
	u64 run[100], used = data_used(f), total = 0;
	unsigned int nr, i, want, released = 0;
	int r;

	memset(seen, 0, sizeof(seen));
	srandom(5);
	for (;;) {
		want = 1 + random() % 100;
		r = dmrow_md_alloc_data_blocks(f->img.md, run, want, &nr);
		if (r == -EAGAIN) {
			assert_int_equal(dmrow_md_commit(f->img.md), 0);
			continue;
		}
		if (r == -ENOSPC)
			break;
		assert_int_equal(r, 0);
		assert_true(nr >= 1 && nr <= want);
		for (i = 0; i < nr; i++) {
			assert_true(run[i] < LARGE_DATA_BLOCKS);
			assert_false(seen[run[i]]);
			assert_true(!i || run[i] > run[i - 1]);
			seen[run[i]] = true;
		}
		total += nr;
	}
	assert_int_equal(data_used(f), used + total);
	assert_int_equal(used + total, LARGE_DATA_BLOCKS);
	assert_false(dmrow_md_dirty(f->img.md));

	for (i = 0; i < LARGE_DATA_BLOCKS; i += 7) {
		if (!seen[i])
			continue;
		assert_int_equal(dmrow_md_release_data_block(f->img.md, i), 0);
		seen[i] = false;
		released++;
	}
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	for (total = 0; total < released; total += nr) {
		r = dmrow_md_alloc_data_blocks(f->img.md, run, 100, &nr);
		assert_int_equal(r, 0);
		for (i = 0; i < nr; i++) {
			assert_false(seen[run[i]]);
			seen[run[i]] = true;
		}
	}
	assert_int_equal(total, released);
	assert_int_equal(dmrow_md_alloc_data_blocks(f->img.md, run, 100, &nr), -ENOSPC);
	assert_int_equal(nr_problems(f), 0);
}

/*
 * Batches of writes that overwrite mapped blocks, some shared with a
 * snapshot and some not: the blocks no longer mapped anywhere are freed
 * (quarantined while quarantine is on), the shared ones stay counted, and
 * the check finds every count right.
 */
static void test_overwrite_batches(void **state)
{
	struct fixture *f = *state;
	struct dmrow_snapshot_attrs attrs = { .name = "", .created = 1 };
	struct dmrow_new_mapping maps[40];
	u64 snap, disk = DISK_ID, before, vb = 0, second = 0;
	static u64 perm[LARGE_DISK_BLOCKS / 2], want[2][LARGE_DISK_BLOCKS];
	unsigned int i, nr, got, round, d;
	struct dmrow_mapping m;
	u64 b[40];

	assert_int_equal(dmrow_md_create_disk(f->img.md, DISK_ID + 1, LARGE_DISK_BLOCKS, "two", 1), 0);
	memset(want, 0xff, sizeof(want));
	for (i = 0; i < LARGE_DISK_BLOCKS / 2; i += nr) {
		assert_int_equal(dmrow_md_alloc_data_blocks(f->img.md, b, 40, &got), 0);
		nr = min(got, LARGE_DISK_BLOCKS / 2 - i);
		for (vb = nr; vb < got; vb++)
			assert_int_equal(dmrow_md_release_data_block(f->img.md, b[vb]), 0);
		for (vb = 0; vb < nr; vb++) {
			maps[vb] = (struct dmrow_new_mapping){
				.disk_id = DISK_ID, .vblock = 2 * (i + vb), .data_block = b[vb],
			};
			want[0][2 * (i + vb)] = b[vb];
		}
		assert_int_equal(dmrow_md_insert_blocks(f->img.md, maps, nr), 0);
	}
	assert_int_equal(dmrow_md_create_snapshots(f->img.md, 1, &disk, &attrs, &snap), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	before = data_used(f);

	/*
	 * Round 0 overwrites every block of the first disk once, breaking
	 * sharing.  Round 1 writes both disks at random, interleaved in each
	 * batch, a block repeated within a batch too: what the first disk's
	 * writes replace was unshared, so it is freed, into the quarantine,
	 * and of two writes to one block in a batch the later one wins.
	 */
	srandom(9);
	for (i = 0; i < LARGE_DISK_BLOCKS / 2; i++)
		perm[i] = i;
	for (i = LARGE_DISK_BLOCKS / 2 - 1; i > 0; i--) {
		u64 j = random() % (i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (round = 0; round < 2; round++) {
		dmrow_md_quarantine_frees(f->img.md, round == 1);
		for (i = 0; i < LARGE_DISK_BLOCKS / 2; i += nr) {
			assert_int_equal(dmrow_md_alloc_data_blocks(f->img.md, b, 40, &got), 0);
			nr = min(got, LARGE_DISK_BLOCKS / 2 - i);
			for (vb = nr; vb < got; vb++)	/* more than the round needs */
				assert_int_equal(dmrow_md_release_data_block(f->img.md, b[vb]), 0);
			for (vb = 0; vb < nr; vb++) {
				d = round ? random() % 2 : 0;
				maps[vb] = (struct dmrow_new_mapping){
					.disk_id = DISK_ID + d,
					.vblock = 2 * (round ? perm[random() % (LARGE_DISK_BLOCKS / 2)] :
						   perm[i + vb]),
					.data_block = b[vb],
				};
				if (d && want[1][maps[vb].vblock] == ~0ULL)
					second++;
				want[d][maps[vb].vblock] = b[vb];
			}
			assert_int_equal(dmrow_md_insert_blocks(f->img.md, maps, nr), 0);
			for (vb = 0; vb < nr; vb++)
				assert_int_equal(maps[vb].result, 0);
		}
		assert_int_equal(dmrow_md_commit(f->img.md), 0);
		assert_int_equal(nr_problems(f), 0);
	}
	for (d = 0; d < 2; d++) {
		for (vb = 0; vb < LARGE_DISK_BLOCKS; vb++) {
			int r = dmrow_md_find_block(f->img.md, DISK_ID + d, 0, vb, &m);

			if (want[d][vb] == ~0ULL) {
				assert_true(r == -ENODATA || (!r && m.data_block == DMROW_UNMAPPED));
				continue;
			}
			assert_int_equal(r, 0);
			assert_int_equal(m.data_block, want[d][vb]);
		}
	}
	/*
	 * The snapshot keeps every original block; the first disk maps half
	 * of itself, the second what round 1 gave it.
	 */
	assert_true(dmrow_md_nr_quarantined(f->img.md, false) > 0);
	dmrow_md_seal_quarantine(f->img.md);
	dmrow_md_release_sealed(f->img.md);
	dmrow_md_quarantine_frees(f->img.md, false);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(nr_problems(f), 0);
	assert_int_equal(data_used(f), before + LARGE_DISK_BLOCKS / 2 + second);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reserved_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rounds_without_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_runs, setup_large, teardown),
		cmocka_unit_test_setup_teardown(test_overwrite_batches, setup_large, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
