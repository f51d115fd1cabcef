/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A bounded cache of decoded chunks, by chunk slot, shared by threads: what
 * the export server (userspace/nbdkit/) reads from.
 *
 * An entry is FILLING while one thread fetches it (every other reader of
 * that slot waits for it rather than fetching it again) and READY after;
 * a fill that fails takes the entry out, and its waiters get the error, so
 * the next read fetches afresh.  Readers hold a reference while they copy
 * from an entry.  READY entries are kept in least recently used order, and
 * an entry is made by reusing the least recently used one nobody holds,
 * with its buffer, once the cache has its @max_entries: once full, it
 * allocates nothing.  When every entry is held, a reader gets a new entry
 * beyond the bound (prefetches do not: CACHE_NOGROW) and the cache shrinks
 * back as the references go.
 */
#ifndef DMROW_EXPORT_CHUNK_CACHE_H
#define DMROW_EXPORT_CHUNK_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum cache_state { CACHE_FILLING, CACHE_READY, CACHE_FAILED };

struct cache_entry {
	uint64_t slot;
	struct store_buf buf;		/* the chunk's data, buf.len bytes, when READY */
	enum cache_state state;
	int error;			/* FAILED: the fill's -errno */
	unsigned int refs;
	struct cache_entry *hash_next;
	struct cache_entry *lru_prev, *lru_next;	/* READY entries only */
};

struct cache_stats {
	uint64_t hits;
	uint64_t misses;		/* fills started */
	uint64_t waits;			/* readers that waited for another's fill */
	uint64_t evictions;
	uint64_t failures;		/* fills that failed */
	size_t entries;			/* now */
	size_t max_entries;
};

struct chunk_cache {
	pthread_mutex_t lock;
	pthread_cond_t filled;		/* some fill ended */
	size_t max_entries;
	size_t nr_entries;		/* FILLING and READY */
	size_t nr_buckets;		/* a power of two */
	struct cache_entry **buckets;
	struct cache_entry lru;		/* list head: next is the most recent */
	struct cache_stats stats;
};

/* chunk_cache_get() @flags */
#define CACHE_NOWAIT	0x1	/* a fill is under way: CACHE_BUSY, do not wait */
#define CACHE_NOGROW	0x2	/* no entry to reuse: CACHE_FULL, do not go past the bound */

/* chunk_cache_get() results, or a negative errno (a fill waited for failed) */
enum { CACHE_HIT = 0, CACHE_MISS, CACHE_BUSY, CACHE_FULL };

/* A cache of at most @max_entries (at least 1) chunks, as long as none is held. */
int chunk_cache_init(struct chunk_cache *c, size_t max_entries);
/* Every entry must have been put. */
void chunk_cache_destroy(struct chunk_cache *c);

/*
 * The entry of @slot, referenced, in *@entry:
 *   CACHE_HIT   it is READY: read e->buf, then chunk_cache_put()
 *   CACHE_MISS  it is new and FILLING: the caller fills e->buf and ends
 *               with chunk_cache_fill_done(), which drops the reference
 *   CACHE_BUSY  (CACHE_NOWAIT) another thread fills it; *@entry is NULL
 *   CACHE_FULL  (CACHE_NOGROW) every entry is held; *@entry is NULL
 * or the -errno of the fill that was waited for, *@entry NULL.
 */
int chunk_cache_get(struct chunk_cache *c, uint64_t slot, unsigned int flags,
		    struct cache_entry **entry);
/* Drop a reference chunk_cache_get() gave with CACHE_HIT. */
void chunk_cache_put(struct chunk_cache *c, struct cache_entry *e);
/*
 * End the fill of @e (a CACHE_MISS): READY if @error is 0, else taken out
 * of the cache with @error for its waiters.  Drops the filler's reference.
 */
void chunk_cache_fill_done(struct chunk_cache *c, struct cache_entry *e, int error);

/* Is @slot READY or FILLING (for prefetch decisions; may change at once)? */
bool chunk_cache_has(struct chunk_cache *c, uint64_t slot);
void chunk_cache_get_stats(struct chunk_cache *c, struct cache_stats *stats);

#endif /* DMROW_EXPORT_CHUNK_CACHE_H */
