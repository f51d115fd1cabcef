// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by snapctl's command files; see common.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "dmctl.h"
#include "origin.h"
#include "policy.h"

void listing_begin(struct listing *l, bool json, unsigned int nr_columns,
		   const char *const *headers)
{
	l->json = json;
	if (json) {
		json_init(&l->j, stdout);
		json_begin_array(&l->j, NULL);
	} else {
		table_init(&l->t, nr_columns, headers);
	}
}

void listing_end(struct listing *l)
{
	if (l->json) {
		json_end_array(&l->j);
		json_finish(&l->j);
	} else {
		table_print(&l->t, stdout);
		table_free(&l->t);
	}
}

int exit_for_errno(int r)
{
	switch (-r) {
	case 0:
		return EXIT_OK;
	case ENOENT:
	case ENODATA:
	case ENODEV:
	case ENXIO:
		return EXIT_NOT_FOUND;
	case EBUSY:
		return EXIT_BUSY;
	case ENOSPC:
	case EDQUOT:
		return EXIT_NO_SPACE;
	case EILSEQ:
		return EXIT_CORRUPT;
	case EINVAL:
		return EXIT_USAGE;
	default:
		return EXIT_FAILURE_GENERIC;
	}
}

int fail_with(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "snapctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int message_failed(const char *what, int r)
{
	const char *hint = "";

	switch (-r) {
	case EDQUOT:
		hint = ": the disk has as many snapshots as its quota allows; delete some or raise the quota (snapctl pool quota)";
		break;
	case ENOSPC:
		hint = ": the pool is out of space; delete snapshots or grow the data device";
		break;
	case EBUSY:
		hint = ": a device involved is in use; unmount or close it first";
		break;
	case EROFS:
		hint = ": the pool is read-only; see 'snapctl pool status' and run 'snapctl check'";
		break;
	case EEXIST:
		hint = ": the name or id is taken";
		break;
	case ENODATA:
	case ENOENT:
		hint = ": no such disk or snapshot";
		break;
	case EIO:
		hint = ": the pool has failed; see the kernel log";
		break;
	}
	return fail_with(exit_for_errno(r), "%s failed: %s%s", what, strerror(-r), hint);
}

void cmd_getopt_tables(const struct snapctl_cmd *cmd, struct cmd_getopt *g)
{
	const struct option *o;
	unsigned int n = 0;
	char *s = g->shortopts;

	*s++ = OPT_HELP;
	for (o = cmd->options; o && o->name; o++) {
		/* A table too long is a bug the unit tests catch, not a runtime error. */
		if (n < MAX_CMD_OPTIONS)
			g->longopts[n++] = *o;
		if (o->val == OPT_YES)
			*s++ = OPT_YES;
	}
	*s = '\0';
	g->longopts[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	g->longopts[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	g->longopts[n] = (struct option){ 0 };
}

int next_option(const struct snapctl_cmd *cmd, int argc, char **argv, int *optind_out)
{
	static const struct snapctl_cmd *built;
	static struct cmd_getopt g;
	int c;

	if (built != cmd) {
		cmd_getopt_tables(cmd, &g);
		built = cmd;
	}
	/* getopt wants a program name in front. */
	opterr = 0;
	do
		c = getopt_long(argc + 1, argv - 1, g.shortopts, g.longopts, NULL);
	while (c == OPT_HELP || c == OPT_JSON);		/* main() took them */
	*optind_out = optind - 1;
	if (c == '?') {
		/* getopt moved past the offending word, unless inside "-abc". */
		const char *word = optind >= 2 && optind - 2 < argc ? argv[optind - 2] : "";

		if (!strncmp(word, "--", 2))
			snapctl_usage_error(cmd, !optopt ? "unknown option '%s'" :
					    strchr(word, '=') ? "option '%s' takes no value" :
					    "option '%s' needs a value", word);
		else
			snapctl_usage_error(cmd, "unknown option '-%c'", optopt ? optopt : '?');
	}
	return c;
}

int no_options(const struct snapctl_cmd *cmd, int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1])
			return snapctl_usage_error(cmd, "unknown option '%s'", argv[i]);
	return 0;
}

int open_pool(const char *name, struct pool_config_file *cfg)
{
	struct dm_device_info info;
	int r;

	if (!config_name_valid(name))
		return fail_with(EXIT_USAGE, "'%s' is not a valid pool name", name);
	r = config_load(name, cfg);
	if (r == -ENOENT)
		return fail_with(EXIT_NOT_FOUND, "no pool '%s' (see 'snapctl pool list')", name);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "cannot read the definition of pool '%s' in %s: %s",
				 name, config_dir(), strerror(-r));
	r = dmctl_info(name, &info);
	if (r || !info.exists)
		return fail_with(EXIT_NOT_FOUND, "pool '%s' is not active; run 'snapctl pool activate %s'",
				 name, name);
	return 0;
}

