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

#include <linux/dm-row.h>

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
	char *message, *answer = NULL;
	uint64_t ignored;
	int r;

	if (vasprintf(&message, fmt, ap) < 0)
		return -ENOMEM;
	r = dmctl_message(pool, message, &answer);
	if (!r)
		r = collect(answer ? answer : "", list, next ? next : &ignored);
	free(answer);
	free(message);
	return r;
}

/* Send "words..." to pool @pool; the answer's records go to @list (may be NULL). */
static __attribute__((format(printf, 3, 4)))
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

/* A listing message that pages with "next=": "<verb> <args> [<from>]". */
static int pool_list(const char *pool, const char *verb, const char *args,
		     struct record_list *list)
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
	int r = pool_send(pool, &list, DM_ROW_MSG_INFO " " DM_ROW_OBJECT_POOL);

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
	r = pool_send(pool, &list, DM_ROW_MSG_SPACE " %s %" PRIu64, what, id);
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

	return space_record(pool, DM_ROW_OBJECT_DISK, disk, keys, values);
}

int pool_snapshot_space(const char *pool, uint64_t snapshot, struct snapshot_space *sp)
{
	static const char *const keys[3] = { "delta_blocks", "exclusive_blocks", "mapped_blocks" };
	uint64_t *values[3] = { &sp->delta_blocks, &sp->exclusive_blocks, &sp->mapped_blocks };

	return space_record(pool, DM_ROW_OBJECT_SNAPSHOT, snapshot, keys, values);
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
		r = pool_send(pool, &list, DM_ROW_MSG_INFO " " DM_ROW_OBJECT_DISK " %s", disk);
		if (r == -ENODATA)
			return -ENOENT;
		return r ? r : take_first(&list, rec);
	}
	r = poolctl_list_disks(pool, &list);
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
	int r;

	if (is_number(snap)) {
		r = pool_send(pool, &snaps, DM_ROW_MSG_INFO " " DM_ROW_OBJECT_SNAPSHOT " %s", snap);
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
	r = poolctl_list_disks(pool, &disks);
	if (r)
		return r;
	for (d = 0; d < disks.nr && !r; d++) {
		uint64_t id = record_u64(&disks.records[d], "id");

		if (disk_id && id != disk_id)
			continue;
		r = poolctl_list_snapshots(pool, id, &snaps);
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

uint64_t pool_next_disk_id(const char *pool)
{
	struct record_list disks;
	uint64_t next = 1;
	unsigned int i;

	if (poolctl_list_disks(pool, &disks))
		return next;
	for (i = 0; i < disks.nr; i++)
		if (record_u64(&disks.records[i], "id") >= next)
			next = record_u64(&disks.records[i], "id") + 1;
	record_list_free(&disks);
	return next;
}

/*----------------------------------------------------------------
 * One function per message
 *--------------------------------------------------------------*/

bool poolctl_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++)
		if (i >= DM_ROW_NAME_LEN - 1 || name[i] <= ' ' || name[i] > '~')
			return false;
	return true;
}

bool poolctl_new_name_valid(const char *name)
{
	return name[0] && (name[0] < '0' || name[0] > '9') && !strpbrk(name, "/@") &&
	       poolctl_name_valid(name);
}

int poolctl_list_disks(const char *pool, struct record_list *list)
{
	return pool_list(pool, DM_ROW_MSG_LIST_DISKS, "", list);
}

int poolctl_list_snapshots(const char *pool, uint64_t disk, struct record_list *list)
{
	char arg[24];

	snprintf(arg, sizeof(arg), "%" PRIu64, disk);
	return pool_list(pool, DM_ROW_MSG_LIST_SNAPSHOTS, arg, list);
}

int poolctl_diff(const char *pool, uint64_t disk, uint64_t from, uint64_t to,
		 struct record_list *runs)
{
	char args[72];

	snprintf(args, sizeof(args), "%" PRIu64 " %" PRIu64 " %" PRIu64, disk, from, to);
	return pool_list(pool, DM_ROW_MSG_DIFF, args, runs);
}

int poolctl_create_disk(const char *pool, uint64_t disk, uint64_t sectors, const char *name)
{
	if (!poolctl_name_valid(name))
		return -EINVAL;
	return pool_send(pool, NULL, DM_ROW_MSG_CREATE_DISK " %" PRIu64 " %" PRIu64 "%s%s", disk,
			 sectors, *name ? " " : "", name);
}

