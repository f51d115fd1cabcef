// SPDX-License-Identifier: GPL-2.0
/*
 * Seed corpus for fuzz_metadata_open: small valid pools, each built by a
 * scenario of disks, writes, snapshots, clones, deletes and rollbacks, and
 * written as the harness reads its input (a flags byte, then the metadata
 * image without its trailing zero blocks).
 *
 *   gen-metadata-corpus DIR
 *
 * The pool is closed and reopened after every commit so that allocation
 * starts again from the lowest free block: the images stay compact.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dm-row-metadata.h"
#include "../../userspace/compat/public/block-cache.h"

#define IMAGE_BLOCKS	64
#define BLOCK_SIZE	DMROW_METADATA_BLOCK_SIZE
#define DATA_BLOCKS	1000

static int fd;
static struct dmrow_bm *bm;
static struct dmrow_metadata *md;
static const char *scenario = "";

#define ok(expr) do {								\
	int r__ = (expr);							\
	if (r__) {								\
		fprintf(stderr, "gen-metadata-corpus: %s: %s: %s\n", scenario,	\
			#expr, strerror(-r__));					\
		exit(1);							\
	}									\
} while (0)

static void pool_open(void)
{
	bm = dmrow_bm_open_fd(fd, IMAGE_BLOCKS, 64, false);
	if (!bm)
		exit(1);
	ok(dmrow_md_open(bm, false, &md));
	dmrow_md_set_io_reserve(md, 4);	/* the default is all of an image */
}

static void pool_close(void)
{
	dmrow_md_close(md);
	dmrow_bm_destroy(bm);
}

/* Format on the first @md_blocks blocks; reopening sees all IMAGE_BLOCKS. */
static void pool_format(u64 data_blocks, u64 md_blocks)
{
	static const u8 uuid[16] = { 0xd3, 0x0e, 0x01 };

	if (ftruncate(fd, 0) || ftruncate(fd, IMAGE_BLOCKS * BLOCK_SIZE))
		exit(1);
	bm = dmrow_bm_open_fd(fd, md_blocks, 64, false);
	if (!bm)
		exit(1);
	ok(dmrow_md_format(bm, 8, data_blocks, uuid, &md));
	dmrow_md_set_io_reserve(md, 4);
}

/* Commit, and reopen so that the next transaction allocates from low blocks. */
static void commit(void)
{
	ok(dmrow_md_commit(md));
	pool_close();
	pool_open();
}

static void write_block(u64 disk, u64 vblock)
{
	u64 b;
	int r = dmrow_md_alloc_data_block(md, &b);

	if (r == -EAGAIN) {
		commit();
		r = dmrow_md_alloc_data_block(md, &b);
	}
	ok(r);
	ok(dmrow_md_insert_block(md, disk, vblock, b));
}

static void write_range(u64 disk, u64 first, unsigned int nr, unsigned int stride)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		write_block(disk, first + (u64)i * stride);
}

static u64 snapshot(u64 disk, const char *name, u32 flags)
{
	struct dmrow_snapshot_attrs attrs = { .name = name, .created = 1700000000, .flags = flags };
	u64 id;

	ok(dmrow_md_create_snapshots(md, 1, &disk, &attrs, &id));
	return id;
}

static void disk(u64 id, u64 size, const char *name)
{
	ok(dmrow_md_create_disk(md, id, size, name, 1700000000));
}

/*----------------------------------------------------------------
 * Scenarios
 *--------------------------------------------------------------*/

static void sc_empty(void)
{
}

static void sc_one_disk(void)
{
	disk(1, 1024, "vm1");
	write_range(1, 0, 20, 3);
}

static void sc_two_level_tree(void)
{
	disk(1, 4096, "big");
	write_range(1, 0, 700, 2);
	commit();
	write_range(1, 5, 10, 100);
}

static void sc_chain(void)
{
	char name[16];
	u64 snaps[6], blocks;
	int i;

	disk(1, 2048, "db");
	for (i = 0; i < 6; i++) {
		write_range(1, i * 7, 5 + i, 11);
		snprintf(name, sizeof(name), "s%d", i);
		snaps[i] = snapshot(1, name, 0);
		commit();
	}
	write_range(1, 3, 4, 1);
	/* Some deltas computed and stored, the others left unknown. */
	ok(dmrow_md_snapshot_delta(md, snaps[2], &blocks));
	ok(dmrow_md_snapshot_delta(md, snaps[4], &blocks));
}

