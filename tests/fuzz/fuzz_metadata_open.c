// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: open a pool from an arbitrary metadata image and use it.
 *
 * Input: one flags byte, then the image: IMAGE_BLOCKS metadata blocks of
 * DMROW_METADATA_BLOCK_SIZE bytes, zero-padded or truncated to that size.
 *
 *   bit 0  reseal: recompute every nonzero block's checksum before opening
 *          (superblock slots with the superblock seed; other blocks with
 *          the B-tree seed if their header flags say leaf or internal,
 *          else the refcount seed), so that mutations reach the decoders
 *          instead of stopping at the first checksum
 *   bit 1  relocate: also set every nonzero block's header location to
 *          where it is, so copied blocks pass the self-location check
 *   bits 4-7  which disk/snapshot the read-write operations start from
 *
 * FUZZ_VERBOSE=1 in the environment prints every call and its result.
 *
 * The image is opened read-only, then read-write.  Each time, whatever it
 * holds is read back: pool info, every disk and snapshot (bounded), block
 * lookups, deltas, diffs and the full check.  Read-write, a handful of
 * modifying operations follow (new disk, writes, snapshots, clone, delete,
 * merge, rollback, discard, remove) and a commit.  Corrupt metadata must
 * make these fail with an error: a crash, hang, leak, sanitizer report or
 * a metadata block left locked (a dm-bufio hold leaked, in the kernel) is
 * a bug in the core.
 *
 * Block locks are counted by wrapping the block manager's lock functions
 * (the link uses -Wl,--wrap): no call into the core may return holding one.
 */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/crc32c.h>
#include <dm-row/ondisk.h>

#include "dm-row-block-manager.h"
#include "dm-row-metadata.h"
#include "dm-row-check.h"
#include "../../userspace/compat/public/block-cache.h"

#define IMAGE_BLOCKS	64
#define IMAGE_BYTES	(IMAGE_BLOCKS * DMROW_METADATA_BLOCK_SIZE)
#define CACHE_BLOCKS	IMAGE_BLOCKS

#define FLAG_RESEAL	(1u << 0)
#define FLAG_RELOCATE	(1u << 1)

/* Bounds on the work done per input, so that a slow input means a bug. */
#define MAX_DISKS	16
#define MAX_SNAPS	32
#define MAX_DIFF_ENTRIES (1u << 16)

/*
 * The harness's own findings go to a copy of stderr taken at start-up:
 * -close_fd_mask=2 silences the core's error messages (one per corrupt
 * block, a flood) but must not silence these.
 */
static int report_fd = 2;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd = dup(2);

	if (fd >= 0)
		report_fd = fd;
	return 0;
}

#define fuzz_fail(...) do {							\
	dprintf(report_fd, "fuzz: " __VA_ARGS__);				\
	abort();								\
} while (0)

/*----------------------------------------------------------------
 * Block lock accounting
 *--------------------------------------------------------------*/

static long nr_locked;

int __real_dmrow_bm_read_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
			      struct dmrow_block **result);
int __real_dmrow_bm_write_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
			       struct dmrow_block **result);
int __real_dmrow_bm_write_lock_zero(struct dmrow_bm *bm, u64 b,
				    const struct dmrow_validator *v,
				    struct dmrow_block **result);
void __real_dmrow_bm_unlock(struct dmrow_block *blk);

int __wrap_dmrow_bm_read_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
			      struct dmrow_block **result)
{
	int r = __real_dmrow_bm_read_lock(bm, b, v, result);

	nr_locked += !r;
	return r;
}

int __wrap_dmrow_bm_write_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
			       struct dmrow_block **result)
{
	int r = __real_dmrow_bm_write_lock(bm, b, v, result);

	nr_locked += !r;
	return r;
}

int __wrap_dmrow_bm_write_lock_zero(struct dmrow_bm *bm, u64 b,
				    const struct dmrow_validator *v,
				    struct dmrow_block **result)
{
	int r = __real_dmrow_bm_write_lock_zero(bm, b, v, result);

	nr_locked += !r;
	return r;
}

void __wrap_dmrow_bm_unlock(struct dmrow_block *blk)
{
	if (--nr_locked < 0)
		fuzz_fail("block unlocked more often than locked\n");
	__real_dmrow_bm_unlock(blk);
}

