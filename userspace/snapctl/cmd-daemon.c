// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl daemon: the scheduler of automatic snapshot policies.
 *
 * Every pass looks at every active pool defined on the host and, for each
 * disk:
 *
 *  1. deletes the snapshots whose recorded retention time has passed
 *     (automatic ones by their policy's retention, manual ones if they were
 *     given --retention-days);
 *  2. if the disk has a policy and the policy's latest slot (one of its
 *     hours on one of its days, in its time zone: policy.h) is due, takes
 *     the snapshot, kind=auto, named auto_<yyyyMMdd>_<HHmm>_<policy> in
 *     that zone, with the policy's retention
 *     counted from now.  The kernel deletes the disk's oldest automatic
 *     snapshots first when its automatic quota is reached; the daemon
 *     compares the chain before and after and reports what went.
 *
 * A slot is due from its hour for POLICY_SLOT_WINDOW (an hour): a daemon
 * that was stopped for longer does not make up for the slots it missed, it
 * says so.  Slots before the policy was applied to the disk are not taken.
 *
 * Taking a slot twice is prevented twice over: the store records the last
 * slot taken per disk (written after the snapshot), and before taking a
 * slot the chain is searched for an automatic snapshot of the policy made
 * at or after the slot (which also covers a crash between the snapshot and
 * the store update); the name is unique in the chain as a last resort.
 *
 * Each snapshot operation on a disk holds the disk's lock (disklock.h),
 * which a manual 'snapctl snapshot create' takes too: one waits for the
 * other.  A disk still busy after --lock-timeout is tried again on the
 * next pass, within the slot's hour.
 *
 * SIGTERM and SIGINT are blocked while a pass runs and only received while
 * the daemon sleeps: it never stops half-way through an operation.
 *
 * With a fake clock (clock.h) and --until, the daemon runs in virtual
 * time: it jumps from one due event (a slot, a retention time) to the next
 * without sleeping, advancing the clock file with it, so a month of
 * schedule takes seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "disklock.h"
#include "dmctl.h"
#include "json.h"
#include "policy.h"
#include "schedule.h"
#include "statefile.h"
#include "tagging.h"

static int cmd_daemon(struct snapctl_ctx *ctx, int argc, char **argv);

static const struct option daemon_options[] = {
	{ "once", no_argument, NULL, 'o' },
	{ "until", required_argument, NULL, 'u' },
	{ "interval", required_argument, NULL, 'i' },
	{ "lock-timeout", required_argument, NULL, 'l' },
	{ "metrics-file", required_argument, NULL, 'm' },
	{ 0 }
};

const struct snapctl_cmd snapctl_daemon_cmds[] = {
	{
		.verb = "daemon",
		.usage = "[--once | --until <time>] [--interval <seconds>] [--lock-timeout <seconds>]\n"
			 "          [--metrics-file <file>] [--json]",
		.help = "Run the automatic snapshot policies: take the snapshots that are due,\n"
			"delete the snapshots past their retention, and log each action on\n"
			"standard error.  Runs until SIGTERM or SIGINT (see the systemd unit\n"
			"snapctl-daemon.service); only one daemon runs at a time.\n\n"
			"  --once            one pass, then exit\n"
			"  --until <time>    run until this time (seconds since the epoch or\n"
			"                    YYYY-MM-DDTHH:MM[:SS], UTC); with a fake clock\n"
			"                    (SNAPCTL_FAKE_TIME, SNAPCTL_FAKE_TIME_FILE) in virtual\n"
			"                    time, from one due event to the next, without sleeping\n"
			"  --interval        longest sleep between passes, seconds [60]\n"
			"  --lock-timeout    how long to wait for a disk busy with another snapshot\n"
			"                    operation before trying again at the next pass,\n"
			"                    seconds [30]\n"
			"  --metrics-file <file>\n"
			"                    after every pass, write what 'snapctl metrics' prints\n"
			"                    to this file: atomically, mode 0644, for node\n"
			"                    exporter's textfile collector (name it *.prom)\n"
			"  --json            with --once or --until: what was done, at the end\n\n"
			"Exit status with --once or --until: 0, 1 if an operation failed, 4 if a\n"
			"disk stayed busy.",
		.options = daemon_options,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_daemon,
	},
	{ 0 }
};

