/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The export log: how the last export of each disk's snapshots ended, kept
 * on the host that ran it (a repository only holds the exports that
 * completed, and may be shared by several hosts).  'snapctl export'
 * records every export of a pool's snapshot, complete or failed;
 * 'snapctl metrics' reports it.
 *
 *   <SNAPCTL_STATE_DIR>/exports        (default /var/lib/dm-row/exports)
 *
 *   dm-row-exports 1
 *   disk pool=tank uuid=<pool uuid> disk=1 last=<time> ok=<0|1> last_success=<time> failures=<n> export=<name>
 *
 * One line per disk (the pool's uuid and the disk's id), in no order:
 * @last is when its last export ended, @ok whether it completed,
 * @last_success the creation time of the last complete one (0: none),
 * @failures how many failed, @export the last one's name.  The file is
 * replaced atomically (write_file_atomic()) under an flock(2) of
 * <SNAPCTL_STATE_DIR>/exports.lock; readers need no lock.  At most
 * EXPORT_LOG_MAX disks are kept: the ones whose last export is the
 * oldest go first.
 */
#ifndef SNAPCTL_EXPORTLOG_H
#define SNAPCTL_EXPORTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPORT_LOG_MAX 4096

struct export_log_entry {
	char pool[64];
	char uuid[40];
	uint64_t disk;
	int64_t last;
	bool ok;
	int64_t last_success;
	uint64_t failures;
	char export[101];
};

struct export_log {
	unsigned int nr;
	struct export_log_entry *entries;
};

/* <state dir>/exports */
const char *export_log_path(char *buf, size_t len);

/* Read the log: empty if there is none.  -EILSEQ if it is damaged. */
int export_log_load(struct export_log *log);
void export_log_free(struct export_log *log);
const struct export_log_entry *export_log_find(const struct export_log *log, const char *uuid,
					       uint64_t disk);

/* Parse and format, for the file and the tests. */
int export_log_parse(struct export_log *log, const char *text);
int export_log_format(const struct export_log *log, char **text, size_t *len);

/*
 * Record that an export of a snapshot of disk @disk of pool @pool (uuid
 * @uuid) named @export ended at @when: complete (@ok, @created is its
 * manifest's creation time) or failed.  Takes the log's lock (waits).
 */
int export_log_record(const char *pool, const char *uuid, uint64_t disk, const char *export,
		      int64_t when, bool ok, int64_t created);

#endif
