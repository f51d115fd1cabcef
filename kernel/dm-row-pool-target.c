// SPDX-License-Identifier: GPL-2.0
/*
 * The "row-pool" target: binds a metadata device and a data device into a
 * pool that holds disks and their snapshots.  The table-line grammar is in
 * include/uapi/linux/dm-row.h and Documentation/dm-row.rst.
 */
#include <linux/module.h>
#include <linux/slab.h>

#include "dm-row-pool.h"

#define DM_MSG_PREFIX "row-pool"

struct pool_c {
	struct dm_target *ti;
	struct dmrow_pool *pool;
	struct dm_dev *metadata_dev;
	struct dm_dev *data_dev;
	struct pool_config cfg;
};

static int parse_block_size(struct dm_arg_set *as, struct pool_config *cfg,
			    char **error)
{
	const char *arg = dm_shift_arg(as);
	unsigned long long sectors;

	if (kstrtoull(arg, 10, &sectors) ||
	    sectors < DM_ROW_MIN_BLOCK_SECTORS ||
	    sectors > DM_ROW_MAX_BLOCK_SECTORS ||
	    !is_power_of_2(sectors)) {
		*error = "Invalid data block size: need a power of two of 8..2048 sectors";
		return -EINVAL;
	}
	cfg->block_sectors = sectors;
	return 0;
}

static int parse_low_water_mark(struct dm_arg_set *as, struct pool_config *cfg,
				char **error)
{
	const char *arg = dm_shift_arg(as);

	if (kstrtoull(arg, 10, &cfg->low_water_blocks)) {
		*error = "Invalid low water mark: need a number of data blocks";
		return -EINVAL;
	}
	return 0;
}

static int parse_uint_feature_value(struct dm_arg_set *as, unsigned int *value,
				    char **error, char *message)
{
	const char *arg;

	if (!as->argc) {
		*error = message;
		return -EINVAL;
	}
	arg = dm_shift_arg(as);
	if (kstrtouint(arg, 10, value)) {
		*error = message;
		return -EINVAL;
	}
	return 0;
}

static bool pc_timeout_too_long(unsigned int seconds)
{
	return seconds > 86400;
}

static int parse_features(struct dm_arg_set *as, struct pool_config *cfg,
			  struct dm_target *ti)
{
	static const struct dm_arg feature_count = {
		0, 6, "Invalid number of pool feature arguments"
	};
	unsigned int argc;
	const char *name;
	int r;

	if (!as->argc)
		return 0;

	r = dm_read_arg_group(&feature_count, as, &argc, &ti->error);
	if (r)
		return -EINVAL;

	while (argc) {
		struct dm_arg_set values = { .argc = argc - 1, .argv = as->argv + 1 };

		name = dm_shift_arg(as);
		argc--;

		if (!strcasecmp(name, DM_ROW_POOL_READ_ONLY_ARG)) {
			cfg->read_only = true;
			continue;
		}
		if (!strcasecmp(name, DM_ROW_POOL_ERROR_IF_NO_SPACE_ARG)) {
			cfg->error_if_no_space = true;
			continue;
		}
		if (!strcasecmp(name, DM_ROW_POOL_NO_SPACE_TIMEOUT_ARG)) {
			r = parse_uint_feature_value(&values, &cfg->no_space_timeout,
						     &ti->error,
						     "no_space_timeout needs a number of seconds");
			if (!r && pc_timeout_too_long(cfg->no_space_timeout)) {
				ti->error = "no_space_timeout is at most 86400 seconds";
				r = -EINVAL;
			}
		} else if (!strcasecmp(name, DM_ROW_POOL_CACHE_BLOCKS_ARG)) {
			r = parse_uint_feature_value(&values, &cfg->cache_blocks,
						     &ti->error,
						     "cache_blocks needs a number of metadata blocks");
		} else {
			ti->error = "Unknown pool feature";
			return -EINVAL;
		}
		if (r)
			return r;
		dm_shift_arg(as);
		argc--;
	}
	return 0;
}

static int get_pool_device(struct dm_target *ti, const char *path,
			   struct dm_dev **dev, char **error, char *message)
{
	int r = dm_get_device(ti, path, DMROW_OPEN_READ_WRITE, dev);

	if (r)
		*error = message;
	return r;
}

/*
 * Construct a pool:
 *   <metadata dev> <data dev> <data block size> <low water mark>
 *   [<#feature args> <arg>*]
 */