struct event {
	int64_t time;
	const char *action;
	char pool[64];
	char disk[64];
	char snapshot[64];
	uint64_t snapshot_id;
	char message[256];
};

struct daemon {
	bool once, until_set, virtual_time, json;
	int64_t until;
	double interval;
	int lock_timeout_ms;
	const char *metrics_file;
	unsigned int errors, busy;
	sigset_t signals;

	struct event *events;
	unsigned int nr_events;

	/* What was said once and need not be said again. */
	char (*noted)[128];
	unsigned int nr_noted;
};

/* The pass over one pool. */
struct pass {
	struct daemon *d;
	int64_t now;
	int64_t next;			/* the earliest event after now */
	const struct policy_store *store;
	const char *pool;
	const char *uuid;
	uint64_t auto_quota;
};

/*----------------------------------------------------------------
 * Log and events
 *--------------------------------------------------------------*/

static void __attribute__((format(printf, 8, 9)))
report(struct daemon *d, int64_t now, const char *action, const char *pool, const char *disk,
       const char *snapshot, uint64_t snapshot_id, const char *fmt, ...)
{
	struct event *e, *grown;
	char when[32];
	va_list ap;

	grown = realloc(d->events, (d->nr_events + 1) * sizeof(*grown));
	if (!grown)
		return;
	d->events = grown;
	e = &d->events[d->nr_events++];
	memset(e, 0, sizeof(*e));
	e->time = now;
	e->action = action;
	snprintf(e->pool, sizeof(e->pool), "%s", pool ? pool : "");
	snprintf(e->disk, sizeof(e->disk), "%s", disk ? disk : "");
	snprintf(e->snapshot, sizeof(e->snapshot), "%s", snapshot ? snapshot : "");
	e->snapshot_id = snapshot_id;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	fprintf(stderr, "snapctl daemon: %s %s%s%s%s%s\n", clock_format(now, when, sizeof(when)),
		pool ? pool : "", disk ? "/" : "", disk ? disk : "", pool ? ": " : "", e->message);
}

/* True the first time @key is seen. */
static bool first_time(struct daemon *d, const char *fmt, ...)
{
	char key[128];
	unsigned int i;
	va_list ap;
	void *grown;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	for (i = 0; i < d->nr_noted; i++)
		if (!strcmp(d->noted[i], key))
			return false;
	if (d->nr_noted >= 4096)
		d->nr_noted = 0;	/* forget old news rather than grow forever */
	grown = realloc(d->noted, (d->nr_noted + 1) * sizeof(*d->noted));
	if (grown) {
		d->noted = grown;
		snprintf(d->noted[d->nr_noted++], sizeof(d->noted[0]), "%s", key);
	}
	return true;
}

static void forget(struct daemon *d, const char *fmt, ...)
{
	char key[128];
	unsigned int i;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	for (i = 0; i < d->nr_noted; i++)
		if (!strcmp(d->noted[i], key)) {
			memcpy(d->noted[i], d->noted[--d->nr_noted], sizeof(d->noted[0]));
			return;
		}
}

static void print_events(struct daemon *d, int64_t started, int64_t finished)
{
	struct json j;
	unsigned int i;

	json_init(&j, stdout);
	json_begin_object(&j, NULL);
	json_i64(&j, "started", started);
	json_i64(&j, "finished", finished);
	json_u64(&j, "errors", d->errors);
	json_u64(&j, "busy", d->busy);
	json_begin_array(&j, "events");
	for (i = 0; i < d->nr_events; i++) {
		const struct event *e = &d->events[i];

		json_begin_object(&j, NULL);
		json_i64(&j, "time", e->time);
		json_string(&j, "action", e->action);
		json_string(&j, "pool", e->pool[0] ? e->pool : NULL);
		json_string(&j, "disk", e->disk[0] ? e->disk : NULL);
		json_string(&j, "snapshot", e->snapshot[0] ? e->snapshot : NULL);
		json_u64(&j, "snapshot_id", e->snapshot_id);
		json_string(&j, "message", e->message);
		json_end_object(&j);
	}
	json_end_array(&j);
	json_end_object(&j);
	json_finish(&j);
}

