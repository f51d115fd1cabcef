// SPDX-License-Identifier: GPL-2.0
/*
 * The "row" target: one disk of a pool, either its live writable head or a
 * read-only view of one of its snapshots.
 *
 *   <pool dev> <disk id> [<snapshot id>] [logical_block_size=<512|4096>]
 *       [external_origin=<dev>]
 *
 * All the work is the pool's (dm-row-pool.c): map() hands every bio to the
 * pool's worker.
 *
 * With 512-byte logical blocks (the default) a guest may write less than a
 * data block, and such a write to a block a snapshot shares has the rest of
 * its new block copied from the old one.  logical_block_size=4096 makes the
 * block layer refuse writes smaller than 4 KiB, so with 4 KiB data blocks
 * no write after a snapshot ever copies; the guest must support 4 KiB
 * logical sectors (its partition table and filesystem are laid out for
 * them, so the size must stay the same for the life of the data).
 *
 * A disk whose record says it has an external origin (set_disk
 * external_origin=) needs external_origin=<dev> on every device of it, its
 * live head and views of its snapshots: what the image does not map, below
 * the origin's length, reads from that device, opened read-only.  A table
 * line without it, or with it for a disk that has none, is refused; so is
 * a device shorter than the origin the record names.  Which device it is
 * cannot be checked: the one the origin was given with, or a copy.
 */
#include <linux/ctype.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/slab.h>

#include "dm-row-pool.h"
#include "dm-row-map-cache.h"

#define DM_MSG_PREFIX "row"

struct disk_c {
	struct dm_dev *pool_dev;
	struct dm_dev *origin_dev;		/* external_origin=, or NULL */
	char *origin_path;
	struct dmrow_pool *pool;
	struct dmrow_disk_binding binding;
	unsigned int logical_block_size;	/* 0: the default, 512 */
};

#define LOGICAL_BLOCK_SIZE_ARG DM_ROW_LOGICAL_BLOCK_SIZE_ARG
#define EXTERNAL_ORIGIN_ARG DM_ROW_EXTERNAL_ORIGIN_ARG

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

/* @value: what follows "logical_block_size=". */
static int parse_logical_block_size(const char *value, unsigned int *size, char **error)
{
	if (kstrtouint(value, 10, size) || (*size != 512 && *size != 4096)) {
		*error = "Invalid logical_block_size: need 512 or 4096";
		return -EINVAL;
	}
	return 0;
}

/* The optional arguments after <disk id>: a snapshot id, then features. */
static int parse_optional_args(struct disk_c *dc, unsigned int argc, char **argv,
			       char **error)
{
	unsigned int i;
	int r;

	for (i = 0; i < argc; i++) {
		if (!strncasecmp(argv[i], LOGICAL_BLOCK_SIZE_ARG, strlen(LOGICAL_BLOCK_SIZE_ARG))) {
			if (dc->logical_block_size) {
				*error = "logical_block_size given twice";
				return -EINVAL;
			}
			r = parse_logical_block_size(argv[i] + strlen(LOGICAL_BLOCK_SIZE_ARG),
						     &dc->logical_block_size, error);
		} else if (!strncmp(argv[i], EXTERNAL_ORIGIN_ARG, strlen(EXTERNAL_ORIGIN_ARG))) {
			if (dc->origin_path || !argv[i][strlen(EXTERNAL_ORIGIN_ARG)]) {
				*error = "external_origin given twice, or empty";
				return -EINVAL;
			}
			dc->origin_path = argv[i] + strlen(EXTERNAL_ORIGIN_ARG);
			r = 0;
		} else if (i == 0 && isdigit(argv[i][0])) {
			r = parse_snapshot_id(argv[i], &dc->binding.snap_id, error);
		} else {
			*error = "Unknown feature: they are logical_block_size=<512|4096> and external_origin=<dev>";
			r = -EINVAL;
		}
		if (r)
			return r;
	}
	return 0;
}

/* 4 KiB logical blocks need a data block at least as large, and a whole length. */
static int check_logical_block_size(struct dm_target *ti, struct disk_c *dc)
{
	unsigned int size = dc->logical_block_size;

	if (!size)
		return 0;
	if (size > (dc->pool->cfg.block_sectors << SECTOR_SHIFT)) {
		ti->error = "logical_block_size is larger than the pool's data block size";
		return -EINVAL;
	}
	if (!IS_ALIGNED(ti->len, size >> SECTOR_SHIFT)) {
		ti->error = "Target length is not a multiple of logical_block_size";
		return -EINVAL;
	}
	return 0;
}

