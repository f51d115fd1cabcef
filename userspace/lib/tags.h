/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Descriptions and key=value tags of disks and snapshots, and the store
 * that holds them.
 *
 * Where they live.  Tags describe resources for the people and scripts that
 * manage them (who owns a disk, why a snapshot was taken); the I/O path and
 * the pool's metadata never need them.  A cloud service keeps them the same
 * way: in its control plane's records, beside the volumes, not in the
 * volumes.  So they live in snapctl's state directory, next to the policy
 * store, and not in the pool's metadata: no on-disk format change, no
 * kernel message to carry free text, nothing taken from the metadata space
 * and its reserve.  The cost is that they stay on the host: moving a pool's
 * devices to another host moves its tags only with the file (or through an
 * export, whose manifest carries them).
 *
 * Staleness.  An entry is keyed by the pool's uuid (a pool made again is
 * another pool) and the object's id: a snapshot id is never given out twice
 * in a pool, and a disk id can come back only after the disk's record is
 * gone, so a disk's entry also holds the disk's creation time and counts
 * only for the disk created then.  An entry therefore never attaches to
 * another object, whoever deleted its own.  Entries of objects that are
 * gone are dropped by tag_store_prune(): snapctl runs it after every
 * command that deletes snapshots or disks (delete, merge, disk remove),
 * after every pass of the scheduler (retention and the automatic quota
 * delete snapshots), and whenever it changes the store of a pool, so that
 * a deletion done behind snapctl's back (a raw dmsetup message) is swept
 * too.
 *
 * The store: <SNAPCTL_STATE_DIR>/tags (default /var/lib/dm-row/tags)
 *
 *   dm-row-tags 1
 *   disk uuid=<pool uuid> id=<disk id> created=<time> description=<text> tag.<key>=<value>...
 *   snapshot uuid=<pool uuid> id=<snapshot id> description=<text> tag.<key>=<value>...
 *   crc32c=<8 hex digits>
 *
 * Descriptions and values are %-encoded (every byte outside 0x21-0x7e, and
 * '%'); keys never need it.  The checksum covers every byte before its
 * line.  Written atomically (write_file_atomic()); writers take an flock
 * of <SNAPCTL_STATE_DIR>/tags.lock and read, change and write under it.
 */
#ifndef SNAPCTL_TAGS_H
#define SNAPCTL_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAG_KEY_MAX 128		/* bytes */
#define TAG_VALUE_MAX 256	/* bytes */
#define TAGS_MAX 20		/* tags on one disk or snapshot */
#define DESCRIPTION_MAX 256	/* bytes of UTF-8 */

struct tag {
	char *key;
	char *value;
};

/* What describes one disk or snapshot: a description and tags sorted by key. */
struct tag_set {
	char *description;		/* NULL or "": none */
	unsigned int nr;
	struct tag *tags;
};

/*----------------------------------------------------------------
 * Validation and parsing
 *--------------------------------------------------------------*/

/* 1 to 128 of A-Z a-z 0-9 and _ . : / + - @ */
bool tag_key_valid(const char *key);
/* 0 to 256 of A-Z a-z 0-9, space and _ . : / + - @ = */
bool tag_value_valid(const char *value);
/* 0 to 256 bytes of UTF-8 without control characters. */
bool description_valid(const char *text);

/*
 * "key=value" into @key and @value (malloc'd).  With @key_only_ok, "key"
 * alone gives *value NULL (a filter: the key with any value).  -EINVAL with
 * the reason in @err, -ENOMEM.
 */
int tag_parse(const char *arg, bool key_only_ok, char **key, char **value, char *err,
	      size_t errlen);

/*----------------------------------------------------------------
 * Tag sets
 *--------------------------------------------------------------*/

