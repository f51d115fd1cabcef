// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl policy ...: automatic snapshot policies.  create, list, modify
 * and delete change the policy store (policy.h); apply and cancel set the
 * policy of disks in the pool's metadata (the kernel's per-disk "policy"
 * attribute) and the scheduler's record of them.  'snapctl daemon'
 * (cmd-daemon.c) takes the snapshots.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "dmctl.h"
#include "json.h"
#include "policy.h"
#include "table.h"
#include "zone.h"

static int cmd_policy_create(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_policy_list(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_policy_modify(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_policy_delete(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_policy_apply(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_policy_cancel(struct snapctl_ctx *ctx, int argc, char **argv);

enum { POLICY_CREATE, POLICY_LIST, POLICY_MODIFY, POLICY_DELETE, POLICY_APPLY, POLICY_CANCEL };

#define SCHEDULE_HELP \
	"  --hours           hours of the day in the policy's time zone: 0-23, lists\n" \
	"                    and ranges (2,14 or 8-18) or 'all'\n" \
	"  --weekdays        days of the week in that zone: mon..sun or 1..7 (1 is\n" \
	"                    Monday), lists and ranges (mon-fri) or 'all'\n" \
	"  --timezone        a zone of the tz database such as Europe/Berlin,\n" \
	"                    America/New_York or UTC, kept with the policy\n" \
	"  --retention-days  keep each automatic snapshot 1..65536 days, or 'forever'\n" \
	"                    (or 0: until the disk's automatic quota evicts it)"

/* Options of create and modify; create takes the name as an argument. */
#define SCHEDULE_OPTIONS \
	{ "hours", required_argument, NULL, 'H' }, \
	{ "weekdays", required_argument, NULL, 'w' }, \
	{ "retention-days", required_argument, NULL, 'r' }, \
	{ "timezone", required_argument, NULL, 'z' }

static const struct option create_options[] = {
	SCHEDULE_OPTIONS,
	{ 0 }
};

static const struct option modify_options[] = {
	{ "name", required_argument, NULL, 'n' },
	SCHEDULE_OPTIONS,
	{ 0 }
};

const struct snapctl_cmd snapctl_policy_cmds[] = {
	[POLICY_CREATE] = {
		.noun = "policy", .verb = "create",
		.usage = "<name> --hours <hours> [--weekdays <days>] [--timezone <zone>]\n"
			 "                 [--retention-days <n>|forever] [--json]",
		.help = "Create an automatic snapshot policy.  Apply it to disks with 'snapctl\n"
			"policy apply'; 'snapctl daemon' takes its snapshots, named\n"
			"auto_<yyyyMMdd>_<HHmm>_<name> in the policy's time zone.\n\n"
			"  <name>            1 to 32 letters, digits, '_', '.', '-', not starting\n"
			"                    with a digit, '.' or '-'\n"
			SCHEDULE_HELP "\n\n"
			"Default: every day, kept 30 days, in the system's time zone (TZ, else\n"
			"/etc/localtime) as it is now: the policy keeps the zone's name and does\n"
			"not follow later changes of the system's zone.  On a day the clock is\n"
			"set forward over one of the hours, its snapshot is taken once, when the\n"
			"clock jumps; on a day it is set back over one, once, at its first\n"
			"occurrence.",
		.options = create_options,
		.flags = CMD_JSON,
		.run = cmd_policy_create,
	},
	[POLICY_LIST] = {
		.noun = "policy", .verb = "list",
		.usage = "[--json]",
		.help = "List the policies with their schedule, retention, and the disks of the\n"
			"active pools they apply to.",
		.flags = CMD_JSON,
		.run = cmd_policy_list,
	},
	[POLICY_MODIFY] = {
		.noun = "policy", .verb = "modify",
		.usage = "<policy> [--name <name>] [--hours <hours>] [--weekdays <days>]\n"
			 "                 [--timezone <zone>] [--retention-days <n>|forever]",
		.help = "Change a policy (by name or number).  The disks it applies to keep it.\n"
			"A new retention applies to the snapshots taken from now on; the ones\n"
			"taken already keep theirs.\n\n"
			"  --name            a new name (for the snapshots taken from now on)\n"
			SCHEDULE_HELP,
		.options = modify_options,
		.flags = 0,
		.run = cmd_policy_modify,
	},
	[POLICY_DELETE] = {
		.noun = "policy", .verb = "delete",
		.usage = "<policy>",
		.help = "Delete a policy and cancel it on every disk it applies to.  The\n"
			"snapshots it took stay, with their retention.",
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_policy_delete,
	},
	[POLICY_APPLY] = {
		.noun = "policy", .verb = "apply",
		.usage = "<policy> <pool> <disk>...",
		.help = "Apply a policy to disks.  A disk has at most one policy: one it had\n"
			"is replaced.  Its first automatic snapshot is at the policy's next\n"
			"hour.",
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_policy_apply,
	},
	[POLICY_CANCEL] = {
		.noun = "policy", .verb = "cancel",
		.usage = "<pool> <disk>...",
		.help = "Cancel the policy of disks: no more automatic snapshots are taken of\n"
			"them.  Those taken stay, with their retention.",
		.flags = CMD_NEEDS_ROOT,
		.run = cmd_policy_cancel,
	},
	{ 0 }
};

/*----------------------------------------------------------------*/

/* Options shared by create and modify. */
struct policy_opts {
	const char *name;
	bool hours, weekdays, retention, zone;
	struct policy p;
};

static int parse_policy_option(const struct snapctl_cmd *cmd, int c, struct policy_opts *o)
{
	switch (c) {
	case 'n':
		if (!policy_name_valid(optarg))
			return snapctl_usage_error(cmd, "'%s' is not a valid policy name (1 to %d letters, digits, '_', '.', '-', not starting with a digit, '.' or '-')",
						   optarg, POLICY_NAME_MAX);
		o->name = optarg;
		return 0;
	case 'H':
		if (policy_parse_hours(optarg, &o->p.hours))
			return snapctl_usage_error(cmd, "--hours takes hours of 0..23 such as 2,14 or 8-18, not '%s'",
						   optarg);
		o->hours = true;
		return 0;
	case 'w':
		if (policy_parse_weekdays(optarg, &o->p.weekdays))
			return snapctl_usage_error(cmd, "--weekdays takes days such as mon,thu or mon-fri or 1-7, not '%s'",
						   optarg);
		o->weekdays = true;
		return 0;
	case 'r':
		if (policy_parse_retention(optarg, &o->p.retention_days))
			return snapctl_usage_error(cmd, POLICY_RETENTION_ERROR, optarg);
		o->retention = true;
		return 0;
	case 'z': {
		char err[256];

		if (zone_check(optarg, o->p.zone, sizeof(o->p.zone), err, sizeof(err)))
			return snapctl_usage_error(cmd, "--timezone: %s", err);
		o->zone = true;
		return 0;
	}
	default:
		return EXIT_USAGE;
	}
}

static void policy_json(struct json *j, const struct policy *p)
{
	char hours[128], days[64];
	unsigned int h, d;

	json_u64(j, "id", p->id);
	json_string(j, "name", p->name);
	json_begin_array(j, "hours");
	for (h = 0; h < 24; h++)
		if (p->hours & (1u << h))
			json_u64(j, NULL, h);
	json_end_array(j);
	json_begin_array(j, "weekdays");
	for (d = 1; d <= 7; d++)
		if (p->weekdays & (1u << (d % 7))) {
			static const char *const names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

			json_string(j, NULL, names[d % 7]);
		}
	json_end_array(j);
	json_string(j, "hours_text", policy_format_hours(p->hours, hours, sizeof(hours)));
	json_string(j, "weekdays_text", policy_format_weekdays(p->weekdays, days, sizeof(days)));
	json_string(j, "timezone", policy_zone(p));
	json_u64(j, "retention_days", p->retention_days);
	json_bool(j, "forever", p->retention_days == POLICY_FOREVER);
	json_i64(j, "created", p->created);
}

static void describe(const char *verb, const struct policy *p)
{
	char hours[128], days[64], kept[32];

	printf("policy %" PRIu32 " %s: %s, hours %s %s, days %s, kept %s\n", p->id, verb, p->name,
	       policy_format_hours(p->hours, hours, sizeof(hours)), policy_zone(p),
	       policy_format_weekdays(p->weekdays, days, sizeof(days)),
	       policy_format_retention(p->retention_days, kept, sizeof(kept)));
	if (policy_zone_usable(p))
		fprintf(stderr, "snapctl: warning: the time zone %s is not in the tz database (%s): the policy takes no snapshots until it is, or until it is given another zone\n",
			policy_zone(p), zone_dir());
}

static int cmd_policy_create(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_policy_cmds[POLICY_CREATE];
	struct policy_opts o = { .p = { .weekdays = POLICY_WEEKDAYS_ALL,
					.retention_days = POLICY_RETENTION_DEFAULT } };
	struct policy_store s;
	struct policy_txn txn;
	char err[256];
	int c, ind, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		r = parse_policy_option(cmd, c, &o);
		if (r)
			return r;
	}
	if (argc - ind != 1)
		return snapctl_usage_error(cmd, argc - ind < 1 ? "missing the policy name" :
					   "unexpected argument '%s'", argv[ind + 1]);
	if (!policy_name_valid(argv[ind]))
		return snapctl_usage_error(cmd, "'%s' is not a valid policy name (1 to %d letters, digits, '_', '.', '-', not starting with a digit, '.' or '-')",
					   argv[ind], POLICY_NAME_MAX);
	if (!o.hours)
		return snapctl_usage_error(cmd, "--hours is needed: at which hours to take snapshots");
	if (!o.zone) {
		char err[256];

		/* The system's zone now, by name: later changes of it leave the policy alone. */
		if (zone_system(o.p.zone, sizeof(o.p.zone), err, sizeof(err)))
			return snapctl_usage_error(cmd, "the system's time zone has no name in the tz database (%s); give --timezone",
						   err);
	}
	snprintf(o.p.name, sizeof(o.p.name), "%s", argv[ind]);
	o.p.created = clock_now();

	r = policy_store_begin(&txn, &s, err, sizeof(err));
	if (r)
		return policy_store_failed(r, err);
	r = policy_add(&s, &o.p);
	if (r == -EEXIST) {
		r = fail_with(EXIT_FAILURE_GENERIC, "a policy named '%s' exists already (see 'snapctl policy list')",
			      o.p.name);
		goto out;
	}
	if (r == -ENOSPC) {
		r = fail_with(EXIT_NO_SPACE, "there are %d policies already; delete some first", POLICY_MAX);
		goto out;
	}
	if (!r)
		r = policy_store_commit(&txn, &s);
	if (r) {
		r = policy_store_failed(r, NULL);
		goto out;
	}
	if (ctx->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		policy_json(&j, &o.p);
		json_end_object(&j);
		json_finish(&j);
	} else {
		describe("created", &o.p);
	}
	r = EXIT_OK;
out:
	policy_store_end(&txn, &s);
	return r;
}

/*----------------------------------------------------------------
 * The disks of the active pools, with their policies
 *--------------------------------------------------------------*/

struct policy_user {
	char pool[64];
	char uuid[40];
	char disk[64];
	uint64_t disk_id;
	uint32_t policy;
};

struct users {
	unsigned int nr;
	struct policy_user *v;
	bool skipped;		/* a defined pool was not active */
};

static int collect_users(void *arg, const struct pool_config_file *cfg)
{
	struct users *u = arg;
	struct dm_device_info info;
	struct record_list disks;
	struct record pool;
	unsigned int i;

	if (dmctl_info(cfg->name, &info) || !info.exists || pool_info(cfg->name, &pool)) {
		u->skipped = true;
		return 0;
	}
	if (poolctl_list_disks(cfg->name, &disks)) {
		record_free(&pool);
		u->skipped = true;
		return 0;
	}
	for (i = 0; i < disks.nr; i++) {
		const struct record *d = &disks.records[i];
		struct policy_user *grown;

		if (!record_u64(d, "policy") || record_u64(d, "removed"))
			continue;
		grown = realloc(u->v, (u->nr + 1) * sizeof(*grown));
		if (!grown)
			break;
		u->v = grown;
		snprintf(u->v[u->nr].pool, sizeof(u->v[u->nr].pool), "%s", cfg->name);
		snprintf(u->v[u->nr].uuid, sizeof(u->v[u->nr].uuid), "%s",
			 record_get(&pool, "uuid") ? record_get(&pool, "uuid") : "");
		snprintf(u->v[u->nr].disk, sizeof(u->v[u->nr].disk), "%s",
			 record_get(d, "name") ? record_get(d, "name") : "-");
		u->v[u->nr].disk_id = record_u64(d, "id");
		u->v[u->nr].policy = record_u64(d, "policy");
		u->nr++;
	}
	record_list_free(&disks);
	record_free(&pool);
	return 0;
}

static void find_users(struct users *u)
{
	memset(u, 0, sizeof(*u));
	/* Without root there is no device-mapper to ask. */
	if (geteuid() == 0)
		config_for_each(collect_users, u);
	else
		u->skipped = true;
}

static int cmd_policy_list(struct snapctl_ctx *ctx, int argc, char **argv)
{
	static const char *const headers[] = {
		"ID>", "NAME", "HOURS", "WEEKDAYS", "TIME ZONE", "RETENTION", "DISKS"
	};
	const struct snapctl_cmd *cmd = &snapctl_policy_cmds[POLICY_LIST];
	char err[256], hours[128], days[64], kept[32], disks[512];
	struct policy_store s;
	struct users u;
	struct listing l;
	unsigned int i, k;
	int r;

	r = no_options(cmd, argc, argv);
	if (r)
		return r;
	if (argc)
		return snapctl_usage_error(cmd, "unexpected argument '%s'", argv[0]);
	r = policy_store_load(&s, err, sizeof(err));
	if (r)
		return policy_store_failed(r, err);
	find_users(&u);
	listing_begin(&l, ctx->json, 7, headers);
	for (i = 0; i < s.nr_policies; i++) {
		const struct policy *p = &s.policies[i];

		if (l.json) {
			struct json *j = &l.j;

			json_begin_object(j, NULL);
			policy_json(j, p);
			json_begin_array(j, "disks");
			for (k = 0; k < u.nr; k++) {
				const struct policy_disk *pd;

				if (u.v[k].policy != p->id)
					continue;
				pd = policy_disk_find(&s, u.v[k].uuid, u.v[k].disk_id);
				if (pd && pd->policy != p->id)
					pd = NULL;
				json_begin_object(j, NULL);
				json_string(j, "pool", u.v[k].pool);
				json_string(j, "disk", u.v[k].disk);
				json_u64(j, "disk_id", u.v[k].disk_id);
				json_i64(j, "last_run", pd ? pd->last_run : 0);
				json_i64(j, "last_success", pd ? pd->last_success : 0);
				json_u64(j, "failures", pd ? pd->failures : 0);
				json_end_object(j);
			}
			json_end_array(j);
			json_end_object(j);
			continue;
		}
		disks[0] = '\0';
		for (k = 0; k < u.nr; k++)
			if (u.v[k].policy == p->id)
				snprintf(disks + strlen(disks), sizeof(disks) - strlen(disks), "%s%s/%s",
					 disks[0] ? "," : "", u.v[k].pool, u.v[k].disk);
		table_add_row(&l.t, "%" PRIu32 "\t%s\t%s\t%s\t%s\t%s\t%s", p->id, p->name,
			      policy_format_hours(p->hours, hours, sizeof(hours)),
			      policy_format_weekdays(p->weekdays, days, sizeof(days)), policy_zone(p),
			      policy_format_retention(p->retention_days, kept, sizeof(kept)),
			      disks[0] ? disks : "-");
	}
	listing_end(&l);
	if (!ctx->json && u.skipped && s.nr_policies)
		fprintf(stderr, "snapctl: note: %s\n", geteuid() ?
			"disks are only listed for root" :
			"the disks of inactive pools are not listed");
	free(u.v);
	policy_store_free(&s);
	return EXIT_OK;
}

static int cmd_policy_modify(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_policy_cmds[POLICY_MODIFY];
	struct policy_opts o = { 0 };
	struct policy_store s;
	struct policy_txn txn;
	struct policy *p;
	char err[256];
	unsigned int i;
	int c, ind, r;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		r = parse_policy_option(cmd, c, &o);
		if (r)
			return r;
	}
	if (argc - ind != 1)
		return snapctl_usage_error(cmd, argc - ind < 1 ? "missing the policy" :
					   "unexpected argument '%s'", argv[ind + 1]);
	if (!o.name && !o.hours && !o.weekdays && !o.retention && !o.zone)
		return snapctl_usage_error(cmd, "nothing to change: give --name, --hours, --weekdays, --timezone or --retention-days");

	r = policy_store_begin(&txn, &s, err, sizeof(err));
	if (r)
		return policy_store_failed(r, err);
	p = policy_find(&s, argv[ind]);
	if (!p) {
		r = fail_with(EXIT_NOT_FOUND, "no policy '%s' (see 'snapctl policy list')", argv[ind]);
		goto out;
	}
	if (o.name) {
		for (i = 0; i < s.nr_policies; i++)
			if (&s.policies[i] != p && !strcmp(s.policies[i].name, o.name))
				break;
		if (i < s.nr_policies) {
			r = fail_with(EXIT_FAILURE_GENERIC, "a policy named '%s' exists already", o.name);
			goto out;
		}
		snprintf(p->name, sizeof(p->name), "%s", o.name);
	}
	if (o.hours)
		p->hours = o.p.hours;
	if (o.weekdays)
		p->weekdays = o.p.weekdays;
	if (o.retention)
		p->retention_days = o.p.retention_days;
	if (o.zone)
		snprintf(p->zone, sizeof(p->zone), "%s", o.p.zone);
	r = policy_store_commit(&txn, &s);
	if (r) {
		r = policy_store_failed(r, NULL);
		goto out;
	}
	if (!ctx->json)
		describe("modified", p);
	r = EXIT_OK;
out:
	policy_store_end(&txn, &s);
	return r;
}

static int cmd_policy_delete(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_policy_cmds[POLICY_DELETE];
	struct policy_store s;
	struct policy_txn txn;
	struct policy gone;
	struct users u;
	unsigned int k, cancelled = 0;
	char err[256];
	int r, failed = 0;

	r = no_options(cmd, argc, argv);
	if (r)
		return r;
	if (argc != 1)
		return snapctl_usage_error(cmd, argc < 1 ? "missing the policy" :
					   "unexpected argument '%s'", argv[1]);
	r = policy_store_begin(&txn, &s, err, sizeof(err));
	if (r)
		return policy_store_failed(r, err);
	if (!policy_find(&s, argv[0])) {
		r = fail_with(EXIT_NOT_FOUND, "no policy '%s' (see 'snapctl policy list')", argv[0]);
		policy_store_end(&txn, &s);
		return r;
	}
	/* Out of the store first: from now on the scheduler ignores it. */
	gone = *policy_find(&s, argv[0]);
	policy_remove(&s, gone.id);
	r = policy_store_commit(&txn, &s);
	policy_store_end(&txn, &s);
	if (r)
		return policy_store_failed(r, NULL);

	find_users(&u);
	for (k = 0; k < u.nr; k++) {
		if (u.v[k].policy != gone.id)
			continue;
		r = poolctl_set_disk_policy(u.v[k].pool, u.v[k].disk_id, 0);
		if (r) {
			fprintf(stderr, "snapctl: cannot cancel the policy on disk %s of pool %s: %s\n",
				u.v[k].disk, u.v[k].pool, strerror(-r));
			failed++;
			continue;
		}
		if (!ctx->json)
			printf("cancelled on %s/%s\n", u.v[k].pool, u.v[k].disk);
		cancelled++;
	}
	if (u.skipped)
		fprintf(stderr, "snapctl: note: disks of inactive pools still name policy %" PRIu32 "; the daemon cancels it there when the pools are active\n",
			gone.id);
	free(u.v);
	if (!ctx->json)
		printf("policy %" PRIu32 " deleted: %s (cancelled on %u disk%s)\n", gone.id, gone.name,
		       cancelled, cancelled == 1 ? "" : "s");
	return failed ? EXIT_FAILURE_GENERIC : EXIT_OK;
}

/*----------------------------------------------------------------*/

/* "<pool> <disk>...": the pool and the records of the live disks. */
static int pool_and_disks(const struct snapctl_cmd *cmd, int argc, char **argv,
			  struct pool_config_file *cfg, struct record *uuid_info,
			  struct record_list *disks)
{
	int i, r;

	r = no_options(cmd, argc, argv);
	if (r)
		return r;
	if (argc < 2)
		return snapctl_usage_error(cmd, "missing the pool or the disk");
	r = open_pool(argv[0], cfg);
	if (r)
		return r;
	r = pool_info(cfg->name, uuid_info);
	if (r)
		return message_failed("reading the pool", r);
	disks->nr = 0;
	disks->records = calloc(argc - 1, sizeof(struct record));
	if (!disks->records) {
		record_free(uuid_info);
		return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	}
	for (i = 1; i < argc; i++) {
		struct record *d = &disks->records[disks->nr];

		r = pool_find_disk(cfg->name, argv[i], d);
		if (r == -ENOENT)
			r = fail_with(EXIT_NOT_FOUND, "pool '%s' has no disk '%s' (see 'snapctl disk list %s')",
				      cfg->name, argv[i], cfg->name);
		else if (r)
			r = message_failed("looking up the disk", r);
		else if (record_u64(d, "removed")) {
			record_free(d);
			r = fail_with(EXIT_NOT_FOUND, "disk '%s' of pool '%s' was removed", argv[i], cfg->name);
		}
		if (r) {
			record_list_free(disks);
			record_free(uuid_info);
			return r;
		}
		disks->nr++;
	}
	return 0;
}

static const char *disk_label(const struct record *d, char *buf, size_t len)
{
	const char *name = record_get(d, "name");

	if (name && strcmp(name, "-"))
		return name;
	snprintf(buf, len, "%" PRIu64, record_u64(d, "id"));
	return buf;
}

static int cmd_policy_apply(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_policy_cmds[POLICY_APPLY];
	struct pool_config_file cfg;
	struct record_list disks;
	struct policy_store s;
	struct policy_txn txn;
	struct record info;
	struct policy *p, *old;
	char err[256], label[32];
	unsigned int i;
	int64_t now = clock_now();
	int r;

	if (argc < 1 || argv[0][0] == '-')
		return argc ? snapctl_usage_error(cmd, "unknown option '%s'", argv[0]) :
			snapctl_usage_error(cmd, "missing the policy, the pool or the disk");
	r = pool_and_disks(cmd, argc - 1, argv + 1, &cfg, &info, &disks);
	if (r)
		return r;
	r = policy_store_begin(&txn, &s, err, sizeof(err));
	if (r) {
		r = policy_store_failed(r, err);
		goto out_disks;
	}
	p = policy_find(&s, argv[0]);
	if (!p) {
		r = fail_with(EXIT_NOT_FOUND, "no policy '%s' (see 'snapctl policy list')", argv[0]);
		goto out;
	}
	for (i = 0; i < disks.nr; i++) {
		const struct record *d = &disks.records[i];
		uint64_t id = record_u64(d, "id");
		struct policy_disk *pd;

		if (record_u64(d, "policy") == p->id && policy_disk_find(&s, record_get(&info, "uuid"), id)) {
			if (!ctx->json)
				printf("disk %s: policy %s applies already\n", disk_label(d, label, sizeof(label)),
				       p->name);
			continue;
		}
		r = poolctl_set_disk_policy(cfg.name, id, p->id);
		if (r) {
			r = message_failed("setting the disk's policy", r);
			goto save;
		}
		old = record_u64(d, "policy") != p->id ? policy_by_id(&s, record_u64(d, "policy")) : NULL;
		/* A new policy starts afresh: its slots count from now on. */
		pd = policy_disk_get(&s, cfg.name, record_get(&info, "uuid"), id);
		if (!pd) {
			r = fail_with(EXIT_FAILURE_GENERIC, "out of memory");
			goto save;
		}
		snprintf(pd->pool, sizeof(pd->pool), "%s", cfg.name);
		pd->policy = p->id;
		pd->applied = now;
		pd->last_slot = 0;
		pd->last_run = pd->last_success = 0;
		pd->failures = 0;
		if (!ctx->json) {
			if (old)
				printf("disk %s: policy %s replaced by %s\n", disk_label(d, label, sizeof(label)),
				       old->name, p->name);
			else
				printf("disk %s: policy %s applied\n", disk_label(d, label, sizeof(label)), p->name);
		}
	}
	r = EXIT_OK;
save:
	{
		int rr = policy_store_commit(&txn, &s);

		if (rr && !r)
			r = policy_store_failed(rr, NULL);
	}
out:
	policy_store_end(&txn, &s);
out_disks:
	record_list_free(&disks);
	record_free(&info);
	return r;
}

static int cmd_policy_cancel(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_policy_cmds[POLICY_CANCEL];
	struct pool_config_file cfg;
	struct record_list disks;
	struct policy_store s;
	struct policy_txn txn;
	struct record info;
	char err[256], label[32];
	unsigned int i;
	int r, rr;

	r = pool_and_disks(cmd, argc, argv, &cfg, &info, &disks);
	if (r)
		return r;
	r = policy_store_begin(&txn, &s, err, sizeof(err));
	if (r) {
		r = policy_store_failed(r, err);
		goto out_disks;
	}
	for (i = 0; i < disks.nr; i++) {
		const struct record *d = &disks.records[i];
		uint64_t id = record_u64(d, "id");

		policy_disk_remove(&s, record_get(&info, "uuid"), id);
		if (!record_u64(d, "policy")) {
			if (!ctx->json)
				printf("disk %s has no policy\n", disk_label(d, label, sizeof(label)));
			continue;
		}
		r = poolctl_set_disk_policy(cfg.name, id, 0);
		if (r) {
			r = message_failed("cancelling the disk's policy", r);
			break;
		}
		if (!ctx->json)
			printf("disk %s: policy cancelled\n", disk_label(d, label, sizeof(label)));
	}
	rr = policy_store_commit(&txn, &s);
	if (rr && !r)
		r = policy_store_failed(rr, NULL);
	policy_store_end(&txn, &s);
out_disks:
	record_list_free(&disks);
	record_free(&info);
	return r;
}