static void sc_instance(void)
{
	struct dmrow_snapshot_attrs attrs[3] = {
		{ .name = "g1", .created = 5, .flags = DMROW_SNAP_APP_CONSISTENT },
		{ .name = "g2", .created = 5, .flags = DMROW_SNAP_APP_CONSISTENT },
		{ .name = "", .created = 5 },
	};
	u64 disks[3] = { 1, 2, 7 }, ids[3];

	disk(1, 512, "a");
	disk(2, 512, "b");
	disk(7, 300, "");
	write_range(1, 0, 40, 1);
	write_range(2, 100, 40, 2);
	write_range(7, 1, 10, 29);
	ok(dmrow_md_create_snapshots(md, 3, disks, attrs, ids));
	commit();
	write_range(1, 10, 5, 1);
	write_range(7, 0, 3, 1);
}

static void sc_clone(void)
{
	u64 s;

	disk(1, 1024, "golden");
	write_range(1, 0, 120, 3);
	s = snapshot(1, "base", 0);
	ok(dmrow_md_clone(md, s, 2, "clone-a", 0, 1700000100));
	ok(dmrow_md_clone(md, s, 3, "clone-b", 0, 1700000100));
	commit();
	write_range(2, 0, 10, 1);
	write_range(3, 200, 5, 1);
	snapshot(2, "c1", 0);
	write_range(2, 50, 2, 1);
}

static void sc_removed_disk(void)
{
	disk(1, 256, "gone");
	write_range(1, 0, 30, 1);
	snapshot(1, "keep1", 0);
	write_range(1, 5, 10, 1);
	snapshot(1, "keep2", 0);
	disk(2, 256, "stays");
	write_range(2, 0, 8, 8);
	commit();
	ok(dmrow_md_remove_disk(md, 1));
}

static void sc_auto_quota(void)
{
	u64 manual = 0;
	int i;

	ok(dmrow_md_set_quota(md, 3, 2));
	disk(4, 128, "auto");
	ok(dmrow_md_set_disk_policy(md, 4, 9));
	ok(dmrow_md_set_disk_flags(md, 4, DMROW_DISK_DELETE_AUTO_SNAPS, DMROW_DISK_DELETE_AUTO_SNAPS));
	for (i = 0; i < 5; i++) {
		write_range(4, i, 6, 3);
		snapshot(4, "", DMROW_SNAP_AUTO);
		if (i == 2)
			manual = snapshot(4, "manual", 0);
	}
	commit();
	ok(dmrow_md_set_snapshot_retention(md, manual, 1800000000));
}

static void sc_rollback(void)
{
	u64 s1, s2;

	disk(1, 600, "rb");
	write_range(1, 0, 50, 2);
	s1 = snapshot(1, "before", 0);
	write_range(1, 0, 30, 1);
	s2 = snapshot(1, "after", 0);
	commit();
	write_range(1, 100, 10, 1);
	ok(dmrow_md_rollback(md, 1, s1, false));
	write_range(1, 7, 2, 1);
	(void)s2;
}

static void sc_merge_delete(void)
{
	u64 s[5];
	int i;

	disk(1, 800, "m");
	for (i = 0; i < 5; i++) {
		write_range(1, i * 3, 20, 5);
		s[i] = snapshot(1, "", 0);
	}
	commit();
	ok(dmrow_md_delete_snapshot(md, s[2]));
	ok(dmrow_md_merge_snapshots(md, s[0], s[1]));
	commit();
	write_range(1, 0, 3, 1);
	snapshot(1, "last", 0);
}

static void sc_discard(void)
{
	disk(1, 1000, "trim");
	write_range(1, 0, 400, 2);
	snapshot(1, "pre-trim", 0);
	commit();
	ok(dmrow_md_discard(md, 1, 100, 500));
	ok(dmrow_md_resize_disk(md, 1, 600));
	ok(dmrow_md_set_disk_name(md, 1, "trimmed"));
}

static void sc_big_data(void)
{
	disk(1, 8192, "spread");
	disk(2, 8192, "other");
	write_range(1, 0, 600, 5);
	commit();
	write_range(2, 0, 500, 1);
	commit();
	ok(dmrow_md_discard(md, 1, 0, 2000));
}

