/* SPDX-License-Identifier: GPL-2.0 */
/*
 * I/O epochs: knowing when every bio admitted before some point has
 * completed, without a counter that all CPUs write and without stopping
 * new bios.  See the design comment in dm-row-epoch.c.
 */
#ifndef DM_ROW_EPOCH_H
#define DM_ROW_EPOCH_H

#include <linux/percpu-refcount.h>
#include <linux/rcupdate.h>
#include <linux/wait.h>

struct dmrow_epoch {
	struct percpu_ref ref;		/* the bios admitted in it */
	struct dmrow_epochs *epochs;
	bool drained;			/* closed, and its last bio is done */
};

struct dmrow_epochs {
	struct dmrow_epoch slot[2];
	struct dmrow_epoch __rcu *current_epoch;
	struct dmrow_epoch *closing;	/* the closed one not yet reaped, or NULL */
	wait_queue_head_t wait;
	/* Called (any context) when a closed epoch has drained. */
	void (*drained)(void *context);
	void *context;
};

int dmrow_epochs_init(struct dmrow_epochs *epochs, void (*drained)(void *context),
		      void *context);
/* No bio may be in any epoch, and none closing. */
void dmrow_epochs_exit(struct dmrow_epochs *epochs);

/* Any context, even map(): admit a bio to the current epoch. */
static inline struct dmrow_epoch *dmrow_epoch_enter(struct dmrow_epochs *epochs)
{
	struct dmrow_epoch *epoch;

	rcu_read_lock();
	epoch = rcu_dereference(epochs->current_epoch);
	percpu_ref_get(&epoch->ref);
	rcu_read_unlock();
	return epoch;
}

/* Any context: the bio admitted with dmrow_epoch_enter() is done. */
static inline void dmrow_epoch_exit(struct dmrow_epoch *epoch)
{
	percpu_ref_put(&epoch->ref);
}

/*
 * The rest is for one owner at a time (the pool's worker).
 *
 * Close the current epoch: bios admitted from now on go to a new one.
 * False if the epoch closed before has not been reaped yet (nothing done).
 */
bool dmrow_epochs_close(struct dmrow_epochs *epochs);
/* Whether an epoch is closed and not yet reaped. */
static inline bool dmrow_epochs_closing(struct dmrow_epochs *epochs)
{
	return epochs->closing;
}
/*
 * If the closed epoch has drained, make it ready for reuse and return
 * true: every bio admitted before it was closed has completed.
 */
bool dmrow_epochs_reap(struct dmrow_epochs *epochs);
/* Sleep until the closed epoch (if any) has drained; new bios go on. */
void dmrow_epochs_wait_drained(struct dmrow_epochs *epochs);

#endif /* DM_ROW_EPOCH_H */
