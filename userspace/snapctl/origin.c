// SPDX-License-Identifier: GPL-2.0
/*
 * Disks with an external origin in snapctl's commands; see origin.h.
 *
 * The kernel needs the origin's device on every table line of the disk,
 * its live head and the views of its snapshots, and refuses it once the
 * origin is taken away; snapctl finds it in the origin store (origins.h):
 * a template's device as recorded, a served export on whatever /dev/nbdN
 * serves it now.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "dmctl.h"
#include "nbdserve.h"
#include "origin.h"
#include <linux/dm-row.h>

/*----------------------------------------------------------------
 * Where the origin is
 *--------------------------------------------------------------*/

struct served {
	const char *url, *export_name;
	const char *root;		/* "": any; else the served one's must be it */
	char device[NBD_DEVICE_MAX];	/* a live server's */
	char dead[NBD_DEVICE_MAX];	/* one whose server or connection is gone */
};

static int find_served(void *context, const struct nbd_serve_info *info)
{
	struct served *s = context;

	if (strcmp(info->url, s->url) || strcmp(info->export_name, s->export_name))
		return 0;
	/* the same name, other data: not this origin (a server for an entry
	 * that knows no root is taken by name, as it was made) */
	if (s->root && s->root[0] && info->root[0] && strcmp(info->root, s->root))
		return 0;
	if (info->server_running && info->connected)
		snprintf(s->device, sizeof(s->device), "%s", info->device);
	else
		snprintf(s->dead, sizeof(s->dead), "%s", info->device);
	return 0;
}

/* The origin store's entry of @disk; -ENOENT if none. */
static int find_origin(const char *pool, const struct record *disk, struct origin *o)
{
	struct origin_store s;
	const struct origin *e;
	char err[200], path[PATH_MAX];
	int r;

	r = origin_store_load(pool, &s, err, sizeof(err));
	if (r) {
		fprintf(stderr, "snapctl: cannot read the origin store %s: %s\n",
			origin_store_path(pool, path, sizeof(path)), r == -EILSEQ ? err : strerror(-r));
		return r;
	}
	e = origin_store_find(&s, record_u64(disk, "id"), record_u64(disk, "created"));
	if (e)
		*o = *e;
	origin_store_free(&s);
	return e ? 0 : -ENOENT;
}

/* disk_origin_device(), saying why not (@say) or not. */
static int origin_device(const char *pool, const struct record *disk, char *dev, size_t len,
			 bool say)
{
	struct origin o;
	struct served s;
	int r;

	dev[0] = '\0';
	if (!record_u64(disk, "external_origin"))
		return 0;
	r = find_origin(pool, disk, &o);
	if (r == -ENOENT && say)
		fprintf(stderr, "snapctl: disk %s has an external origin that snapctl has no record of (in %s/%s.origins); load its tables by hand with external_origin=<device>\n",
			record_get(disk, "name"), config_dir(), pool);
	if (r)
		return r;
	if (!origin_is_export(&o)) {
		snprintf(dev, len, "%s", o.device);
		return 0;
	}
	memset(&s, 0, sizeof(s));
	s.url = o.url;
	s.export_name = o.export_name;
	s.root = o.root;
	nbd_serve_for_each(find_served, &s);
	if (!s.device[0]) {
		if (say)
			fprintf(stderr, "snapctl: the origin of disk %s, export '%s' of %s, is not served; run 'snapctl pool activate %s'\n",
				record_get(disk, "name"), o.export_name, o.url, pool);
		return -ENXIO;
	}
	snprintf(dev, len, "%s", s.device);
	return 0;
}

int disk_origin_device(const char *pool, const struct record *disk, char *dev, size_t len)
{
	return origin_device(pool, disk, dev, len, true);
}

int disk_origin_ready(const char *pool, const struct record *disk)
{
	char dev[PATH_MAX];

	return origin_device(pool, disk, dev, sizeof(dev), false);
}