/* An external origin where the disk record has one, as long as it says. */
static int check_origin(struct dm_target *ti, struct disk_c *dc,
			const struct dmrow_disk_info *disk)
{
	struct dmrow_pool *pool = dc->pool;
	bool has_origin = disk->flags & DMROW_DISK_EXTERNAL_ORIGIN;
	int r;

	if (has_origin != !!dc->origin_path) {
		ti->error = has_origin ?
			"The disk has an external origin: give external_origin=<dev>" :
			"The disk has no external origin";
		return -EINVAL;
	}
	if (!has_origin)
		return 0;
	r = dm_get_device(ti, dc->origin_path, DMROW_OPEN_READ, &dc->origin_dev);
	if (r) {
		ti->error = "Cannot open the external origin";
		return r;
	}
	if (bdev_nr_sectors(dc->origin_dev->bdev) < (disk->origin_blocks << pool->block_shift)) {
		ti->error = "The external origin is shorter than the disk record says";
		return -EINVAL;
	}
	dc->binding.origin_bdev = dc->origin_dev->bdev;
	dc->binding.origin_blocks = disk->origin_blocks;
	dc->binding.hydrated_blocks = disk->hydrated_blocks;
	return 0;
}

/* The disk (or snapshot) must exist and be at least as long as the target. */
static int check_image(struct dm_target *ti, struct disk_c *dc)
{
	struct dmrow_pool *pool = dc->pool;
	struct dmrow_snapshot_info snap;
	struct dmrow_disk_info disk;
	u64 size_blocks;
	int r;

	r = dmrow_md_get_disk(pool->md, dc->binding.disk_id, &disk);
	if (r) {
		ti->error = r == -ENODATA ? "No such disk in the pool" : "Cannot read disk record";
		return r == -ENODATA ? -EINVAL : r;
	}
	size_blocks = disk.size_blocks;
	if (dc->binding.snap_id) {
		r = dmrow_md_get_snapshot(pool->md, dc->binding.snap_id, &snap);
		if (r || snap.disk_id != dc->binding.disk_id) {
			ti->error = r && r != -ENODATA ? "Cannot read snapshot record" :
				    "No such snapshot of this disk";
			return r && r != -ENODATA ? r : -EINVAL;
		}
		size_blocks = snap.size_blocks;
	} else if (disk.flags & DMROW_DISK_REMOVED) {
		ti->error = "The disk was removed; only its snapshots remain";
		return -EINVAL;
	}
	if (ti->len > (size_blocks << pool->block_shift)) {
		ti->error = "Target is longer than the disk";
		return -EINVAL;
	}
	return check_origin(ti, dc, &disk);
}

static int disk_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct disk_c *dc;
	int r;

	if (argc < 2 || argc > 5) {
		ti->error = "Invalid argument count: need <pool dev> <disk id> [<snapshot id>] [logical_block_size=<512|4096>] [external_origin=<dev>]";
		return -EINVAL;
	}

	dc = kzalloc(sizeof(*dc), GFP_KERNEL);
	if (!dc) {
		ti->error = "Cannot allocate disk context";
		return -ENOMEM;
	}
	dc->binding.counts = alloc_percpu(struct dmrow_disk_counts);
	if (!dc->binding.counts) {
		ti->error = "Cannot allocate disk counters";
		r = -ENOMEM;
		goto out_free_dc;
	}
	r = parse_disk_id(argv[1], &dc->binding.disk_id, &ti->error);
	if (r)
		goto out_free_dc;
	r = parse_optional_args(dc, argc - 2, argv + 2, &ti->error);
	if (r)
		goto out_free_dc;

	r = dm_get_device(ti, argv[0], DMROW_OPEN_READ_WRITE, &dc->pool_dev);
	if (r) {
		ti->error = "Cannot open pool device";
		goto out_free_dc;
	}
	dc->pool = dmrow_pool_lookup_and_get(dc->pool_dev->bdev);
	if (!dc->pool) {
		ti->error = "Pool device is not an active row-pool";
		r = -EINVAL;
		goto out_put_dev;
	}
	r = check_image(ti, dc);
	if (!r)
		r = check_logical_block_size(ti, dc);
	if (r)
		goto out_put_pool;

	dc->binding.ti = ti;
	dc->binding.pool = dc->pool;
	ti->private = dc;
	ti->per_io_data_size = sizeof(struct dmrow_bio_ctx);
	ti->accounts_remapped_io = true;
	ti->num_flush_bios = 1;
	ti->flush_supported = true;
	if (!dc->binding.snap_id) {
		ti->num_discard_bios = 1;
		ti->discards_supported = true;
	}
	r = dmrow_pool_attach_disk(dc->pool, &dc->binding, ti->len >> dc->pool->block_shift);
	if (r) {
		ti->error = "Cannot allocate the mapping cache";
		goto out_put_pool;
	}
	return 0;

