// SPDX-License-Identifier: GPL-2.0
/*
 * Talking to a row-pool through its messages; see poolctl.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmctl.h"
#include "poolctl.h"

int record_parse(const char *line, struct record *rec)
{
	char *cursor, *word;

	memset(rec, 0, sizeof(*rec));
	rec->buf = strdup(line);
	if (!rec->buf)
		return -ENOMEM;
	cursor = rec->buf;
	rec->kind = strsep(&cursor, " ");
	while ((word = strsep(&cursor, " "))) {
		char *eq = strchr(word, '=');

		if (!eq || rec->nr_fields == RECORD_MAX_FIELDS)
			continue;
		*eq = '\0';
		rec->keys[rec->nr_fields] = word;
		rec->values[rec->nr_fields] = eq + 1;
		rec->nr_fields++;
	}
	return 0;
}

void record_free(struct record *rec)
{
	free(rec->buf);
	memset(rec, 0, sizeof(*rec));
}

const char *record_get(const struct record *rec, const char *key)
{
	unsigned int i;

	for (i = 0; i < rec->nr_fields; i++)
		if (!strcmp(rec->keys[i], key))
			return rec->values[i];
	return NULL;
}

uint64_t record_u64(const struct record *rec, const char *key)
{
	const char *v = record_get(rec, key);

	return v ? strtoull(v, NULL, 10) : 0;
}

void record_list_free(struct record_list *list)
{
	unsigned int i;

	for (i = 0; i < list->nr; i++)
		record_free(&list->records[i]);
	free(list->records);
	list->records = NULL;
	list->nr = 0;
}

/* Add the answer's lines to @list; *next gets a "next=" value (0: none). */
static int collect(const char *answer, struct record_list *list, uint64_t *next)
{
	const char *line = answer;

	*next = 0;
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[1024];

		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (!strncmp(buf, "next=", 5)) {
			*next = strtoull(buf + 5, NULL, 10);
		} else if (len && list) {
			struct record *grown = realloc(list->records,
						       (list->nr + 1) * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			list->records = grown;
			if (record_parse(buf, &list->records[list->nr]))
				return -ENOMEM;
			list->nr++;
		}
		line = end ? end + 1 : NULL;
	}
	return 0;
}

static int vsend(const char *pool, struct record_list *list, uint64_t *next,
		 const char *fmt, va_list ap)
{
	char message[1024], *answer = NULL;
	uint64_t ignored;
	int r;

	vsnprintf(message, sizeof(message), fmt, ap);
	r = dmctl_message(pool, message, &answer);
	if (!r)
		r = collect(answer ? answer : "", list, next ? next : &ignored);
	free(answer);
	return r;
}

int pool_send(const char *pool, struct record_list *list, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (list)
		memset(list, 0, sizeof(*list));
	va_start(ap, fmt);
	r = vsend(pool, list, NULL, fmt, ap);
	va_end(ap);
	return r;
}

static int send_page(const char *pool, struct record_list *list, uint64_t *next,
		     const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsend(pool, list, next, fmt, ap);
	va_end(ap);
	return r;
}

int pool_list(const char *pool, const char *verb, const char *args, struct record_list *list)
{
	uint64_t next = 0;
	bool first = true;
	int r;

	memset(list, 0, sizeof(*list));
	do {
		if (first)
			r = send_page(pool, list, &next, "%s%s%s", verb, *args ? " " : "", args);
		else
			r = send_page(pool, list, &next, "%s%s%s %" PRIu64, verb, *args ? " " : "",
				      args, next);
		first = false;
	} while (!r && next);
	if (r)
		record_list_free(list);
	return r;
}

static int take_first(struct record_list *list, struct record *rec)
{
	if (!list->nr) {
		record_list_free(list);
		return -ENOENT;
	}
	*rec = list->records[0];
	memset(&list->records[0], 0, sizeof(list->records[0]));
	record_list_free(list);
	return 0;
}

