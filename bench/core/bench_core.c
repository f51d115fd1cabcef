// SPDX-License-Identifier: GPL-2.0
/*
 * Micro-benchmark of the metadata core, in userspace: the same code the
 * module runs (core/dm-row-*.c through the compat shim), on a pool whose
 * metadata lives in memory (a memfd behind the userspace block cache), so
 * that what is timed is the core's CPU cost, not a device's.
 *
 * What it measures:
 *   - lookups/s (sequential and random virtual blocks) and inserts/s
 *     (sequential and random) on a disk of N mapped blocks;
 *   - snapshot create and delete time against chain length;
 *   - snapshot delete time against disk size, the deleted snapshot's own
 *     delta held fixed and small;
 *   - diff time against delta size;
 *   - metadata blocks used per mapped block.
 *
 * Every figure is the median of several runs, with min and max.  This is a
 * benchmark: it prints numbers and never passes or fails on them.
 *
 *   bench_core [-o FILE.md] [-n N] [-r RUNS] [-q]
 *
 *   -o  also write the report (markdown) to FILE.md
 *   -n  mapped blocks for the lookup and insert figures (default 100000)
 *   -r  runs per figure (default 5, at least 3)
 *   -q  quick: small sizes, to see that it works
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "dm-row-metadata.h"
#include "../../userspace/compat/public/block-cache.h"

#define MD_BLOCKS	(1u << 17)	/* 512 MiB of metadata, sparse */
#define CACHE_BLOCKS	(1u << 15)	/* 128 MiB: the working set stays cached */
#define DATA_BLOCKS	(1ULL << 24)
#define COMMIT_EVERY	1024		/* block writes per transaction */
#define MAX_RUNS	16

static unsigned int runs = 5;
static u64 nr_mapped = 100000;
static bool quick;
static FILE *report;

/*----------------------------------------------------------------
 * Output
 *--------------------------------------------------------------*/

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (report) {
		va_start(ap, fmt);
		vfprintf(report, fmt, ap);
		va_end(ap);
	}
	fflush(stdout);
}

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_core: %s: %s\n", what, strerror(-r));
	exit(1);
}

#define ok(expr) do {								\
	int r__ = (expr);							\
	if (r__)								\
		die(#expr, r__);						\
} while (0)