out_put_pool:
	if (dc->origin_dev)
		dm_put_device(ti, dc->origin_dev);
	dmrow_pool_put(dc->pool);
out_put_dev:
	dm_put_device(ti, dc->pool_dev);
out_free_dc:
	free_percpu(dc->binding.counts);
	kfree(dc);
	return r;
}

static void disk_dtr(struct dm_target *ti)
{
	struct disk_c *dc = ti->private;

	dmrow_pool_detach_disk(dc->pool, &dc->binding);
	if (dc->origin_dev)
		dm_put_device(ti, dc->origin_dev);
	dmrow_pool_put(dc->pool);
	dm_put_device(ti, dc->pool_dev);
	free_percpu(dc->binding.counts);
	kfree(dc);
}

static int disk_map(struct dm_target *ti, struct bio *bio)
{
	struct disk_c *dc = ti->private;
	struct dmrow_bio_ctx *ctx = dm_per_bio_data(bio, sizeof(*ctx));

	memset(ctx, 0, sizeof(*ctx));
	ctx->disk = &dc->binding;
	if (bio_sectors(bio) || bio_op(bio) != REQ_OP_WRITE) {
		bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
		ctx->vblock = bio->bi_iter.bi_sector >> dc->pool->block_shift;
	}
	if (!dmrow_pool_map_fast(dc->pool, bio)) {
		dmrow_pool_clip_to_block(dc->pool, bio);
		dmrow_pool_defer_bio(dc->pool, bio);
	}
	return DM_MAPIO_SUBMITTED;
}

static void disk_postsuspend(struct dm_target *ti)
{
	struct disk_c *dc = ti->private;

	dc->binding.suspended = true;
}

static void disk_resume(struct dm_target *ti)
{
	struct disk_c *dc = ti->private;

	dc->binding.suspended = false;
}

/*
 * The status fields:
 *   <disk id> <snapshot id or -> <pool mode> <new block writes>
 *   <partial block copies> <partial block zero fills>
 *   <cache bytes> <cache budget bytes> <cache hits> <cache misses>
 *   <early acks> <hydrated>/<origin blocks> <hydration> <copy errors>
 *   (the last three "- - 0" without an external origin)
 *
 * They are those of enum dm_row_disk_status_field, written in its order by
 * construction: the switch has no default, so a field the enum has and this
 * does not write fails the build (-Wswitch and -Werror), as does one written
 * here that the enum does not name.
 */
static void emit_disk_status(struct disk_c *dc, char *result, unsigned int maxlen,
			     unsigned int *psz)
{
	struct dmrow_disk_binding *db = &dc->binding;
	enum dm_row_disk_status_field field;
	struct dmrow_disk_counts counts;
	unsigned int sz = *psz;
	u64 number;

	dmrow_disk_counts_sum(db, &counts);
	for (field = 0; field < DM_ROW_DISK_STATUS_NR_FIELDS; field++) {
		if (field)
			DMEMIT(" ");
		/* A field that is a number sets it; the others write themselves. */
		switch (field) {
		case DM_ROW_DISK_STATUS_DISK:
			number = db->disk_id;
			break;
		case DM_ROW_DISK_STATUS_SNAPSHOT:
			if (!db->snap_id) {
				DMEMIT("-");
				continue;
			}
			number = db->snap_id;
			break;
		case DM_ROW_DISK_STATUS_POOL_MODE:
			DMEMIT("%s", dmrow_pool_mode_name(dmrow_pool_mode(dc->pool)));
			continue;
		case DM_ROW_DISK_STATUS_NEW_BLOCK_WRITES:
			number = counts.new_block_writes;
			break;
		case DM_ROW_DISK_STATUS_PARTIAL_COPIES:
			number = counts.partial_copies;
			break;
		case DM_ROW_DISK_STATUS_PARTIAL_ZERO_FILLS:
			number = counts.partial_zero_fills;
			break;
		case DM_ROW_DISK_STATUS_CACHE_BYTES:
			number = db->cache ? dmrow_map_cache_bytes(db->cache) : 0;
			break;
		case DM_ROW_DISK_STATUS_CACHE_BUDGET:
			number = db->cache ? dmrow_map_cache_budget(db->cache) : 0;
			break;
		case DM_ROW_DISK_STATUS_CACHE_HITS:
			number = counts.cache_hits;
			break;
		case DM_ROW_DISK_STATUS_CACHE_MISSES:
			number = counts.cache_misses;
			break;
		case DM_ROW_DISK_STATUS_EARLY_ACKS:
			number = counts.early_acks;
			break;
		case DM_ROW_DISK_STATUS_HYDRATED:
			if (db->origin_bdev)
				DMEMIT("%llu/%llu",
				       (unsigned long long)READ_ONCE(db->hydrated_blocks),
				       (unsigned long long)db->origin_blocks);
			else
				DMEMIT("-");
			continue;
		case DM_ROW_DISK_STATUS_HYDRATION:
			DMEMIT("%s", db->origin_bdev && !db->snap_id ?
			       dmrow_hydrate_state(db) : "-");
			continue;
		case DM_ROW_DISK_STATUS_HYDRATION_ERRORS:
			number = db->origin_bdev ? READ_ONCE(db->hydration_errors) : 0;
			break;
		case DM_ROW_DISK_STATUS_NR_FIELDS:
			continue;	/* not a field */
		}
		DMEMIT("%llu", (unsigned long long)number);
	}
	*psz = sz;
}