#define no_locks_held(what) do {						\
	if (nr_locked)								\
		fuzz_fail("%s returned holding %ld block lock(s)\n",		\
			  what, nr_locked);					\
} while (0)

/* FUZZ_VERBOSE=1 in the environment: print what each call returned. */
static int verbose = -1;

static void trace(const char *what, int r)
{
	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (verbose)
		dprintf(report_fd, "fuzz: %s = %d\n", what, r);
}

/* Call a core function; it must not return holding a block. */
#define CALL(expr) ({								\
	int r__ = (expr);							\
	no_locks_held(#expr);							\
	trace(#expr, r__);							\
	r__;									\
})

/*----------------------------------------------------------------
 * The image
 *--------------------------------------------------------------*/

static u8 image[IMAGE_BYTES];

static bool block_is_zero(const u8 *p)
{
	static const u8 zero[DMROW_METADATA_BLOCK_SIZE];

	return !memcmp(p, zero, sizeof(zero));
}

static void reseal(u8 *block, u64 blocknr, bool relocate)
{
	struct row_disk_block_header *hdr = (void *)block;
	u32 flags = le32_to_cpu(hdr->flags);
	u32 seed;

	if (relocate)
		hdr->blocknr = cpu_to_le64(blocknr);
	if (blocknr < DMROW_SUPERBLOCK_SLOTS)
		seed = DMROW_CSUM_SEED_SUPERBLOCK;
	else if (flags == DMROW_BTREE_LEAF || flags == DMROW_BTREE_INTERNAL)
		seed = DMROW_CSUM_SEED_BTREE;
	else
		seed = DMROW_CSUM_SEED_REFCOUNT;
	hdr->csum = cpu_to_le32(crc32c(seed, block + sizeof(hdr->csum),
				       DMROW_METADATA_BLOCK_SIZE - sizeof(hdr->csum)));
}

static int image_fd = -1;

static int write_image(void)
{
	if (image_fd < 0) {
		image_fd = memfd_create("dmrow-fuzz-metadata", 0);
		if (image_fd < 0) {
			perror("memfd_create");
			abort();
		}
	}
	if (pwrite(image_fd, image, IMAGE_BYTES, 0) != IMAGE_BYTES) {
		perror("pwrite");
		abort();
	}
	return 0;
}

/*----------------------------------------------------------------
 * Reading everything
 *--------------------------------------------------------------*/

struct seen {
	unsigned int nr_disks, nr_snaps;
	struct dmrow_disk_info disks[MAX_DISKS];
	struct dmrow_snapshot_info snaps[MAX_SNAPS];
};

static int count_diff(void *context, u64 vblock, u64 data_block)
{
	unsigned int *n = context;

	return ++*n >= MAX_DIFF_ENTRIES ? -E2BIG : 0;
}

static void diff(struct dmrow_metadata *md, u64 disk, u64 from, u64 to)
{
	unsigned int n = 0;

	CALL(dmrow_md_diff(md, disk, from, to, 0, count_diff, &n));
}

/* A block the I/O path is given must be on the data device. */
static void find_block(struct dmrow_metadata *md, u64 disk, u64 snap, u64 vblock,
		       u64 data_blocks)
{
	struct dmrow_mapping m = { 0 };

	if (!CALL(dmrow_md_find_block(md, disk, snap, vblock, &m)) &&
	    m.data_block >= data_blocks)
		fuzz_fail("disk %llu snap %llu block %llu maps past the data device\n",
			  (unsigned long long)disk, (unsigned long long)snap,
			  (unsigned long long)vblock);
}

static void lookups(struct dmrow_metadata *md, u64 disk, u64 snap, u64 size,
		    u64 data_blocks)
{
	static const u64 fixed[] = { 0, 1, 2, 100, 252, 253, 254, 1000, ~0ULL };
	unsigned int i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		find_block(md, disk, snap, fixed[i], data_blocks);
	if (size) {
		find_block(md, disk, snap, size - 1, data_blocks);
		find_block(md, disk, snap, size / 2, data_blocks);
	}
}

static void run_check(struct dmrow_metadata *md)
{
	struct dmrow_check_result result;

	CALL(dmrow_md_check(md, &result, NULL, NULL));
}

