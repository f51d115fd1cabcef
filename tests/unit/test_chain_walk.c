// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the snapshot chain walk (struct dmrow_chain_walk): a sound
 * chain is walked to its counted length and no further; a loop is found
 * within four times the number of distinct snapshots on the way, however
 * many snapshots the disk record claims; and on a pool whose chain was
 * damaged into a loop under counts of 2^32 - 1 each, the check reports it
 * and the walks of the metadata layer fail with -EILSEQ at once instead
 * of going round for 2^33 steps.
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
#include "dm-row-check.h"
#include "../../userspace/compat/public/block-cache.h"

#define HUGE_COUNT (2 * (u64)UINT32_MAX)

/* A sound chain of @n distinct ids, counted as @n: every step is taken. */
static void test_sound_chain_to_its_count(void **state)
{
	struct dmrow_chain_walk walk;
	u64 n, id;

	for (n = 1; n <= 600; n++) {
		dmrow_chain_walk_init(&walk, n);
		for (id = 1; id <= n; id++)
			assert_true(dmrow_chain_walk_step(&walk, 1000 + id * 7));
		/* One more than counted: the counts lie. */
		assert_false(dmrow_chain_walk_step(&walk, 1000 + id * 7));
	}
}

/*
 * A chain of @tail distinct ids that runs into a loop of @loop ids, walked
 * under a huge count: the walk must take every distinct id, then stop
 * within 4 * (tail + loop) steps.
 */
static void test_loop_found_whatever_the_count(void **state)
{
	struct dmrow_chain_walk walk;
	u64 tail, loop, step, id;

	for (tail = 0; tail <= 40; tail++) {
		for (loop = 1; loop <= 70; loop++) {
			dmrow_chain_walk_init(&walk, HUGE_COUNT);
			for (step = 0;; step++) {
				/* Ids 100.. for the tail, then 500.. round the loop. */
				id = step < tail ? 100 + step : 500 + (step - tail) % loop;
				if (!dmrow_chain_walk_step(&walk, id))
					break;
				assert_true(step < 4 * (tail + loop));
			}
			/* Nothing is taken for a loop before an id comes round again. */
			assert_true(step >= tail + loop);
		}
	}
}

/*----------------------------------------------------------------*/

#define METADATA_BLOCKS 256
#define DATA_BLOCKS 256
#define CACHE_BLOCKS 128
#define DISK_ID 1
#define NR_SNAPS 3

struct fixture {
	char path[64];
	int fd;
	struct dmrow_bm *bm;
	struct dmrow_metadata *md;
	u64 snaps[NR_SNAPS];
};

static void open_md(struct fixture *f)
{
	f->bm = dmrow_bm_open_fd(f->fd, METADATA_BLOCKS, CACHE_BLOCKS, false);
	assert_non_null(f->bm);
	assert_int_equal(dmrow_md_open(f->bm, false, &f->md), 0);
}

static void close_md(struct fixture *f)
{
	dmrow_md_close(f->md);
	dmrow_bm_destroy(f->bm);
	f->md = NULL;
	f->bm = NULL;
}

/* A disk with NR_SNAPS snapshots, each after a write. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	u64 disk = DISK_ID, b;
	u8 uuid[16] = { 9 };
	char name[8];
	int i;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/dmrow-chain-XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, (off_t)METADATA_BLOCKS * DMROW_METADATA_BLOCK_SIZE), 0);
	f->bm = dmrow_bm_open_fd(f->fd, METADATA_BLOCKS, CACHE_BLOCKS, false);
	assert_non_null(f->bm);
	assert_int_equal(dmrow_md_format(f->bm, 8, DATA_BLOCKS, uuid, &f->md), 0);
	assert_int_equal(dmrow_md_create_disk(f->md, DISK_ID, 16, "vm", 1), 0);
	for (i = 0; i < NR_SNAPS; i++) {
		struct dmrow_snapshot_attrs attrs = { .name = name, .created = 2 + i };

		assert_int_equal(dmrow_md_alloc_data_block(f->md, &b), 0);
		assert_int_equal(dmrow_md_insert_block(f->md, DISK_ID, i, b), 0);
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(dmrow_md_create_snapshots(f->md, 1, &disk, &attrs, &f->snaps[i]),
				 0);
	}
	assert_int_equal(dmrow_md_commit(f->md), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->md)
		close_md(f);
	close(f->fd);
	unlink(f->path);
	free(f);
	return 0;
}

/*
 * Damage the pool the way a bad block would and commit it: the newest
 * snapshot's next link points back at the oldest, and the disk record
 * counts 2^32 - 1 manual and 2^32 - 1 automatic snapshots.  Reopened, so
 * that nothing in core remembers the sound state.
 */
