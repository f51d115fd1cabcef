// SPDX-License-Identifier: GPL-2.0
/*
 * Pool metadata: disks, snapshot chains and block maps.
 *
 * The pieces.  Every disk's live head and every snapshot is a mapping tree
 * (dm-row-btree.c): virtual block -> data block plus the pool time of the
 * write.  Taking a snapshot adds a reference to the live head's root and
 * records it as the newest link of the disk's chain; the live head and the
 * snapshot then share every node until a write makes the live head copy
 * the path it changes.  Reading any snapshot is one tree lookup, however
 * long the chain: a chain is a list of independent (but shared) trees, not
 * a stack of deltas to search through.
 *
 * Sharing, per block.  A write to a block that a snapshot or clone still
 * sees must go elsewhere (redirect-on-write); a write to a block only the
 * live head sees may overwrite it.  Each mapping carries the pool time of
 * its write, and each disk the pool time of its last snapshot
 * (snapshotted_time): a mapping older than that may be shared.  The test
 * is conservative (after the snapshot is deleted the block is in fact
 * exclusive, and a write still goes elsewhere, freeing the old block) and
 * never wrong, including for clones and rollbacks, which give the disk a
 * tree whose every mapping is older than its snapshotted_time.
 *
 * Deltas.  A snapshot's delta (what it holds that its predecessor does
 * not) is the diff of two trees, which skips shared subtrees and so costs
 * what changed.  It is computed when first asked for and kept in the
 * snapshot record; deleting the predecessor clears it.  Snapshot creation
 * stays O(1).
 *
 * Deleting a snapshot drops one reference to its root: nodes shared with
 * the neighbours lose a reference, nodes only it held are freed and their
 * data blocks lose a reference.  Blocks its successor still needs stay,
 * now part of the successor's delta.  Cost grows with what the snapshot
 * owned.  Merging deletes all but the newest of a run.  Rolling back
 * points the live head at the snapshot's root and drops the old live tree:
 * O(1) plus freeing what only the live head held.  A clone is a new disk
 * whose root is the snapshot's.
 *
 * Crash safety.  All changes go to shadow copies (dm-row-transaction.c);
 * a commit writes every dirty block, flushes, writes the superblock into
 * the slot of this transaction's parity, and flushes again.  Whatever the
 * moment of a crash, the newer valid superblock describes a complete,
 * consistent state: the last commit, or the one before it.
 *
 * In-core state: the superblock, the space maps' in-flight deltas and one
 * cached record per disk touched (its root changes with every shadowing
 * write and is written back at commit).  Nothing grows with disk size or
 * snapshot count.
 */
#define DM_MSG_PREFIX "row-metadata"

#include <linux/device-mapper.h>
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/rwsem.h>
#include <linux/crc32c.h>

#include <linux/dm-row.h>

#include "dm-row-metadata-internal.h"
#include "dm-row-map-cache.h"

/*----------------------------------------------------------------
 * Superblock
 *--------------------------------------------------------------*/

static u32 superblock_csum(const void *data)
{
	return crc32c(DMROW_CSUM_SEED_SUPERBLOCK, (const u8 *)data + sizeof(__le32),
		      DMROW_METADATA_BLOCK_SIZE - sizeof(__le32));
}

static void sb_prepare_for_write(const struct dmrow_validator *v, void *data, u64 blocknr)
{
	struct row_disk_superblock *sb = data;

	sb->hdr.blocknr = cpu_to_le64(blocknr);
	sb->hdr.csum = cpu_to_le32(superblock_csum(data));
}

static int sb_check(const struct dmrow_validator *v, const void *data, u64 blocknr)
{
	const struct row_disk_superblock *sb = data;

	if (le64_to_cpu(sb->magic) != DMROW_SUPERBLOCK_MAGIC)
		return -EILSEQ;
	if (le32_to_cpu(sb->hdr.csum) != superblock_csum(data)) {
		DMERR_LIMIT("superblock %llu: bad checksum", (unsigned long long)blocknr);
		return -EILSEQ;
	}
	if (le64_to_cpu(sb->hdr.blocknr) != blocknr) {
		DMERR_LIMIT("superblock %llu: claims to be block %llu",
			    (unsigned long long)blocknr,
			    (unsigned long long)le64_to_cpu(sb->hdr.blocknr));
		return -EILSEQ;
	}
	return 0;
}

static const struct dmrow_validator sb_validator = {
	.name = "superblock",
	.prepare_for_write = sb_prepare_for_write,
	.check = sb_check,
};

static bool block_is_zero(const void *data)
{
	const u64 *p = data;
	unsigned int i;

	for (i = 0; i < DMROW_METADATA_BLOCK_SIZE / sizeof(*p); i++)
		if (p[i])
			return false;
	return true;
}

int dmrow_md_is_unformatted(struct dmrow_bm *bm, bool *unformatted)
{
	struct dmrow_block *blk;
	unsigned int slot;
	int r;

	*unformatted = true;
	if (dmrow_bm_nr_blocks(bm) < DMROW_SUPERBLOCK_SLOTS)
		return -ENOSPC;
	for (slot = 0; slot < DMROW_SUPERBLOCK_SLOTS; slot++) {
		r = dmrow_bm_read_lock(bm, slot, NULL, &blk);
		if (r)
			return r;
		if (!block_is_zero(dmrow_block_data(blk)))
			*unformatted = false;
		dmrow_bm_unlock(blk);
	}
	return 0;
}

/* Check what a valid superblock says before anything trusts it. */
static int sb_check_fields(const struct row_disk_superblock *sb, u64 nr_metadata_blocks,
			   bool read_only)
{
	u32 dbs = le32_to_cpu(sb->data_block_sectors);
	u64 unknown_incompat = le64_to_cpu(sb->incompat_flags) & ~DMROW_FEATURE_INCOMPAT_SUPP;
	u64 unknown_ro = le64_to_cpu(sb->ro_compat_flags) & ~DMROW_FEATURE_RO_COMPAT_SUPP;

	if (le32_to_cpu(sb->version) != DMROW_FORMAT_VERSION) {
		DMERR("metadata format version %u is not supported (this build reads %u)",
		      le32_to_cpu(sb->version), DMROW_FORMAT_VERSION);
		return -EOPNOTSUPP;
	}
	if (unknown_incompat) {
		DMERR("metadata uses unsupported incompatible features %llx",
		      (unsigned long long)unknown_incompat);
		return -EOPNOTSUPP;
	}
	if (unknown_ro && !read_only) {
		DMERR("metadata uses features %llx this build can only read",
		      (unsigned long long)unknown_ro);
		return -EROFS;
	}
	if (le32_to_cpu(sb->metadata_block_size) != DMROW_METADATA_BLOCK_SIZE ||
	    dbs < 8 || dbs > 2048 || (dbs & (dbs - 1))) {
		DMERR("superblock: bad block sizes");
		return -EILSEQ;
	}
	if (le64_to_cpu(sb->metadata_sm.nr_blocks) > nr_metadata_blocks) {
		DMERR("metadata device is smaller (%llu blocks) than the pool's metadata (%llu)",
		      (unsigned long long)nr_metadata_blocks,
		      (unsigned long long)le64_to_cpu(sb->metadata_sm.nr_blocks));
		return -EINVAL;
	}
	if (le64_to_cpu(sb->data_sm.nr_blocks) > DMROW_MAX_DATA_BLOCKS ||
	    le32_to_cpu(sb->time) > DMROW_MAX_POOL_TIME) {
		DMERR("superblock: values out of range");
		return -EILSEQ;
	}
	return 0;
}

/*
 * Read both slots; the one with a good checksum and the newest transaction
 * wins.  Only then are its fields judged: a newest superblock this build
 * must refuse refuses the pool, rather than letting the older slot be
 * opened and then overwritten.
 */
static int read_newest_superblock(struct dmrow_bm *bm, bool read_only,
				  struct row_disk_superblock *result)
{
	struct dmrow_block *blk;
	bool found = false;
	unsigned int slot;
	int r;

	for (slot = 0; slot < DMROW_SUPERBLOCK_SLOTS; slot++) {
		const struct row_disk_superblock *sb;

		r = dmrow_bm_read_lock(bm, slot, &sb_validator, &blk);
		if (r == -EILSEQ)
			continue;
		if (r)
			return r;
		sb = dmrow_block_data(blk);
		if (!found || le64_to_cpu(sb->hdr.txn) > le64_to_cpu(result->hdr.txn)) {
			memcpy(result, sb, sizeof(*result));
			found = true;
		}
		dmrow_bm_unlock(blk);
	}
	if (!found) {
		DMERR("no valid superblock");
		return -EILSEQ;
	}
	return sb_check_fields(result, dmrow_bm_nr_blocks(bm), read_only);
}

/*----------------------------------------------------------------
 * Set-up
 *--------------------------------------------------------------*/

static int mapping_inc(void *context, const void *value)
{
	struct dmrow_metadata *md = context;
	u64 block;
	u32 time;

	dmrow_unpack_mapping(value, &block, &time);
	return dmrow_sm_inc(&md->data_sm, block);
}

