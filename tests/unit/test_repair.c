// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the offline repair (dmrow_md_repair): wrong reference
 * counts of either space map and a wrong blocks-in-use total are set right
 * and needs_check is cleared, in one commit that survives a reopen; damage
 * that is not a count changes nothing, byte for byte; a read-only pool is
 * refused.
 *
 * Every test starts from the same pool in a temporary file: one disk with
 * DISK_BLOCKS mapped blocks, a snapshot of it, and half the blocks
 * overwritten after the snapshot, so counts of 1 and 2 both exist.
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

#define METADATA_BLOCKS 512
#define DATA_BLOCKS 1024
#define CACHE_BLOCKS 256
#define DISK_BLOCKS 64
#define DISK_ID 1

struct fixture {
	char path[64];
	int fd;
	struct dmrow_bm *bm;
	struct dmrow_metadata *md;
	u64 snap_id;
	struct dmrow_pool_info clean;	/* the pool as built, before any damage */
};

static void open_md(struct fixture *f, bool read_only)
{
	f->bm = dmrow_bm_open_fd(f->fd, METADATA_BLOCKS, CACHE_BLOCKS, read_only);
	assert_non_null(f->bm);
	assert_int_equal(dmrow_md_open(f->bm, read_only, &f->md), 0);
}

static void close_md(struct fixture *f)
{
	dmrow_md_close(f->md);
	dmrow_bm_destroy(f->bm);
	f->md = NULL;
	f->bm = NULL;
}

static void reopen_md(struct fixture *f, bool read_only)
{
	close_md(f);
	open_md(f, read_only);
}

static void write_block(struct dmrow_metadata *md, u64 vblock)
{
	u64 b;

	assert_int_equal(dmrow_md_alloc_data_block(md, &b), 0);
	assert_int_equal(dmrow_md_insert_block(md, DISK_ID, vblock, b), 0);
}

static int setup(void **state)
{
	struct dmrow_snapshot_attrs attrs = { .name = "base", .created = 1 };
	u64 disk = DISK_ID;
	struct fixture *f = calloc(1, sizeof(*f));
	u8 uuid[16] = { 7 };
	u64 v;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/dmrow-repair-XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, (off_t)METADATA_BLOCKS * DMROW_METADATA_BLOCK_SIZE), 0);

	f->bm = dmrow_bm_open_fd(f->fd, METADATA_BLOCKS, CACHE_BLOCKS, false);
	assert_non_null(f->bm);
	assert_int_equal(dmrow_md_format(f->bm, 8, DATA_BLOCKS, uuid, &f->md), 0);
	assert_int_equal(dmrow_md_create_disk(f->md, DISK_ID, DISK_BLOCKS, "vm", 1), 0);
	for (v = 0; v < DISK_BLOCKS; v++)
		write_block(f->md, v);
	assert_int_equal(dmrow_md_create_snapshots(f->md, 1, &disk, &attrs, &f->snap_id), 0);
	for (v = 0; v < DISK_BLOCKS; v += 2)
		write_block(f->md, v);
	assert_int_equal(dmrow_md_commit(f->md), 0);
	assert_int_equal(dmrow_md_pool_info(f->md, &f->clean), 0);
	assert_int_equal(f->clean.data_used, DISK_BLOCKS + DISK_BLOCKS / 2);
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

/* The data block @vblock of the live disk maps to. */
static u64 live_block(struct fixture *f, u64 vblock)
{
	struct dmrow_mapping m;

	assert_int_equal(dmrow_md_find_block(f->md, DISK_ID, 0, vblock, &m), 0);
	return m.data_block;
}

/* Damage a count directly, as a torn update would, and commit it. */
static void damage_count(struct fixture *f, struct dmrow_sm *sm, u64 b, int delta)
{
	down_write(&f->md->lock);
	assert_int_equal(delta > 0 ? dmrow_sm_inc(sm, b) : dmrow_sm_dec(sm, b), 0);
	f->md->dirty = true;
	up_write(&f->md->lock);
	assert_int_equal(dmrow_md_commit(f->md), 0);
}

static u64 check_problems(struct fixture *f)
{
	struct dmrow_check_result result;

	assert_int_equal(dmrow_md_check(f->md, &result, NULL, NULL), 0);
	return result.nr_problems;
}

/* Repair, expect it to find @problems, all fixed; reopen and check again. */
static void repair_and_verify(struct fixture *f, u64 problems)
{
	struct dmrow_check_result found, after;
	struct dmrow_pool_info info;

	assert_int_equal(dmrow_md_repair(f->md, &found, &after, NULL, NULL), 0);
	assert_int_equal(found.nr_problems, problems);
	assert_int_equal(found.nr_repairable, problems);
	assert_int_equal(after.nr_problems, 0);
	assert_false(after.needs_check_flag);

	reopen_md(f, false);
	assert_int_equal(check_problems(f), 0);
	assert_int_equal(dmrow_md_pool_info(f->md, &info), 0);
	assert_false(info.needs_check);
	assert_int_equal(info.data_used, f->clean.data_used);
	/* The disk still reads as before: block 1 was never overwritten. */
	assert_int_equal(dmrow_md_find_block(f->md, DISK_ID, f->snap_id, 1,
					     &(struct dmrow_mapping){ 0 }), 0);
}

