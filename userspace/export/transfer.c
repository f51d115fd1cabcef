// SPDX-License-Identifier: GPL-2.0
/*
 * Parallel chunk transfer.  Work items are chunk slots handed out by an
 * atomic counter; every worker owns a store connection, a codec and
 * buffers, so workers share nothing but the counter, the result array
 * (each slot written by one worker) and the first error.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "transfer.h"

struct progress {
	const char *verb;
	uint64_t total;
	atomic_uint_fast64_t done;
	atomic_bool stop;
	struct timespec start;
	pthread_t thread;
	bool running;
};

struct slot_result {
	bool zero;
	char id[CHUNK_ID_LEN + 1];
};

struct transfer {
	struct repo *repo;
	int fd;
	/* export: slots to read; import: entries to fetch */
	const uint64_t *slots;
	const struct chunk_entry *entries;
	size_t nr;
	const struct manifest *m;
	struct slot_result *results;

	atomic_size_t next;
	atomic_bool failed;
	pthread_mutex_t lock;		/* protects error and the totals below */
	int error;
	struct transfer_stats stats;
	struct progress progress;
};

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

static void print_progress(struct progress *p, bool final)
{
	double secs = seconds_since(&p->start), done = atomic_load(&p->done);
	double pct = p->total ? 100.0 * done / p->total : 100.0;

	fprintf(stderr, "\r%s %5.1f%%  %.1f of %.1f MiB  %.1f MiB/s ", p->verb, pct,
		done / 1048576.0, p->total / 1048576.0, secs > 0 ? done / 1048576.0 / secs : 0);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

static void *progress_thread(void *arg)
{
	struct progress *p = arg;
	struct timespec tick = { 0, 250 * 1000 * 1000 };

	while (!atomic_load(&p->stop)) {
		print_progress(p, false);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static void progress_begin(struct progress *p, const char *verb, uint64_t total, bool show)
{
	p->verb = verb;
	p->total = total;
	atomic_store(&p->done, 0);
	atomic_store(&p->stop, false);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->running = show && isatty(STDERR_FILENO) &&
		     !pthread_create(&p->thread, NULL, progress_thread, p);
}

static void progress_end(struct progress *p)
{
	if (!p->running)
		return;
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	print_progress(p, true);
}

/* Record the first failure; later ones only stop their worker. */
static int transfer_fail(struct transfer *t, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int transfer_fail(struct transfer *t, int r, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&t->lock);
	if (!t->error) {
		t->error = r;
		va_start(ap, fmt);
		vsnprintf(t->repo->error, sizeof(t->repo->error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&t->lock);
	atomic_store(&t->failed, true);
	return r;
}

static uint64_t slot_bytes(const struct manifest *m, uint64_t slot)
{
	uint64_t start = slot * m->chunk_size;

	return m->image_bytes - start < m->chunk_size ? m->image_bytes - start : m->chunk_size;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	static const uint8_t zeroes[4096];
	size_t n;

	while (len) {
		n = len < sizeof(zeroes) ? len : sizeof(zeroes);
		if (memcmp(p, zeroes, n))
			return false;
		p += n;
		len -= n;
	}
	return true;
}

static int read_fully(int fd, uint8_t *buf, size_t len, uint64_t offset)
{
	ssize_t n;

	while (len) {
		n = pread(fd, buf, len, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= n;
		offset += n;
	}
	return 0;
}

static int write_fully(int fd, const uint8_t *buf, size_t len, uint64_t offset)
{
	ssize_t n;

	while (len) {
		n = pwrite(fd, buf, len, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= n;
		offset += n;
	}
	return 0;
}

/* Everything a worker owns. */
struct worker {
	struct transfer *t;
	struct store *store;
	struct chunk_codec *codec;
	uint8_t *data;
	struct store_buf obj;
	struct store_buf plain;
	struct transfer_stats stats;
	pthread_t thread;
};

static int export_slot(struct worker *w, size_t i)
{
	struct transfer *t = w->t;
	uint64_t slot = t->slots[i], len = slot_bytes(t->m, slot);
	struct slot_result *res = &t->results[i];
	char key[128];
	int r;

	r = read_fully(t->fd, w->data, len, slot * t->m->chunk_size);
	if (r)
		return transfer_fail(t, r, "reading bytes %" PRIu64 "+%" PRIu64 " of the image: %s",
				     slot * t->m->chunk_size, len, strerror(-r));
	w->stats.chunks++;
	w->stats.bytes += len;
	atomic_fetch_add(&t->progress.done, len);
	if (all_zero(w->data, len)) {
		res->zero = true;
		w->stats.zero_chunks++;
		return 0;
	}
	chunk_id(w->codec, w->data, len, res->id);
	chunk_key(res->id, key, sizeof(key));
	/* An interrupted export resumes here: what is stored is not sent again. */
	r = store_exists(w->store, key);
	if (!r) {
		w->stats.stored_chunks++;
		return 0;
	}
	if (r != -ENOENT)
		return transfer_fail(t, r, "chunk %s (slot %" PRIu64 "): %s", res->id, slot,
				     store_error(w->store));
	r = chunk_encode(w->codec, w->data, len, res->id, &w->obj);
	if (!r)
		r = store_put(w->store, key, w->obj.data, w->obj.len);
	if (r)
		return transfer_fail(t, r, "storing chunk %s (slot %" PRIu64 "): %s", res->id, slot,
				     store_error(w->store));
	w->stats.new_chunks++;
	w->stats.new_bytes += w->obj.len;
	return 0;
}

static int import_entry(struct worker *w, size_t i)
{
	struct transfer *t = w->t;
	const struct chunk_entry *e = &t->entries[i];
	uint64_t len = slot_bytes(t->m, e->index);
	const char *why = NULL;
	char key[128];
	int r;

	chunk_key(e->id, key, sizeof(key));
	r = store_get_max(w->store, key, &w->obj, t->m->chunk_size + CHUNK_OVERHEAD);
	if (r == -ENOENT)
		return transfer_fail(t, -EBADMSG, "chunk %s (slot %" PRIu64 ") is missing from %s",
				     e->id, e->index, t->repo->url);
	if (r)
		return transfer_fail(t, r, "fetching chunk %s (slot %" PRIu64 "): %s", e->id,
				     e->index, store_error(w->store));
	r = chunk_decode(w->codec, &w->obj, e->id, &w->plain, &why);
	if (!r && w->plain.len != len) {
		r = -EBADMSG;
		why = "wrong size for its slot";
	}
	if (r)
		return transfer_fail(t, r, "chunk %s (slot %" PRIu64 ") is damaged: %s", e->id,
				     e->index, why ? why : strerror(-r));
	if (t->fd >= 0) {
		r = write_fully(t->fd, w->plain.data, len, e->index * t->m->chunk_size);
		if (r)
			return transfer_fail(t, r, "writing slot %" PRIu64 " of the new disk: %s",
					     e->index, strerror(-r));
	}
	w->stats.chunks++;
	w->stats.bytes += len;
	atomic_fetch_add(&t->progress.done, len);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct transfer *t = w->t;
	size_t i;

	while (!atomic_load(&t->failed)) {
		i = atomic_fetch_add(&t->next, 1);
		if (i >= t->nr)
			break;
		if (t->slots ? export_slot(w, i) : import_entry(w, i))
			break;
	}
	return NULL;
}

/* Open the workers' resources, run them, and add up what they did. */
static int run_workers(struct transfer *t, unsigned int jobs)
{
	struct worker *workers;
	struct store_stats ss;
	const char *why = NULL;
	unsigned int i, started = 0;
	int r = 0;

	if (!jobs)
		jobs = TRANSFER_DEFAULT_JOBS;
	if (jobs > t->nr)
		jobs = t->nr ? t->nr : 1;
	workers = calloc(jobs, sizeof(*workers));
	if (!workers)
		return -ENOMEM;
	for (i = 0; i < jobs && !r; i++) {
		struct worker *w = &workers[i];

		w->t = t;
		w->store = store_open(t->repo->url, &why);
		w->codec = chunk_codec_new(&t->repo->keys, t->m->chunk_size);
		w->data = malloc(t->m->chunk_size);
		if (!w->store)
			r = transfer_fail(t, -EIO, "%s: %s", t->repo->url, why ? why : "cannot open");
		else if (!w->codec || !w->data)
			r = -ENOMEM;
	}
	for (i = 0; i < jobs && !r; i++) {
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]))
			break;
		started++;
	}
	if (!r && !started)
		r = -EAGAIN;
	for (i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	for (i = 0; i < jobs; i++) {
		struct worker *w = &workers[i];

		t->stats.bytes += w->stats.bytes;
		t->stats.chunks += w->stats.chunks;
		t->stats.zero_chunks += w->stats.zero_chunks;
		t->stats.stored_chunks += w->stats.stored_chunks;
		t->stats.new_chunks += w->stats.new_chunks;
		t->stats.new_bytes += w->stats.new_bytes;
		if (w->store) {
			store_get_stats(w->store, &ss);
			t->stats.retries += ss.retries;
			store_close(w->store);
		}
		chunk_codec_free(w->codec);
		free(w->data);
		store_buf_free(&w->obj);
		store_buf_free(&w->plain);
	}
	free(workers);
	return r ? r : t->error;
}

static int transfer_init(struct transfer *t, struct repo *repo, int fd, const struct manifest *m)
{
	memset(t, 0, sizeof(*t));
	t->repo = repo;
	t->fd = fd;
	t->m = m;
	atomic_init(&t->next, 0);
	atomic_init(&t->failed, false);
	return pthread_mutex_init(&t->lock, NULL) ? -ENOMEM : 0;
}

static int add_entry(struct manifest *m, size_t *cap, uint64_t index, const char *id)
{
	void *p;

	if (m->nr_entries == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		p = realloc(m->entries, *cap * sizeof(*m->entries));
		if (!p)
			return -ENOMEM;
		m->entries = p;
	}
	m->entries[m->nr_entries].index = index;
	strcpy(m->entries[m->nr_entries].id, id);
	m->nr_entries++;
	return 0;
}

/*
 * The new image's chunk list: a merge of the slots just read with the
 * base's entries for the slots not read, both sorted by slot.
 */
static int merge_entries(struct transfer *t, const struct manifest *base, struct manifest *m)
{
	uint64_t slots = manifest_slots(m);
	size_t i = 0, b = 0, cap = 0;
	int r = 0;

	free(m->entries);
	m->entries = NULL;
	m->nr_entries = 0;
	while (!r && (i < t->nr || (base && b < base->nr_entries))) {
		bool take_base = base && b < base->nr_entries &&
				 (i == t->nr || base->entries[b].index < t->slots[i]);

		if (take_base) {
			if (base->entries[b].index < slots)
				r = add_entry(m, &cap, base->entries[b].index, base->entries[b].id);
			b++;
			continue;
		}
		if (base && b < base->nr_entries && base->entries[b].index == t->slots[i])
			b++;	/* read again: the new content wins */
		if (!t->results[i].zero)
			r = add_entry(m, &cap, t->slots[i], t->results[i].id);
		i++;
	}
	return r;
}

/*
 * A disk resized since its base: a slot whose length differs between the
 * base image and this one holds other bytes even if no block in it was
 * written (the base's short last slot after a grow, the new short last
 * slot after a shrink), so it is read again whatever the diff says.
 * Returns @slots with those added, in order, in a new array.
 */
static int add_resized_slots(const struct manifest *base, const struct manifest *m,
			     const uint64_t *slots, size_t nr, uint64_t **out, size_t *nr_out)
{
	uint64_t extra[2], n_slots = manifest_slots(m), *all;
	size_t nr_extra = 0, i, j, k;

	if (base && base->image_bytes != m->image_bytes) {
		uint64_t candidates[2] = { manifest_slots(base) - 1, n_slots - 1 };

		for (i = 0; i < 2; i++) {
			uint64_t c = candidates[i];

			if (c < n_slots && c < manifest_slots(base) &&
			    slot_bytes(base, c) != slot_bytes(m, c) &&
			    (!nr_extra || extra[0] != c))
				extra[nr_extra++] = c;
		}
		if (nr_extra == 2 && extra[0] > extra[1]) {
			uint64_t x = extra[0];

			extra[0] = extra[1];
			extra[1] = x;
		}
	}
	all = malloc((nr + nr_extra + 1) * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (i = j = k = 0; i < nr || j < nr_extra; ) {
		uint64_t v = j == nr_extra || (i < nr && slots[i] <= extra[j]) ? slots[i++] :
			     extra[j++];

		if (!k || all[k - 1] < v)
			all[k++] = v;
	}
	*out = all;
	*nr_out = k;
	return 0;
}

int export_chunks(struct repo *repo, int fd, const uint64_t *given, size_t nr_given,
		  const struct manifest *base, struct manifest *m, unsigned int jobs,
		  bool progress, struct transfer_stats *stats)
{
	struct transfer t;
	uint64_t total = 0, *slots;
	size_t i, nr_slots;
	int r;

	m->chunk_size = repo->chunk_size;
	r = add_resized_slots(base, m, given, nr_given, &slots, &nr_slots);
	if (r)
		return r;
	r = transfer_init(&t, repo, fd, m);
	if (r) {
		free(slots);
		return r;
	}
	t.slots = slots;
	t.nr = nr_slots;
	t.results = calloc(nr_slots ? nr_slots : 1, sizeof(*t.results));
	if (!t.results) {
		free(slots);
		return -ENOMEM;
	}
	for (i = 0; i < nr_slots; i++)
		total += slot_bytes(m, slots[i]);
	progress_begin(&t.progress, "exporting", total, progress);
	r = nr_slots ? run_workers(&t, jobs) : 0;
	progress_end(&t.progress);
	t.stats.seconds = seconds_since(&t.progress.start);
	if (!r)
		r = merge_entries(&t, base, m);
	if (!r) {
		m->read_chunks = t.stats.chunks;
		m->new_chunks = t.stats.new_chunks;
		m->new_bytes = t.stats.new_bytes;
	}
	*stats = t.stats;
	free(t.results);
	free(slots);
	pthread_mutex_destroy(&t.lock);
	return r;
}

int import_chunks(struct repo *repo, const struct manifest *m, int fd, unsigned int jobs,
		  bool progress, struct transfer_stats *stats)
{
	struct transfer t;
	uint64_t total = 0;
	size_t i;
	int r;

	r = transfer_init(&t, repo, fd, m);
	if (r)
		return r;
	t.entries = m->entries;
	t.nr = m->nr_entries;
	for (i = 0; i < m->nr_entries; i++)
		total += slot_bytes(m, m->entries[i].index);
	progress_begin(&t.progress, fd >= 0 ? "restoring" : "verifying", total, progress);
	r = t.nr ? run_workers(&t, jobs) : 0;
	progress_end(&t.progress);
	t.stats.seconds = seconds_since(&t.progress.start);
	*stats = t.stats;
	pthread_mutex_destroy(&t.lock);
	return r;
}