/*----------------------------------------------------------------
 * The store, from the daemon's side
 *--------------------------------------------------------------*/

/* What an attempt at a slot's snapshot came to, for the store's figures. */
enum attempt {
	NO_ATTEMPT,		/* nothing tried: taken already, or missed */
	ATTEMPT_OK,
	ATTEMPT_FAILED,
};

/*
 * Record in the store that @slot of the disk is done (taken, found taken,
 * or given up; 0: not done, tried again at the next pass) and what the
 * attempt at it came to (last_run, last_success, failures: snapctl metrics).
 */
static void mark_slot(struct pass *ps, uint64_t disk, uint32_t policy, int64_t slot,
		      enum attempt attempt)
{
	struct policy_store s;
	struct policy_txn txn;
	struct policy_disk *pd;
	bool changed = false;
	char err[256];
	int r;

	r = policy_store_begin(&txn, &s, err, sizeof(err));
	if (r) {
		if (first_time(ps->d, "store-write"))
			report(ps->d, ps->now, "error", NULL, NULL, NULL, 0,
			       "cannot record the slot in the policy store: %s", r == -EILSEQ ? err : strerror(-r));
		ps->d->errors++;
		return;
	}
	pd = policy_disk_find(&s, ps->uuid, disk);
	/* The command line may have changed the disk's policy meanwhile. */
	if (pd && pd->policy == policy) {
		if (slot && pd->last_slot < slot) {
			pd->last_slot = slot;
			changed = true;
		}
		if (attempt != NO_ATTEMPT) {
			pd->last_run = ps->now;
			if (attempt == ATTEMPT_OK)
				pd->last_success = ps->now;
			else
				pd->failures++;
			changed = true;
		}
	}
	if (changed) {
		r = policy_store_commit(&txn, &s);
		if (r) {
			report(ps->d, ps->now, "error", NULL, NULL, NULL, 0,
			       "cannot record the slot in the policy store: %s", strerror(-r));
			ps->d->errors++;
		}
	}
	policy_store_end(&txn, &s);
}

/* A disk seen with a policy the store has no record of: it starts now. */
static int64_t adopt_disk(struct pass *ps, uint64_t disk, uint32_t policy)
{
	struct policy_store s;
	struct policy_txn txn;
	struct policy_disk *pd;
	int64_t applied = ps->now;
	char err[256];

	if (policy_store_begin(&txn, &s, err, sizeof(err)))
		return applied;
	pd = policy_disk_find(&s, ps->uuid, disk);
	if (pd && pd->policy == policy) {
		applied = pd->applied;		/* recorded meanwhile */
	} else {
		pd = policy_disk_get(&s, ps->pool, ps->uuid, disk);
		if (pd) {
			pd->policy = policy;
			pd->applied = applied;
			pd->last_slot = 0;
			pd->last_run = pd->last_success = 0;
			pd->failures = 0;
			policy_store_commit(&txn, &s);
		}
	}
	policy_store_end(&txn, &s);
	return applied;
}

static void drop_disk(struct pass *ps, uint64_t disk)
{
	struct policy_store s;
	struct policy_txn txn;
	char err[256];

	if (policy_store_begin(&txn, &s, err, sizeof(err)))
		return;
	if (policy_disk_find(&s, ps->uuid, disk)) {
		policy_disk_remove(&s, ps->uuid, disk);
		policy_store_commit(&txn, &s);
	}
	policy_store_end(&txn, &s);
}

/*----------------------------------------------------------------
 * One disk
 *--------------------------------------------------------------*/

static const char *disk_label(const struct record *disk, char *buf, size_t len)
{
	const char *name = record_get(disk, "name");

	if (name && strcmp(name, "-"))
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%" PRIu64, record_u64(disk, "id"));
	return buf;
}

static int list_chain(struct pass *ps, uint64_t disk, struct record_list *snaps)
{
	return poolctl_list_snapshots(ps->pool, disk, snaps);
}

static void lock_waiting(const char *holder, void *arg)
{
	const char *what = arg;

	fprintf(stderr, "snapctl daemon: %s: busy (%s); waiting\n", what, holder);
}

/* Take the disk's lock for @what; false (reported once) if it stays busy. */
static bool lock_disk(struct pass *ps, const char *label, uint64_t disk, const char *what,
		      struct disk_lock *lock)
{
	char holder[256], who[160];
	int r;

