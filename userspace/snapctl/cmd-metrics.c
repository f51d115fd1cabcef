// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl metrics: pools, disks, policies and exports in the Prometheus
 * text format, for node exporter's textfile collector.  The figures are
 * the ones the other commands show: 'info pool' (pool status), 'space
 * disk' (disk list), 'space snapshot' (snapshot list), the policy store
 * (policy list) and the export log (exportlog.h); metrics.c names them
 * and writes the format.  'snapctl daemon --metrics-file' writes the same
 * text after every pass.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/dm-row.h>

#include "common.h"
#include "dmctl.h"
#include "exportlog.h"
#include "metrics.h"
#include "policy.h"
#include "statefile.h"

static int cmd_metrics(struct snapctl_ctx *ctx, int argc, char **argv);

static const struct option metrics_options[] = {
	{ "output", required_argument, NULL, 'o' },
	{ 0 }
};

const struct snapctl_cmd snapctl_metrics_cmds[] = {
	{
		.verb = "metrics",
		.usage = "[<pool>...] [--output <file>]",
		.help = "Print the state of pools (all defined on the host, or those named) in\n"
			"the Prometheus text format, for node exporter's textfile collector:\n"
			"pool mode, data and metadata space; per disk its size, mapped space,\n"
			"space written since its newest snapshot, space its snapshots hold and\n"
			"their exclusive space, snapshot counts; per disk with a policy the\n"
			"scheduler's last run and success and its failures; per exported disk\n"
			"the last export's time and result and the failed exports.\n\n"
			"  --output <file>   write the text to this file instead, atomically\n"
			"                    (a temporary file in its directory, then a rename),\n"
			"                    mode 0644: name it *.prom in the collector's\n"
			"                    directory\n\n"
			"What cannot be read is left out and named on standard error; the exit\n"
			"status is then 1, and the rest is written all the same.\n\n"
			"Metrics (snapctl(8) says more), labelled pool:\n"
			"  dmrow_pool_active                   1 active and answering, 0 not\n"
			"  dmrow_pool_mode                     1 for the current mode (label mode)\n"
			"  dmrow_pool_needs_check              1 if 'snapctl check' is needed\n"
			"  dmrow_pool_data_size_bytes          data space\n"
			"  dmrow_pool_data_used_bytes          data space in use\n"
			"  dmrow_pool_data_free_bytes          data space free\n"
			"  dmrow_pool_metadata_size_bytes      metadata space\n"
			"  dmrow_pool_metadata_used_bytes      metadata space in use\n"
			"labelled pool and disk:\n"
			"  dmrow_disk_size_bytes               size\n"
			"  dmrow_disk_mapped_bytes             space its live data maps\n"
			"  dmrow_disk_since_snapshot_bytes     written since its newest snapshot\n"
			"  dmrow_disk_chain_bytes              space its snapshots hold\n"
			"  dmrow_disk_snapshot_exclusive_bytes sum of its snapshots' exclusive space\n"
			"  dmrow_disk_snapshots                snapshots (label kind: manual, auto)\n"
			"  dmrow_policy_last_run_timestamp_seconds\n"
			"                                      last automatic snapshot tried\n"
			"                                      (label policy; 0: never)\n"
			"  dmrow_policy_last_success_timestamp_seconds\n"
			"                                      last automatic snapshot taken\n"
			"  dmrow_policy_failures_total         automatic snapshots that failed\n"
			"  dmrow_export_last_timestamp_seconds when its last export ended\n"
			"  dmrow_export_last_succeeded         1 if it completed, 0 if it failed\n"
			"  dmrow_export_last_success_timestamp_seconds\n"
			"                                      creation time of its last complete\n"
			"                                      export\n"
			"  dmrow_export_failures_total         exports that failed",
		.options = metrics_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_metrics,
	},
	{ 0 }
};

struct collect {
	struct metrics m;
	struct policy_store store;
	bool have_store;
	struct export_log log;
	bool have_log;
	unsigned int errors;
};

