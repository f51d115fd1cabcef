// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl disk ...: create, list, remove, resize, set, tag; and clone.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "common.h"
#include "dmctl.h"
#include "json.h"
#include "origin.h"
#include "table.h"
#include "tagging.h"

static int cmd_disk_create(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_disk_list(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_disk_remove(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_disk_resize(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_disk_set(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_clone(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_disk_tag(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_disk_hydrate(struct snapctl_ctx *ctx, int argc, char **argv);

enum { DISK_CREATE, DISK_LIST, DISK_REMOVE, DISK_RESIZE, DISK_SET, CLONE, DISK_TAG, DISK_HYDRATE };

static const struct option create_options[] = {
	{ "size", required_argument, NULL, 's' },
	{ "id", required_argument, NULL, 'i' },
	{ "logical-block-size", required_argument, NULL, 'l' },
	{ "origin", required_argument, NULL, 'o' },
	TAG_LONG_OPTIONS,
	{ 0 }
};

static const struct option list_options[] = {
	{ "tag", required_argument, NULL, OPT_TAG },
	{ 0 }
};

static const struct option remove_options[] = {
	YES_OPTION,
	{ 0 }
};

static const struct option resize_options[] = {
	{ "size", required_argument, NULL, 's' },
	YES_OPTION,
	{ 0 }
};

static const struct option set_options[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "delete-auto-snapshots", required_argument, NULL, 'd' },
	{ 0 }
};

static const struct option hydrate_options[] = {
	{ "rate", required_argument, NULL, 'r' },
	{ "stop", no_argument, NULL, 'S' },
	{ "wait", no_argument, NULL, 'w' },
	{ 0 }
};

static const struct option clone_options[] = {
	{ "size", required_argument, NULL, 's' },
	TAG_LONG_OPTIONS,
	{ 0 }
};

const struct snapctl_cmd snapctl_disk_cmds[] = {
	[DISK_CREATE] = {
		.noun = "disk", .verb = "create",
		.usage = "<pool> <name> --size <size> [--id <n>] [--logical-block-size 512|4096]\n"
			 "                 [--origin <device>] [--description <text>] [--tag <key>=<value>]...",
		.help = "Create a disk in a pool and its device /dev/mapper/<pool>-<name>.\n"
			"The size is rounded up to whole data blocks.\n"
			"--origin makes a template disk: it starts as a copy of the device (a\n"
			"golden image, read-only, shared by any number of disks) and holds only\n"
			"the blocks written to it; --size defaults to the device's size, which\n"
			"must be a multiple of the pool's block size.  'snapctl disk hydrate'\n"
			"copies the device in, after which the disk no longer needs it.\n"
			"--logical-block-size 4096 makes the disk advertise 4 KiB sectors: no\n"
			"write smaller than 4 KiB reaches it, so none copies a shared block after\n"
			"a snapshot; only for guests and filesystems that support 4 KiB sectors.\n"
			"The disk keeps it (clones too) for the life of its data.\n"
			"--description says what it is for (at most 256 bytes); --tag gives it\n"
			"a tag, key=value (repeat for more, at most 20).\n\n" SIZE_HELP,
		.options = create_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_disk_create,
	},
	[DISK_LIST] = {
		.noun = "disk", .verb = "list",
		.usage = "<pool> [--tag <key>[=<value>]]... [--json]",
		.help = "List a pool's disks: size, snapshots, space their chain holds, space\n"
			"written since the newest snapshot, external origin and how much of it\n"
			"is hydrated, tags and description.  With --tag only those with every\n"
			"tag given (a key alone: any value).",
		.options = list_options,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_disk_list,
	},
	[DISK_REMOVE] = {
		.noun = "disk", .verb = "remove",
		.usage = "<pool> <disk> [--yes]",
		.help = "Remove a disk's device and its live data.  Its snapshots stay (clone\n"
			"them to get the data back) unless the disk is set to delete its\n"
			"automatic ones.  Refused while the disk is in use; asks to confirm.",
		.options = remove_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_disk_remove,
	},
	[DISK_RESIZE] = {
		.noun = "disk", .verb = "resize",
		.usage = "<pool> <disk> --size <size> [--yes]",
		.help = "Grow or shrink a disk.  Shrinking drops the data past the new end and\n"
			"needs --yes (or a confirmation); the disk must not be in use.  The\n"
			"size is rounded up to whole data blocks.\n\n" SIZE_HELP,
		.options = resize_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_disk_resize,
	},
	[DISK_SET] = {
		.noun = "disk", .verb = "set",
		.usage = "<pool> <disk> [--name <name>] [--delete-auto-snapshots yes|no]",
		.help = "Rename a disk, or choose whether removing it deletes its automatic\n"
			"snapshots.",
		.options = set_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_disk_set,
	},
	[CLONE] = {
		.verb = "clone",
		.usage = "<pool> <snapshot> <new disk name> [--size <size>] [--description <text>]\n"
			 "            [--tag <key>=<value>]...",
		.help = "Create a new disk from a snapshot, at once, sharing its blocks.\n"
			"--size makes the disk larger than the snapshot (rounded up to whole\n"
			"data blocks); past the snapshot's size it reads zeroes.  It may not be\n"
			"smaller.  The new disk has the description and tags given here, none\n"
			"of the snapshot's.\n\n"
			SNAPSHOT_HELP "\n" SIZE_HELP,
		.options = clone_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_clone,
	},
	[DISK_TAG] = {
		.noun = "disk", .verb = "tag",
		.usage = "<pool> <disk> [<key>=<value>]... [--tag <key>=<value>]...\n"
			 "                 [--untag <key>]... [--description <text>]",
		.help = "Set or remove a disk's tags, or change its description (\"\" clears\n"
			"it).  Tags not named are kept; a key given again gets the new value.\n"
			"Everything is checked first: on any error nothing is changed.",
		.options = tag_edit_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_disk_tag,
	},
	[DISK_HYDRATE] = {
		.noun = "disk", .verb = "hydrate",
		.usage = "<pool> <disk> [--rate <size>/s] [--stop] [--wait]",
		.help = "Copy a disk's external origin into the pool in the background, so\n"
			"that the disk no longer needs it; run again to change the rate, or\n"
			"with --stop to pause (it resumes where it stopped).  --rate caps the\n"
			"copy (default: as fast as it goes; foreground I/O slows it anyway).\n"
			"The rate is remembered: 'snapctl pool activate' starts it again.\n"
			"--wait waits until the disk is hydrated, then takes the origin away\n"
			"(and stops the NBD server of an instant import no other disk uses);\n"
			"interrupted, it exits 4 and hydration goes on.\n\n" SIZE_HELP,
		.options = hydrate_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_disk_hydrate,
	},
	{ 0 }
};

/*----------------------------------------------------------------*/

static int find_disk_or_fail(const char *pool, const char *disk, struct record *rec)
{
	int r = pool_find_disk(pool, disk, rec);

	if (r == -ENOENT)
		return fail_with(EXIT_NOT_FOUND, "pool '%s' has no disk '%s' (see 'snapctl disk list %s')",
				 pool, disk, pool);
	if (r)
		return message_failed("looking up the disk", r);
	return 0;
}

/*
 * A template's origin @path: its size in sectors (a whole number of pool
 * blocks of @block bytes), and the disk's size in @bytes if not given (it
 * may not be smaller).  0 or the exit code, said.
 */
static int template_origin_size(const struct snapctl_cmd *cmd, const char *path,
				uint64_t block, uint64_t *bytes, uint64_t *sectors)
{
	struct stat st;
	uint64_t size = 0;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_with(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_FAILURE_GENERIC,
				 "cannot open the origin %s: %s", path, strerror(errno));
	err = fstat(fd, &st) || !S_ISBLK(st.st_mode) ? EINVAL :
	      ioctl(fd, BLKGETSIZE64, &size) ? errno : 0;
	close(fd);
	if (err == EINVAL)
		return snapctl_usage_error(cmd, "the origin %s is not a block device (for an image file, attach it with losetup)",
					   path);
	if (err)
		return fail_with(EXIT_FAILURE_GENERIC, "cannot get the size of %s: %s", path,
				 strerror(err));
	if (!size || size % block)
		return snapctl_usage_error(cmd, "the origin %s holds %" PRIu64 " bytes, not a multiple of the pool's block size (%" PRIu64 " bytes)",
					   path, size, block);
	if (strpbrk(path, " \t\n"))
		return snapctl_usage_error(cmd, "the origin's path may not hold blanks: '%s'", path);
	if (!*bytes)
		*bytes = size;
	if (*bytes < size)
		return snapctl_usage_error(cmd, "--size is smaller than the origin %s (%" PRIu64 " bytes)",
					   path, size);
	*sectors = size >> 9;
	return 0;
}

/* The new, empty @disk takes @path as its origin, or is removed: nothing half made. */
static int give_template_origin(const char *pool, const struct record *disk, const char *path,
				uint64_t sectors)
{
	struct origin o = { .disk_id = record_u64(disk, "id"),
			    .created = record_u64(disk, "created") };
	int r;

	snprintf(o.device, sizeof(o.device), "%s", path);
	r = poolctl_set_disk_origin(pool, o.disk_id, sectors);
	if (r) {
		poolctl_remove_disk(pool, o.disk_id);
		return message_failed("giving the disk its origin", r);
	}
	r = origin_remember(pool, &o);
	if (r) {
		poolctl_remove_disk(pool, o.disk_id);
		fprintf(stderr, "snapctl: the disk is not created\n");
	}
	return r;
}

static int cmd_disk_create(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_disk_cmds[DISK_CREATE];
	struct tag_set labels = { 0 };
	struct tag_edit edit;
	uint64_t bytes = 0, id = 0, block, sectors, origin_sectors = 0;
	unsigned int logical_block_size = 512;
	const char *origin = NULL;
	bool chosen_id;
	struct pool_config_file cfg;
	struct record disk;
	char idbuf[32], *end;
	int c, ind, r;

	tag_edit_init(&edit);
	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c == OPT_TAG || c == OPT_DESCRIPTION) {
			r = tag_option(cmd, c, optarg, &edit);
			if (r) {
				tag_edit_free(&edit);
				return r;
			}
		} else if (c == 's') {
			if (parse_size(optarg, &bytes) || !bytes)
				return snapctl_usage_error(cmd, "size must be a positive size such as 10G, not '%s'",
							   optarg);
		} else if (c == 'l') {
			if (parse_logical_block_size(optarg, &logical_block_size))
				return snapctl_usage_error(cmd, "logical block size must be 512 or 4096, not '%s'",
							   optarg);
		} else if (c == 'o') {
			origin = optarg;
		} else if (c == 'i') {
			id = strtoull(optarg, &end, 10);
			if (*end || !id || id > 16777215)
				return snapctl_usage_error(cmd, "disk id must be a number of 1..16777215");
		} else {
			return EXIT_USAGE;
		}
	}
	r = tag_edit_apply(&edit, &labels, NULL, 0);
	tag_edit_free(&edit);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	if (argc - ind != 2)
		return snapctl_usage_error(cmd, argc - ind < 2 ? "missing the pool or the disk name" :
					   "unexpected argument");
	if (!bytes && !origin)
		return snapctl_usage_error(cmd, "--size is needed");
	if (!poolctl_new_name_valid(argv[ind + 1]))
		return snapctl_usage_error(cmd, "'%s' is not a valid disk name (" POOLCTL_NAME_RULES ")",
					   argv[ind + 1]);
	r = open_pool(argv[ind], &cfg);
	if (r)
		return r;
	block = pool_block_bytes(cfg.name);
	if (origin) {
		r = template_origin_size(cmd, origin, block, &bytes, &origin_sectors);
		if (r)
			return r;
	}
	sectors = (bytes / block + !!(bytes % block)) * (block >> 9);	/* no wrap near 2^64 */
	if (sectors > (uint64_t)INT64_MAX >> 9)		/* what a block device can be */
		return snapctl_usage_error(cmd, "size must be at most 8 EiB");
	chosen_id = id != 0;
	if (!id)
		id = pool_next_disk_id(cfg.name);
	r = poolctl_create_disk(cfg.name, id, sectors, argv[ind + 1]);
	if (r == -EEXIST && chosen_id)
		return fail_with(EXIT_USAGE, "pool '%s' has a disk named '%s' or numbered %" PRIu64 " already",
				 cfg.name, argv[ind + 1], id);
	if (r == -EEXIST)
		return fail_with(EXIT_USAGE, "pool '%s' has a disk named '%s' already", cfg.name,
				 argv[ind + 1]);
	if (r)
		return message_failed("creating the disk", r);
	if (logical_block_size != 512) {
		struct poolctl_disk_attrs attrs = POOLCTL_DISK_ATTRS;

		attrs.logical_block_size = logical_block_size;
		r = poolctl_set_disk(cfg.name, id, &attrs);
		if (r) {
			/* Not half made: a disk with other sectors than asked is removed. */
			poolctl_remove_disk(cfg.name, id);
			return message_failed("setting the disk's logical block size", r);
		}
	}
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, id);
	r = pool_find_disk(cfg.name, idbuf, &disk);
	if (r) {
		tag_set_free(&labels);
		return fail_with(exit_for_errno(r), "disk created but not found again: %s", strerror(-r));
	}
	if (origin) {
		r = give_template_origin(cfg.name, &disk, origin, origin_sectors);
		record_free(&disk);
		/* The record again: it says the disk has an origin now. */
		if (!r && pool_find_disk(cfg.name, idbuf, &disk))
			r = fail_with(EXIT_FAILURE_GENERIC, "disk created but not found again");
		if (r) {
			tag_set_free(&labels);
			return r;
		}
	}
	/* Always written: a disk id used before must not find an old entry. */
	c = tags_replace(cfg.name, TAG_DISK, id, record_u64(&disk, "created"), &labels);
	tag_set_free(&labels);
	if (c)
		fprintf(stderr, "snapctl: disk %s was created without its tags and description; set them with 'snapctl disk tag'\n",
			argv[ind + 1]);
	r = activate_disk(cfg.name, &disk);
	if (r) {
		record_free(&disk);
		return fail_with(exit_for_errno(r), "disk created but its device failed: %s", strerror(-r));
	}
	if (!ctx->json)
		printf("disk %s created: /dev/mapper/%s-%s (id %" PRIu64 ")\n", argv[ind + 1], cfg.name,
		       argv[ind + 1], id);
	record_free(&disk);
	return c ? EXIT_FAILURE_GENERIC : EXIT_OK;
}

/* One disk of 'disk list', with its space (in data blocks of @bs bytes). */
struct disk_row {
	const struct record *d;
	const struct tag_set *tags;
	struct disk_space space;
	uint64_t bs;
	char dev[256];			/* its device's name */
	bool removed;
	const struct origin *origin;	/* NULL: none, or not known to snapctl */
	struct hydration hydration;
};

/* What a disk's origin is, for people: its device, or the export served. */
static const char *origin_text(const struct disk_row *row, char *buf, size_t len)
{
	if (!record_u64(row->d, "external_origin"))
		return "-";
	if (!row->origin)
		snprintf(buf, len, "(unknown)");
	else if (origin_is_export(row->origin))
		snprintf(buf, len, "%s %s", row->origin->url, row->origin->export_name);
	else
		snprintf(buf, len, "%s", row->origin->device);
	return buf;
}

/* "42% running": the share of the origin every image of the disk holds, and the state. */
static const char *hydration_text(const struct disk_row *row, char *buf, size_t len)
{
	uint64_t total = record_u64(row->d, "external_origin");

	if (!total)
		return "-";
	snprintf(buf, len, "%.0f%% %s", 100.0 * record_u64(row->d, "hydrated") / total,
		 row->hydration.live ? row->hydration.state : "stopped");
	return buf;
}

static void disk_list_json(struct json *j, const struct disk_row *row)
{
	const struct record *d = row->d;

	json_begin_object(j, NULL);
	json_u64(j, "id", record_u64(d, "id"));
	json_string(j, "name", record_get(d, "name"));
	json_u64(j, "size_bytes", record_u64(d, "size") << 9);
	json_u64(j, "created", record_u64(d, "created"));
	json_bool(j, "removed", row->removed);
	json_u64(j, "manual_snapshots", record_u64(d, "manual"));
	json_u64(j, "auto_snapshots", record_u64(d, "auto"));
	json_u64(j, "chain_bytes", row->space.chain_blocks * row->bs);
	json_u64(j, "since_last_snapshot_bytes", row->space.live_delta_blocks * row->bs);
	json_u64(j, "mapped_bytes", row->space.mapped_blocks * row->bs);
	json_u64(j, "origin_snapshot", record_u64(d, "origin"));
	json_bool(j, "delete_auto_snapshots", record_u64(d, "delete_auto_snapshots"));
	json_u64(j, "policy", record_u64(d, "policy"));
	json_u64(j, "logical_block_size", record_logical_block_size(d));
	if (record_u64(d, "external_origin")) {
		json_begin_object(j, "external_origin");
		if (row->origin && origin_is_export(row->origin)) {
			json_string(j, "url", row->origin->url);
			json_string(j, "export", row->origin->export_name);
		} else if (row->origin) {
			json_string(j, "device", row->origin->device);
		}
		json_u64(j, "bytes", record_u64(d, "external_origin") << 9);
		json_u64(j, "hydrated_bytes", record_u64(d, "hydrated") << 9);
		json_string(j, "hydration", row->hydration.live ? row->hydration.state : "stopped");
		json_u64(j, "hydration_errors", row->hydration.errors);
		if (row->origin && row->origin->hydrate)
			json_u64(j, "rate", row->origin->rate);
		json_end_object(j);
	}
	if (!row->removed) {
		char path[300];

		snprintf(path, sizeof(path), "/dev/mapper/%s", row->dev);
		json_string(j, "device", path);
	}
	tags_json(j, row->tags);
	json_end_object(j);
}

static void disk_list_row(struct table *t, const struct disk_row *row)
{
	const struct record *d = row->d;
	const struct tag_set *set = row->tags;
	char a[32], b[32], c[32], list[1024], origin[ORIGIN_PATH_MAX + ORIGIN_EXPORT_MAX], hyd[48];

	table_add_row(t, "%" PRIu64 "\t%s\t%s\t%" PRIu64 "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s",
		      record_u64(d, "id"), record_get(d, "name"),
		      human_bytes(record_u64(d, "size") << 9, a, sizeof(a)),
		      record_u64(d, "manual") + record_u64(d, "auto"),
		      human_bytes(row->space.chain_blocks * row->bs, b, sizeof(b)),
		      row->removed ? "-" : human_bytes(row->space.live_delta_blocks * row->bs, c,
						       sizeof(c)),
		      row->removed ? "removed" : device_in_use(row->dev) ? "in use" : "live",
		      row->removed ? "-" : row->dev, origin_text(row, origin, sizeof(origin)),
		      hydration_text(row, hyd, sizeof(hyd)), tag_set_format(set, list, sizeof(list)),
		      set->description && *set->description ? set->description : "-");
}

/* Print the disks of @disks that carry every tag of @filter. */
static void disk_list_print(struct snapctl_ctx *ctx, const char *pool,
			    const struct record_list *disks, const struct pool_tags *tags,
			    const struct tag_filter *filter)
{
	static const char *const headers[] = {
		"ID>", "NAME", "SIZE>", "SNAPSHOTS>", "CHAIN>", "SINCE LAST>", "STATE", "DEVICE",
		"ORIGIN", "HYDRATED", "TAGS", "DESCRIPTION"
	};
	uint64_t bs = pool_block_bytes(pool);
	struct origin_store origins;
	struct listing l;
	unsigned int i;

	if (origin_store_load(pool, &origins, NULL, 0))
		memset(&origins, 0, sizeof(origins));	/* shown as unknown */
	listing_begin(&l, ctx->json, 12, headers);
	for (i = 0; i < disks->nr; i++) {
		struct disk_row row = {
			.d = &disks->records[i], .tags = disk_tags(tags, &disks->records[i]),
			.bs = bs, .removed = record_u64(&disks->records[i], "removed"),
		};

		if (!tag_set_matches(row.tags, filter->tags, filter->nr))
			continue;
		pool_disk_space(pool, record_u64(row.d, "id"), &row.space);
		disk_device_name(pool, row.d, row.dev, sizeof(row.dev));
		row.origin = origin_store_find(&origins, record_u64(row.d, "id"),
					       record_u64(row.d, "created"));
		disk_hydration(pool, row.d, &row.hydration);
		if (l.json)
			disk_list_json(&l.j, &row);
		else
			disk_list_row(&l.t, &row);
	}
	listing_end(&l);
	origin_store_free(&origins);
}

static int cmd_disk_list(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_disk_cmds[DISK_LIST];
	struct tag_filter filter = { 0 };
	struct pool_config_file cfg;
	struct record_list disks;
	struct pool_tags tags;
	int opt, ind, r;

	while ((opt = next_option(cmd, argc, argv, &ind)) != -1) {
		r = opt == OPT_TAG ? tag_filter_add(cmd, &filter, optarg) : EXIT_USAGE;
		if (r) {
			tag_filter_free(&filter);
			return r;
		}
	}
	argc -= ind;
	argv += ind;
	if (argc != 1) {
		tag_filter_free(&filter);
		return snapctl_usage_error(cmd, argc ? "give exactly one pool name" : "missing the pool name");
	}
	r = open_pool(argv[0], &cfg);
	if (!r)
		r = pool_tags_load(cfg.name, &tags, filter.nr > 0);
	if (r) {
		tag_filter_free(&filter);
		return r;
	}
	r = poolctl_list_disks(cfg.name, &disks);
	if (r) {
		r = message_failed("listing disks", r);
	} else {
		disk_list_print(ctx, cfg.name, &disks, &tags, &filter);
		record_list_free(&disks);
	}
	tag_filter_free(&filter);
	pool_tags_free(&tags);
	return r;
}

/* The pool and disk arguments, after the options: the pool and the disk's record. */
static int pool_disk_args(const struct snapctl_cmd *cmd, int argc, char **argv,
			  struct pool_config_file *cfg, struct record *disk)
{
	int r;

	if (argc < 2)
		return snapctl_usage_error(cmd, "missing the pool or the disk");
	if (argc > 2)
		return snapctl_usage_error(cmd, "unexpected argument '%s'", argv[2]);
	r = open_pool(argv[0], cfg);
	if (r)
		return r;
	return find_disk_or_fail(cfg->name, argv[1], disk);
}

static int cmd_disk_remove(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_disk_cmds[DISK_REMOVE];
	struct pool_config_file cfg;
	struct record disk;
	char dev[256], question[300];
	bool yes = false;
	int c, ind, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c != OPT_YES)
			return EXIT_USAGE;
		yes = true;
	}
	r = pool_disk_args(cmd, argc - ind, argv + ind, &cfg, &disk);
	if (r)
		return r;
	disk_device_name(cfg.name, &disk, dev, sizeof(dev));
	if (record_u64(&disk, "removed")) {
		record_free(&disk);
		return fail_with(EXIT_NOT_FOUND, "disk '%s' was removed already; only its snapshots remain",
				 argv[ind + 1]);
	}
	if (device_in_use(dev)) {
		record_free(&disk);
		return fail_with(EXIT_BUSY, "/dev/mapper/%s is in use; unmount or close it first", dev);
	}
	snprintf(question, sizeof(question), "Remove disk %s and the data written to it since its last snapshot?",
		 record_get(&disk, "name"));
	if (!yes && !confirm(question)) {
		record_free(&disk);
		return fail_with(EXIT_REFUSED, "disk not removed: its live data would be lost; add --yes");
	}
	r = dmctl_remove(dev);
	if (r && r != -ENXIO && r != -ENODEV) {
		record_free(&disk);
		return fail_with(exit_for_errno(r), "cannot remove /dev/mapper/%s: %s", dev, strerror(-r));
	}
	r = poolctl_remove_disk(cfg.name, record_u64(&disk, "id"));
	record_free(&disk);
	if (r)
		return message_failed("removing the disk", r);
	/* The disk's record may be gone, and its automatic snapshots with it. */
	tags_prune(cfg.name);
	if (!ctx->json)
		printf("disk removed\n");
	return EXIT_OK;
}

static int cmd_disk_resize(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_disk_cmds[DISK_RESIZE];
	uint64_t bytes = 0, block, sectors, old;
	struct pool_config_file cfg;
	struct record disk;
	char dev[256], params[PATH_MAX + 128], origin[PATH_MAX];
	bool yes = false;
	int c, ind, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c == 's') {
			if (parse_size(optarg, &bytes) || !bytes)
				return snapctl_usage_error(cmd, "size must be a positive size such as 10G");
		} else if (c == OPT_YES) {
			yes = true;
		} else {
			return EXIT_USAGE;
		}
	}
	if (!bytes)
		return snapctl_usage_error(cmd, "--size is needed");
	r = pool_disk_args(cmd, argc - ind, argv + ind, &cfg, &disk);
	if (r)
		return r;
	block = pool_block_bytes(cfg.name);
	sectors = (bytes / block + !!(bytes % block)) * (block >> 9);	/* no wrap near 2^64 */
	if (sectors > (uint64_t)INT64_MAX >> 9)		/* what a block device can be */
		return snapctl_usage_error(cmd, "size must be at most 8 EiB");
	old = record_u64(&disk, "size");
	disk_device_name(cfg.name, &disk, dev, sizeof(dev));
	if (sectors < old) {
		if (device_in_use(dev)) {
			record_free(&disk);
			return fail_with(EXIT_BUSY, "/dev/mapper/%s is in use; shrink the filesystem and close the disk first",
					 dev);
		}
		if (!yes && !confirm("Shrinking drops the data past the new end. Continue?")) {
			record_free(&disk);
			return fail_with(EXIT_REFUSED, "disk not shrunk: data past the new end would be lost; add --yes");
		}
		/* The device goes first: the pool refuses to shrink a disk in use. */
		dmctl_remove(dev);
	}
	r = poolctl_resize_disk(cfg.name, record_u64(&disk, "id"), sectors);
	if (r) {
		record_free(&disk);
		return message_failed("resizing the disk", r);
	}
	r = disk_origin_device(cfg.name, &disk, origin, sizeof(origin));
	if (!r)
		r = disk_table_params(params, sizeof(params), cfg.name, record_u64(&disk, "id"), 0,
				      record_logical_block_size(&disk), origin[0] ? origin : NULL);
	if (r) {
		record_free(&disk);
		return fail_with(exit_for_errno(r), "disk resized but its device was not: %s", strerror(-r));
	}
	if (sectors < old) {
		char idbuf[32];

		record_free(&disk);
		snprintf(idbuf, sizeof(idbuf), "%s", argv[ind + 1]);
		r = pool_find_disk(cfg.name, idbuf, &disk);
		if (!r)
			r = activate_disk(cfg.name, &disk);
	} else {
		r = dmctl_reload(dev, sectors, "row", params);
	}
	record_free(&disk);
	if (r)
		return fail_with(exit_for_errno(r), "disk resized but its device was not: %s", strerror(-r));
	if (!ctx->json)
		printf("disk resized to %" PRIu64 " bytes\n", sectors << 9);
	return EXIT_OK;
}