static int cmp_block(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * A copied leaf's data blocks gain a holder each, counted in runs: sorted,
 * since a leaf of blocks written at random over time names them in no
 * order, and each refcount block they fall in then changes once.
 */
static int mapping_inc_many(void *context, const void *values, unsigned int nr)
{
	struct dmrow_metadata *md = context;
	u64 *blocks = md->ins.leaf_blocks;
	unsigned int i, n;
	u32 time;
	int r;

	lockdep_assert_held_write(&md->lock);
	while (nr) {
		n = min_t(unsigned int, nr, ARRAY_SIZE(md->ins.leaf_blocks));
		for (i = 0; i < n; i++)
			dmrow_unpack_mapping((const __le64 *)values + i, &blocks[i], &time);
		sort(blocks, n, sizeof(*blocks), cmp_block, NULL);
		r = dmrow_sm_inc_blocks(&md->data_sm, blocks, n);
		if (r)
			return r;
		values = (const __le64 *)values + n;
		nr -= n;
	}
	return 0;
}

static int __quarantine(struct dmrow_metadata *md, u64 block);

/*
 * The data blocks @blocks[0..@nr) (at most DMROW_INSERT_CHUNK, sorted in
 * place) lose a holder each; those left with none are quarantined while
 * the I/O path asks for it.  Sorted, the blocks of one refcount block are
 * counted with one shadow, which is what a batch of first writes after a
 * snapshot mostly overwrites.
 */
static int drop_data_blocks(struct dmrow_metadata *md, u64 *blocks, unsigned int nr)
{
	u64 freed[DMROW_INSERT_CHUNK];
	unsigned int i, nr_freed;
	int r;

	lockdep_assert_held_write(&md->lock);
	if (WARN_ON_ONCE(nr > ARRAY_SIZE(freed)))
		return -EINVAL;
	sort(blocks, nr, sizeof(*blocks), cmp_block, NULL);
	r = dmrow_sm_dec_blocks(&md->data_sm, blocks, nr, freed, &nr_freed);
	for (i = 0; !r && md->quarantine_frees && i < nr_freed; i++)
		r = __quarantine(md, freed[i]);
	return r;
}

static int mapping_dec(void *context, const void *value)
{
	u64 block;
	u32 time;

	dmrow_unpack_mapping(value, &block, &time);
	return drop_data_blocks(context, &block, 1);
}

static void drop_disk_states(struct dmrow_metadata *md)
{
	while (md->disks) {
		struct disk_state *ds = md->disks;

		md->disks = ds->next;
		kfree(ds);
	}
}

static void destroy_in_core(struct dmrow_metadata *md)
{
	drop_disk_states(md);
	dmrow_sm_exit(&md->data_sm);
	dmrow_sm_exit(&md->metadata_sm);
}

static bool block_held(void *context, u64 b)
{
	struct dmrow_metadata *md = context;

	return md->nr_held && dmrow_delta_map_get(&md->held, b) > 0;
}

/* Build the in-core state from md->sb (or from nothing, when formatting). */
static int create_in_core(struct dmrow_metadata *md, bool format)
{
	int r;

	md->tm.bm = md->bm;
	md->tm.metadata_sm = &md->metadata_sm;
	md->tm.txn = le64_to_cpu(md->sb.hdr.txn) + 1;
	dmrow_tm_begin(&md->tm);

	r = dmrow_sm_init(&md->metadata_sm, &md->tm, true,
			  format ? NULL : &md->sb.metadata_sm, dmrow_bm_nr_blocks(md->bm));
	if (r)
		return r;
	r = dmrow_sm_init(&md->data_sm, &md->tm, false,
			  format ? NULL : &md->sb.data_sm,
			  le64_to_cpu(md->sb.data_sm.nr_blocks));
	if (r) {
		dmrow_sm_exit(&md->metadata_sm);
		return r;
	}

	md->data_sm.no_reuse_in_txn = true;
	md->data_sm.held = block_held;
	md->data_sm.held_context = md;
	md->data_sm.nr_held = md->nr_held;
	md->mapping_info.tm = &md->tm;
	md->mapping_info.vt.size = sizeof(__le64);
	md->mapping_info.vt.context = md;
	md->mapping_info.vt.inc = mapping_inc;
	md->mapping_info.vt.inc_many = mapping_inc_many;
	md->mapping_info.vt.dec = mapping_dec;
	md->disk_info.tm = &md->tm;
	md->disk_info.vt.size = sizeof(struct row_disk_disk);
	md->snapshot_info.tm = &md->tm;
	md->snapshot_info.vt.size = sizeof(struct row_disk_snapshot);
	md->disks = NULL;
	md->dirty = false;
	return 0;
}

static struct dmrow_metadata *alloc_md(struct dmrow_bm *bm)
{
	struct dmrow_metadata *md = kzalloc(sizeof(*md), GFP_KERNEL);

	if (!md)
		return NULL;
	if (dmrow_delta_map_init(&md->held)) {
		kfree(md);
		return NULL;
	}
	if (dmrow_delta_map_init(&md->tm.fresh)) {
		dmrow_delta_map_exit(&md->held);
		kfree(md);
		return NULL;
	}
	init_rwsem(&md->lock);
	md->bm = bm;
	md->io_reserve = DMROW_IO_RESERVE_DEFAULT;
	return md;
}

static void free_md(struct dmrow_metadata *md)
{
	dmrow_delta_map_exit(&md->held);
	dmrow_delta_map_exit(&md->tm.fresh);
	kvfree(md->quarantine);
	kfree(md);
}

/* The open transaction holds a change of the superblock or a record. */
static void __mark_dirty(struct dmrow_metadata *md)
{
	lockdep_assert_held_write(&md->lock);
	md->dirty = true;
	md->tm.changes++;
}

static int __commit(struct dmrow_metadata *md);

int dmrow_md_format(struct dmrow_bm *bm, u32 data_block_sectors, u64 nr_data_blocks,
		    const u8 uuid[16], struct dmrow_metadata **result)
{
	struct dmrow_metadata *md;
	unsigned int slot;
	int r;

	if (data_block_sectors < 8 || data_block_sectors > 2048 ||
	    (data_block_sectors & (data_block_sectors - 1)) ||
	    nr_data_blocks > DMROW_MAX_DATA_BLOCKS)
		return -EINVAL;
	if (dmrow_bm_nr_blocks(bm) < 16)
		return -ENOSPC;

	md = alloc_md(bm);
	if (!md)
		return -ENOMEM;
	md->sb.magic = cpu_to_le64(DMROW_SUPERBLOCK_MAGIC);
	md->sb.version = cpu_to_le32(DMROW_FORMAT_VERSION);
	md->sb.metadata_block_size = cpu_to_le32(DMROW_METADATA_BLOCK_SIZE);
	memcpy(md->sb.uuid, uuid, sizeof(md->sb.uuid));
	md->sb.data_block_sectors = cpu_to_le32(data_block_sectors);
	md->sb.next_snapshot_id = cpu_to_le64(1);
	md->sb.manual_quota = cpu_to_le32(DMROW_DEFAULT_QUOTA);
	md->sb.auto_quota = cpu_to_le32(DMROW_DEFAULT_QUOTA);
	md->sb.data_sm.nr_blocks = cpu_to_le64(nr_data_blocks);

	r = create_in_core(md, true);
	if (r)
		goto out_free;
	/*
	 * The superblock slots are taken before anything is allocated, and
	 * wiped: an older pool's superblock must not outlive the format.
	 */
	for (slot = 0; slot < DMROW_SUPERBLOCK_SLOTS; slot++) {
		struct dmrow_block *blk;

		r = dmrow_sm_inc(&md->metadata_sm, slot);
		if (!r)
			r = dmrow_bm_write_lock_zero(bm, slot, NULL, &blk);
		if (r)
			goto out_destroy;
		dmrow_bm_unlock(blk);
	}
	/* Not shared yet, but the helpers' rule holds everywhere. */
	down_write(&md->lock);
	__mark_dirty(md);
	r = __commit(md);
	up_write(&md->lock);
	if (r)
		goto out_destroy;
	*result = md;
	return 0;

out_destroy:
	destroy_in_core(md);
out_free:
	free_md(md);
	return r;
}

int dmrow_md_open(struct dmrow_bm *bm, bool read_only, struct dmrow_metadata **result)
{
	struct dmrow_metadata *md;
	bool unformatted;
	int r;

	r = dmrow_md_is_unformatted(bm, &unformatted);
	if (r)
		return r;
	if (unformatted)
		return -ENODATA;

	md = alloc_md(bm);
	if (!md)
		return -ENOMEM;
	r = read_newest_superblock(bm, read_only, &md->sb);
	if (r)
		goto out_free;
	md->committed_sb = md->sb;
	md->read_only = read_only;
	r = create_in_core(md, false);
	if (r)
		goto out_free;
	*result = md;
	return 0;

out_free:
	free_md(md);
	return r;
}

void dmrow_md_close(struct dmrow_metadata *md)
{
	if (!md)
		return;
	WARN_ON(md->caches);	/* a disk still attached */
	destroy_in_core(md);
	free_md(md);
}

/*----------------------------------------------------------------
 * Disk records
 *--------------------------------------------------------------*/

static int __get_disk(struct dmrow_metadata *md, u64 id, struct disk_state **result)
{
	struct disk_state *ds;
	int r;

	lockdep_assert_held(&md->lock);
	for (ds = md->disks; ds; ds = ds->next) {
		if (le64_to_cpu(ds->rec.id) == id) {
			*result = ds;
			return 0;
		}
	}
	ds = kzalloc(sizeof(*ds), GFP_NOIO);
	if (!ds)
		return -ENOMEM;
	r = dmrow_btree_lookup(&md->disk_info, le64_to_cpu(md->sb.disk_tree_root), id,
			       &ds->rec);
	if (r) {
		kfree(ds);
		return r;
	}
	if (le64_to_cpu(ds->rec.id) != id) {
		DMERR_LIMIT("disk record %llu names disk %llu", (unsigned long long)id,
			    (unsigned long long)le64_to_cpu(ds->rec.id));
		kfree(ds);
		return -EILSEQ;
	}
	ds->next = md->disks;
	md->disks = ds;
	*result = ds;
	return 0;
}

/* A live disk: exists and has not been removed. */
static int __get_live_disk(struct dmrow_metadata *md, u64 id, struct disk_state **result)
{
	int r = __get_disk(md, id, result);

	lockdep_assert_held(&md->lock);
	if (!r && (le32_to_cpu((*result)->rec.flags) & DMROW_DISK_REMOVED))
		return -ENODATA;
	return r;
}

static void __disk_changed(struct dmrow_metadata *md, struct disk_state *ds)
{
	lockdep_assert_held_write(&md->lock);
	ds->changed = true;
	__mark_dirty(md);
}

/*----------------------------------------------------------------
 * Mapping caches
 *
 * map() reads a live disk's mappings from its cache with no lock (see
 * dm-row-map-cache.c); every change to a live tree or to a disk's
 * snapshotted_time is told to the disk's caches here, in the same critical
 * section as the change.  A lookup under the shared lock fills them.
 *--------------------------------------------------------------*/

#define ALL_DISKS	(~0ULL)

static void __cache_drop(struct dmrow_metadata *md, u64 disk_id);

/*
 * @disk_id's caches now hold that @vblock maps to packed @value, or with
 * !@mapped that it is unmapped.  A mapping that looks like "unmapped" (a
 * block and a time at their very ends) cannot be cached: the caches forget.
 */
static void __cache_set(struct dmrow_metadata *md, u64 disk_id, u64 vblock, u64 value,
			bool mapped)
{
	struct dmrow_map_cache *c;

	lockdep_assert_held_write(&md->lock);
	if (mapped && value == DMROW_CACHE_UNMAPPED) {
		__cache_drop(md, disk_id);
		return;
	}
	for (c = md->caches; c; c = c->next)
		if (c->disk_id == disk_id)
			dmrow_map_cache_set(c, vblock, mapped ? value : DMROW_CACHE_UNMAPPED);
}

/* A tree replaced or gone: the caches of @disk_id (or all) forget it. */
static void __cache_drop(struct dmrow_metadata *md, u64 disk_id)
{
	struct dmrow_map_cache *c;

	lockdep_assert_held_write(&md->lock);
	for (c = md->caches; c; c = c->next)
		if (disk_id == ALL_DISKS || c->disk_id == disk_id)
			dmrow_map_cache_drop(c);
}

static void __cache_time(struct dmrow_metadata *md, const struct disk_state *ds)
{
	struct dmrow_map_cache *c;

	lockdep_assert_held(&md->lock);		/* shared: a fill publishes it too */
	for (c = md->caches; c; c = c->next)
		if (c->disk_id == le64_to_cpu(ds->rec.id))
			dmrow_map_cache_publish_time(c, le32_to_cpu(ds->rec.snapshotted_time));
}

/* Under the shared lock, from a lookup of the live tree. */
static void __cache_fill(struct dmrow_metadata *md, u64 disk_id, u64 vblock, u64 value)
{
	struct dmrow_map_cache *c;

	lockdep_assert_held(&md->lock);
	for (c = md->caches; c; c = c->next)
		if (c->disk_id == disk_id)
			dmrow_map_cache_fill(c, vblock, value);
}

void dmrow_md_attach_cache(struct dmrow_metadata *md, struct dmrow_map_cache *cache)
{
	down_write(&md->lock);
	dmrow_map_cache_drop(cache);
	cache->next = md->caches;
	md->caches = cache;
	up_write(&md->lock);
}

unsigned long dmrow_md_cache_segments(struct dmrow_metadata *md)
{
	struct dmrow_map_cache *c;
	unsigned long nr = 0;

	if (!down_read_trylock(&md->lock))
		return 0;
	for (c = md->caches; c; c = c->next)
		nr += atomic_read(&c->nr_segments);
	up_read(&md->lock);
	return nr;
}

long dmrow_md_shrink_caches(struct dmrow_metadata *md, unsigned long nr)
{
	struct dmrow_map_cache *c;
	unsigned long freed = 0;

	/* The worker may hold the lock and be reclaiming memory itself. */
	if (!down_read_trylock(&md->lock))
		return -EBUSY;
	for (c = md->caches; c && freed < nr; c = c->next)
		freed += dmrow_map_cache_shrink(c, nr - freed);
	up_read(&md->lock);
	return freed;
}

void dmrow_md_detach_cache(struct dmrow_metadata *md, struct dmrow_map_cache *cache)
{
	struct dmrow_map_cache **p;

	down_write(&md->lock);
	for (p = &md->caches; *p; p = &(*p)->next) {
		if (*p == cache) {
			*p = cache->next;
			break;
		}
	}
	up_write(&md->lock);
}

static int __flush_disks(struct dmrow_metadata *md)
{
	struct disk_state *ds;
	u64 root = le64_to_cpu(md->sb.disk_tree_root);
	int r;

	lockdep_assert_held_write(&md->lock);
	for (ds = md->disks; ds; ds = ds->next) {
		if (!ds->changed)
			continue;
		r = dmrow_btree_insert(&md->disk_info, root, le64_to_cpu(ds->rec.id),
				       &ds->rec, &root, NULL, NULL);
		if (r)
			return r;
	}
	md->sb.disk_tree_root = cpu_to_le64(root);
	return 0;
}

static int __delete_disk_record(struct dmrow_metadata *md, struct disk_state *ds)
{
	struct disk_state **p;
	u64 root;
	int r;

	lockdep_assert_held_write(&md->lock);
	r = dmrow_btree_remove(&md->disk_info, le64_to_cpu(md->sb.disk_tree_root),
			       le64_to_cpu(ds->rec.id), &root, NULL);
	if (r && r != -ENODATA)
		return r;
	if (!r)
		md->sb.disk_tree_root = cpu_to_le64(root);
	for (p = &md->disks; *p != ds; p = &(*p)->next)
		;
	*p = ds->next;
	kfree(ds);
	__mark_dirty(md);
	return 0;
}

static void disk_to_info(const struct row_disk_disk *rec, struct dmrow_disk_info *info)
{
	info->id = le64_to_cpu(rec->id);
	info->size_blocks = le64_to_cpu(rec->size_blocks);
	info->created = le64_to_cpu(rec->created);
	info->first_snapshot = le64_to_cpu(rec->first_snapshot);
	info->last_snapshot = le64_to_cpu(rec->last_snapshot);
	info->origin_snapshot = le64_to_cpu(rec->origin_snapshot);
	info->flags = le32_to_cpu(rec->flags);
	info->nr_manual = le32_to_cpu(rec->nr_manual);
	info->nr_auto = le32_to_cpu(rec->nr_auto);
	info->policy_id = le32_to_cpu(rec->policy_id);
	info->snapshotted_time = le32_to_cpu(rec->snapshotted_time);
	info->origin_blocks = le64_to_cpu(rec->origin_blocks);
	info->hydrated_blocks = le64_to_cpu(rec->hydrated_blocks);
	memcpy(info->name, rec->name, DMROW_NAME_LEN);
	info->name[DMROW_NAME_LEN - 1] = '\0';
}

/*----------------------------------------------------------------
 * Snapshot records
 *--------------------------------------------------------------*/

static int __get_snap(struct dmrow_metadata *md, u64 id, struct row_disk_snapshot *rec)
{
	int r;

	lockdep_assert_held(&md->lock);
	if (!id)
		return -ENODATA;
	r = dmrow_btree_lookup(&md->snapshot_info, le64_to_cpu(md->sb.snapshot_tree_root),
			       id, rec);
	if (!r && le64_to_cpu(rec->id) != id) {
		DMERR_LIMIT("snapshot record %llu names snapshot %llu",
			    (unsigned long long)id, (unsigned long long)le64_to_cpu(rec->id));
		return -EILSEQ;
	}
	return r;
}

static int __put_snap(struct dmrow_metadata *md, const struct row_disk_snapshot *rec)
{
	u64 root;
	int r;

	lockdep_assert_held_write(&md->lock);
	r = dmrow_btree_insert(&md->snapshot_info, le64_to_cpu(md->sb.snapshot_tree_root),
			       le64_to_cpu(rec->id), rec, &root, NULL, NULL);
	if (r)
		return r;
	md->sb.snapshot_tree_root = cpu_to_le64(root);
	__mark_dirty(md);
	return 0;
}

static void snap_to_info(const struct row_disk_snapshot *rec, struct dmrow_snapshot_info *info)
{
	info->id = le64_to_cpu(rec->id);
	info->disk_id = le64_to_cpu(rec->disk_id);
	info->prev = le64_to_cpu(rec->prev);
	info->next = le64_to_cpu(rec->next);
	info->created = le64_to_cpu(rec->created);
	info->size_blocks = le64_to_cpu(rec->size_blocks);
	info->delta_blocks = le64_to_cpu(rec->delta_blocks);
	info->retention_until = le64_to_cpu(rec->retention_until);
	info->group_id = le64_to_cpu(rec->group_id);
	info->time = le32_to_cpu(rec->time);
	info->flags = le32_to_cpu(rec->flags);
	info->policy_id = le32_to_cpu(rec->policy_id);
	memcpy(info->name, rec->name, DMROW_NAME_LEN);
	info->name[DMROW_NAME_LEN - 1] = '\0';
}

/* Names are printable ASCII without blanks, shorter than DMROW_NAME_LEN. */
static bool name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++) {
		if (i >= DMROW_NAME_LEN - 1)
			return false;
		if (name[i] <= ' ' || name[i] > '~')
			return false;
	}
	return true;
}