int poolctl_remove_disk(const char *pool, uint64_t disk)
{
	return pool_send(pool, NULL, DM_ROW_MSG_REMOVE_DISK " %" PRIu64, disk);
}

int poolctl_resize_disk(const char *pool, uint64_t disk, uint64_t sectors)
{
	return pool_send(pool, NULL, DM_ROW_MSG_RESIZE_DISK " %" PRIu64 " %" PRIu64, disk, sectors);
}

int poolctl_set_disk(const char *pool, uint64_t disk, const struct poolctl_disk_attrs *attrs)
{
	char name[DM_ROW_NAME_LEN + 8] = "", del[32] = "", policy[32] = "", lbs[40] = "";

	if (attrs->name) {
		if (!poolctl_name_valid(attrs->name))
			return -EINVAL;
		snprintf(name, sizeof(name), " " DM_ROW_DISK_NAME "=%s", attrs->name);
	}
	if (attrs->delete_auto_snapshots > 1 || attrs->policy > INT32_MAX ||
	    (attrs->logical_block_size && attrs->logical_block_size != 512 &&
	     attrs->logical_block_size != 4096))
		return -EINVAL;
	if (attrs->delete_auto_snapshots >= 0)
		snprintf(del, sizeof(del), " " DM_ROW_DISK_DELETE_AUTO_SNAPSHOTS "=%d",
			 attrs->delete_auto_snapshots);
	if (attrs->policy >= 0)
		snprintf(policy, sizeof(policy), " " DM_ROW_DISK_POLICY "=%" PRId64, attrs->policy);
	if (attrs->logical_block_size)
		snprintf(lbs, sizeof(lbs), " " DM_ROW_DISK_LOGICAL_BLOCK_SIZE "=%u",
			 attrs->logical_block_size);
	if (!name[0] && !del[0] && !policy[0] && !lbs[0])
		return -EINVAL;		/* the message takes at least one */
	return pool_send(pool, NULL, DM_ROW_MSG_SET_DISK " %" PRIu64 "%s%s%s%s", disk, name, del,
			 policy, lbs);
}

int poolctl_set_disk_origin(const char *pool, uint64_t disk, uint64_t sectors)
{
	if (!sectors)
		return pool_send(pool, NULL, DM_ROW_MSG_SET_DISK " %" PRIu64 " "
				 DM_ROW_DISK_EXTERNAL_ORIGIN "=" DM_ROW_DISK_EXTERNAL_ORIGIN_NONE, disk);
	return pool_send(pool, NULL, DM_ROW_MSG_SET_DISK " %" PRIu64 " "
			 DM_ROW_DISK_EXTERNAL_ORIGIN "=%" PRIu64, disk, sectors);
}

int poolctl_hydrate(const char *pool, uint64_t disk, int64_t rate)
{
	if (rate < 0)
		return pool_send(pool, NULL, DM_ROW_MSG_HYDRATE " %" PRIu64 " " DM_ROW_HYDRATE_STOP, disk);
	return pool_send(pool, NULL, DM_ROW_MSG_HYDRATE " %" PRIu64 " %" PRId64, disk, rate);
}

/* The snapshot message for @nr disks, in a new string; NULL if out of memory. */
static char *snapshot_message(const uint64_t *disks, unsigned int nr,
			      const struct poolctl_snapshot_attrs *attrs)
{
	char *message = NULL;
	size_t len = 0;
	unsigned int i;
	FILE *f = open_memstream(&message, &len);

	if (!f)
		return NULL;
	fputs(DM_ROW_MSG_SNAPSHOT " ", f);
	for (i = 0; i < nr; i++)
		fprintf(f, "%s%" PRIu64, i ? "," : "", disks[i]);
	if (attrs->names) {
		fputs(" " DM_ROW_SNAP_NAME "=", f);
		for (i = 0; i < nr; i++)
			fprintf(f, "%s%s", i ? "," : "", attrs->names[i]);
	}
	if (attrs->automatic)
		fputs(" " DM_ROW_SNAP_KIND "=" DM_ROW_SNAP_KIND_AUTO, f);
	if (attrs->app_consistent)
		fputs(" " DM_ROW_SNAP_CONSISTENCY "=" DM_ROW_SNAP_CONSISTENCY_APP, f);
	if (attrs->policy)
		fprintf(f, " " DM_ROW_SNAP_POLICY "=%" PRIu32, attrs->policy);
	if (attrs->retention)
		fprintf(f, " " DM_ROW_SNAP_RETENTION "=%" PRIu64, attrs->retention);
	if (attrs->time)
		fprintf(f, " " DM_ROW_SNAP_TIME "=%" PRId64, attrs->time);
	if (fclose(f)) {
		free(message);
		return NULL;
	}
	return message;
}

