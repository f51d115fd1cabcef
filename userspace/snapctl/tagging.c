// SPDX-License-Identifier: GPL-2.0
/*
 * Descriptions and tags on the command line; see tagging.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagging.h"

int tag_option(const struct snapctl_cmd *cmd, int c, const char *arg, struct tag_edit *e)
{
	char err[300];
	int r;

	if (c == OPT_TAG)
		r = tag_edit_add_set(e, arg, err, sizeof(err));
	else if (c == OPT_UNTAG)
		r = tag_edit_add_unset(e, arg, err, sizeof(err));
	else
		r = tag_edit_describe(e, arg, err, sizeof(err));
	if (r == -ENOMEM)
		return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	return r ? snapctl_usage_error(cmd, "%s", err) : 0;
}

int tag_filter_add(const struct snapctl_cmd *cmd, struct tag_filter *f, const char *arg)
{
	char err[300];
	int r;

	if (f->nr == TAGS_MAX)
		return snapctl_usage_error(cmd, "at most %d --tag filters", TAGS_MAX);
	r = tag_parse(arg, true, &f->tags[f->nr].key, &f->tags[f->nr].value, err, sizeof(err));
	if (r == -ENOMEM)
		return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	if (r)
		return snapctl_usage_error(cmd, "%s", err);
	f->nr++;
	return 0;
}

void tag_filter_free(struct tag_filter *f)
{
	unsigned int i;

	for (i = 0; i < f->nr; i++) {
		free(f->tags[i].key);
		free(f->tags[i].value);
	}
	f->nr = 0;
}

/*----------------------------------------------------------------*/

static int tag_store_failed(int r, const char *err)
{
	char path[512];

	tag_store_path(path, sizeof(path));
	if (r == -EILSEQ)
		return fail_with(EXIT_CORRUPT, "the tag store %s is damaged: %s; restore it from a backup, or move it aside (the tags are lost)",
				 path, err && *err ? err : "unreadable");
	return fail_with(EXIT_FAILURE_GENERIC, "cannot use the tag store %s: %s", path, strerror(-r));
}

static int pool_uuid(const char *pool, char *uuid, size_t len)
{
	struct record info;
	int r = pool_info(pool, &info);

	if (r)
		return message_failed("reading the pool's uuid", r);
	snprintf(uuid, len, "%s", record_get(&info, "uuid") ? record_get(&info, "uuid") : "");
	record_free(&info);
	if (!uuid[0])
		return fail_with(EXIT_FAILURE_GENERIC, "pool '%s' reports no uuid", pool);
	return 0;
}

int pool_tags_load(const char *pool, struct pool_tags *pt, bool needed)
{
	char err[256], path[512];
	int r;

	memset(pt, 0, sizeof(*pt));
	r = pool_uuid(pool, pt->uuid, sizeof(pt->uuid));
	if (r)
		return r;
	r = tag_store_load(&pt->store, err, sizeof(err));
	if (!r)
		return 0;
	if (needed)
		return tag_store_failed(r, err);
	fprintf(stderr, "snapctl: warning: tags and descriptions are left out: the tag store %s %s%s\n",
		tag_store_path(path, sizeof(path)), r == -EILSEQ ? "is damaged: " : "cannot be read: ",
		r == -EILSEQ ? err : strerror(-r));
	return 0;
}

void pool_tags_free(struct pool_tags *pt)
{
	tag_store_free(&pt->store);
}

static const struct tag_set no_tags;

const struct tag_set *disk_tags(const struct pool_tags *pt, const struct record *disk)
{
	const struct tag_entry *e = tag_store_find(&pt->store, TAG_DISK, pt->uuid,
						   record_u64(disk, "id"),
						   record_u64(disk, "created"));

	return e ? &e->set : &no_tags;
}

