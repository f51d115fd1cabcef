// SPDX-License-Identifier: GPL-2.0
/*
 * The bounded cache of decoded chunks; see chunk-cache.h.  One mutex
 * guards everything; nothing slow (fetching, decoding, copying) is done
 * under it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunk-cache.h"

static size_t bucket_of(const struct chunk_cache *c, uint64_t slot)
{
	return (size_t)((slot * 0x9e3779b97f4a7c15ull) >> 32) & (c->nr_buckets - 1);
}

static struct cache_entry *lookup(const struct chunk_cache *c, uint64_t slot)
{
	struct cache_entry *e;

	for (e = c->buckets[bucket_of(c, slot)]; e; e = e->hash_next)
		if (e->slot == slot)
			return e;
	return NULL;
}

static void hash_insert(struct chunk_cache *c, struct cache_entry *e)
{
	struct cache_entry **head = &c->buckets[bucket_of(c, e->slot)];

	e->hash_next = *head;
	*head = e;
}

static void hash_remove(struct chunk_cache *c, const struct cache_entry *e)
{
	struct cache_entry **p = &c->buckets[bucket_of(c, e->slot)];

	while (*p && *p != e)
		p = &(*p)->hash_next;
	if (*p)
		*p = e->hash_next;
}

static void lru_unlink(struct cache_entry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct chunk_cache *c, struct cache_entry *e)
{
	e->lru_prev = &c->lru;
	e->lru_next = c->lru.lru_next;
	c->lru.lru_next->lru_prev = e;
	c->lru.lru_next = e;
}

static void free_entry(struct cache_entry *e)
{
	store_buf_free(&e->buf);
	free(e);
}

/*
 * Take the least recently used entry nobody holds out of the cache and
 * return it (its buffer kept), or NULL if every entry is held.
 */
static struct cache_entry *evict_one(struct chunk_cache *c)
{
	struct cache_entry *e;

	for (e = c->lru.lru_prev; e != &c->lru; e = e->lru_prev) {
		if (e->refs)
			continue;
		lru_unlink(e);
		hash_remove(c, e);
		c->nr_entries--;
		c->stats.evictions++;
		return e;
	}
	return NULL;
}

/* Drop a reference; the last one of a failed entry frees it. */
static void release(struct chunk_cache *c, struct cache_entry *e)
{
	struct cache_entry *old;

	if (--e->refs)
		return;
	if (e->state == CACHE_FAILED) {
		free_entry(e);
		return;
	}
	/* back within the bound once entries held beyond it are let go */
	while (c->nr_entries > c->max_entries && (old = evict_one(c)))
		free_entry(old);
}

int chunk_cache_init(struct chunk_cache *c, size_t max_entries)
{
	size_t n = 16;

	memset(c, 0, sizeof(*c));
	c->max_entries = max_entries ? max_entries : 1;
	while (n < 2 * c->max_entries && n < ((size_t)1 << 24))
		n *= 2;
	c->buckets = calloc(n, sizeof(*c->buckets));
	if (!c->buckets)
		return -ENOMEM;
	c->nr_buckets = n;
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->filled, NULL);
	return 0;
}

void chunk_cache_destroy(struct chunk_cache *c)
{
	struct cache_entry *e, *next;
	size_t i;

	if (!c->buckets)
		return;
	for (i = 0; i < c->nr_buckets; i++) {
		for (e = c->buckets[i]; e; e = next) {
			next = e->hash_next;
			free_entry(e);
		}
	}
	free(c->buckets);
	c->buckets = NULL;
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->filled);
}

/* Wait, holding a reference, for the fill of @e that another thread does. */
static int wait_for_fill(struct chunk_cache *c, struct cache_entry *e, struct cache_entry **out)
{
	int r;

	e->refs++;
	c->stats.waits++;
	while (e->state == CACHE_FILLING)
		pthread_cond_wait(&c->filled, &c->lock);
	if (e->state == CACHE_READY) {
		lru_unlink(e);
		lru_push_front(c, e);
		*out = e;
		return CACHE_HIT;
	}
	r = e->error;
	release(c, e);
	return r;
}

int chunk_cache_get(struct chunk_cache *c, uint64_t slot, unsigned int flags,
		    struct cache_entry **entry)
{
	struct cache_entry *e;
	int r;

	*entry = NULL;
	pthread_mutex_lock(&c->lock);
	e = lookup(c, slot);
	if (e && e->state == CACHE_READY) {
		e->refs++;
		lru_unlink(e);
		lru_push_front(c, e);
		c->stats.hits++;
		*entry = e;
		r = CACHE_HIT;
	} else if (e) {
		r = flags & CACHE_NOWAIT ? CACHE_BUSY : wait_for_fill(c, e, entry);
	} else {
		if (c->nr_entries >= c->max_entries)
			e = evict_one(c);
		if (!e && c->nr_entries >= c->max_entries && (flags & CACHE_NOGROW)) {
			r = CACHE_FULL;
			goto out;
		}
		if (!e)
			e = calloc(1, sizeof(*e));
		if (!e) {
			r = -ENOMEM;
			goto out;
		}
		e->slot = slot;
		e->state = CACHE_FILLING;
		e->error = 0;
		e->refs = 1;
		e->buf.len = 0;
		hash_insert(c, e);
		c->nr_entries++;
		c->stats.misses++;
		*entry = e;
		r = CACHE_MISS;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

void chunk_cache_put(struct chunk_cache *c, struct cache_entry *e)
{
	pthread_mutex_lock(&c->lock);
	release(c, e);
	pthread_mutex_unlock(&c->lock);
}

void chunk_cache_fill_done(struct chunk_cache *c, struct cache_entry *e, int error)
{
	pthread_mutex_lock(&c->lock);
	if (!error) {
		e->state = CACHE_READY;
		lru_push_front(c, e);
	} else {
		e->state = CACHE_FAILED;
		e->error = error < 0 ? error : -EIO;
		hash_remove(c, e);
		c->nr_entries--;
		c->stats.failures++;
	}
	pthread_cond_broadcast(&c->filled);
	release(c, e);
	pthread_mutex_unlock(&c->lock);
}

bool chunk_cache_has(struct chunk_cache *c, uint64_t slot)
{
	bool has;

	pthread_mutex_lock(&c->lock);
	has = lookup(c, slot) != NULL;
	pthread_mutex_unlock(&c->lock);
	return has;
}

void chunk_cache_get_stats(struct chunk_cache *c, struct cache_stats *stats)
{
	pthread_mutex_lock(&c->lock);
	*stats = c->stats;
	stats->entries = c->nr_entries;
	stats->max_entries = c->max_entries;
	pthread_mutex_unlock(&c->lock);
}