static int cmd_disk_set(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_disk_cmds[DISK_SET];
	struct poolctl_disk_attrs attrs = POOLCTL_DISK_ATTRS;
	const char *name = NULL;
	struct pool_config_file cfg;
	struct record disk;
	int c, ind, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c == 'n') {
			if (!poolctl_new_name_valid(optarg))
				return snapctl_usage_error(cmd, "'%s' is not a valid disk name", optarg);
			name = optarg;
		} else if (c == 'd') {
			if (!strcmp(optarg, "yes"))
				attrs.delete_auto_snapshots = 1;
			else if (!strcmp(optarg, "no"))
				attrs.delete_auto_snapshots = 0;
			else
				return snapctl_usage_error(cmd, "--delete-auto-snapshots takes yes or no");
		} else {
			return EXIT_USAGE;
		}
	}
	if (!name && attrs.delete_auto_snapshots < 0)
		return snapctl_usage_error(cmd, "nothing to set: give --name or --delete-auto-snapshots");
	r = pool_disk_args(cmd, argc - ind, argv + ind, &cfg, &disk);
	if (r)
		return r;
	attrs.name = name;
	if (!name) {
		r = poolctl_set_disk(cfg.name, record_u64(&disk, "id"), &attrs);
	} else {
		char old_dev[256], new_dev[256];
		struct record renamed;

		disk_device_name(cfg.name, &disk, old_dev, sizeof(old_dev));
		if (device_in_use(old_dev)) {
			record_free(&disk);
			return fail_with(EXIT_BUSY, "/dev/mapper/%s is in use; a disk in use keeps its name",
					 old_dev);
		}
		/* Both attributes in one message: both are set, or neither. */
		r = poolctl_set_disk(cfg.name, record_u64(&disk, "id"), &attrs);
		if (!r) {
			/* The device is named after the disk: recreate it. */
			dmctl_remove(old_dev);
			if (!pool_find_disk(cfg.name, name, &renamed)) {
				disk_device_name(cfg.name, &renamed, new_dev, sizeof(new_dev));
				if (!record_u64(&renamed, "removed"))
					r = activate_disk(cfg.name, &renamed);
				record_free(&renamed);
			}
		}
	}
	record_free(&disk);
	if (r)
		return message_failed("setting the disk", r);
	(void)ctx;
	return EXIT_OK;
}

