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

/* Send "words..." to pool @pool; the answer's records go to @list (may be NULL). */
int pool_send(const char *pool, struct record_list *list, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A listing message that pages with "next=": "<verb> <args> [<from>]". */
int pool_list(const char *pool, const char *verb, const char *args, struct record_list *list);

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
 * the table feature.  -ENAMETOOLONG if @len is too short.
 */
int disk_table_params(char *buf, size_t len, const char *pool, uint64_t disk_id,
		      uint64_t snap_id, unsigned int logical_block_size);

#endif
