/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A metadata image in a temporary file for unit tests of the metadata
 * core: formatted with one disk and committed, checked, and removed.
 */
#ifndef DMROW_TEST_MD_IMAGE_H
#define DMROW_TEST_MD_IMAGE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dm-row-metadata.h"
#include "dm-row-check.h"
#include "../../userspace/compat/public/block-cache.h"

struct md_image {
	char path[64];
	int fd;
	struct dmrow_bm *bm;
	struct dmrow_metadata *md;
};

/* @metadata_blocks of metadata, @data_blocks of data, disk @disk_id of @disk_blocks. */
static inline void md_image_create(struct md_image *im, u64 metadata_blocks, u64 cache_blocks,
				   u64 data_blocks, u64 disk_id, u64 disk_blocks, u8 uuid0)
{
	u8 uuid[16] = { uuid0 };

	snprintf(im->path, sizeof(im->path), "/tmp/dmrow-md-XXXXXX");
	im->fd = mkstemp(im->path);
	assert_true(im->fd >= 0);
	assert_int_equal(ftruncate(im->fd, (off_t)metadata_blocks * DMROW_METADATA_BLOCK_SIZE), 0);
	im->bm = dmrow_bm_open_fd(im->fd, metadata_blocks, cache_blocks, false);
	assert_non_null(im->bm);
	assert_int_equal(dmrow_md_format(im->bm, 8, data_blocks, uuid, &im->md), 0);
	assert_int_equal(dmrow_md_create_disk(im->md, disk_id, disk_blocks, "vm", 1), 0);
	assert_int_equal(dmrow_md_commit(im->md), 0);
}

static inline void md_image_destroy(struct md_image *im)
{
	dmrow_md_close(im->md);
	dmrow_bm_destroy(im->bm);
	close(im->fd);
	unlink(im->path);
}

/* Problems dmrow_md_check() finds in the image as it is now. */
static inline u64 md_image_problems(struct md_image *im)
{
	struct dmrow_check_result result;

	assert_int_equal(dmrow_md_check(im->md, &result, NULL, NULL), 0);
	return result.nr_problems;
}

#endif
