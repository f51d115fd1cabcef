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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reserved_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rounds_without_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_batch, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