static void test_clean_pool_is_left_alone(void **state)
{
	struct fixture *f = *state;
	struct dmrow_check_result found, after;
	struct dmrow_pool_info info;

	assert_int_equal(dmrow_md_repair(f->md, &found, &after, NULL, NULL), 0);
	assert_int_equal(found.nr_problems, 0);
	assert_int_equal(after.nr_problems, 0);
	assert_int_equal(dmrow_md_pool_info(f->md, &info), 0);
	/* Nothing to write: no transaction was committed. */
	assert_int_equal(info.transaction_id, f->clean.transaction_id);
}

static void test_needs_check_cleared(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(dmrow_md_set_needs_check(f->md), 0);
	reopen_md(f, false);
	repair_and_verify(f, 0);
}

static void test_leaked_data_block(void **state)
{
	struct fixture *f = *state;
	u64 b;

	/*
	 * A block reserved for a write in flight is held in memory only: a
	 * commit before its mapping records it free, and nothing leaks.
	 */
	assert_int_equal(dmrow_md_alloc_data_block(f->md, &b), 0);
	assert_int_equal(dmrow_md_commit(f->md), 0);
	assert_int_equal(check_problems(f), 0);
	assert_int_equal(dmrow_md_release_data_block(f->md, b), 0);

	/* A block counted and never mapped (a damaged count) is a leak. */
	damage_count(f, &f->md->data_sm, b, +1);
	assert_int_equal(check_problems(f), 1);
	repair_and_verify(f, 1);
}

static void test_data_counts_too_high_and_too_low(void **state)
{
	struct fixture *f = *state;
	u64 shared = live_block(f, 1);	/* held by the disk and the snapshot */
	u64 unshared = live_block(f, 0);

	damage_count(f, &f->md->data_sm, shared, -1);
	damage_count(f, &f->md->data_sm, unshared, +1);
	damage_count(f, &f->md->data_sm, unshared, +1);
	assert_int_equal(check_problems(f), 2);
	repair_and_verify(f, 2);
}

static void test_data_block_counted_free(void **state)
{
	struct fixture *f = *state;
	u64 b = live_block(f, 0);

	/* Referenced once and counted free: the total in use drops too. */
	damage_count(f, &f->md->data_sm, b, -1);
	assert_int_equal(check_problems(f), 1);
	repair_and_verify(f, 1);
}

static void test_wrong_blocks_in_use_total(void **state)
{
	struct fixture *f = *state;

	down_write(&f->md->lock);
	f->md->data_sm.nr_allocated += 3;
	f->md->dirty = true;
	up_write(&f->md->lock);
	assert_int_equal(dmrow_md_commit(f->md), 0);
	assert_int_equal(check_problems(f), 1);
	repair_and_verify(f, 1);
}

static void test_leaked_metadata_block(void **state)
{
	struct fixture *f = *state;
	u64 b;

	down_write(&f->md->lock);
	assert_int_equal(dmrow_sm_alloc(&f->md->metadata_sm, &b), 0);
	f->md->dirty = true;
	up_write(&f->md->lock);
	assert_int_equal(dmrow_md_commit(f->md), 0);
	assert_int_equal(check_problems(f), 1);
	repair_and_verify(f, 1);
}

/* Read the whole metadata file. */
static void *file_image(struct fixture *f)
{
	size_t len = (size_t)METADATA_BLOCKS * DMROW_METADATA_BLOCK_SIZE;
	void *buf = malloc(len);

	assert_non_null(buf);
	assert_int_equal(pread(f->fd, buf, len, 0), (ssize_t)len);
	return buf;
}

static void test_damage_beyond_counts_changes_nothing(void **state)
{
	struct fixture *f = *state;
	size_t len = (size_t)METADATA_BLOCKS * DMROW_METADATA_BLOCK_SIZE;
	struct dmrow_check_result found, after;
	u64 root = le64_to_cpu(f->md->sb.snapshot_tree_root);
	off_t at = (off_t)root * DMROW_METADATA_BLOCK_SIZE + 100;
	u8 byte;
	void *before, *now;

	/* A leak (repairable) and a damaged snapshot-record node (not). */
	damage_count(f, &f->md->data_sm, live_block(f, 0), +1);
	close_md(f);
	assert_int_equal(pread(f->fd, &byte, 1, at), 1);
	byte ^= 0x5a;
	assert_int_equal(pwrite(f->fd, &byte, 1, at), 1);
	before = file_image(f);

	open_md(f, false);
	assert_int_equal(dmrow_md_repair(f->md, &found, &after, NULL, NULL), -EUCLEAN);
	/*
	 * The counts the walk found are not the truth either: the mappings of
	 * the snapshot behind the damaged node went uncounted.
	 */
	assert_true(found.nr_problems > found.nr_repairable);
	assert_true(found.nr_repairable >= 1);
	assert_false(dmrow_md_dirty(f->md));
	close_md(f);
	now = file_image(f);
	assert_memory_equal(before, now, len);
	free(before);
	free(now);
}

static void test_read_only_refused(void **state)
{
	struct fixture *f = *state;
	struct dmrow_check_result found, after;

	assert_int_equal(dmrow_md_set_needs_check(f->md), 0);
	reopen_md(f, true);
	assert_int_equal(dmrow_md_repair(f->md, &found, &after, NULL, NULL), -EROFS);
	reopen_md(f, false);
	repair_and_verify(f, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean_pool_is_left_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_needs_check_cleared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leaked_data_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_counts_too_high_and_too_low, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_data_block_counted_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_blocks_in_use_total, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leaked_metadata_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_beyond_counts_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only_refused, setup, teardown),
	};

	return cmocka_run_group_tests_name("repair", tests, NULL, NULL);
}