void tag_set_free(struct tag_set *s);
int tag_set_copy(struct tag_set *dst, const struct tag_set *src);
bool tag_set_empty(const struct tag_set *s);
/* The value of @key, NULL if the set has no such tag. */
const char *tag_set_get(const struct tag_set *s, const char *key);
/* Add or replace (keys stay sorted).  -E2BIG past TAGS_MAX, -ENOMEM. */
int tag_set_put(struct tag_set *s, const char *key, const char *value);
/* Remove @key; false if it was not there. */
bool tag_set_remove(struct tag_set *s, const char *key);
int tag_set_describe(struct tag_set *s, const char *text);
/* Does @s have every filter's key, with its value (a NULL value: any)? */
bool tag_set_matches(const struct tag_set *s, const struct tag *filters, unsigned int nr);
/* "k=v,k2=v2" into @buf (cut short if need be), "-" for no tags. */
const char *tag_set_format(const struct tag_set *s, char *buf, size_t len);

/*
 * A change asked for on the command line: tags to remove, then tags to set,
 * then maybe a new description.  All of it applies or none.
 */
struct tag_edit {
	unsigned int nr_set, nr_unset;
	struct tag set[TAGS_MAX];
	char *unset[TAGS_MAX];
	const char *description;	/* NULL: unchanged; "": cleared */
};

void tag_edit_init(struct tag_edit *e);
void tag_edit_free(struct tag_edit *e);
bool tag_edit_empty(const struct tag_edit *e);
/* Add a "key=value" (--tag) or "key" (--untag).  -EINVAL, -E2BIG with @err. */
int tag_edit_add_set(struct tag_edit *e, const char *arg, char *err, size_t errlen);
int tag_edit_add_unset(struct tag_edit *e, const char *key, char *err, size_t errlen);
int tag_edit_describe(struct tag_edit *e, const char *text, char *err, size_t errlen);
/* Apply @e to @s; on failure (-E2BIG: too many tags, @err says) @s is unchanged. */
int tag_edit_apply(const struct tag_edit *e, struct tag_set *s, char *err, size_t errlen);

/*----------------------------------------------------------------
 * The store
 *--------------------------------------------------------------*/

enum tag_object { TAG_DISK, TAG_SNAPSHOT };

struct tag_entry {
	enum tag_object kind;
	char uuid[40];			/* the pool's */
	uint64_t id;
	uint64_t created;		/* disks: the disk's creation time; snapshots: 0 */
	struct tag_set set;
};

struct tag_store {
	unsigned int nr;
	struct tag_entry *entries;
};

void tag_store_free(struct tag_store *s);
int tag_store_format(const struct tag_store *s, char **text, size_t *len);
/* -EILSEQ with @err saying where and why for a damaged text. */
int tag_store_parse(struct tag_store *s, const char *text, size_t len, char *err,
		    size_t errlen);

/* <state dir>/tags */
const char *tag_store_path(char *buf, size_t len);
/* Read the store (empty if there is no file); no lock needed. */
int tag_store_load(struct tag_store *s, char *err, size_t errlen);

/* A change: lock, load; commit saves; end unlocks and frees in every case. */
struct tag_txn {
	int lock_fd;
};
int tag_store_begin(struct tag_txn *txn, struct tag_store *s, char *err, size_t errlen);
int tag_store_commit(struct tag_txn *txn, const struct tag_store *s);
void tag_store_end(struct tag_txn *txn, struct tag_store *s);

/* The entry of an object; a disk's only if @created matches.  NULL if none. */
struct tag_entry *tag_store_find(const struct tag_store *s, enum tag_object kind,
				 const char *uuid, uint64_t id, uint64_t created);
/* The entry of an object id, whatever its creation time.  NULL if none. */
struct tag_entry *tag_store_find_id(const struct tag_store *s, enum tag_object kind,
				    const char *uuid, uint64_t id);
/* Give the object a copy of @set (none at all if it is empty). */
int tag_store_put(struct tag_store *s, enum tag_object kind, const char *uuid, uint64_t id,
		  uint64_t created, const struct tag_set *set);
void tag_store_remove(struct tag_store *s, enum tag_object kind, const char *uuid, uint64_t id);
/* Has the store any entry of pool @uuid? */
bool tag_store_has_pool(const struct tag_store *s, const char *uuid);
/*
 * Drop the entries of pool @uuid whose object @exists says is gone; returns
 * how many.  Entries of other pools are kept.
 */
unsigned int tag_store_prune(struct tag_store *s, const char *uuid,
			     bool (*exists)(void *arg, enum tag_object kind, uint64_t id,
					    uint64_t created),
			     void *arg);

#endif