static void loop_chain(struct fixture *f)
{
	struct dmrow_metadata *md = f->md;
	struct row_disk_snapshot snap;
	struct row_disk_disk disk;
	u64 root;

	down_write(&md->lock);
	assert_int_equal(dmrow_btree_lookup(&md->snapshot_info,
					    le64_to_cpu(md->sb.snapshot_tree_root),
					    f->snaps[NR_SNAPS - 1], &snap), 0);
	assert_int_equal(le64_to_cpu(snap.next), 0);
	snap.next = cpu_to_le64(f->snaps[0]);
	assert_int_equal(dmrow_btree_insert(&md->snapshot_info,
					    le64_to_cpu(md->sb.snapshot_tree_root),
					    f->snaps[NR_SNAPS - 1], &snap, &root, NULL, NULL), 0);
	md->sb.snapshot_tree_root = cpu_to_le64(root);

	assert_int_equal(dmrow_btree_lookup(&md->disk_info, le64_to_cpu(md->sb.disk_tree_root),
					    DISK_ID, &disk), 0);
	disk.nr_manual = cpu_to_le32(UINT32_MAX);
	disk.nr_auto = cpu_to_le32(UINT32_MAX);
	assert_int_equal(dmrow_btree_insert(&md->disk_info, le64_to_cpu(md->sb.disk_tree_root),
					    DISK_ID, &disk, &root, NULL, NULL), 0);
	md->sb.disk_tree_root = cpu_to_le64(root);
	md->dirty = true;
	up_write(&md->lock);
	assert_int_equal(dmrow_md_commit(md), 0);
	close_md(f);
	open_md(f);
}

static void test_check_reports_the_loop(void **state)
{
	struct fixture *f = *state;
	struct dmrow_check_result result;

	assert_int_equal(dmrow_md_check(f->md, &result, NULL, NULL), 0);
	assert_int_equal(result.nr_problems, 0);
	loop_chain(f);
	assert_int_equal(dmrow_md_check(f->md, &result, NULL, NULL), 0);
	assert_true(result.nr_problems > 0);
}

static void test_walks_fail_on_the_loop(void **state)
{
	struct dmrow_snapshot_attrs attrs = { .name = "new", .created = 9 };
	struct fixture *f = *state;
	u64 disk = DISK_ID, blocks, id;

	assert_int_equal(dmrow_md_chain_capacity(f->md, DISK_ID, &blocks), 0);
	loop_chain(f);
	/* Every snapshot's delta, along the chain. */
	assert_int_equal(dmrow_md_chain_capacity(f->md, DISK_ID, &blocks), -EILSEQ);
	/* Whether a name is taken in the chain. */
	assert_int_equal(dmrow_md_set_snapshot_name(f->md, f->snaps[0], "new"), -EILSEQ);
	/* (A new snapshot is refused before any walk: the counts are over quota.) */
	assert_int_equal(dmrow_md_create_snapshots(f->md, 1, &disk, &attrs, &id), -EDQUOT);
	/* Whether a snapshot that is not in the chain follows the second one. */
	assert_int_equal(dmrow_md_merge_snapshots(f->md, f->snaps[1], f->snaps[NR_SNAPS - 1] + 100),
			 -EILSEQ);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sound_chain_to_its_count),
		cmocka_unit_test(test_loop_found_whatever_the_count),
		cmocka_unit_test_setup_teardown(test_check_reports_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walks_fail_on_the_loop, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