static bool name_equal(const char *stored, const char *name)
{
	return !strncmp(stored, name, DMROW_NAME_LEN);
}

/* Is @name taken by a snapshot of @ds's chain? */
static int __snapshot_name_taken(struct dmrow_metadata *md, struct disk_state *ds,
				 const char *name, bool *taken)
{
	struct row_disk_snapshot rec;
	struct dmrow_chain_walk walk;
	u64 id;
	int r;

	lockdep_assert_held(&md->lock);
	*taken = false;
	if (!name[0])
		return 0;
	dmrow_chain_walk_init(&walk, dmrow_chain_max_len(&ds->rec));
	for (id = le64_to_cpu(ds->rec.first_snapshot); id; id = le64_to_cpu(rec.next)) {
		if (!dmrow_chain_walk_step(&walk, id))
			return -EILSEQ;
		r = __get_snap(md, id, &rec);
		if (r)
			return r == -ENODATA ? -EILSEQ : r;
		if (name_equal(rec.name, name)) {
			*taken = true;
			return 0;
		}
	}
	return 0;
}

static int __disk_name_taken(struct dmrow_metadata *md, const char *name, bool *taken)
{
	struct row_disk_disk rec;
	struct disk_state *ds;
	u64 key = 0, found;
	int r;

	lockdep_assert_held(&md->lock);
	*taken = false;
	if (!name[0])
		return 0;
	for (ds = md->disks; ds; ds = ds->next) {
		if (name_equal(ds->rec.name, name)) {
			*taken = true;
			return 0;
		}
	}
	for (;;) {
		r = dmrow_btree_lookup_next(&md->disk_info, le64_to_cpu(md->sb.disk_tree_root),
					    key, &found, &rec);
		if (r == -ENODATA)
			return 0;
		if (r)
			return r;
		/* Cached records are newer than the tree's. */
		for (ds = md->disks; ds; ds = ds->next)
			if (le64_to_cpu(ds->rec.id) == found)
				break;
		if (!ds && name_equal(rec.name, name)) {
			*taken = true;
			return 0;
		}
		if (found == ~0ULL)
			return 0;
		key = found + 1;
	}
}

/*----------------------------------------------------------------
 * Guards
 *--------------------------------------------------------------*/

static int __check_writable(struct dmrow_metadata *md)
{
	lockdep_assert_held(&md->lock);
	if (md->failed)
		return -EIO;
	if (md->read_only)
		return -EROFS;
	return 0;
}

static int __check_readable(struct dmrow_metadata *md)
{
	lockdep_assert_held(&md->lock);
	return md->failed ? -EIO : 0;
}

/*----------------------------------------------------------------
 * Commit and abort
 *--------------------------------------------------------------*/

static int __write_superblock(struct dmrow_metadata *md)
{
	u64 txn = md->tm.txn;
	struct dmrow_block *blk;
	int r;

	lockdep_assert_held_write(&md->lock);
	r = dmrow_bm_write_lock_zero(md->bm, txn % DMROW_SUPERBLOCK_SLOTS, &sb_validator, &blk);
	if (r)
		return r;
	md->sb.hdr.txn = cpu_to_le64(txn);
	memcpy(dmrow_block_data(blk), &md->sb, sizeof(md->sb));
	dmrow_bm_unlock(blk);
	return 0;
}

static int __commit(struct dmrow_metadata *md)
{
	struct disk_state *ds;
	int r;

	lockdep_assert_held_write(&md->lock);
	if (!md->dirty)
		return 0;
	r = __flush_disks(md);
	if (r)
		return r;
	r = dmrow_sm_commit(&md->data_sm);
	if (r)
		return r;
	/* Last: applying the metadata space map's deltas allocates metadata. */
	r = dmrow_sm_commit(&md->metadata_sm);
	if (r)
		return r;
	dmrow_sm_to_disk(&md->data_sm, &md->sb.data_sm);
	dmrow_sm_to_disk(&md->metadata_sm, &md->sb.metadata_sm);

	/* Everything the new superblock points at must be on disk before it. */
	r = dmrow_bm_flush(md->bm);
	if (r)
		return r;
	r = __write_superblock(md);
	if (r)
		return r;
	r = dmrow_bm_flush(md->bm);
	if (r)
		return r;

	dmrow_sm_committed(&md->data_sm);
	dmrow_sm_committed(&md->metadata_sm);
	/*
	 * Only now are the disks' changes committed: a commit that failed
	 * above leaves them changed (dmrow_md_try_disk_committed()).
	 */
	for (ds = md->disks; ds; ds = ds->next)
		ds->changed = false;
	md->committed_sb = md->sb;
	md->tm.txn++;
	dmrow_tm_begin(&md->tm);
	md->dirty = false;
	return 0;
}

int dmrow_md_commit(struct dmrow_metadata *md)
{
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __commit(md);
	up_write(&md->lock);
	return r;
}

int dmrow_md_abort(struct dmrow_metadata *md)
{
	int r;

	down_write(&md->lock);
	__cache_drop(md, ALL_DISKS);
	destroy_in_core(md);
	md->sb = md->committed_sb;
	r = create_in_core(md, false);
	if (r)
		md->failed = true;
	up_write(&md->lock);
	return r;
}

u64 dmrow_md_changes(struct dmrow_metadata *md)
{
	u64 changes;

	down_read(&md->lock);
	changes = md->tm.changes;
	up_read(&md->lock);
	return changes;
}

bool dmrow_md_dirty(struct dmrow_metadata *md)
{
	bool dirty;

	down_read(&md->lock);
	dirty = md->dirty;
	up_read(&md->lock);
	return dirty;
}

void dmrow_md_set_read_only(struct dmrow_metadata *md)
{
	down_write(&md->lock);
	md->read_only = true;
	up_write(&md->lock);
}

void dmrow_md_set_failed(struct dmrow_metadata *md)
{
	down_write(&md->lock);
	__cache_drop(md, ALL_DISKS);
	md->failed = true;
	up_write(&md->lock);
}

int dmrow_md_clear_needs_check(struct dmrow_metadata *md)
{
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r && (le32_to_cpu(md->sb.hdr.flags) & DMROW_SB_NEEDS_CHECK)) {
		md->sb.hdr.flags = cpu_to_le32(le32_to_cpu(md->sb.hdr.flags) & ~DMROW_SB_NEEDS_CHECK);
		__mark_dirty(md);
		r = __commit(md);
	}
	up_write(&md->lock);
	return r;
}

int dmrow_md_set_needs_check(struct dmrow_metadata *md)
{
	int r;

	down_write(&md->lock);
	r = __check_readable(md);
	if (!r && !md->read_only) {
		md->sb.hdr.flags = cpu_to_le32(le32_to_cpu(md->sb.hdr.flags) | DMROW_SB_NEEDS_CHECK);
		__mark_dirty(md);
		r = __commit(md);
	}
	up_write(&md->lock);
	return r;
}

/*----------------------------------------------------------------
 * Pool
 *--------------------------------------------------------------*/

int dmrow_md_pool_info(struct dmrow_metadata *md, struct dmrow_pool_info *info)
{
	int r;

	down_read(&md->lock);
	r = __check_readable(md);
	if (!r) {
		info->transaction_id = le64_to_cpu(md->committed_sb.hdr.txn);
		info->metadata_blocks = md->metadata_sm.nr_blocks;
		info->metadata_used = md->metadata_sm.nr_allocated;
		info->data_blocks = md->data_sm.nr_blocks;
		info->data_used = md->data_sm.nr_allocated;
		info->data_held = md->nr_held;
		info->data_block_sectors = le32_to_cpu(md->sb.data_block_sectors);
		info->time = le32_to_cpu(md->sb.time);
		info->manual_quota = le32_to_cpu(md->sb.manual_quota);
		info->auto_quota = le32_to_cpu(md->sb.auto_quota);
		info->next_snapshot_id = le64_to_cpu(md->sb.next_snapshot_id);
		info->needs_check = le32_to_cpu(md->sb.hdr.flags) & DMROW_SB_NEEDS_CHECK;
		info->read_only = md->read_only;
		memcpy(info->uuid, md->sb.uuid, sizeof(info->uuid));
	}
	up_read(&md->lock);
	return r;
}

int dmrow_md_set_quota(struct dmrow_metadata *md, u32 manual, u32 automatic)
{
	int r;

	if (manual > 65536 || automatic > 65536)
		return -EINVAL;
	down_write(&md->lock);
	r = __check_writable(md);
	if (!r) {
		md->sb.manual_quota = cpu_to_le32(manual);
		md->sb.auto_quota = cpu_to_le32(automatic);
		__mark_dirty(md);
	}
	up_write(&md->lock);
	return r;
}

int dmrow_md_resize_data(struct dmrow_metadata *md, u64 nr_data_blocks)
{
	int r;

	if (nr_data_blocks > DMROW_MAX_DATA_BLOCKS)
		return -EINVAL;
	down_write(&md->lock);
	r = __check_writable(md);
	if (!r && nr_data_blocks != md->data_sm.nr_blocks) {
		r = dmrow_sm_extend(&md->data_sm, nr_data_blocks);
		if (!r)
			__mark_dirty(md);
	}
	up_write(&md->lock);
	return r;
}

int dmrow_md_resize_metadata(struct dmrow_metadata *md, u64 nr_metadata_blocks)
{
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r && nr_metadata_blocks > dmrow_bm_nr_blocks(md->bm))
		r = -EINVAL;
	if (!r && nr_metadata_blocks != md->metadata_sm.nr_blocks) {
		r = dmrow_sm_extend(&md->metadata_sm, nr_metadata_blocks);
		if (!r)
			__mark_dirty(md);
	}
	up_write(&md->lock);
	return r;
}

/*----------------------------------------------------------------
 * Disks
 *--------------------------------------------------------------*/

int dmrow_md_create_disk(struct dmrow_metadata *md, u64 id, u64 size_blocks,
			 const char *name, u64 now)
{
	struct disk_state *ds;
	bool taken;
	int r;

	if (id > DM_ROW_MAX_DISK_ID || !size_blocks || !name_valid(name))
		return -EINVAL;
	down_write(&md->lock);
	r = __check_writable(md);
	if (r)
		goto out;
	r = __get_disk(md, id, &ds);
	if (!r) {
		r = -EEXIST;
		goto out;
	}
	if (r != -ENODATA)
		goto out;
	r = __disk_name_taken(md, name, &taken);
	if (r)
		goto out;
	if (taken) {
		r = -EEXIST;
		goto out;
	}

	ds = kzalloc(sizeof(*ds), GFP_NOIO);
	if (!ds) {
		r = -ENOMEM;
		goto out;
	}
	ds->rec.id = cpu_to_le64(id);
	ds->rec.size_blocks = cpu_to_le64(size_blocks);
	ds->rec.created = cpu_to_le64(now);
	ds->rec.snapshotted_time = md->sb.time;
	strscpy(ds->rec.name, name, DMROW_NAME_LEN);
	ds->next = md->disks;
	md->disks = ds;
	__disk_changed(md, ds);
	__cache_drop(md, id);
out:
	up_write(&md->lock);
	return r;
}

static int __delete_snapshot(struct dmrow_metadata *md, u64 snap_id);

int dmrow_md_remove_disk(struct dmrow_metadata *md, u64 id)
{
	struct row_disk_snapshot rec;
	struct disk_state *ds;
	struct dmrow_chain_walk walk;
	u64 snap;
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (r)
		goto out;
	r = __get_live_disk(md, id, &ds);
	if (r)
		goto out;

	if (le32_to_cpu(ds->rec.flags) & DMROW_DISK_DELETE_AUTO_SNAPS) {
		/* The counts shrink as snapshots go: bound the walk by the start's. */
		dmrow_chain_walk_init(&walk, dmrow_chain_max_len(&ds->rec));
		for (snap = le64_to_cpu(ds->rec.first_snapshot); snap; ) {
			if (!dmrow_chain_walk_step(&walk, snap)) {
				r = -EILSEQ;
				goto out;
			}
			r = __get_snap(md, snap, &rec);
			if (r == -ENODATA)
				r = -EILSEQ;	/* the chain names a snapshot that is not there */
			if (r)
				goto out;
			snap = le64_to_cpu(rec.next);
			if (le32_to_cpu(rec.flags) & DMROW_SNAP_AUTO) {
				r = __delete_snapshot(md, le64_to_cpu(rec.id));
				if (r)
					goto out;
			}
		}
	}

	r = dmrow_btree_del(&md->mapping_info, le64_to_cpu(ds->rec.root));
	if (r)
		goto out;
	ds->rec.root = 0;
	__cache_drop(md, id);
	if (!ds->rec.first_snapshot) {
		r = __delete_disk_record(md, ds);
	} else {
		ds->rec.flags = cpu_to_le32(le32_to_cpu(ds->rec.flags) | DMROW_DISK_REMOVED);
		__disk_changed(md, ds);
	}
out:
	up_write(&md->lock);
	return r;
}