int pool_info(const char *pool, struct record *info)
{
	struct record_list list;
	int r = pool_send(pool, &list, "info pool");

	return r ? r : take_first(&list, info);
}

void pool_space_of(const struct record *info, struct pool_space *sp)
{
	sp->block_bytes = record_u64(info, "block_size") << 9;
	sp->data_bytes = record_u64(info, "data_blocks") * sp->block_bytes;
	sp->data_used_bytes = record_u64(info, "data_used") * sp->block_bytes;
	sp->metadata_bytes = record_u64(info, "metadata_blocks") * POOL_METADATA_BLOCK_BYTES;
	sp->metadata_used_bytes = record_u64(info, "metadata_used") * POOL_METADATA_BLOCK_BYTES;
}

/* The one record of a "space" answer; zeroes if there is none. */
static int space_record(const char *pool, const char *what, uint64_t id, const char *const keys[3],
			uint64_t *values[3])
{
	struct record_list list;
	unsigned int i;
	int r;

	for (i = 0; i < 3; i++)
		*values[i] = 0;
	r = pool_send(pool, &list, "space %s %" PRIu64, what, id);
	if (r)
		return r;
	for (i = 0; list.nr && i < 3; i++)
		*values[i] = record_u64(&list.records[0], keys[i]);
	record_list_free(&list);
	return 0;
}

int pool_disk_space(const char *pool, uint64_t disk, struct disk_space *sp)
{
	static const char *const keys[3] = { "chain_blocks", "live_delta_blocks", "mapped_blocks" };
	uint64_t *values[3] = { &sp->chain_blocks, &sp->live_delta_blocks, &sp->mapped_blocks };

	return space_record(pool, "disk", disk, keys, values);
}

