// SPDX-License-Identifier: GPL-2.0
/*
 * The export log; see exportlog.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "exportlog.h"
#include "poolctl.h"
#include "statefile.h"

#define LOG_MAGIC "dm-row-exports 1"
#define LOG_MAX_BYTES (4u << 20)

const char *export_log_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/exports", state_dir());
	return buf;
}

void export_log_free(struct export_log *log)
{
	free(log->entries);
	memset(log, 0, sizeof(*log));
}

const struct export_log_entry *export_log_find(const struct export_log *log, const char *uuid,
					       uint64_t disk)
{
	unsigned int i;

	for (i = 0; i < log->nr; i++)
		if (log->entries[i].disk == disk && !strcmp(log->entries[i].uuid, uuid))
			return &log->entries[i];
	return NULL;
}

static int number(const struct record *rec, const char *key, uint64_t max, uint64_t *v)
{
	const char *s = record_get(rec, key);
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EILSEQ;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end || *v > max ? -EILSEQ : 0;
}

static int parse_entry(const struct record *rec, struct export_log_entry *e)
{
	const char *pool = record_get(rec, "pool"), *uuid = record_get(rec, "uuid");
	const char *name = record_get(rec, "export");
	uint64_t v;

	memset(e, 0, sizeof(*e));
	if (strcmp(rec->kind, "disk") || !pool || !uuid || !name ||
	    strlen(pool) >= sizeof(e->pool) || strlen(uuid) >= sizeof(e->uuid) ||
	    strlen(name) >= sizeof(e->export))
		return -EILSEQ;
	snprintf(e->pool, sizeof(e->pool), "%s", pool);
	snprintf(e->uuid, sizeof(e->uuid), "%s", uuid);
	snprintf(e->export, sizeof(e->export), "%s", name);
	if (number(rec, "disk", UINT64_MAX, &e->disk) || number(rec, "ok", 1, &v))
		return -EILSEQ;
	e->ok = v;
	if (number(rec, "last", INT64_MAX, &v))
		return -EILSEQ;
	e->last = (int64_t)v;
	if (number(rec, "last_success", INT64_MAX, &v))
		return -EILSEQ;
	e->last_success = (int64_t)v;
	return number(rec, "failures", UINT64_MAX, &e->failures);
}

int export_log_parse(struct export_log *log, const char *text)
{
	const char *line = text, *end;
	int r = 0;

	memset(log, 0, sizeof(*log));
	if (strncmp(text, LOG_MAGIC "\n", strlen(LOG_MAGIC) + 1))
		return -EILSEQ;
	line += strlen(LOG_MAGIC) + 1;
	for (; !r && *line; line = *end ? end + 1 : end) {
		struct export_log_entry *grown;
		struct record rec;
		char buf[512];

		end = strchrnul(line, '\n');
		if (!*end || end - line >= (long)sizeof(buf)) {
			r = -EILSEQ;	/* cut short, or not ours */
			break;
		}
		memcpy(buf, line, end - line);
		buf[end - line] = '\0';
		if (log->nr == EXPORT_LOG_MAX) {
			r = -EILSEQ;
			break;
		}
		grown = realloc(log->entries, (log->nr + 1) * sizeof(*grown));
		if (!grown || record_parse(buf, &rec)) {
			if (grown)
				log->entries = grown;
			r = -ENOMEM;
			break;
		}
		log->entries = grown;
		r = parse_entry(&rec, &log->entries[log->nr]);
		record_free(&rec);
		if (!r)
			log->nr++;
	}
	if (r)
		export_log_free(log);
	return r;
}

int export_log_format(const struct export_log *log, char **text, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	unsigned int i;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n", LOG_MAGIC);
	for (i = 0; i < log->nr; i++) {
		const struct export_log_entry *e = &log->entries[i];

		fprintf(f, "disk pool=%s uuid=%s disk=%" PRIu64 " last=%" PRId64 " ok=%d"
			" last_success=%" PRId64 " failures=%" PRIu64 " export=%s\n", e->pool,
			e->uuid, e->disk, e->last, e->ok, e->last_success, e->failures, e->export);
	}
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	*text = buf;
	*len = size;
	return 0;
}

int export_log_load(struct export_log *log)
{
	char path[PATH_MAX], *text;
	size_t len;
	int r;

	memset(log, 0, sizeof(*log));
	r = read_file(export_log_path(path, sizeof(path)), LOG_MAX_BYTES, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r == -EFBIG ? -EILSEQ : r;
	r = strlen(text) == len ? export_log_parse(log, text) : -EILSEQ;
	free(text);
	return r;
}

/* The entry of the oldest last export: the one to drop for a new one. */
static unsigned int oldest(const struct export_log *log)
{
	unsigned int i, o = 0;

	for (i = 1; i < log->nr; i++)
		if (log->entries[i].last < log->entries[o].last)
			o = i;
	return o;
}

int export_log_record(const char *pool, const char *uuid, uint64_t disk, const char *export,
		      int64_t when, bool ok, int64_t created)
{
	struct export_log log;
	struct export_log_entry *e;
	char path[PATH_MAX], *text;
	size_t len;
	int fd, r;

	if (strlen(pool) >= sizeof(e->pool) || strlen(uuid) >= sizeof(e->uuid) ||
	    strlen(export) >= sizeof(e->export) || strpbrk(export, " \n") || strpbrk(pool, " \n") ||
	    strpbrk(uuid, " \n"))
		return -EINVAL;
	r = make_dirs(state_dir());
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/exports.lock", state_dir());
	fd = lock_file(path);
	if (fd < 0)
		return fd;
	/* A damaged log is replaced: it only ever held figures for metrics. */
	if (export_log_load(&log))
		memset(&log, 0, sizeof(log));
	e = (struct export_log_entry *)export_log_find(&log, uuid, disk);
	if (!e) {
		if (log.nr < EXPORT_LOG_MAX) {
			e = realloc(log.entries, (log.nr + 1) * sizeof(*e));
			if (!e) {
				r = -ENOMEM;
				goto out;
			}
			log.entries = e;
			e = &log.entries[log.nr++];
		} else {
			e = &log.entries[oldest(&log)];
		}
		memset(e, 0, sizeof(*e));
		snprintf(e->uuid, sizeof(e->uuid), "%s", uuid);
		e->disk = disk;
	}
	snprintf(e->pool, sizeof(e->pool), "%s", pool);
	snprintf(e->export, sizeof(e->export), "%s", export);
	e->last = when;
	e->ok = ok;
	if (ok)
		e->last_success = created;
	else
		e->failures++;
	r = export_log_format(&log, &text, &len);
	if (!r) {
		r = write_file_atomic(export_log_path(path, sizeof(path)), text, len, 0644);
		free(text);
	}
out:
	export_log_free(&log);
	close(fd);
	return r;
}
