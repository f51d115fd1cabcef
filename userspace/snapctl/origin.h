/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Disks with an external origin, as snapctl's commands handle them: which
 * device a disk's tables name (origins.h remembers what the origin is),
 * serving an export again, hydration and its progress, and taking the
 * origin away once hydrated.
 */
#ifndef SNAPCTL_ORIGIN_H
#define SNAPCTL_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "origins.h"

struct record;

/*
 * The device @disk's tables name as its origin, in @dev ("" when the disk
 * has none).  -ENOENT if snapctl has no record of the origin, -ENXIO if it
 * is an export that is not served (said on standard error, with what to do).
 */
int disk_origin_device(const char *pool, const struct record *disk, char *dev, size_t len);

/*
 * Whether @disk's tables can be loaded as far as its origin goes: 0 when
 * it has none or it is there, -ENXIO for an export that is not served,
 * -ENOENT with no record of it.  Says nothing: for 'pool activate', which
 * has already said why it could not serve the export.
 */
int disk_origin_ready(const char *pool, const struct record *disk);

/*
 * Serve @o's export if no live server serves it (one whose server died is
 * disconnected first); its device in @dev.  0 or -errno with @why.
 */
int origin_serve(const struct origin *o, char *dev, size_t len, char *why, size_t why_len);

/* Stop the server of @o's export unless a disk of any pool uses it. */
void origin_unserve_unused(const char *pool, const struct origin *o);

/* Record @o (its disk_id and created set) in @pool's store; prints why not. */
int origin_remember(const char *pool, const struct origin *o);

/*
 * A clone @clone of a snapshot of disk @source_id: give it the source's
 * origin (hydration not asked for: it hydrates on its own).  0 if the
 * source had none.
 */
int origin_remember_clone(const char *pool, uint64_t source_id, const struct record *clone);

/* "8M", "8M/s", "0": a hydration rate in bytes per second (0: unlimited). */
int parse_rate(const char *s, uint64_t *bytes);

/* A disk's hydration, from its live device's status. */
struct hydration {
	bool live;			/* the live device is there */
	uint64_t hydrated, total;	/* origin blocks */
	char state[16];			/* off, paused, running, done; "-" */
	uint64_t errors;
};
int disk_hydration(const char *pool, const struct record *disk, struct hydration *h);

/*
 * Start hydration at @rate (bytes per second, 0: unlimited), or pause it
 * (@rate < 0), and record that.  Returns 0 or an exit code (printed).
 */
int origin_hydrate(const char *pool, const struct record *disk, int64_t rate);

/*
 * Wait until @disk is hydrated (a progress line on a terminal), then take
 * the origin away (origin_detach()).  Interrupted (SIGINT, SIGTERM), it
 * leaves hydration running and returns EXIT_BUSY.  Returns an exit code.
 */
int origin_wait(const char *pool, const char *disk_name);

/*
 * Take a hydrated disk's origin away: set_disk external_origin=none, load
 * the live device and every view of its snapshots again without it, forget
 * it, and stop its NBD server if no other disk uses it.  An exit code.
 */
int origin_detach(const char *pool, const struct record *disk);

/*
 * 'pool activate': before the disks' devices are made, serve every export
 * a disk's origin needs and load again the live tables whose origin device
 * changed; after (@after), hydrate again where asked and take away the
 * origins that are hydrated.  0 or an exit code (what failed is printed).
 */
int origins_activate(const char *pool, bool after);

/*
 * 'pool deactivate', once @pool's devices are gone: stop the servers of
 * its disks' exports that no active pool's disk uses ('pool activate'
 * serves them again).
 */
void origins_deactivated(const char *pool);

#endif /* SNAPCTL_ORIGIN_H */