int poolctl_snapshot(const char *pool, const uint64_t *disks, unsigned int nr,
		     const struct poolctl_snapshot_attrs *attrs, uint64_t *ids)
{
	char *message, *answer = NULL, *cursor, *end;
	unsigned int i;
	int r;

	if (!nr || nr > DM_ROW_MAX_SNAPSHOT_DISKS)
		return -EINVAL;
	/* The names of one message are separated by commas: none may hold one. */
	for (i = 0; attrs->names && i < nr; i++)
		if (!poolctl_name_valid(attrs->names[i]) || strchr(attrs->names[i], ','))
			return -EINVAL;
	message = snapshot_message(disks, nr, attrs);
	if (!message)
		return -ENOMEM;
	r = dmctl_message(pool, message, &answer);
	free(message);
	/* The answer: the new ids, one per disk, in order. */
	cursor = answer;
	for (i = 0; !r && i < nr; i++) {
		errno = 0;
		ids[i] = cursor ? strtoull(cursor, &end, 10) : 0;
		if (!cursor || end == cursor || errno || !ids[i])
			r = -EPROTO;
		else
			cursor = end;
	}
	free(answer);
	return r;
}

int poolctl_delete_snapshot(const char *pool, uint64_t snapshot)
{
	return pool_send(pool, NULL, DM_ROW_MSG_DELETE_SNAPSHOT " %" PRIu64, snapshot);
}

int poolctl_merge(const char *pool, uint64_t first, uint64_t last)
{
	return pool_send(pool, NULL, DM_ROW_MSG_MERGE " %" PRIu64 " %" PRIu64, first, last);
}

int poolctl_rollback(const char *pool, uint64_t disk, uint64_t snapshot, bool keep_size)
{
	return pool_send(pool, NULL, DM_ROW_MSG_ROLLBACK " %" PRIu64 " %" PRIu64 " %s", disk,
			 snapshot, keep_size ? DM_ROW_ROLLBACK_KEEP_SIZE : DM_ROW_ROLLBACK_SNAPSHOT_SIZE);
}

int poolctl_clone(const char *pool, uint64_t snapshot, uint64_t new_disk, const char *name,
		  uint64_t sectors)
{
	/* The size is the fourth word: a clone with a size has a name. */
	if (!poolctl_name_valid(name) || (sectors && !*name))
		return -EINVAL;
	if (!sectors)
		return pool_send(pool, NULL, DM_ROW_MSG_CLONE " %" PRIu64 " %" PRIu64 "%s%s",
				 snapshot, new_disk, *name ? " " : "", name);
	return pool_send(pool, NULL, DM_ROW_MSG_CLONE " %" PRIu64 " %" PRIu64 " %s %" PRIu64,
			 snapshot, new_disk, name, sectors);
}

int poolctl_set_quota(const char *pool, uint32_t manual, uint32_t automatic)
{
	return pool_send(pool, NULL, DM_ROW_MSG_SET_QUOTA " %" PRIu32 " %" PRIu32, manual,
			 automatic);
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
		      uint64_t snap_id, unsigned int logical_block_size, const char *origin)
{
	char snap[32] = "", feature[48] = "";
	int n;

	if (snap_id)
		snprintf(snap, sizeof(snap), " %" PRIu64, snap_id);
	if (logical_block_size != 512)
		snprintf(feature, sizeof(feature), " " DM_ROW_LOGICAL_BLOCK_SIZE_ARG "%u",
			 logical_block_size);
	if (origin && (!*origin || strpbrk(origin, " \t\n")))
		return -EINVAL;		/* one word of the table line */
	n = snprintf(buf, len, "/dev/mapper/%s %" PRIu64 "%s%s%s%s", pool, disk_id, snap, feature,
		     origin ? " " DM_ROW_EXTERNAL_ORIGIN_ARG : "", origin ? origin : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