int origin_serve(const struct origin *o, char *dev, size_t len, char *why, size_t why_len)
{
	struct nbd_serve_options so = { .prefetch = -1 };
	char device[NBD_DEVICE_MAX];
	struct served s = { .url = o->url, .export_name = o->export_name, .root = o->root };
	int r;

	nbd_serve_for_each(find_served, &s);
	if (s.device[0]) {
		snprintf(dev, len, "%s", s.device);
		return 0;
	}
	/* A dead server's device: disconnect it and forget it (its tables move on). */
	if (s.dead[0])
		nbd_serve_stop(s.dead, true, why, why_len);
	so.url = o->url;
	so.export_name = o->export_name;
	so.key_file = o->key_file[0] ? o->key_file : NULL;
	so.root = o->root[0] ? o->root : NULL;
	r = nbd_serve_start(&so, device, why, why_len);
	if (!r)
		snprintf(dev, len, "%s", device);
	return r;
}

/*
 * Is the export of @o used by another disk of any pool than @pool's disk
 * @o->disk_id?  With @active_only, by a disk of another pool whose device
 * exists (@pool's own are gone).
 */
struct export_user {
	const char *pool;
	const struct origin *o;
	bool active_only;
	bool used;
};

static int export_used_in(void *context, const struct pool_config_file *cfg)
{
	struct export_user *u = context;
	struct dm_device_info info;
	struct origin_store s;
	bool same = !strcmp(cfg->name, u->pool);

	if (u->active_only && (same || dmctl_info(cfg->name, &info) || !info.exists))
		return 0;

	if (origin_store_load(cfg->name, &s, NULL, 0)) {
		u->used = true;		/* cannot tell: keep the server */
		return 1;
	}
	if (origin_store_uses_export(&s, u->o->url, u->o->export_name,
				     same ? u->o->disk_id : UINT64_MAX))
		u->used = true;
	origin_store_free(&s);
	return u->used;
}

static void unserve_unused(const char *pool, const struct origin *o, bool active_only)
{
	struct export_user u = { .pool = pool, .o = o, .active_only = active_only };
	struct served s = { .url = o->url, .export_name = o->export_name, .root = o->root };
	char why[512];

	if (!origin_is_export(o))
		return;
	config_for_each(export_used_in, &u);
	if (u.used)
		return;
	nbd_serve_for_each(find_served, &s);
	if (s.device[0] && nbd_serve_stop(s.device, false, why, sizeof(why)))
		fprintf(stderr, "snapctl: warning: the server of %s was not stopped: %s\n", s.device,
			why);
	if (s.dead[0])
		nbd_serve_stop(s.dead, true, why, sizeof(why));
}

void origin_unserve_unused(const char *pool, const struct origin *o)
{
	unserve_unused(pool, o, false);
}

void origins_deactivated(const char *pool)
{
	struct origin_store s;
	unsigned int i;

	if (origin_store_load(pool, &s, NULL, 0))
		return;
	for (i = 0; i < s.nr; i++)
		unserve_unused(pool, &s.entries[i], true);
	origin_store_free(&s);
}

/*----------------------------------------------------------------
 * The store
 *--------------------------------------------------------------*/

static int store_failed(const char *pool, int r, const char *err)
{
	char path[PATH_MAX];

	origin_store_path(pool, path, sizeof(path));
	if (r == -EILSEQ)
		return fail_with(EXIT_CORRUPT, "the origin store %s is damaged: %s; restore it from a backup",
				 path, err);
	return fail_with(EXIT_FAILURE_GENERIC, "cannot use the origin store %s: %s", path,
			 strerror(-r));
}

/* Apply @change to @pool's store under its lock, then save it. */
static int store_change(const char *pool, int (*change)(struct origin_store *s, void *arg),
			void *arg)
{
	struct origin_store s;
	struct origin_txn txn;
	char err[200] = "";
	int r;

	r = origin_store_begin(&txn, pool, &s, err, sizeof(err));
	if (!r)
		r = change(&s, arg);
	if (!r)
		r = origin_store_commit(&txn, &s);
	origin_store_end(&txn, &s);
	return r ? store_failed(pool, r, err) : 0;
}

static int put_origin(struct origin_store *s, void *arg)
{
	return origin_store_put(s, arg);
}

int origin_remember(const char *pool, const struct origin *o)
{
	return store_change(pool, put_origin, (void *)o);
}

static int forget_origin(struct origin_store *s, void *arg)
{
	origin_store_remove(s, *(const uint64_t *)arg);
	return 0;
}

