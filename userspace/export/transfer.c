// SPDX-License-Identifier: GPL-2.0
/*
 * Moving chunks between images and repositories.
 *
 * Export is a pipeline of three stages joined by bounded queues:
 *
 *   reader  --read_q-->  coders (jobs)  --upload_q-->  uploaders
 *      ^                                                   |
 *      +------------------------ free_q -------------------+
 *
 * One reader thread keeps several reads in flight with Linux native AIO
 * on an O_DIRECT descriptor of the image (only the slots it is given, in
 * order), each into a buffer taken from free_q.  (With no more slots
 * than coders there is no reader: each coder takes the next slot from
 * t->next and reads it itself, so the reads are made in parallel.)
 * Coders (one per job, default one per CPU) drop zero chunks, hash the
 * rest, drop those the repository holds already (known from one listing
 * of chunks/ made when the export starts, not from one request per
 * chunk) and encode the others; uploaders, each with its own store
 * connection, put them.  Every buffer goes back to free_q when its chunk
 * is done, so memory is the fixed set of work items, and a slow stage
 * stops the ones before it.
 * The first failure sets t->failed and wakes every queue; each stage then
 * stops and the error is the first one recorded.
 *
 * Import and verify hand out the manifest's entries to workers through
 * an atomic counter; every worker owns a store connection, a codec and
 * buffers, fetches, checks and writes its chunk.
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
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <sys/syscall.h>

#include "transfer.h"

#define MIN_UPLOADERS 4			/* uploaders, and default fetchers */
#define DIRECT_ALIGN 4096		/* O_DIRECT buffers, offsets and lengths */

struct progress {
	const char *verb;
	uint64_t total;
	atomic_uint_fast64_t done;
	struct timespec start;
	pthread_t thread;
	bool running;
	/* The line is redrawn every tick until progress_end() sets stop and
	 * signals wake, so a transfer's end is never held up by a tick. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;			/* protected by lock */
};

struct slot_result {
	bool zero;
	char id[CHUNK_ID_LEN + 1];
};

struct transfer {
	struct repo *repo;
	int fd;
	int direct_fd;			/* import: O_DIRECT writes, or fd */
	unsigned int flags;		/* import: IMPORT_* */
	/* export: slots to read; import: entries to fetch */
	const uint64_t *slots;
	const struct chunk_entry *entries;
	size_t nr;
	const struct manifest *m;
	struct slot_result *results;
	void (*done_reading)(void *arg);	/* export: the image is read */
	void *done_arg;

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
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		pthread_mutex_unlock(&p->lock);
		print_progress(p, false);
		pthread_mutex_lock(&p->lock);
		next.tv_nsec += 250 * 1000 * 1000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000;
		}
		while (!p->stop && pthread_cond_timedwait(&p->wake, &p->lock, &next) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void progress_begin(struct progress *p, const char *verb, uint64_t total, bool show)
{
	pthread_condattr_t attr;

	p->verb = verb;
	p->total = total;
	atomic_store(&p->done, 0);
	p->stop = false;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->running = false;
	if (!show || !isatty(STDERR_FILENO))
		return;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &attr);
	pthread_condattr_destroy(&attr);
	p->running = !pthread_create(&p->thread, NULL, progress_thread, p);
	if (!p->running) {
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
	}
}

