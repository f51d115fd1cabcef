// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl pool ...: create, activate, deactivate, list, status, quota, remove.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "dmctl.h"
#include "json.h"
#include "origin.h"
#include "probe.h"
#include "table.h"

static int cmd_pool_create(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_pool_activate(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_pool_deactivate(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_pool_list(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_pool_status(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_pool_quota(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_pool_remove(struct snapctl_ctx *ctx, int argc, char **argv);

enum {
	POOL_CREATE, POOL_ACTIVATE, POOL_DEACTIVATE, POOL_LIST, POOL_STATUS, POOL_QUOTA,
	POOL_REMOVE,
};

static const struct option create_options[] = {
	{ "metadata", required_argument, NULL, 'm' },
	{ "data", required_argument, NULL, 'd' },
	{ "block-size", required_argument, NULL, 'b' },
	{ "low-water", required_argument, NULL, 'l' },
	{ "force", no_argument, NULL, 'f' },
	{ 0 }
};

static const struct option activate_options[] = {
	{ "all", no_argument, NULL, 'a' },
	{ 0 }
};

static const struct option quota_options[] = {
	{ "manual", required_argument, NULL, 'm' },
	{ "auto", required_argument, NULL, 'a' },
	{ 0 }
};

static const struct option remove_options[] = {
	YES_OPTION,
	{ 0 }
};

const struct snapctl_cmd snapctl_pool_cmds[] = {
	[POOL_CREATE] = {
		.noun = "pool", .verb = "create",
		.usage = "<pool> --metadata <device> --data <device> [--block-size <size>] [--low-water <blocks>] [--force]",
		.help = "Create a pool on a metadata device and a data device, and activate it.\n"
			"Both devices are probed first: one holding a filesystem, a partition\n"
			"table or another pool is refused unless --force is given.\n\n"
			"  --block-size <size>   data block size, 4K..1M, a power of two [4K]\n"
			"  --low-water <blocks>  free data blocks below which an event is raised [0]\n"
			"  --force               overwrite what the devices hold\n\n" SIZE_HELP,
		.options = create_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_pool_create,
	},
	[POOL_ACTIVATE] = {
		.noun = "pool", .verb = "activate",
		.usage = "<pool>... | --all",
		.help = "Bring an existing pool and all its disks back (after a reboot).",
		.options = activate_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_pool_activate,
	},
	[POOL_DEACTIVATE] = {
		.noun = "pool", .verb = "deactivate",
		.usage = "<pool>...",
		.help = "Remove the devices of a pool (its disks, snapshot views, then the pool).\n"
			"Nothing is deleted.  Refused while a disk is in use.",
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_pool_deactivate,
	},
	[POOL_LIST] = {
		.noun = "pool", .verb = "list",
		.usage = "[--json]",
		.help = "List the pools defined on this host, active or not, with their space.",
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_pool_list,
	},
	[POOL_STATUS] = {
		.noun = "pool", .verb = "status",
		.usage = "<pool> [--json]",
		.help = "Show a pool's mode, data and metadata space, quotas and transaction.",
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_pool_status,
	},
	[POOL_QUOTA] = {
		.noun = "pool", .verb = "quota",
		.usage = "<pool> [--manual <n>] [--auto <n>] [--json]",
		.help = "Show or set the per-disk snapshot quotas (0..65536; 256 each by default).",
		.options = quota_options,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_pool_quota,
	},
	[POOL_REMOVE] = {
		.noun = "pool", .verb = "remove",
		.usage = "<pool> [--yes]",
		.help = "Destroy a pool: deactivate it, wipe its metadata superblocks and forget it.\n"
			"Every disk and snapshot in it is lost: asks for confirmation, or --yes.",
		.options = remove_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_pool_remove,
	},
	{ 0 }
};

/*----------------------------------------------------------------*/

static int device_sectors(const char *path, uint64_t *sectors)
{
	struct stat st;
	uint64_t bytes = 0;
	int fd, r = 0;

	if (stat(path, &st))
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0)
		r = -errno;
	else
		bytes = lseek(fd, 0, SEEK_END);
	close(fd);
	*sectors = bytes >> 9;
	return r;
}

/* Zero the two superblock slots, so the kernel formats a new pool. */
static int wipe_superblocks(const char *path)
{
	static char zeroes[8192];
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, zeroes, sizeof(zeroes), 0) != sizeof(zeroes) || fsync(fd))
		r = -errno;
	close(fd);
	return r;
}

static int pool_table(const struct pool_config_file *cfg, uint64_t *sectors, char *params,
		      size_t len)
{
	int r = device_sectors(cfg->data, sectors);

	if (r)
		return r;
	snprintf(params, len, "%s %s %u %" PRIu64, cfg->metadata, cfg->data, cfg->block_sectors,
		 cfg->low_water);
	return 0;
}

static int activate_pool_device(const struct pool_config_file *cfg)
{
	struct dm_device_info info;
	char params[700], uuid[128];
	uint64_t sectors;
	int r;

	if (!dmctl_info(cfg->name, &info) && info.exists)
		return 0;
	r = pool_table(cfg, &sectors, params, sizeof(params));
	if (r)
		return fail_with(exit_for_errno(r), "cannot size data device %s: %s", cfg->data,
				 strerror(-r));
	snprintf(uuid, sizeof(uuid), "DMROW-POOL-%s", cfg->name);
	r = dmctl_create(cfg->name, uuid, sectors, "row-pool", params, false);
	if (r)
		return fail_with(exit_for_errno(r),
				 "cannot activate pool '%s': %s (the kernel log says why; is dm-row loaded?)",
				 cfg->name, strerror(-r));
	return 0;
}

static int activate_disks(const char *pool)
{
	struct record_list disks;
	unsigned int i;
	int r;

	r = poolctl_list_disks(pool, &disks);
	if (r)
		return message_failed("listing disks", r);
	/* Every disk that can be: one whose origin is missing does not hold back the others. */
	for (i = 0; i < disks.nr; i++) {
		int rr;

		if (record_u64(&disks.records[i], "removed"))
			continue;
		/* An export that could not be served: said above, with why. */
		rr = disk_origin_ready(pool, &disks.records[i]);
		if (rr == -ENXIO)
			fail_with(exit_for_errno(rr), "disk %s of pool '%s' stays inactive: its origin is not served",
				  record_get(&disks.records[i], "name"), pool);
		else
			rr = activate_disk(pool, &disks.records[i]);
		if (rr && rr != -ENXIO)
			fail_with(exit_for_errno(rr), "cannot activate disk %s of pool '%s': %s",
				  record_get(&disks.records[i], "name"), pool, strerror(-rr));
		if (rr && !r)
			r = rr;
	}
	record_list_free(&disks);
	return r ? exit_for_errno(r) : 0;
}

/* The command line of 'pool create' into @cfg: 0, or the exit code of a usage error. */
static int pool_create_parse(const struct snapctl_cmd *cmd, int argc, char **argv,
			     struct pool_config_file *cfg, bool *force)
{
	uint64_t bytes;
	int c, ind;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		switch (c) {
		case 'm':
			snprintf(cfg->metadata, sizeof(cfg->metadata), "%s", optarg);
			break;
		case 'd':
			snprintf(cfg->data, sizeof(cfg->data), "%s", optarg);
			break;
		case 'b':
			if (parse_size(optarg, &bytes) || bytes < 4096 || bytes > (1 << 20) ||
			    (bytes & (bytes - 1)))
				return snapctl_usage_error(cmd, "block size must be a power of two of 4K..1M, not '%s'",
							   optarg);
			cfg->block_sectors = bytes >> 9;
			break;
		case 'l':
			if (parse_size(optarg, &cfg->low_water))
				return snapctl_usage_error(cmd, "low water mark must be a number of blocks");
			break;
		case 'f':
			*force = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (ind >= argc)
		return snapctl_usage_error(cmd, "missing the pool name");
	if (ind + 1 < argc)
		return snapctl_usage_error(cmd, "unexpected argument '%s'", argv[ind + 1]);
	if (!config_name_valid(argv[ind]))
		return snapctl_usage_error(cmd, "'%s' is not a valid pool name (letters, digits, _ . -)",
					   argv[ind]);
	snprintf(cfg->name, sizeof(cfg->name), "%s", argv[ind]);
	if (!cfg->metadata[0] || !cfg->data[0])
		return snapctl_usage_error(cmd, "both --metadata and --data are needed");
	if (!strcmp(cfg->metadata, cfg->data))
		return snapctl_usage_error(cmd, "metadata and data must be different devices");
	return 0;
}

/* Both devices are block devices, and empty unless @force. */
static int pool_devices_usable(const struct pool_config_file *cfg, bool force)
{
	const char *devices[2] = { cfg->metadata, cfg->data };
	uint64_t sectors;
	char what[128];
	int i, r;

	for (i = 0; i < 2; i++) {
		r = device_sectors(devices[i], &sectors);
		if (r == -ENOTBLK)
			return fail_with(EXIT_USAGE, "%s is not a block device", devices[i]);
		if (r)
			return fail_with(EXIT_NOT_FOUND, "cannot open %s: %s", devices[i], strerror(-r));
		r = probe_device(devices[i], what, sizeof(what));
		if (r < 0)
			return fail_with(EXIT_FAILURE_GENERIC, "cannot probe %s: %s", devices[i],
					 strerror(-r));
		if (r > 0 && !force)
			return fail_with(EXIT_REFUSED, "%s is not empty, it holds: %s; use --force to overwrite it",
					 devices[i], what);
	}
	return 0;
}

/* Format the pool (its target does, on empty metadata) and save its definition. */
static int pool_format(struct pool_config_file *cfg)
{
	struct record info;
	int r;

	r = wipe_superblocks(cfg->metadata);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "cannot write %s: %s", cfg->metadata, strerror(-r));
	r = activate_pool_device(cfg);
	if (r)
		return r;
	r = pool_info(cfg->name, &info);
	if (r) {
		dmctl_remove(cfg->name);
		return message_failed("reading the new pool", r);
	}
	snprintf(cfg->uuid, sizeof(cfg->uuid), "%s", record_get(&info, "uuid"));
	record_free(&info);
	r = config_save(cfg);
	if (r) {
		dmctl_remove(cfg->name);
		return fail_with(EXIT_FAILURE_GENERIC, "cannot save the pool definition in %s: %s",
				 config_dir(), strerror(-r));
	}
	return 0;
}

static int cmd_pool_create(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_pool_cmds[POOL_CREATE];
	struct pool_config_file cfg = { .block_sectors = 8 };
	bool force = false;
	int r;

	r = pool_create_parse(cmd, argc, argv, &cfg, &force);
	if (r)
		return r;
	if (!config_load(cfg.name, &(struct pool_config_file){ 0 }))
		return fail_with(EXIT_USAGE, "pool '%s' exists already", cfg.name);
	r = pool_devices_usable(&cfg, force);
	if (!r)
		r = pool_format(&cfg);
	if (r)
		return r;
	if (!ctx->json)
		printf("pool %s created: /dev/mapper/%s\n", cfg.name, cfg.name);
	return EXIT_OK;
}

static int activate_one(void *context, const struct pool_config_file *cfg)
{
	int *failed = context, origin_failed, r;
	struct record info;

	r = activate_pool_device(cfg);
	if (!r && pool_info(cfg->name, &info) == 0) {
		if (cfg->uuid[0] && strcmp(cfg->uuid, record_get(&info, "uuid")))
			fprintf(stderr, "snapctl: warning: pool '%s' has uuid %s, its definition says %s\n",
				cfg->name, record_get(&info, "uuid"), cfg->uuid);
		record_free(&info);
	}
	if (r) {
		*failed = r;
		return 0;
	}
	/*
	 * The origins first (an export served again), then every disk that
	 * can be, then hydration where it was asked for.
	 */
	origin_failed = origins_activate(cfg->name, false);
	r = activate_disks(cfg->name);
	if (!r)
		r = origins_activate(cfg->name, true);
	if (r || origin_failed)
		*failed = r ? r : origin_failed;
	return 0;
}

static int cmd_pool_activate(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_pool_cmds[POOL_ACTIVATE];
	struct pool_config_file cfg;
	int failed = 0, all = 0, c, ind, i, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c != 'a')
			return EXIT_USAGE;
		all = 1;
	}
	if (all && ind < argc)
		return snapctl_usage_error(cmd, "give pool names or --all, not both");
	if (all) {
		r = config_for_each(activate_one, &failed);
		return r ? fail_with(EXIT_FAILURE_GENERIC, "cannot read %s: %s", config_dir(),
				     strerror(-r)) : failed;
	}
	if (ind >= argc)
		return snapctl_usage_error(cmd, "missing the pool name (or --all)");
	for (i = ind; i < argc; i++) {
		r = config_load(argv[i], &cfg);
		if (r)
			return fail_with(exit_for_errno(r == -EINVAL ? -ENOENT : r),
					 "no pool '%s' (see 'snapctl pool list')", argv[i]);
		activate_one(&failed, &cfg);
	}
	(void)ctx;
	return failed;
}

struct removal {
	const char *pool;
	size_t pool_len;
	char pool_dev[32];	/* "<major>:<minor> ", as tables name the pool */
	int error;
	const char *busy;
	char busy_name[256];
};

/*
 * Disk devices are "<pool>-<disk>", views "<pool>-<disk>@<snap>"; but the
 * name alone does not tell the disks of pool "a" from pool "a-b" and its
 * disks: a device is the pool's if its table is a row target on the pool.
 */
static bool on_pool(const struct removal *rm, const char *name)
{
	char *type = NULL, *params = NULL;
	uint64_t sectors;
	bool ours;

	if (name[rm->pool_len] != '-' || !rm->pool_dev[0])
		return false;
	if (dmctl_table(name, &sectors, &type, &params))
		return false;
	ours = type && params && !strcmp(type, "row") &&
	       !strncmp(params, rm->pool_dev, strlen(rm->pool_dev));
	free(type);
	free(params);
	return ours;
}

static int check_busy(void *context, const char *name)
{
	struct removal *rm = context;

	if (!on_pool(rm, name))
		return 0;
	if (device_in_use(name)) {
		snprintf(rm->busy_name, sizeof(rm->busy_name), "%s", name);
		rm->busy = rm->busy_name;
		return 1;
	}
	return 0;
}

static int remove_device(void *context, const char *name)
{
	struct removal *rm = context;
	int r;

	if (!on_pool(rm, name))
		return 0;
	r = dmctl_remove(name);
	if (r && !rm->error)
		rm->error = r;
	return 0;
}

static int deactivate(const char *pool)
{
	struct removal rm = { .pool = pool, .pool_len = strlen(pool) };
	struct dm_device_info info;
	int r;

	if (!dmctl_info(pool, &info) && info.exists)
		snprintf(rm.pool_dev, sizeof(rm.pool_dev), "%u:%u ", info.major, info.minor);
	r = dmctl_for_each(pool, check_busy, &rm);
	if (rm.busy)
		return fail_with(EXIT_BUSY, "/dev/mapper/%s is in use; unmount or close it first",
				 rm.busy);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "cannot list devices: %s", strerror(-r));
	dmctl_for_each(pool, remove_device, &rm);
	if (rm.error)
		return fail_with(exit_for_errno(rm.error), "cannot remove a device of pool '%s': %s",
				 pool, strerror(-rm.error));
	r = dmctl_remove(pool);
	if (r && r != -ENXIO && r != -ENODEV)
		return fail_with(exit_for_errno(r), "cannot remove pool device '%s': %s", pool,
				 strerror(-r));
	origins_deactivated(pool);
	return 0;
}

