// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the block manager's types: a cached block keeps the type
 * (validator) it was written or checked as, and locking it as another type
 * fails with -EILSEQ without dropping it; an untyped lock (no validator)
 * still works, and a block written anew as another type takes that type.
 * The kernel's block manager keeps the same rule; the core relies on it
 * when a damaged pointer leads one structure to a block another holds.
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

#include <dm-row/ondisk.h>
#include "dm-row-block-manager.h"
#include "../../userspace/compat/public/block-cache.h"

#define NR_BLOCKS 16

static int accept_all(const struct dmrow_validator *v, const void *data, u64 blocknr)
{
	return 0;
}

static const struct dmrow_validator node_type = { .name = "node", .check = accept_all };
static const struct dmrow_validator count_type = { .name = "count", .check = accept_all };

struct fixture {
	char path[64];
	int fd;
	struct dmrow_bm *bm;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/dmrow-bm-XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, (off_t)NR_BLOCKS * DMROW_METADATA_BLOCK_SIZE), 0);
	f->bm = dmrow_bm_open_fd(f->fd, NR_BLOCKS, NR_BLOCKS, false);
	assert_non_null(f->bm);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dmrow_bm_destroy(f->bm);
	close(f->fd);
	unlink(f->path);
	free(f);
	return 0;
}

static void fill(struct fixture *f, u64 b, const struct dmrow_validator *v, int byte)
{
	struct dmrow_block *blk;

	assert_int_equal(dmrow_bm_write_lock_zero(f->bm, b, v, &blk), 0);
	memset(dmrow_block_data(blk), byte, 64);
	dmrow_bm_unlock(blk);
}

static void test_written_type_is_kept(void **state)
{
	struct fixture *f = *state;
	struct dmrow_block *blk;

	fill(f, 5, &node_type, 0xab);
	assert_int_equal(dmrow_bm_read_lock(f->bm, 5, &count_type, &blk), -EILSEQ);
	assert_int_equal(dmrow_bm_write_lock(f->bm, 5, &count_type, &blk), -EILSEQ);
	/* Refused, not dropped: the node is still there, as a node. */
	assert_int_equal(dmrow_bm_read_lock(f->bm, 5, &node_type, &blk), 0);
	assert_int_equal(((const unsigned char *)dmrow_block_data(blk))[63], 0xab);
	dmrow_bm_unlock(blk);
	/* No validator: any caller that does not care about the type. */
	assert_int_equal(dmrow_bm_read_lock(f->bm, 5, NULL, &blk), 0);
	dmrow_bm_unlock(blk);
}

static void test_checked_type_is_kept(void **state)
{
	struct fixture *f = *state;
	struct dmrow_block *blk;

	fill(f, 7, &count_type, 0x11);
	assert_int_equal(dmrow_bm_flush(f->bm), 0);
	dmrow_bm_forget(f->bm, 7);
	/* Read back from the file: the first lock's validator gives the type. */
	assert_int_equal(dmrow_bm_read_lock(f->bm, 7, &count_type, &blk), 0);
	dmrow_bm_unlock(blk);
	assert_int_equal(dmrow_bm_read_lock(f->bm, 7, &node_type, &blk), -EILSEQ);
}

static void test_written_anew_takes_the_new_type(void **state)
{
	struct fixture *f = *state;
	struct dmrow_block *blk;

	fill(f, 9, &node_type, 0x22);
	/* Freed and allocated again as another structure. */
	fill(f, 9, &count_type, 0x33);
	assert_int_equal(dmrow_bm_read_lock(f->bm, 9, &count_type, &blk), 0);
	dmrow_bm_unlock(blk);
	assert_int_equal(dmrow_bm_read_lock(f->bm, 9, &node_type, &blk), -EILSEQ);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_written_type_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checked_type_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_written_anew_takes_the_new_type, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