static void progress_end(struct progress *p)
{
	if (!p->running)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
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


/*
 * Open @fd's file again with O_DIRECT and @flags (through /proc, so any
 * file or device works); @fd itself where that is refused (tmpfs).
 */
static int open_direct(int fd, int flags)
{
	char path[64];
	int dfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	dfd = open(path, flags | O_DIRECT | O_CLOEXEC);
	return dfd >= 0 ? dfd : fd;
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

static int import_entry(struct worker *w, size_t i)
{
	struct transfer *t = w->t;
	const struct chunk_entry *e = &t->entries[i];
	uint64_t len = slot_bytes(t->m, e->index);
	const char *why = NULL;
	char key[128], id[CHUNK_ID_LEN + 1];
	int r;

	if ((t->flags & IMPORT_RESUME) && t->fd >= 0 &&
	    !read_fully(t->fd, w->data, len, e->index * t->m->chunk_size)) {
		chunk_id(w->codec, w->data, len, id);
		if (!strcmp(id, e->id)) {
			/* written before the interruption */
			w->stats.stored_chunks++;
			w->stats.chunks++;
			w->stats.bytes += len;
			atomic_fetch_add(&t->progress.done, len);
			return 0;
		}
	}
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
		uint64_t off = e->index * t->m->chunk_size;
		/* whole aligned chunks bypass the page cache; a short last one does not */
		bool direct = t->direct_fd != t->fd && !(len % DIRECT_ALIGN) &&
			      !((uintptr_t)w->plain.data % DIRECT_ALIGN);

		r = write_fully(direct ? t->direct_fd : t->fd, w->plain.data, len, off);
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
		if (import_entry(w, i))
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

	/* by default: fetches wait on the store more than on a CPU */
	if (!jobs)
		jobs = transfer_default_jobs() < MIN_UPLOADERS ? MIN_UPLOADERS :
		       transfer_default_jobs();
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
		/* decoded chunks land here: aligned for O_DIRECT writes, never moved */
		if (!posix_memalign((void **)&w->plain.data, DIRECT_ALIGN, t->m->chunk_size))
			w->plain.cap = t->m->chunk_size;
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


unsigned int transfer_default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > TRANSFER_MAX_JOBS ? TRANSFER_MAX_JOBS : (unsigned int)n;
}

/*----------------------------------------------------------------*/
/* Bounded queues of pointers. */

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t not_empty;
	pthread_cond_t not_full;
	void **items;
	size_t cap, head, nr;
	bool closed;			/* no more pushes: pops drain, then NULL */
	atomic_bool *abort;		/* set: every wait ends at once */
};

static int queue_init(struct queue *q, size_t cap, atomic_bool *abort)
{
	memset(q, 0, sizeof(*q));
	q->items = calloc(cap, sizeof(*q->items));
	if (!q->items)
		return -ENOMEM;
	q->cap = cap;
	q->abort = abort;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	return 0;
}

static void queue_destroy(struct queue *q)
{
	if (!q->items)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	free(q->items);
	q->items = NULL;
}

/* 0, or -ECANCELED once the transfer failed. */
static int queue_push(struct queue *q, void *item)
{
	pthread_mutex_lock(&q->lock);
	while (q->nr == q->cap && !atomic_load(q->abort))
		pthread_cond_wait(&q->not_full, &q->lock);
	if (atomic_load(q->abort)) {
		pthread_mutex_unlock(&q->lock);
		return -ECANCELED;
	}
	q->items[(q->head + q->nr++) % q->cap] = item;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

/* The next item; NULL when closed and drained, or the transfer failed. */
static void *queue_pop(struct queue *q, bool wait)
{
	void *item = NULL;

	pthread_mutex_lock(&q->lock);
	while (wait && !q->nr && !q->closed && !atomic_load(q->abort))
		pthread_cond_wait(&q->not_empty, &q->lock);
	if (q->nr && !atomic_load(q->abort)) {
		item = q->items[q->head];
		q->head = (q->head + 1) % q->cap;
		q->nr--;
		pthread_cond_signal(&q->not_full);
	}
	pthread_mutex_unlock(&q->lock);
	return item;
}

static void queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

static void queue_wake(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	pthread_cond_broadcast(&q->not_empty);
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
}

/*----------------------------------------------------------------*/
/* The export pipeline. */

#define READ_DEPTH 4			/* reads in flight */
/* Fewer slots than this: ask about each chunk instead of listing them all. */
#define LIST_THRESHOLD 64
#define PIPELINE_MEMORY (256u << 20)	/* for the work items' buffers */

struct work {
	size_t i;			/* index into t->slots and t->results */
	uint64_t len;			/* bytes of the slot */
	uint8_t *data;			/* chunk_size rounded up, DIRECT_ALIGN-aligned */
	struct store_buf obj;		/* compressed data */
	struct chunk_parts parts;	/* the object: header, payload (data or obj), tag */
	struct iocb cb;
};

/* Ids in the repository when the export started: sorted, for bsearch. */
struct id_list {
	size_t nr, cap;
	char (*ids)[CHUNK_ID_LEN + 1];
};

struct pipeline {
	struct transfer *t;
	struct queue free_q, read_q, upload_q;
	struct work *items;
	size_t nr_items;
	int direct_fd;			/* O_DIRECT on the image, or t->fd; -1 once read */
	bool listed;			/* stored holds the repository's chunks */
	struct id_list stored;
	/*
	 * No more slots than coders: each coder reads the next slot itself
	 * (t->next), in parallel, with no reader thread and no AIO context.
	 */
	bool coders_read;
	atomic_uint reading;		/* coders that may still read */
	atomic_size_t reads_done;
	atomic_bool released;		/* reads_over() ran */
};

static void pipeline_abort(struct pipeline *p)
{
	atomic_store(&p->t->failed, true);
	queue_wake(&p->free_q);
	queue_wake(&p->read_q);
	queue_wake(&p->upload_q);
}

static int compare_id_strings(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int collect_stored(void *context, const char *key, uint64_t size)
{
	struct id_list *l = context;
	const char *id = strrchr(key, '/');
	void *n;

	if (!id || !chunk_id_valid(id + 1))
		return 0;
	if (l->nr == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4096;
		n = realloc(l->ids, l->cap * sizeof(*l->ids));
		if (!n)
			return -ENOMEM;
		l->ids = n;
	}
	memcpy(l->ids[l->nr++], id + 1, CHUNK_ID_LEN + 1);
	return 0;
}

static bool id_stored(const struct id_list *l, const char *id)
{
	return l->nr && bsearch(id, l->ids, l->nr, sizeof(*l->ids), compare_id_strings);
}

static long sys_io_setup(unsigned int nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
}

static long sys_io_destroy(aio_context_t ctx)
{
	return syscall(SYS_io_destroy, ctx);
}

static long sys_io_submit(aio_context_t ctx, long nr, struct iocb **cbs)
{
	return syscall(SYS_io_submit, ctx, nr, cbs);
}

static long sys_io_getevents(aio_context_t ctx, long min, long nr, struct io_event *ev)
{
	return syscall(SYS_io_getevents, ctx, min, nr, ev, NULL);
}

static uint64_t slot_offset(const struct transfer *t, size_t i)
{
	return t->slots[i] * t->m->chunk_size;
}

/* A read that came back with @res: complete a short one through the page cache. */
static int read_finish(struct pipeline *p, struct work *w, long long res)
{
	struct transfer *t = p->t;
	int r = 0;

	if (res < 0)
		r = (int)res;
	else if ((uint64_t)res < w->len)
		r = read_fully(t->fd, w->data + res, w->len - res, slot_offset(t, w->i) + res);
	if (r)
		return transfer_fail(t, r, "reading bytes %" PRIu64 "+%" PRIu64 " of the image: %s",
				     slot_offset(t, w->i), w->len, strerror(-r));
	atomic_fetch_add(&t->progress.done, w->len);
	return 0;
}

/* ... and pass it on to the coders. */
static int read_done(struct pipeline *p, struct work *w, long long res)
{
	int r = read_finish(p, w, res);

	return r ? r : queue_push(&p->read_q, w);
}

/*
 * The image is read for the last time: release it as the rest of the
 * export goes on (a view of a snapshot can go).  Once, from whichever
 * thread gets here first.
 */
static void reads_over(struct pipeline *p)
{
	struct transfer *t = p->t;

	if (atomic_exchange(&p->released, true))
		return;
	if (p->direct_fd >= 0 && p->direct_fd != t->fd)
		close(p->direct_fd);
	p->direct_fd = -1;
	if (t->done_reading)
		t->done_reading(t->done_arg);
}

/*
 * When the coders read: the next slot, read into a free buffer by the
 * calling coder; NULL when none is left or the export failed (*@r then
 * says whether this read did).  The first coder back for more once every
 * slot is read releases the image, while the others may still hash.
 */
static struct work *read_next(struct pipeline *p, int *r)
{
	struct transfer *t = p->t;
	struct work *w;
	ssize_t n;
	size_t i;

	if (atomic_load(&p->reads_done) == t->nr) {
		reads_over(p);
		return NULL;
	}
	i = atomic_fetch_add(&t->next, 1);
	if (i >= t->nr || atomic_load(&t->failed))
		return NULL;
	w = queue_pop(&p->free_q, true);
	if (!w)
		return NULL;
	w->i = i;
	w->len = slot_bytes(t->m, t->slots[i]);
	do
		n = pread(p->direct_fd, w->data,
			  (w->len + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN,
			  slot_offset(t, i));
	while (n < 0 && errno == EINTR);
	*r = read_finish(p, w, n < 0 ? -errno : n);
	if (*r)
		return NULL;
	atomic_fetch_add(&p->reads_done, 1);
	return w;
}

static void *reader_main(void *arg)
{
	struct pipeline *p = arg;
	struct transfer *t = p->t;
	struct io_event events[READ_DEPTH];
	aio_context_t ctx = 0;
	size_t next = 0, inflight = 0;
	bool aio = sys_io_setup(READ_DEPTH, &ctx) == 0;
	long n, k;
	int r = 0;

	while (!r && !atomic_load(&t->failed) && (next < t->nr || inflight)) {
		struct work *w = NULL;

		if (next < t->nr && inflight < READ_DEPTH)
			w = queue_pop(&p->free_q, !inflight);
		if (w) {
			struct iocb *cb = &w->cb;

			w->i = next++;
			w->len = slot_bytes(t->m, t->slots[w->i]);
			if (aio) {
				memset(cb, 0, sizeof(*cb));
				cb->aio_lio_opcode = IOCB_CMD_PREAD;
				cb->aio_fildes = p->direct_fd;
				cb->aio_buf = (uintptr_t)w->data;
				cb->aio_nbytes = (w->len + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
				cb->aio_offset = slot_offset(t, w->i);
				cb->aio_data = (uintptr_t)w;
				if (sys_io_submit(ctx, 1, &cb) == 1) {
					inflight++;
					continue;
				}
			}
			/* no AIO here: one read at a time */
			r = read_done(p, w, 0);
			continue;
		}
		if (!inflight)
			break;		/* failed meanwhile */
		n = sys_io_getevents(ctx, 1, READ_DEPTH, events);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = transfer_fail(t, -errno, "waiting for reads of the image: %s", strerror(errno));
			break;
		}
		for (k = 0; k < n; k++) {
			inflight--;
			if (!r)
				r = read_done(p, (struct work *)(uintptr_t)events[k].data, events[k].res);
		}
	}
	/* reads still in flight land in buffers we own: wait for them */
	while (inflight) {
		n = sys_io_getevents(ctx, 1, READ_DEPTH, events);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		inflight -= n;
	}
	if (r || atomic_load(&t->failed))
		pipeline_abort(p);
	queue_close(&p->read_q);
	/*
	 * The rest as the export goes on: the image is released, and
	 * destroying an AIO context waits for RCU grace periods, tens of
	 * milliseconds.
	 */
	reads_over(p);
	if (aio)
		sys_io_destroy(ctx);
	return NULL;
}

struct stage {
	struct pipeline *p;
	struct chunk_codec *codec;
	struct store *store;
	struct transfer_stats stats;
	pthread_t thread;
	bool started;
};

static void *coder_main(void *arg)
{
	struct stage *st = arg;
	struct pipeline *p = st->p;
	struct transfer *t = p->t;
	struct work *w;
	int r = 0;

	while (!r && (w = p->coders_read ? read_next(p, &r) : queue_pop(&p->read_q, true))) {
		struct slot_result *res = &t->results[w->i];

		st->stats.chunks++;
		st->stats.bytes += w->len;
		if (all_zero(w->data, w->len)) {
			res->zero = true;
			st->stats.zero_chunks++;
			r = queue_push(&p->free_q, w);
			continue;
		}
		chunk_id(st->codec, w->data, w->len, res->id);
		if (p->listed && id_stored(&p->stored, res->id)) {
			/* an interrupted export resumes here, too */
			st->stats.stored_chunks++;
			r = queue_push(&p->free_q, w);
			continue;
		}
		/* a chunk stored raw is not copied: its buffer is the object's data */
		r = chunk_encode_parts(st->codec, w->data, w->len, res->id, &w->obj, &w->parts);
		if (r)
			r = transfer_fail(t, r, "encoding chunk %s (slot %" PRIu64 "): %s", res->id,
					  t->slots[w->i], strerror(-r));
		else
			r = queue_push(&p->upload_q, w);
	}
	if (r)
		pipeline_abort(p);
	/* the last coder to stop reading releases the image, if none did */
	if (p->coders_read && atomic_fetch_sub(&p->reading, 1) == 1)
		reads_over(p);
	return NULL;
}

static void *uploader_main(void *arg)
{
	struct stage *st = arg;
	struct pipeline *p = st->p;
	struct transfer *t = p->t;
	struct work *w;
	char key[128];
	int r = 0;

	while (!r && (w = queue_pop(&p->upload_q, true))) {
		const char *id = t->results[w->i].id;

		chunk_key(id, key, sizeof(key));
		if (!p->listed) {
			/* a few chunks: one request each beats listing the repository */
			r = store_exists(st->store, key);
			if (!r) {
				st->stats.stored_chunks++;
				r = queue_push(&p->free_q, w);
				continue;
			}
			if (r != -ENOENT) {
				r = transfer_fail(t, r, "chunk %s (slot %" PRIu64 "): %s", id,
						  t->slots[w->i], store_error(st->store));
				break;
			}
		}
		r = store_putv(st->store, key, w->parts.iov, w->parts.nr);
		if (r) {
			r = transfer_fail(t, r, "storing chunk %s (slot %" PRIu64 "): %s", id,
					  t->slots[w->i], store_error(st->store));
			break;
		}
		st->stats.new_chunks++;
		st->stats.new_bytes += w->parts.len;
		r = queue_push(&p->free_q, w);
	}
	if (r)
		pipeline_abort(p);
	return NULL;
}

static int start_stages(struct stage *stages, unsigned int n, void *(*fn)(void *))
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (pthread_create(&stages[i].thread, NULL, fn, &stages[i]))
			return -EAGAIN;
		stages[i].started = true;
	}
	return 0;
}

static void join_stages(struct transfer *t, struct stage *stages, unsigned int n)
{
	struct store_stats ss;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct stage *st = &stages[i];

		if (st->started)
			pthread_join(st->thread, NULL);
		t->stats.bytes += st->stats.bytes;
		t->stats.chunks += st->stats.chunks;
		t->stats.zero_chunks += st->stats.zero_chunks;
		t->stats.stored_chunks += st->stats.stored_chunks;
		t->stats.new_chunks += st->stats.new_chunks;
		t->stats.new_bytes += st->stats.new_bytes;
		if (st->store) {
			store_get_stats(st->store, &ss);
			t->stats.retries += ss.retries;
			store_close(st->store);
		}
		chunk_codec_free(st->codec);
	}
}

static int run_pipeline(struct transfer *t, unsigned int jobs)
{
	struct pipeline p = { .t = t, .direct_fd = -1 };
	struct stage *coders = NULL, *uploaders = NULL;
	unsigned int want, nr_coders, nr_uploaders, i;
	size_t buf_bytes = (t->m->chunk_size + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
	const char *why = NULL;
	pthread_t reader;
	bool reader_started = false;
	int r;

	want = jobs ? jobs : transfer_default_jobs();
	nr_coders = want < t->nr ? want : t->nr;
	/*
	 * A few slots, no more than coders: reading them in parallel beats
	 * one reader (a read of a view is done by the thread that submits
	 * it), and an AIO context would cost its teardown.
	 */
	p.coders_read = t->nr <= want;
	atomic_init(&p.reading, nr_coders);
	atomic_init(&p.reads_done, 0);
	atomic_init(&p.released, false);
	/* uploads wait on the store (fsync, network) more than on a CPU */
	nr_uploaders = nr_coders < MIN_UPLOADERS ? MIN_UPLOADERS : nr_coders;
	if (nr_uploaders > t->nr)
		nr_uploaders = t->nr;
	/* enough for every stage to be busy; bounded in memory */
	p.nr_items = READ_DEPTH + 2 * nr_coders + 2 * nr_uploaders;
	if (p.nr_items * 2 * buf_bytes > PIPELINE_MEMORY)
		p.nr_items = PIPELINE_MEMORY / (2 * buf_bytes);
	if (p.nr_items < READ_DEPTH + 2)
		p.nr_items = READ_DEPTH + 2;
	/* an item holds one slot: more items than slots would never be used */
	if (p.nr_items > t->nr)
		p.nr_items = t->nr;

	/* what the repository holds: one listing, unless only a few slots are read */
	if (t->nr >= LIST_THRESHOLD) {
		r = store_list(t->repo->store, "chunks/", collect_stored, &p.stored);
		if (r) {
			r = transfer_fail(t, r, "listing the stored chunks: %s",
					  store_error(t->repo->store));
			goto out;
		}
		qsort(p.stored.ids, p.stored.nr, sizeof(*p.stored.ids), compare_id_strings);
		p.listed = true;
	}

	p.items = calloc(p.nr_items, sizeof(*p.items));
	coders = calloc(nr_coders, sizeof(*coders));
	uploaders = calloc(nr_uploaders, sizeof(*uploaders));
	r = !p.items || !coders || !uploaders ? -ENOMEM : 0;
	if (!r)
		r = queue_init(&p.free_q, p.nr_items, &t->failed);
	if (!r)
		r = queue_init(&p.read_q, p.nr_items, &t->failed);
	if (!r)
		r = queue_init(&p.upload_q, p.nr_items, &t->failed);
	for (i = 0; !r && i < p.nr_items; i++) {
		if (posix_memalign((void **)&p.items[i].data, DIRECT_ALIGN, buf_bytes))
			r = -ENOMEM;
		else
			r = queue_push(&p.free_q, &p.items[i]);
	}
	for (i = 0; !r && i < nr_coders; i++) {
		coders[i].p = &p;
		coders[i].codec = chunk_codec_new(&t->repo->keys, t->m->chunk_size);
		if (!coders[i].codec)
			r = -ENOMEM;
	}
	for (i = 0; !r && i < nr_uploaders; i++) {
		uploaders[i].p = &p;
		uploaders[i].store = store_open(t->repo->url, &why);
		if (!uploaders[i].store)
			r = transfer_fail(t, -EIO, "%s: %s", t->repo->url, why ? why : "cannot open");
	}
	if (r)
		goto out;
	p.direct_fd = open_direct(t->fd, O_RDONLY);
	r = start_stages(coders, nr_coders, coder_main);
	if (!r)
		r = start_stages(uploaders, nr_uploaders, uploader_main);
	if (!r && !p.coders_read) {
		r = pthread_create(&reader, NULL, reader_main, &p) ? -EAGAIN : 0;
		reader_started = !r;
	}
	if (r) {
		transfer_fail(t, r, "cannot start the export threads");
		pipeline_abort(&p);
		queue_close(&p.read_q);
	}
	/*
	 * The coders end when the reader closed read_q (or when no slot is
	 * left for them to read), the uploaders after them; the reader itself
	 * may still be destroying its AIO context.
	 */
	join_stages(t, coders, nr_coders);
	coders = NULL;
	queue_close(&p.upload_q);
	join_stages(t, uploaders, nr_uploaders);
	uploaders = NULL;
	if (reader_started)
		pthread_join(reader, NULL);
out:
	if (coders)
		join_stages(t, coders, nr_coders);
	if (uploaders)
		join_stages(t, uploaders, nr_uploaders);
	free(coders);
	free(uploaders);
	if (p.direct_fd >= 0 && p.direct_fd != t->fd)
		close(p.direct_fd);
	for (i = 0; p.items && i < p.nr_items; i++) {
		free(p.items[i].data);
		store_buf_free(&p.items[i].obj);
	}
	free(p.items);
	free(p.stored.ids);
	queue_destroy(&p.free_q);
	queue_destroy(&p.read_q);
	queue_destroy(&p.upload_q);
	return t->error ? t->error : r;
}

static int transfer_init(struct transfer *t, struct repo *repo, int fd, const struct manifest *m)
{
	memset(t, 0, sizeof(*t));
	t->repo = repo;
	t->fd = fd;
	t->direct_fd = fd;
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
	uint64_t extra[2] = { 0, 0 }, n_slots = manifest_slots(m), *all;
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

int export_chunks_then(struct repo *repo, int fd, const uint64_t *given, size_t nr_given,
		       const struct manifest *base, struct manifest *m, unsigned int jobs,
		       bool progress, struct transfer_stats *stats,
		       void (*done_reading)(void *arg), void *arg)
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
	t.done_reading = done_reading;
	t.done_arg = arg;
	t.results = calloc(nr_slots ? nr_slots : 1, sizeof(*t.results));
	if (!t.results) {
		free(slots);
		return -ENOMEM;
	}
	for (i = 0; i < nr_slots; i++)
		total += slot_bytes(m, slots[i]);
	progress_begin(&t.progress, "exporting", total, progress);
	r = nr_slots ? run_pipeline(&t, jobs) : 0;
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

int export_chunks(struct repo *repo, int fd, const uint64_t *slots, size_t nr_slots,
		  const struct manifest *base, struct manifest *m, unsigned int jobs,
		  bool progress, struct transfer_stats *stats)
{
	return export_chunks_then(repo, fd, slots, nr_slots, base, m, jobs, progress, stats,
				  NULL, NULL);
}

/*
 * A resumed restore: the slots without a chunk must read as zeroes, and
 * may hold another image's data.  Read each; zero what is not zero.
 */
static int zero_gaps(struct transfer *t)
{
	const struct manifest *m = t->m;
	uint64_t slot, slots = manifest_slots(m), len;
	size_t e = 0;
	uint8_t *buf = malloc(m->chunk_size), *zero = calloc(1, m->chunk_size);
	int r = buf && zero ? 0 : -ENOMEM;

	for (slot = 0; !r && slot < slots; slot++) {
		if (e < m->nr_entries && m->entries[e].index == slot) {
			e++;
			continue;
		}
		len = slot_bytes(m, slot);
		r = read_fully(t->fd, buf, len, slot * m->chunk_size);
		if (!r && !all_zero(buf, len))
			r = write_fully(t->fd, zero, len, slot * m->chunk_size);
		if (r)
			transfer_fail(t, r, "zeroing slot %" PRIu64 " of the new disk: %s", slot,
				      strerror(-r));
	}
	free(buf);
	free(zero);
	return r;
}

int import_chunks(struct repo *repo, const struct manifest *m, int fd, unsigned int jobs,
		  unsigned int flags, bool progress, struct transfer_stats *stats)
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
	t.flags = flags;
	for (i = 0; i < m->nr_entries; i++)
		total += slot_bytes(m, m->entries[i].index);
	progress_begin(&t.progress, fd >= 0 ? "restoring" : "verifying", total, progress);
	if (fd >= 0)
		t.direct_fd = open_direct(fd, O_WRONLY);
	r = t.nr ? run_workers(&t, jobs) : 0;
	if (t.direct_fd != fd)
		close(t.direct_fd);
	if (!r && (flags & IMPORT_RESUME) && fd >= 0)
		r = zero_gaps(&t);
	progress_end(&t.progress);
	t.stats.seconds = seconds_since(&t.progress.start);
	*stats = t.stats;
	pthread_mutex_destroy(&t.lock);
	return r;
}