static int cmd_pool_deactivate(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_pool_cmds[POOL_DEACTIVATE];
	struct pool_config_file cfg;
	int i, r;

	r = no_options(cmd, argc, argv);
	if (r)
		return r;
	if (argc < 1)
		return snapctl_usage_error(cmd, "missing the pool name");
	for (i = 0; i < argc; i++) {
		if (config_load(argv[i], &cfg))
			return fail_with(EXIT_NOT_FOUND, "no pool '%s' (see 'snapctl pool list')", argv[i]);
		r = deactivate(argv[i]);
		if (r)
			return r;
	}
	(void)ctx;
	return EXIT_OK;
}

/*----------------------------------------------------------------*/

struct pool_state {
	bool active;
	struct record info;
	char *status;		/* the status line */
};

static void read_pool_state(const char *name, struct pool_state *st)
{
	struct dm_device_info dev;
	char *type = NULL;

	memset(st, 0, sizeof(*st));
	if (dmctl_info(name, &dev) || !dev.exists)
		return;
	st->active = !pool_info(name, &st->info);
	if (dmctl_status(name, &type, &st->status))
		st->status = NULL;
	free(type);
}

static void free_pool_state(struct pool_state *st)
{
	if (st->active)
		record_free(&st->info);
	free(st->status);
}

