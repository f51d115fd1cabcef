// SPDX-License-Identifier: GPL-2.0
/*
 * dm-row module entry: registers the pool target ("row-pool") and the disk
 * target ("row").  Each target lives in its own file.
 */
#include <linux/module.h>

#include "dm-row.h"
#include "dm-row-map-cache.h"

#define DM_MSG_PREFIX "row"

static int __init dm_row_init(void)
{
	int r;

	r = dmrow_map_cache_module_init();
	if (r)
		return r;
	r = dm_register_target(&dmrow_pool_target);
	if (r) {
		DMERR("register %s target failed: %d", DM_ROW_POOL_TARGET_NAME, r);
		goto out_cache;
	}

	r = dm_register_target(&dmrow_disk_target);
	if (r) {
		DMERR("register %s target failed: %d", DM_ROW_DISK_TARGET_NAME, r);
		goto out_unregister_pool;
	}

	return 0;

out_unregister_pool:
	dm_unregister_target(&dmrow_pool_target);
out_cache:
	dmrow_map_cache_module_exit();
	return r;
}

static void __exit dm_row_exit(void)
{
	dm_unregister_target(&dmrow_disk_target);
	dm_unregister_target(&dmrow_pool_target);
	dmrow_map_cache_module_exit();
}

module_init(dm_row_init);
module_exit(dm_row_exit);

MODULE_DESCRIPTION(DM_NAME " redirect-on-write snapshot pool and disks");
MODULE_LICENSE("GPL");