/*----------------------------------------------------------------
 * The metadata reserve
 *
 * The I/O path changes metadata between commits with no one to ask: a
 * write to a fresh block is mapped, a discard unmapped.  Should metadata
 * run out half way through such a change, the only way back is to abort
 * the open transaction, and with it every write acknowledged since the
 * last commit.  So the I/O path never spends the last
 * dmrow_metadata_reserve() blocks: before a batch of changes it checks
 * that what the open transaction can still allocate covers the batch at
 * its worst on top of the reserve, and refuses what does not fit
 * (-ENOSPC) before anything changed.  The pool then commits, which gives
 * back the blocks the transaction shadowed away, and tries again; when
 * not even one change fits right after a commit, the pool stops taking
 * new blocks (metadata_low) and the writes fail with -ENOSPC,
 * unacknowledged.  The reserve itself is left to the commit (applying the
 * deferred counts) and to the messages that free space.
 *
 * What the transaction can allocate is not the free count: a block it
 * shadowed away still belongs to the committed state until the commit
 * (dmrow_sm_nr_free_in_txn()).
 *
 * The worst case of k changes to a tree of height h: at each level, each
 * node they reach is shadowed and may split (two new blocks), and level l
 * has at most min(k, 253^l) nodes to reach (no node has more than 253
 * children); the root may split once more and grow a new root.  k
 * mappings change k entries of the mapping tree and the counts of k new
 * and k replaced data blocks: up to 2k refcount blocks, each perhaps new,
 * and 2k entries of the data space map's index.
 *--------------------------------------------------------------*/

#define NODES_PER_LEVEL_MAX 253

static u64 __tree_worst(u64 k, unsigned int height)
{
	u64 nodes = 1, sum = 0;
	unsigned int level;

	for (level = 0; level < height; level++) {
		sum += min(k, nodes);
		if (nodes < k)
			nodes *= NODES_PER_LEVEL_MAX;
	}
	return 2 * sum + 1;
}

static u64 __changes_worst(u64 k, unsigned int map_height, unsigned int index_height)
{
	return __tree_worst(k, map_height) + 2 * k + __tree_worst(2 * k, index_height);
}

/* Metadata blocks the I/O path may spend in this transaction, promises included. */
static u64 __io_budget_all(struct dmrow_metadata *md)
{
	u64 free = dmrow_sm_nr_free_in_txn(&md->metadata_sm);
	u64 reserve = md->io_reserve;

	lockdep_assert_held(&md->lock);
	if (reserve == DMROW_IO_RESERVE_DEFAULT)
		reserve = dmrow_metadata_reserve(md->metadata_sm.nr_blocks);
	return free > reserve ? free - reserve : 0;
}

/* What is left of it for changes that hold no promise. */
static u64 __io_budget(struct dmrow_metadata *md)
{
	u64 budget = __io_budget_all(md), promised = md->io_promised * md->io_promise_cost;

	lockdep_assert_held(&md->lock);
	return budget > promised ? budget - promised : 0;
}

void dmrow_md_set_io_reserve(struct dmrow_metadata *md, u64 blocks)
{
	down_write(&md->lock);
	md->io_reserve = blocks;
	up_write(&md->lock);
}

/* *@height becomes the height of the tree at @root if that is more. */
static int __taller(struct dmrow_btree_info *info, u64 root, unsigned int *height)
{
	unsigned int h;
	int r = dmrow_btree_height(info, root, &h);

	if (!r && h > *height)
		*height = h;
	return r;
}

/*
 * How many of @k changes to the trees @roots[0..@nr_roots) fit in @budget:
 * all of them at once if they would fit into the deepest trees there can
 * be; otherwise the trees' heights are read (a walk down each).
 */
static int __changes_that_fit(struct dmrow_metadata *md, const u64 *roots,
			      unsigned int nr_roots, u64 k, u64 budget, u64 *fit)
{
	unsigned int map_height = 0, index_height = 0, i;
	int r;

	lockdep_assert_held(&md->lock);
	*fit = k;
	if (__changes_worst(k, DMROW_BTREE_MAX_DEPTH, DMROW_BTREE_MAX_DEPTH) <= budget)
		return 0;
	for (i = 0; i < nr_roots; i++) {
		r = __taller(&md->mapping_info, roots[i], &map_height);
		if (r)
			return r;
	}
	r = __taller(&md->data_sm.index_info, md->data_sm.index_root, &index_height);
	if (r)
		return r;
	while (*fit && __changes_worst(*fit, map_height, index_height) > budget)
		(*fit)--;
	return 0;
}

/*
 * Promises.  Writes acknowledged before they are mapped (see "Writes" in
 * dm-row-pool.c) must be mapped whatever else the I/O path does meanwhile,
 * so room for them is set aside when they are admitted, not checked when
 * they are mapped.  Each promised mapping is costed alone at its worst in
 * trees one level taller than the tallest loaded today (a batch shares its
 * upper levels, so k of them take less than k times one), and that room
 * is subtracted from what every other change of the I/O path may spend.
 * Promises take at most half of it, so that the others are never starved
 * by promises; and the pool gives back the ones it holds unused before it
 * says the metadata is low.  The cost is recomputed at each promise, for
 * all promises outstanding: a promise made while the trees were shorter
 * is covered again, or no new one is made.
 */
static int __promise_cost(struct dmrow_metadata *md, u64 *cost)
{
	unsigned int map_height = 1, index_height = 0;
	struct disk_state *ds;
	int r;

	lockdep_assert_held(&md->lock);
	for (ds = md->disks; ds; ds = ds->next) {
		if (le32_to_cpu(ds->rec.flags) & DMROW_DISK_REMOVED)
			continue;
		r = __taller(&md->mapping_info, le64_to_cpu(ds->rec.root), &map_height);
		if (r)
			return r;
	}
	r = __taller(&md->data_sm.index_info, md->data_sm.index_root, &index_height);
	if (r)
		return r;
	*cost = __changes_worst(1, map_height + 1, index_height + 1);
	return 0;
}

int dmrow_md_promise_io(struct dmrow_metadata *md, unsigned int want, unsigned int *granted)
{
	u64 cost, budget, room;
	int r;

	*granted = 0;
	down_write(&md->lock);
	r = __check_writable(md);
	if (r)
		goto out;
	r = __promise_cost(md, &cost);
	if (r)
		goto out;
	/* Half of what the I/O path may spend at most: the rest is for the others. */
	budget = __io_budget_all(md) / 2;
	room = budget / cost;
	if (room > md->io_promised)
		*granted = min_t(u64, want, room - md->io_promised);
	md->io_promised += *granted;
	md->io_promise_cost = cost;
out:
	up_write(&md->lock);
	return r;
}

static void __unpromise(struct dmrow_metadata *md, unsigned int nr)
{
	lockdep_assert_held_write(&md->lock);
	md->io_promised -= min_t(u64, nr, md->io_promised);
}

void dmrow_md_unpromise_io(struct dmrow_metadata *md, unsigned int nr)
{
	down_write(&md->lock);
	__unpromise(md, nr);
	up_write(&md->lock);
}

/*
 * @io_path: a discard, which keeps to the reserve (each removal checked
 * against what is really left, one change at its worst); else a
 * message's shrink.
 */
static int __discard(struct dmrow_metadata *md, struct disk_state *ds, u64 begin, u64 end,
		     bool io_path)
{
	u64 root = le64_to_cpu(ds->rec.root), vblock = begin, fit;
	__le64 value;
	int r;

	lockdep_assert_held_write(&md->lock);
	while (vblock < end) {
		r = dmrow_btree_lookup_next(&md->mapping_info, root, vblock, &vblock, NULL);
		if (r == -ENODATA || (!r && vblock >= end))
			break;
		if (r)
			return r;
		if (io_path) {
			r = __changes_that_fit(md, &root, 1, 1, __io_budget(md), &fit);
			if (r)
				return r;
			if (!fit)
				return -ENOSPC;
		}
		r = dmrow_btree_remove(&md->mapping_info, root, vblock, &root, &value);
		if (r)
			return r;
		ds->rec.root = cpu_to_le64(root);
		__cache_set(md, le64_to_cpu(ds->rec.id), vblock, 0, false);
		__disk_changed(md, ds);
		r = mapping_dec(md, &value);
		if (r)
			return r;
		vblock++;
	}
	return 0;
}

int dmrow_md_resize_disk(struct dmrow_metadata *md, u64 id, u64 size_blocks)
{
	struct disk_state *ds;
	int r;

	if (!size_blocks)
		return -EINVAL;
	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_live_disk(md, id, &ds);
	/* Blocks cut off and grown again would read the origin, not zeroes. */
	if (!r && size_blocks < le64_to_cpu(ds->rec.origin_blocks))
		r = -EBUSY;
	if (!r && size_blocks < le64_to_cpu(ds->rec.size_blocks))
		r = __discard(md, ds, size_blocks, le64_to_cpu(ds->rec.size_blocks), false);
	if (!r) {
		ds->rec.size_blocks = cpu_to_le64(size_blocks);
		__disk_changed(md, ds);
	}
	up_write(&md->lock);
	return r;
}

