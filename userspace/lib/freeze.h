/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Application-consistent snapshots: the filesystems mounted on the disks are
 * frozen (FIFREEZE) while the snapshot is taken, and for disks given to
 * virtual machines the guests' filesystems are frozen through their QEMU
 * guest agents (qga.h).  Whatever happens to snapctl, everything frozen is
 * thawed again, within the freeze timeout.
 *
 * The guardian
 * ------------
 * A thaw done by snapctl itself cannot be relied on: Ctrl-C, SIGTERM,
 * SIGKILL or a lost ssh session end it while the filesystems are frozen, and
 * a frozen root filesystem hangs the host.  So freeze_start() forks a
 * guardian process first, and the guardian does the freezing.  It holds an
 * open directory of each frozen filesystem and the connection to each
 * frozen guest's agent, runs in a session of its own (a terminal's signals
 * do not reach it) and thaws everything:
 *
 *   - when snapctl asks (freeze_finish()), after the snapshot;
 *   - when the socket from snapctl reaches end of file: snapctl is gone,
 *     however it died;
 *   - when the freeze timeout passes, counted from the start of freezing,
 *     whatever snapctl does meanwhile;
 *   - on SIGTERM, SIGINT or SIGHUP to the guardian itself.
 *
 * Then it exits.  snapctl keeps the filesystems' directories open too, so
 * that it can thaw them itself should the guardian die first.
 *
 * Consistency is decided by the guardian, which is the one that knows:
 * just before the snapshot message, freeze_check() asks whether every
 * freeze still holds (not timed out, every agent still answering and
 * frozen); the snapshot is recorded application-consistent only if so.
 * freeze_finish() then says whether they held until the snapshot was done.
 *
 * A filesystem mounted on a disk that cannot be frozen cancels the snapshot
 * (the operator asked for it); a guest agent that cannot be reached or does
 * not freeze makes the snapshot crash-consistent with a warning (a guest
 * may be down, and a crash-consistent snapshot of it is still wanted).
 */
#ifndef SNAPCTL_FREEZE_H
#define SNAPCTL_FREEZE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#define FREEZE_MAX_TARGETS 128

enum freeze_kind { FREEZE_FS, FREEZE_AGENT };

struct freeze_target {
	enum freeze_kind kind;
	char path[256];		/* FREEZE_FS: a mount point; FREEZE_AGENT: a socket */
	dev_t dev;		/* FREEZE_FS: the filesystem's device */
	int fd;			/* FREEZE_FS: the mount's directory */
	bool frozen;		/* in the guardian: this one is frozen now */
};

/* What freeze_check() and freeze_finish() report. */
enum freeze_state {
	FREEZE_HELD,		/* every freeze holds (held until the snapshot was done) */
	FREEZE_TIMED_OUT,	/* the timeout passed: thawed */
	FREEZE_LOST,		/* an agent did not freeze, or one is no longer frozen */
};

struct freeze_set {
	struct freeze_target t[FREEZE_MAX_TARGETS];
	unsigned int nr;
	unsigned int timeout_ms;
	pid_t guardian;
	int chan;		/* socket to the guardian, -1 without one */
	enum freeze_state state;	/* the guardian's last word */
	bool thaw_failed;	/* something may still be frozen (said on stderr) */
};

void freeze_init(struct freeze_set *set, unsigned int timeout_ms);
/* Close what the set holds; thaws nothing (the guardian does). */
void freeze_release(struct freeze_set *set);

/*
 * Opens @path and checks that it is the root of a mount of @dev, not
 * another filesystem mounted over it: the directory's fd, or -errno.
 */
typedef int (*freeze_open_fn)(const char *path, dev_t dev);
int freeze_open_mount(const char *path, dev_t dev);

/*
 * Add the filesystem on device @dev, read from a /proc/self/mountinfo
 * stream: one target per filesystem, however many times it is mounted (a
 * bind mount is the same filesystem: freezing it twice fails with EBUSY).
 * The first of its mount points that @open_fn accepts is used.  1 if it
 * was added, 0 if it is not mounted or is in the set already, -errno.
 */
int freeze_add_mounts(struct freeze_set *set, FILE *mountinfo, dev_t dev, freeze_open_fn open_fn);
/* Add a guest agent's socket (once). */
int freeze_add_agent(struct freeze_set *set, const char *socket_path);

/*
 * Fork the guardian and have it freeze every target.  0 when every
 * filesystem froze (an agent that did not freeze is warned about; see
 * freeze_check()); -ECANCELED when a filesystem could not be frozen: the
 * guardian said why, thawed what it had frozen and is gone.
 */
int freeze_start(struct freeze_set *set);
/* Just before the snapshot: do all the freezes still hold? */
enum freeze_state freeze_check(struct freeze_set *set);
/*
 * After it: thaw everything, and did the freezes hold until now?
 * @set->thaw_failed says whether something could not be thawed.
 */
enum freeze_state freeze_finish(struct freeze_set *set);

/* Decode a mountinfo path in place (\040 for a blank and the like). */
void freeze_unescape(char *s);

#endif