	snprintf(who, sizeof(who), "%s/%s", ps->pool, label);
	r = disk_lock_take(lock, ps->pool, disk, what, ps->d->lock_timeout_ms, holder,
			   sizeof(holder), lock_waiting, who);
	if (!r)
		return true;
	if (r == -EBUSY) {
		ps->d->busy++;
		if (first_time(ps->d, "busy %s %" PRIu64 " %s", ps->uuid, disk, what))
			report(ps->d, ps->now, "busy", ps->pool, label, NULL, 0,
			       "busy with another snapshot operation (%s); %s is tried again at the next pass",
			       holder, what);
	} else {
		ps->d->errors++;
		report(ps->d, ps->now, "error", ps->pool, label, NULL, 0, "cannot lock the disk: %s",
		       strerror(-r));
	}
	return false;
}

/* Delete the disk's snapshots whose retention has passed. */
static void expire_disk(struct pass *ps, const struct record *disk)
{
	uint64_t id = record_u64(disk, "id");
	struct disk_lock lock = { .fd = -1 };
	struct record_list snaps;
	char label[64];
	unsigned int i;
	int r;

	disk_label(disk, label, sizeof(label));
	if (record_u64(disk, "manual") + record_u64(disk, "auto") == 0)
		return;
	r = list_chain(ps, id, &snaps);
	if (r) {
		ps->d->errors++;
		report(ps->d, ps->now, "error", ps->pool, label, NULL, 0, "cannot list snapshots: %s",
		       strerror(-r));
		return;
	}
	for (i = 0; i < snaps.nr; i++) {
		const struct record *s = &snaps.records[i];
		uint64_t retention = record_u64(s, "retention"), sid = record_u64(s, "id");
		const char *name = record_get(s, "name");
		char when[32], what[160];

		if (!policy_retention_expired(retention, ps->now)) {
			if (retention && (int64_t)retention < ps->next)
				ps->next = (int64_t)retention;
			continue;
		}
		snprintf(what, sizeof(what), "expiring snapshot %s", name);
		if (lock.fd < 0 && !lock_disk(ps, label, id, what, &lock))
			break;
		r = poolctl_delete_snapshot(ps->pool, sid);
		if (!r) {
			report(ps->d, ps->now, "expire", ps->pool, label, name, sid,
			       "deleted %s snapshot %s (id %" PRIu64 "): its retention ended %s",
			       record_get(s, "kind"), name, sid,
			       clock_format((int64_t)retention, when, sizeof(when)));
		} else if (r == -EBUSY) {
			if (first_time(ps->d, "view %s %" PRIu64, ps->uuid, sid))
				report(ps->d, ps->now, "busy", ps->pool, label, name, sid,
				       "snapshot %s is past its retention but has an active view; it is deleted once the view is gone",
				       name);
			ps->d->busy++;
		} else if (r != -ENODATA) {
			ps->d->errors++;
			if (first_time(ps->d, "expire %s %" PRIu64, ps->uuid, sid))
				report(ps->d, ps->now, "error", ps->pool, label, name, sid,
				       "cannot delete snapshot %s past its retention: %s", name, strerror(-r));
		}
	}
	disk_lock_release(&lock);
	record_list_free(&snaps);
}

/* Say which automatic snapshots of @before the snapshot just taken evicted. */
static void report_evicted(struct pass *ps, const char *label, uint64_t disk,
			   const struct record_list *before)
{
	struct record_list after;
	unsigned int i;

	if (list_chain(ps, disk, &after))
		return;
	for (i = 0; i < before->nr; i++) {
		const struct record *s = &before->records[i];

		if (schedule_evicted(s, &after))
			report(ps->d, ps->now, "evict", ps->pool, label, record_get(s, "name"),
			       record_u64(s, "id"),
			       "automatic quota (%" PRIu64 ") reached: evicted the oldest automatic snapshot %s (id %" PRIu64 ")",
			       ps->auto_quota, record_get(s, "name"), record_u64(s, "id"));
	}
	record_list_free(&after);
}

/*
 * Send the automatic snapshot @name of @slot, and say what came of it: the
 * attempt's outcome for mark_slot().
 */
