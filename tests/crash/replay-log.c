// SPDX-License-Identifier: GPL-2.0
/*
 * replay-log: read a dm-log-writes log and replay a prefix of it.
 *
 *   replay-log --log DEV [--replay DEV] [--start N] [--limit N]
 *              [--find-flushes] [--list] [-v]
 *
 * The log format.  Documentation/admin-guide/device-mapper/log-writes.rst
 * in the kernel tree describes the target and its log ordering; the layout
 * below is what the target writes, as tests/vm/crash/001-log-format.sh
 * checks.  All integers are little-endian.  The unit of the log is
 * "sectorsize", the logical block size of the logged device, recorded in
 * the superblock.
 *
 *   byte 0            superblock: le64 magic (0x6a736677736872), le64
 *                     version (1), le64 nr_entries, le32 sectorsize
 *   unit 1            entry 0: one unit holding le64 sector, le64
 *                     nr_sectors, le64 flags, le64 data_len, then (marks
 *                     only) data_len bytes of mark text
 *   unit 2...         entry 0's data: nr_sectors units, except for
 *                     discards, which carry none
 *   ...               entry 1, and so on
 *
 * sector and nr_sectors count units of sectorsize on the logged device.
 * Entries are in the order the target logged them: a write is logged once
 * a later flush has completed (or at once if it was FUA), so a prefix of
 * the log ending at a FLUSH or FUA entry is a state the device could have
 * been left in by a power failure right after that flush.
 *
 * Discards are replayed as zeroes.  A discarded range may read back as
 * zeroes or as the old data; skipping the discard would keep, on the
 * replay, data that the logged device (a virtio disk punching holes, here)
 * no longer returned, so the replay would not be the device's state.
 * Zeroes are that state, they are the same whatever the replay device
 * does with discards, and any reliance on discarded data shows up as
 * zeroes instead of passing unnoticed.
 *
 * A limit of the format: a FUA write is logged when it completes, but a
 * plain write that completed before it is logged only at the next flush,
 * after it.  If the two overlap, the log cannot tell whether the plain
 * write is older (the FUA data should win) or newer; replaying in log order
 * assumes newer.  Such overlaps are reported on stderr ("ambiguous order")
 * so that a test can avoid them instead of trusting a state no device
 * could have been in.
 *
 * Entries are numbered from 0 in log order.  --limit N replays entries 0..N
 * inclusive, so `--limit F` for a flush entry F (from --find-flushes)
 * replays up to and including that flush.  --start N skips entries before
 * N: the replay device must hold them already (incremental replay).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#define LOG_MAGIC		0x6a736677736872ULL
#define LOG_VERSION		1

#define LOG_FLUSH		(1U << 0)
#define LOG_FUA			(1U << 1)
#define LOG_DISCARD		(1U << 2)
#define LOG_MARK		(1U << 3)
#define LOG_METADATA		(1U << 4)
#define LOG_KNOWN_FLAGS		(LOG_FLUSH | LOG_FUA | LOG_DISCARD | LOG_MARK | LOG_METADATA)

#define SUPER_SIZE		28	/* 3 x le64 + le32 */
#define ENTRY_HEADER_SIZE	32	/* 4 x le64 */
#define MAX_SECTORSIZE		65536
#define IO_CHUNK		(1U << 20)

struct log_entry {
	uint64_t sector;		/* in units of sectorsize */
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
	char mark[MAX_SECTORSIZE];	/* NUL-terminated, marks only */
};

/* FUA writes logged since the last FLUSH entry, for the overlap warning. */
#define MAX_FUA_TRACKED 4096

struct fua_range {
	uint64_t entry;
	uint64_t start;			/* in units of sectorsize */
	uint64_t end;
};

struct log {
	int fd;
	const char *path;
	uint64_t nr_entries;
	uint32_t sectorsize;
	uint64_t size;			/* bytes */
	uint64_t pos;			/* byte offset of the next entry */
	uint64_t next;			/* number of the next entry */
	unsigned char *unit;		/* one unit, for headers */
	struct fua_range fua[MAX_FUA_TRACKED];
	unsigned int nr_fua;
	uint64_t nr_ambiguous;
};