static void pool_json(struct json *j, const struct pool_config_file *cfg, struct pool_state *st)
{
	struct pool_space sp = { 0 };

	if (st->active)
		pool_space_of(&st->info, &sp);

	json_begin_object(j, NULL);
	json_string(j, "name", cfg->name);
	json_string(j, "metadata_device", cfg->metadata);
	json_string(j, "data_device", cfg->data);
	json_bool(j, "active", st->active);
	if (st->active) {
		json_string(j, "uuid", record_get(&st->info, "uuid"));
		json_string(j, "mode", record_get(&st->info, "mode"));
		json_bool(j, "needs_check", record_u64(&st->info, "needs_check"));
		json_u64(j, "block_size", sp.block_bytes);
		json_u64(j, "transaction", record_u64(&st->info, "transaction"));
		json_u64(j, "data_blocks", record_u64(&st->info, "data_blocks"));
		json_u64(j, "data_used_blocks", record_u64(&st->info, "data_used"));
		json_u64(j, "data_bytes", sp.data_bytes);
		json_u64(j, "data_used_bytes", sp.data_used_bytes);
		json_u64(j, "metadata_blocks", record_u64(&st->info, "metadata_blocks"));
		json_u64(j, "metadata_used_blocks", record_u64(&st->info, "metadata_used"));
		json_u64(j, "metadata_bytes", sp.metadata_bytes);
		json_u64(j, "metadata_used_bytes", sp.metadata_used_bytes);
		json_u64(j, "manual_quota", record_u64(&st->info, "manual_quota"));
		json_u64(j, "auto_quota", record_u64(&st->info, "auto_quota"));
	}
	json_end_object(j);
}