const struct tag_set *snapshot_tags(const struct pool_tags *pt, uint64_t snapshot)
{
	const struct tag_entry *e = tag_store_find(&pt->store, TAG_SNAPSHOT, pt->uuid, snapshot, 0);

	return e ? &e->set : &no_tags;
}

void tags_json(struct json *j, const struct tag_set *s)
{
	unsigned int i;

	json_string(j, "description", s->description ? s->description : "");
	json_begin_object(j, "tags");
	for (i = 0; i < s->nr; i++)
		json_string(j, s->tags[i].key, s->tags[i].value);
	json_end_object(j);
}

void tags_print(const struct tag_set *s)
{
	unsigned int i;

	printf("%-16s %s\n", "description", s->description && *s->description ?
	       s->description : "-");
	for (i = 0; i < s->nr; i++)
		printf("%-16s %s=%s\n", "tag", s->tags[i].key, s->tags[i].value);
}

/*----------------------------------------------------------------
 * Keeping the store in step with the pool
 *--------------------------------------------------------------*/

struct pool_objects {
	unsigned int nr_disks, nr_snapshots;
	struct {
		uint64_t id, created;
	} *disks;
	uint64_t *snapshots;
};

static void pool_objects_free(struct pool_objects *o)
{
	free(o->disks);
	free(o->snapshots);
	memset(o, 0, sizeof(*o));
}

/* Every disk and snapshot the pool has now, removed disks included. */
static int pool_objects_read(const char *pool, struct pool_objects *o)
{
	struct record_list disks, snaps;
	unsigned int d, s;
	void *grown;
	int r;

	memset(o, 0, sizeof(*o));
	r = poolctl_list_disks(pool, &disks);
	if (r)
		return r;
	o->disks = calloc(disks.nr + 1, sizeof(*o->disks));
	if (!o->disks) {
		record_list_free(&disks);
		return -ENOMEM;
	}
	for (d = 0; d < disks.nr && !r; d++) {
		const struct record *disk = &disks.records[d];

		o->disks[o->nr_disks].id = record_u64(disk, "id");
		o->disks[o->nr_disks].created = record_u64(disk, "created");
		o->nr_disks++;
		r = poolctl_list_snapshots(pool, record_u64(disk, "id"), &snaps);
		if (r)
			break;
		grown = realloc(o->snapshots, (o->nr_snapshots + snaps.nr + 1) * sizeof(uint64_t));
		if (!grown) {
			r = -ENOMEM;
		} else {
			o->snapshots = grown;
			for (s = 0; s < snaps.nr; s++)
				o->snapshots[o->nr_snapshots++] = record_u64(&snaps.records[s], "id");
		}
		record_list_free(&snaps);
	}
	record_list_free(&disks);
	if (r)
		pool_objects_free(o);
	return r;
}

static bool object_exists(void *arg, enum tag_object kind, uint64_t id, uint64_t created)
{
	const struct pool_objects *o = arg;
	unsigned int i;

	if (kind == TAG_DISK) {
		for (i = 0; i < o->nr_disks; i++)
			if (o->disks[i].id == id && o->disks[i].created == created)
				return true;
		return false;
	}
	for (i = 0; i < o->nr_snapshots; i++)
		if (o->snapshots[i] == id)
			return true;
	return false;
}

/* Drop the entries of @uuid's gone objects from @store; false if the pool could not be read. */
static bool prune_store(const char *pool, const char *uuid, struct tag_store *store,
			unsigned int *dropped)
{
	struct pool_objects o;

	*dropped = 0;
	if (pool_objects_read(pool, &o))
		return false;
	*dropped = tag_store_prune(store, uuid, object_exists, &o);
	pool_objects_free(&o);
	return true;
}

