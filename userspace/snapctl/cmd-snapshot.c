// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl snapshot ...: create (one disk or several at once, optionally
 * application-consistent), list, info, tag, delete, rollback, merge, view,
 * unview.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/dm-row.h>

#include "clock.h"
#include "common.h"
#include "disklock.h"
#include "dmctl.h"
#include "freeze.h"
#include "json.h"
#include "origin.h"
#include "policy.h"
#include "quiesce.h"
#include "statefile.h"
#include "table.h"
#include "tagging.h"

static int cmd_snap_create(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_snap_list(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_snap_info(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_snap_delete(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_snap_rollback(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_snap_merge(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_snap_view(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_snap_unview(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_snap_tag(struct snapctl_ctx *ctx, int argc, char **argv);

enum { SNAP_CREATE, SNAP_LIST, SNAP_INFO, SNAP_DELETE, SNAP_ROLLBACK, SNAP_MERGE, SNAP_VIEW,
       SNAP_UNVIEW, SNAP_TAG };

static const struct option create_options[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "freeze", no_argument, NULL, 'f' },
	{ "freeze-timeout", required_argument, NULL, 'F' },
	{ "guest-agent", required_argument, NULL, 'g' },
	{ "pre-hook", required_argument, NULL, 'p' },
	{ "post-hook", required_argument, NULL, 'P' },
	{ "hook-timeout", required_argument, NULL, 'H' },
	{ "retention-days", required_argument, NULL, 'r' },
	{ "wait", required_argument, NULL, 'w' },
	TAG_LONG_OPTIONS,
	{ 0 }
};

static const struct option list_options[] = {
	{ "tag", required_argument, NULL, OPT_TAG },
	{ 0 }
};

static const struct option yes_options[] = {
	YES_OPTION,
	{ 0 }
};

static const struct option rollback_options[] = {
	YES_OPTION,
	{ "shrink", no_argument, NULL, 's' },
	{ "force", no_argument, NULL, 'f' },
	{ 0 }
};

const struct snapctl_cmd snapctl_snapshot_cmds[] = {
	[SNAP_CREATE] = {
		.noun = "snapshot", .verb = "create",
		.usage = "<pool> <disk>... [--name <name>[,<name>...]] [--freeze]\n"
			 "                 [--guest-agent <socket>[,<socket>...]] [--freeze-timeout <s>]\n"
			 "                 [--pre-hook <cmd>] [--post-hook <cmd>] [--hook-timeout <s>]\n"
			 "                 [--retention-days <n>|forever] [--wait <s>] [--description <text>]\n"
			 "                 [--tag <key>=<value>]... [--json]",
		.help = "Snapshot one disk, or several disks of the pool at one point in time\n"
			"(an instance snapshot).  The snapshot holds every write acknowledged\n"
			"before it and none after (crash-consistent).  With --freeze or\n"
			"--guest-agent it is application-consistent: what is frozen is thawed\n"
			"after it, also on error, timeout or a signal, and even if snapctl is\n"
			"killed (a guardian process does it); it is recorded as such only if\n"
			"every freeze held when it was taken.\n\n"
			"  --name              one name per disk, unique within the disk\n"
			"                      [snap_<yyyyMMdd>_<HHmmss>]\n"
			"  --freeze            freeze the filesystems mounted on the disks while\n"
			"                      the snapshot is taken (application-consistent);\n"
			"                      one that cannot be frozen cancels the snapshot\n"
			"  --guest-agent       freeze the filesystems of the virtual machines\n"
			"                      using the disks through their QEMU guest agents'\n"
			"                      unix sockets (one per machine); an agent that\n"
			"                      does not freeze makes the snapshot crash-consistent,\n"
			"                      with a warning\n"
			"  --freeze-timeout    longest freeze, seconds [10]; past it everything is\n"
			"                      thawed and the snapshot is crash-consistent\n"
			"  --pre-hook, --post-hook\n"
			"                      commands run before freezing and after thawing;\n"
			"                      a failing pre-hook cancels the snapshot\n"
			"  --hook-timeout      longest a hook may run, seconds [30]\n"
			"  --retention-days    keep it this many days (1..65536), then 'snapctl\n"
			"                      daemon' deletes it; or 'forever' (or 0) [forever]\n"
			"  --wait              how long to wait for an automatic snapshot of the\n"
			"                      same disk to finish, seconds [60]; 0: fail at once\n"
			"  --description       what the snapshot is for (at most 256 bytes)\n"
			"  --tag               a tag, key=value; repeat for more (at most 20)",
		.options = create_options,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_snap_create,
	},
	[SNAP_LIST] = {
		.noun = "snapshot", .verb = "list",
		.usage = "<pool> [<disk>] [--tag <key>[=<value>]]... [--json]",
		.help = "List snapshots, oldest first per disk, with the space each holds: its\n"
			"delta (blocks changed since the one before) and its exclusive space\n"
			"(what deleting it would free), and their tags and descriptions.\n"
			"With --tag only those with every tag given (a key alone: any value).",
		.options = list_options,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_snap_list,
	},
	[SNAP_INFO] = {
		.noun = "snapshot", .verb = "info",
		.usage = "<pool> <snapshot> [--json]",
		.help = "Show one snapshot.\n\n" SNAPSHOT_HELP,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_snap_info,
	},
	[SNAP_DELETE] = {
		.noun = "snapshot", .verb = "delete",
		.usage = "<pool> <snapshot>... [--yes]",
		.help = "Delete snapshots.  Blocks a later snapshot still needs are kept for it;\n"
			"the rest is freed.  A deleted snapshot cannot be brought back: asks\n"
			"for confirmation, or --yes.\n\n" SNAPSHOT_HELP,
		.options = yes_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_snap_delete,
	},
	[SNAP_ROLLBACK] = {
		.noun = "snapshot", .verb = "rollback",
		.usage = "<pool> <disk> <snapshot> [--shrink] [--yes] [--force]",
		.help = "Make a disk's content a snapshot's.  Data written after the snapshot\n"
			"is lost (later snapshots are kept): asks for confirmation, or --yes.\n"
			"A disk in use (mounted, open) is refused unless --force.\n"
			"A disk grown since the snapshot keeps its size (past the snapshot's\n"
			"size it reads zeroes; grow the filesystem again); --shrink gives it\n"
			"the snapshot's size instead.\n\n"
			"The <snapshot> is one of the disk's, by its id or its name.",
		.options = rollback_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_snap_rollback,
	},
	[SNAP_MERGE] = {
		.noun = "snapshot", .verb = "merge",
		.usage = "<pool> <first snapshot> <last snapshot> [--yes]",
		.help = "Collapse consecutive snapshots of one disk into the newest of them.\n"
			"The ones before it are gone: asks for confirmation, or --yes.\n\n"
			SNAPSHOT_HELP,
		.options = yes_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_snap_merge,
	},
	[SNAP_VIEW] = {
		.noun = "snapshot", .verb = "view",
		.usage = "<pool> <snapshot>",
		.help = "Make a read-only device of a snapshot: /dev/mapper/<pool>-<disk>@<snapshot>.\n\n"
			SNAPSHOT_HELP,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_snap_view,
	},
	[SNAP_UNVIEW] = {
		.noun = "snapshot", .verb = "unview",
		.usage = "<pool> <snapshot>",
		.help = "Remove a snapshot's read-only device.\n\n" SNAPSHOT_HELP,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_snap_unview,
	},
	[SNAP_TAG] = {
		.noun = "snapshot", .verb = "tag",
		.usage = "<pool> <snapshot> [<key>=<value>]... [--tag <key>=<value>]...\n"
			 "                 [--untag <key>]... [--description <text>]",
		.help = "Set or remove a snapshot's tags, or change its description (\"\" clears\n"
			"it).  Tags not named are kept; a key given again gets the new value.\n"
			"Everything is checked first: on any error nothing is changed.\n\n"
			SNAPSHOT_HELP,
		.options = tag_edit_options,
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_snap_tag,
	},
	{ 0 }
};

/*----------------------------------------------------------------
 * snapshot create: application consistency is quiesce.h's
 *--------------------------------------------------------------*/

/* The mounts of the filesystem on @major:@minor, once each. */
static int add_mounts_of(struct freeze_set *fz, unsigned int major, unsigned int minor)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int r;

	if (!f)
		return -errno;
	r = freeze_add_mounts(fz, f, makedev(major, minor), freeze_open_mount);
	fclose(f);
	return r;
}

/*----------------------------------------------------------------*/

int snapctl_find_snapshot(const char *pool, const char *spec, struct record *rec)
{
	const char *slash = strchr(spec, '/');
	struct record disk;
	uint64_t disk_id = 0;
	char diskname[128];
	int r;

	if (slash) {
		snprintf(diskname, sizeof(diskname), "%.*s", (int)(slash - spec), spec);
		r = pool_find_disk(pool, diskname, &disk);
		if (r)
			return fail_with(EXIT_NOT_FOUND, "pool '%s' has no disk '%s'", pool, diskname);
		disk_id = record_u64(&disk, "id");
		record_free(&disk);
		spec = slash + 1;
	}
	r = pool_find_snapshot(pool, disk_id, spec, rec);
	if (r == -ENOENT && slash)
		return fail_with(EXIT_NOT_FOUND, "disk '%s' of pool '%s' has no snapshot '%s' (see 'snapctl snapshot list %s %s')",
				 diskname, pool, spec, pool, diskname);
	if (r == -ENOENT)
		return fail_with(EXIT_NOT_FOUND, "pool '%s' has no snapshot '%s' (see 'snapctl snapshot list %s')",
				 pool, spec, pool);
	if (r == -EEXIST)
		return fail_with(EXIT_USAGE, "several disks have a snapshot named '%s'; say <disk>/%s or use its id",
				 spec, spec);
	if (r)
		return message_failed("looking up the snapshot", r);
	return 0;
}

static int split_names(char *list, char **names, unsigned int max)
{
	unsigned int n = 0;
	char *name;

	while ((name = strsep(&list, ",")))
		if (n < max)
			names[n++] = name;
		else
			return -1;
	return n;
}

#define MAX_DISKS DM_ROW_MAX_SNAPSHOT_DISKS

struct lock_wait {
	const char *disk;
	unsigned int seconds;
};

static void say_waiting(const char *holder, void *arg)
{
	const struct lock_wait *w = arg;

	fprintf(stderr, "snapctl: disk %s is busy (%s); waiting up to %u s\n", w->disk, holder,
		w->seconds);
}

static void unlock_disks(struct disk_lock *locks, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		disk_lock_release(&locks[i]);
}

/*
 * The snapshot lock of every disk (disklock.h), shared with the automatic
 * snapshots of 'snapctl daemon'; taken in the order of the disk ids, so that
 * two instance snapshots never wait for each other.
 */
static int lock_disks(const char *pool, const struct record *disks, unsigned int nr,
		      struct disk_lock *locks, unsigned int wait)
{
	unsigned int order[MAX_DISKS], i, k;
	char holder[256], what[128];
	int r;

	for (i = 0; i < nr; i++) {
		locks[i].fd = -1;
		order[i] = i;
	}
	for (i = 1; i < nr; i++)
		for (k = i; k > 0 && record_u64(&disks[order[k - 1]], "id") >
				     record_u64(&disks[order[k]], "id"); k--) {
			unsigned int t = order[k];

			order[k] = order[k - 1];
			order[k - 1] = t;
		}
	for (i = 0; i < nr; i++) {
		const struct record *d = &disks[order[i]];
		struct lock_wait w = { .disk = record_get(d, "name"), .seconds = wait };

		snprintf(what, sizeof(what), "manual snapshot of %s", record_get(d, "name"));
		r = disk_lock_take(&locks[order[i]], pool, record_u64(d, "id"), what, wait * 1000,
				   holder, sizeof(holder), say_waiting, &w);
		if (!r)
			continue;
		unlock_disks(locks, nr);
		if (r == -EBUSY)
			return fail_with(EXIT_BUSY, "disk %s is busy with another snapshot operation (%s)%s; try again when it is done%s",
					 record_get(d, "name"), holder, wait ? " after waiting" : "",
					 wait ? ", or wait longer with --wait" : "");
		return fail_with(EXIT_FAILURE_GENERIC, "cannot take the snapshot lock of disk %s (%s): %s",
				 record_get(d, "name"), run_dir(), strerror(-r));
	}
	return 0;
}

/* What 'snapshot create' is asked to do, from its command line. */
struct snap_create {
	const char *pool;
	char **disk_args;		/* the disks as given */
	unsigned int nr_disks;
	char *names[MAX_DISKS];		/* --name, one per disk */
	unsigned int nr_names;		/* 0: the default name */
	char *agent_list;		/* --guest-agent */
	bool freeze;
	unsigned int freeze_timeout, hook_timeout, wait;	/* seconds */
	uint32_t retention_days;
	const char *pre_hook, *post_hook;
	struct tag_set labels;		/* --tag and --description, for each snapshot */
};

/* A number of seconds for @c, 0..3600, into @value. */
static int seconds_option(const struct snapctl_cmd *cmd, int c, const char *arg,
			  unsigned int *value)
{
	unsigned long v;
	char *end;

	v = strtoul(arg, &end, 10);
	if (*end || !*arg || *arg == '-' || v > 3600UL)
		return snapctl_usage_error(cmd, "--%s takes a number of seconds (0..3600), not '%s'",
					   c == 'F' ? "freeze-timeout" :
					   c == 'H' ? "hook-timeout" : "wait", arg);
	*value = (unsigned int)v;
	return 0;
}

static int snap_create_option(const struct snapctl_cmd *cmd, int c, char *arg,
			      struct snap_create *o, struct tag_edit *tagging)
{
	int r;

	switch (c) {
	case OPT_TAG:
	case OPT_DESCRIPTION:
		return tag_option(cmd, c, arg, tagging);
	case 'n':
		o->names[0] = arg;	/* split once the disks are known */
		o->nr_names = 1;
		return 0;
	case 'f':
		o->freeze = true;
		return 0;
	case 'g':
		o->agent_list = arg;
		return 0;
	case 'r':
		if (policy_parse_retention(arg, &o->retention_days))
			return snapctl_usage_error(cmd, POLICY_RETENTION_ERROR, arg);
		return 0;
	case 'F':
	case 'H':
		r = seconds_option(cmd, c, arg, c == 'F' ? &o->freeze_timeout : &o->hook_timeout);
		if (!r && c == 'F' && !o->freeze_timeout)
			o->freeze_timeout = 1;
		if (!r && c == 'H' && !o->hook_timeout)
			o->hook_timeout = 1;
		return r;
	case 'w':
		return seconds_option(cmd, c, arg, &o->wait);
	case 'p':
		o->pre_hook = arg;
		return 0;
	case 'P':
		o->post_hook = arg;
		return 0;
	default:
		return EXIT_USAGE;
	}
}

/* The command line of 'snapshot create' into @o: 0, or the exit code of a usage error. */
static int snap_create_parse(const struct snapctl_cmd *cmd, int argc, char **argv,
			     struct snap_create *o)
{
	struct tag_edit tagging;
	char *name_list;
	unsigned int i;
	int c, ind, r, nr;

	memset(o, 0, sizeof(*o));
	o->hook_timeout = 30;
	o->wait = 60;
	o->freeze_timeout = 10;
	o->retention_days = POLICY_FOREVER;
	tag_edit_init(&tagging);
	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		r = snap_create_option(cmd, c, optarg, o, &tagging);
		if (r) {
			tag_edit_free(&tagging);
			return r;
		}
	}
	/* Checked before anything is done; applied to each new snapshot. */
	r = tag_edit_apply(&tagging, &o->labels, NULL, 0);
	tag_edit_free(&tagging);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	r = EXIT_USAGE;
	if (argc - ind < 2) {
		snapctl_usage_error(cmd, "missing the pool or the disk");
		goto out_labels;
	}
	o->pool = argv[ind];
	o->disk_args = argv + ind + 1;
	o->nr_disks = argc - ind - 1;
	if (o->nr_disks > MAX_DISKS) {
		snapctl_usage_error(cmd, "at most %d disks in one snapshot", MAX_DISKS);
		goto out_labels;
	}
	if (o->nr_names) {
		name_list = o->names[0];
		nr = split_names(name_list, o->names, MAX_DISKS);
		if (nr != (int)o->nr_disks) {
			snapctl_usage_error(cmd, "give one name per disk (%u disk%s)", o->nr_disks,
					    o->nr_disks == 1 ? "" : "s");
			goto out_labels;
		}
		o->nr_names = nr;
		for (i = 0; i < o->nr_disks; i++)
			if (!poolctl_new_name_valid(o->names[i])) {
				snapctl_usage_error(cmd, "'%s' is not a valid snapshot name (" POOLCTL_NAME_RULES ")",
						    o->names[i]);
				goto out_labels;
			}
	}
	return 0;
out_labels:
	tag_set_free(&o->labels);
	return r;
}

/* The guest agents of --guest-agent into @fz. */
static int add_agents(const struct snapctl_cmd *cmd, struct snap_create *o,
		      struct freeze_set *fz)
{
	char *agent;
	int r;

	while (o->agent_list && (agent = strsep(&o->agent_list, ","))) {
		r = *agent ? freeze_add_agent(fz, agent) : -EINVAL;
		if (r < 0)
			return snapctl_usage_error(cmd, "--guest-agent takes the agents' unix socket paths, separated by commas%s",
						   r == -E2BIG ? " (too many)" :
						   r == -ENAMETOOLONG ? " (a path is too long)" : "");
	}
	return 0;
}

/*
 * The disks' records into @disks, each once, and with --freeze the mounts
 * of their filesystems into @fz (*nr_mounts: the disks that have one).  On
 * failure, nothing is left to free.
 */
static int find_disks(const struct snapctl_cmd *cmd, const struct snap_create *o,
		      const char *pool, struct record *disks, struct freeze_set *fz,
		      unsigned int *nr_mounts)
{
	unsigned int i, j;
	int r;

	*nr_mounts = 0;
	for (i = 0; i < o->nr_disks; i++) {
		struct dm_device_info dev;
		char devname[256];

		r = pool_find_disk(pool, o->disk_args[i], &disks[i]);
		if (r) {
			const char *missing = o->disk_args[i];

			while (i--)
				record_free(&disks[i]);
			if (r != -ENOENT)
				return message_failed("looking up the disk", r);
			return fail_with(EXIT_NOT_FOUND, "pool '%s' has no disk '%s' (see 'snapctl disk list %s')",
					 pool, missing, pool);
		}
		for (j = 0; j < i; j++)
			if (record_u64(&disks[j], "id") == record_u64(&disks[i], "id"))
				break;
		if (j < i) {
			/* Its lock would wait for itself. */
			r = snapctl_usage_error(cmd, "disk '%s' is given twice", o->disk_args[i]);
			goto out_free;
		}
		disk_device_name(pool, &disks[i], devname, sizeof(devname));
		if (!o->freeze || dmctl_info(devname, &dev) || !dev.exists)
			continue;
		r = add_mounts_of(fz, dev.major, dev.minor);
		if (r > 0)
			(*nr_mounts)++;
		if (r >= 0)
			continue;
		r = fail_with(EXIT_FAILURE_GENERIC, "snapshot cancelled: the filesystem on /dev/mapper/%s cannot be frozen: %s",
			      devname, r == -EXDEV ? "every mount point of it has another filesystem mounted over it" :
			      strerror(-r));
		goto out_free;
	}
	return 0;
out_free:
	for (j = 0; j <= i; j++)
		record_free(&disks[j]);
	return r;
}

/* The new snapshots of one 'snapshot create'. */
struct snap_taken {
	uint64_t ids[MAX_DISKS];
	const char *names[MAX_DISKS];
	bool consistent;		/* application-consistent */
};

/*
 * Give each new snapshot the tags asked for, and say what was taken.
 * EXIT_OK, or EXIT_FAILURE_GENERIC if a snapshot is without its tags.
 */
static int snap_create_report(struct snapctl_ctx *ctx, const struct snap_create *o,
			      const char *pool, const struct record *disks,
			      const struct snap_taken *taken)
{
	const char *consistency = taken->consistent ? "application" : "crash";
	bool tags_failed = false;
	unsigned int i;
	struct json j;

	for (i = 0; i < o->nr_disks && !tag_set_empty(&o->labels); i++) {
		if (!tags_replace(pool, TAG_SNAPSHOT, taken->ids[i], 0, &o->labels))
			continue;
		fprintf(stderr, "snapctl: snapshot %" PRIu64 " was taken without its tags and description; set them with 'snapctl snapshot tag %s %" PRIu64 "'\n",
			taken->ids[i], pool, taken->ids[i]);
		tags_failed = true;
	}
	if (!ctx->json) {
		for (i = 0; i < o->nr_disks; i++)
			printf("snapshot %" PRIu64 " of disk %s: %s (%s-consistent)\n", taken->ids[i],
			       record_get(&disks[i], "name"), taken->names[i], consistency);
		return tags_failed ? EXIT_FAILURE_GENERIC : EXIT_OK;
	}
	json_init(&j, stdout);
	json_begin_object(&j, NULL);
	json_begin_array(&j, "snapshots");
	for (i = 0; i < o->nr_disks; i++) {
		json_begin_object(&j, NULL);
		json_u64(&j, "id", taken->ids[i]);
		json_string(&j, "disk", record_get(&disks[i], "name"));
		json_string(&j, "name", taken->names[i]);
		tags_json(&j, &o->labels);
		json_end_object(&j);
	}
	json_end_array(&j);
	json_string(&j, "consistency", consistency);
	json_end_object(&j);
	json_finish(&j);
	return tags_failed ? EXIT_FAILURE_GENERIC : EXIT_OK;
}

/*
 * Take the snapshots of the locked @disks: hooks and freezes around the
 * pool's snapshot message (quiesce.h); the locks go as soon as it is sent.
 */
static int snap_create_take(struct snapctl_ctx *ctx, const struct snap_create *o,
			    const char *pool, const struct record *disks, struct disk_lock *locks,
			    struct freeze_set *fz, unsigned int nr_mounts)
{
	struct quiesce q = {
		.pre_hook = o->pre_hook, .post_hook = o->post_hook,
		.hook_timeout = o->hook_timeout, .fz = fz,
	};
	struct poolctl_snapshot_attrs attrs = { 0 };
	uint64_t disk_ids[MAX_DISKS];
	struct snap_taken taken;
	time_t now = (time_t)clock_now();
	char autoname[64];
	unsigned int i;
	struct tm tm;
	int r;

	/* Default names: snap_<yyyyMMdd>_<HHmmss>, the same for the whole group. */
	gmtime_r(&now, &tm);
	strftime(autoname, sizeof(autoname), "snap_%Y%m%d_%H%M%S", &tm);
	for (i = 0; i < o->nr_disks; i++) {
		disk_ids[i] = record_u64(&disks[i], "id");
		taken.names[i] = o->nr_names ? o->names[i] : autoname;
	}
	attrs.names = taken.names;
	attrs.time = now;
	if (o->retention_days != POLICY_FOREVER)
		attrs.retention = policy_retention_until(now, o->retention_days);
	/* Application-consistent only if there is something to freeze. */
	if (o->freeze && !nr_mounts && !fz->nr)
		fprintf(stderr, "snapctl: note: no filesystem is mounted on %s; nothing to freeze, the snapshot is crash-consistent\n",
			o->nr_disks > 1 ? "these disks" : "this disk");

	r = quiesce_begin(&q);
	if (r == -ECANCELED)
		return fail_with(EXIT_FAILURE_GENERIC, "snapshot cancelled: the pre-hook failed");
	if (r) {
		r = fail_with(EXIT_FAILURE_GENERIC, "snapshot cancelled: a filesystem could not be frozen");
		goto post_hook;
	}
	attrs.app_consistent = q.held == FREEZE_HELD;
	r = poolctl_snapshot(pool, disk_ids, o->nr_disks, &attrs, taken.ids);
	unlock_disks(locks, o->nr_disks);
	quiesce_thaw(&q);
	if (q.frozen && q.held == FREEZE_HELD && q.held_through != FREEZE_HELD && !r)
		fprintf(stderr, "snapctl: warning: the freeze %s while the snapshot was being taken; it is recorded as application-consistent, but the filesystems may have been thawed first\n",
			q.held_through == FREEZE_TIMED_OUT ? "hit its timeout" : "was lost");
	taken.consistent = quiesce_consistent(&q);
	if (r == -EEXIST)
		/* A taken name is a usage error, as for disks (snapctl(8)). */
		r = fail_with(EXIT_USAGE, "the name is taken: the disk has a snapshot of that name already");
	else if (r)
		r = message_failed("taking the snapshot", r);
	else
		r = snap_create_report(ctx, o, pool, disks, &taken);
	if (q.frozen && fz->thaw_failed && r == EXIT_OK) {
		fprintf(stderr, "snapctl: the snapshot was taken, but not everything frozen could be thawed (see above)\n");
		r = EXIT_FAILURE_GENERIC;
	}
post_hook:
	if (quiesce_end(&q) && !r)
		r = EXIT_FAILURE_GENERIC;
	return r;
}

static int cmd_snap_create(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_snapshot_cmds[SNAP_CREATE];
	struct disk_lock locks[MAX_DISKS];
	struct record disks[MAX_DISKS];
	struct pool_config_file cfg;
	unsigned int nr_mounts, i;
	struct freeze_set fz;
	struct snap_create o;
	int r;

	r = snap_create_parse(cmd, argc, argv, &o);
	if (r)
		return r;
	freeze_init(&fz, o.freeze_timeout * 1000);
	r = add_agents(cmd, &o, &fz);
	if (!r)
		r = open_pool(o.pool, &cfg);
	if (!r)
		r = find_disks(cmd, &o, cfg.name, disks, &fz, &nr_mounts);
	if (r)
		goto out;
	/* One snapshot operation per disk: wait for an automatic one to finish. */
	r = lock_disks(cfg.name, disks, o.nr_disks, locks, o.wait);
	if (!r) {
		r = snap_create_take(ctx, &o, cfg.name, disks, locks, &fz, nr_mounts);
		unlock_disks(locks, o.nr_disks);
	}
	for (i = 0; i < o.nr_disks; i++)
		record_free(&disks[i]);
out:
	freeze_release(&fz);
	tag_set_free(&o.labels);
	return r;
}

/*----------------------------------------------------------------*/

static const char *date_string(uint64_t seconds, char *buf, size_t len)
{
	time_t t = (time_t)seconds;
	struct tm tm;

	if (!seconds || !gmtime_r(&t, &tm))
		return "-";
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static void snapshot_json(struct json *j, const char *pool, const struct record *snap,
			  uint64_t bs, const struct tag_set *tags)
{
	struct snapshot_space space;
	uint64_t delta, exclusive;

	pool_snapshot_space(pool, record_u64(snap, "id"), &space);
	delta = space.delta_blocks;
	exclusive = space.exclusive_blocks;
	json_begin_object(j, NULL);
	json_u64(j, "id", record_u64(snap, "id"));
	json_u64(j, "disk", record_u64(snap, "disk"));
	json_string(j, "name", record_get(snap, "name"));
	json_u64(j, "created", record_u64(snap, "created"));
	json_string(j, "kind", record_get(snap, "kind"));
	json_string(j, "consistency", record_get(snap, "consistency"));
	json_u64(j, "size_bytes", record_u64(snap, "size") << 9);
	json_u64(j, "delta_bytes", delta * bs);
	json_u64(j, "exclusive_bytes", exclusive * bs);
	json_u64(j, "retention_until", record_u64(snap, "retention"));
	json_u64(j, "policy", record_u64(snap, "policy"));
	json_u64(j, "group", record_u64(snap, "group"));
	json_u64(j, "prev", record_u64(snap, "prev"));
	json_u64(j, "next", record_u64(snap, "next"));
	tags_json(j, tags);
	json_end_object(j);
}

static void snapshot_row(struct table *t, const char *pool, const struct record *disk,
			 const struct record *snap, uint64_t bs, const struct tag_set *tags)
{
	struct snapshot_space space;
	uint64_t delta, exclusive;
	char a[32], b[32], c[32], list[1024];

	pool_snapshot_space(pool, record_u64(snap, "id"), &space);
	delta = space.delta_blocks;
	exclusive = space.exclusive_blocks;
	table_add_row(t, "%" PRIu64 "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", record_u64(snap, "id"),
		      record_get(disk, "name"), record_get(snap, "name"),
		      date_string(record_u64(snap, "created"), c, sizeof(c)),
		      record_get(snap, "kind"), record_get(snap, "consistency"),
		      human_bytes(delta * bs, a, sizeof(a)), human_bytes(exclusive * bs, b, sizeof(b)),
		      tag_set_format(tags, list, sizeof(list)),
		      tags->description && *tags->description ? tags->description : "-");
}

/*
 * A field of a snapshot's record as 'snapshot info' prints it: as the pool
 * wrote it, but a retention of 0, which is forever, as "forever" (what
 * --retention-days and the policies take and print).
 */
static const char *snapshot_field_text(const char *key, const char *value)
{
	return !strcmp(key, "retention") && !strcmp(value, "0") ? "forever" : value;
}

static int cmd_snap_list(struct snapctl_ctx *ctx, int argc, char **argv)
{
	static const char *const headers[] = {
		"ID>", "DISK", "NAME", "CREATED (UTC)", "KIND", "CONSISTENCY", "DELTA>", "EXCLUSIVE>",
		"TAGS", "DESCRIPTION"
	};
	const struct snapctl_cmd *cmd = &snapctl_snapshot_cmds[SNAP_LIST];
	struct tag_filter filter = { 0 };
	struct record_list disks, snaps;
	struct pool_config_file cfg;
	struct pool_tags tags;
	struct record one;
	struct listing l;
	unsigned int d, s;
	uint64_t bs;
	int c, ind, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		r = c == OPT_TAG ? tag_filter_add(cmd, &filter, optarg) : EXIT_USAGE;
		if (r) {
			tag_filter_free(&filter);
			return r;
		}
	}
	argc -= ind;
	argv += ind;
	if (argc < 1 || argc > 2) {
		tag_filter_free(&filter);
		return snapctl_usage_error(cmd, argc < 1 ? "missing the pool name" :
					   "expects a pool and at most one disk");
	}
	r = open_pool(argv[0], &cfg);
	if (!r)
		r = pool_tags_load(cfg.name, &tags, filter.nr > 0);
	if (r) {
		tag_filter_free(&filter);
		return r;
	}
	bs = pool_block_bytes(cfg.name);
	if (argc == 2) {
		r = pool_find_disk(cfg.name, argv[1], &one);
		if (r) {
			tag_filter_free(&filter);
			pool_tags_free(&tags);
			return fail_with(EXIT_NOT_FOUND, "pool '%s' has no disk '%s'", cfg.name, argv[1]);
		}
		disks.nr = 1;
		disks.records = malloc(sizeof(one));
		if (!disks.records)
			return EXIT_FAILURE_GENERIC;
		disks.records[0] = one;
	} else {
		r = poolctl_list_disks(cfg.name, &disks);
		if (r) {
			tag_filter_free(&filter);
			pool_tags_free(&tags);
			return message_failed("listing disks", r);
		}
	}
	listing_begin(&l, ctx->json, 10, headers);
	for (d = 0; d < disks.nr; d++) {
		r = poolctl_list_snapshots(cfg.name, record_u64(&disks.records[d], "id"), &snaps);
		if (r)
			break;
		for (s = 0; s < snaps.nr; s++) {
			const struct tag_set *set = snapshot_tags(&tags,
								  record_u64(&snaps.records[s], "id"));

			if (!tag_set_matches(set, filter.tags, filter.nr))
				continue;
			if (l.json)
				snapshot_json(&l.j, cfg.name, &snaps.records[s], bs, set);
			else
				snapshot_row(&l.t, cfg.name, &disks.records[d], &snaps.records[s], bs, set);
		}
		record_list_free(&snaps);
	}
	listing_end(&l);
	record_list_free(&disks);
	tag_filter_free(&filter);
	pool_tags_free(&tags);
	return r ? message_failed("listing snapshots", r) : EXIT_OK;
}

static int cmd_snap_info(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_snapshot_cmds[SNAP_INFO];
	struct pool_config_file cfg;
	struct pool_tags tags;
	struct record snap;
	struct json j;
	unsigned int f;
	int r;

	r = no_options(cmd, argc, argv);
	if (r)
		return r;
	if (argc != 2)
		return snapctl_usage_error(cmd, argc < 2 ? "missing the pool or the snapshot" :
					   "expects a pool and a snapshot");
	r = open_pool(argv[0], &cfg);
	if (!r)
		r = snapctl_find_snapshot(cfg.name, argv[1], &snap);
	if (r)
		return r;
	r = pool_tags_load(cfg.name, &tags, false);
	if (r) {
		record_free(&snap);
		return r;
	}
	if (ctx->json) {
		json_init(&j, stdout);
		snapshot_json(&j, cfg.name, &snap, pool_block_bytes(cfg.name),
			      snapshot_tags(&tags, record_u64(&snap, "id")));
		json_finish(&j);
	} else {
		for (f = 0; f < snap.nr_fields; f++)
			printf("%-16s %s\n", snap.keys[f], snapshot_field_text(snap.keys[f],
										snap.values[f]));
		tags_print(snapshot_tags(&tags, record_u64(&snap, "id")));
	}
	pool_tags_free(&tags);
	record_free(&snap);
	return EXIT_OK;
}

/* Parse the options of a command whose only option is --yes. */
static int yes_option(const struct snapctl_cmd *cmd, int argc, char **argv, bool *yes, int *ind)
{
	int c;

	while ((c = next_option(cmd, argc, argv, ind)) != -1) {
		if (c != OPT_YES)
			return EXIT_USAGE;
		*yes = true;
	}
	return 0;
}

static int cmd_snap_delete(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_snapshot_cmds[SNAP_DELETE];
	struct pool_config_file cfg;
	char question[512];
	struct record snap;
	bool yes = false;
	size_t used;
	int i, ind, r;

	r = yes_option(cmd, argc, argv, &yes, &ind);
	if (r)
		return r;
	argc -= ind;
	argv += ind;
	if (argc < 2)
		return snapctl_usage_error(cmd, "missing the pool or the snapshot");
	r = open_pool(argv[0], &cfg);
	if (r)
		return r;
	/* A name that does not resolve deletes nothing, not the ones before it. */
	for (i = 1; i < argc; i++) {
		r = snapctl_find_snapshot(cfg.name, argv[i], &snap);
		if (r)
			return r;
		record_free(&snap);
	}
	used = snprintf(question, sizeof(question), "Delete snapshot%s", argc > 2 ? "s" : "");
	for (i = 1; i < argc && used < sizeof(question); i++)
		used += snprintf(question + used, sizeof(question) - used, "%s %s",
				 i > 1 ? "," : "", argv[i]);
	if (used < sizeof(question))
		snprintf(question + used, sizeof(question) - used,
			 " of pool %s? A deleted snapshot cannot be brought back.", cfg.name);
	if (!yes && !confirm(question))
		return fail_with(EXIT_REFUSED, "not deleted: a deleted snapshot cannot be brought back; add --yes");
	for (i = 1; i < argc; i++) {
		r = snapctl_find_snapshot(cfg.name, argv[i], &snap);
		if (r)
			return r;
		r = poolctl_delete_snapshot(cfg.name, record_u64(&snap, "id"));
		if (r == -EBUSY) {
			record_free(&snap);
			return fail_with(EXIT_BUSY, "snapshot '%s' has an active view; run 'snapctl snapshot unview %s %s' first",
					 argv[i], cfg.name, argv[i]);
		}
		record_free(&snap);
		if (r) {
			tags_prune(cfg.name);
			return message_failed("deleting the snapshot", r);
		}
	}
	tags_prune(cfg.name);
	(void)ctx;
	return EXIT_OK;
}

static int cmd_snap_rollback(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_snapshot_cmds[SNAP_ROLLBACK];
	const char *const *words;
	struct pool_config_file cfg;
	struct record disk, snap;
	char dev[256], question[400];
	bool yes = false, force = false, shrink = false;
	uint64_t new_size;
	int c, ind, r, rr;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		if (c == OPT_YES)
			yes = true;
		else if (c == 's')
			shrink = true;
		else if (c == 'f')
			force = true;
		else
			return EXIT_USAGE;
	}
	if (argc - ind < 3)
		return snapctl_usage_error(cmd, "missing the pool, the disk or the snapshot");
	if (argc - ind > 3)
		return snapctl_usage_error(cmd, "unexpected argument '%s'", argv[ind + 3]);
	words = (const char *const *)argv + ind;
	r = open_pool(words[0], &cfg);
	if (r)
		return r;
	r = pool_find_disk(cfg.name, words[1], &disk);
	if (r)
		return fail_with(EXIT_NOT_FOUND, "pool '%s' has no disk '%s'", cfg.name, words[1]);
	r = pool_find_snapshot(cfg.name, record_u64(&disk, "id"), words[2], &snap);
	if (r) {
		record_free(&disk);
		return fail_with(EXIT_NOT_FOUND, "disk '%s' has no snapshot '%s'", words[1], words[2]);
	}
	disk_device_name(cfg.name, &disk, dev, sizeof(dev));
	if (device_in_use(dev) && !force) {
		r = fail_with(EXIT_BUSY, "/dev/mapper/%s is in use (mounted or open); unmount it, or add --force to roll back under its user",
			      dev);
		goto out;
	}
	snprintf(question, sizeof(question),
		 "Roll disk %s back to snapshot %s? Data written after the snapshot is lost.",
		 record_get(&disk, "name"), record_get(&snap, "name"));
	if (!yes && !confirm(question)) {
		r = fail_with(EXIT_REFUSED, "not rolled back: data written after the snapshot would be lost; add --yes");
		goto out;
	}

	/* The pool rolls back a disk only while its device is suspended. */
	r = dmctl_suspend(dev);
	if (r) {
		r = fail_with(exit_for_errno(r), "cannot suspend /dev/mapper/%s: %s", dev, strerror(-r));
		goto out;
	}
	/*
	 * Keeping the size is the pool's work, in the rollback's own commit:
	 * no crash can leave the disk rolled back but shrunk.
	 */
	r = poolctl_rollback(cfg.name, record_u64(&disk, "id"), record_u64(&snap, "id"), !shrink);
	new_size = record_u64(&snap, "size");
	if (!shrink && record_u64(&disk, "size") > new_size)
		new_size = record_u64(&disk, "size");
	if (!r && new_size != record_u64(&disk, "size")) {
		char params[PATH_MAX + 128], origin[PATH_MAX];

		rr = disk_origin_device(cfg.name, &disk, origin, sizeof(origin));
		if (!rr)
			rr = disk_table_params(params, sizeof(params), cfg.name,
					       record_u64(&disk, "id"), 0,
					       record_logical_block_size(&disk),
					       origin[0] ? origin : NULL);
		if (!rr)
			rr = dmctl_reload(dev, new_size, "row", params);
	} else {
		rr = dmctl_resume(dev);
	}
	if (r)
		r = message_failed("rolling back", r);
	else if (rr)
		r = fail_with(exit_for_errno(rr), "rolled back, but /dev/mapper/%s did not resume: %s",
			      dev, strerror(-rr));
	else if (!ctx->json)
		printf("disk %s rolled back to snapshot %s (%" PRIu64 " bytes)\n",
		       record_get(&disk, "name"), record_get(&snap, "name"), new_size << 9);
out:
	record_free(&snap);
	record_free(&disk);
	return r;
}

static int cmd_snap_merge(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_snapshot_cmds[SNAP_MERGE];
	struct pool_config_file cfg;
	struct record first, last;
	char question[400];
	bool yes = false;
	int ind, r;

	r = yes_option(cmd, argc, argv, &yes, &ind);
	if (r)
		return r;
	argc -= ind;
	argv += ind;
	if (argc != 3)
		return snapctl_usage_error(cmd, argc < 3 ? "missing the pool or a snapshot" :
					   "expects a pool and two snapshots");
	r = open_pool(argv[0], &cfg);
	if (!r)
		r = snapctl_find_snapshot(cfg.name, argv[1], &first);
	if (r)
		return r;
	r = snapctl_find_snapshot(cfg.name, argv[2], &last);
	if (r) {
		record_free(&first);
		return r;
	}
	/* Not a question to ask about snapshots of two disks; the order is the pool's to check. */
	r = record_u64(&first, "disk") == record_u64(&last, "disk") ? 0 : -EINVAL;
	snprintf(question, sizeof(question),
		 "Merge snapshots %s to %s of pool %s into %s? The ones before %s are gone.",
		 argv[1], argv[2], cfg.name, argv[2], argv[2]);
	if (!r && !yes && !confirm(question)) {
		record_free(&first);
		record_free(&last);
		return fail_with(EXIT_REFUSED, "not merged: the snapshots before '%s' would be gone; add --yes",
				 argv[2]);
	}
	if (!r)
		r = poolctl_merge(cfg.name, record_u64(&first, "id"), record_u64(&last, "id"));
	record_free(&first);
	record_free(&last);
	if (!r)
		tags_prune(cfg.name);
	if (r == -EINVAL)
		return fail_with(EXIT_USAGE, "'%s' must be older than '%s' in the same disk's chain",
				 argv[1], argv[2]);
	if (r)
		return message_failed("merging", r);
	(void)ctx;
	return EXIT_OK;
}

static int view_args(const struct snapctl_cmd *cmd, int argc, char **argv,
		     struct pool_config_file *cfg, struct record *disk, struct record *snap,
		     char *dev, size_t len)
{
	char idbuf[32];
	int r;

	r = no_options(cmd, argc, argv);
	if (r)
		return r;
	if (argc != 2)
		return snapctl_usage_error(cmd, argc < 2 ? "missing the pool or the snapshot" :
					   "expects a pool and a snapshot");
	r = open_pool(argv[0], cfg);
	if (!r)
		r = snapctl_find_snapshot(cfg->name, argv[1], snap);
	if (r)
		return r;
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, record_u64(snap, "disk"));
	r = pool_find_disk(cfg->name, idbuf, disk);
	if (r) {
		record_free(snap);
		return message_failed("looking up the snapshot's disk", r);
	}
	view_device_name(cfg->name, disk, snap, dev, len);
	return 0;
}

static int cmd_snap_view(struct snapctl_ctx *ctx, int argc, char **argv)
{
	struct pool_config_file cfg;
	struct record disk, snap;
	char dev[300];
	int r;

	r = view_args(&snapctl_snapshot_cmds[SNAP_VIEW], argc, argv, &cfg, &disk, &snap, dev,
		      sizeof(dev));
	if (r)
		return r;
	r = create_snapshot_view(cfg.name, &disk, &snap, dev);
	record_free(&disk);
	record_free(&snap);
	if (r == -EBUSY || r == -EEXIST)
		return fail_with(EXIT_BUSY, "/dev/mapper/%s exists already", dev);
	if (r)
		return fail_with(exit_for_errno(r), "cannot create /dev/mapper/%s: %s", dev, strerror(-r));
	if (!ctx->json)
		printf("/dev/mapper/%s\n", dev);
	return EXIT_OK;
}

static int cmd_snap_unview(struct snapctl_ctx *ctx, int argc, char **argv)
{
	struct pool_config_file cfg;
	struct record disk, snap;
	char dev[300];
	int r;

	r = view_args(&snapctl_snapshot_cmds[SNAP_UNVIEW], argc, argv, &cfg, &disk, &snap, dev,
		      sizeof(dev));
	if (r)
		return r;
	record_free(&disk);
	record_free(&snap);
	if (device_in_use(dev))
		return fail_with(EXIT_BUSY, "/dev/mapper/%s is in use; unmount or close it first", dev);
	r = dmctl_remove(dev);
	if (r == -ENXIO || r == -ENODEV)
		return fail_with(EXIT_NOT_FOUND, "/dev/mapper/%s does not exist", dev);
	if (r)
		return fail_with(exit_for_errno(r), "cannot remove /dev/mapper/%s: %s", dev, strerror(-r));
	(void)ctx;
	return EXIT_OK;
}

static int cmd_snap_tag(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_snapshot_cmds[SNAP_TAG];
	struct pool_config_file cfg;
	struct tag_edit edit;
	struct record snap;
	int ind, r;

	tag_edit_init(&edit);
	r = tag_edit_args(cmd, argc, argv, "snapshot", &edit, &ind);
	if (r)
		goto out;
	r = open_pool(argv[ind], &cfg);
	if (!r)
		r = snapctl_find_snapshot(cfg.name, argv[ind + 1], &snap);
	if (r)
		goto out;
	r = tags_edit(cfg.name, TAG_SNAPSHOT, record_u64(&snap, "id"), 0, &edit);
	record_free(&snap);
out:
	tag_edit_free(&edit);
	(void)ctx;
	return r;
}
