// SPDX-License-Identifier: GPL-2.0
/*
 * nbdkit-dmrow-plugin: one export of a dm-row repository
 * (Documentation/export-format.rst) served read-only as an NBD disk, its
 * chunks fetched from the store when they are read.
 *
 *   nbdkit dmrow url=file:///srv/backups export=vm1.42 [key-file=KEY]
 *                [cache=256M] [prefetch=8]
 *
 * Design
 * ------
 * get_ready() opens the repository, reads the manifest and its chunk
 * lists (verified as import verifies them): the disk is image_bytes long,
 * and chunk slot s of it is the manifest's entry for s (a binary search of
 * the sorted entries) or zeroes if it has none.  Nothing else is fetched
 * before a client reads.
 *
 * A read is cut at slot boundaries.  Each slot with a chunk is copied out
 * of the chunk cache (userspace/export/chunk-cache.h), a bounded LRU of
 * decoded chunks: on a miss the reading thread fetches the chunk object,
 * decodes it (zstd, AES-256-GCM in an encrypted repository) and checks its
 * id and length, right into the cache entry's buffer, so once the cache is
 * full no request allocates a chunk buffer.  Other readers of a slot being
 * fetched wait for that fetch instead of starting their own.  A chunk that
 * is missing, damaged or cannot be fetched fails the read with EIO (never
 * wrong data), and is not cached: the next read of it fetches it again,
 * so the disk reads again once the repository is back.
 *
 * Stores and codecs serve one thread at a time (store.h, chunk.h): each
 * fetch borrows a fetcher, a store connection with a codec, from a pool
 * that grows to the number of fetches ever in flight at once (nbdkit's
 * threads and the prefetch workers) and is reused from then on, as
 * transfer.c gives every worker its own.
 *
 * Prefetch: every read is shown to a read-ahead tracker
 * (userspace/export/readahead.h) that tells a sequential reader, such as
 * a background copy of the whole disk, from random reads, and names the
 * next `prefetch` slots of a sequential stream.  They are queued for a few
 * prefetch workers, which fill cache entries as a read would, but never
 * wait for another fetch nor push the cache past its bound.  A client may
 * also name what it will read next with NBD_CMD_CACHE (nbdkit's .cache):
 * those slots are queued the same way, in order, and the command returns
 * at once.
 *
 * The plugin is thread model parallel: the cache, the fetcher pool, the
 * tracker and the queue each have their own lock, and no lock is held
 * while fetching or copying.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk-cache.h"
#include "readahead.h"
#include "repo.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define DEFAULT_CACHE_BYTES (256ull << 20)
#define DEFAULT_PREFETCH 4
#define MAX_WORKERS 4
#define QUEUE_SLOTS 1024		/* prefetch requests waiting; more are dropped */

/* A store connection and a codec, used by one thread at a time. */
struct fetcher {
	struct fetcher *next;		/* in the pool */
	struct store *store;
	struct chunk_codec *codec;
	struct store_buf obj;		/* the object as fetched */
};

static struct {
	/* configuration */
	char *url;
	char *export_name;
	char *key_file;
	char *root;			/* the root checksum the export must have */
	uint64_t cache_bytes;
	unsigned int prefetch;

	/* the export */
	struct repo repo;
	bool repo_opened;
	struct manifest m;
	uint64_t nr_slots;
	struct chunk_cache cache;
	bool cache_ready;

	/* idle fetchers */
	pthread_mutex_t pool_lock;
	struct fetcher *pool;

	/* read-ahead decisions */
	pthread_mutex_t ra_lock;
	struct readahead ra;

	/* prefetch queue and its workers */
	pthread_mutex_t queue_lock;
	pthread_cond_t queue_cond;
	uint64_t queue[QUEUE_SLOTS];
	size_t queue_head, queue_nr;
	bool stopping;
	pthread_t workers[MAX_WORKERS];
	unsigned int nr_workers;

	atomic_uint_fast64_t prefetched, dropped, failed_reads;
} srv = {
	.cache_bytes = DEFAULT_CACHE_BYTES,
	.prefetch = DEFAULT_PREFETCH,
	.pool_lock = PTHREAD_MUTEX_INITIALIZER,
	.ra_lock = PTHREAD_MUTEX_INITIALIZER,
	.queue_lock = PTHREAD_MUTEX_INITIALIZER,
	.queue_cond = PTHREAD_COND_INITIALIZER,
};

/*----------------------------------------------------------------*/
/* Configuration */