static int cmd_clone(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_disk_cmds[CLONE];
	struct tag_set labels = { 0 };
	struct pool_config_file cfg;
	struct record snap, disk;
	struct tag_edit edit;
	char idbuf[32], a[32];
	const char *size_arg = NULL;
	uint64_t id, bytes = 0, sectors, source;
	int c, ind, r, tags_failed = 0;

	tag_edit_init(&edit);
	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c == 's') {
			if (parse_size(optarg, &bytes) || !bytes) {
				tag_edit_free(&edit);
				return snapctl_usage_error(cmd, "size must be a positive size such as 10G, not '%s'",
							   optarg);
			}
			size_arg = optarg;
			continue;
		}
		r = c == '?' ? EXIT_USAGE : tag_option(cmd, c, optarg, &edit);
		if (r) {
			tag_edit_free(&edit);
			return r;
		}
	}
	r = tag_edit_apply(&edit, &labels, NULL, 0);
	tag_edit_free(&edit);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	argc -= ind;
	argv += ind;
	if (argc != 3)
		return snapctl_usage_error(cmd, argc < 3 ? "missing the pool, the snapshot or the new disk name" :
					   "expects exactly three arguments");
	if (!poolctl_new_name_valid(argv[2]))
		return snapctl_usage_error(cmd, "'%s' is not a valid disk name", argv[2]);
	r = open_pool(argv[0], &cfg);
	if (r)
		return r;
	r = snapctl_find_snapshot(cfg.name, argv[1], &snap);
	if (r)
		return r;
	if (disk_sectors_at_least(bytes, pool_block_bytes(cfg.name), record_u64(&snap, "size"),
				  &sectors)) {
		if (bytes < record_u64(&snap, "size") << 9)
			r = snapctl_usage_error(cmd, "--size %s is smaller than the snapshot's %s (%" PRIu64 " bytes): a clone is at least as large as its snapshot",
						size_arg, human_bytes(record_u64(&snap, "size") << 9, a, sizeof(a)),
						record_u64(&snap, "size") << 9);
		else
			r = snapctl_usage_error(cmd, "size must be at most 8 EiB");
		record_free(&snap);
		return r;
	}
	id = pool_next_disk_id(cfg.name);
	source = record_u64(&snap, "disk");
	r = poolctl_clone(cfg.name, record_u64(&snap, "id"), id, argv[2], sectors);
	record_free(&snap);
	if (r == -EEXIST)
		return fail_with(EXIT_USAGE, "pool '%s' has a disk named '%s' already", cfg.name, argv[2]);
	if (r)
		return message_failed("cloning", r);
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, id);
	r = pool_find_disk(cfg.name, idbuf, &disk);
	if (!r) {
		tags_failed = tags_replace(cfg.name, TAG_DISK, id, record_u64(&disk, "created"),
					   &labels);
		if (tags_failed)
			fprintf(stderr, "snapctl: disk %s was made without its tags and description; set them with 'snapctl disk tag'\n",
				argv[2]);
		/* A clone of a disk with an origin reads it too. */
		r = origin_remember_clone(cfg.name, source, &disk);
		if (r) {
			record_free(&disk);
			tag_set_free(&labels);
			return r;
		}
		r = activate_disk(cfg.name, &disk);
		record_free(&disk);
	}
	tag_set_free(&labels);
	if (r)
		return fail_with(exit_for_errno(r), "clone made but its device failed: %s", strerror(-r));
	if (!ctx->json)
		printf("disk %s created from the snapshot: /dev/mapper/%s-%s (id %" PRIu64 ")\n", argv[2],
		       cfg.name, argv[2], id);
	return tags_failed ? EXIT_FAILURE_GENERIC : EXIT_OK;
}