static int list_one(void *context, const struct pool_config_file *cfg)
{
	struct listing *l = context;
	struct pool_state st;
	char a[32], b[32];
	uint64_t bs;

	read_pool_state(cfg->name, &st);
	if (l->json) {
		pool_json(&l->j, cfg, &st);
	} else if (st.active) {
		bs = record_u64(&st.info, "block_size") << 9;
		table_add_row(&l->t, "%s\t%s\t%s\t%s\t%" PRIu64 "%%\t%s", cfg->name,
			      record_get(&st.info, "mode"),
			      human_bytes(record_u64(&st.info, "data_used") * bs, a, sizeof(a)),
			      human_bytes(record_u64(&st.info, "data_blocks") * bs, b, sizeof(b)),
			      record_u64(&st.info, "metadata_used") * 100 /
				      (record_u64(&st.info, "metadata_blocks") ?: 1),
			      cfg->data);
	} else {
		table_add_row(&l->t, "%s\tinactive\t-\t-\t-\t%s", cfg->name, cfg->data);
	}
	free_pool_state(&st);
	return 0;
}

static int cmd_pool_list(struct snapctl_ctx *ctx, int argc, char **argv)
{
	static const char *const headers[] = {
		"NAME", "MODE", "USED>", "SIZE>", "METADATA>", "DATA DEVICE"
	};
	struct listing l;
	int r;

	r = no_options(&snapctl_pool_cmds[POOL_LIST], argc, argv);
	if (r)
		return r;
	if (argc > 0)
		return snapctl_usage_error(&snapctl_pool_cmds[POOL_LIST], "unexpected argument '%s'",
					   argv[0]);
	listing_begin(&l, ctx->json, 6, headers);
	r = config_for_each(list_one, &l);
	listing_end(&l);
	return r ? fail_with(EXIT_FAILURE_GENERIC, "cannot read %s: %s", config_dir(),
			     strerror(-r)) : EXIT_OK;
}