/*
 * Status: the fields above.
 * Table:  <pool dev> <disk id> [<snapshot id>] [logical_block_size=<n>]
 *         [external_origin=<dev>]
 */
static void disk_status(struct dm_target *ti, status_type_t type, unsigned int status_flags,
			char *result, unsigned int maxlen)
{
	struct disk_c *dc = ti->private;
	unsigned int sz = 0;
	char buf[BDEVNAME_SIZE];

	switch (type) {
	case STATUSTYPE_INFO:
		emit_disk_status(dc, result, maxlen, &sz);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu", format_dev_t(buf, dc->pool_dev->bdev->bd_dev),
		       (unsigned long long)dc->binding.disk_id);
		if (dc->binding.snap_id)
			DMEMIT(" %llu", (unsigned long long)dc->binding.snap_id);
		if (dc->logical_block_size)
			DMEMIT(" " LOGICAL_BLOCK_SIZE_ARG "%u", dc->logical_block_size);
		if (dc->origin_dev)
			DMEMIT(" " EXTERNAL_ORIGIN_ARG "%s",
			       format_dev_t(buf, dc->origin_dev->bdev->bd_dev));
		break;
	default:
		break;
	}
}

static int disk_iterate_devices(struct dm_target *ti, iterate_devices_callout_fn fn,
				void *data)
{
	struct disk_c *dc = ti->private;
	sector_t len = bdev_nr_sectors(dc->pool_dev->bdev);

	/*
	 * Disks are thinly provisioned: one may be larger than its pool,
	 * whose device is as long as the data device.  Report the pool
	 * device whole, as dm-thin does, not @ti->len of it, which dm would
	 * refuse as "too small for target".
	 */
	return len ? fn(ti, dc->pool_dev, 0, len, data) : 0;
}

static void disk_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct disk_c *dc = ti->private;
	unsigned int block_bytes = dc->pool->cfg.block_sectors << SECTOR_SHIFT;

	limits->io_min = block_bytes;
	limits->io_opt = block_bytes;
	if (dc->logical_block_size) {
		limits->logical_block_size = dc->logical_block_size;
		limits->physical_block_size = max(limits->physical_block_size,
						  dc->logical_block_size);
	}
	if (!dc->binding.snap_id) {
		limits->discard_granularity = block_bytes;
		limits->max_hw_discard_sectors = dc->pool->cfg.block_sectors * 1024;
		limits->max_discard_sectors = dc->pool->cfg.block_sectors * 1024;
	}
}

struct target_type dmrow_disk_target = {
	.name = DM_ROW_DISK_TARGET_NAME,
	.version = { DM_ROW_VERSION_MAJOR, DM_ROW_VERSION_MINOR,
		     DM_ROW_VERSION_PATCH },
	.module = THIS_MODULE,
	.ctr = disk_ctr,
	.dtr = disk_dtr,
	.map = disk_map,
	.postsuspend = disk_postsuspend,
	.resume = disk_resume,
	.status = disk_status,
	.iterate_devices = disk_iterate_devices,
	.io_hints = disk_io_hints,
};
