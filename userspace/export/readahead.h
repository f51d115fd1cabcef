/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which chunk slots to fetch ahead of the reads of an export being served.
 *
 * Reads are sorted into a few streams: a read that starts from the slot
 * before the one a stream's last read ended in up to the slot after those
 * it asked to be read ahead (requests of one sequential reader arrive
 * somewhat out of order) continues that stream; any other read starts a
 * new stream in place of the least
 * recently used one.  So a background copy reading in order is told apart
 * from the random reads a guest makes meanwhile.  Once a stream has moved
 * on into a new slot it is sequential, and every read of it asks for the
 * slots up to @window past the slot it ended in that were not asked for
 * before.  Pure logic: the caller locks and does the fetching.
 */
#ifndef DMROW_EXPORT_READAHEAD_H
#define DMROW_EXPORT_READAHEAD_H

#include <stdbool.h>
#include <stdint.h>

#define READAHEAD_STREAMS 4
#define READAHEAD_MAX_WINDOW 256

struct readahead_stream {
	bool live;
	bool sequential;		/* has moved on from its first slot */
	uint64_t last;			/* slot its last read ended in */
	uint64_t ahead;			/* the last slot asked for ahead of it */
	uint64_t used;			/* clock of its last read */
};

struct readahead {
	unsigned int window;		/* slots ahead of a sequential stream; 0: none */
	uint64_t nr_slots;		/* of the image */
	uint64_t clock;
	struct readahead_stream streams[READAHEAD_STREAMS];
};

/* @window (at most READAHEAD_MAX_WINDOW) slots ahead, in an image of @nr_slots. */
void readahead_init(struct readahead *ra, unsigned int window, uint64_t nr_slots);

/*
 * A read of slots @first..@last (inclusive) came in.  Returns how many
 * slots to fetch ahead, from *@from on (0: none).
 */
uint64_t readahead_note(struct readahead *ra, uint64_t first, uint64_t last, uint64_t *from);

#endif /* DMROW_EXPORT_READAHEAD_H */
