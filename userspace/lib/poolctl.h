/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Talking to a row-pool through its messages (Documentation/dm-row.rst):
 * sending them, reading their "kind key=value ..." records, following
 * "next=" pages, and naming the devices snapctl makes.
 */
#ifndef SNAPCTL_POOLCTL_H
#define SNAPCTL_POOLCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORD_MAX_FIELDS 32

struct record {
	char *kind;			/* "disk", "snapshot", "pool" */
	unsigned int nr_fields;
	char *keys[RECORD_MAX_FIELDS];
	char *values[RECORD_MAX_FIELDS];
	char *buf;
};

struct record_list {
	unsigned int nr;
	struct record *records;
};

int record_parse(const char *line, struct record *rec);
void record_free(struct record *rec);
const char *record_get(const struct record *rec, const char *key);
uint64_t record_u64(const struct record *rec, const char *key);
void record_list_free(struct record_list *list);

/*
 * One function per pool message (the verbs of include/uapi/linux/dm-row.h,
 * their grammar in Documentation/dm-row.rst, "Messages"): each builds its
 * message from typed arguments, sends it to pool @pool and returns 0 or the
 * pool's negative errno.  Arguments no message could carry (an invalid
 * name, too many disks) are -EINVAL, and nothing is sent.  Nothing else
 * writes a message.
 */

/*
 * A name the pool takes for a disk or snapshot, exactly as the kernel
 * checks it: at most DM_ROW_NAME_LEN - 1 printable ASCII characters without
 * blanks; "" is no name.
 */
bool poolctl_name_valid(const char *name);
/*
 * A name snapctl gives a new disk or snapshot: one the pool takes, not
 * empty, and not one its arguments would misread: not starting with a
 * digit (an id), without '/' (<disk>/<snapshot>) or '@' (the device of a
 * view, <pool>-<disk>@<snapshot>).
 */
bool poolctl_new_name_valid(const char *name);
/* What poolctl_new_name_valid() takes, for error messages. */
#define POOLCTL_NAME_RULES \
	"printable, no blanks, '/' or '@', not starting with a digit, at most 63 bytes"

/* list_disks, list_snapshots and diff, every page of them. */
int poolctl_list_disks(const char *pool, struct record_list *list);
int poolctl_list_snapshots(const char *pool, uint64_t disk, struct record_list *list);
/* Runs of changed blocks, "<first>+<count>" records, then one "end". */
int poolctl_diff(const char *pool, uint64_t disk, uint64_t from, uint64_t to,
		 struct record_list *runs);

/* create_disk, remove_disk, resize_disk; sizes in sectors.  @name "" is none. */
int poolctl_create_disk(const char *pool, uint64_t disk, uint64_t sectors, const char *name);
int poolctl_remove_disk(const char *pool, uint64_t disk);
int poolctl_resize_disk(const char *pool, uint64_t disk, uint64_t sectors);

/* set_disk: the attributes to change, at least one; POOLCTL_DISK_ATTRS changes none. */
struct poolctl_disk_attrs {
	const char *name;			/* NULL: unchanged; "": no name */
	int delete_auto_snapshots;		/* 0 or 1; -1: unchanged */
	int64_t policy;				/* 0: none; -1: unchanged */
	unsigned int logical_block_size;	/* 512 or 4096; 0: unchanged */
};
#define POOLCTL_DISK_ATTRS { .delete_auto_snapshots = -1, .policy = -1 }
int poolctl_set_disk(const char *pool, uint64_t disk, const struct poolctl_disk_attrs *attrs);
/* set_disk name=: a new name ("": none). */
static inline int poolctl_set_disk_name(const char *pool, uint64_t disk, const char *name)
{
	struct poolctl_disk_attrs attrs = POOLCTL_DISK_ATTRS;

	attrs.name = name;
	return poolctl_set_disk(pool, disk, &attrs);
}
/* set_disk policy=: the disk's automatic snapshot policy (0: none). */
static inline int poolctl_set_disk_policy(const char *pool, uint64_t disk, uint32_t policy)
{
	struct poolctl_disk_attrs attrs = POOLCTL_DISK_ATTRS;

	attrs.policy = policy;
	return poolctl_set_disk(pool, disk, &attrs);
}

/*
 * set_disk external_origin=: give the disk an external origin of @sectors,
 * or (@sectors 0) take it away once hydrated.
 */
int poolctl_set_disk_origin(const char *pool, uint64_t disk, uint64_t sectors);
/* hydrate: start or re-rate (bytes per second, 0: as fast as it goes), < 0: stop. */
int poolctl_hydrate(const char *pool, uint64_t disk, int64_t rate);

