// SPDX-License-Identifier: GPL-2.0
/*
 * A pool's modes and the rules of its metadata's commits and failures:
 * see dm-row-pool-mode.h.  Compiled into dm-row.ko and, unchanged, into
 * the message fuzzer.
 */
#include <linux/errno.h>

#include "dm-row-pool-mode.h"

const char *dmrow_pool_mode_name(enum pool_mode mode)
{
	switch (mode) {
	case POOL_WRITE:
		return "rw";
	case POOL_OUT_OF_DATA_SPACE:
		return "out_of_data_space";
	case POOL_READ_ONLY:
		return "ro";
	case POOL_FAIL:
		return "fail";
	}
	return "unknown";
}

bool dmrow_mode_may_change(enum pool_mode old, enum pool_mode mode)
{
	return old != POOL_FAIL && old != mode;
}

void dmrow_mode_entered(struct dmrow_metadata *md, enum pool_mode mode, bool metadata_low)
{
	if (mode == POOL_FAIL)
		dmrow_md_set_failed(md);
	else if (mode == POOL_READ_ONLY && !metadata_low)
		dmrow_md_set_read_only(md);
}

int dmrow_mode_commit(struct dmrow_metadata *md, enum pool_mode mode, bool metadata_low,
		      bool *failed)
{
	int r;

	*failed = false;
	if (mode >= POOL_FAIL)
		return -EIO;
	if (!dmrow_md_dirty(md))
		return 0;
	if (mode == POOL_READ_ONLY && !metadata_low)
		return -EIO;
	r = dmrow_md_commit(md);
	*failed = r != 0;
	return r;
}

enum pool_mode dmrow_mode_after_failure(struct dmrow_metadata *md, int error,
					bool *metadata_low, int *needs_check_error)
{
	*needs_check_error = 0;
	if (dmrow_md_abort(md))
		return POOL_FAIL;
	if (error == -ENOSPC)
		*metadata_low = true;
	else
		*needs_check_error = dmrow_md_set_needs_check(md);
	return POOL_READ_ONLY;
}