static void dmrow_load(void)
{
	/* S3 stores need curl initialised before any thread exists. */
	if (store_global_init())
		nbdkit_error("dmrow: cannot initialise libcurl");
}

static int dmrow_config(const char *key, const char *value)
{
	int64_t size;

	if (!strcmp(key, "url")) {
		free(srv.url);
		/* a plain path is relative to where nbdkit was started */
		srv.url = strstr(value, "://") ? strdup(value) : nbdkit_absolute_path(value);
		if (!srv.url)
			return -1;
	} else if (!strcmp(key, "export")) {
		if (!export_name_valid(value)) {
			nbdkit_error("dmrow: '%s' is not a valid export name", value);
			return -1;
		}
		free(srv.export_name);
		srv.export_name = strdup(value);
		if (!srv.export_name)
			return -1;
	} else if (!strcmp(key, "key-file")) {
		free(srv.key_file);
		srv.key_file = nbdkit_absolute_path(value);
		if (!srv.key_file)
			return -1;
	} else if (!strcmp(key, "root")) {
		if (!chunk_id_valid(value)) {
			nbdkit_error("dmrow: root= wants a manifest's root checksum (64 hex digits)");
			return -1;
		}
		free(srv.root);
		srv.root = strdup(value);
		if (!srv.root)
			return -1;
	} else if (!strcmp(key, "cache")) {
		size = nbdkit_parse_size(value);
		if (size < 0)
			return -1;
		srv.cache_bytes = size;
	} else if (!strcmp(key, "prefetch")) {
		if (nbdkit_parse_unsigned("prefetch", value, &srv.prefetch))
			return -1;
		if (srv.prefetch > READAHEAD_MAX_WINDOW) {
			nbdkit_error("dmrow: prefetch is at most %d chunks", READAHEAD_MAX_WINDOW);
			return -1;
		}
	} else {
		nbdkit_error("dmrow: unknown parameter '%s'", key);
		return -1;
	}
	return 0;
}

static int dmrow_config_complete(void)
{
	if (!srv.url || !srv.export_name) {
		nbdkit_error("dmrow: url= and export= are required");
		return -1;
	}
	return 0;
}

#define dmrow_config_help \
	"url=<URL>         (required) the repository: file:///dir, a path, s3://bucket/prefix\n" \
	"export=<NAME>     (required) the export to serve\n" \
	"key-file=<FILE>   the key of an encrypted repository\n" \
	"root=<CHECKSUM>   refuse the export unless its manifest has this root\n" \
	"cache=<SIZE>      decoded chunks kept in memory (default 256M)\n" \
	"prefetch=<N>      chunks fetched ahead of sequential reads (default 4, 0: none)"

/* Open the repository and load the manifest: every failure shows here. */
static int dmrow_get_ready(void)
{
	struct chunk_codec *codec;
	size_t entries;
	int r;

	r = repo_open(&srv.repo, srv.url, srv.key_file, 0, 0);
	if (r) {
		nbdkit_error("dmrow: %s", srv.repo.error[0] ? srv.repo.error : strerror(-r));
		return -1;
	}
	srv.repo_opened = true;
	r = manifest_read(&srv.repo, srv.export_name, &srv.m);
	if (r) {
		nbdkit_error("dmrow: %s", srv.repo.error[0] ? srv.repo.error : strerror(-r));
		return -1;
	}
	/* Made again under its name since: other data, never to be served as it. */
	if (srv.root && strcmp(srv.root, srv.m.root)) {
		nbdkit_error("dmrow: export '%s' of %s is not the export asked for: its root checksum is %s, not %s (it was deleted and made again)",
			     srv.export_name, srv.repo.url, srv.m.root, srv.root);
		return -1;
	}
	codec = chunk_codec_new(&srv.repo.keys, srv.m.chunk_size);
	if (!codec) {
		nbdkit_error("dmrow: out of memory");
		return -1;
	}
	r = manifest_load_entries(&srv.repo, codec, &srv.m);
	chunk_codec_free(codec);
	if (r) {
		nbdkit_error("dmrow: %s", srv.repo.error[0] ? srv.repo.error : strerror(-r));
		return -1;
	}
	srv.nr_slots = manifest_slots(&srv.m);
	entries = srv.cache_bytes / srv.m.chunk_size;
	if (chunk_cache_init(&srv.cache, entries ? entries : 1)) {
		nbdkit_error("dmrow: out of memory");
		return -1;
	}
	srv.cache_ready = true;
	readahead_init(&srv.ra, srv.prefetch, srv.nr_slots);
	nbdkit_debug("dmrow: export %s of %s: %" PRIu64 " bytes, %" PRIu64 " chunks of %" PRIu32
		     " (%zu stored), cache %zu chunks, prefetch %u", srv.m.name, srv.repo.url,
		     srv.m.image_bytes, srv.nr_slots, srv.m.chunk_size, srv.m.nr_entries,
		     srv.cache.max_entries, srv.prefetch);
	return 0;
}

