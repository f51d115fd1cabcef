// SPDX-License-Identifier: GPL-2.0
/*
 * md-damage: damage a pool's metadata offline, the way a failure would,
 * for the recovery tests (tests/vm/faults/).  A testing tool only: it goes
 * through the metadata core, so each damage is committed like any change.
 *
 *   md-damage <metadata device|image> needs-check
 *       set the needs_check flag, as a failed metadata operation does
 *   md-damage <metadata device|image> leak-data <count>
 *       take <count> data blocks and map none of them (leaked blocks)
 *   md-damage <metadata device|image> miscount-data <disk id> <vblock>
 *       add one to the count of the data block <vblock> of the live disk
 *       maps to (a count too high)
 *   md-damage <metadata device|image> break-chain <snapshot id> <next id>
 *       make snapshot <snapshot id>'s record name <next id> as the next in
 *       its chain (a chain that leads to a snapshot that is not there)
 *   md-damage <metadata device|image> corrupt-disk-tree
 *       flip a byte of the root node of the tree of disk records (damage
 *       no repair can undo)
 *
 * Exit status 0 when the damage was committed, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm-row-metadata.h"
#include "dm-row-metadata-internal.h"
#include "../../userspace/compat/public/block-cache.h"

static int usage(void)
{
	fprintf(stderr, "usage: md-damage DEVICE needs-check | leak-data COUNT | miscount-data DISK VBLOCK |\n"
		"       break-chain SNAPSHOT NEXT | corrupt-disk-tree\n");
	return 1;
}

/* Count @count free blocks that nothing maps (a reserved block is not counted). */
static int leak_data(struct dmrow_metadata *md, unsigned long count)
{
	u64 b;
	int r;

	while (count--) {
		r = dmrow_md_alloc_data_block(md, &b);
		if (r)
			return r;
		down_write(&md->lock);
		r = dmrow_sm_inc(&md->data_sm, b);
		md->dirty = true;
		up_write(&md->lock);
		if (!r)
			r = dmrow_md_release_data_block(md, b);
		if (r)
			return r;
	}
	return dmrow_md_commit(md);
}

static int miscount_data(struct dmrow_metadata *md, u64 disk, u64 vblock)
{
	struct dmrow_mapping m;
	int r;

	r = dmrow_md_find_block(md, disk, 0, vblock, &m);
	if (r)
		return r;
	down_write(&md->lock);
	r = dmrow_sm_inc(&md->data_sm, m.data_block);
	md->dirty = true;
	up_write(&md->lock);
	return r ? r : dmrow_md_commit(md);
}

static int break_chain(struct dmrow_metadata *md, u64 snap, u64 next)
{
	struct row_disk_snapshot rec;
	u64 root;
	int r;

	down_write(&md->lock);
	r = dmrow_btree_lookup(&md->snapshot_info, le64_to_cpu(md->sb.snapshot_tree_root),
			       snap, &rec);
	if (!r) {
		rec.next = cpu_to_le64(next);
		r = dmrow_btree_insert(&md->snapshot_info, le64_to_cpu(md->sb.snapshot_tree_root),
				       snap, &rec, &root, NULL, NULL);
	}
	if (!r) {
		md->sb.snapshot_tree_root = cpu_to_le64(root);
		md->dirty = true;
	}
	up_write(&md->lock);
	return r ? r : dmrow_md_commit(md);
}

/* Flip one byte inside metadata block @b, behind the core's back. */
static int flip_byte(const char *path, u64 b)
{
	off_t at = (off_t)b * DMROW_METADATA_BLOCK_SIZE + 100;
	unsigned char byte;
	int fd, r = 0;

	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	if (pread(fd, &byte, 1, at) != 1)
		r = -EIO;
	byte ^= 0x5a;
	if (!r && (pwrite(fd, &byte, 1, at) != 1 || fsync(fd)))
		r = -EIO;
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	struct dmrow_metadata *md;
	struct dmrow_bm *bm;
	u64 flip = 0;
	int error = 0, r;

	if (argc < 3)
		return usage();
	bm = dmrow_bm_open_path(argv[1], 1024, false, &error);
	if (!bm) {
		fprintf(stderr, "md-damage: %s: %s\n", argv[1], strerror(-error));
		return 1;
	}
	r = dmrow_md_open(bm, false, &md);
	if (r) {
		fprintf(stderr, "md-damage: %s holds no pool: %s\n", argv[1], strerror(-r));
		dmrow_bm_destroy(bm);
		return 1;
	}
	if (!strcmp(argv[2], "needs-check") && argc == 3)
		r = dmrow_md_set_needs_check(md);
	else if (!strcmp(argv[2], "leak-data") && argc == 4)
		r = leak_data(md, strtoul(argv[3], NULL, 0));
	else if (!strcmp(argv[2], "miscount-data") && argc == 5)
		r = miscount_data(md, strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	else if (!strcmp(argv[2], "break-chain") && argc == 5)
		r = break_chain(md, strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	else if (!strcmp(argv[2], "corrupt-disk-tree") && argc == 3)
		r = (flip = le64_to_cpu(md->sb.disk_tree_root)) ? 0 : -ENOENT;
	else
		r = -EINVAL;
	if (r)
		fprintf(stderr, "md-damage: %s %s: %s\n", argv[1], argv[2], strerror(-r));
	dmrow_md_close(md);
	dmrow_bm_destroy(bm);
	if (!r && flip) {
		r = flip_byte(argv[1], flip);
		if (r)
			fprintf(stderr, "md-damage: %s: %s\n", argv[1], strerror(-r));
	}
	return r ? 1 : 0;
}