bool confirm(const char *question)
{
	char answer[16];

	if (!isatty(STDIN_FILENO))
		return false;
	fprintf(stderr, "%s [y/N] ", question);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}

uint64_t pool_block_bytes(const char *pool)
{
	struct record info;
	uint64_t bytes = 4096;

	if (!pool_info(pool, &info)) {
		bytes = record_u64(&info, "block_size") << 9;
		record_free(&info);
	}
	return bytes;
}

int activate_disk(const char *pool, const struct record *disk)
{
	char name[256], params[PATH_MAX + 128], uuid[128], origin[PATH_MAX];
	struct dm_device_info dev;
	struct record info;
	int r;

	disk_device_name(pool, disk, name, sizeof(name));
	if (!dmctl_info(name, &dev) && dev.exists)
		return 0;
	r = disk_origin_device(pool, disk, origin, sizeof(origin));
	if (r)
		return r;
	r = pool_info(pool, &info);
	if (r)
		return r;
	device_uuid(record_get(&info, "uuid"), "disk", record_u64(disk, "id"), uuid, sizeof(uuid));
	record_free(&info);
	r = disk_table_params(params, sizeof(params), pool, record_u64(disk, "id"), 0,
			      record_logical_block_size(disk), origin[0] ? origin : NULL);
	if (r)
		return r;
	return dmctl_create(name, uuid, record_u64(disk, "size"), "row", params, false);
}

bool device_in_use(const char *name)
{
	struct dm_device_info info;

	return !dmctl_info(name, &info) && info.exists && info.open_count > 0;
}

int create_snapshot_view(const char *pool, const struct record *disk, const struct record *snap,
			 const char *dev)
{
	char params[PATH_MAX + 128], uuid[128], origin[PATH_MAX];
	struct dm_device_info existing;
	struct record info;
	int r;

	/* libdevmapper does not report a taken name as such: look first. */
	if (!dmctl_info(dev, &existing) && existing.exists)
		return -EEXIST;
	r = disk_origin_device(pool, disk, origin, sizeof(origin));
	if (r)
		return r;
	r = pool_info(pool, &info);
	if (r)
		return r;
	device_uuid(record_get(&info, "uuid"), "snap", record_u64(snap, "id"), uuid, sizeof(uuid));
	record_free(&info);
	r = disk_table_params(params, sizeof(params), pool, record_u64(disk, "id"),
			      record_u64(snap, "id"), record_logical_block_size(disk),
			      origin[0] ? origin : NULL);
	if (r)
		return r;
	return dmctl_create(dev, uuid, record_u64(snap, "size"), "row", params, true);
}

int policy_store_failed(int r, const char *err)
{
	char path[512];

	policy_store_path(path, sizeof(path));
	if (r == -EILSEQ)
		return fail_with(EXIT_CORRUPT, "the policy store %s is damaged: %s; restore it from a backup, or move it aside and create the policies again",
				 path, err && *err ? err : "unreadable");
	return fail_with(exit_for_errno(r) == EXIT_USAGE ? EXIT_FAILURE_GENERIC : exit_for_errno(r),
			 "cannot use the policy store %s: %s", path, strerror(-r));
}