static int pool_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct pool_c *pc;
	int r;

	if (argc < 4) {
		ti->error = "Invalid argument count: need <metadata dev> <data dev> <data block size> <low water mark> [<#features> <arg>*]";
		return -EINVAL;
	}

	pc = kzalloc(sizeof(*pc), GFP_KERNEL);
	if (!pc) {
		ti->error = "Cannot allocate pool context";
		return -ENOMEM;
	}
	pc->ti = ti;
	pc->cfg.no_space_timeout = DM_ROW_DEFAULT_NO_SPACE_TIMEOUT;

	dm_consume_args(&as, 2);
	r = parse_block_size(&as, &pc->cfg, &ti->error);
	if (r)
		goto out_free_pc;
	r = parse_low_water_mark(&as, &pc->cfg, &ti->error);
	if (r)
		goto out_free_pc;
	r = parse_features(&as, &pc->cfg, ti);
	if (r)
		goto out_free_pc;
	if (as.argc) {
		ti->error = "Unexpected arguments after the features";
		r = -EINVAL;
		goto out_free_pc;
	}

	r = get_pool_device(ti, argv[0], &pc->metadata_dev, &ti->error,
			    "Cannot open metadata device");
	if (r)
		goto out_free_pc;
	r = get_pool_device(ti, argv[1], &pc->data_dev, &ti->error,
			    "Cannot open data device");
	if (r)
		goto out_put_metadata;

	r = dmrow_pool_get(ti, dm_table_get_md(ti->table), pc->metadata_dev->bdev,
			   pc->data_dev->bdev, &pc->cfg, &pc->pool);
	if (r)
		goto out_put_data;

	ti->private = pc;
	ti->num_flush_bios = 0;
	ti->discards_supported = false;
	return 0;

out_put_data:
	dm_put_device(ti, pc->data_dev);
out_put_metadata:
	dm_put_device(ti, pc->metadata_dev);
out_free_pc:
	kfree(pc);
	return r;
}

static void pool_dtr(struct dm_target *ti)
{
	struct pool_c *pc = ti->private;

	dmrow_pool_put(pc->pool);
	dm_put_device(ti, pc->data_dev);
	dm_put_device(ti, pc->metadata_dev);
	kfree(pc);
}

/*
 * The pool device itself holds nothing a user should read or write: reads
 * return zeroes (so probing tools find nothing), writes fail.
 */
static int pool_map(struct dm_target *ti, struct bio *bio)
{
	if (bio_op(bio) == REQ_OP_READ) {
		zero_fill_bio(bio);
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	}
	return DM_MAPIO_KILL;
}

static int pool_preresume(struct dm_target *ti)
{
	struct pool_c *pc = ti->private;

	return dmrow_pool_bind(pc->pool, ti, pc->data_dev->bdev, &pc->cfg);
}

static void pool_resume(struct dm_target *ti)
{
	struct pool_c *pc = ti->private;

	dmrow_pool_resume(pc->pool);
}

static void pool_postsuspend(struct dm_target *ti)
{
	struct pool_c *pc = ti->private;

	dmrow_pool_suspend(pc->pool);
}

static int pool_message(struct dm_target *ti, unsigned int argc, char **argv,
			char *result, unsigned int maxlen)
{
	struct pool_c *pc = ti->private;

	return dmrow_pool_run_message(pc->pool, argc, argv, result, maxlen);
}

static void emit_features(const struct pool_config *cfg, char *result, unsigned int maxlen,
			  unsigned int *psz)
{
	unsigned int sz = *psz, count = 0;

	count += cfg->read_only;
	count += cfg->error_if_no_space;
	count += cfg->no_space_timeout != DM_ROW_DEFAULT_NO_SPACE_TIMEOUT ? 2 : 0;
	count += cfg->cache_blocks ? 2 : 0;
	DMEMIT(" %u", count);
	if (cfg->read_only)
		DMEMIT(" " DM_ROW_POOL_READ_ONLY_ARG);
	if (cfg->error_if_no_space)
		DMEMIT(" " DM_ROW_POOL_ERROR_IF_NO_SPACE_ARG);
	if (cfg->no_space_timeout != DM_ROW_DEFAULT_NO_SPACE_TIMEOUT)
		DMEMIT(" " DM_ROW_POOL_NO_SPACE_TIMEOUT_ARG " %u", cfg->no_space_timeout);
	if (cfg->cache_blocks)
		DMEMIT(" " DM_ROW_POOL_CACHE_BLOCKS_ARG " %u", cfg->cache_blocks);
	*psz = sz;
}

/*
 * The status fields (see Documentation/dm-row.rst):
 *   <transaction id> <metadata used>/<metadata total>
 *   <data used>/<data total> <mode> <needs_check|->
 *   <error_if_no_space|queue_if_no_space> <metadata_low|->
 *
 * They are those of enum dm_row_pool_status_field, written in its order by
 * construction: the switch has no default, so a field the enum has and this
 * does not write fails the build (-Wswitch and -Werror), as does one written
 * here that the enum does not name.
 */
