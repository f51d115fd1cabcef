// SPDX-License-Identifier: GPL-2.0
/*
 * Offline commands: read a pool's metadata straight from its metadata
 * device (or an image of it) with the same metadata core the module runs.
 *
 *   snapctl check  <metadata device|image>
 *   snapctl dump   <metadata device|image>
 *   snapctl repair <metadata device|image>
 *
 * check and dump only read; on a pool that is active, they see its last
 * commit.  repair writes, and refuses a device an active pool holds.
 * This file is compiled with the core's headers (see userspace/Makefile.inc).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dm-row-check.h"
#include "dm-row-metadata.h"
#include "block-cache.h"
#include "json.h"
#include "table.h"
#include "snapctl.h"

#define CACHE_BLOCKS 4096

static int cmd_check(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_dump(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_repair(struct snapctl_ctx *ctx, int argc, char **argv);

const struct snapctl_cmd snapctl_offline_cmds[] = {
	{
		.verb = "check",
		.usage = "<metadata device|image> [--json]",
		.help = "Check a pool's metadata offline: every checksum, tree, chain link and\n"
			"reference count.  Exit status 0: clean; 7: problems found (each is\n"
			"listed); 3: no such device or image; 1: the device could not be read\n"
			"as a pool.",
		.flags = CMD_JSON,
		.run = cmd_check,
	},
	{
		.verb = "dump",
		.usage = "<metadata device|image> [--json]",
		.help = "Print a pool's metadata offline: superblock, space, disks, snapshots.",
		.flags = CMD_JSON,
		.run = cmd_dump,
	},
	{
		.verb = "repair",
		.usage = "<metadata device|image> [--json]",
		.help = "Repair a pool's metadata offline, with its devices removed: set every\n"
			"wrong reference count (leaked blocks, counts too high or too low) to\n"
			"the references found, clear the needs_check flag, and check again.\n"
			"Damaged blocks, trees or chains are not repaired: then nothing is\n"
			"changed.  Exit status 0: clean (repaired, or nothing to repair);\n"
			"7: problems a repair cannot fix (each is listed); 4: the device is\n"
			"in use; 3: no such device; 1: the repair failed.",
		.flags = CMD_JSON,
		.run = cmd_repair,
	},
	{ 0 }
};

struct offline {
	struct dmrow_bm *bm;
	struct dmrow_metadata *md;
};

static int offline_open(const struct snapctl_cmd *cmd, const char *path,
			bool writable, struct offline *off)
{
	int error = 0, r;

	off->bm = dmrow_bm_open_path(path, CACHE_BLOCKS, !writable, &error);
	if (!off->bm) {
		if (error == -EBUSY) {
			fprintf(stderr, "snapctl: %s is in use (by an active pool?): remove the pool's devices first\n",
				path);
			return EXIT_BUSY;
		}
		fprintf(stderr, "snapctl: cannot open %s: %s\n", path, strerror(-error));
		return error == -ENOENT ? EXIT_NOT_FOUND : EXIT_FAILURE_GENERIC;
	}
	r = dmrow_md_open(off->bm, !writable, &off->md);
	if (r) {
		dmrow_bm_destroy(off->bm);
		if (r == -ENODATA)
			fprintf(stderr, "snapctl: %s holds no pool (it is all zeroes)\n", path);
		else if (r == -EOPNOTSUPP)
			fprintf(stderr, "snapctl: %s holds a pool format this snapctl does not know; upgrade snapctl\n",
				path);
		else
			fprintf(stderr, "snapctl: %s holds no readable pool: %s (no valid superblock)\n",
				path, strerror(-r));
		return r == -EILSEQ ? EXIT_CORRUPT : EXIT_FAILURE_GENERIC;
	}
	(void)cmd;
	return 0;
}

static void offline_close(struct offline *off)
{
	dmrow_md_close(off->md);
	dmrow_bm_destroy(off->bm);
}

static const char *one_path(const struct snapctl_cmd *cmd, int argc, char **argv, int *err)
{
	int i;

	for (i = 0; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1]) {
			*err = snapctl_usage_error(cmd, "unknown option '%s'", argv[i]);
			return NULL;
		}
	}
	if (argc < 1) {
		*err = snapctl_usage_error(cmd, "missing the metadata device or image");
		return NULL;
	}
	if (argc > 1) {
		*err = snapctl_usage_error(cmd, "unexpected argument '%s'", argv[1]);
		return NULL;
	}
	return argv[0];
}

/*----------------------------------------------------------------*/

struct problems {
	struct json *j;
	bool json;
};

static void report_problem(void *context, const char *message)
{
	struct problems *p = context;

	if (p->json)
		json_string(p->j, NULL, message);
	else
		printf("problem: %s\n", message);
}

