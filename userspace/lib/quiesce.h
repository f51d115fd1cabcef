/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The point at which an application-consistent snapshot is taken: a
 * pre-hook, then the freezes (freeze.h), then the snapshot, then the thaw,
 * then a post-hook.
 *
 *   quiesce_begin()   runs the pre-hook, freezes, runs the test point
 *                     SNAPCTL_TEST_FROZEN_HOOK, and asks whether every
 *                     freeze holds (q->held): the snapshot is recorded
 *                     application-consistent only if so;
 *   quiesce_thaw()    thaws, once the snapshot is taken, and says whether
 *                     the freezes held until then (q->held_through);
 *   quiesce_end()     runs the post-hook, if the pre-hook ran.
 *
 * A failing pre-hook cancels the snapshot before anything is frozen, and no
 * post-hook runs; a freeze that fails cancels it too, and the post-hook
 * does run.  Hooks are shell commands whose standard output goes to
 * standard error (snapctl's standard output is for its results), killed
 * with their children past the hook timeout.
 */
#ifndef SNAPCTL_QUIESCE_H
#define SNAPCTL_QUIESCE_H

#include <stdbool.h>

#include "freeze.h"

struct quiesce {
	const char *pre_hook, *post_hook;	/* NULL: none */
	unsigned int hook_timeout;		/* seconds */
	struct freeze_set *fz;			/* may hold nothing to freeze */
	/* Set by quiesce_begin() and quiesce_thaw(). */
	bool pre_hook_ran;
	bool frozen;
	enum freeze_state held;			/* when the snapshot was taken */
	enum freeze_state held_through;		/* until it was done */
};

/*
 * Run @command with /bin/sh, its output on standard error, for at most
 * @timeout seconds: 0 if it exited 0, -ECANCELED if it failed, -ETIMEDOUT
 * if it was killed (with its process group) for taking too long.  Says
 * which @what failed on standard error.
 */
int hook_run(const char *what, const char *command, unsigned int timeout);

/*
 * 0: the snapshot may be taken now; q->held is FREEZE_HELD if every freeze
 * holds, and stays FREEZE_LOST when there was nothing to freeze (q->frozen
 * false).  -ECANCELED: the pre-hook failed; -EIO: something could not be
 * frozen.  A freeze that no longer holds is warned about.
 */
int quiesce_begin(struct quiesce *q);
/* Thaw what quiesce_begin() froze (nothing if nothing was). */
void quiesce_thaw(struct quiesce *q);
/* The post-hook, if there is one and the pre-hook ran: 0 or hook_run()'s error. */
int quiesce_end(struct quiesce *q);

/* Was the snapshot application-consistent: did every freeze hold throughout? */
static inline bool quiesce_consistent(const struct quiesce *q)
{
	return q->frozen && q->held == FREEZE_HELD && q->held_through == FREEZE_HELD;
}

#endif
