/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Descriptions and tags on the command line: the --tag, --untag and
 * --description options, list filters, showing them, and keeping the tag
 * store (tags.h) in step with the pools.
 */
#ifndef SNAPCTL_TAGGING_H
#define SNAPCTL_TAGGING_H

#include "common.h"
#include "json.h"
#include "tags.h"

/* Option letters of the commands that take them. */
#define OPT_TAG 'T'
#define OPT_UNTAG 'U'
#define OPT_DESCRIPTION 'D'

#define TAG_LONG_OPTIONS \
	{ "tag", required_argument, NULL, OPT_TAG }, \
	{ "description", required_argument, NULL, OPT_DESCRIPTION }
#define UNTAG_LONG_OPTION { "untag", required_argument, NULL, OPT_UNTAG }

/* The options of 'disk tag' and 'snapshot tag': --tag, --description, --untag. */
extern const struct option tag_edit_options[];

/* Take one of those options into @e; 0, or the exit code of a usage error. */
int tag_option(const struct snapctl_cmd *cmd, int c, const char *arg, struct tag_edit *e);

/*
 * The arguments of 'disk tag' and 'snapshot tag': options, then the pool,
 * the @what, and key=value words.  *@ind: where the pool is.  0 if there
 * is something to change, else the exit code of a usage error.
 */
int tag_edit_args(const struct snapctl_cmd *cmd, int argc, char **argv, const char *what,
		  struct tag_edit *e, int *ind);

/* A listing's --tag filters: all must match ("key" alone: any value). */
struct tag_filter {
	unsigned int nr;
	struct tag tags[TAGS_MAX];
};
int tag_filter_add(const struct snapctl_cmd *cmd, struct tag_filter *f, const char *arg);
void tag_filter_free(struct tag_filter *f);

/* The tags of one pool, read once for a listing. */
struct pool_tags {
	char uuid[40];
	struct tag_store store;
};
/*
 * 0, or the exit code after saying why.  A store that cannot be read is an
 * error if @needed (filters), else a warning and no tags.
 */
int pool_tags_load(const char *pool, struct pool_tags *pt, bool needed);
void pool_tags_free(struct pool_tags *pt);
/* Never NULL: an empty set for an object without tags. */
const struct tag_set *disk_tags(const struct pool_tags *pt, const struct record *disk);
const struct tag_set *snapshot_tags(const struct pool_tags *pt, uint64_t snapshot);

/* "description" (a string, "" for none) and "tags" (an object) members. */
void tags_json(struct json *j, const struct tag_set *s);
/* "description <text>" and "tag <key>=<value>" lines, as 'info' prints fields. */
void tags_print(const struct tag_set *s);

/*
 * Change the tags of one object of @pool: @e applied to what it has
 * (tags_edit), or @set replacing it (tags_replace, for a new object).
 * Also sweeps the entries of the pool's objects that are gone.  0, or the
 * exit code after saying why (nothing is changed then).
 */
int tags_edit(const char *pool, enum tag_object kind, uint64_t id, uint64_t created,
	      const struct tag_edit *e);
int tags_replace(const char *pool, enum tag_object kind, uint64_t id, uint64_t created,
		 const struct tag_set *set);

/*
 * Drop the store's entries of the pool's disks and snapshots that are gone:
 * after deleting snapshots or disks.  Failures are warnings.
 */
void tags_prune(const char *pool);

#endif