static void emit_pool_status(struct dmrow_pool *pool, enum pool_mode mode,
			     const struct dmrow_pool_info *info, char *result,
			     unsigned int maxlen, unsigned int *psz)
{
	enum dm_row_pool_status_field field;
	unsigned int sz = *psz;

	for (field = 0; field < DM_ROW_POOL_STATUS_NR_FIELDS; field++) {
		if (field)
			DMEMIT(" ");
		switch (field) {
		case DM_ROW_POOL_STATUS_TRANSACTION:
			DMEMIT("%llu", (unsigned long long)info->transaction_id);
			break;
		case DM_ROW_POOL_STATUS_METADATA:
			DMEMIT("%llu/%llu", (unsigned long long)info->metadata_used,
			       (unsigned long long)info->metadata_blocks);
			break;
		case DM_ROW_POOL_STATUS_DATA:
			DMEMIT("%llu/%llu", (unsigned long long)info->data_used,
			       (unsigned long long)info->data_blocks);
			break;
		case DM_ROW_POOL_STATUS_MODE:
			DMEMIT("%s", dmrow_pool_mode_name(mode));
			break;
		case DM_ROW_POOL_STATUS_NEEDS_CHECK:
			DMEMIT("%s", info->needs_check ? "needs_check" : "-");
			break;
		case DM_ROW_POOL_STATUS_NO_SPACE:
			DMEMIT("%s", pool->cfg.error_if_no_space ?
			       "error_if_no_space" : "queue_if_no_space");
			break;
		case DM_ROW_POOL_STATUS_METADATA_LOW:
			DMEMIT("%s", pool->metadata_low ? "metadata_low" : "-");
			break;
		case DM_ROW_POOL_STATUS_NR_FIELDS:
			break;		/* not a field */
		}
	}
	*psz = sz;
}

/*
 * What a target's status is told when the caller asked for no flush
 * (dmsetup status --noflush): the value the device-mapper core passes
 * (DM_STATUS_NOFLUSH_FLAG in drivers/md/dm.h, which modules do not see).
 */
#define POOL_STATUS_NOFLUSH	(1U << 0)

static void pool_status(struct dm_target *ti, status_type_t type, unsigned int status_flags,
			char *result, unsigned int maxlen)
{
	struct pool_c *pc = ti->private;
	struct dmrow_pool *pool = pc->pool;
	struct dmrow_pool_info info;
	unsigned int sz = 0;
	char buf[BDEVNAME_SIZE];
	enum pool_mode mode;

	switch (type) {
	case STATUSTYPE_INFO:
		/*
		 * Data used counts mapped blocks: the writes acknowledged
		 * before their mapping are mapped first, unless the caller
		 * asked for no flush (as dm-thin's status commits unless it
		 * does) or the pool is suspended.
		 */
		if (!(status_flags & POOL_STATUS_NOFLUSH) && !dm_suspended(ti))
			dmrow_pool_map_written(pool);
		mode = dmrow_pool_mode(pool);
		if (mode == POOL_FAIL || dmrow_md_pool_info(pool->md, &info)) {
			DMEMIT(DM_ROW_POOL_STATUS_FAIL);
			break;
		}
		emit_pool_status(pool, mode, &info, result, maxlen, &sz);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s", format_dev_t(buf, pc->metadata_dev->bdev->bd_dev));
		DMEMIT(" %s %llu %llu", format_dev_t(buf, pc->data_dev->bdev->bd_dev),
		       (unsigned long long)pc->cfg.block_sectors,
		       (unsigned long long)pc->cfg.low_water_blocks);
		emit_features(&pc->cfg, result, maxlen, &sz);
		break;
	default:
		break;
	}
}

static int pool_iterate_devices(struct dm_target *ti, iterate_devices_callout_fn fn,
				void *data)
{
	struct pool_c *pc = ti->private;

	return fn(ti, pc->data_dev, 0, ti->len, data);
}

struct target_type dmrow_pool_target = {
	.name = DM_ROW_POOL_TARGET_NAME,
	.version = { DM_ROW_VERSION_MAJOR, DM_ROW_VERSION_MINOR,
		     DM_ROW_VERSION_PATCH },
	.module = THIS_MODULE,
	.ctr = pool_ctr,
	.dtr = pool_dtr,
	.map = pool_map,
	.postsuspend = pool_postsuspend,
	.preresume = pool_preresume,
	.resume = pool_resume,
	.message = pool_message,
	.status = pool_status,
	.iterate_devices = pool_iterate_devices,
};