int pool_snapshot_space(const char *pool, uint64_t snapshot, struct snapshot_space *sp)
{
	static const char *const keys[3] = { "delta_blocks", "exclusive_blocks", "mapped_blocks" };
	uint64_t *values[3] = { &sp->delta_blocks, &sp->exclusive_blocks, &sp->mapped_blocks };

	return space_record(pool, "snapshot", snapshot, keys, values);
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int pool_find_disk(const char *pool, const char *disk, struct record *rec)
{
	struct record_list list;
	unsigned int i;
	int r;

	if (is_number(disk)) {
		r = pool_send(pool, &list, "info disk %s", disk);
		if (r == -ENODATA)
			return -ENOENT;
		return r ? r : take_first(&list, rec);
	}
	r = pool_list(pool, "list_disks", "", &list);
	if (r)
		return r;
	for (i = 0; i < list.nr; i++) {
		const char *name = record_get(&list.records[i], "name");

		if (name && !strcmp(name, disk)) {
			*rec = list.records[i];
			memset(&list.records[i], 0, sizeof(list.records[i]));
			record_list_free(&list);
			return 0;
		}
	}
	record_list_free(&list);
	return -ENOENT;
}

int pool_find_snapshot(const char *pool, uint64_t disk_id, const char *snap,
		       struct record *rec)
{
	struct record_list disks, snaps;
	bool found = false;
	unsigned int d, s;
	char arg[32];
	int r;

	if (is_number(snap)) {
		r = pool_send(pool, &snaps, "info snapshot %s", snap);
		if (r == -ENODATA)
			return -ENOENT;
		if (r)
			return r;
		r = take_first(&snaps, rec);
		if (!r && disk_id && record_u64(rec, "disk") != disk_id) {
			record_free(rec);
			r = -ENOENT;
		}
		return r;
	}
	r = pool_list(pool, "list_disks", "", &disks);
	if (r)
		return r;
	for (d = 0; d < disks.nr && !r; d++) {
		uint64_t id = record_u64(&disks.records[d], "id");

		if (disk_id && id != disk_id)
			continue;
		snprintf(arg, sizeof(arg), "%" PRIu64, id);
		r = pool_list(pool, "list_snapshots", arg, &snaps);
		for (s = 0; !r && s < snaps.nr; s++) {
			const char *name = record_get(&snaps.records[s], "name");

			if (!name || strcmp(name, snap))
				continue;
			if (found) {
				r = -EEXIST;	/* the same name on two disks */
				record_free(rec);
				break;
			}
			*rec = snaps.records[s];
			memset(&snaps.records[s], 0, sizeof(snaps.records[s]));
			found = true;
		}
		record_list_free(&snaps);
	}
	record_list_free(&disks);
	if (r)
		return r;
	return found ? 0 : -ENOENT;
}

static const char *name_or_id(const struct record *rec, char *buf, size_t len)
{
	const char *name = record_get(rec, "name");

	if (name && strcmp(name, "-"))
		return name;
	snprintf(buf, len, "%" PRIu64, record_u64(rec, "id"));
	return buf;
}

void disk_device_name(const char *pool, const struct record *disk, char *buf, size_t len)
{
	char id[32];

	snprintf(buf, len, "%s-%s", pool, name_or_id(disk, id, sizeof(id)));
}

void view_device_name(const char *pool, const struct record *disk,
		      const struct record *snap, char *buf, size_t len)
{
	char a[32], b[32];

	snprintf(buf, len, "%s-%s@%s", pool, name_or_id(disk, a, sizeof(a)),
		 name_or_id(snap, b, sizeof(b)));
}

void device_uuid(const char *pool_uuid, const char *what, uint64_t id, char *buf, size_t len)
{
	if (id)
		snprintf(buf, len, "DMROW-%s-%s-%" PRIu64, pool_uuid, what, id);
	else
		snprintf(buf, len, "DMROW-%s-%s", pool_uuid, what);
}

int parse_size(const char *s, uint64_t *bytes)
{
	static const char units[] = "KMGTP";
	unsigned long long value;
	const char *unit;
	char *end;
	int shift = 0;

	/* strtoull() would take blanks, a sign, and wrap "-1" around. */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	value = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || end == s)
		return -EINVAL;
	if (*end) {
		unit = strchr(units, *end >= 'a' ? *end - 32 : *end);
		if (!unit || !*unit)
			return -EINVAL;
		shift = 10 * (int)(unit - units + 1);
		end++;
		if (!strcasecmp(end, "iB") || !strcasecmp(end, "B"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (shift && value > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes = (uint64_t)value << shift;
	return 0;
}

int disk_sectors_at_least(uint64_t bytes, uint64_t block_bytes, uint64_t image_sectors,
			  uint64_t *sectors)
{
	uint64_t blocks;

	if (!bytes) {
		*sectors = image_sectors;
		return 0;
	}
	blocks = bytes / block_bytes + !!(bytes % block_bytes);	/* no wrap near 2^64 */
	if (blocks > ((uint64_t)INT64_MAX >> 9) / (block_bytes >> 9))	/* what a block device can be */
		return -ERANGE;
	if (blocks * (block_bytes >> 9) < image_sectors)
		return -ERANGE;
	*sectors = blocks * (block_bytes >> 9);
	return 0;
}

int parse_logical_block_size(const char *s, unsigned int *bytes)
{
	uint64_t value;

	if (parse_size(s, &value) || (value != 512 && value != 4096))
		return -EINVAL;
	*bytes = (unsigned int)value;
	return 0;
}

unsigned int record_logical_block_size(const struct record *disk)
{
	return record_u64(disk, "logical_block_size") == 4096 ? 4096 : 512;
}

int disk_table_params(char *buf, size_t len, const char *pool, uint64_t disk_id,
		      uint64_t snap_id, unsigned int logical_block_size)
{
	char snap[32] = "", feature[48] = "";
	int n;

	if (snap_id)
		snprintf(snap, sizeof(snap), " %" PRIu64, snap_id);
	if (logical_block_size != 512)
		snprintf(feature, sizeof(feature), " logical_block_size=%u", logical_block_size);
	n = snprintf(buf, len, "/dev/mapper/%s %" PRIu64 "%s%s", pool, disk_id, snap, feature);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