static int cmd_check(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_offline_cmds[0];
	struct dmrow_check_result result;
	struct problems p = { .json = ctx->json };
	struct offline off;
	const char *path;
	struct json j;
	int err = 0, r;

	path = one_path(cmd, argc, argv, &err);
	if (!path)
		return err;
	r = offline_open(cmd, path, false, &off);
	if (r)
		return r;

	if (ctx->json) {
		json_init(&j, stdout);
		p.j = &j;
		json_begin_object(&j, NULL);
		json_string(&j, "device", path);
		json_begin_array(&j, "problems");
	}
	r = dmrow_md_check(off.md, &result, report_problem, &p);
	if (ctx->json) {
		json_end_array(&j);
		json_bool(&j, "complete", !r);
		json_bool(&j, "clean", !r && !result.nr_problems);
		json_u64(&j, "disks", result.nr_disks);
		json_u64(&j, "snapshots", result.nr_snapshots);
		json_u64(&j, "mapping_nodes", result.nr_mapping_nodes);
		json_u64(&j, "mappings", result.nr_mappings);
		json_u64(&j, "metadata_used", result.metadata_used);
		json_u64(&j, "data_used", result.data_used);
		json_bool(&j, "needs_check_flag", result.needs_check_flag);
		json_end_object(&j);
		json_finish(&j);
	} else if (r) {
		fprintf(stderr, "snapctl: check of %s stopped: %s\n", path, strerror(-r));
	} else {
		printf("%s: %" PRIu64 " disks, %" PRIu64 " snapshots, %" PRIu64
		       " mapping nodes, %" PRIu64 " metadata and %" PRIu64 " data blocks in use\n",
		       path, (uint64_t)result.nr_disks, (uint64_t)result.nr_snapshots,
		       (uint64_t)result.nr_mapping_nodes, (uint64_t)result.metadata_used,
		       (uint64_t)result.data_used);
		if (result.needs_check_flag)
			printf("%s: the pool was marked as needing a check\n", path);
		if (result.nr_problems)
			printf("%s: %" PRIu64 " problems found\n", path, (uint64_t)result.nr_problems);
		else
			printf("%s: clean\n", path);
	}
	offline_close(&off);
	if (r)
		return r == -EILSEQ ? EXIT_CORRUPT : EXIT_FAILURE_GENERIC;
	return result.nr_problems ? EXIT_CORRUPT : EXIT_OK;
}

/*----------------------------------------------------------------*/