static const char *prog = "replay-log";
static int verbose;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s --log DEV [--replay DEV] [--start N] [--limit N]\n"
		"       %*s [--find-flushes] [--list] [-v]\n"
		"\n"
		"Read a dm-log-writes log; replay entries onto a device, list them.\n"
		"\n"
		"  --log DEV        the log device (or a copy of it in a file)\n"
		"  --replay DEV     write entries --start..--limit to DEV; discards\n"
		"                   are written as zeroes\n"
		"  --start N        first entry to replay; DEV must hold 0..N-1 [0]\n"
		"  --limit N        last entry to replay, inclusive [the last one]\n"
		"  --find-flushes   print the numbers of FLUSH and FUA entries\n"
		"  --list           print every entry: number, flags, sector,\n"
		"                   sectors (log units), and a mark's text\n"
		"  -v, --verbose    describe each entry replayed on stderr\n"
		"  -h, --help       this text\n"
		"\n"
		"Entries are numbered from 0 in log order.\n",
		prog, (int)strlen(prog), "");
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t get_le32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	exit(2);
}

static uint64_t parse_number(const char *arg, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-')
		usage_error("%s must be a number, not '%s'", what, arg);
	return v;
}

static void read_exact(int fd, void *buf, size_t len, uint64_t off, const char *path)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("%s: read at byte %" PRIu64 ": %s", path, off + done, strerror(errno));
		if (n == 0)
			die("%s: unexpected end at byte %" PRIu64, path, off + done);
		done += n;
	}
}

static void write_exact(int fd, const void *buf, size_t len, uint64_t off, const char *path)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("%s: write at byte %" PRIu64 ": %s", path, off + done, strerror(errno));
		if (n == 0)
			die("%s: short write at byte %" PRIu64, path, off + done);
		done += n;
	}
}

/* Size in bytes of a block device or a regular file. */
static uint64_t dev_size(int fd, const char *path)
{
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st))
		die("%s: %s", path, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size))
			die("%s: cannot get size: %s", path, strerror(errno));
		return size;
	}
	if (!S_ISREG(st.st_mode))
		die("%s: not a block device or a regular file", path);
	return st.st_size;
}

/*
 * Forget cached pages of a block device: the device may have been written
 * underneath its page cache (through a device-mapper target stacked on it),
 * and a cached page would then be stale for reads and for the
 * read-modify-write of a partial-page write.
 */
static void drop_cache(int fd)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISBLK(st.st_mode))
		return;
	(void)ioctl(fd, BLKFLSBUF, 0);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

static void log_open(struct log *log, const char *path)
{
	unsigned char super[SUPER_SIZE];
	uint64_t magic, version;

	log->path = path;
	log->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (log->fd < 0)
		die("%s: %s", path, strerror(errno));
	drop_cache(log->fd);
	log->size = dev_size(log->fd, path);
	if (log->size < SUPER_SIZE)
		die("%s: too small to hold a log", path);
	read_exact(log->fd, super, sizeof(super), 0, path);
	magic = get_le64(super);
	version = get_le64(super + 8);
	log->nr_entries = get_le64(super + 16);
	log->sectorsize = get_le32(super + 24);
	if (magic != LOG_MAGIC)
		die("%s: no dm-log-writes log (magic %#" PRIx64 ")", path, magic);
	if (version != LOG_VERSION)
		die("%s: log version %" PRIu64 " is not supported (only %d)", path, version,
		    LOG_VERSION);
	if (log->sectorsize < 512 || log->sectorsize > MAX_SECTORSIZE ||
	    (log->sectorsize & (log->sectorsize - 1)))
		die("%s: invalid sector size %u", path, log->sectorsize);
	log->unit = malloc(log->sectorsize);
	if (!log->unit)
		die("out of memory");
	log->pos = log->sectorsize;
	log->next = 0;
	log->nr_fua = 0;
	log->nr_ambiguous = 0;
}