/* snapshot: what the new snapshots record; zeroes are the pool's defaults. */
struct poolctl_snapshot_attrs {
	const char *const *names;	/* one per disk, or NULL: none */
	bool automatic;			/* kind=auto, else manual */
	bool app_consistent;		/* consistency=app, else crash */
	uint32_t policy;
	uint64_t retention;		/* seconds since the epoch; 0: forever */
	int64_t time;			/* the creation time; 0: now, by the pool's clock */
};
/*
 * Snapshot @nr disks (1 to DM_ROW_MAX_SNAPSHOT_DISKS) at one point in time;
 * @ids gets the new snapshots' ids in the order of @disks.
 */
int poolctl_snapshot(const char *pool, const uint64_t *disks, unsigned int nr,
		     const struct poolctl_snapshot_attrs *attrs, uint64_t *ids);
int poolctl_delete_snapshot(const char *pool, uint64_t snapshot);
int poolctl_merge(const char *pool, uint64_t first, uint64_t last);
/* rollback: with @keep_size a disk grown since the snapshot keeps its size. */
int poolctl_rollback(const char *pool, uint64_t disk, uint64_t snapshot, bool keep_size);
/* clone: @name "" is none (then @sectors must be 0); @sectors 0: the snapshot's size. */
int poolctl_clone(const char *pool, uint64_t snapshot, uint64_t new_disk, const char *name,
		  uint64_t sectors);
int poolctl_set_quota(const char *pool, uint32_t manual, uint32_t automatic);

/* info pool */
int pool_info(const char *pool, struct record *info);

/* Bytes per metadata block (DMROW_METADATA_BLOCK_SIZE of the on-disk format). */
#define POOL_METADATA_BLOCK_BYTES 4096

/* A pool's space in bytes, from its "info pool" record. */
struct pool_space {
	uint64_t block_bytes;		/* data block size */
	uint64_t data_bytes, data_used_bytes;
	uint64_t metadata_bytes, metadata_used_bytes;
};
void pool_space_of(const struct record *info, struct pool_space *sp);

/* "space disk <id>" and "space snapshot <id>", in data blocks. */
struct disk_space {
	uint64_t chain_blocks, live_delta_blocks, mapped_blocks;
};
int pool_disk_space(const char *pool, uint64_t disk, struct disk_space *sp);
struct snapshot_space {
	uint64_t delta_blocks, exclusive_blocks, mapped_blocks;
};
int pool_snapshot_space(const char *pool, uint64_t snapshot, struct snapshot_space *sp);
/* The id after the highest of the pool's disks (removed ones too); 1 if it has none. */
uint64_t pool_next_disk_id(const char *pool);
/* A disk by name or numeric id: its record. -ENOENT if none. */
int pool_find_disk(const char *pool, const char *disk, struct record *rec);
/* A snapshot by id, or by name within @disk_id (0: any disk; ambiguity is -EEXIST). */
int pool_find_snapshot(const char *pool, uint64_t disk_id, const char *snap,
		       struct record *rec);

/* Device names: "<pool>-<disk name>", "<pool>-<disk name>@<snapshot name or id>". */
void disk_device_name(const char *pool, const struct record *disk, char *buf, size_t len);
void view_device_name(const char *pool, const struct record *disk,
		      const struct record *snap, char *buf, size_t len);
void device_uuid(const char *pool_uuid, const char *what, uint64_t id, char *buf, size_t len);

/*
 * Parse "10G", "512M", "4096" (bytes; K M G T P, binary; optional "B" or
 * "iB" after the unit) into bytes.  -EINVAL if malformed, -ERANGE if it
 * does not fit in 64 bits.
 */
int parse_size(const char *s, uint64_t *bytes);

/*
 * The size in sectors of a disk made from an image of @image_sectors (a
 * clone of a snapshot, an import): @bytes rounded up to whole data blocks
 * of @block_bytes, or the image's size when @bytes is 0.  -ERANGE if that
 * is smaller than the image or larger than a block device can be.
 */
int disk_sectors_at_least(uint64_t bytes, uint64_t block_bytes, uint64_t image_sectors,
			  uint64_t *sectors);

/* "512", "4096" or "4K" (bytes): the logical block sizes a disk may have. */
int parse_logical_block_size(const char *s, unsigned int *bytes);
/* A disk's logical block size from its record; 512 when it does not say. */
unsigned int record_logical_block_size(const struct record *disk);
/*
 * The "row" target parameters of a disk's device (@snap_id 0) or of a view
 * of one of its snapshots, on /dev/mapper/@pool; 4 KiB logical blocks add
 * the table feature, and an external origin (@origin, a device path, NULL
 * for none) its own.  -ENAMETOOLONG if @len is too short.
 */
int disk_table_params(char *buf, size_t len, const char *pool, uint64_t disk_id,
		      uint64_t snap_id, unsigned int logical_block_size, const char *origin);

#endif
