/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One snapshot operation per disk at a time: the automatic scheduler and a
 * manual 'snapctl snapshot create' take the same lock, an flock(2) on
 *
 *   <SNAPCTL_RUN_DIR>/locks/<pool>.<disk id>.lock   (default /run/dm-row)
 *
 * The holder writes one line into the file saying who it is and what it
 * does ("pid 345: automatic snapshot auto_20260302_1400_daily"), so that a
 * waiter can say what it waits for.  The kernel lets go of an flock when
 * its holder dies: a crash never leaves a disk locked.  Scripts can take
 * the same lock with flock(1) to keep snapshots off a disk for a while.
 */
#ifndef SNAPCTL_DISKLOCK_H
#define SNAPCTL_DISKLOCK_H

#include <stddef.h>
#include <stdint.h>

struct disk_lock {
	int fd;
	char path[300];
};

void disk_lock_path(const char *pool, uint64_t disk, char *buf, size_t len);

/*
 * Take the lock of disk @disk of @pool, waiting at most @timeout_ms
 * (0: do not wait, <0: forever); @what describes the holder.  -EBUSY when
 * it stays taken, with the holder's line in @holder (if given).  When it
 * has to wait, @waiting (if given) is called once first with the holder's
 * line.
 */
int disk_lock_take(struct disk_lock *lock, const char *pool, uint64_t disk, const char *what,
		   int timeout_ms, char *holder, size_t holder_len,
		   void (*waiting)(const char *holder, void *arg), void *arg);
void disk_lock_release(struct disk_lock *lock);

#endif
