// SPDX-License-Identifier: GPL-2.0
/*
 * Read-ahead decisions for the export server; see readahead.h.
 */
#include <string.h>

#include "readahead.h"

void readahead_init(struct readahead *ra, unsigned int window, uint64_t nr_slots)
{
	memset(ra, 0, sizeof(*ra));
	ra->window = window > READAHEAD_MAX_WINDOW ? READAHEAD_MAX_WINDOW : window;
	ra->nr_slots = nr_slots;
}

/* The stream a read starting in slot @first continues, or NULL. */
static struct readahead_stream *find_stream(struct readahead *ra, uint64_t first)
{
	struct readahead_stream *s;
	unsigned int i;

	for (i = 0; i < READAHEAD_STREAMS; i++) {
		s = &ra->streams[i];
		if (s->live && first + 1 >= s->last &&
		    first <= (s->ahead > s->last ? s->ahead : s->last) + 1)
			return s;
	}
	return NULL;
}

/* A stream not in use, or else the least recently used one. */
static struct readahead_stream *new_stream(struct readahead *ra, uint64_t first)
{
	struct readahead_stream *s, *oldest = &ra->streams[0];
	unsigned int i;

	for (i = 0; i < READAHEAD_STREAMS; i++) {
		s = &ra->streams[i];
		if (!s->live) {
			oldest = s;
			break;
		}
		if (s->used < oldest->used)
			oldest = s;
	}
	memset(oldest, 0, sizeof(*oldest));
	oldest->live = true;
	oldest->last = first;
	oldest->ahead = first;
	return oldest;
}

uint64_t readahead_note(struct readahead *ra, uint64_t first, uint64_t last, uint64_t *from)
{
	struct readahead_stream *s;
	uint64_t start, end;

	*from = 0;
	if (last < first || first >= ra->nr_slots)
		return 0;
	if (last >= ra->nr_slots)
		last = ra->nr_slots - 1;
	s = find_stream(ra, first);
	if (!s)
		s = new_stream(ra, first);
	s->used = ++ra->clock;
	if (last > s->last) {
		s->sequential = true;
		s->last = last;
	}
	if (!s->sequential || !ra->window)
		return 0;
	start = (s->ahead > s->last ? s->ahead : s->last) + 1;
	end = s->last + ra->window;
	if (end >= ra->nr_slots)
		end = ra->nr_slots - 1;
	if (start > end)
		return 0;
	s->ahead = end;
	*from = start;
	return end - start + 1;
}
