// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: the pool's control plane.  kernel/dm-row-message.c,
 * compiled unchanged (the few stand-in kernel headers it needs are in
 * tests/fuzz/shim/), parses arbitrary message lines and runs them against
 * the real metadata core on an in-memory pool.  A message sees of its pool
 * only what kernel/dm-row-control.h declares, and this file implements
 * that on a pool with no devices and no bios: the modes, commits and
 * failures are the module's own rules (kernel/dm-row-pool-mode.c, compiled
 * in), and what is left to stand in for is what only the I/O path gives
 * meaning to (flushing the data device, waiting for or holding back bios,
 * loaded devices).
 *
 * Input: two bytes, then text, one message per line, each split into
 * words as dm_split_args() does (blanks separate, a backslash escapes the
 * next character).
 *
 *   byte 0, bits 0-2  the result buffer's size: 16384, 9 (the least the
 *                     dm core can pass: the message itself is in it), 10,
 *                     16, 40, 200, 512 or 4096 bytes
 *           bits 3-4  the pool's mode: rw, out_of_data_space, ro (its
 *                     metadata opened read-only), ro with metadata_low
 *           bit 5     every active device is suspended
 *   byte 1  which devices are active: bits 0-3 the live heads of disks
 *           0-3, bits 4-7 the views of snapshots 1-4
 *
 * Every input starts from the same pool: disks 1 (web) and 2 (db) with
 * mapped blocks, disk 3 (gone) removed but kept by its snapshot, and
 * snapshots 1 (before) and 2 (after, automatic) of disk 1, 3 of disk 2 and
 * 4 of disk 3.
 *
 * What must hold: no crash, leak or sanitizer report; the result buffer
 * holds a NUL within its size; a message returns 0, 1 or one of the errors
 * Documentation/dm-row.rst lists for messages; a failed message leaves
 * no change behind (the transaction is not dirty unless it was before);
 * and whatever the messages did, the pool commits and the metadata checks
 * clean.  FUZZ_VERBOSE=1 prints every message and its result.
 */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dm-row-control.h"
#include "dm-row-check.h"
#include "../../userspace/compat/public/block-cache.h"

#define IMAGE_BLOCKS	64
#define IMAGE_BYTES	(IMAGE_BLOCKS * DMROW_METADATA_BLOCK_SIZE)
/* The pool keeps 64 blocks from the I/O path: all of this image. */
#define TINY_IO_RESERVE	4
#define DATA_BLOCKS	1024
#define MAX_LINES	64
#define MAX_WORDS	512

static int report_fd = 2;

#define fuzz_fail(...) do {							\
	dprintf(report_fd, "fuzz: " __VA_ARGS__);				\
	abort();								\
} while (0)

static bool verbose;

/*----------------------------------------------------------------
 * The pool, as dm-row-control.h shows it to messages
 *--------------------------------------------------------------*/

struct dmrow_pool {
	struct dmrow_bm *bm;
	struct dmrow_metadata *md;
	unsigned int block_shift;
	enum pool_mode mode;
	bool metadata_low;
};

static u8 active_mask;
static bool active_suspended;

struct dmrow_metadata *dmrow_pool_metadata(struct dmrow_pool *pool)
{
	return pool->md;
}

unsigned int dmrow_pool_block_shift(struct dmrow_pool *pool)
{
	return pool->block_shift;
}

enum pool_mode dmrow_pool_mode(struct dmrow_pool *pool)
{
	return pool->mode;
}

bool dmrow_pool_metadata_low(struct dmrow_pool *pool)
{
	return pool->metadata_low;
}

/*
 * The pool's own rules (kernel/dm-row-pool-mode.c), without its log, its
 * events and the bios it fails.
 */
static void set_pool_mode(struct dmrow_pool *pool, enum pool_mode mode)
{
	if (!dmrow_mode_may_change(pool->mode, mode))
		return;
	pool->mode = mode;
	dmrow_mode_entered(pool->md, mode, pool->metadata_low);
}

void dmrow_pool_metadata_failed(struct dmrow_pool *pool, const char *op, int r)
{
	int needs_check_error;

	set_pool_mode(pool, dmrow_mode_after_failure(pool->md, r, &pool->metadata_low,
						     &needs_check_error));
}

/* The data device is not there to flush: the rest is the pool's commit. */
int dmrow_pool_commit(struct dmrow_pool *pool)
{
	bool failed;
	int r = dmrow_mode_commit(pool->md, pool->mode, pool->metadata_low, &failed);

	if (failed)
		dmrow_pool_metadata_failed(pool, "commit", r);
	return r;
}

/*----------------------------------------------------------------
 * What only devices and bios give a meaning to
 *--------------------------------------------------------------*/

/* No data device to flush, and no writes waiting for space. */
int dmrow_pool_flush_data(struct dmrow_pool *pool)
{
	return 0;
}

void dmrow_pool_space_freed(struct dmrow_pool *pool)
{
}

/*
 * No bios here: nothing to wait for before freeing (the metadata's half,
 * freeing without quarantine, is the pool's), nothing to hold back.
 */