static void __attribute__((format(printf, 2, 3)))
warn(struct collect *c, const char *fmt, ...)
{
	va_list ap;

	c->errors++;
	fprintf(stderr, "snapctl: metrics: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Its name, or its id if it has none. */
static const char *disk_label(const struct record *disk, char *buf, size_t len)
{
	const char *name = record_get(disk, "name");

	if (name && strcmp(name, "-"))
		return name;
	snprintf(buf, len, "%" PRIu64, record_u64(disk, "id"));
	return buf;
}

/* The sum of the exclusive space of a disk's snapshots, in blocks. */
static int exclusive_blocks(const char *pool, uint64_t disk, uint64_t *blocks)
{
	struct record_list snaps;
	struct snapshot_space sp;
	unsigned int i;
	int r;

	*blocks = 0;
	r = poolctl_list_snapshots(pool, disk, &snaps);
	for (i = 0; !r && i < snaps.nr; i++) {
		r = pool_snapshot_space(pool, record_u64(&snaps.records[i], "id"), &sp);
		if (r == -ENODATA)
			r = 0;		/* deleted meanwhile (the scheduler's retention) */
		*blocks += sp.exclusive_blocks;
	}
	record_list_free(&snaps);
	return r;
}

static void collect_disk(struct collect *c, const char *pool, const char *uuid,
			 const struct pool_space *ps, const struct record *disk)
{
	uint64_t id = record_u64(disk, "id"), blocks = 0;
	uint32_t policy = record_u64(disk, "policy");
	const struct export_log_entry *e;
	struct metrics_disk d = { 0 };
	struct disk_space space;
	char label[32];
	int r;

	d.pool = pool;
	d.name = disk_label(disk, label, sizeof(label));
	d.size_bytes = record_u64(disk, "size") << 9;
	d.manual_snapshots = record_u64(disk, "manual");
	d.auto_snapshots = record_u64(disk, "auto");
	r = pool_disk_space(pool, id, &space);
	if (r) {
		warn(c, "pool %s, disk %s: cannot read its space: %s", pool, d.name, strerror(-r));
		return;
	}
	d.mapped_bytes = space.mapped_blocks * ps->block_bytes;
	d.live_delta_bytes = space.live_delta_blocks * ps->block_bytes;
	d.chain_bytes = space.chain_blocks * ps->block_bytes;
	if (d.manual_snapshots + d.auto_snapshots) {
		r = exclusive_blocks(pool, id, &blocks);
		if (r) {
			warn(c, "pool %s, disk %s: cannot read the space of its snapshots: %s", pool,
			     d.name, strerror(-r));
			return;
		}
	}
	d.exclusive_bytes = blocks * ps->block_bytes;
	metrics_add_disk(&c->m, &d);

	if (policy && !record_u64(disk, "removed") && c->have_store) {
		const struct policy *p = policy_by_id(&c->store, policy);
		const struct policy_disk *pd = policy_disk_find(&c->store, uuid, id);

		if (p) {
			struct metrics_policy mp = { .pool = pool, .disk = d.name, .policy = p->name };

			if (pd && pd->policy == policy) {
				mp.last_run = pd->last_run;
				mp.last_success = pd->last_success;
				mp.failures = pd->failures;
			}
			metrics_add_policy(&c->m, &mp);
		}
	}
	e = c->have_log ? export_log_find(&c->log, uuid, id) : NULL;
	if (e) {
		struct metrics_export me = {
			.pool = pool, .disk = d.name, .last = e->last, .last_ok = e->ok,
			.last_success = e->last_success, .failures = e->failures,
		};

		metrics_add_export(&c->m, &me);
	}
}

/* A pool whose messages fail: is it in fail mode (its status says "Fail")? */
static bool pool_failed(const char *pool)
{
	char *type = NULL, *params = NULL;
	bool failed;

	if (dmctl_status(pool, &type, &params))
		return false;
	failed = params && !strncmp(params, DM_ROW_POOL_STATUS_FAIL, strlen(DM_ROW_POOL_STATUS_FAIL));
	free(type);
	free(params);
	return failed;
}

static int collect_pool(void *arg, const struct pool_config_file *cfg)
{
	struct collect *c = arg;
	struct metrics_pool mp = { .name = cfg->name };
	struct dm_device_info dev;
	struct record_list disks;
	struct pool_space ps;
	struct record info;
	const char *uuid;
	unsigned int i;
	int r;

	if (dmctl_info(cfg->name, &dev) || !dev.exists) {
		metrics_add_pool(&c->m, &mp);
		return 0;
	}
	r = pool_info(cfg->name, &info);
	if (r) {
		if (pool_failed(cfg->name)) {
			mp.active = true;
			mp.mode = "fail";
		} else {
			warn(c, "pool %s: cannot read it: %s", cfg->name, strerror(-r));
		}
		metrics_add_pool(&c->m, &mp);
		return 0;
	}
	pool_space_of(&info, &ps);
	mp.active = true;
	mp.mode = record_get(&info, "mode");
	mp.needs_check = record_u64(&info, "needs_check");
	mp.have_space = true;
	mp.data_bytes = ps.data_bytes;
	mp.data_used_bytes = ps.data_used_bytes;
	mp.metadata_bytes = ps.metadata_bytes;
	mp.metadata_used_bytes = ps.metadata_used_bytes;
	metrics_add_pool(&c->m, &mp);

	uuid = record_get(&info, "uuid") ? record_get(&info, "uuid") : "";
	r = poolctl_list_disks(cfg->name, &disks);
	if (r) {
		warn(c, "pool %s: cannot list its disks: %s", cfg->name, strerror(-r));
	} else {
		for (i = 0; i < disks.nr; i++)
			collect_disk(c, cfg->name, uuid, &ps, &disks.records[i]);
		record_list_free(&disks);
	}
	record_free(&info);
	return 0;
}

int snapctl_metrics_text(char *const *pools, int nr_pools, char **text, size_t *len,
			 unsigned int *errors)
{
	struct pool_config_file cfg;
	struct collect c = { 0 };
	char err[256], path[PATH_MAX];
	int i, r;

	metrics_init(&c.m);
	r = policy_store_load(&c.store, err, sizeof(err));
	if (r)
		warn(&c, "no policy figures: cannot read the policy store %s: %s",
		     policy_store_path(path, sizeof(path)), r == -EILSEQ ? err : strerror(-r));
	c.have_store = !r;
	r = export_log_load(&c.log);
	if (r)
		warn(&c, "no export figures: cannot read the export log %s: %s",
		     export_log_path(path, sizeof(path)), r == -EILSEQ ? "it is damaged" : strerror(-r));
	c.have_log = !r;

	if (!nr_pools) {
		r = config_for_each(collect_pool, &c);
		if (r)
			warn(&c, "cannot read the pool definitions in %s: %s", config_dir(), strerror(-r));
	}
	for (i = 0; i < nr_pools; i++) {
		r = config_load(pools[i], &cfg);
		if (r)
			warn(&c, "no pool '%s': %s", pools[i], strerror(-r));
		else
			collect_pool(&c, &cfg);
	}
	r = metrics_render(&c.m, text, len);
	metrics_free(&c.m);
	if (c.have_store)
		policy_store_free(&c.store);
	if (c.have_log)
		export_log_free(&c.log);
	*errors = c.errors;
	return r;
}

int snapctl_metrics_write(const char *path, char *const *pools, int nr_pools,
			  unsigned int *errors)
{
	size_t len;
	char *text;
	int r;

	r = snapctl_metrics_text(pools, nr_pools, &text, &len, errors);
	if (r)
		return r;
	r = write_file_atomic(path, text, len, 0644);
	free(text);
	return r;
}

static int cmd_metrics(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_metrics_cmds[0];
	struct pool_config_file cfg;
	const char *output = NULL;
	unsigned int errors = 0;
	int c, ind, i, r;
	size_t len;
	char *text;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c != 'o')
			return EXIT_USAGE;
		output = optarg;
	}
	for (i = ind; i < argc; i++) {
		if (!config_name_valid(argv[i]))
			return snapctl_usage_error(cmd, "'%s' is not a valid pool name", argv[i]);
		if (config_load(argv[i], &cfg))
			return fail_with(EXIT_NOT_FOUND, "no pool '%s' (see 'snapctl pool list')", argv[i]);
	}
	if (output) {
		r = snapctl_metrics_write(output, argv + ind, argc - ind, &errors);
		if (r)
			return fail_with(EXIT_FAILURE_GENERIC, "cannot write %s: %s", output,
					 strerror(-r));
	} else {
		r = snapctl_metrics_text(argv + ind, argc - ind, &text, &len, &errors);
		if (r)
			return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
		fwrite(text, 1, len, stdout);
		free(text);
		if (fflush(stdout))
			return fail_with(EXIT_FAILURE_GENERIC, "cannot write the metrics: %s",
					 strerror(errno));
	}
	(void)ctx;
	return errors ? EXIT_FAILURE_GENERIC : EXIT_OK;
}