/*----------------------------------------------------------------*/
/* Fetching */

static void fetcher_free(struct fetcher *f)
{
	if (!f)
		return;
	store_close(f->store);
	chunk_codec_free(f->codec);
	store_buf_free(&f->obj);
	free(f);
}

/* An idle fetcher, or a new one; NULL (said) on failure. */
static struct fetcher *fetcher_get(void)
{
	struct fetcher *f;
	const char *why = NULL;

	pthread_mutex_lock(&srv.pool_lock);
	f = srv.pool;
	if (f)
		srv.pool = f->next;
	pthread_mutex_unlock(&srv.pool_lock);
	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f) {
		nbdkit_error("dmrow: out of memory");
		return NULL;
	}
	f->store = store_open(srv.repo.url, &why);
	f->codec = chunk_codec_new(&srv.repo.keys, srv.m.chunk_size);
	if (!f->store || !f->codec) {
		nbdkit_error("dmrow: %s: %s", srv.repo.url,
			     !f->codec ? "out of memory" : why ? why : "cannot open the store");
		fetcher_free(f);
		return NULL;
	}
	return f;
}

static void fetcher_put(struct fetcher *f)
{
	pthread_mutex_lock(&srv.pool_lock);
	f->next = srv.pool;
	srv.pool = f;
	pthread_mutex_unlock(&srv.pool_lock);
}

/*
 * Fetch, decode and check the chunk of entry @e into @out.  0, or -EIO
 * (or -ENOMEM) with the reason logged.
 */
static int fetch_chunk(const struct chunk_entry *e, struct store_buf *out)
{
	uint64_t want = manifest_slot_bytes(&srv.m, e->index);
	const char *why = NULL;
	struct fetcher *f;
	char key[128];
	int r;

	f = fetcher_get();
	if (!f)
		return -EIO;
	chunk_key(e->id, key, sizeof(key));
	r = store_get_max(f->store, key, &f->obj, srv.m.chunk_size + CHUNK_OVERHEAD);
	if (r == -ENOENT) {
		nbdkit_error("dmrow: slot %" PRIu64 ": chunk %s is missing from %s", e->index,
			     e->id, srv.repo.url);
		r = -EIO;
	} else if (r) {
		nbdkit_error("dmrow: slot %" PRIu64 ": fetching chunk %s: %s", e->index, e->id,
			     store_error(f->store));
		r = -EIO;
	} else {
		r = chunk_decode(f->codec, &f->obj, e->id, out, &why);
		if (!r && out->len != want) {
			r = -EBADMSG;
			why = "wrong size for its slot";
		}
		if (r) {
			nbdkit_error("dmrow: slot %" PRIu64 ": chunk %s is damaged: %s", e->index,
				     e->id, why ? why : strerror(-r));
			r = r == -ENOMEM ? r : -EIO;
		}
	}
	fetcher_put(f);
	return r;
}

/*
 * Copy @len bytes from @in of slot @e->index into @buf, through the
 * cache.  0 or -errno.
 */
static int read_chunk(const struct chunk_entry *e, uint64_t in, uint32_t len, void *buf)
{
	struct cache_entry *ce;
	int r;

	r = chunk_cache_get(&srv.cache, e->index, 0, &ce);
	if (r < 0)
		return r;		/* the fetch this read waited for failed */
	if (r == CACHE_MISS) {
		r = fetch_chunk(e, &ce->buf);
		if (!r)
			memcpy(buf, ce->buf.data + in, len);
		chunk_cache_fill_done(&srv.cache, ce, r);
		return r;
	}
	memcpy(buf, ce->buf.data + in, len);
	chunk_cache_put(&srv.cache, ce);
	return 0;
}

/*----------------------------------------------------------------*/
/* Prefetch */

