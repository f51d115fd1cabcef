/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Automatic snapshot policies: what they are, when they fire, how their
 * snapshots are named and kept, and the store that holds them.
 *
 * A policy has a number (never reused), a name, hours of the day (0-23)
 * and days of the week at which it fires, in its time zone (zone.h), and a
 * retention (1 to 65536 days, or forever).  A
 * disk names its policy by number in the pool's metadata (the kernel's
 * per-disk "policy" attribute); the policies themselves and the
 * scheduler's progress per disk live in one file, the policy store:
 *
 *   <SNAPCTL_STATE_DIR>/policies       (default /var/lib/dm-row/policies)
 *
 *   dm-row-policies 2
 *   next_id=3
 *   policy id=1 name=daily hours=2,14 weekdays=mon-fri retention_days=30 created=<time> tz=Europe/Berlin
 *   disk pool=tank uuid=<pool uuid> disk=1 policy=1 applied=<time> last_slot=<time>
 *        [last_run=<time>] [last_success=<time>] [failures=<n>]
 *   crc32c=<8 hex digits>
 *
 * The last line is the CRC-32C of every byte before it: a damaged file is
 * refused with the line and the reason, never half-read.  The store is
 * replaced atomically (write_file_atomic()); writers serialise on an
 * flock(2) of <SNAPCTL_STATE_DIR>/policies.lock and always read, change and
 * write under it (policy_store_begin/commit/end), so that the command line
 * and the scheduler never lose each other's changes.  Readers need no lock.
 *
 * Version 1 had no time zones: its policies are in UTC.  A store whose
 * policies are all in UTC is still written as version 1, without tz=, so
 * that an older snapctl keeps reading it; any other zone makes it version
 * 2, which an older snapctl refuses rather than take the snapshots at the
 * wrong hours.
 */
#ifndef SNAPCTL_POLICY_H
#define SNAPCTL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zone.h"

#define POLICY_NAME_MAX 32		/* bytes, without the NUL */
#define POLICY_RETENTION_MAX 65536	/* days */
#define POLICY_RETENTION_DEFAULT 30	/* days */
#define POLICY_FOREVER 0		/* retention_days of "forever" */
#define POLICY_MAX 1024			/* policies in a store */
#define POLICY_ID_MAX 2147483647u	/* the kernel's limit */
#define POLICY_HOURS_ALL 0xffffffu
#define POLICY_WEEKDAYS_ALL 0x7fu
#define POLICY_SLOT_WINDOW 3600		/* seconds a slot stays due */

struct policy {
	uint32_t id;
	char name[POLICY_NAME_MAX + 1];
	uint32_t hours;			/* bit h: hour h of the day, in @zone */
	uint32_t weekdays;		/* bit d: day d, 0 Sunday ... 6 Saturday */
	uint32_t retention_days;	/* 1..65536, or POLICY_FOREVER */
	int64_t created;
	char zone[ZONE_NAME_MAX + 1];		/* a zone_check()ed name; "" is UTC */
};

/* The scheduler's record of one disk with a policy. */
struct policy_disk {
	char pool[64];
	char uuid[40];			/* the pool's; a pool made again is another pool */
	uint64_t disk;
	uint32_t policy;
	int64_t applied;		/* slots before this are not taken */
	int64_t last_slot;		/* the newest slot taken (or given up), 0: none */
	/* What the scheduler did with the policy's snapshots (snapctl metrics). */
	int64_t last_run;		/* the last attempt at a snapshot, 0: none */
	int64_t last_success;		/* the last snapshot taken, 0: none */
	uint64_t failures;		/* attempts that failed */
};

struct policy_store {
	uint32_t next_id;
	unsigned int nr_policies;
	struct policy *policies;
	unsigned int nr_disks;
	struct policy_disk *disks;
};

/*----------------------------------------------------------------
 * Names, hours, weekdays, retention
 *--------------------------------------------------------------*/

/* 1 to 32 of letters, digits, '_', '.', '-', not starting with a digit, '.' or '-'. */
bool policy_name_valid(const char *name);
/* "2,14", "8-18", "0-23" or "all" -> a mask of hours.  -EINVAL if malformed. */
int policy_parse_hours(const char *s, uint32_t *mask);
/* "mon,wed", "mon-fri", "1-7" (1 Monday ... 7 Sunday) or "all". */
int policy_parse_weekdays(const char *s, uint32_t *mask);
/* "30" (1..65536), or "forever" or "0" (POLICY_FOREVER), as snapctl takes it. */
int policy_parse_retention(const char *s, uint32_t *days);
#define POLICY_RETENTION_ERROR "--retention-days takes 1..65536 or 'forever' (or 0), not '%s'"