static void read_everything(struct dmrow_metadata *md, struct seen *seen)
{
	struct dmrow_pool_info pool;
	struct dmrow_disk_info disk;
	struct dmrow_snapshot_info snap;
	u64 from, blocks;
	unsigned int i;

	memset(seen, 0, sizeof(*seen));
	if (CALL(dmrow_md_pool_info(md, &pool)))
		return;

	for (from = 0; seen->nr_disks < MAX_DISKS; from = disk.id + 1) {
		if (CALL(dmrow_md_next_disk(md, from, &disk)))
			break;
		if (disk.id < from)
			fuzz_fail("next_disk(%llu) went back to %llu\n",
				  (unsigned long long)from, (unsigned long long)disk.id);
		seen->disks[seen->nr_disks++] = disk;
		if (disk.id == ~0ULL)
			break;
	}
	for (from = 0; seen->nr_snaps < MAX_SNAPS; from = snap.id + 1) {
		if (CALL(dmrow_md_next_snapshot(md, from, &snap)))
			break;
		if (snap.id < from)
			fuzz_fail("next_snapshot(%llu) went back to %llu\n",
				  (unsigned long long)from, (unsigned long long)snap.id);
		seen->snaps[seen->nr_snaps++] = snap;
		if (snap.id == ~0ULL)
			break;
	}

	for (i = 0; i < seen->nr_disks; i++) {
		const struct dmrow_disk_info *d = &seen->disks[i];

		CALL(dmrow_md_get_disk(md, d->id, &disk));
		lookups(md, d->id, 0, d->size_blocks, pool.data_blocks);
		CALL(dmrow_md_mapped_blocks(md, d->id, 0, &blocks));
		CALL(dmrow_md_disk_delta(md, d->id, &blocks));
		CALL(dmrow_md_chain_capacity(md, d->id, &blocks));
		diff(md, d->id, 0, 0);
		diff(md, d->id, d->last_snapshot, 0);
		diff(md, d->id, d->first_snapshot, d->last_snapshot);
		if (d->first_snapshot)
			CALL(dmrow_md_get_snapshot(md, d->first_snapshot, &snap));
	}
	for (i = 0; i < seen->nr_snaps; i++) {
		const struct dmrow_snapshot_info *s = &seen->snaps[i];

		lookups(md, s->disk_id, s->id, s->size_blocks, pool.data_blocks);
		CALL(dmrow_md_snapshot_delta(md, s->id, &blocks));
		CALL(dmrow_md_snapshot_exclusive(md, s->id, &blocks));
		CALL(dmrow_md_mapped_blocks(md, s->disk_id, s->id, &blocks));
		diff(md, s->disk_id, s->prev, s->id);
		diff(md, s->disk_id, s->id, 0);
	}
	/* Ids that exist nowhere, and the edges of the id space. */
	CALL(dmrow_md_get_disk(md, ~0ULL, &disk));
	CALL(dmrow_md_get_snapshot(md, ~0ULL, &snap));
	CALL(dmrow_md_next_disk(md, ~0ULL, &disk));
	CALL(dmrow_md_next_snapshot(md, ~0ULL, &snap));
}

/*----------------------------------------------------------------
 * Changing things
 *--------------------------------------------------------------*/

/* The argument errors leave the transaction intact; anything else may not. */
static bool must_abort(int r)
{
	return r && r != -ENODATA && r != -EEXIST && r != -EINVAL && r != -EDQUOT &&
	       r != -EBUSY;
}

#define MODIFY(md, expr) ({							\
	int r__ = CALL(expr);							\
	if (must_abort(r__) && CALL(dmrow_md_abort(md)))			\
		goto out;							\
	r__;									\
})

static int write_blocks(struct dmrow_metadata *md, u64 disk, u64 first, unsigned int nr,
			unsigned int stride)
{
	unsigned int i;
	u64 b;
	int r;

	for (i = 0; i < nr; i++) {
		r = CALL(dmrow_md_alloc_data_block(md, &b));
		if (r == -EAGAIN) {
			r = CALL(dmrow_md_commit(md));
			if (!r)
				r = CALL(dmrow_md_alloc_data_block(md, &b));
		}
		if (r)
			return r;
		r = CALL(dmrow_md_insert_block(md, disk, first + (u64)i * stride, b));
		if (r) {
			if (!must_abort(r))
				r = CALL(dmrow_md_release_data_block(md, b));
			return r;
		}
	}
	return 0;
}