static void sc_needs_check(void)
{
	disk(1, 64, "x");
	write_range(1, 0, 10, 1);
	snapshot(1, "", 0);
	commit();
	ok(dmrow_md_set_needs_check(md));
}

/* Many commits without reopening: blocks spread over the whole device. */
static void sc_many_commits(void)
{
	int i;

	disk(1, 256, "churn");
	for (i = 0; i < 4; i++) {
		write_range(1, i * 5, 5, 1);
		if (i % 2 == 0)
			snapshot(1, "", DMROW_SNAP_AUTO);
		ok(dmrow_md_commit(md));
	}
}

/* Formatted on 40 metadata blocks, then both devices and a disk grew. */
static void sc_grown(void)
{
	disk(1, 100, "grow");
	write_range(1, 0, 10, 1);
	ok(dmrow_md_resize_data(md, 3000));
	commit();
	ok(dmrow_md_resize_metadata(md, IMAGE_BLOCKS));
	ok(dmrow_md_resize_disk(md, 1, 5000));
	commit();
	write_range(1, 4000, 10, 1);
}

struct scenario {
	const char *name;
	void (*fn)(void);
	u64 data_blocks;
	u64 md_blocks;
	const u8 *flags;	/* the flag bytes to write it with */
	unsigned int nr_flags;
};

/*
 * Most seeds are written sealed (checksums and locations are recomputed
 * after mutation); a few also in the other modes, so that every mode has
 * seeds to start from.
 */
static const u8 sealed[] = { 0x03 };
static const u8 all_modes[] = { 0x03, 0x00, 0x13 };
static const u8 two_modes[] = { 0x03, 0x22 };

static const struct scenario scenarios[] = {
	{ "empty", sc_empty, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "one-disk", sc_one_disk, DATA_BLOCKS, IMAGE_BLOCKS, all_modes, 3 },
	{ "two-level-tree", sc_two_level_tree, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "chain", sc_chain, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "instance", sc_instance, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "clone", sc_clone, DATA_BLOCKS, IMAGE_BLOCKS, two_modes, 2 },
	{ "removed-disk", sc_removed_disk, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "auto-quota", sc_auto_quota, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "rollback", sc_rollback, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "merge-delete", sc_merge_delete, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "discard", sc_discard, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "big-data", sc_big_data, 5000, IMAGE_BLOCKS, sealed, 1 },
	{ "needs-check", sc_needs_check, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "many-commits", sc_many_commits, DATA_BLOCKS, IMAGE_BLOCKS, sealed, 1 },
	{ "grown", sc_grown, DATA_BLOCKS, 40, sealed, 1 },
};

static void save(const char *dir, const char *name, u8 flags)
{
	static u8 image[IMAGE_BLOCKS * BLOCK_SIZE];
	char path[4096];
	size_t len = sizeof(image);
	FILE *f;

	if (pread(fd, image, sizeof(image), 0) != (ssize_t)sizeof(image))
		exit(1);
	/* Trailing zero blocks are what the harness pads with anyway. */
	while (len) {
		size_t i;

		for (i = len - BLOCK_SIZE; i < len && !image[i]; i++)
			;
		if (i < len)
			break;
		len -= BLOCK_SIZE;
	}
	snprintf(path, sizeof(path), "%s/gen-%s-%02x", dir, name, flags);
	f = fopen(path, "wb");
	if (!f || fwrite(&flags, 1, 1, f) != 1 ||
	    (len && fwrite(image, 1, len, f) != len) || fclose(f)) {
		fprintf(stderr, "gen-metadata-corpus: cannot write %s\n", path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	unsigned int i, j;

	if (argc != 2) {
		fprintf(stderr, "usage: gen-metadata-corpus DIR\n");
		return 2;
	}
	fd = memfd_create("dmrow-corpus", 0);
	if (fd < 0) {
		perror("memfd_create");
		return 1;
	}
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];

		scenario = sc->name;
		pool_format(sc->data_blocks, sc->md_blocks);
		sc->fn();
		ok(dmrow_md_commit(md));
		pool_close();
		for (j = 0; j < sc->nr_flags; j++)
			save(argv[1], sc->name, sc->flags[j]);
	}
	return 0;
}