static int change_tags(const char *pool, enum tag_object kind, uint64_t id, uint64_t created,
		       const struct tag_edit *e, const struct tag_set *set)
{
	char uuid[40], err[300];
	struct tag_store store;
	struct tag_set next = { 0 };
	struct tag_entry *entry;
	struct tag_txn txn;
	unsigned int dropped;
	int r;

	r = pool_uuid(pool, uuid, sizeof(uuid));
	if (r)
		return r;
	r = tag_store_begin(&txn, &store, err, sizeof(err));
	if (r) {
		r = tag_store_failed(r, err);
		tag_store_end(&txn, &store);
		return r;
	}
	dropped = 0;
	if (tag_store_has_pool(&store, uuid))
		prune_store(pool, uuid, &store, &dropped);
	if (set) {
		r = tag_set_copy(&next, set);
	} else {
		entry = tag_store_find(&store, kind, uuid, id, created);
		r = entry ? tag_set_copy(&next, &entry->set) : 0;
		if (!r)
			r = tag_edit_apply(e, &next, err, sizeof(err));
	}
	/* Nothing to write for an untagged new object the store knows nothing of. */
	if (!r && (!tag_set_empty(&next) || dropped || tag_store_find_id(&store, kind, uuid, id))) {
		r = tag_store_put(&store, kind, uuid, id, created, &next);
		if (!r)
			r = tag_store_commit(&txn, &store);
	}
	tag_set_free(&next);
	tag_store_end(&txn, &store);
	if (r == -E2BIG)
		return fail_with(EXIT_USAGE, "%s; nothing was changed", err);
	return r ? tag_store_failed(r, NULL) : 0;
}

int tags_edit(const char *pool, enum tag_object kind, uint64_t id, uint64_t created,
	      const struct tag_edit *e)
{
	return change_tags(pool, kind, id, created, e, NULL);
}

int tags_replace(const char *pool, enum tag_object kind, uint64_t id, uint64_t created,
		 const struct tag_set *set)
{
	return change_tags(pool, kind, id, created, NULL, set);
}

void tags_prune(const char *pool)
{
	char uuid[40], err[300], path[512];
	struct tag_store store;
	struct record info;
	struct tag_txn txn;
	unsigned int dropped;
	int r;

	/* Cheap when the pool has no tags: no lock, no listing. */
	if (pool_info(pool, &info))
		return;
	snprintf(uuid, sizeof(uuid), "%s", record_get(&info, "uuid") ? record_get(&info, "uuid") : "");
	record_free(&info);
	if (tag_store_load(&store, err, sizeof(err)))
		return;		/* a damaged store is reported where it is used */
	r = tag_store_has_pool(&store, uuid);
	tag_store_free(&store);
	if (!r || !uuid[0])
		return;

	r = tag_store_begin(&txn, &store, err, sizeof(err));
	if (!r && prune_store(pool, uuid, &store, &dropped) && dropped)
		r = tag_store_commit(&txn, &store);
	tag_store_end(&txn, &store);
	if (r)
		fprintf(stderr, "snapctl: warning: could not drop the tags of deleted objects from %s: %s\n",
			tag_store_path(path, sizeof(path)), r == -EILSEQ ? err : strerror(-r));
}

const struct option tag_edit_options[] = {
	TAG_LONG_OPTIONS,
	UNTAG_LONG_OPTION,
	{ 0 }
};

int tag_edit_args(const struct snapctl_cmd *cmd, int argc, char **argv, const char *what,
		  struct tag_edit *e, int *ind)
{
	int c, i, r;

	while ((c = next_option(cmd, argc, argv, ind)) != -1) {
		r = c == '?' ? EXIT_USAGE : tag_option(cmd, c, optarg, e);
		if (r)
			return r;
	}
	if (argc - *ind < 2)
		return snapctl_usage_error(cmd, "missing the pool or the %s", what);
	for (i = *ind + 2; i < argc; i++) {
		r = tag_option(cmd, OPT_TAG, argv[i], e);
		if (r)
			return r;
	}
	if (tag_edit_empty(e))
		return snapctl_usage_error(cmd, "nothing to change: give tags (key=value), --untag or --description");
	return 0;
}