static int cmd_pool_status(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_pool_cmds[POOL_STATUS];
	struct pool_config_file cfg;
	struct pool_state st;
	struct json j;
	char a[32], b[32];
	uint64_t bs;
	int r;

	r = no_options(cmd, argc, argv);
	if (r)
		return r;
	if (argc != 1)
		return snapctl_usage_error(cmd, argc ? "give exactly one pool name" : "missing the pool name");
	r = open_pool(argv[0], &cfg);
	if (r)
		return r;
	read_pool_state(cfg.name, &st);
	if (!st.active) {
		free_pool_state(&st);
		return fail_with(EXIT_FAILURE_GENERIC, "cannot read the status of pool '%s'", cfg.name);
	}
	if (ctx->json) {
		json_init(&j, stdout);
		pool_json(&j, &cfg, &st);
		json_finish(&j);
	} else {
		bs = record_u64(&st.info, "block_size") << 9;
		printf("pool        %s (%s)\n", cfg.name, record_get(&st.info, "uuid"));
		printf("mode        %s%s\n", record_get(&st.info, "mode"),
		       record_u64(&st.info, "needs_check") ? ", needs check (run 'snapctl check')" : "");
		printf("devices     metadata %s, data %s\n", cfg.metadata, cfg.data);
		printf("block size  %s\n", human_bytes(bs, a, sizeof(a)));
		printf("data        %s used of %s (%" PRIu64 " of %" PRIu64 " blocks)\n",
		       human_bytes(record_u64(&st.info, "data_used") * bs, a, sizeof(a)),
		       human_bytes(record_u64(&st.info, "data_blocks") * bs, b, sizeof(b)),
		       record_u64(&st.info, "data_used"), record_u64(&st.info, "data_blocks"));
		printf("metadata    %s used of %s\n",
		       human_bytes(record_u64(&st.info, "metadata_used") * POOL_METADATA_BLOCK_BYTES, a,
				   sizeof(a)),
		       human_bytes(record_u64(&st.info, "metadata_blocks") * POOL_METADATA_BLOCK_BYTES, b,
				   sizeof(b)));
		printf("quotas      %" PRIu64 " manual, %" PRIu64 " automatic snapshots per disk\n",
		       record_u64(&st.info, "manual_quota"), record_u64(&st.info, "auto_quota"));
		printf("transaction %" PRIu64 "\n", record_u64(&st.info, "transaction"));
	}
	free_pool_state(&st);
	return EXIT_OK;
}