static void modify(struct dmrow_metadata *md, const struct seen *seen, unsigned int pick)
{
	const struct dmrow_disk_info *d = seen->nr_disks ?
		&seen->disks[pick % seen->nr_disks] : NULL;
	const struct dmrow_snapshot_info *s = seen->nr_snaps ?
		&seen->snaps[pick % seen->nr_snaps] : NULL;
	struct dmrow_snapshot_attrs attrs[2] = {
		{ .name = "", .created = 1 },
		{ .name = "fz", .created = 2, .flags = DMROW_SNAP_AUTO },
	};
	u64 ids[2], snap_ids[2];
	u64 new_disk = 1000 + pick;

	/* A new disk with a tree of more than one leaf, and a snapshot of it. */
	MODIFY(md, dmrow_md_create_disk(md, new_disk, 4096, "fuzz-new", 7));
	MODIFY(md, write_blocks(md, new_disk, 0, 300, 1));
	ids[0] = new_disk;
	MODIFY(md, dmrow_md_create_snapshots(md, 1, ids, attrs, snap_ids));

	if (d) {
		/* Writes into an existing (possibly shared) tree, then snapshots. */
		MODIFY(md, write_blocks(md, d->id, pick, 8, 37));
		ids[1] = d->id;
		MODIFY(md, dmrow_md_create_snapshots(md, 2, ids, attrs, snap_ids));
		MODIFY(md, write_blocks(md, d->id, 0, 4, 1));
		MODIFY(md, dmrow_md_discard(md, d->id, 2, 200));
		MODIFY(md, dmrow_md_set_disk_name(md, d->id, "fuzz-renamed"));
		MODIFY(md, dmrow_md_resize_disk(md, d->id, d->size_blocks / 2 + 1));
		if (d->first_snapshot && d->last_snapshot)
			MODIFY(md, dmrow_md_merge_snapshots(md, d->first_snapshot,
							    d->last_snapshot));
	}
	if (s) {
		MODIFY(md, dmrow_md_clone(md, s->id, new_disk + 1, "fuzz-clone", 0, 8));
		MODIFY(md, write_blocks(md, new_disk + 1, 3, 3, 5));
		MODIFY(md, dmrow_md_set_snapshot_name(md, s->id, "fuzz-snap"));
		MODIFY(md, dmrow_md_rollback(md, s->disk_id, s->id, false));
		MODIFY(md, dmrow_md_delete_snapshot(md, s->id));
	}
	if (d)
		MODIFY(md, dmrow_md_remove_disk(md, d->id));
	MODIFY(md, dmrow_md_commit(md));
	/* The state just committed, read back. */
	run_check(md);
out:
	return;
}

/*----------------------------------------------------------------*/

static void exercise(bool read_only, unsigned int pick)
{
	struct dmrow_metadata *md;
	struct dmrow_bm *bm;
	struct seen seen;

	bm = dmrow_bm_open_fd(image_fd, IMAGE_BLOCKS, CACHE_BLOCKS, read_only);
	if (!bm)
		abort();
	if (CALL(dmrow_md_open(bm, read_only, &md))) {
		dmrow_bm_destroy(bm);
		return;
	}
	/* The pool keeps 64 blocks from the I/O path: all of this image. */
	dmrow_md_set_io_reserve(md, 4);
	/* Nothing changed yet: the check runs on what was read. */
	run_check(md);
	read_everything(md, &seen);
	if (!read_only)
		modify(md, &seen, pick);
	dmrow_md_close(md);
	no_locks_held("dmrow_md_close");
	dmrow_bm_destroy(bm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int flags, b;

	if (!size)
		return 0;
	flags = data[0];
	data++;
	size--;
	if (size > IMAGE_BYTES)
		size = IMAGE_BYTES;
	memcpy(image, data, size);
	memset(image + size, 0, IMAGE_BYTES - size);

	if (flags & FLAG_RESEAL) {
		for (b = 0; b < IMAGE_BLOCKS; b++) {
			u8 *block = image + (size_t)b * DMROW_METADATA_BLOCK_SIZE;

			if (!block_is_zero(block))
				reseal(block, b, flags & FLAG_RELOCATE);
		}
	}
	write_image();
	exercise(true, flags >> 4);
	/* The read-only pass wrote nothing; the read-write one may. */
	exercise(false, flags >> 4);
	return 0;
}