static const char *time_string(uint64_t seconds, char *buf, size_t len)
{
	time_t t = (time_t)seconds;
	struct tm tm;

	if (!seconds || !gmtime_r(&t, &tm)) {
		snprintf(buf, len, "-");
		return buf;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static void uuid_string(const u8 *uuid, char *buf)
{
	static const int dash_after[] = { 3, 5, 7, 9 };
	unsigned int i, d = 0;
	char *p = buf;

	for (i = 0; i < 16; i++) {
		p += sprintf(p, "%02x", uuid[i]);
		if (d < 4 && (int)i == dash_after[d]) {
			*p++ = '-';
			d++;
		}
	}
	*p = '\0';
}

static void dump_json(struct offline *off, const struct dmrow_pool_info *pool)
{
	struct dmrow_snapshot_info snap;
	struct dmrow_disk_info disk;
	struct json j;
	char uuid[40];
	u64 id, blocks;

	uuid_string(pool->uuid, uuid);
	json_init(&j, stdout);
	json_begin_object(&j, NULL);
	json_begin_object(&j, "pool");
	json_string(&j, "uuid", uuid);
	json_u64(&j, "transaction", pool->transaction_id);
	json_u64(&j, "block_sectors", pool->data_block_sectors);
	json_u64(&j, "metadata_blocks", pool->metadata_blocks);
	json_u64(&j, "metadata_used", pool->metadata_used);
	json_u64(&j, "data_blocks", pool->data_blocks);
	json_u64(&j, "data_used", pool->data_used);
	json_u64(&j, "time", pool->time);
	json_u64(&j, "manual_quota", pool->manual_quota);
	json_u64(&j, "auto_quota", pool->auto_quota);
	json_bool(&j, "needs_check", pool->needs_check);
	json_end_object(&j);

	json_begin_array(&j, "disks");
	for (id = 0; !dmrow_md_next_disk(off->md, id, &disk); id = disk.id + 1) {
		json_begin_object(&j, NULL);
		json_u64(&j, "id", disk.id);
		json_string(&j, "name", disk.name);
		json_u64(&j, "size_blocks", disk.size_blocks);
		json_u64(&j, "created", disk.created);
		json_bool(&j, "removed", disk.flags & DMROW_DISK_REMOVED);
		json_bool(&j, "delete_auto_snapshots", disk.flags & DMROW_DISK_DELETE_AUTO_SNAPS);
		json_u64(&j, "origin_snapshot", disk.origin_snapshot);
		json_u64(&j, "manual_snapshots", disk.nr_manual);
		json_u64(&j, "auto_snapshots", disk.nr_auto);
		json_u64(&j, "policy", disk.policy_id);
		if (!dmrow_md_chain_capacity(off->md, disk.id, &blocks))
			json_u64(&j, "chain_blocks", blocks);
		json_end_object(&j);
		if (disk.id == ~0ULL)
			break;
	}
	json_end_array(&j);

	json_begin_array(&j, "snapshots");
	for (id = 0; !dmrow_md_next_snapshot(off->md, id, &snap); id = snap.id + 1) {
		json_begin_object(&j, NULL);
		json_u64(&j, "id", snap.id);
		json_u64(&j, "disk", snap.disk_id);
		json_string(&j, "name", snap.name);
		json_u64(&j, "created", snap.created);
		json_string(&j, "kind", snap.flags & DMROW_SNAP_AUTO ? "auto" : "manual");
		json_string(&j, "consistency",
			    snap.flags & DMROW_SNAP_APP_CONSISTENT ? "app" : "crash");
		json_u64(&j, "prev", snap.prev);
		json_u64(&j, "next", snap.next);
		json_u64(&j, "size_blocks", snap.size_blocks);
		json_u64(&j, "retention_until", snap.retention_until);
		json_u64(&j, "group", snap.group_id);
		if (!dmrow_md_snapshot_delta(off->md, snap.id, &blocks))
			json_u64(&j, "delta_blocks", blocks);
		if (!dmrow_md_snapshot_exclusive(off->md, snap.id, &blocks))
			json_u64(&j, "exclusive_blocks", blocks);
		json_end_object(&j);
		if (snap.id == ~0ULL)
			break;
	}
	json_end_array(&j);
	json_end_object(&j);
	json_finish(&j);
}

static void dump_human(struct offline *off, const struct dmrow_pool_info *pool)
{
	static const char *const disk_headers[] = {
		"ID>", "NAME", "SIZE>", "SNAPSHOTS>", "CHAIN>", "STATE"
	};
	static const char *const snap_headers[] = {
		"ID>", "DISK>", "NAME", "CREATED", "KIND", "DELTA>", "EXCLUSIVE>"
	};
	unsigned long long bytes_per_block = (unsigned long long)pool->data_block_sectors << 9;
	struct dmrow_snapshot_info snap;
	struct dmrow_disk_info disk;
	char uuid[40], a[32], b[32], c[32];
	struct table t;
	u64 id, chain, delta, exclusive;

	uuid_string(pool->uuid, uuid);
	printf("pool %s\n", uuid);
	printf("  transaction   %llu\n", (unsigned long long)pool->transaction_id);
	printf("  block size    %s\n", human_bytes(bytes_per_block, a, sizeof(a)));
	printf("  data          %llu of %llu blocks used\n",
	       (unsigned long long)pool->data_used, (unsigned long long)pool->data_blocks);
	printf("  metadata      %llu of %llu blocks used\n",
	       (unsigned long long)pool->metadata_used, (unsigned long long)pool->metadata_blocks);
	printf("  quotas        %u manual, %u automatic per disk\n", pool->manual_quota,
	       pool->auto_quota);
	if (pool->needs_check)
		printf("  needs check\n");
	printf("\n");

	table_init(&t, 6, disk_headers);
	for (id = 0; !dmrow_md_next_disk(off->md, id, &disk); id = disk.id + 1) {
		if (dmrow_md_chain_capacity(off->md, disk.id, &chain))
			chain = 0;
		table_add_row(&t, "%llu\t%s\t%s\t%u\t%s\t%s", (unsigned long long)disk.id,
			      disk.name[0] ? disk.name : "-",
			      human_bytes(disk.size_blocks * bytes_per_block, a, sizeof(a)),
			      disk.nr_manual + disk.nr_auto,
			      human_bytes(chain * bytes_per_block, b, sizeof(b)),
			      disk.flags & DMROW_DISK_REMOVED ? "removed" : "live");
		if (disk.id == ~0ULL)
			break;
	}
	table_print(&t, stdout);
	table_free(&t);
	printf("\n");

	table_init(&t, 7, snap_headers);
	for (id = 0; !dmrow_md_next_snapshot(off->md, id, &snap); id = snap.id + 1) {
		if (dmrow_md_snapshot_delta(off->md, snap.id, &delta))
			delta = 0;
		if (dmrow_md_snapshot_exclusive(off->md, snap.id, &exclusive))
			exclusive = 0;
		table_add_row(&t, "%llu\t%llu\t%s\t%s\t%s\t%s\t%s", (unsigned long long)snap.id,
			      (unsigned long long)snap.disk_id, snap.name[0] ? snap.name : "-",
			      time_string(snap.created, c, sizeof(c)),
			      snap.flags & DMROW_SNAP_AUTO ? "auto" : "manual",
			      human_bytes(delta * bytes_per_block, a, sizeof(a)),
			      human_bytes(exclusive * bytes_per_block, b, sizeof(b)));
		if (snap.id == ~0ULL)
			break;
	}
	table_print(&t, stdout);
	table_free(&t);
}

static int cmd_dump(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_offline_cmds[1];
	struct dmrow_pool_info pool;
	struct offline off;
	const char *path;
	int err = 0, r;

	path = one_path(cmd, argc, argv, &err);
	if (!path)
		return err;
	r = offline_open(cmd, path, false, &off);
	if (r)
		return r;
	r = dmrow_md_pool_info(off.md, &pool);
	if (r) {
		fprintf(stderr, "snapctl: cannot read pool information: %s\n", strerror(-r));
		offline_close(&off);
		return EXIT_CORRUPT;
	}
	if (ctx->json)
		dump_json(&off, &pool);
	else
		dump_human(&off, &pool);
	offline_close(&off);
	return EXIT_OK;
}

/*----------------------------------------------------------------*/

static void json_check_result(struct json *j, const char *key,
			      const struct dmrow_check_result *result)
{
	json_begin_object(j, key);
	json_u64(j, "problems", result->nr_problems);
	json_u64(j, "repairable", result->nr_repairable);
	json_bool(j, "needs_check_flag", result->needs_check_flag);
	json_u64(j, "metadata_used", result->metadata_used);
	json_u64(j, "data_used", result->data_used);
	json_end_object(j);
}

static int cmd_repair(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_offline_cmds[2];
	struct dmrow_check_result found, after;
	struct problems p = { .json = ctx->json };
	struct offline off;
	const char *path;
	struct json j;
	int err = 0, r, status;

	path = one_path(cmd, argc, argv, &err);
	if (!path)
		return err;
	r = offline_open(cmd, path, true, &off);
	if (r)
		return r;

	if (ctx->json) {
		json_init(&j, stdout);
		p.j = &j;
		json_begin_object(&j, NULL);
		json_string(&j, "device", path);
		json_begin_array(&j, "problems");
	}
	r = dmrow_md_repair(off.md, &found, &after, report_problem, &p);
	if (r && r != -EUCLEAN && dmrow_md_dirty(off.md))
		dmrow_md_abort(off.md);

	if (!r)
		status = after.nr_problems ? EXIT_FAILURE_GENERIC : EXIT_OK;
	else if (r == -EUCLEAN)
		status = EXIT_CORRUPT;
	else
		status = EXIT_FAILURE_GENERIC;

	if (ctx->json) {
		json_end_array(&j);
		json_bool(&j, "repaired", !r && (found.nr_problems || found.needs_check_flag) &&
			  !after.nr_problems);
		json_bool(&j, "clean", !r && !after.nr_problems);
		json_check_result(&j, "found", &found);
		if (!r)
			json_check_result(&j, "after", &after);
		json_end_object(&j);
		json_finish(&j);
	} else if (r == -EUCLEAN) {
		printf("%s: %" PRIu64 " problems found, %" PRIu64
		       " of them not wrong reference counts: nothing was changed\n",
		       path, (uint64_t)found.nr_problems,
		       (uint64_t)(found.nr_problems - found.nr_repairable));
		fprintf(stderr, "snapctl: %s cannot be repaired: activate it with the read_only feature, copy its disks and snapshots out, and make a new pool\n",
			path);
	} else if (r) {
		fprintf(stderr, "snapctl: repair of %s failed: %s; nothing was changed\n", path,
			strerror(-r));
	} else if (after.nr_problems) {
		fprintf(stderr, "snapctl: repair of %s left %" PRIu64 " problems\n", path,
			(uint64_t)after.nr_problems);
	} else if (!found.nr_problems && !found.needs_check_flag) {
		printf("%s: clean, nothing to repair\n", path);
	} else {
		if (found.nr_problems)
			printf("%s: %" PRIu64 " wrong reference counts repaired\n", path,
			       (uint64_t)found.nr_problems);
		if (found.needs_check_flag)
			printf("%s: needs_check cleared\n", path);
		printf("%s: clean: %" PRIu64 " metadata and %" PRIu64 " data blocks in use\n",
		       path, (uint64_t)after.metadata_used, (uint64_t)after.data_used);
	}
	offline_close(&off);
	return status;
}