int dmrow_md_get_disk(struct dmrow_metadata *md, u64 id, struct dmrow_disk_info *info)
{
	struct disk_state *ds;
	int r;

	/* Loading a record into the cache changes in-core state: write lock. */
	down_write(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = __get_disk(md, id, &ds);
	if (!r)
		disk_to_info(&ds->rec, info);
	up_write(&md->lock);
	return r;
}

int dmrow_md_next_disk(struct dmrow_metadata *md, u64 from, struct dmrow_disk_info *info)
{
	struct row_disk_disk rec;
	struct disk_state *ds;
	u64 found;
	int r;

	down_write(&md->lock);
	r = __check_readable(md);
	if (!r && !md->read_only)
		r = __flush_disks(md);
	if (!r)
		r = dmrow_btree_lookup_next(&md->disk_info, le64_to_cpu(md->sb.disk_tree_root),
					    from, &found, &rec);
	/*
	 * Callers iterate with info->id + 1: a record that names another
	 * disk than its key could send them back, round and round.
	 */
	if (!r && le64_to_cpu(rec.id) != found) {
		DMERR_LIMIT("disk record %llu names disk %llu", (unsigned long long)found,
			    (unsigned long long)le64_to_cpu(rec.id));
		r = -EILSEQ;
	}
	if (!r) {
		for (ds = md->disks; ds; ds = ds->next)
			if (le64_to_cpu(ds->rec.id) == found)
				rec = ds->rec;
		disk_to_info(&rec, info);
	}
	up_write(&md->lock);
	return r;
}

/* The flags set_disk may change; the others belong to the chain operations. */
#define DISK_SETTABLE_FLAGS (DMROW_DISK_DELETE_AUTO_SNAPS | DMROW_DISK_LOGICAL_4K)

static int set_disk_field(struct dmrow_metadata *md, u64 id, const char *name,
			  const u32 *flags, u32 flags_mask, const u32 *policy_id)
{
	struct disk_state *ds;
	bool taken;
	int r;

	if (name && !name_valid(name))
		return -EINVAL;
	if (flags && ((flags_mask & ~DISK_SETTABLE_FLAGS) || (*flags & ~flags_mask)))
		return -EINVAL;
	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_live_disk(md, id, &ds);
	if (!r && name && !name_equal(ds->rec.name, name)) {
		r = __disk_name_taken(md, name, &taken);
		if (!r && taken)
			r = -EEXIST;
		if (!r) {
			memset(ds->rec.name, 0, DMROW_NAME_LEN);
			strscpy(ds->rec.name, name, DMROW_NAME_LEN);
		}
	}
	if (!r && flags)
		ds->rec.flags = cpu_to_le32((le32_to_cpu(ds->rec.flags) & ~flags_mask) | *flags);
	if (!r && policy_id)
		ds->rec.policy_id = cpu_to_le32(*policy_id);
	if (!r)
		__disk_changed(md, ds);
	up_write(&md->lock);
	return r;
}

int dmrow_md_set_disk_name(struct dmrow_metadata *md, u64 id, const char *name)
{
	return set_disk_field(md, id, name, NULL, 0, NULL);
}

int dmrow_md_set_disk_flags(struct dmrow_metadata *md, u64 id, u32 flags, u32 mask)
{
	return set_disk_field(md, id, NULL, &flags, mask, NULL);
}

int dmrow_md_set_disk_policy(struct dmrow_metadata *md, u64 id, u32 policy_id)
{
	return set_disk_field(md, id, NULL, NULL, 0, &policy_id);
}

/*
 * An external origin is given to a disk that holds nothing yet (no
 * mapping, no snapshot, not a clone), so that no image of it ever read
 * zeroes where it now reads the origin; the superblock's incompat flag
 * keeps modules that do not know origins away from the pool.  It is taken
 * away only once hydrated: every image of the disk maps every block the
 * origin served, so none reads the origin any more.
 */
int dmrow_md_set_disk_origin(struct dmrow_metadata *md, u64 id, u64 origin_blocks)
{
	struct disk_state *ds;
	u32 flags;
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_live_disk(md, id, &ds);
	if (r)
		goto out;
	flags = le32_to_cpu(ds->rec.flags);
	if (origin_blocks) {
		if (origin_blocks > le64_to_cpu(ds->rec.size_blocks))
			r = -EINVAL;
		else if ((flags & DMROW_DISK_EXTERNAL_ORIGIN) || ds->rec.root ||
			 ds->rec.first_snapshot || ds->rec.origin_snapshot)
			r = -EBUSY;
		if (r)
			goto out;
		md->sb.incompat_flags |= cpu_to_le64(DMROW_FEATURE_INCOMPAT_ORIGINS);
		flags |= DMROW_DISK_EXTERNAL_ORIGIN;
		ds->rec.hydrated_blocks = 0;
	} else {
		if (!(flags & DMROW_DISK_EXTERNAL_ORIGIN)) {
			r = -ENODATA;
			goto out;
		}
		if (le64_to_cpu(ds->rec.hydrated_blocks) < le64_to_cpu(ds->rec.origin_blocks)) {
			r = -EBUSY;
			goto out;
		}
		flags &= ~DMROW_DISK_EXTERNAL_ORIGIN;
		ds->rec.hydrated_blocks = 0;
	}
	ds->rec.flags = cpu_to_le32(flags);
	ds->rec.origin_blocks = cpu_to_le64(origin_blocks);
	__disk_changed(md, ds);
out:
	up_write(&md->lock);
	return r;
}

/*----------------------------------------------------------------
 * The I/O path
 *--------------------------------------------------------------*/

/* The root of a disk's live head or of one of its snapshots. */
static int __image_root(struct dmrow_metadata *md, u64 disk_id, u64 snap_id,
			u64 *root, struct disk_state **live)
{
	struct row_disk_snapshot rec;
	struct disk_state *ds;
	int r;

	lockdep_assert_held(&md->lock);
	*live = NULL;
	if (!snap_id) {
		r = __get_live_disk(md, disk_id, &ds);
		if (r)
			return r == -ENODATA ? -ENOENT : r;
		*root = le64_to_cpu(ds->rec.root);
		*live = ds;
		return 0;
	}
	r = __get_snap(md, snap_id, &rec);
	if (r)
		return r == -ENODATA ? -ENOENT : r;
	if (le64_to_cpu(rec.disk_id) != disk_id)
		return -ENOENT;
	*root = le64_to_cpu(rec.root);
	return 0;
}

static int __finish_mapping(struct dmrow_metadata *md, u64 disk_id, u64 vblock,
			    const __le64 *value, const struct disk_state *live,
			    struct dmrow_mapping *result);

int dmrow_md_find_block(struct dmrow_metadata *md, u64 disk_id, u64 snap_id,
			u64 vblock, struct dmrow_mapping *result)
{
	struct disk_state *live;
	__le64 value;
	u64 root;
	int r;

	down_write(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = __image_root(md, disk_id, snap_id, &root, &live);
	if (!r)
		r = dmrow_btree_lookup(&md->mapping_info, root, vblock, &value);
	if (!r)
		r = __finish_mapping(md, disk_id, vblock, &value, live, result);
	up_write(&md->lock);
	return r;
}

/*
 * Whether @next, found for the block @i blocks after the one @first describes,
 * continues its run: the data blocks follow each other, and a run that starts
 * unshared stays unshared (a write may go to it in place).
 */
static bool __continues_run(const struct dmrow_mapping *first, unsigned int i,
			    const struct dmrow_mapping *next)
{
	return next->data_block == first->data_block + i && (first->shared || !next->shared);
}

/* A run of mapped blocks, as the leaves of the mapping tree give it. */
struct mapped_run {
	struct dmrow_metadata *md;
	u64 disk_id;
	const struct disk_state *live;
	struct dmrow_mapping *first;
	unsigned int len;	/* blocks in the run so far */
	unsigned int max;	/* the longest run asked for */
	bool ended;		/* a block that does not continue it was seen */
	int error;		/* of the first block's mapping */
	bool fill;		/* into the live disk's mapping caches */
	u64 fill_end;		/* past the run's end, fill up to here */
};

static bool __extend_run(void *context, u64 vblock, const void *value)
{
	struct mapped_run *run = context;
	struct dmrow_mapping next;
	int r;

	r = __finish_mapping(run->md, run->disk_id, vblock, value, run->live,
			     run->len || run->ended ? &next : run->first);
	if (!r && run->fill) {
		__le64 le;

		memcpy(&le, value, sizeof(le));
		if (le64_to_cpu(le) != DMROW_CACHE_UNMAPPED)
			__cache_fill(run->md, run->disk_id, vblock, le64_to_cpu(le));
	}
	if (!run->ended) {
		if (r || (run->len && !__continues_run(run->first, run->len, &next))) {
			if (!run->len)
				run->error = r;
			run->ended = true;
		} else if (++run->len == run->max) {
			run->ended = true;
		}
	}
	/* Past the run, a leaf already in hand still fills the cache. */
	return !r && (!run->ended || (run->fill && vblock + 1 < run->fill_end));
}

/* Ends a lookup at the first mapped block: an unmapped run stops there. */
static bool __stop_at_mapped(void *context, u64 key, const void *value)
{
	return false;
}

/*
 * The fast path's lookup, from map(): shares the lock with other lookups only
 * and touches nothing that is not already in memory, so it never sleeps on
 * I/O or on the worker.  Only live disks whose state is loaded and snapshots
 * whose record is cached are looked up.  The first block decides the result;
 * the blocks after it are looked up while they continue its run, so that one
 * bio covering several blocks is remapped whole.  A mapped run is read off
 * the leaves, one descent per leaf; so is an unmapped one (how far it goes
 * is what the leaf and the path to it tell).  A live disk's lookup fills its
 * mapping caches with what it read, to the end of the first block's cache
 * window at least.
 */
int dmrow_md_try_find_run(struct dmrow_metadata *md, u64 disk_id, u64 snap_id,
			  u64 vblock, unsigned int *nr_blocks, struct dmrow_mapping *result)
{
	struct row_disk_snapshot rec;
	struct disk_state *ds, *live = NULL;
	unsigned int asked = *nr_blocks, max = asked ? asked : 1, i, visited, limit;
	struct mapped_run run = { .md = md, .disk_id = disk_id, .first = result, .max = max };
	u64 root = 0, start;
	int r;

	*nr_blocks = 0;
	if (!down_read_trylock(&md->lock))
		return -EWOULDBLOCK;
	r = __check_readable(md);
	if (!r && !snap_id) {
		r = -EWOULDBLOCK;
		for (ds = md->disks; ds; ds = ds->next) {
			if (le64_to_cpu(ds->rec.id) == disk_id &&
			    !(le32_to_cpu(ds->rec.flags) & DMROW_DISK_REMOVED)) {
				live = ds;
				root = le64_to_cpu(ds->rec.root);
				r = 0;
				break;
			}
		}
	} else if (!r) {
		r = dmrow_btree_lookup_nonblocking(&md->snapshot_info,
						   le64_to_cpu(md->sb.snapshot_tree_root),
						   snap_id, &rec);
		if (!r && (le64_to_cpu(rec.id) != snap_id || le64_to_cpu(rec.disk_id) != disk_id))
			r = -EWOULDBLOCK;	/* let the worker judge it */
		root = le64_to_cpu(rec.root);
	}
	if (r)
		goto out;

	run.live = live;
	if (live && md->caches) {
		run.fill = true;
		run.fill_end = (vblock | (DMROW_CACHE_SEGMENT_BLOCKS - 1)) + 1;
		__cache_time(md, live);
	}
	do {
		start = vblock + run.len;
		limit = max - run.len;
		if (run.fill && run.fill_end > start + limit)
			limit = run.fill_end - start;
		r = dmrow_btree_lookup_run_nonblocking(&md->mapping_info, root, start, limit,
						       __extend_run, &run, &visited);
	} while (!r && !run.ended);
	if (run.len) {
		r = 0;
		i = run.len;
	} else if (!r) {
		r = run.error;	/* the first block's mapping is bad */
		goto out;
	} else if (r == -ENODATA) {
		/* An unmapped run: one lookup per leaf it spans. */
		for (i = visited; i < max; i += visited) {
			r = dmrow_btree_lookup_run_nonblocking(&md->mapping_info, root, vblock + i,
							       max - i, __stop_at_mapped, NULL,
							       &visited);
			if (r != -ENODATA)
				break;
		}
		if (run.fill) {
			for (start = vblock; start < vblock + i; start++)
				__cache_fill(md, disk_id, start, DMROW_CACHE_UNMAPPED);
		}
		i = min(i, max);
		r = -ENODATA;
	} else {
		goto out;
	}
	*nr_blocks = asked ? i : 0;
out:
	up_read(&md->lock);
	return r;
}

int dmrow_md_try_find_block(struct dmrow_metadata *md, u64 disk_id, u64 snap_id,
			    u64 vblock, struct dmrow_mapping *result)
{
	unsigned int nr_blocks = 1;

	return dmrow_md_try_find_run(md, disk_id, snap_id, vblock, &nr_blocks, result);
}

static int __finish_mapping(struct dmrow_metadata *md, u64 disk_id, u64 vblock,
			    const __le64 *value, const struct disk_state *live,
			    struct dmrow_mapping *result)
{
	u32 time;

	lockdep_assert_held(&md->lock);
	dmrow_unpack_mapping(value, &result->data_block, &time);
	result->time = time;
	result->shared = !live || time < le32_to_cpu(live->rec.snapshotted_time);
	/*
	 * The I/O path sends bios where this says: a corrupt mapping must not
	 * aim them past the data the pool owns.
	 */
	if (result->data_block >= md->data_sm.nr_blocks) {
		DMERR_LIMIT("disk %llu block %llu maps to data block %llu, past the end",
			    (unsigned long long)disk_id, (unsigned long long)vblock,
			    (unsigned long long)result->data_block);
		return -EILSEQ;
	}
	return 0;
}

/*
 * Handing out, mapping and freeing data blocks under I/O.
 *
 * A write that needs a fresh block reserves one: the block is held here,
 * in memory, and the space map passes over it, but its count stays zero
 * and nothing is dirtied, so a commit while the write is in flight records
 * the block as free and a crash loses nothing.  Once the data is written
 * the block is mapped (dmrow_md_insert_block()), which counts it; a failed
 * write releases it.
 *
 * A block that the I/O path frees (a redirected write replacing the last
 * reference to the old block, a discard) may still be read by a bio that
 * looked it up before: while quarantine is on, such a block is held too,
 * and the pool releases it once those bios have completed.
 */
static int __hold(struct dmrow_metadata *md, u64 b)
{
	int r = dmrow_delta_map_add(&md->held, b, 1);

	lockdep_assert_held_write(&md->lock);
	if (!r) {
		md->nr_held++;
		md->data_sm.nr_held = md->nr_held;
	}
	return r;
}

static int __unhold(struct dmrow_metadata *md, u64 b)
{
	int r;

	lockdep_assert_held_write(&md->lock);
	if (dmrow_delta_map_get(&md->held, b) <= 0)
		return -EINVAL;
	r = dmrow_delta_map_add(&md->held, b, -1);
	if (r)
		return r;
	md->nr_held--;
	md->data_sm.nr_held = md->nr_held;
	/* Released entries stay in the map until it is empty (see its header). */
	if (!md->nr_held)
		dmrow_delta_map_clear(&md->held);
	return 0;
}

static int __quarantine(struct dmrow_metadata *md, u64 block)
{
	int r;

	lockdep_assert_held_write(&md->lock);
	if (md->nr_quarantined == md->quarantine_slots) {
		unsigned int slots = max(64U, md->quarantine_slots * 2);
		u64 *q = kvmalloc(slots * sizeof(*q), GFP_NOIO);

		if (!q)
			return -ENOMEM;
		if (md->nr_quarantined)
			memcpy(q, md->quarantine, md->nr_quarantined * sizeof(*q));
		kvfree(md->quarantine);
		md->quarantine = q;
		md->quarantine_slots = slots;
	}
	r = __hold(md, block);
	if (!r)
		md->quarantine[md->nr_quarantined++] = block;
	return r;
}

int dmrow_md_alloc_data_blocks(struct dmrow_metadata *md, u64 *blocks, unsigned int max,
			       unsigned int *nr)
{
	unsigned int found, i;
	int r;

	*nr = 0;
	down_write(&md->lock);
	r = __check_writable(md);
	while (!r && *nr < max) {
		r = dmrow_sm_find_free(&md->data_sm, blocks + *nr, max - *nr, &found);
		/*
		 * The allocator never goes round twice in one transaction
		 * (-EAGAIN: blocks freed in it are still in the committed
		 * state).  It can also go round without any change, blocks
		 * reserved and given back unmapped, and then no commit would
		 * ever come to end the round (a clean transaction has nothing
		 * to commit).  With nothing freed and nothing changed, every
		 * free block is free on disk too: a new round may begin now.
		 */
		if (r == -EAGAIN && !md->dirty && !md->data_sm.nr_freed_in_txn &&
		    md->data_sm.index_root == md->data_sm.committed_index_root) {
			dmrow_sm_committed(&md->data_sm);
			r = dmrow_sm_find_free(&md->data_sm, blocks + *nr, max - *nr, &found);
		}
		for (i = 0; !r && i < found; i++) {
			r = __hold(md, blocks[*nr]);
			if (!r)
				(*nr)++;
		}
	}
	up_write(&md->lock);
	/* Some found: they are the caller's, whatever stopped the search. */
	return *nr ? 0 : r;
}

int dmrow_md_alloc_data_block(struct dmrow_metadata *md, u64 *data_block)
{
	unsigned int nr;

	return dmrow_md_alloc_data_blocks(md, data_block, 1, &nr);
}

int dmrow_md_release_data_block(struct dmrow_metadata *md, u64 data_block)
{
	int r;

	down_write(&md->lock);
	r = __unhold(md, data_block);
	up_write(&md->lock);
	return r;
}

/*
 * A chunk's mappings in the order they go into the trees: by disk, then
 * block, then place in the batch, so that of two writes to one block the
 * later one is mapped last and wins, as it would one by one.
 */
static void sort_chunk(struct dmrow_metadata *md, const struct dmrow_new_mapping *maps,
		       unsigned int n)
{
	u16 *order = md->ins.order;
	unsigned int i, j;

	for (i = 1; i < n; i++) {
		u16 x = order[i];
		const struct dmrow_new_mapping *m = &maps[x];

		for (j = i; j > 0; j--) {
			const struct dmrow_new_mapping *p = &maps[order[j - 1]];

			if (p->disk_id < m->disk_id ||
			    (p->disk_id == m->disk_id && p->vblock <= m->vblock))
				break;
			order[j] = order[j - 1];
		}
		order[j] = x;
	}
}

/*
 * Insert the mappings of @maps[0..@nr) (at most DMROW_INSERT_CHUNK) that
 * are not refused, leaf by leaf; what they overwrite is added to @olds
 * (*@nr_olds of DMROW_INSERT_CHUNK), dropped whenever it fills.
 */
static int insert_chunk(struct dmrow_metadata *md, struct dmrow_new_mapping *maps,
			unsigned int nr, u64 *olds, unsigned int *nr_olds)
{
	u32 time = le32_to_cpu(md->sb.time), old_time;
	unsigned int i, n, len, at, done, k;
	struct disk_state *ds;
	u64 disk_id, root;
	int r;

	for (i = 0, n = 0; i < nr; i++)
		if (!maps[i].result)
			md->ins.order[n++] = i;
	sort_chunk(md, maps, n);
	for (i = 0; i < n; i += len) {
		disk_id = maps[md->ins.order[i]].disk_id;
		for (len = 0; i + len < n && maps[md->ins.order[i + len]].disk_id == disk_id; len++) {
			const struct dmrow_new_mapping *map = &maps[md->ins.order[i + len]];

			md->ins.keys[len] = map->vblock;
			md->ins.values[len] = dmrow_pack_mapping(map->data_block, time);
		}
		r = __get_live_disk(md, disk_id, &ds);
		if (r)
			return r;
		__mark_dirty(md);
		root = le64_to_cpu(ds->rec.root);
		for (at = 0; at < len; at += done) {
			r = dmrow_btree_insert_run(&md->mapping_info, root, md->ins.keys + at,
						   md->ins.values + at, len - at, &root,
						   md->ins.olds + at, md->ins.replaced + at, &done);
			if (r)
				return r;
			ds->rec.root = cpu_to_le64(root);
		}
		__disk_changed(md, ds);
		for (k = 0; k < len; k++) {
			__cache_set(md, disk_id, md->ins.keys[k], le64_to_cpu(md->ins.values[k]), true);
			if (!md->ins.replaced[k])
				continue;
			dmrow_unpack_mapping(&md->ins.olds[k], &olds[(*nr_olds)++], &old_time);
			if (*nr_olds == DMROW_INSERT_CHUNK) {
				r = drop_data_blocks(md, olds, *nr_olds);
				if (r)
					return r;
				*nr_olds = 0;
			}
		}
	}
	return 0;
}

int dmrow_md_insert_blocks(struct dmrow_metadata *md, struct dmrow_new_mapping *maps,
			   unsigned int nr)
{
	u64 blocks[DMROW_INSERT_CHUNK], roots[8], root, fit;
	unsigned int i, j, n, nr_roots;
	struct disk_state *ds;
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (r)
		goto out;
	/* Refusals first, each for itself; they change nothing. */
	for (i = 0; i < nr; i++) {
		struct dmrow_new_mapping *map = &maps[i];

		if (map->result)
			continue;	/* the caller's: its write failed */
		map->result = __get_live_disk(md, map->disk_id, &ds);
		if (map->result && map->result != -ENODATA) {
			r = map->result;	/* cannot read the disk record */
			goto out;
		}
		if (!map->result && (map->vblock >= le64_to_cpu(ds->rec.size_blocks) ||
				     map->data_block >= md->data_sm.nr_blocks ||
				     dmrow_delta_map_get(&md->held, map->data_block) <= 0))
			map->result = -EINVAL;
	}
	/*
	 * The metadata reserve: what does not fit is refused, unchanged.  A
	 * promised mapping fits: its room was kept from everything else.
	 */
	for (i = 0, n = 0, nr_roots = 0; i < nr; i++) {
		if (maps[i].result || maps[i].promised)
			continue;
		n++;
		r = __get_live_disk(md, maps[i].disk_id, &ds);
		if (r)
			goto out;
		root = le64_to_cpu(ds->rec.root);
		for (j = 0; j < nr_roots && roots[j] != root; j++)
			;
		if (j == nr_roots && nr_roots < ARRAY_SIZE(roots))
			roots[nr_roots++] = root;
	}
	r = __changes_that_fit(md, roots, nr_roots, n, __io_budget(md), &fit);
	if (r)
		goto out;
	for (i = 0, n = 0; i < nr; i++) {
		if (maps[i].result || maps[i].promised)
			continue;
		if (n < fit)
			n++;
		else
			maps[i].result = -ENOSPC;
	}
	/*
	 * From here on a failure leaves the transaction to be aborted.  The
	 * new blocks are counted together: handed out in order, they are
	 * mostly neighbours, counted in runs.
	 */
	for (i = 0, n = 0; i < nr; i++) {
		if (maps[i].result)
			continue;
		r = __unhold(md, maps[i].data_block);
		if (r)
			goto out;
		blocks[n++] = maps[i].data_block;
		if (n == ARRAY_SIZE(blocks)) {
			r = dmrow_sm_inc_blocks(&md->data_sm, blocks, n);
			if (r)
				goto out;
			n = 0;
		}
	}
	r = dmrow_sm_inc_blocks(&md->data_sm, blocks, n);
	if (r)
		goto out;
	/*
	 * blocks[] now gathers what the mappings overwrite: see
	 * drop_data_blocks().  The mappings go in a chunk at a time, in key
	 * order, one disk's run per dmrow_btree_insert_run() walk.
	 */
	for (i = 0, n = 0; i < nr; i += j) {
		j = min_t(unsigned int, nr - i, DMROW_INSERT_CHUNK);
		r = insert_chunk(md, maps + i, j, blocks, &n);
		if (r)
			goto out;
	}
	r = drop_data_blocks(md, blocks, n);
out:
	/*
	 * A promise is spent by this call, whatever became of its mapping;
	 * until here it kept its room from the others of the batch.
	 */
	for (i = 0; i < nr; i++)
		if (maps[i].promised)
			__unpromise(md, 1);
	up_write(&md->lock);
	return r;
}

/*
 * Hydration: copying the blocks of a disk's external origin into the pool.
 *
 * The pool copies origin block @vblock into a reserved data block and
 * dmrow_md_hydrate_block() maps it into every image of the disk that does
 * not map @vblock: the live head and each snapshot, all at once, so that
 * two images that both read the origin there before share one block
 * after, and a diff between them still sees no change.  The block is
 * counted once per image.  In the live head it is shared (written at time
 * 0, before any snapshot) when a snapshot took it too, so the next write
 * redirects; taken by the live head alone it is written at the pool's
 * time and written over in place.
 *
 * hydrated_blocks records how far this has gone: every image of the disk
 * maps every origin block below it that is not all zeroes (the pool does
 * not copy those: unmapped, they read zeroes with the origin or without
 * it).  Nothing undoes that: a new snapshot
 * or a rollback takes a tree that maps them, a discard leaves the origin's
 * blocks mapped (see dmrow_md_discard()), and a disk with an origin is not
 * shrunk below it.  A clone starts its own hydration from block 0.
 */

/* The first image of @ds's chain after @snap_id (0: the first), or 0. */
static int __next_origin_image(struct dmrow_metadata *md, struct disk_state *ds,
			       struct dmrow_chain_walk *walk, u64 *snap_id, u64 *root)
{
	struct row_disk_snapshot rec;
	u64 next;
	int r;

	lockdep_assert_held(&md->lock);
	if (!*snap_id) {
		next = le64_to_cpu(ds->rec.first_snapshot);
	} else {
		r = __get_snap(md, *snap_id, &rec);
		if (r)
			return r == -ENODATA ? -EILSEQ : r;
		next = le64_to_cpu(rec.next);
	}
	*snap_id = next;
	if (!next)
		return 0;
	if (!dmrow_chain_walk_step(walk, next))
		return -EILSEQ;
	r = __get_snap(md, next, &rec);
	if (r)
		return r == -ENODATA ? -EILSEQ : r;
	*root = le64_to_cpu(rec.root);
	return 0;
}

static bool __maps(struct dmrow_metadata *md, u64 root, u64 vblock, int *r)
{
	__le64 value;

	*r = dmrow_btree_lookup(&md->mapping_info, root, vblock, &value);
	if (*r == -ENODATA) {
		*r = 0;
		return false;
	}
	return true;
}

/* The roots of the images that lack a block, as many as fit here. */
struct lacking_roots {
	u64 roots[8];
	unsigned int nr;
};

static void lacking_root(struct lacking_roots *lacking, u64 root)
{
	if (lacking && lacking->nr < ARRAY_SIZE(lacking->roots))
		lacking->roots[lacking->nr++] = root;
}

/*
 * How many images of @ds lack @vblock, whether one is a snapshot, and
 * (@lacking, if not NULL) their trees.
 */
static int __images_lacking(struct dmrow_metadata *md, struct disk_state *ds, u64 vblock,
			    unsigned int *nr, bool *snapshot_lacks,
			    struct lacking_roots *lacking)
{
	struct dmrow_chain_walk walk;
	u64 snap_id = 0, root;
	int r = 0;

	lockdep_assert_held(&md->lock);
	*nr = 0;
	*snapshot_lacks = false;
	if (!(le32_to_cpu(ds->rec.flags) & DMROW_DISK_REMOVED)) {
		root = le64_to_cpu(ds->rec.root);
		if (!__maps(md, root, vblock, &r) && !r) {
			(*nr)++;
			lacking_root(lacking, root);
		}
		if (r)
			return r;
	}
	dmrow_chain_walk_init(&walk, (u64)le32_to_cpu(ds->rec.nr_manual) +
			      le32_to_cpu(ds->rec.nr_auto));
	for (;;) {
		r = __next_origin_image(md, ds, &walk, &snap_id, &root);
		if (r || !snap_id)
			return r;
		if (!__maps(md, root, vblock, &r) && !r) {
			(*nr)++;
			*snapshot_lacks = true;
			lacking_root(lacking, root);
		}
		if (r)
			return r;
	}
}

static int __get_origin_disk(struct dmrow_metadata *md, u64 disk_id, struct disk_state **ds)
{
	int r = __get_disk(md, disk_id, ds);

	if (!r && !(le32_to_cpu((*ds)->rec.flags) & DMROW_DISK_EXTERNAL_ORIGIN))
		r = -ENODATA;
	return r;
}

int dmrow_md_hydrate_scan(struct dmrow_metadata *md, u64 disk_id, u64 from, u64 max,
			  u64 *vblock)
{
	struct disk_state *ds;
	bool snapshot_lacks;
	unsigned int nr;
	u64 end;
	int r;

	down_write(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = __get_origin_disk(md, disk_id, &ds);
	if (r)
		goto out;
	end = le64_to_cpu(ds->rec.origin_blocks);
	if (from < le64_to_cpu(ds->rec.hydrated_blocks))
		from = le64_to_cpu(ds->rec.hydrated_blocks);
	if (max < end - min(from, end))
		end = from + max;
	for (*vblock = from; *vblock < end; (*vblock)++) {
		r = __images_lacking(md, ds, *vblock, &nr, &snapshot_lacks, NULL);
		if (r || nr)
			goto out;
	}
	r = -ENODATA;
out:
	up_write(&md->lock);
	return r;
}

int dmrow_md_hydrate_block(struct dmrow_metadata *md, u64 disk_id, u64 vblock,
			   u64 data_block, unsigned int *images)
{
	struct dmrow_chain_walk walk;
	struct row_disk_snapshot rec;
	bool snapshot_lacks, replaced;
	struct lacking_roots lacking = { .nr = 0 };
	struct disk_state *ds;
	u64 snap_id = 0, root, fit;
	__le64 value, old;
	unsigned int i;
	int r;

	*images = 0;
	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_origin_disk(md, disk_id, &ds);
	if (r)
		goto out;
	if (vblock >= le64_to_cpu(ds->rec.origin_blocks) ||
	    data_block >= md->data_sm.nr_blocks ||
	    dmrow_delta_map_get(&md->held, data_block) <= 0) {
		r = -EINVAL;
		goto out;
	}
	r = __images_lacking(md, ds, vblock, images, &snapshot_lacks, &lacking);
	if (r || !*images)
		goto out;
	/*
	 * The metadata reserve, as for a write's mapping: refused, unchanged.
	 * One change in each of n trees costs at worst what n changes in the
	 * tallest of them do.
	 */
	r = __changes_that_fit(md, lacking.roots, lacking.nr, *images, __io_budget(md), &fit);
	if (!r && fit < *images)
		r = -ENOSPC;
	if (r) {
		*images = 0;
		goto out;
	}

	/* From here on a failure leaves the transaction to be aborted. */
	r = __unhold(md, data_block);
	for (i = 0; !r && i < *images; i++)
		r = dmrow_sm_inc(&md->data_sm, data_block);
	if (r)
		goto out;
	__mark_dirty(md);
	value = dmrow_pack_mapping(data_block, snapshot_lacks ? 0 : le32_to_cpu(md->sb.time));
	if (!(le32_to_cpu(ds->rec.flags) & DMROW_DISK_REMOVED) &&
	    !__maps(md, le64_to_cpu(ds->rec.root), vblock, &r) && !r) {
		r = dmrow_btree_insert(&md->mapping_info, le64_to_cpu(ds->rec.root), vblock,
				       &value, &root, &old, &replaced);
		if (r)
			goto out;
		ds->rec.root = cpu_to_le64(root);
		__cache_set(md, disk_id, vblock, le64_to_cpu(value), true);
	}
	if (r)
		goto out;
	dmrow_chain_walk_init(&walk, (u64)le32_to_cpu(ds->rec.nr_manual) +
			      le32_to_cpu(ds->rec.nr_auto));
	for (;;) {
		r = __next_origin_image(md, ds, &walk, &snap_id, &root);
		if (r || !snap_id)
			break;
		if (__maps(md, root, vblock, &r)) {
			if (r)
				break;
			continue;
		}
		r = __get_snap(md, snap_id, &rec);
		if (!r)
			r = dmrow_btree_insert(&md->mapping_info, root, vblock, &value, &root,
					       &old, &replaced);
		if (r)
			break;
		rec.root = cpu_to_le64(root);
		/* It holds one block more than it did: its delta is counted again. */
		rec.delta_blocks = cpu_to_le64(DMROW_DELTA_UNKNOWN);
		r = __put_snap(md, &rec);
		if (!r && rec.next) {
			struct row_disk_snapshot next;

			r = __get_snap(md, le64_to_cpu(rec.next), &next);
			if (!r) {
				next.delta_blocks = cpu_to_le64(DMROW_DELTA_UNKNOWN);
				r = __put_snap(md, &next);
			}
		}
		if (r)
			break;
	}
	__disk_changed(md, ds);
out:
	up_write(&md->lock);
	return r;
}

int dmrow_md_set_hydrated(struct dmrow_metadata *md, u64 disk_id, u64 blocks)
{
	struct disk_state *ds;
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_origin_disk(md, disk_id, &ds);
	if (!r && (blocks > le64_to_cpu(ds->rec.origin_blocks) ||
		   blocks < le64_to_cpu(ds->rec.hydrated_blocks)))
		r = -EINVAL;
	if (!r && blocks != le64_to_cpu(ds->rec.hydrated_blocks)) {
		ds->rec.hydrated_blocks = cpu_to_le64(blocks);
		__disk_changed(md, ds);
	}
	up_write(&md->lock);
	return r;
}

int dmrow_md_insert_block(struct dmrow_metadata *md, u64 disk_id, u64 vblock,
			  u64 data_block)
{
	struct dmrow_new_mapping map = {
		.disk_id = disk_id, .vblock = vblock, .data_block = data_block,
	};
	int r = dmrow_md_insert_blocks(md, &map, 1);

	return r ? r : map.result;
}

void dmrow_md_quarantine_frees(struct dmrow_metadata *md, bool on)
{
	down_write(&md->lock);
	md->quarantine_frees = on;
	up_write(&md->lock);
}

unsigned int dmrow_md_nr_quarantined(struct dmrow_metadata *md, bool sealed)
{
	unsigned int nr;

	down_read(&md->lock);
	nr = sealed ? md->nr_sealed : md->nr_quarantined - md->nr_sealed;
	up_read(&md->lock);
	return nr;
}

void dmrow_md_seal_quarantine(struct dmrow_metadata *md)
{
	down_write(&md->lock);
	md->nr_sealed = md->nr_quarantined;
	up_write(&md->lock);
}

void dmrow_md_release_sealed(struct dmrow_metadata *md)
{
	unsigned int i;

	down_write(&md->lock);
	for (i = 0; i < md->nr_sealed; i++)
		WARN_ON_ONCE(__unhold(md, md->quarantine[i]));
	md->nr_quarantined -= md->nr_sealed;
	memmove(md->quarantine, md->quarantine + md->nr_sealed,
		md->nr_quarantined * sizeof(*md->quarantine));
	md->nr_sealed = 0;
	up_write(&md->lock);
}

bool dmrow_md_disk_uncommitted(struct dmrow_metadata *md, u64 disk_id)
{
	struct disk_state *ds;
	bool changed = false;

	down_read(&md->lock);
	for (ds = md->disks; ds; ds = ds->next)
		if (le64_to_cpu(ds->rec.id) == disk_id)
			changed = ds->changed;
	up_read(&md->lock);
	return changed;
}

bool dmrow_md_try_disk_committed(struct dmrow_metadata *md, u64 disk_id)
{
	struct disk_state *ds;
	bool committed = false;

	if (!down_read_trylock(&md->lock))
		return false;
	if (!md->failed && !md->read_only) {
		for (ds = md->disks; ds; ds = ds->next) {
			if (le64_to_cpu(ds->rec.id) == disk_id) {
				committed = !ds->changed;
				break;
			}
		}
	}
	up_read(&md->lock);
	return committed;
}

int dmrow_md_discard(struct dmrow_metadata *md, u64 disk_id, u64 begin, u64 end)
{
	struct disk_state *ds;
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_live_disk(md, disk_id, &ds);
	/*
	 * An unmapped block of a disk with an external origin reads the
	 * origin, and hydration maps it for good: the origin's blocks stay
	 * mapped (a discard is advice) until the origin is taken away.
	 */
	if (!r && (le32_to_cpu(ds->rec.flags) & DMROW_DISK_EXTERNAL_ORIGIN))
		begin = max(begin, le64_to_cpu(ds->rec.origin_blocks));
	if (!r && begin < end)
		r = __discard(md, ds, begin, end, true);
	up_write(&md->lock);
	return r;
}

/*----------------------------------------------------------------
 * Snapshots
 *--------------------------------------------------------------*/

/* Unlink and free one snapshot; its successor's delta must be recomputed. */
static int __delete_snapshot(struct dmrow_metadata *md, u64 snap_id)
{
	struct row_disk_snapshot rec, neighbour;
	struct disk_state *ds;
	u64 root;
	int r;

	lockdep_assert_held_write(&md->lock);
	r = __get_snap(md, snap_id, &rec);
	if (r)
		return r;
	r = __get_disk(md, le64_to_cpu(rec.disk_id), &ds);
	if (r)
		return r == -ENODATA ? -EILSEQ : r;

	r = dmrow_btree_del(&md->mapping_info, le64_to_cpu(rec.root));
	if (r)
		return r;

	if (rec.prev) {
		r = __get_snap(md, le64_to_cpu(rec.prev), &neighbour);
		if (r)
			return r == -ENODATA ? -EILSEQ : r;
		neighbour.next = rec.next;
		r = __put_snap(md, &neighbour);
		if (r)
			return r;
	} else {
		ds->rec.first_snapshot = rec.next;
	}
	if (rec.next) {
		r = __get_snap(md, le64_to_cpu(rec.next), &neighbour);
		if (r)
			return r == -ENODATA ? -EILSEQ : r;
		neighbour.prev = rec.prev;
		neighbour.delta_blocks = cpu_to_le64(DMROW_DELTA_UNKNOWN);
		r = __put_snap(md, &neighbour);
		if (r)
			return r;
	} else {
		ds->rec.last_snapshot = rec.prev;
	}
	if (le32_to_cpu(rec.flags) & DMROW_SNAP_AUTO)
		ds->rec.nr_auto = cpu_to_le32(le32_to_cpu(ds->rec.nr_auto) - 1);
	else
		ds->rec.nr_manual = cpu_to_le32(le32_to_cpu(ds->rec.nr_manual) - 1);
	__disk_changed(md, ds);

	r = dmrow_btree_remove(&md->snapshot_info, le64_to_cpu(md->sb.snapshot_tree_root),
			       snap_id, &root, NULL);
	if (r)
		return r;
	md->sb.snapshot_tree_root = cpu_to_le64(root);

	/* A removed disk's record goes with its last snapshot. */
	if ((le32_to_cpu(ds->rec.flags) & DMROW_DISK_REMOVED) && !ds->rec.first_snapshot)
		return __delete_disk_record(md, ds);
	return 0;
}

/* The oldest automatic snapshot of a chain, 0 if none. */
static int __oldest_auto(struct dmrow_metadata *md, struct disk_state *ds, u64 *snap_id)
{
	struct row_disk_snapshot rec;
	struct dmrow_chain_walk walk;
	u64 id;
	int r;

	lockdep_assert_held(&md->lock);
	*snap_id = 0;
	dmrow_chain_walk_init(&walk, dmrow_chain_max_len(&ds->rec));
	for (id = le64_to_cpu(ds->rec.first_snapshot); id; id = le64_to_cpu(rec.next)) {
		if (!dmrow_chain_walk_step(&walk, id))
			return -EILSEQ;
		r = __get_snap(md, id, &rec);
		if (r)
			return r == -ENODATA ? -EILSEQ : r;
		if (le32_to_cpu(rec.flags) & DMROW_SNAP_AUTO) {
			*snap_id = id;
			return 0;
		}
	}
	return 0;
}

/* Everything that can refuse a snapshot is checked before anything changes. */
static int __validate_snapshots(struct dmrow_metadata *md, unsigned int nr,
				const u64 *disk_ids,
				const struct dmrow_snapshot_attrs *attrs)
{
	struct disk_state *ds;
	unsigned int i, j;
	bool taken;
	int r;

	lockdep_assert_held(&md->lock);
	if (!nr || nr > MAX_SNAPSHOTS_AT_ONCE)
		return -EINVAL;
	if (le32_to_cpu(md->sb.time) >= DMROW_MAX_POOL_TIME)
		return -ERANGE;		/* the pool's clock is exhausted */
	for (i = 0; i < nr; i++) {
		if (!name_valid(attrs[i].name) ||
		    (attrs[i].flags & ~(DMROW_SNAP_AUTO | DMROW_SNAP_APP_CONSISTENT)))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (disk_ids[j] == disk_ids[i])
				return -EINVAL;
		r = __get_live_disk(md, disk_ids[i], &ds);
		if (r)
			return r;
		if (attrs[i].flags & DMROW_SNAP_AUTO) {
			if (!md->sb.auto_quota)
				return -EDQUOT;
		} else if (le32_to_cpu(ds->rec.nr_manual) >= le32_to_cpu(md->sb.manual_quota)) {
			return -EDQUOT;
		}
		r = __snapshot_name_taken(md, ds, attrs[i].name, &taken);
		if (r)
			return r;
		if (taken)
			return -EEXIST;
		/* The new snapshot is linked after the last one: it must be there. */
		if (ds->rec.last_snapshot) {
			struct row_disk_snapshot last;

			r = __get_snap(md, le64_to_cpu(ds->rec.last_snapshot), &last);
			if (r)
				return r == -ENODATA ? -EILSEQ : r;
		}
	}
	return 0;
}

static int __take_snapshot(struct dmrow_metadata *md, struct disk_state *ds,
			   const struct dmrow_snapshot_attrs *attrs, u64 group_id,
			   u64 *snap_id)
{
	struct row_disk_snapshot rec, prev;
	u64 id = le64_to_cpu(md->sb.next_snapshot_id);
	u64 root = le64_to_cpu(ds->rec.root);
	int r;

	lockdep_assert_held_write(&md->lock);
	if (root) {
		r = dmrow_tm_inc(&md->tm, root);
		if (r)
			return r;
	}
	memset(&rec, 0, sizeof(rec));
	rec.id = cpu_to_le64(id);
	rec.disk_id = ds->rec.id;
	rec.root = cpu_to_le64(root);
	rec.prev = ds->rec.last_snapshot;
	rec.created = cpu_to_le64(attrs->created);
	rec.size_blocks = ds->rec.size_blocks;
	rec.delta_blocks = cpu_to_le64(DMROW_DELTA_UNKNOWN);
	rec.retention_until = cpu_to_le64(attrs->retention_until);
	rec.group_id = cpu_to_le64(group_id);
	rec.time = md->sb.time;
	rec.flags = cpu_to_le32(attrs->flags);
	rec.policy_id = cpu_to_le32(attrs->policy_id);
	strscpy(rec.name, attrs->name, DMROW_NAME_LEN);
	r = __put_snap(md, &rec);
	if (r)
		return r;

	if (ds->rec.last_snapshot) {
		r = __get_snap(md, le64_to_cpu(ds->rec.last_snapshot), &prev);
		if (r)
			return r == -ENODATA ? -EILSEQ : r;
		prev.next = rec.id;
		r = __put_snap(md, &prev);
		if (r)
			return r;
	} else {
		ds->rec.first_snapshot = rec.id;
	}
	ds->rec.last_snapshot = rec.id;
	if (attrs->flags & DMROW_SNAP_AUTO)
		ds->rec.nr_auto = cpu_to_le32(le32_to_cpu(ds->rec.nr_auto) + 1);
	else
		ds->rec.nr_manual = cpu_to_le32(le32_to_cpu(ds->rec.nr_manual) + 1);
	__disk_changed(md, ds);
	md->sb.next_snapshot_id = cpu_to_le64(id + 1);
	*snap_id = id;
	return 0;
}

int dmrow_md_create_snapshots(struct dmrow_metadata *md, unsigned int nr,
			      const u64 *disk_ids,
			      const struct dmrow_snapshot_attrs *attrs,
			      u64 *snap_ids)
{
	struct disk_state *ds;
	unsigned int i;
	u64 victim, group_id;
	u32 time;
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __validate_snapshots(md, nr, disk_ids, attrs);
	if (r)
		goto out;

	/* Automatic snapshots over quota make room by evicting the oldest. */
	for (i = 0; i < nr; i++) {
		if (!(attrs[i].flags & DMROW_SNAP_AUTO))
			continue;
		r = __get_live_disk(md, disk_ids[i], &ds);
		while (!r && le32_to_cpu(ds->rec.nr_auto) >= le32_to_cpu(md->sb.auto_quota)) {
			r = __oldest_auto(md, ds, &victim);
			if (!r && !victim)
				r = -EILSEQ;	/* the count says there is one */
			if (!r)
				r = __delete_snapshot(md, victim);
		}
		if (r)
			goto out;
	}

	/* An instance snapshot's group is named after its first snapshot. */
	group_id = nr > 1 ? le64_to_cpu(md->sb.next_snapshot_id) : 0;
	for (i = 0; i < nr; i++) {
		r = __get_live_disk(md, disk_ids[i], &ds);
		if (!r)
			r = __take_snapshot(md, ds, &attrs[i], group_id, &snap_ids[i]);
		if (r)
			goto out;
	}

	/* One tick for all: every mapping of these disks is now shared. */
	time = le32_to_cpu(md->sb.time) + 1;
	md->sb.time = cpu_to_le32(time);
	for (i = 0; i < nr; i++) {
		r = __get_live_disk(md, disk_ids[i], &ds);
		if (r)
			goto out;
		ds->rec.snapshotted_time = cpu_to_le32(time);
		__cache_time(md, ds);
	}
out:
	up_write(&md->lock);
	return r;
}

int dmrow_md_delete_snapshot(struct dmrow_metadata *md, u64 snap_id)
{
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __delete_snapshot(md, snap_id);
	up_write(&md->lock);
	return r;
}

int dmrow_md_merge_snapshots(struct dmrow_metadata *md, u64 first, u64 last)
{
	struct row_disk_snapshot rec;
	struct disk_state *ds;
	struct dmrow_chain_walk walk;
	u64 id, next;
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_snap(md, first, &rec);
	if (!r) {
		r = __get_disk(md, le64_to_cpu(rec.disk_id), &ds);
		if (r == -ENODATA)
			r = -EILSEQ;
	}
	if (r)
		goto out;
	/* @last must follow @first in the same chain. */
	dmrow_chain_walk_init(&walk, dmrow_chain_max_len(&ds->rec));
	for (id = first; ; id = le64_to_cpu(rec.next)) {
		if (!dmrow_chain_walk_step(&walk, id)) {
			r = -EILSEQ;
			break;
		}
		r = __get_snap(md, id, &rec);
		if (r || id == last)
			break;
		if (!rec.next) {
			r = -EINVAL;
			break;
		}
	}
	if (r)
		goto out;
	for (id = first; id != last; id = next) {
		r = __get_snap(md, id, &rec);
		if (r)
			break;
		next = le64_to_cpu(rec.next);
		r = __delete_snapshot(md, id);
		if (r)
			break;
	}
out:
	up_write(&md->lock);
	return r;
}

int dmrow_md_rollback(struct dmrow_metadata *md, u64 disk_id, u64 snap_id, bool keep_size)
{
	struct row_disk_snapshot rec;
	struct disk_state *ds;
	u64 root;
	int r;

	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_live_disk(md, disk_id, &ds);
	if (!r)
		r = __get_snap(md, snap_id, &rec);
	if (r)
		goto out;
	if (le64_to_cpu(rec.disk_id) != disk_id) {
		r = -EINVAL;
		goto out;
	}
	root = le64_to_cpu(rec.root);
	if (root) {
		r = dmrow_tm_inc(&md->tm, root);
		if (r)
			goto out;
	}
	r = dmrow_btree_del(&md->mapping_info, le64_to_cpu(ds->rec.root));
	if (r)
		goto out;
	ds->rec.root = rec.root;
	/*
	 * The snapshot maps nothing past its own size (shrinking discards
	 * it), so a disk that keeps a larger size reads zeroes there.
	 */
	if (!keep_size || le64_to_cpu(rec.size_blocks) > le64_to_cpu(ds->rec.size_blocks))
		ds->rec.size_blocks = rec.size_blocks;
	/* Every mapping of the snapshot is older than the current time. */
	ds->rec.snapshotted_time = md->sb.time;
	__disk_changed(md, ds);
	__cache_drop(md, disk_id);
out:
	up_write(&md->lock);
	return r;
}

int dmrow_md_clone(struct dmrow_metadata *md, u64 snap_id, u64 new_disk_id,
		   const char *name, u64 size_blocks, u64 now)
{
	struct row_disk_snapshot rec;
	struct disk_state *ds, *source;
	u32 flags;
	bool taken;
	int r;

	if (new_disk_id > DM_ROW_MAX_DISK_ID || !name_valid(name))
		return -EINVAL;
	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_snap(md, snap_id, &rec);
	if (r)
		goto out;
	r = __get_disk(md, new_disk_id, &ds);
	if (!r)
		r = -EEXIST;
	if (r != -ENODATA)
		goto out;
	if (!size_blocks)
		size_blocks = le64_to_cpu(rec.size_blocks);
	if (size_blocks < le64_to_cpu(rec.size_blocks)) {
		r = -ERANGE;
		goto out;
	}
	/* The clone's data is laid out for its source's logical block size. */
	r = __get_disk(md, le64_to_cpu(rec.disk_id), &source);
	if (r)
		goto out;
	flags = le32_to_cpu(source->rec.flags) &
		(DMROW_DISK_LOGICAL_4K | DMROW_DISK_EXTERNAL_ORIGIN);
	r = __disk_name_taken(md, name, &taken);
	if (!r && taken)
		r = -EEXIST;
	if (!r && rec.root)
		r = dmrow_tm_inc(&md->tm, le64_to_cpu(rec.root));
	if (r)
		goto out;

	ds = kzalloc(sizeof(*ds), GFP_NOIO);
	if (!ds) {
		r = -ENOMEM;
		goto out;
	}
	ds->rec.id = cpu_to_le64(new_disk_id);
	ds->rec.root = rec.root;
	ds->rec.size_blocks = cpu_to_le64(size_blocks);
	/*
	 * What the snapshot does not map reads from the disk's external
	 * origin, if it has one, and so does the clone; it hydrates on its own.
	 */
	ds->rec.flags = cpu_to_le32(flags);
	if (flags & DMROW_DISK_EXTERNAL_ORIGIN)
		ds->rec.origin_blocks = source->rec.origin_blocks;
	ds->rec.created = cpu_to_le64(now);
	ds->rec.origin_snapshot = rec.id;
	ds->rec.snapshotted_time = md->sb.time;
	strscpy(ds->rec.name, name, DMROW_NAME_LEN);
	ds->next = md->disks;
	md->disks = ds;
	__disk_changed(md, ds);
	__cache_drop(md, new_disk_id);
out:
	up_write(&md->lock);
	return r;
}

int dmrow_md_get_snapshot(struct dmrow_metadata *md, u64 snap_id,
			  struct dmrow_snapshot_info *info)
{
	struct row_disk_snapshot rec;
	int r;

	down_read(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = __get_snap(md, snap_id, &rec);
	if (!r)
		snap_to_info(&rec, info);
	up_read(&md->lock);
	return r;
}

int dmrow_md_next_snapshot(struct dmrow_metadata *md, u64 from,
			   struct dmrow_snapshot_info *info)
{
	struct row_disk_snapshot rec;
	u64 found;
	int r;

	down_read(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = dmrow_btree_lookup_next(&md->snapshot_info,
					    le64_to_cpu(md->sb.snapshot_tree_root),
					    from, &found, &rec);
	/* As for disks: callers go on from info->id + 1. */
	if (!r && le64_to_cpu(rec.id) != found) {
		DMERR_LIMIT("snapshot record %llu names snapshot %llu",
			    (unsigned long long)found, (unsigned long long)le64_to_cpu(rec.id));
		r = -EILSEQ;
	}
	if (!r)
		snap_to_info(&rec, info);
	up_read(&md->lock);
	return r;
}

static int set_snapshot_field(struct dmrow_metadata *md, u64 snap_id, const char *name,
			      const u64 *retention_until)
{
	struct row_disk_snapshot rec;
	struct disk_state *ds;
	bool taken;
	int r;

	if (name && !name_valid(name))
		return -EINVAL;
	down_write(&md->lock);
	r = __check_writable(md);
	if (!r)
		r = __get_snap(md, snap_id, &rec);
	if (!r && name && !name_equal(rec.name, name)) {
		r = __get_disk(md, le64_to_cpu(rec.disk_id), &ds);
		if (!r)
			r = __snapshot_name_taken(md, ds, name, &taken);
		if (!r && taken)
			r = -EEXIST;
		if (!r) {
			memset(rec.name, 0, DMROW_NAME_LEN);
			strscpy(rec.name, name, DMROW_NAME_LEN);
		}
	}
	if (!r && retention_until)
		rec.retention_until = cpu_to_le64(*retention_until);
	if (!r)
		r = __put_snap(md, &rec);
	up_write(&md->lock);
	return r;
}

int dmrow_md_set_snapshot_name(struct dmrow_metadata *md, u64 snap_id, const char *name)
{
	return set_snapshot_field(md, snap_id, name, NULL);
}

int dmrow_md_set_snapshot_retention(struct dmrow_metadata *md, u64 snap_id,
				    u64 retention_until)
{
	return set_snapshot_field(md, snap_id, NULL, &retention_until);
}

/*----------------------------------------------------------------
 * Accounting
 *--------------------------------------------------------------*/

/* Count the blocks the newer image holds that the older does not. */
static int count_held(void *context, u64 key, const void *older, const void *newer)
{
	u64 *count = context;

	if (newer)
		(*count)++;
	return 0;
}

static int __snapshot_delta(struct dmrow_metadata *md, struct row_disk_snapshot *rec,
			    u64 *blocks)
{
	struct row_disk_snapshot prev;
	u64 prev_root = 0;
	int r;

	lockdep_assert_held(&md->lock);
	if (le64_to_cpu(rec->delta_blocks) != DMROW_DELTA_UNKNOWN) {
		*blocks = le64_to_cpu(rec->delta_blocks);
		return 0;
	}
	if (rec->prev) {
		r = __get_snap(md, le64_to_cpu(rec->prev), &prev);
		if (r)
			return r == -ENODATA ? -EILSEQ : r;
		prev_root = le64_to_cpu(prev.root);
	}
	*blocks = 0;
	r = dmrow_btree_diff(&md->mapping_info, prev_root, le64_to_cpu(rec->root),
			     count_held, blocks);
	if (r)
		return r;
	/* Keep it: it cannot change until the predecessor goes. */
	if (!md->read_only && !md->failed) {
		rec->delta_blocks = cpu_to_le64(*blocks);
		r = __put_snap(md, rec);
	}
	return r;
}

int dmrow_md_snapshot_delta(struct dmrow_metadata *md, u64 snap_id, u64 *blocks)
{
	struct row_disk_snapshot rec;
	int r;

	down_write(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = __get_snap(md, snap_id, &rec);
	if (!r)
		r = __snapshot_delta(md, &rec, blocks);
	up_write(&md->lock);
	return r;
}

struct exclusive_count {
	struct dmrow_metadata *md;
	u64 blocks;
};

static int count_exclusive(void *context, u64 key, const void *value)
{
	struct exclusive_count *ec = context;
	u64 block;
	u32 time, count;
	int r;

	dmrow_unpack_mapping(value, &block, &time);
	r = dmrow_sm_get_count(&ec->md->data_sm, block, &count);
	if (!r && count == 1)
		ec->blocks++;
	return r;
}

int dmrow_md_snapshot_exclusive(struct dmrow_metadata *md, u64 snap_id, u64 *blocks)
{
	struct exclusive_count ec = { .md = md };
	struct row_disk_snapshot rec;
	int r;

	down_read(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = __get_snap(md, snap_id, &rec);
	if (!r)
		r = dmrow_btree_walk_exclusive(&md->mapping_info, le64_to_cpu(rec.root),
					       count_exclusive, &ec);
	*blocks = ec.blocks;
	up_read(&md->lock);
	return r;
}

int dmrow_md_disk_delta(struct dmrow_metadata *md, u64 disk_id, u64 *blocks)
{
	struct row_disk_snapshot newest;
	struct disk_state *ds;
	u64 newest_root = 0;
	int r;

	down_write(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = __get_live_disk(md, disk_id, &ds);
	if (!r && ds->rec.last_snapshot) {
		r = __get_snap(md, le64_to_cpu(ds->rec.last_snapshot), &newest);
		newest_root = le64_to_cpu(newest.root);
	}
	*blocks = 0;
	if (!r)
		r = dmrow_btree_diff(&md->mapping_info, newest_root,
				     le64_to_cpu(ds->rec.root), count_held, blocks);
	up_write(&md->lock);
	return r;
}

int dmrow_md_chain_capacity(struct dmrow_metadata *md, u64 disk_id, u64 *blocks)
{
	struct row_disk_snapshot rec;
	struct disk_state *ds;
	struct dmrow_chain_walk walk;
	u64 id, delta;
	int r;

	*blocks = 0;
	down_write(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = __get_disk(md, disk_id, &ds);
	if (r)
		goto out;
	dmrow_chain_walk_init(&walk, dmrow_chain_max_len(&ds->rec));
	for (id = le64_to_cpu(ds->rec.first_snapshot); id && !r; id = le64_to_cpu(rec.next)) {
		if (!dmrow_chain_walk_step(&walk, id)) {
			r = -EILSEQ;
			break;
		}
		r = __get_snap(md, id, &rec);
		if (!r)
			r = __snapshot_delta(md, &rec, &delta);
		if (!r)
			*blocks += delta;
	}
out:
	up_write(&md->lock);
	return r;
}

static int count_entries(void *context, u64 key, const void *value)
{
	(*(u64 *)context)++;
	return 0;
}

int dmrow_md_mapped_blocks(struct dmrow_metadata *md, u64 disk_id, u64 snap_id,
			   u64 *blocks)
{
	struct disk_state *live;
	u64 root;
	int r;

	*blocks = 0;
	down_write(&md->lock);
	r = __check_readable(md);
	if (!r)
		r = __image_root(md, disk_id, snap_id, &root, &live);
	if (!r)
		r = dmrow_btree_walk(&md->mapping_info, root, count_entries, blocks);
	up_write(&md->lock);
	return r;
}

struct diff_context {
	int (*fn)(void *context, u64 vblock, u64 data_block);
	void *context;
};

static int diff_entry(void *context, u64 key, const void *older, const void *newer)
{
	struct diff_context *dc = context;
	u64 block = DMROW_UNMAPPED;
	u32 time;

	if (newer)
		dmrow_unpack_mapping(newer, &block, &time);
	return dc->fn(dc->context, key, block);
}

int dmrow_md_diff(struct dmrow_metadata *md, u64 disk_id, u64 from_snap, u64 to_snap,
		  u64 start, int (*fn)(void *context, u64 vblock, u64 data_block),
		  void *context)
{
	struct diff_context dc = { .fn = fn, .context = context };
	struct disk_state *live;
	u64 from_root = 0, to_root;
	int r;

	down_write(&md->lock);
	r = __check_readable(md);
	if (!r && from_snap)
		r = __image_root(md, disk_id, from_snap, &from_root, &live);
	if (!r)
		r = __image_root(md, disk_id, to_snap, &to_root, &live);
	if (!r)
		r = dmrow_btree_diff_from(&md->mapping_info, from_root, to_root, start,
					  diff_entry, &dc);
	up_write(&md->lock);
	return r;
}