/* Queue the slots @from..@from+@count-1 that have a chunk and are not cached. */
static void prefetch_queue(uint64_t from, uint64_t count)
{
	uint64_t slot, end = from + count;
	size_t i = manifest_lower_bound(&srv.m, from);
	bool queued = false;

	pthread_mutex_lock(&srv.queue_lock);
	for (; i < srv.m.nr_entries && srv.m.entries[i].index < end; i++) {
		slot = srv.m.entries[i].index;
		if (chunk_cache_has(&srv.cache, slot))
			continue;
		if (srv.queue_nr == QUEUE_SLOTS) {
			atomic_fetch_add(&srv.dropped, 1);
			continue;
		}
		srv.queue[(srv.queue_head + srv.queue_nr++) % QUEUE_SLOTS] = slot;
		queued = true;
	}
	if (queued)
		pthread_cond_broadcast(&srv.queue_cond);
	pthread_mutex_unlock(&srv.queue_lock);
}

/* The next slot to prefetch; false when stopping. */
static bool prefetch_next(uint64_t *slot)
{
	bool ok;

	pthread_mutex_lock(&srv.queue_lock);
	while (!srv.queue_nr && !srv.stopping)
		pthread_cond_wait(&srv.queue_cond, &srv.queue_lock);
	ok = !srv.stopping;
	if (ok) {
		*slot = srv.queue[srv.queue_head];
		srv.queue_head = (srv.queue_head + 1) % QUEUE_SLOTS;
		srv.queue_nr--;
	}
	pthread_mutex_unlock(&srv.queue_lock);
	return ok;
}

static void *prefetch_worker(void *arg)
{
	const struct chunk_entry *e;
	struct cache_entry *ce;
	uint64_t slot;
	int r;

	while (prefetch_next(&slot)) {
		e = manifest_find(&srv.m, slot);
		if (!e)
			continue;
		/* cached, being fetched, or no room: nothing to do */
		r = chunk_cache_get(&srv.cache, slot, CACHE_NOWAIT | CACHE_NOGROW, &ce);
		if (r == CACHE_HIT)
			chunk_cache_put(&srv.cache, ce);
		if (r != CACHE_MISS)
			continue;
		r = fetch_chunk(e, &ce->buf);
		chunk_cache_fill_done(&srv.cache, ce, r);
		if (!r)
			atomic_fetch_add(&srv.prefetched, 1);
	}
	return NULL;
}

/* Background threads start after nbdkit forked, never before. */
static int dmrow_after_fork(void)
{
	unsigned int want = srv.prefetch < 1 ? 1 : srv.prefetch > MAX_WORKERS ? MAX_WORKERS :
			    srv.prefetch;

	while (srv.nr_workers < want) {
		if (pthread_create(&srv.workers[srv.nr_workers], NULL, prefetch_worker, NULL)) {
			nbdkit_error("dmrow: cannot start the prefetch threads");
			return -1;
		}
		srv.nr_workers++;
	}
	return 0;
}

/*----------------------------------------------------------------*/
/* Serving */

static void *dmrow_open(int readonly)
{
	/* everything is shared: a connection has no state of its own */
	return &srv;
}

static int64_t dmrow_get_size(void *handle)
{
	return srv.m.image_bytes;
}

static int dmrow_can_write(void *handle)
{
	return 0;
}

static int dmrow_can_multi_conn(void *handle)
{
	/* read-only: every connection sees the same data */
	return 1;
}

static int dmrow_is_rotational(void *handle)
{
	return 0;
}

static int dmrow_can_extents(void *handle)
{
	return 1;
}

static int dmrow_can_cache(void *handle)
{
	return NBDKIT_CACHE_NATIVE;
}

static const char *dmrow_export_description(void *handle)
{
	return nbdkit_printf_intern("dm-row export %s (disk %s, snapshot %s)", srv.m.name,
				    srv.m.disk[0] ? srv.m.disk : "-",
				    srv.m.snapshot[0] ? srv.m.snapshot : "-");
}

static int dmrow_pread(void *handle, void *buf, uint32_t count, uint64_t offset,
		       uint32_t flags)
{
	uint64_t cs = srv.m.chunk_size, slot, in, from, ahead;
	const struct chunk_entry *e;
	uint8_t *p = buf;
	uint32_t n;
	int r;

	if (!count)
		return 0;
	pthread_mutex_lock(&srv.ra_lock);
	ahead = readahead_note(&srv.ra, offset / cs, (offset + count - 1) / cs, &from);
	pthread_mutex_unlock(&srv.ra_lock);
	if (ahead)
		prefetch_queue(from, ahead);

	while (count) {
		slot = offset / cs;
		in = offset % cs;
		n = cs - in < count ? cs - in : count;
		e = manifest_find(&srv.m, slot);
		if (!e) {
			memset(p, 0, n);
		} else {
			r = read_chunk(e, in, n, p);
			if (r) {
				atomic_fetch_add(&srv.failed_reads, 1);
				nbdkit_set_error(-r);
				return -1;
			}
		}
		p += n;
		offset += n;
		count -= n;
	}
	return 0;
}