int origin_remember_clone(const char *pool, uint64_t source_id, const struct record *clone)
{
	struct record source;
	struct origin o;
	char idbuf[32];
	int r;

	if (!record_u64(clone, "external_origin"))
		return 0;
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, source_id);
	r = pool_find_disk(pool, idbuf, &source);
	if (r)
		return message_failed("looking up the source disk", r);
	r = find_origin(pool, &source, &o);
	record_free(&source);
	if (r)
		return fail_with(EXIT_FAILURE_GENERIC, "snapctl has no record of the origin of disk %" PRIu64 ": the clone's tables cannot be loaded",
				 source_id);
	o.disk_id = record_u64(clone, "id");
	o.created = record_u64(clone, "created");
	o.hydrate = false;
	o.rate = 0;
	return origin_remember(pool, &o);
}

/*----------------------------------------------------------------
 * Hydration
 *--------------------------------------------------------------*/

int parse_rate(const char *s, uint64_t *bytes)
{
	char copy[64];
	size_t len = strlen(s);

	if (len >= sizeof(copy))
		return -EINVAL;
	memcpy(copy, s, len + 1);
	if (len > 2 && !strcmp(copy + len - 2, "/s"))
		copy[len - 2] = '\0';
	return parse_size(copy, bytes);
}

int disk_hydration(const char *pool, const struct record *disk, struct hydration *h)
{
	char dev[256], *type = NULL, *params = NULL, *word, *cursor;
	unsigned int i;
	int r;

	memset(h, 0, sizeof(*h));
	snprintf(h->state, sizeof(h->state), "-");
	disk_device_name(pool, disk, dev, sizeof(dev));
	r = dmctl_status(dev, &type, &params);
	if (r) {
		free(type);
		return 0;		/* no live device */
	}
	h->live = true;
	cursor = params;
	for (i = 0; cursor && (word = strsep(&cursor, " ")); i++) {
		if (i == DM_ROW_DISK_STATUS_HYDRATED &&
		    sscanf(word, "%" SCNu64 "/%" SCNu64, &h->hydrated, &h->total) != 2)
			h->hydrated = h->total = 0;
		else if (i == DM_ROW_DISK_STATUS_HYDRATION)
			snprintf(h->state, sizeof(h->state), "%s", word);
		else if (i == DM_ROW_DISK_STATUS_HYDRATION_ERRORS)
			h->errors = strtoull(word, NULL, 10);
	}
	free(type);
	free(params);
	return 0;
}

struct rate_change {
	uint64_t id, created;
	int64_t rate;
};

static int record_rate(struct origin_store *s, void *arg)
{
	const struct rate_change *c = arg;
	struct origin *o = origin_store_find(s, c->id, c->created);

	if (!o)
		return 0;	/* nothing to remember it with: the message was sent */
	o->hydrate = c->rate >= 0;
	o->rate = c->rate >= 0 ? (uint64_t)c->rate : 0;
	return 0;
}

int origin_hydrate(const char *pool, const struct record *disk, int64_t rate)
{
	struct rate_change c = { record_u64(disk, "id"), record_u64(disk, "created"), rate };
	int r;

	if (!record_u64(disk, "external_origin"))
		return fail_with(EXIT_USAGE, "disk %s has no external origin: nothing to hydrate",
				 record_get(disk, "name"));
	r = poolctl_hydrate(pool, c.id, rate);
	if (r == -EBUSY)
		return fail_with(EXIT_BUSY, "disk %s has no live device with its origin; run 'snapctl pool activate %s'",
				 record_get(disk, "name"), pool);
	if (r)
		return message_failed("hydrating", r);
	return store_change(pool, record_rate, &c);
}

/*----------------------------------------------------------------
 * Loading the tables again
 *--------------------------------------------------------------*/