/*----------------------------------------------------------------
 * Time and statistics
 *--------------------------------------------------------------*/

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct stat3 {
	double median, min, max;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct stat3 stats(double *v, unsigned int n)
{
	struct stat3 s = { 0 };

	if (!n)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

/* "median (min-max)" with a scale and a format. */
static const char *fmt_stat(char *buf, size_t len, struct stat3 s, double scale,
			    const char *f)
{
	char a[32], b[32], c[32];

	snprintf(a, sizeof(a), f, s.median * scale);
	snprintf(b, sizeof(b), f, s.min * scale);
	snprintf(c, sizeof(c), f, s.max * scale);
	snprintf(buf, len, "%s (%s–%s)", a, b, c);
	return buf;
}

/* Rates: the median of rates, min and max swapped from the times. */
static const char *fmt_rate(char *buf, size_t len, double *secs, unsigned int n, double ops)
{
	double rates[MAX_RUNS];
	unsigned int i;

	for (i = 0; i < n; i++)
		rates[i] = ops / secs[i];
	return fmt_stat(buf, len, stats(rates, n), 1e-3, "%.0f");
}

/*----------------------------------------------------------------
 * Random numbers (xorshift64*: fixed seeds, repeatable runs)
 *--------------------------------------------------------------*/

static u64 rng = 0x9e3779b97f4a7c15ULL;

static u64 rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static u64 *permutation(u64 n)
{
	u64 *p = malloc(n * sizeof(*p)), i;

	if (!p)
		die("malloc", -ENOMEM);
	for (i = 0; i < n; i++)
		p[i] = i;
	for (i = n - 1; i > 0; i--) {
		u64 j = rnd() % (i + 1), t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

/*----------------------------------------------------------------
 * A pool in memory
 *--------------------------------------------------------------*/

struct pool {
	int fd;
	struct dmrow_bm *bm;
	struct dmrow_metadata *md;
	unsigned int uncommitted;
	u64 next_disk;
};

static void pool_create(struct pool *p)
{
	static const u8 uuid[16] = { 0xbe, 0x4c };

	memset(p, 0, sizeof(*p));
	p->fd = memfd_create("bench-core-metadata", 0);
	if (p->fd < 0 || ftruncate(p->fd, (off_t)MD_BLOCKS * DMROW_METADATA_BLOCK_SIZE))
		die("memfd", -errno);
	p->bm = dmrow_bm_open_fd(p->fd, MD_BLOCKS, CACHE_BLOCKS, false);
	if (!p->bm)
		die("block cache", -ENOMEM);
	ok(dmrow_md_format(p->bm, 8, DATA_BLOCKS, uuid, &p->md));
	ok(dmrow_md_set_quota(p->md, 65536, 65536));
	ok(dmrow_md_commit(p->md));
	p->next_disk = 1;
}

static void pool_destroy(struct pool *p)
{
	dmrow_md_close(p->md);
	dmrow_bm_destroy(p->bm);
	close(p->fd);
}

static void commit(struct pool *p)
{
	ok(dmrow_md_commit(p->md));
	p->uncommitted = 0;
}

static u64 new_disk(struct pool *p, u64 size)
{
	u64 id = p->next_disk++;

	ok(dmrow_md_create_disk(p->md, id, size, "", 0));
	return id;
}

/* One block write as the I/O path does it: allocate, map; commit now and then. */
static void write_block(struct pool *p, u64 disk, u64 vblock)
{
	u64 b;
	int r = dmrow_md_alloc_data_block(p->md, &b);

	if (r == -EAGAIN) {
		commit(p);
		r = dmrow_md_alloc_data_block(p->md, &b);
	}
	ok(r);
	ok(dmrow_md_insert_block(p->md, disk, vblock, b));
	if (++p->uncommitted >= COMMIT_EVERY)
		commit(p);
}

static u64 snapshot(struct pool *p, u64 disk)
{
	struct dmrow_snapshot_attrs attrs = { .name = "" };
	u64 id;

	ok(dmrow_md_create_snapshots(p->md, 1, &disk, &attrs, &id));
	return id;
}

static u64 metadata_used(struct pool *p)
{
	struct dmrow_pool_info info;

	ok(dmrow_md_pool_info(p->md, &info));
	return info.metadata_used;
}

/* A disk of @n mapped blocks, written in order or in random order. */
static u64 fill_disk(struct pool *p, u64 n, bool random, double *secs)
{
	u64 disk = new_disk(p, n), i, *order = random ? permutation(n) : NULL;
	double t0 = now();

	for (i = 0; i < n; i++)
		write_block(p, disk, order ? order[i] : i);
	commit(p);
	if (secs)
		*secs = now() - t0;
	free(order);
	return disk;
}

/*----------------------------------------------------------------
 * Lookups and inserts
 *--------------------------------------------------------------*/

static void bench_lookup_insert(void)
{
	double seq_ins[MAX_RUNS], rnd_ins[MAX_RUNS], seq_look[MAX_RUNS], rnd_look[MAX_RUNS];
	u64 nr_lookups = nr_mapped;
	char a[128], b[128], c[128], d[128];
	unsigned int r;

	for (r = 0; r < runs; r++) {
		struct dmrow_mapping m;
		struct pool p;
		u64 disk, i, *order;
		double t0;

		pool_create(&p);
		disk = fill_disk(&p, nr_mapped, false, &seq_ins[r]);
		fill_disk(&p, nr_mapped, true, &rnd_ins[r]);

		t0 = now();
		for (i = 0; i < nr_lookups; i++)
			ok(dmrow_md_find_block(p.md, disk, 0, i, &m));
		seq_look[r] = now() - t0;

		order = permutation(nr_mapped);
		t0 = now();
		for (i = 0; i < nr_lookups; i++)
			ok(dmrow_md_find_block(p.md, disk, 0, order[i], &m));
		rnd_look[r] = now() - t0;
		free(order);
		pool_destroy(&p);
	}

	out("\n## Lookups and inserts on a disk of %llu mapped blocks\n\n",
	    (unsigned long long)nr_mapped);
	out("Thousands of operations per second, median (min–max) of %u runs.  An insert is\n"
	    "`dmrow_md_alloc_data_block()` + `dmrow_md_insert_block()`, with a commit every\n"
	    "%u inserts (included); a lookup is `dmrow_md_find_block()` on the live head.\n\n",
	    runs, COMMIT_EVERY);
	out("| operation | sequential (k/s) | random (k/s) |\n|---|---:|---:|\n");
	out("| insert | %s | %s |\n", fmt_rate(a, sizeof(a), seq_ins, runs, nr_mapped),
	    fmt_rate(b, sizeof(b), rnd_ins, runs, nr_mapped));
	out("| lookup | %s | %s |\n", fmt_rate(c, sizeof(c), seq_look, runs, nr_lookups),
	    fmt_rate(d, sizeof(d), rnd_look, runs, nr_lookups));
}

/*----------------------------------------------------------------
 * Snapshots against chain length
 *--------------------------------------------------------------*/

#define CHAIN_BASE_BLOCKS	10000
#define WRITES_PER_SNAPSHOT	4

static void bench_chain(void)
{
	static const unsigned int lengths[] = { 1, 16, 256, 1024, 4096 };
	unsigned int nr_lengths = quick ? 3 : 5, li, r, len = 0, cap = 8192;
	u64 *chain = malloc(cap * sizeof(*chain));
	struct pool p;
	u64 disk;

	pool_create(&p);
	disk = fill_disk(&p, CHAIN_BASE_BLOCKS, false, NULL);

	out("\n## Snapshot create and delete against chain length\n\n");
	out("A disk of %u mapped blocks; before each snapshot %u random blocks are\n"
	    "written.  At each length, %u snapshots are created (timed alone, and with\n"
	    "the commit that follows) and %u snapshots from the middle of the chain are\n"
	    "deleted (likewise).  Microseconds, median (min–max).\n\n",
	    CHAIN_BASE_BLOCKS, WRITES_PER_SNAPSHOT, runs, runs);
	out("| chain length | create (µs) | create + commit (µs) | delete (µs) | delete + commit (µs) |\n");
	out("|---:|---:|---:|---:|---:|\n");

	for (li = 0; li < nr_lengths; li++) {
		double create[MAX_RUNS], create_c[MAX_RUNS], del[MAX_RUNS], del_c[MAX_RUNS];
		char a[128], b[128], c[128], d[128];
		unsigned int w;

		/* Grow the chain to length - 1: the timed create makes it length. */
		while (len + 1 < lengths[li]) {
			for (w = 0; w < WRITES_PER_SNAPSHOT; w++)
				write_block(&p, disk, rnd() % CHAIN_BASE_BLOCKS);
			chain[len++] = snapshot(&p, disk);
			commit(&p);
		}
		for (r = 0; r < runs; r++) {
			double t0, t1;

			for (w = 0; w < WRITES_PER_SNAPSHOT; w++)
				write_block(&p, disk, rnd() % CHAIN_BASE_BLOCKS);
			commit(&p);
			t0 = now();
			chain[len++] = snapshot(&p, disk);
			t1 = now();
			commit(&p);
			create[r] = t1 - t0;
			create_c[r] = now() - t0;
			if (r + 1 < runs) {
				/* Back to the length measured. */
				ok(dmrow_md_delete_snapshot(p.md, chain[--len]));
				commit(&p);
			}
		}
		for (r = 0; r < runs; r++) {
			unsigned int mid = len / 2;
			double t0, t1;

			t0 = now();
			ok(dmrow_md_delete_snapshot(p.md, chain[mid]));
			t1 = now();
			commit(&p);
			del[r] = t1 - t0;
			del_c[r] = now() - t0;
			memmove(&chain[mid], &chain[mid + 1], (len - mid - 1) * sizeof(*chain));
			len--;
			/* Put one back, so the next delete sees the same length. */
			for (w = 0; w < WRITES_PER_SNAPSHOT; w++)
				write_block(&p, disk, rnd() % CHAIN_BASE_BLOCKS);
			chain[len++] = snapshot(&p, disk);
			commit(&p);
		}
		out("| %u | %s | %s | %s | %s |\n", lengths[li],
		    fmt_stat(a, sizeof(a), stats(create, runs), 1e6, "%.1f"),
		    fmt_stat(b, sizeof(b), stats(create_c, runs), 1e6, "%.1f"),
		    fmt_stat(c, sizeof(c), stats(del, runs), 1e6, "%.1f"),
		    fmt_stat(d, sizeof(d), stats(del_c, runs), 1e6, "%.1f"));
	}
	pool_destroy(&p);
	free(chain);
}

/*----------------------------------------------------------------
 * Delete against disk size; metadata per mapping
 *--------------------------------------------------------------*/

#define FIXED_DELTA 64

static void bench_delete_size(void)
{
	static const u64 sizes[] = { 10000, 100000, 1000000 };
	unsigned int nr_sizes = quick ? 2 : 3, si, r;
	double per_mapping[3];
	u64 used[3];

	out("\n## Snapshot delete against disk size\n\n");
	out("A disk of S sequentially mapped blocks; %u + 1 snapshots, %u random blocks\n"
	    "written between each two, so that each snapshot holds a delta of %u blocks;\n"
	    "then the %u oldest are deleted one by one (each the oldest at the time, its\n"
	    "delta passing to its successor).  Microseconds, median (min–max).\n\n",
	    runs, FIXED_DELTA, FIXED_DELTA, runs);
	out("| mapped blocks | fill (k inserts/s) | delete (µs) | delete + commit (µs) |\n");
	out("|---:|---:|---:|---:|\n");
	for (si = 0; si < nr_sizes; si++) {
		double del[MAX_RUNS], del_c[MAX_RUNS], fill;
		u64 snaps[MAX_RUNS + 1], disk, base;
		char a[128], b[128];
		struct pool p;
		unsigned int w;

		pool_create(&p);
		base = metadata_used(&p);
		disk = fill_disk(&p, sizes[si], false, &fill);
		used[si] = metadata_used(&p) - base;
		per_mapping[si] = (double)used[si] / sizes[si];
		for (r = 0; r <= runs; r++) {
			snaps[r] = snapshot(&p, disk);
			for (w = 0; w < FIXED_DELTA; w++)
				write_block(&p, disk, rnd() % sizes[si]);
			commit(&p);
		}
		for (r = 0; r < runs; r++) {
			double t0 = now(), t1;

			ok(dmrow_md_delete_snapshot(p.md, snaps[r]));
			t1 = now();
			commit(&p);
			del[r] = t1 - t0;
			del_c[r] = now() - t0;
		}
		out("| %llu | %.0f | %s | %s |\n", (unsigned long long)sizes[si],
		    sizes[si] / fill / 1e3,
		    fmt_stat(a, sizeof(a), stats(del, runs), 1e6, "%.1f"),
		    fmt_stat(b, sizeof(b), stats(del_c, runs), 1e6, "%.1f"));
		pool_destroy(&p);
	}

	out("\n## Metadata blocks per mapped block\n\n");
	out("Metadata blocks (%u bytes) in use for one disk, over its mapped blocks: the\n"
	    "mapping tree plus the data space map's refcount blocks and index.\n\n",
	    DMROW_METADATA_BLOCK_SIZE);
	out("| mapped blocks | written | metadata blocks | blocks per mapping | bytes per mapping |\n");
	out("|---:|---|---:|---:|---:|\n");
	for (si = 0; si < nr_sizes; si++)
		out("| %llu | sequentially | %llu | %.5f | %.1f |\n",
		    (unsigned long long)sizes[si], (unsigned long long)used[si],
		    per_mapping[si], per_mapping[si] * DMROW_METADATA_BLOCK_SIZE);
	{
		struct pool p;
		u64 base, u, n = sizes[nr_sizes - 2];

		pool_create(&p);
		base = metadata_used(&p);
		fill_disk(&p, n, true, NULL);
		u = metadata_used(&p) - base;
		out("| %llu | randomly | %llu | %.5f | %.1f |\n", (unsigned long long)n,
		    (unsigned long long)u, (double)u / n,
		    (double)u / n * DMROW_METADATA_BLOCK_SIZE);
		pool_destroy(&p);
	}
}

/*----------------------------------------------------------------
 * Diff against delta size
 *--------------------------------------------------------------*/

#define DIFF_BASE_BLOCKS 100000

static int count_changed(void *context, u64 vblock, u64 data_block)
{
	(*(u64 *)context)++;
	return 0;
}

static void bench_diff(void)
{
	static const unsigned int deltas[] = { 1, 10, 100, 1000, 10000 };
	unsigned int nr_deltas = quick ? 3 : 5, di, r, w;
	u64 base_blocks = quick ? 10000 : DIFF_BASE_BLOCKS;
	struct pool p;
	u64 disk;

	pool_create(&p);
	disk = fill_disk(&p, base_blocks, false, NULL);

	out("\n## Diff against delta size\n\n");
	out("A disk of %llu mapped blocks; snapshot A, then D distinct random blocks\n"
	    "written, snapshot B; `dmrow_md_diff(A, B)` timed %u times (cache warm).\n"
	    "Microseconds, median (min–max).\n\n", (unsigned long long)base_blocks, runs);
	out("| delta (blocks) | changed blocks reported | diff (µs) | µs per changed block |\n");
	out("|---:|---:|---:|---:|\n");
	for (di = 0; di < nr_deltas; di++) {
		u64 a, b, *order = permutation(base_blocks), changed = 0;
		double t[MAX_RUNS], per[MAX_RUNS];
		char x[128], y[128];

		a = snapshot(&p, disk);
		for (w = 0; w < deltas[di]; w++)
			write_block(&p, disk, order[w]);
		b = snapshot(&p, disk);
		commit(&p);
		free(order);
		for (r = 0; r < runs; r++) {
			double t0 = now();

			changed = 0;
			ok(dmrow_md_diff(p.md, disk, a, b, count_changed, &changed));
			t[r] = now() - t0;
			per[r] = t[r] / (changed ? changed : 1);
		}
		out("| %u | %llu | %s | %s |\n", deltas[di], (unsigned long long)changed,
		    fmt_stat(x, sizeof(x), stats(t, runs), 1e6, "%.1f"),
		    fmt_stat(y, sizeof(y), stats(per, runs), 1e6, "%.2f"));
		ok(dmrow_md_delete_snapshot(p.md, a));
		ok(dmrow_md_delete_snapshot(p.md, b));
		commit(&p);
	}
	pool_destroy(&p);
}

/*----------------------------------------------------------------*/

/* The machine's load average: other work skews every figure. */
static const char *loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");

	snprintf(buf, len, "unknown");
	if (f) {
		if (fgets(buf, len, f))
			buf[strcspn(buf, " ")] = '\0';
		fclose(f);
	}
	return buf;
}

static void header(int argc, char **argv)
{
	char cpu[256] = "unknown", line[512];
	struct utsname u;
	time_t t = time(NULL);
	char date[64];
	FILE *f;
	int i;

	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(cpu, sizeof(cpu), "%s", strchr(line, ':') + 2);
			cpu[strcspn(cpu, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	uname(&u);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M", localtime(&t));

	out("# dm-row metadata core micro-benchmark\n\n");
	out("- date: %s\n- host: %s %s, %s, %ld CPUs\n", date, u.sysname, u.release, cpu,
	    sysconf(_SC_NPROCESSORS_ONLN));
	out("- load average (1 min) at the start: %s\n", loadavg(line, sizeof(line)));
	out("- command:");
	for (i = 0; i < argc; i++)
		out(" %s", argv[i]);
	out("\n- build: `%s`\n", BENCH_CFLAGS);
	out("- set-up: the core in userspace, one thread; metadata in memory (memfd) behind\n"
	    "  the userspace block cache of %u blocks (%u MiB), large enough that no\n"
	    "  metadata block is read twice from the file; %u-byte metadata blocks.\n"
	    "  Figures are the core's CPU cost, not a device's: compare them with each\n"
	    "  other, not with I/O latencies.\n",
	    CACHE_BLOCKS, CACHE_BLOCKS * DMROW_METADATA_BLOCK_SIZE >> 20,
	    DMROW_METADATA_BLOCK_SIZE);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	double t0 = now();
	int c;

	while ((c = getopt(argc, argv, "o:n:r:qh")) != -1) {
		switch (c) {
		case 'o':
			path = optarg;
			break;
		case 'n':
			nr_mapped = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'q':
			quick = true;
			break;
		default:
			fprintf(stderr, "usage: bench_core [-o FILE.md] [-n N] [-r RUNS] [-q]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (runs < 3 || runs > MAX_RUNS || nr_mapped < 1000) {
		fprintf(stderr, "bench_core: need 3 <= runs <= %d and N >= 1000\n", MAX_RUNS);
		return 2;
	}
	if (quick && nr_mapped > 20000)
		nr_mapped = 20000;
	if (path) {
		report = fopen(path, "w");
		if (!report) {
			perror(path);
			return 1;
		}
	}

	header(argc, argv);
	bench_lookup_insert();
	bench_chain();
	bench_delete_size();
	bench_diff();
	{
		char line[64];

		struct rusage ru;
		double wall = now() - t0, cpu;

		getrusage(RUSAGE_SELF, &ru);
		cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		      (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
		out("\nTotal run time: %.0f s wall, %.0f s CPU (%.0f%%: below 100%%, the machine\n"
		    "was busy with other work and every figure above is inflated); load\n"
		    "average (1 min) at the end: %s.\n",
		    wall, cpu, 100 * cpu / wall, loadavg(line, sizeof(line)));
	}
	if (report && fclose(report)) {
		perror(path);
		return 1;
	}
	return 0;
}
