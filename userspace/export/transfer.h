/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Moving chunks between an image and a repository with several threads,
 * each with its own store connection and codec.
 */
#ifndef DMROW_EXPORT_TRANSFER_H
#define DMROW_EXPORT_TRANSFER_H

#include <stdbool.h>
#include <stdint.h>

#include "repo.h"

#define TRANSFER_MAX_JOBS 64

/* The default of --jobs: the CPUs online (at most TRANSFER_MAX_JOBS). */
unsigned int transfer_default_jobs(void);

struct transfer_stats {
	uint64_t bytes;			/* image bytes read or written */
	uint64_t chunks;		/* chunks read from the image / fetched */
	uint64_t zero_chunks;		/* read, found all zero, not stored */
	uint64_t stored_chunks;		/* already in the repository: not uploaded */
	uint64_t new_chunks;		/* uploaded */
	uint64_t new_bytes;		/* object bytes uploaded */
	uint64_t retries;
	double seconds;
};

/*
 * Export: read the chunk slots @slots (increasing) of the image open at
 * @fd, store the chunks the repository lacks, and fill m->entries with
 * them plus @base's entries for every other slot below the image's end
 * (@base may be NULL for a full export).  m->image_bytes must be set.
 * When the image is larger or smaller than @base's, the slots whose
 * length changed (the last slot of either) are read too, whatever @slots
 * says, so an incremental export of a resized disk restores exactly.
 * A progress line is drawn on stderr when @progress.  @jobs (0: one per
 * CPU) threads hash and compress, as many (at least four) upload; one
 * thread reads, or with no more slots than @jobs the hashing threads do.
 */
int export_chunks(struct repo *repo, int fd, const uint64_t *slots, size_t nr_slots,
		  const struct manifest *base, struct manifest *m, unsigned int jobs,
		  bool progress, struct transfer_stats *stats);

/*
 * export_chunks() that calls @done_reading(@arg) from the reading thread
 * once the image is read for the last time (every slot read, or the
 * export failed), while the chunks read are still hashed and stored:
 * @fd is not used after that and may be closed there, and what it was
 * opened from released.  It is called at most once, not at all if the
 * reading never started (no slot to read, a failure before): whatever it
 * does must be done again if need be once export_chunks_then() returns.
 */
int export_chunks_then(struct repo *repo, int fd, const uint64_t *slots, size_t nr_slots,
		       const struct manifest *base, struct manifest *m, unsigned int jobs,
		       bool progress, struct transfer_stats *stats,
		       void (*done_reading)(void *arg), void *arg);

/* import_chunks() @flags */
#define IMPORT_RESUME	0x1	/* @fd holds part of the image already */

/*
 * Restore: fetch and verify every chunk of @m (entries loaded) and write
 * it at its place in @fd; with @fd < 0 only verify.  The first failure
 * stops the work and is explained in repo->error, naming the chunk.
 *
 * With IMPORT_RESUME, @fd is an interrupted restore (of this export or of
 * any other): a slot whose content there has the chunk's id already is
 * not fetched again (counted in stored_chunks), and a slot the manifest
 * has no chunk for is read and zeroed unless it is zero, so the result is
 * the image whatever @fd held.
 */
int import_chunks(struct repo *repo, const struct manifest *m, int fd, unsigned int jobs,
		  unsigned int flags, bool progress, struct transfer_stats *stats);

#endif /* DMROW_EXPORT_TRANSFER_H */