static int snapshot_slot(struct pass *ps, const char *label, uint64_t disk,
			 const struct policy *p, int64_t slot, const char *name,
			 const struct record_list *before)
{
	const char *names[1] = { name };
	struct poolctl_snapshot_attrs attrs = {
		.names = names, .automatic = true, .policy = p->id, .time = ps->now,
		.retention = policy_retention_until(ps->now, p->retention_days),
	};
	char when[32];
	uint64_t new_id;
	int r;

	r = poolctl_snapshot(ps->pool, &disk, 1, &attrs, &new_id);
	if (r == -EEXIST) {
		report(ps->d, ps->now, "skip", ps->pool, label, name, 0,
		       "a snapshot named %s exists already: slot taken", name);
		return NO_ATTEMPT;
	}
	if (r == -EDQUOT) {
		ps->d->errors++;
		report(ps->d, ps->now, "error", ps->pool, label, name, 0,
		       "no automatic snapshot: the pool's automatic quota is 0 (snapctl pool quota %s --auto <n>)",
		       ps->pool);
		return ATTEMPT_FAILED;
	}
	if (r) {
		ps->d->errors++;
		if (first_time(ps->d, "fail %s %" PRIu64 " %" PRId64, ps->uuid, disk, slot))
			report(ps->d, ps->now, "error", ps->pool, label, name, 0,
			       "automatic snapshot %s failed: %s; tried again at the next pass", name,
			       strerror(-r));
		return -1;	/* tried again at the next pass: no slot marked */
	}
	report(ps->d, ps->now, "snapshot", ps->pool, label, name, new_id,
	       "took %s (id %" PRIu64 ", policy %s, kept %s%s)", name, new_id, p->name,
	       attrs.retention ? "until " : "forever",
	       attrs.retention ? clock_format((int64_t)attrs.retention, when, sizeof(when)) : "");
	forget(ps->d, "fail %s %" PRIu64 " %" PRId64, ps->uuid, disk, slot);
	/* What the kernel evicted to make room: gone from the chain now. */
	report_evicted(ps, label, disk, before);
	return ATTEMPT_OK;
}

static void take_slot(struct pass *ps, const struct record *disk, const struct policy *p,
		      int64_t slot)
{
	uint64_t id = record_u64(disk, "id");
	struct disk_lock lock = { .fd = -1 };
	struct record_list before;
	const struct record *taken;
	char label[64], name[64], what[160], when[32];
	int outcome, r;

	disk_label(disk, label, sizeof(label));
	if (policy_snapshot_name(p, slot, name, sizeof(name))) {
		report(ps->d, ps->now, "error", ps->pool, label, NULL, 0,
		       "policy %s: no valid snapshot name", p->name);
		ps->d->errors++;
		mark_slot(ps, id, p->id, 0, ATTEMPT_FAILED);
		return;
	}
	snprintf(what, sizeof(what), "automatic snapshot %s", name);
	if (!lock_disk(ps, label, id, what, &lock))
		return;
	r = list_chain(ps, id, &before);
	if (r) {
		ps->d->errors++;
		report(ps->d, ps->now, "error", ps->pool, label, name, 0, "cannot list snapshots: %s",
		       strerror(-r));
		mark_slot(ps, id, p->id, 0, ATTEMPT_FAILED);
		goto out_unlock;
	}
	taken = schedule_slot_taken(&before, p, slot, name);
	if (taken) {
		report(ps->d, ps->now, "skip", ps->pool, label, record_get(taken, "name"),
		       record_u64(taken, "id"), "slot %s of policy %s was taken already (snapshot %s, id %" PRIu64 ")",
		       clock_format(slot, when, sizeof(when)), p->name, record_get(taken, "name"),
		       record_u64(taken, "id"));
		mark_slot(ps, id, p->id, slot, NO_ATTEMPT);
	} else {
		outcome = snapshot_slot(ps, label, id, p, slot, name, &before);
		if (outcome < 0)
			mark_slot(ps, id, p->id, 0, ATTEMPT_FAILED);
		else
			mark_slot(ps, id, p->id, slot, outcome);
	}
	record_list_free(&before);
out_unlock:
	disk_lock_release(&lock);
}