/* Read the header of the next entry; leave log->pos at its data. */
static void log_read_header(struct log *log, struct log_entry *e)
{
	uint64_t n = log->next;

	if (log->pos + log->sectorsize > log->size)
		die("%s: entry %" PRIu64 " lies beyond the end of the log", log->path, n);
	read_exact(log->fd, log->unit, log->sectorsize, log->pos, log->path);
	e->sector = get_le64(log->unit);
	e->nr_sectors = get_le64(log->unit + 8);
	e->flags = get_le64(log->unit + 16);
	e->data_len = get_le64(log->unit + 24);
	e->mark[0] = '\0';
	if (e->flags & ~(uint64_t)LOG_KNOWN_FLAGS)
		die("%s: entry %" PRIu64 " has unknown flags %#" PRIx64 " (corrupt log?)",
		    log->path, n, e->flags);
	if (e->flags & LOG_MARK) {
		if (e->data_len > log->sectorsize - ENTRY_HEADER_SIZE)
			die("%s: entry %" PRIu64 ": mark of %" PRIu64 " bytes", log->path, n,
			    e->data_len);
		memcpy(e->mark, log->unit + ENTRY_HEADER_SIZE, e->data_len);
		e->mark[e->data_len] = '\0';
	} else if (e->data_len) {
		die("%s: entry %" PRIu64 ": data_len %" PRIu64 " on an entry that is not a mark",
		    log->path, n, e->data_len);
	}
	if (!(e->flags & LOG_DISCARD) && e->nr_sectors > log->size / log->sectorsize)
		die("%s: entry %" PRIu64 ": %" PRIu64 " sectors (corrupt log?)", log->path, n,
		    e->nr_sectors);
	log->pos += log->sectorsize;
}

/* Bytes of data that follow an entry's header in the log. */
static uint64_t entry_data_bytes(const struct log *log, const struct log_entry *e)
{
	if (e->flags & (LOG_DISCARD | LOG_MARK))
		return 0;
	return e->nr_sectors * log->sectorsize;
}

static void log_skip_data(struct log *log, const struct log_entry *e)
{
	uint64_t len = entry_data_bytes(log, e);

	if (log->pos + len > log->size)
		die("%s: data of entry %" PRIu64 " lies beyond the end of the log", log->path,
		    log->next);
	log->pos += len;
	log->next++;
}

/*
 * Track FUA writes since the last flush and warn about a later plain write
 * or discard to the same sectors before the next flush: see the top.
 */
static void check_order(struct log *log, const struct log_entry *e, uint64_t n)
{
	uint64_t start = e->sector, end = e->sector + e->nr_sectors;
	unsigned int i;

	if (e->flags & LOG_MARK)
		return;
	if (e->flags & LOG_FLUSH) {
		log->nr_fua = 0;
		return;
	}
	if (!e->nr_sectors)
		return;
	if (e->flags & LOG_FUA) {
		if (log->nr_fua < MAX_FUA_TRACKED)
			log->fua[log->nr_fua++] = (struct fua_range){ n, start, end };
		return;
	}
	for (i = 0; i < log->nr_fua; i++) {
		if (start >= log->fua[i].end || log->fua[i].start >= end)
			continue;
		fprintf(stderr, "%s: ambiguous order: entry %" PRIu64 " (sectors %" PRIu64
			"+%" PRIu64 ") overlaps FUA entry %" PRIu64 " logged before it; a write "
			"that completed before the FUA one would be replayed over it\n", prog, n,
			start, e->nr_sectors, log->fua[i].entry);
		log->nr_ambiguous++;
		break;
	}
}

static void flag_names(uint64_t flags, char *buf, size_t len)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ LOG_FLUSH, "FLUSH" }, { LOG_FUA, "FUA" }, { LOG_DISCARD, "DISCARD" },
		{ LOG_MARK, "MARK" }, { LOG_METADATA, "METADATA" },
	};
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & names[i].bit))
			continue;
		n += snprintf(buf + n, len - n, "%s%s", n ? "," : "", names[i].name);
		if (n >= len)
			break;
	}
	if (!n)
		snprintf(buf, len, "WRITE");
}

struct replay {
	int fd;
	const char *path;
	uint64_t size;
	unsigned char *buf;		/* IO_CHUNK */
};

static void replay_zero(struct replay *r, uint64_t off, uint64_t len)
{
	uint64_t done = 0, n;

	if (!len)
		return;
	if (!fallocate(r->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		       (off_t)len))
		return;
	/* Not supported there: write the zeroes. */
	memset(r->buf, 0, IO_CHUNK);
	while (done < len) {
		n = len - done < IO_CHUNK ? len - done : IO_CHUNK;
		write_exact(r->fd, r->buf, n, off + done, r->path);
		done += n;
	}
}

