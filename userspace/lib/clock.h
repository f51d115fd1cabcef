/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The time snapctl works with.  Normally the real clock; for tests a fake
 * one, so that a month of automatic snapshots runs in seconds:
 *
 *   SNAPCTL_FAKE_TIME=<time>        a fixed "now"
 *   SNAPCTL_FAKE_TIME_FILE=<path>   a file holding "now", read again every
 *                                   time the clock is looked at (it wins
 *                                   over SNAPCTL_FAKE_TIME); the scheduler
 *                                   advances it in --until runs
 *
 * A <time> is seconds since the epoch, or YYYY-MM-DD, YYYY-MM-DDTHH:MM or
 * YYYY-MM-DDTHH:MM:SS in UTC (a blank may stand for the 'T').
 */
#ifndef SNAPCTL_CLOCK_H
#define SNAPCTL_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds since the epoch. */
int64_t clock_now(void);
/* Is the clock a fake one (either variable set)? */
bool clock_is_fake(void);
/*
 * Move a fake clock file to @t (atomically: a reader sees the old or the
 * new time).  -ENOENT if there is no clock file to move.
 */
int clock_set(int64_t t);

/* Parse a <time> (see above).  -EINVAL if it is not one. */
int clock_parse(const char *s, int64_t *t);
/* "YYYY-MM-DD HH:MM:SS", UTC. */
const char *clock_format(int64_t t, char *buf, size_t len);

#endif