static void schedule_disk(struct pass *ps, const struct record *disk, const struct policy *p)
{
	uint64_t id = record_u64(disk, "id");
	const struct policy_disk *pd = policy_disk_find(ps->store, ps->uuid, id);
	int64_t applied, last = 0, slot, next;
	char label[64], when[32];
	enum slot_due due;

	disk_label(disk, label, sizeof(label));
	/* Never UTC instead, as the C library would have it. */
	if (policy_zone_usable(p)) {
		ps->d->errors++;
		if (first_time(ps->d, "zone %" PRIu32 " %s", p->id, policy_zone(p)))
			report(ps->d, ps->now, "error", ps->pool, label, NULL, 0,
			       "policy %s: unknown time zone %s (not in %s): no automatic snapshots until it is there or the policy is given another zone",
			       p->name, policy_zone(p), zone_dir());
		return;
	}
	forget(ps->d, "zone %" PRIu32 " %s", p->id, policy_zone(p));
	if (pd && pd->policy == p->id) {
		applied = pd->applied;
		last = pd->last_slot;
	} else {
		applied = adopt_disk(ps, id, p->id);
		report(ps->d, ps->now, "adopt", ps->pool, label, NULL, 0,
		       "policy %s applies; the first slot is %s", p->name,
		       clock_format(policy_next_slot(p, applied - 1), when, sizeof(when)));
	}
	next = policy_next_slot(p, ps->now);
	if (next >= 0 && next < ps->next)
		ps->next = next;
	due = schedule_slot_due(p, ps->now, applied, last, &slot);
	if (due == SLOT_NOT_DUE)
		return;
	if (due == SLOT_MISSED) {
		report(ps->d, ps->now, "missed", ps->pool, label, NULL, 0,
		       "missed slot %s of policy %s (the daemon was not running then)",
		       clock_format(slot, when, sizeof(when)), p->name);
		mark_slot(ps, id, p->id, slot, NO_ATTEMPT);
		return;
	}
	take_slot(ps, disk, p, slot);
}

/*----------------------------------------------------------------
 * A pass
 *--------------------------------------------------------------*/

struct pass_ctx {
	struct daemon *d;
	int64_t now;
	int64_t next;
	const struct policy_store *store;
};

static int pass_pool(void *arg, const struct pool_config_file *cfg)
{
	struct pass_ctx *pc = arg;
	struct pass ps = { .d = pc->d, .now = pc->now, .next = pc->next, .store = pc->store,
			   .pool = cfg->name };
	struct dm_device_info dev;
	struct record_list disks;
	struct record info;
	unsigned int i;
	char label[64];
	int r;

	if (dmctl_info(cfg->name, &dev) || !dev.exists) {
		if (first_time(pc->d, "inactive %s", cfg->name))
			report(pc->d, pc->now, "inactive", cfg->name, NULL, NULL, 0,
			       "pool is not active: skipped until it is");
		return 0;
	}
	forget(pc->d, "inactive %s", cfg->name);
	r = pool_info(cfg->name, &info);
	if (r) {
		pc->d->errors++;
		report(pc->d, pc->now, "error", cfg->name, NULL, NULL, 0, "cannot read the pool: %s",
		       strerror(-r));
		return 0;
	}
	ps.uuid = record_get(&info, "uuid") ? record_get(&info, "uuid") : "";
	ps.auto_quota = record_u64(&info, "auto_quota");
	r = poolctl_list_disks(cfg->name, &disks);
	if (r) {
		pc->d->errors++;
		report(pc->d, pc->now, "error", cfg->name, NULL, NULL, 0, "cannot list disks: %s",
		       strerror(-r));
		record_free(&info);
		return 0;
	}
	for (i = 0; i < disks.nr; i++) {
		const struct record *disk = &disks.records[i];
		uint32_t policy = record_u64(disk, "policy");
		const struct policy *p;

		/* Retention applies to the snapshots of removed disks too. */
		expire_disk(&ps, disk);
		if (!policy || record_u64(disk, "removed"))
			continue;
		p = policy_by_id(pc->store, policy);
		if (!p) {
			/* Deleted while the pool was not active: cancel it here. */
			disk_label(disk, label, sizeof(label));
			r = poolctl_set_disk_policy(cfg->name, record_u64(disk, "id"), 0);
			if (r) {
				pc->d->errors++;
				report(pc->d, pc->now, "error", cfg->name, label, NULL, 0,
				       "cannot cancel deleted policy %" PRIu32 ": %s", policy, strerror(-r));
			} else {
				report(pc->d, pc->now, "cancel", cfg->name, label, NULL, 0,
				       "policy %" PRIu32 " no longer exists: cancelled", policy);
				drop_disk(&ps, record_u64(disk, "id"));
			}
			continue;
		}
		schedule_disk(&ps, disk, p);
	}
	record_list_free(&disks);
	record_free(&info);
	/* Retention and the automatic quota delete snapshots: drop their tags. */
	tags_prune(cfg->name);
	pc->next = ps.next;
	return 0;
}