void dmrow_pool_begin_freeing(struct dmrow_pool *pool)
{
	dmrow_md_quarantine_frees(pool->md, false);
}

void dmrow_pool_end_freeing(struct dmrow_pool *pool)
{
	dmrow_md_quarantine_frees(pool->md, true);
}

void dmrow_pool_gate_writes(struct dmrow_pool *pool, const u64 *disks, unsigned int nr)
{
}

void dmrow_pool_release_writes(struct dmrow_pool *pool)
{
}

/*
 * Hydration needs a loaded live device with its origin, which the harness
 * has none of: a disk with an origin is refused as the pool refuses one
 * whose device is not loaded; the rest is the message's own parsing.
 */
int dmrow_hydrate_start(struct dmrow_pool *pool, u64 disk_id, u64 rate, const char **why)
{
	struct dmrow_disk_info disk;
	int r = dmrow_md_get_disk(pool->md, disk_id, &disk);

	if (r)
		return r;
	if (!(disk.flags & DMROW_DISK_EXTERNAL_ORIGIN))
		return -ENODATA;
	*why = "the disk's live device, with its origin, is not loaded";
	return -EBUSY;
}

int dmrow_hydrate_pause(struct dmrow_pool *pool, u64 disk_id)
{
	return 0;
}

/* No devices read the origin. */
void dmrow_pool_origin_detached(struct dmrow_pool *pool, u64 disk_id)
{
}

/*
 * The devices the input's second byte says are loaded.  A view belongs to
 * its snapshot's disk, as a disk target's binding does.
 */
bool dmrow_pool_disk_active(struct dmrow_pool *pool, u64 disk_id, u64 snap_id,
			    bool include_suspended)
{
	struct dmrow_snapshot_info snap;

	if (active_suspended && !include_suspended)
		return false;
	if (!snap_id)
		return disk_id < 4 && (active_mask & (1u << disk_id));
	if (snap_id == ~0ULL) {
		if (disk_id < 4 && (active_mask & (1u << disk_id)))
			return true;
		for (snap_id = 1; snap_id <= 4; snap_id++)
			if (dmrow_pool_disk_active(pool, disk_id, snap_id, include_suspended))
				return true;
		return false;
	}
	if (snap_id > 4 || !(active_mask & (1u << (snap_id + 3))))
		return false;
	return !dmrow_md_get_snapshot(pool->md, snap_id, &snap) && snap.disk_id == disk_id;
}

/*----------------------------------------------------------------
 * The starting pool, made once
 *--------------------------------------------------------------*/

static u8 golden[IMAGE_BYTES];
static int image_fd = -1;

#define must(expr) do {								\
	int r__ = (expr);							\
	if (r__)								\
		fuzz_fail("setup: %s = %d\n", #expr, r__);			\
} while (0)

static void map_blocks(struct dmrow_metadata *md, u64 disk, u64 from, u64 to)
{
	u64 v, b;

	for (v = from; v < to; v++) {
		must(dmrow_md_alloc_data_block(md, &b));
		must(dmrow_md_insert_block(md, disk, v, b));
	}
}

static void snapshot(struct dmrow_metadata *md, u64 disk, const char *name, u32 flags)
{
	struct dmrow_snapshot_attrs attrs = {
		.name = name, .created = 1600000000, .flags = flags,
	};
	u64 id;

	must(dmrow_md_create_snapshots(md, 1, &disk, &attrs, &id));
}

static struct dmrow_bm *open_image(bool read_only)
{
	struct dmrow_bm *bm;

	if (image_fd < 0) {
		image_fd = memfd_create("dmrow-fuzz-message", 0);
		if (image_fd < 0) {
			perror("memfd_create");
			abort();
		}
	}
	if (pwrite(image_fd, golden, IMAGE_BYTES, 0) != IMAGE_BYTES) {
		perror("pwrite");
		abort();
	}
	bm = dmrow_bm_open_fd(image_fd, IMAGE_BLOCKS, 64, read_only);
	if (!bm)
		fuzz_fail("cannot open the image\n");
	return bm;
}

