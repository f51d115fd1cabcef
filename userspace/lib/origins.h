/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The external origins of a pool's disks (Documentation/dm-row.rst,
 * "External origins"), as snapctl must remember them.
 *
 * The pool's metadata keeps only an origin's length and how much of it is
 * hydrated: which device the origin is, the kernel takes from each table
 * line.  So snapctl keeps, per disk, what the origin is, to load the
 * disk's tables again after a reboot: a block device (a template disk's
 * golden image), or an export served read-only through NBD (an instant
 * import), which may come back on another /dev/nbdN; and the hydration the
 * operator asked for, to start it again.
 *
 * The store: one file per pool, <SNAPCTL_CONFIG_DIR>/<pool>.origins,
 * beside the pool's definition (default /etc/dm-row/pools/<pool>.origins)
 *
 *   dm-row-origins 1
 *   disk id=<id> created=<time> device=<path> rate=<bytes per second|->
 *   disk id=<id> created=<time> url=<url> export=<name> [key_file=<path>] [root=<hex>] rate=<...>
 *   crc32c=<8 hex digits>
 *
 * rate=- is a hydration not asked for, or paused; 0 is as fast as it goes.
 * root= is the export's root checksum when the disk was made from it: an
 * export deleted and made again under the same name holds other data, and
 * is never served as the origin (an entry without it is served by name).
 * Values are %-encoded (every byte outside 0x21-0x7e, and '%').  A disk id
 * can come back after its record is gone: an entry counts only for the disk
 * created at its time.  Written atomically (write_file_atomic()); writers
 * take an flock of <SNAPCTL_RUN_DIR>/origins-<pool>.lock and read, change
 * and write under it.
 */
#ifndef SNAPCTL_ORIGINS_H
#define SNAPCTL_ORIGINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"		/* CHUNK_ID_LEN: an export's root checksum is one */

#define ORIGIN_PATH_MAX 1024
#define ORIGIN_EXPORT_MAX 128
#define ORIGIN_ROOT_MAX CHUNK_ID_LEN	/* hex digits of an export's root checksum */

struct origin {
	uint64_t disk_id;
	uint64_t created;		/* the disk's creation time */
	char device[ORIGIN_PATH_MAX];	/* a block device; "" for a served export */
	char url[ORIGIN_PATH_MAX];	/* a served export: its repository, */
	char export_name[ORIGIN_EXPORT_MAX];	/* its name */
	char key_file[ORIGIN_PATH_MAX];	/* and its key ("": unencrypted) */
	char root[ORIGIN_ROOT_MAX + 1];	/* and its root checksum ("": unknown) */
	bool hydrate;			/* hydration asked for, at @rate */
	uint64_t rate;			/* bytes per second; 0: as fast as it goes */
};

static inline bool origin_is_export(const struct origin *o)
{
	return !o->device[0];
}

struct origin_store {
	unsigned int nr;
	struct origin *entries;
};

/* Is @o whole: a device, or a url and an export, not both; values that fit? */
bool origin_valid(const struct origin *o);

void origin_store_free(struct origin_store *s);
int origin_store_format(const struct origin_store *s, char **text, size_t *len);
/* -EILSEQ with @err saying where and why for a damaged text. */
int origin_store_parse(struct origin_store *s, const char *text, size_t len, char *err,
		       size_t errlen);

/* <config dir>/<pool>.origins */
const char *origin_store_path(const char *pool, char *buf, size_t len);
/* Read a pool's store (empty if there is no file); no lock needed. */
int origin_store_load(const char *pool, struct origin_store *s, char *err, size_t errlen);

/* A change: lock, load; commit saves; end unlocks and frees in every case. */
struct origin_txn {
	int lock_fd;
	char pool[64];
};
int origin_store_begin(struct origin_txn *txn, const char *pool, struct origin_store *s,
		       char *err, size_t errlen);
int origin_store_commit(struct origin_txn *txn, const struct origin_store *s);
void origin_store_end(struct origin_txn *txn, struct origin_store *s);

/* The entry of disk @id created at @created; NULL if none. */
struct origin *origin_store_find(const struct origin_store *s, uint64_t id, uint64_t created);
/* Add or replace the entry of @o->disk_id.  -EINVAL if @o is not valid. */
int origin_store_put(struct origin_store *s, const struct origin *o);
/* Drop the entry of disk @id; false if there was none. */
bool origin_store_remove(struct origin_store *s, uint64_t id);
/* Does an entry other than disk @except's use the export @url/@export_name? */
bool origin_store_uses_export(const struct origin_store *s, const char *url,
			      const char *export_name, uint64_t except);

#endif