/* One pass at @now; returns the time of the next event (INT64_MAX: none). */
static int64_t run_pass(struct daemon *d, int64_t now)
{
	struct pass_ctx pc = { .d = d, .now = now, .next = INT64_MAX };
	struct policy_store store;
	char err[256];
	int r;

	r = policy_store_load(&store, err, sizeof(err));
	if (r) {
		char path[512];

		d->errors++;
		if (first_time(d, "store %d %s", r, err))
			report(d, now, "error", NULL, NULL, NULL, 0,
			       "cannot read the policy store %s: %s; no automatic snapshots until it is fixed",
			       policy_store_path(path, sizeof(path)), r == -EILSEQ ? err : strerror(-r));
		return INT64_MAX;
	}
	forget(d, "store %d %s", r, err);
	pc.store = &store;
	config_for_each(pass_pool, &pc);
	policy_store_free(&store);
	return pc.next;
}

/* After a pass: the metrics file, if asked for; a failure is said once. */
static void write_metrics(struct daemon *d, int64_t now)
{
	unsigned int errors;
	int r;

	if (!d->metrics_file)
		return;
	r = snapctl_metrics_write(d->metrics_file, NULL, 0, &errors);
	if (!r) {
		forget(d, "metrics");
		return;
	}
	if (first_time(d, "metrics"))
		report(d, now, "error", NULL, NULL, NULL, 0, "cannot write the metrics file %s: %s",
		       d->metrics_file, strerror(-r));
}

/*----------------------------------------------------------------*/

/* Sleep up to @seconds; the signal that ended it, or 0. */
static int wait_signal(struct daemon *d, double seconds)
{
	struct timespec ts;
	int sig;

	if (seconds < 0)
		seconds = 0;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	do {
		sig = sigtimedwait(&d->signals, NULL, &ts);
	} while (sig < 0 && errno == EINTR);
	return sig < 0 ? 0 : sig;
}

static int parse_seconds(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(*v) || *v < 0 || *v > 86400)
		return -EINVAL;
	return 0;
}

static int single_instance(void)
{
	char path[512], line[64];
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "%s", run_dir());
	r = make_dirs(path);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "cannot create %s: %s", path, strerror(-r));
	snprintf(path, sizeof(path), "%s/daemon.pid", run_dir());
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail_with(EXIT_FAILURE_GENERIC, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		n = pread(fd, line, sizeof(line) - 1, 0);
		line[n > 0 ? n : 0] = '\0';
		line[strcspn(line, "\n")] = '\0';
		close(fd);
		return fail_with(EXIT_BUSY, "another snapctl daemon is running (pid %s)",
				 line[0] ? line : "unknown");
	}
	n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, line, n, 0) != n) {
		/* The lock is what counts; the pid is for people. */
	}
	/* Held until exit: the descriptor is never closed. */
	return 0;
}