/* "<major>:<minor>" of block device @path, as tables print it; "" if none. */
static void device_numbers(const char *path, char *buf, size_t len)
{
	struct stat st;

	buf[0] = '\0';
	if (!stat(path, &st) && S_ISBLK(st.st_mode))
		snprintf(buf, len, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
}

/* Does device @name's table name @origin ("": no origin)? */
static bool table_has_origin(const char *name, const char *origin)
{
	char *type = NULL, *params = NULL, *p, want[48];
	bool same;

	if (dmctl_table(name, NULL, &type, &params))
		return true;		/* no device: nothing to reload */
	p = params ? strstr(params, DM_ROW_EXTERNAL_ORIGIN_ARG) : NULL;
	if (!*origin) {
		same = !p;
	} else {
		device_numbers(origin, want, sizeof(want));
		p = p ? p + strlen(DM_ROW_EXTERNAL_ORIGIN_ARG) : NULL;
		same = p && want[0] && !strncmp(p, want, strlen(want)) &&
		       (!p[strlen(want)] || p[strlen(want)] == ' ');
	}
	free(type);
	free(params);
	return same;
}

/* Load device @name (of @disk, view of @snap_id or live head) again with @origin. */
static int reload_one(const char *pool, const struct record *disk, uint64_t snap_id,
		      const char *name, const char *origin)
{
	struct dm_device_info info;
	char params[PATH_MAX + 128], *type = NULL, *old = NULL;
	uint64_t sectors;
	int r;

	if (dmctl_info(name, &info) || !info.exists || table_has_origin(name, origin))
		return 0;
	r = dmctl_table(name, &sectors, &type, &old);
	free(type);
	free(old);
	if (r)
		return r;
	r = disk_table_params(params, sizeof(params), pool, record_u64(disk, "id"), snap_id,
			      record_logical_block_size(disk), *origin ? origin : NULL);
	if (!r)
		r = dmctl_reload(name, sectors, "row", params);
	if (r)
		fprintf(stderr, "snapctl: cannot load /dev/mapper/%s again %s its origin: %s\n", name,
			*origin ? "with" : "without", strerror(-r));
	return r;
}

/* The live device and every view of @disk's snapshots, loaded with @origin ("": none). */
static int reload_devices(const char *pool, const struct record *disk, const char *origin)
{
	struct record_list snaps;
	char name[300];
	unsigned int i;
	int r, failed;

	disk_device_name(pool, disk, name, sizeof(name));
	failed = record_u64(disk, "removed") ? 0 : reload_one(pool, disk, 0, name, origin);
	r = poolctl_list_snapshots(pool, record_u64(disk, "id"), &snaps);
	if (r)
		return r;
	for (i = 0; i < snaps.nr; i++) {
		view_device_name(pool, disk, &snaps.records[i], name, sizeof(name));
		r = reload_one(pool, disk, record_u64(&snaps.records[i], "id"), name, origin);
		if (r && !failed)
			failed = r;
	}
	record_list_free(&snaps);
	return failed;
}

/*----------------------------------------------------------------
 * Taking the origin away
 *--------------------------------------------------------------*/

int origin_detach(const char *pool, const struct record *disk)
{
	uint64_t id = record_u64(disk, "id");
	struct origin o;
	bool known;
	int r, tries;

	known = !find_origin(pool, disk, &o);
	/* The mark reaches the end with the last copy's mapping: it may lag the status. */
	for (tries = 0; tries < 50; tries++) {
		r = poolctl_set_disk_origin(pool, id, 0);
		if (r != -EBUSY)
			break;
		usleep(100 * 1000);
	}
	if (r == -EBUSY)
		return fail_with(EXIT_BUSY, "disk %s is not hydrated yet: its origin stays",
				 record_get(disk, "name"));
	if (r && r != -ENODATA)
		return message_failed("taking the origin away", r);
	r = reload_devices(pool, disk, "");
	if (r)
		return fail_with(exit_for_errno(r), "the origin of disk %s is taken away, but a device of it still names it: load it again ('snapctl pool activate %s')",
				 record_get(disk, "name"), pool);
	r = store_change(pool, forget_origin, &id);
	if (r)
		return r;
	if (known)
		origin_unserve_unused(pool, &o);
	return 0;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

int origin_wait(const char *pool, const char *disk_name)
{
	struct sigaction sa = { .sa_handler = on_interrupt }, old_int, old_term;
	bool tty = isatty(STDOUT_FILENO);
	struct hydration h;
	struct record disk;
	int r, code = EXIT_OK;

	r = pool_find_disk(pool, disk_name, &disk);
	if (r)
		return message_failed("looking up the disk", r);
	if (!record_u64(&disk, "external_origin")) {
		record_free(&disk);
		return EXIT_OK;		/* hydrated and taken away already */
	}
	interrupted = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	for (;;) {
		r = disk_hydration(pool, &disk, &h);
		if (r || !h.live) {
			code = fail_with(EXIT_NOT_FOUND, "disk %s has no live device: hydration stopped",
					 disk_name);
			break;
		}
		if (tty)
			printf("\rhydrating %s: %" PRIu64 "/%" PRIu64 " blocks (%.0f%%), %s%s", disk_name,
			       h.hydrated, h.total, h.total ? 100.0 * h.hydrated / h.total : 100.0,
			       h.state, h.errors ? ", origin read errors" : "");
		fflush(stdout);
		if (!strcmp(h.state, "done"))
			break;
		if (!strcmp(h.state, "paused") || !strcmp(h.state, "off")) {
			code = fail_with(EXIT_BUSY, "%shydration of disk %s is %s; start it with 'snapctl disk hydrate %s %s'",
					 tty ? "\n" : "", disk_name, h.state, pool, disk_name);
			break;
		}
		if (interrupted)
			break;
		usleep(250 * 1000);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (tty && !code)
		printf("\n");
	if (!code && interrupted) {
		fprintf(stderr, "snapctl: hydration of disk %s goes on in the background (see 'snapctl disk list %s')\n",
			disk_name, pool);
		code = EXIT_BUSY;
	} else if (!code) {
		code = origin_detach(pool, &disk);
		if (!code)
			printf("disk %s is hydrated: its origin is taken away\n", disk_name);
	}
	record_free(&disk);
	return code;
}

/*----------------------------------------------------------------
 * Pool activation
 *--------------------------------------------------------------*/

/* Before the devices: the origin of @disk served, its live table naming it. */
static int prepare_disk(const char *pool, const struct record *disk)
{
	char dev[NBD_DEVICE_MAX + PATH_MAX], why[512];
	struct origin o;
	int r;

	r = find_origin(pool, disk, &o);
	if (r)
		return r == -ENOENT ? 0 : r;	/* said when its tables are loaded */
	if (origin_is_export(&o)) {
		r = origin_serve(&o, dev, sizeof(dev), why, sizeof(why));
		if (r) {
			fprintf(stderr, "snapctl: cannot serve export '%s' of %s, the origin of disk %s: %s\n",
				o.export_name, o.url, record_get(disk, "name"), why);
			return r;
		}
	} else {
		snprintf(dev, sizeof(dev), "%s", o.device);
	}
	return reload_devices(pool, disk, dev) ? -EIO : 0;
}

/* After the devices: hydrate again, or take away a hydrated origin. */
static int resume_disk(const char *pool, const struct record *disk)
{
	struct origin o;

	if (record_u64(disk, "removed"))
		return 0;
	if (record_u64(disk, "hydrated") >= record_u64(disk, "external_origin"))
		return origin_detach(pool, disk) ? -EIO : 0;
	if (find_origin(pool, disk, &o) || !o.hydrate)
		return 0;
	return origin_hydrate(pool, disk, (int64_t)o.rate) ? -EIO : 0;
}

/* Drop the entries of disks that are gone or have no origin any more. */
struct prune {
	const struct record_list *disks;
	struct origin gone[16];
	unsigned int nr_gone;
};

static int prune_store(struct origin_store *s, void *arg)
{
	struct prune *p = arg;
	unsigned int i = 0, d;

	while (i < s->nr) {
		const struct origin *o = &s->entries[i];
		bool keep = false;

		for (d = 0; d < p->disks->nr; d++) {
			const struct record *rec = &p->disks->records[d];

			if (record_u64(rec, "id") == o->disk_id &&
			    record_u64(rec, "created") == o->created &&
			    record_u64(rec, "external_origin"))
				keep = true;
		}
		if (keep) {
			i++;
			continue;
		}
		if (p->nr_gone < 16)
			p->gone[p->nr_gone++] = *o;
		origin_store_remove(s, o->disk_id);
	}
	return 0;
}

int origins_activate(const char *pool, bool after)
{
	struct record_list disks;
	struct prune p = { 0 };
	unsigned int i;
	int r, failed = 0;

	r = poolctl_list_disks(pool, &disks);
	if (r)
		return message_failed("listing disks", r);
	for (i = 0; i < disks.nr; i++) {
		const struct record *d = &disks.records[i];

		if (!record_u64(d, "external_origin"))
			continue;
		r = after ? resume_disk(pool, d) : prepare_disk(pool, d);
		if (r && !failed)
			failed = r;
	}
	if (after) {
		p.disks = &disks;
		r = store_change(pool, prune_store, &p);
		for (i = 0; !r && i < p.nr_gone; i++)
			origin_unserve_unused(pool, &p.gone[i]);
	}
	record_list_free(&disks);
	return failed ? exit_for_errno(failed) : r;
}