static int cmd_pool_quota(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_pool_cmds[POOL_QUOTA];
	long manual = -1, automatic = -1;
	struct pool_config_file cfg;
	struct record info;
	struct json j;
	char *end;
	int c, ind, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		long *target = c == 'm' ? &manual : &automatic;

		if (c != 'm' && c != 'a')
			return EXIT_USAGE;
		*target = strtol(optarg, &end, 10);
		if (*end || *target < 0 || *target > 65536)
			return snapctl_usage_error(cmd, "a quota is a number of 0..65536, not '%s'", optarg);
	}
	if (ind >= argc)
		return snapctl_usage_error(cmd, "missing the pool name");
	if (ind + 1 < argc)
		return snapctl_usage_error(cmd, "unexpected argument '%s'", argv[ind + 1]);
	r = open_pool(argv[ind], &cfg);
	if (r)
		return r;
	r = pool_info(cfg.name, &info);
	if (r)
		return message_failed("reading the pool", r);
	if (manual >= 0 || automatic >= 0) {
		if (manual < 0)
			manual = record_u64(&info, "manual_quota");
		if (automatic < 0)
			automatic = record_u64(&info, "auto_quota");
		r = poolctl_set_quota(cfg.name, (uint32_t)manual, (uint32_t)automatic);
	} else {
		/* Only showing them: nothing to change. */
		manual = record_u64(&info, "manual_quota");
		automatic = record_u64(&info, "auto_quota");
	}
	record_free(&info);
	if (r)
		return message_failed("setting the quotas", r);
	if (ctx->json) {
		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		json_u64(&j, "manual", manual);
		json_u64(&j, "auto", automatic);
		json_end_object(&j);
		json_finish(&j);
	} else {
		printf("quotas of pool %s: %ld manual, %ld automatic snapshots per disk\n", cfg.name,
		       manual, automatic);
	}
	return EXIT_OK;
}

static int cmd_pool_remove(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_pool_cmds[POOL_REMOVE];
	struct pool_config_file cfg;
	bool yes = false;
	char question[160];
	const char *name;
	int c, ind, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c != OPT_YES)
			return EXIT_USAGE;
		yes = true;
	}
	if (ind >= argc)
		return snapctl_usage_error(cmd, "missing the pool name");
	if (ind + 1 < argc)
		return snapctl_usage_error(cmd, "unexpected argument '%s'", argv[ind + 1]);
	name = argv[ind];
	if (config_load(name, &cfg))
		return fail_with(EXIT_NOT_FOUND, "no pool '%s' (see 'snapctl pool list')", name);
	snprintf(question, sizeof(question),
		 "Destroy pool '%s' and every disk and snapshot in it?", name);
	if (!yes && !confirm(question))
		return fail_with(EXIT_REFUSED, "pool '%s' not removed: this destroys all its disks and snapshots; add --yes",
				 name);
	r = deactivate(name);
	if (r)
		return r;
	r = wipe_superblocks(cfg.metadata);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "cannot wipe %s: %s", cfg.metadata, strerror(-r));
	r = config_remove(name);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "cannot remove the definition: %s", strerror(-r));
	if (!ctx->json)
		printf("pool %s removed\n", name);
	return EXIT_OK;
}
