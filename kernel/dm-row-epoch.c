// SPDX-License-Identifier: GPL-2.0
/*
 * I/O epochs.
 *
 * The pool must know when a data block that it has just freed can no
 * longer be touched by a bio that looked its mapping up before the free.
 * Waiting until no bio at all is in flight would stall every disk behind
 * the slowest one, over and over under load; a single counter that every
 * bio increments would bounce one cache line between all CPUs.  Instead
 * bios are admitted to an epoch, a per-CPU reference count (percpu_ref):
 * admission and completion touch only the local CPU's counter.  To learn
 * when everything admitted up to now is done, the owner closes the epoch:
 * a second one becomes current for new bios, and the closed one is killed,
 * which folds its per-CPU counts into one after an RCU grace period and
 * calls back when that count reaches zero.  That is the same idea as
 * dm-thin's deferred sets and SRCU, built on the kernel's percpu_ref.
 *
 * Two epochs alternate: the current one and at most one closed one.  A
 * closed epoch that has drained is reaped (resurrected, ready to be current
 * again); until then no other epoch is closed, so "drained" always means
 * that every older epoch has drained too.
 *
 * Why a bio admitted in an RCU read-side section after the switch cannot be
 * missed: it reads the current pointer and takes its reference inside one
 * read-side section.  If it read the old epoch, the kill's grace period
 * waits for that section, so its reference is counted before the old
 * epoch's counts are summed; if it read the new one, it is not "before".
 */
#include <linux/kernel.h>
#include <linux/sched.h>

#include "dm-row-epoch.h"

static void epoch_released(struct percpu_ref *ref)
{
	struct dmrow_epoch *epoch = container_of(ref, struct dmrow_epoch, ref);
	struct dmrow_epochs *epochs = epoch->epochs;

	smp_store_release(&epoch->drained, true);
	wake_up_all(&epochs->wait);
	if (epochs->drained)
		epochs->drained(epochs->context);
}

int dmrow_epochs_init(struct dmrow_epochs *epochs, void (*drained)(void *context),
		      void *context)
{
	int i, r;

	init_waitqueue_head(&epochs->wait);
	epochs->drained = drained;
	epochs->context = context;
	epochs->closing = NULL;
	for (i = 0; i < 2; i++) {
		epochs->slot[i].epochs = epochs;
		epochs->slot[i].drained = false;
		r = percpu_ref_init(&epochs->slot[i].ref, epoch_released,
				    PERCPU_REF_ALLOW_REINIT, GFP_KERNEL);
		if (r) {
			if (i)
				percpu_ref_exit(&epochs->slot[0].ref);
			return r;
		}
	}
	RCU_INIT_POINTER(epochs->current_epoch, &epochs->slot[0]);
	return 0;
}

void dmrow_epochs_exit(struct dmrow_epochs *epochs)
{
	/* A kill's RCU callback may still be finishing with its epoch. */
	dmrow_epochs_wait_drained(epochs);
	rcu_barrier();
	percpu_ref_exit(&epochs->slot[0].ref);
	percpu_ref_exit(&epochs->slot[1].ref);
}

bool dmrow_epochs_close(struct dmrow_epochs *epochs)
{
	struct dmrow_epoch *old = rcu_dereference_protected(epochs->current_epoch, true);
	struct dmrow_epoch *next = old == &epochs->slot[0] ? &epochs->slot[1] : &epochs->slot[0];

	if (epochs->closing)
		return false;
	next->drained = false;
	rcu_assign_pointer(epochs->current_epoch, next);
	epochs->closing = old;
	old->drained = false;
	/* The initial reference goes: the last bio's put (or the kill) calls back. */
	percpu_ref_kill(&old->ref);
	return true;
}

bool dmrow_epochs_reap(struct dmrow_epochs *epochs)
{
	struct dmrow_epoch *epoch = epochs->closing;

	if (!epoch || !smp_load_acquire(&epoch->drained))
		return false;
	percpu_ref_resurrect(&epoch->ref);
	epochs->closing = NULL;
	return true;
}

void dmrow_epochs_wait_drained(struct dmrow_epochs *epochs)
{
	struct dmrow_epoch *epoch = epochs->closing;

	if (epoch)
		wait_event(epochs->wait, smp_load_acquire(&epoch->drained));
}