static void replay_entry(struct log *log, struct replay *r, const struct log_entry *e)
{
	uint64_t off = e->sector * log->sectorsize;
	uint64_t len = e->nr_sectors * log->sectorsize;
	uint64_t done = 0, n;

	if (e->flags & LOG_MARK)
		return;
	if (off + len > r->size || off + len < off)
		die("%s: entry %" PRIu64 " (sector %" PRIu64 ", %" PRIu64
		    " sectors) lies beyond the end of the replay device", log->path, log->next,
		    e->sector, e->nr_sectors);
	if (e->flags & LOG_DISCARD) {
		replay_zero(r, off, len);
		return;
	}
	if (log->pos + len > log->size)
		die("%s: data of entry %" PRIu64 " lies beyond the end of the log", log->path,
		    log->next);
	while (done < len) {
		n = len - done < IO_CHUNK ? len - done : IO_CHUNK;
		read_exact(log->fd, r->buf, n, log->pos + done, log->path);
		write_exact(r->fd, r->buf, n, off + done, r->path);
		done += n;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "replay", required_argument, NULL, 'r' },
		{ "start", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ "find-flushes", no_argument, NULL, 'f' },
		{ "list", no_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *log_path = NULL, *replay_path = NULL;
	bool find_flushes = false, list = false, have_limit = false;
	uint64_t start = 0, limit = 0, last, i, replayed = 0;
	struct replay r = { .fd = -1 };
	static struct log log;
	struct log_entry *e;
	char flags[64];
	int c;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			log_path = optarg;
			break;
		case 'r':
			replay_path = optarg;
			break;
		case 's':
			start = parse_number(optarg, "--start");
			break;
		case 'n':
			limit = parse_number(optarg, "--limit");
			have_limit = true;
			break;
		case 'f':
			find_flushes = true;
			break;
		case 'L':
			list = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return 2;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!log_path)
		usage_error("--log is required");
	if (!replay_path && !find_flushes && !list)
		usage_error("nothing to do: give --replay, --find-flushes or --list");

	log_open(&log, log_path);
	if (!log.nr_entries)
		die("%s: the log has no entries", log_path);
	last = have_limit ? limit : log.nr_entries - 1;
	if (last >= log.nr_entries)
		die("%s: --limit %" PRIu64 " but the log has entries 0..%" PRIu64, log_path, last,
		    log.nr_entries - 1);
	if (start > last)
		die("--start %" PRIu64 " is after the last entry to replay (%" PRIu64 ")", start,
		    last);

	if (replay_path) {
		r.path = replay_path;
		r.fd = open(replay_path, O_RDWR | O_CLOEXEC);
		if (r.fd < 0)
			die("%s: %s", replay_path, strerror(errno));
		drop_cache(r.fd);
		r.size = dev_size(r.fd, replay_path);
		r.buf = malloc(IO_CHUNK);
		if (!r.buf)
			die("out of memory");
	}
	e = malloc(sizeof(*e));
	if (!e)
		die("out of memory");
	if (list)
		printf("# entries=%" PRIu64 " sectorsize=%u\n", log.nr_entries, log.sectorsize);

	for (i = 0; i <= last; i++) {
		log_read_header(&log, e);
		check_order(&log, e, i);
		if (list) {
			flag_names(e->flags, flags, sizeof(flags));
			printf("%" PRIu64 " %s %" PRIu64 " %" PRIu64 "%s%s\n", i, flags, e->sector,
			       e->nr_sectors, e->flags & LOG_MARK ? " " : "", e->mark);
		}
		if (find_flushes && (e->flags & (LOG_FLUSH | LOG_FUA)))
			printf("%" PRIu64 "\n", i);
		if (replay_path && i >= start) {
			if (verbose) {
				flag_names(e->flags, flags, sizeof(flags));
				fprintf(stderr, "replay %" PRIu64 " %s sector %" PRIu64 " +%" PRIu64
					"%s%s\n", i, flags, e->sector, e->nr_sectors,
					e->flags & LOG_MARK ? " mark " : "", e->mark);
			}
			replay_entry(&log, &r, e);
			replayed++;
		}
		log_skip_data(&log, e);
	}

	if (replay_path) {
		if (fsync(r.fd))
			die("%s: fsync: %s", replay_path, strerror(errno));
		drop_cache(r.fd);
		if (close(r.fd))
			die("%s: close: %s", replay_path, strerror(errno));
		if (verbose)
			fprintf(stderr, "replayed entries %" PRIu64 "..%" PRIu64 " (%" PRIu64 ")\n",
				start, last, replayed);
	}
	if (fflush(stdout) || ferror(stdout))
		die("write error on standard output");
	free(e);
	free(r.buf);
	free(log.unit);
	close(log.fd);
	return 0;
}
