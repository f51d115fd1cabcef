// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of external origins and their hydration (dm-row-metadata.c).
 *
 *  - An origin is given only to a disk that holds nothing; it marks the
 *    superblock incompatible; a clone of the disk inherits it; the disk is
 *    never shrunk below it; discards leave the origin's blocks mapped; it
 *    is taken away only once hydrated.
 *  - Hydrating a block maps one data block into every image that lacks it
 *    (live head and snapshots), counted once per image; the live head's
 *    mapping is shared when a snapshot took the block too.  Images that map
 *    the block already keep their own.  The check stays clean throughout,
 *    and the state survives a reopen.
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
#define DATA_BLOCKS 128
#define CACHE_BLOCKS 128
#define DISK_ID 1
#define DISK_BLOCKS 32
#define ORIGIN_BLOCKS 16

struct fixture {
	struct md_image img;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	md_image_create(&f->img, METADATA_BLOCKS, CACHE_BLOCKS, DATA_BLOCKS, DISK_ID, DISK_BLOCKS, 9);
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

static u64 reserve(struct fixture *f)
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

static u64 write_block(struct fixture *f, u64 disk_id, u64 vblock)
{
	u64 b = reserve(f);

	assert_int_equal(dmrow_md_insert_block(f->img.md, disk_id, vblock, b), 0);
	return b;
}

static u64 snapshot(struct fixture *f, u64 disk_id)
{
	struct dmrow_snapshot_attrs attrs = { .name = "", .created = 1 };
	u64 id;

	assert_int_equal(dmrow_md_create_snapshots(f->img.md, 1, &disk_id, &attrs, &id), 0);
	return id;
}

/* The data block @vblock of an image maps to, or DMROW_UNMAPPED. */
static u64 mapped_to(struct fixture *f, u64 disk_id, u64 snap_id, u64 vblock, bool *shared)
{
	struct dmrow_mapping m;
	int r = dmrow_md_find_block(f->img.md, disk_id, snap_id, vblock, &m);

	if (r == -ENODATA)
		return DMROW_UNMAPPED;
	assert_int_equal(r, 0);
	if (shared)
		*shared = m.shared;
	return m.data_block;
}

static void commit_and_check(struct fixture *f)
{
	assert_int_equal(dmrow_md_commit(f->img.md), 0);
	assert_int_equal(md_image_problems(&f->img), 0);
}

static void test_origin_rules(void **state)
{
	struct fixture *f = *state;
	struct dmrow_disk_info disk;
	struct dmrow_pool_info pool;
	u64 snap;

	/* A disk that holds something cannot take one. */
	write_block(f, DISK_ID, 3);
	assert_int_equal(dmrow_md_set_disk_origin(f->img.md, DISK_ID, ORIGIN_BLOCKS), -EBUSY);
	assert_int_equal(dmrow_md_create_disk(f->img.md, 2, DISK_BLOCKS, "tpl", 1), 0);
	assert_int_equal(dmrow_md_set_disk_origin(f->img.md, 2, DISK_BLOCKS + 1), -EINVAL);
	assert_int_equal(dmrow_md_set_disk_origin(f->img.md, 2, 0), -ENODATA);
	assert_int_equal(dmrow_md_set_disk_origin(f->img.md, 2, ORIGIN_BLOCKS), 0);
	assert_int_equal(dmrow_md_set_disk_origin(f->img.md, 2, ORIGIN_BLOCKS), -EBUSY);
	commit_and_check(f);
	assert_int_equal(le64_to_cpu(f->img.md->sb.incompat_flags) &
			 DMROW_FEATURE_INCOMPAT_ORIGINS, DMROW_FEATURE_INCOMPAT_ORIGINS);

	assert_int_equal(dmrow_md_get_disk(f->img.md, 2, &disk), 0);
	assert_true(disk.flags & DMROW_DISK_EXTERNAL_ORIGIN);
	assert_int_equal(disk.origin_blocks, ORIGIN_BLOCKS);
	assert_int_equal(disk.hydrated_blocks, 0);

	/* Never shrunk below it; grown and shrunk back past it is fine. */
	assert_int_equal(dmrow_md_resize_disk(f->img.md, 2, ORIGIN_BLOCKS - 1), -EBUSY);
	assert_int_equal(dmrow_md_resize_disk(f->img.md, 2, DISK_BLOCKS + 8), 0);
	assert_int_equal(dmrow_md_resize_disk(f->img.md, 2, ORIGIN_BLOCKS), 0);
	assert_int_equal(dmrow_md_resize_disk(f->img.md, 2, DISK_BLOCKS), 0);

	/* A discard leaves the origin's blocks mapped, frees those past it. */
	write_block(f, 2, 1);
	write_block(f, 2, ORIGIN_BLOCKS + 1);
	assert_int_equal(dmrow_md_discard(f->img.md, 2, 0, DISK_BLOCKS), 0);
	assert_true(mapped_to(f, 2, 0, 1, NULL) != DMROW_UNMAPPED);
	assert_int_equal(mapped_to(f, 2, 0, ORIGIN_BLOCKS + 1, NULL), DMROW_UNMAPPED);

	/* A clone inherits the origin, not the hydration. */
	snap = snapshot(f, 2);
	assert_int_equal(dmrow_md_clone(f->img.md, snap, 3, "c", 0, 1), 0);
	assert_int_equal(dmrow_md_get_disk(f->img.md, 3, &disk), 0);
	assert_true(disk.flags & DMROW_DISK_EXTERNAL_ORIGIN);
	assert_int_equal(disk.origin_blocks, ORIGIN_BLOCKS);
	/* ... and a clone of a plain disk does not get one. */
	snap = snapshot(f, DISK_ID);
	assert_int_equal(dmrow_md_clone(f->img.md, snap, 4, "d", 0, 1), 0);
	assert_int_equal(dmrow_md_get_disk(f->img.md, 4, &disk), 0);
	assert_false(disk.flags & DMROW_DISK_EXTERNAL_ORIGIN);

	/* Taken away only once hydrated. */
	assert_int_equal(dmrow_md_set_disk_origin(f->img.md, 2, 0), -EBUSY);
	commit_and_check(f);
	assert_int_equal(dmrow_md_pool_info(f->img.md, &pool), 0);
	assert_false(pool.needs_check);
}

/* Hydrate the whole origin of @disk_id as the pool's worker does. */
static unsigned int hydrate_all(struct fixture *f, u64 disk_id)
{
	unsigned int images, copied = 0;
	u64 from = 0, vblock, b;
	int r;

	for (;;) {
		r = dmrow_md_hydrate_scan(f->img.md, disk_id, from, 4, &vblock);
		if (r == -ENODATA) {
			assert_int_equal(dmrow_md_set_hydrated(f->img.md, disk_id, vblock), 0);
			if (vblock == ORIGIN_BLOCKS)
				return copied;
			from = vblock;
			continue;
		}
		assert_int_equal(r, 0);
		b = reserve(f);
		assert_int_equal(dmrow_md_hydrate_block(f->img.md, disk_id, vblock, b, &images), 0);
		assert_true(images > 0);
		copied++;
		from = vblock + 1;
	}
}

static void test_hydration(void **state)
{
	struct fixture *f = *state;
	struct dmrow_disk_info disk;
	unsigned int images;
	u64 s1, s2, w2, w3, b, h0, h3;
	bool shared;

	assert_int_equal(dmrow_md_create_disk(f->img.md, 2, DISK_BLOCKS, "tpl", 1), 0);
	assert_int_equal(dmrow_md_set_disk_origin(f->img.md, 2, ORIGIN_BLOCKS), 0);
	w2 = write_block(f, 2, 2);
	s1 = snapshot(f, 2);			/* maps 2 */
	w3 = write_block(f, 2, 3);
	s2 = snapshot(f, 2);			/* maps 2, 3 */
	write_block(f, 2, 2);			/* the live head's own 2 */
	commit_and_check(f);

	/* Block 0: every image lacks it; one block for all three. */
	assert_int_equal(dmrow_md_hydrate_scan(f->img.md, 2, 0, 4, &b), 0);
	assert_int_equal(b, 0);
	h0 = reserve(f);
	assert_int_equal(dmrow_md_hydrate_block(f->img.md, 2, 0, h0, &images), 0);
	assert_int_equal(images, 3);
	assert_int_equal(mapped_to(f, 2, 0, 0, &shared), h0);
	assert_true(shared);	/* the snapshots hold it too: a write goes elsewhere */
	assert_int_equal(mapped_to(f, 2, s1, 0, NULL), h0);
	assert_int_equal(mapped_to(f, 2, s2, 0, NULL), h0);
	commit_and_check(f);

	/* Block 2: mapped everywhere, no image lacks it; the block stays reserved. */
	b = reserve(f);
	assert_int_equal(dmrow_md_hydrate_block(f->img.md, 2, 2, b, &images), 0);
	assert_int_equal(images, 0);
	assert_int_equal(dmrow_md_release_data_block(f->img.md, b), 0);
	assert_int_equal(mapped_to(f, 2, s1, 2, NULL), w2);

	/* Block 3: only the oldest snapshot lacks it. */
	h3 = reserve(f);
	assert_int_equal(dmrow_md_hydrate_block(f->img.md, 2, 3, h3, &images), 0);
	assert_int_equal(images, 1);
	assert_int_equal(mapped_to(f, 2, s1, 3, NULL), h3);
	assert_int_equal(mapped_to(f, 2, s2, 3, NULL), w3);
	assert_int_equal(mapped_to(f, 2, 0, 3, NULL), w3);
	commit_and_check(f);

	/* Past the origin, or a block not reserved: refused. */
	b = reserve(f);
	assert_int_equal(dmrow_md_hydrate_block(f->img.md, 2, ORIGIN_BLOCKS, b, &images), -EINVAL);
	assert_int_equal(dmrow_md_release_data_block(f->img.md, b), 0);
	assert_int_equal(dmrow_md_hydrate_block(f->img.md, 2, 5, b, &images), -EINVAL);
	assert_int_equal(dmrow_md_hydrate_block(f->img.md, DISK_ID, 5, b, &images), -ENODATA);

	/* Block 4, the live head alone lacks it (a snapshot was given it): not shared. */
	assert_int_equal(hydrate_all(f, 2), ORIGIN_BLOCKS - 3);
	assert_true(mapped_to(f, 2, 0, 9, &shared) != DMROW_UNMAPPED);
	assert_true(shared);
	commit_and_check(f);
	assert_int_equal(dmrow_md_set_hydrated(f->img.md, 2, 1), -EINVAL);	/* only grows */

	/* Reopened: hydrated, so the origin can go, and a scan finds nothing. */
	dmrow_md_close(f->img.md);
	assert_int_equal(dmrow_md_open(f->img.bm, false, &f->img.md), 0);
	assert_int_equal(dmrow_md_get_disk(f->img.md, 2, &disk), 0);
	assert_int_equal(disk.hydrated_blocks, ORIGIN_BLOCKS);
	assert_int_equal(dmrow_md_hydrate_scan(f->img.md, 2, 0, 64, &b), -ENODATA);
	assert_int_equal(dmrow_md_set_disk_origin(f->img.md, 2, 0), 0);
	assert_int_equal(dmrow_md_get_disk(f->img.md, 2, &disk), 0);
	assert_false(disk.flags & DMROW_DISK_EXTERNAL_ORIGIN);
	commit_and_check(f);

	/* A snapshot taken after is whole too; deleting them all frees cleanly. */
	assert_int_equal(dmrow_md_delete_snapshot(f->img.md, s1), 0);
	assert_int_equal(dmrow_md_delete_snapshot(f->img.md, s2), 0);
	commit_and_check(f);
}

/* A live head alone: the hydrated block is its own, written over in place. */
static void test_hydration_live_only(void **state)
{
	struct fixture *f = *state;
	unsigned int images;
	bool shared = true;
	u64 b;

	assert_int_equal(dmrow_md_create_disk(f->img.md, 2, DISK_BLOCKS, "tpl", 1), 0);
	assert_int_equal(dmrow_md_set_disk_origin(f->img.md, 2, ORIGIN_BLOCKS), 0);
	b = reserve(f);
	assert_int_equal(dmrow_md_hydrate_block(f->img.md, 2, 7, b, &images), 0);
	assert_int_equal(images, 1);
	assert_int_equal(mapped_to(f, 2, 0, 7, &shared), b);
	assert_false(shared);
	commit_and_check(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_origin_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hydration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hydration_live_only, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