static int cmd_disk_tag(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_disk_cmds[DISK_TAG];
	struct pool_config_file cfg;
	struct tag_edit edit;
	struct record disk;
	int ind, r;

	tag_edit_init(&edit);
	r = tag_edit_args(cmd, argc, argv, "disk", &edit, &ind);
	if (r)
		goto out;
	r = open_pool(argv[ind], &cfg);
	if (!r)
		r = find_disk_or_fail(cfg.name, argv[ind + 1], &disk);
	if (r)
		goto out;
	r = tags_edit(cfg.name, TAG_DISK, record_u64(&disk, "id"), record_u64(&disk, "created"),
		      &edit);
	record_free(&disk);
out:
	tag_edit_free(&edit);
	(void)ctx;
	return r;
}

static int cmd_disk_hydrate(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_disk_cmds[DISK_HYDRATE];
	struct pool_config_file cfg;
	struct record disk;
	uint64_t rate = 0;
	bool stop = false, wait = false;
	int c, ind, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c == 'r') {
			if (parse_rate(optarg, &rate) || rate > INT64_MAX)
				return snapctl_usage_error(cmd, "--rate takes a size per second such as 8M/s (0: as fast as it goes), not '%s'",
							   optarg);
		} else if (c == 'S') {
			stop = true;
		} else if (c == 'w') {
			wait = true;
		} else {
			return EXIT_USAGE;
		}
	}
	if (stop && wait)
		return snapctl_usage_error(cmd, "--stop pauses hydration: there is nothing to --wait for");
	r = pool_disk_args(cmd, argc - ind, argv + ind, &cfg, &disk);
	if (r)
		return r;
	if (!record_u64(&disk, "external_origin")) {
		record_free(&disk);
		return fail_with(EXIT_USAGE, "disk %s has no external origin: nothing to hydrate",
				 argv[ind + 1]);
	}
	r = origin_hydrate(cfg.name, &disk, stop ? -1 : (int64_t)rate);
	record_free(&disk);
	if (r)
		return r;
	if (wait)
		return origin_wait(cfg.name, argv[ind + 1]);
	if (!ctx->json)
		printf("disk %s: hydration %s\n", argv[ind + 1], stop ? "paused" : "started");
	return EXIT_OK;
}
