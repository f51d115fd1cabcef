// SPDX-License-Identifier: GPL-2.0
/*
 * Disk sizes through rollbacks and clones, and the logical block size
 * flag: what a rollback keeps, how large a clone may be, what a clone
 * inherits, and that the mappings of the snapshot come along unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "md_image.h"

#define DISK_ID		1
#define DISK_BLOCKS	16

struct fixture {
	struct md_image img;
	u64 snap;		/* of the disk at DISK_BLOCKS, block 3 written */
	u64 block3;		/* its data block */
};

static int setup(void **state)
{
	static const struct dmrow_snapshot_attrs attrs = { .name = "s1", .created = 2 };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	md_image_create(&f->img, 256, 64, 1024, DISK_ID, DISK_BLOCKS, 0x5a);
	assert_int_equal(dmrow_md_alloc_data_block(f->img.md, &f->block3), 0);
	assert_int_equal(dmrow_md_insert_block(f->img.md, DISK_ID, 3, f->block3), 0);
	assert_int_equal(dmrow_md_create_snapshots(f->img.md, 1, (u64[]){ DISK_ID }, &attrs,
						   &f->snap), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(md_image_problems(&f->img), 0);
	md_image_destroy(&f->img);
	free(f);
	return 0;
}

static u64 disk_blocks(struct fixture *f, u64 id)
{
	struct dmrow_disk_info info;

	assert_int_equal(dmrow_md_get_disk(f->img.md, id, &info), 0);
	return info.size_blocks;
}

static u32 disk_flags(struct fixture *f, u64 id)
{
	struct dmrow_disk_info info;

	assert_int_equal(dmrow_md_get_disk(f->img.md, id, &info), 0);
	return info.flags;
}

/* A block @vblock of the live head of @id: its data block, or 0 if unmapped. */
static u64 live_block(struct fixture *f, u64 id, u64 vblock)
{
	struct dmrow_mapping m;
	int r = dmrow_md_find_block(f->img.md, id, 0, vblock, &m);

	if (r == -ENODATA)
		return 0;
	assert_int_equal(r, 0);
	return m.data_block;
}

/* Grow the disk and write past the snapshot's end. */
static void grow_and_write(struct fixture *f, u64 blocks)
{
	u64 block;

	assert_int_equal(dmrow_md_resize_disk(f->img.md, DISK_ID, blocks), 0);
	assert_int_equal(dmrow_md_alloc_data_block(f->img.md, &block), 0);
	assert_int_equal(dmrow_md_insert_block(f->img.md, DISK_ID, blocks - 1, block), 0);
	assert_int_not_equal(live_block(f, DISK_ID, blocks - 1), 0);
}

static void test_rollback_keeps_a_grown_size(void **state)
{
	struct fixture *f = *state;

	grow_and_write(f, 40);
	assert_int_equal(dmrow_md_rollback(f->img.md, DISK_ID, f->snap, true), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(disk_blocks(f, DISK_ID), 40);
	/* The snapshot's content, and nothing past its end. */
	assert_int_equal(live_block(f, DISK_ID, 3), f->block3);
	assert_int_equal(live_block(f, DISK_ID, 39), 0);
}

static void test_rollback_to_the_snapshot_size(void **state)
{
	struct fixture *f = *state;

	grow_and_write(f, 40);
	assert_int_equal(dmrow_md_rollback(f->img.md, DISK_ID, f->snap, false), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(disk_blocks(f, DISK_ID), DISK_BLOCKS);
	assert_int_equal(live_block(f, DISK_ID, 3), f->block3);
}

/* A disk shrunk below the snapshot takes the snapshot's size back. */
static void test_rollback_of_a_shrunk_disk(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(dmrow_md_resize_disk(f->img.md, DISK_ID, 2), 0);
	assert_int_equal(live_block(f, DISK_ID, 3), 0);
	assert_int_equal(dmrow_md_rollback(f->img.md, DISK_ID, f->snap, true), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(disk_blocks(f, DISK_ID), DISK_BLOCKS);
	assert_int_equal(live_block(f, DISK_ID, 3), f->block3);
}

static void test_clone_sizes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(dmrow_md_clone(f->img.md, f->snap, 2, "small", DISK_BLOCKS - 1, 3),
			 -ERANGE);
	assert_int_equal(dmrow_md_get_disk(f->img.md, 2, &(struct dmrow_disk_info){ 0 }),
			 -ENODATA);
	assert_int_equal(dmrow_md_clone(f->img.md, f->snap, 2, "same", 0, 3), 0);
	assert_int_equal(dmrow_md_clone(f->img.md, f->snap, 3, "exact", DISK_BLOCKS, 3), 0);
	assert_int_equal(dmrow_md_clone(f->img.md, f->snap, 4, "large", 1000, 3), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(disk_blocks(f, 2), DISK_BLOCKS);
	assert_int_equal(disk_blocks(f, 3), DISK_BLOCKS);
	assert_int_equal(disk_blocks(f, 4), 1000);
	assert_int_equal(live_block(f, 4, 3), f->block3);
	assert_int_equal(live_block(f, 4, 999), 0);
}

static void test_logical_block_size_flag(void **state)
{
	struct fixture *f = *state;
	u32 both = DMROW_DISK_DELETE_AUTO_SNAPS | DMROW_DISK_LOGICAL_4K;

	/* Only settable flags, and only within the mask. */
	assert_int_equal(dmrow_md_set_disk_flags(f->img.md, DISK_ID, DMROW_DISK_REMOVED,
						 DMROW_DISK_REMOVED), -EINVAL);
	assert_int_equal(dmrow_md_set_disk_flags(f->img.md, DISK_ID, DMROW_DISK_LOGICAL_4K,
						 DMROW_DISK_DELETE_AUTO_SNAPS), -EINVAL);
	assert_int_equal(disk_flags(f, DISK_ID), 0);

	/* Each flag is set and cleared without touching the other. */
	assert_int_equal(dmrow_md_set_disk_flags(f->img.md, DISK_ID, DMROW_DISK_LOGICAL_4K,
						 DMROW_DISK_LOGICAL_4K), 0);
	assert_int_equal(dmrow_md_set_disk_flags(f->img.md, DISK_ID, DMROW_DISK_DELETE_AUTO_SNAPS,
						 DMROW_DISK_DELETE_AUTO_SNAPS), 0);
	assert_int_equal(disk_flags(f, DISK_ID), both);
	assert_int_equal(dmrow_md_set_disk_flags(f->img.md, DISK_ID, 0,
						 DMROW_DISK_DELETE_AUTO_SNAPS), 0);
	assert_int_equal(disk_flags(f, DISK_ID), DMROW_DISK_LOGICAL_4K);

	/* A clone takes the logical block size of its origin, and nothing else. */
	assert_int_equal(dmrow_md_set_disk_flags(f->img.md, DISK_ID, both, both), 0);
	assert_int_equal(dmrow_md_clone(f->img.md, f->snap, 2, "c", 0, 3), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(disk_flags(f, 2), DMROW_DISK_LOGICAL_4K);
	assert_int_equal(dmrow_md_set_disk_flags(f->img.md, DISK_ID, 0, both), 0);
	assert_int_equal(dmrow_md_clone(f->img.md, f->snap, 3, "d", 0, 3), 0);
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(disk_flags(f, 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rollback_keeps_a_grown_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_to_the_snapshot_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_of_a_shrunk_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logical_block_size_flag, setup, teardown),
	};

	return cmocka_run_group_tests_name("metadata_sizes", tests, NULL, NULL);
}