/* Slots with a chunk are data; the others read zeroes: holes. */
static int dmrow_extents(void *handle, uint32_t count, uint64_t offset, uint32_t flags,
			 struct nbdkit_extents *extents)
{
	uint64_t cs = srv.m.chunk_size, end = offset + count;
	uint64_t slot = offset / cs, next, pos, stop;
	size_t i = manifest_lower_bound(&srv.m, slot);
	uint32_t type;

	for (pos = slot * cs; pos < end; pos = stop, slot = next) {
		if (i < srv.m.nr_entries && srv.m.entries[i].index == slot) {
			next = slot;
			while (i < srv.m.nr_entries && srv.m.entries[i].index == next &&
			       next * cs < end) {
				i++;
				next++;
			}
			type = 0;
		} else {
			next = i < srv.m.nr_entries ? srv.m.entries[i].index : srv.nr_slots;
			type = NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;
		}
		stop = next * cs < srv.m.image_bytes ? next * cs : srv.m.image_bytes;
		if (nbdkit_add_extent(extents, pos, stop - pos, type))
			return -1;
		if (flags & NBDKIT_FLAG_REQ_ONE)
			break;
	}
	return 0;
}

/* NBD_CMD_CACHE: the client will read this range; fetch it in order, ahead. */
static int dmrow_cache(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	uint64_t cs = srv.m.chunk_size;

	if (flags) {
		nbdkit_error("dmrow: cache request with unknown flags %#" PRIx32, flags);
		nbdkit_set_error(EINVAL);
		return -1;
	}
	if (count)
		prefetch_queue(offset / cs, (offset + count - 1) / cs - offset / cs + 1);
	return 0;
}

/*----------------------------------------------------------------*/
/* Shutting down */

static void dmrow_cleanup(void)
{
	struct cache_stats cs;
	unsigned int i;

	pthread_mutex_lock(&srv.queue_lock);
	srv.stopping = true;
	pthread_cond_broadcast(&srv.queue_cond);
	pthread_mutex_unlock(&srv.queue_lock);
	for (i = 0; i < srv.nr_workers; i++)
		pthread_join(srv.workers[i], NULL);
	srv.nr_workers = 0;
	if (srv.cache_ready) {
		chunk_cache_get_stats(&srv.cache, &cs);
		nbdkit_debug("dmrow: %" PRIu64 " hits, %" PRIu64 " fetches (%" PRIu64
			     " prefetched), %" PRIu64 " waits, %" PRIu64 " evictions, %" PRIu64
			     " failed fetches, %" PRIu64 " failed reads, %" PRIu64
			     " prefetches dropped", cs.hits, cs.misses,
			     (uint64_t)atomic_load(&srv.prefetched), cs.waits, cs.evictions,
			     cs.failures, (uint64_t)atomic_load(&srv.failed_reads),
			     (uint64_t)atomic_load(&srv.dropped));
	}
}

static void dmrow_unload(void)
{
	struct fetcher *f;

	while ((f = srv.pool)) {
		srv.pool = f->next;
		fetcher_free(f);
	}
	if (srv.cache_ready)
		chunk_cache_destroy(&srv.cache);
	manifest_free(&srv.m);
	if (srv.repo_opened)
		repo_close(&srv.repo);
	store_global_exit();
	free(srv.url);
	free(srv.export_name);
	free(srv.key_file);
	free(srv.root);
}

static struct nbdkit_plugin plugin = {
	.name = "dmrow",
	.longname = "dm-row export",
	.description = "Serve an export of a dm-row repository read-only, fetched on demand",
	.version = "1",
	.load = dmrow_load,
	.unload = dmrow_unload,
	.config = dmrow_config,
	.config_complete = dmrow_config_complete,
	.config_help = dmrow_config_help,
	.get_ready = dmrow_get_ready,
	.after_fork = dmrow_after_fork,
	.cleanup = dmrow_cleanup,
	.open = dmrow_open,
	.get_size = dmrow_get_size,
	.can_write = dmrow_can_write,
	.can_multi_conn = dmrow_can_multi_conn,
	.is_rotational = dmrow_is_rotational,
	.can_extents = dmrow_can_extents,
	.can_cache = dmrow_can_cache,
	.export_description = dmrow_export_description,
	.pread = dmrow_pread,
	.extents = dmrow_extents,
	.cache = dmrow_cache,
	.errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