/* "2,14" and "mon,tue" (Monday first); "-" for an empty mask. */
const char *policy_format_hours(uint32_t mask, char *buf, size_t len);
const char *policy_format_weekdays(uint32_t mask, char *buf, size_t len);
/* "30d" or "forever". */
const char *policy_format_retention(uint32_t days, char *buf, size_t len);

/* The policy's time zone: its name, "UTC" if it has none. */
const char *policy_zone(const struct policy *p);

/*----------------------------------------------------------------
 * Schedule
 *
 * A policy fires at each of its hours on each of its days, as the clock
 * of its zone shows them: a slot.  A slot is the first instant at which
 * that clock shows the hour or later, so on a day the clock is set
 * forward over the hour, the slot is the instant of the jump (02:00 of
 * Europe/Berlin on the last Sunday of March is 03:00 CEST), taken once;
 * on a day the clock is set back over it, the hour's first occurrence,
 * taken once.  Two hours the clock jumps over make one slot.  Slots are
 * at or after the epoch.  The functions below that find slots return -1
 * also when the zone cannot be read (policy_zone_usable() says why).
 *--------------------------------------------------------------*/

/* Is @t a slot of the policy? */
bool policy_fires_at(const struct policy *p, int64_t t);
/* The first slot after @t; -1 if the policy never fires. */
int64_t policy_next_slot(const struct policy *p, int64_t t);
/* The last slot at or before @t; -1 if none (or never fires). */
int64_t policy_last_slot(const struct policy *p, int64_t t);
/* 0, or -ENOENT if the policy's zone is not (or no longer) in the tz database. */
int policy_zone_usable(const struct policy *p);

/*
 * auto_<yyyyMMdd>_<HHmm>_<policy name> for the slot @slot, its date and
 * time as the clock of the policy's zone shows them at @slot.
 */
int policy_snapshot_name(const struct policy *p, int64_t slot, char *buf, size_t len);
/* When a snapshot taken at @created is to go: 0 (forever) or created + days. */
uint64_t policy_retention_until(int64_t created, uint32_t days);
/* A snapshot's recorded retention time has passed (0 is forever). */
bool policy_retention_expired(uint64_t retention, int64_t now);

/*----------------------------------------------------------------
 * The store
 *--------------------------------------------------------------*/

/* <state dir>/policies */
const char *policy_store_path(char *buf, size_t len);

/*
 * Read the store: an empty one if there is no file.  -EILSEQ if it is
 * damaged (@err, if given, says where and why), other -errno on I/O errors.
 */
int policy_store_load(struct policy_store *s, char *err, size_t errlen);
/* Write the store atomically; the caller holds the store lock. */
int policy_store_save(const struct policy_store *s);
void policy_store_free(struct policy_store *s);

/* Serialise and parse, for the file and the tests. */
int policy_store_format(const struct policy_store *s, char **text, size_t *len);
int policy_store_parse(struct policy_store *s, const char *text, size_t len, char *err,
		       size_t errlen);

/*
 * A change to the store: take the store lock (waits), load.  After
 * changing @s, policy_store_commit() saves it; policy_store_end() releases
 * the lock and frees @s in every case.
 */
struct policy_txn {
	int lock_fd;
};
int policy_store_begin(struct policy_txn *txn, struct policy_store *s, char *err,
		       size_t errlen);
int policy_store_commit(struct policy_txn *txn, const struct policy_store *s);
void policy_store_end(struct policy_txn *txn, struct policy_store *s);

/* By number (all digits) or name; NULL if none. */
struct policy *policy_find(const struct policy_store *s, const char *spec);
struct policy *policy_by_id(const struct policy_store *s, uint32_t id);
/* Adds a copy of @p with a new number (set in @p too).  -ENOSPC, -EEXIST (name). */
int policy_add(struct policy_store *s, struct policy *p);
/* Removes the policy and the disk records that name it. */
void policy_remove(struct policy_store *s, uint32_t id);

struct policy_disk *policy_disk_find(const struct policy_store *s, const char *uuid,
				     uint64_t disk);
/* The record of the disk, made (zeroed but for its key) if there is none. */
struct policy_disk *policy_disk_get(struct policy_store *s, const char *pool, const char *uuid,
				    uint64_t disk);
void policy_disk_remove(struct policy_store *s, const char *uuid, uint64_t disk);

#endif
