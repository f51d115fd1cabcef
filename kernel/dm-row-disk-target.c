// SPDX-License-Identifier: GPL-2.0
/*
 * The "row" target: one disk of a pool, either its live writable head or a
 * read-only view of one of its snapshots.
 *
 *   <pool dev> <disk id> [<snapshot id>]
 */
#include <linux/module.h>
#include <linux/slab.h>

#include "dm-row.h"

#define DM_MSG_PREFIX "row"

struct disk_c {
	struct dm_target *ti;
	struct dm_dev *pool_dev;
	u64 disk_id;
	u64 snapshot_id;	/* 0: the live head */
};

static int parse_disk_id(const char *arg, u64 *disk_id, char **error)
{
	if (kstrtou64(arg, 10, disk_id) || *disk_id > DM_ROW_MAX_DISK_ID) {
		*error = "Invalid disk id: need a number of 0..16777215";
		return -EINVAL;
	}
	return 0;
}

static int parse_snapshot_id(const char *arg, u64 *snapshot_id, char **error)
{
	if (kstrtou64(arg, 10, snapshot_id) || !*snapshot_id) {
		*error = "Invalid snapshot id: need a positive number";
		return -EINVAL;
	}
	return 0;
}

static int disk_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct disk_c *dc;
	int r;

	if (argc < 2 || argc > 3) {
		ti->error = "Invalid argument count: need <pool dev> <disk id> [<snapshot id>]";
		return -EINVAL;
	}

	dc = kzalloc(sizeof(*dc), GFP_KERNEL);
	if (!dc) {
		ti->error = "Cannot allocate disk context";
		return -ENOMEM;
	}
	dc->ti = ti;

	r = parse_disk_id(argv[1], &dc->disk_id, &ti->error);
	if (r)
		goto out_free_dc;
	if (argc == 3) {
		r = parse_snapshot_id(argv[2], &dc->snapshot_id, &ti->error);
		if (r)
			goto out_free_dc;
	}

	r = dm_get_device(ti, argv[0], DMROW_OPEN_READ_WRITE, &dc->pool_dev);
	if (r) {
		ti->error = "Cannot open pool device";
		goto out_free_dc;
	}

	/* Binding to a pool needs the pool metadata, not in this build yet. */
	ti->error = "Pool device is not a row-pool";
	r = -EINVAL;

	dm_put_device(ti, dc->pool_dev);
out_free_dc:
	kfree(dc);
	return r;
}

static void disk_dtr(struct dm_target *ti)
{
	struct disk_c *dc = ti->private;

	dm_put_device(ti, dc->pool_dev);
	kfree(dc);
}

static int disk_map(struct dm_target *ti, struct bio *bio)
{
	return DM_MAPIO_KILL;
}

struct target_type dmrow_disk_target = {
	.name = DM_ROW_DISK_TARGET_NAME,
	.version = { DM_ROW_VERSION_MAJOR, DM_ROW_VERSION_MINOR,
		     DM_ROW_VERSION_PATCH },
	.module = THIS_MODULE,
	.ctr = disk_ctr,
	.dtr = disk_dtr,
	.map = disk_map,
};