/* The command line of 'daemon' into @d: 0, or the exit code of a usage error. */
static int daemon_parse(const struct snapctl_cmd *cmd, struct snapctl_ctx *ctx, int argc,
			char **argv, struct daemon *d)
{
	double seconds;
	int c, ind;

	while ((c = next_option(cmd, argc, argv, &ind)) != -1) {
		switch (c) {
		case 'o':
			d->once = true;
			break;
		case 'u':
			if (clock_parse(optarg, &d->until))
				return snapctl_usage_error(cmd, "--until takes a time (seconds since the epoch or YYYY-MM-DDTHH:MM[:SS] UTC), not '%s'",
							   optarg);
			d->until_set = true;
			break;
		case 'i':
			if (parse_seconds(optarg, &d->interval) || d->interval < 0.01)
				return snapctl_usage_error(cmd, "--interval takes seconds (0.01 to 86400), not '%s'",
							   optarg);
			break;
		case 'l':
			if (parse_seconds(optarg, &seconds))
				return snapctl_usage_error(cmd, "--lock-timeout takes seconds (0 to 86400), not '%s'",
							   optarg);
			d->lock_timeout_ms = (int)(seconds * 1000);
			break;
		case 'm':
			if (!*optarg)
				return snapctl_usage_error(cmd, "--metrics-file needs a file name");
			d->metrics_file = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (ind < argc)
		return snapctl_usage_error(cmd, "unexpected argument '%s'", argv[ind]);
	if (d->once && d->until_set)
		return snapctl_usage_error(cmd, "give --once or --until, not both");
	if (ctx->json && !d->once && !d->until_set)
		return snapctl_usage_error(cmd, "--json needs --once or --until");
	d->json = ctx->json;
	d->virtual_time = d->until_set && clock_is_fake();
	return 0;
}

/* How long to sleep at @now before the pass for @next (INT64_MAX: none due). */
static double daemon_sleep(const struct daemon *d, int64_t now, int64_t next)
{
	double seconds = d->interval;

	if (!clock_is_fake() && next != INT64_MAX && (double)(next - now) < seconds)
		seconds = (double)(next - now);
	if (d->until_set && !clock_is_fake() && (double)(d->until - now) < seconds)
		seconds = (double)(d->until - now);
	return seconds;
}

/*
 * Pass after pass until --once or --until says it is over, or SIGTERM or
 * SIGINT: the signal that ended it (0: none); *now is the time it ended.
 */
static int daemon_loop(struct daemon *d, int64_t *now)
{
	int64_t next;
	int sig = 0;

	for (;;) {
		next = run_pass(d, *now);
		write_metrics(d, *now);
		if (d->once || (d->until_set && *now >= d->until))
			return sig;
		if (d->virtual_time) {
			/* Straight to the next event, or the end. */
			int64_t t = next < d->until ? next : d->until;

			*now = t > *now ? t : *now + 1;
			clock_set(*now);
			sig = wait_signal(d, 0);
			if (sig == SIGTERM || sig == SIGINT)
				return sig;
			continue;
		}
		sig = wait_signal(d, daemon_sleep(d, *now, next));
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig == SIGHUP)
			fprintf(stderr, "snapctl daemon: SIGHUP: the policy store is read at every pass anyway\n");
		*now = clock_now();
	}
}

static int cmd_daemon(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_daemon_cmds[0];
	struct daemon d = { .interval = 60, .lock_timeout_ms = 30000 };
	char path[512], when[32], end[32];
	int64_t now, started;
	int r, sig;

	r = daemon_parse(cmd, ctx, argc, argv, &d);
	if (!r)
		r = single_instance();
	if (r)
		return r;
	sigemptyset(&d.signals);
	sigaddset(&d.signals, SIGTERM);
	sigaddset(&d.signals, SIGINT);
	sigaddset(&d.signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &d.signals, NULL);

	started = now = clock_now();
	fprintf(stderr, "snapctl daemon: %s started (pid %d): policies in %s, %s clock%s%s\n",
		clock_format(now, when, sizeof(when)), (int)getpid(),
		policy_store_path(path, sizeof(path)), clock_is_fake() ? "fake" : "real",
		d.until_set ? ", until " : "", d.until_set ? clock_format(d.until, end, sizeof(end)) : "");
	sig = daemon_loop(&d, &now);
	fprintf(stderr, "snapctl daemon: %s stopped%s\n", clock_format(now, when, sizeof(when)),
		sig == SIGTERM ? " (SIGTERM)" : sig == SIGINT ? " (SIGINT)" : "");
	if (d.json)
		print_events(&d, started, now);
	free(d.events);
	free(d.noted);
	if (d.errors)
		return EXIT_FAILURE_GENERIC;
	return d.busy && (d.once || d.until_set) ? EXIT_BUSY : EXIT_OK;
}