static void make_golden(void)
{
	static const u8 uuid[16] = { 0xd3, 0x20, 0x7e, 1 };
	struct dmrow_metadata *md;
	struct dmrow_bm *bm = open_image(false);

	must(dmrow_md_format(bm, 8, DATA_BLOCKS, uuid, &md));
	dmrow_md_set_io_reserve(md, TINY_IO_RESERVE);
	must(dmrow_md_create_disk(md, 1, 64, "web", 1600000000));
	must(dmrow_md_create_disk(md, 2, 16, "db", 1600000000));
	must(dmrow_md_create_disk(md, 3, 8, "gone", 1600000000));
	map_blocks(md, 1, 0, 20);
	map_blocks(md, 2, 0, 4);
	map_blocks(md, 3, 0, 2);
	snapshot(md, 1, "before", 0);
	must(dmrow_md_commit(md));
	map_blocks(md, 1, 5, 10);
	snapshot(md, 1, "after", DMROW_SNAP_AUTO);
	snapshot(md, 2, "db-snap", 0);
	snapshot(md, 3, "last", 0);
	must(dmrow_md_remove_disk(md, 3));
	map_blocks(md, 1, 30, 34);
	must(dmrow_md_commit(md));
	dmrow_md_close(md);
	dmrow_bm_destroy(bm);
	if (pread(image_fd, golden, IMAGE_BYTES, 0) != IMAGE_BYTES) {
		perror("pread");
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd = dup(2);

	if (fd >= 0)
		report_fd = fd;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	make_golden();
	return 0;
}

/*----------------------------------------------------------------
 * One input
 *--------------------------------------------------------------*/

/* Split @line in place into words as dm_split_args() does. */
static unsigned int split_words(char *line, char **words, unsigned int max)
{
	unsigned int n = 0;
	char *in = line, *out;

	for (;;) {
		while (*in == ' ' || (*in >= '\t' && *in <= '\r'))
			in++;
		if (!*in || n == max)
			return n;
		words[n++] = out = in;
		while (*in && !(*in == ' ' || (*in >= '\t' && *in <= '\r'))) {
			if (*in == '\\' && in[1])
				in++;
			*out++ = *in++;
		}
		if (*in)
			in++;
		*out = '\0';
	}
}

/* What Documentation/dm-row.rst says a message may fail with. */
static bool documented(int r)
{
	switch (-r) {
	case EINVAL: case ENODATA: case EEXIST: case EDQUOT: case EBUSY:
	case EROFS: case ENOSPC: case EIO: case ENOMEM: case EILSEQ:
		return true;
	default:
		return false;
	}
}

static const unsigned int result_sizes[8] = { 16384, 9, 10, 16, 40, 200, 512, 4096 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmrow_pool pool = { 0 };
	struct dmrow_check_result check;
	char *text, *line, *next, *words[MAX_WORDS];
	unsigned int maxlen, nr_lines = 0, argc;
	bool read_only, dirty;
	char *result;
	u8 flags;
	int r;

	if (size < 2)
		return 0;
	flags = data[0];
	active_mask = data[1];
	active_suspended = flags & (1u << 5);
	maxlen = result_sizes[flags & 7];
	read_only = ((flags >> 3) & 3) == 2;

	pool.bm = open_image(read_only);
	r = dmrow_md_open(pool.bm, read_only, &pool.md);
	if (r)
		fuzz_fail("cannot open the starting pool: %d\n", r);
	dmrow_md_quarantine_frees(pool.md, true);	/* as the pool opens it */
	dmrow_md_set_io_reserve(pool.md, TINY_IO_RESERVE);
	pool.block_shift = 3;		/* 8 sectors, as make_golden() formats it */
	switch ((flags >> 3) & 3) {
	case 0: pool.mode = POOL_WRITE; break;
	case 1: pool.mode = POOL_OUT_OF_DATA_SPACE; break;
	case 2: pool.mode = POOL_READ_ONLY; break;
	case 3: pool.mode = POOL_READ_ONLY; pool.metadata_low = true; break;
	}

	/* The buffer is exactly maxlen bytes, so ASan sees a write past it. */
	result = malloc(maxlen);
	text = malloc(size - 2 + 1);
	if (!result || !text)
		abort();
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';

	for (line = text; line && nr_lines < MAX_LINES; line = next, nr_lines++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		argc = split_words(line, words, MAX_WORDS);
		if (!argc)
			continue;	/* dm refuses an empty message itself */
		if (verbose)
			dprintf(report_fd, "fuzz: message '%s'%s\n", words[0],
				argc > 1 ? " ..." : "");
		dirty = dmrow_md_dirty(pool.md);
		r = dmrow_process_message(&pool, argc, words, result, maxlen);
		if (verbose)
			dprintf(report_fd, "fuzz:   = %d%s%.*s\n", r, r == 1 ? ": " : "",
				r == 1 ? 200 : 0, result);
		if (!memchr(result, '\0', maxlen))
			fuzz_fail("message '%s' left no NUL in its %u-byte result\n",
				  words[0], maxlen);
		if (r != 0 && r != 1 && !documented(r))
			fuzz_fail("message '%s' failed with undocumented error %d\n",
				  words[0], r);
		if (r < 0 && !dirty && dmrow_md_dirty(pool.md))
			fuzz_fail("message '%s' failed (%d) but left a change to commit\n",
				  words[0], r);
	}

	if (pool.mode < POOL_READ_ONLY || pool.metadata_low) {
		r = dmrow_pool_commit(&pool);
		if (r && r != -ENOSPC)
			fuzz_fail("final commit failed: %d\n", r);
	}
	if (pool.mode < POOL_FAIL) {
		r = dmrow_md_check(pool.md, &check, NULL, NULL);
		if (r || check.nr_problems)
			fuzz_fail("the messages left metadata that does not check: %d, %llu problems\n",
				  r, (unsigned long long)check.nr_problems);
	}

	dmrow_md_close(pool.md);
	dmrow_bm_destroy(pool.bm);
	free(text);
	free(result);
	return 0;
}
