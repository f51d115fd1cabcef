// SPDX-License-Identifier: GPL-2.0
/*
 * Consistency check of pool metadata, for `snapctl check` and the tests.
 *
 * Every tree reachable from the superblock is walked once (a node shared
 * by several trees is descended the first time only) while two maps
 * collect what the reference counts ought to be: for each metadata block,
 * the number of parents pointing at it, and for each data block, the
 * number of mapping leaves holding it.  Both space maps are then compared
 * with those counts, block by block, in both directions.  Along the way
 * every checksum, key order, record field and chain link is checked.
 *
 * Memory grows with the metadata in use (two counts per referenced block):
 * this is an offline tool's trade, not the I/O path's.
 *
 * Repair.  Of everything the check can find, only wrong reference counts
 * have one right answer that the metadata itself gives: the references
 * the walk counted.  A leaked block (counted but unreferenced: what a
 * crash between two updates of one count would leave) or a count that is
 * too high or too low is set to what was found, and the "blocks in use"
 * totals follow.  One kind of wrong count is not repaired: a metadata
 * block that is referenced but counted free may already have been handed
 * out again and overwritten, so the tree holding it cannot be trusted.
 * Neither are damaged blocks, broken trees or chain links: there, what the
 * right content was is lost, and a repair would be a guess.  So a repair
 * either fixes every problem found, or changes nothing.
 *
 * The fixes go through the space maps' own count updates, in one
 * transaction with the needs_check flag cleared, and the pool is checked
 * again after the commit.  Decrementing a leaked block frees it only for
 * the next transaction (the space maps never reuse what the committed
 * state holds), so a crash during a repair leaves the pool as it was.
 */
#define DM_MSG_PREFIX "row-metadata"

#include <linux/device-mapper.h>
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <linux/dm-row.h>

#include "dm-row-check.h"
#include "dm-row-metadata-internal.h"

struct checker {
	struct dmrow_metadata *md;
	struct dmrow_check_result *result;
	void (*problem)(void *context, const char *message);
	void *context;
	struct dmrow_delta_map meta_refs;
	struct dmrow_delta_map data_refs;
	u64 current_disk;		/* whose chain a walk is in */

	/*
	 * Repairs only: per space map, the change each wrong count needs,
	 * and the correction of its blocks-in-use total.
	 */
	bool repair;
	struct dmrow_delta_map meta_fixes;
	struct dmrow_delta_map data_fixes;
	s64 meta_allocated_fix;
	s64 data_allocated_fix;
};

#define report(c, fmt, ...) do {						\
	char msg__[160];							\
	snprintf(msg__, sizeof(msg__), fmt, ##__VA_ARGS__);			\
	(c)->result->nr_problems++;						\
	if ((c)->problem)							\
		(c)->problem((c)->context, msg__);				\
} while (0)

/* A problem that a repair can fix: it is also counted as repairable. */
#define report_repairable(c, fmt, ...) do {					\
	(c)->result->nr_repairable++;						\
	report(c, fmt, ##__VA_ARGS__);						\
} while (0)

static int add_meta_ref(struct checker *c, u64 b, s32 *before)
{
	if (b >= c->md->metadata_sm.nr_blocks) {
		report(c, "metadata block %llu is beyond the metadata device (%llu blocks)",
		       (unsigned long long)b, (unsigned long long)c->md->metadata_sm.nr_blocks);
		return -EILSEQ;
	}
	*before = dmrow_delta_map_get(&c->meta_refs, b);
	return dmrow_delta_map_add(&c->meta_refs, b, 1);
}

/* Nodes of unshared trees (indexes, records): one parent each. */
static int visit_unique_node(void *context, u64 b)
{
	struct checker *c = context;
	s32 before;
	int r = add_meta_ref(c, b, &before);

	if (r)
		return r;
	if (before) {
		report(c, "metadata block %llu is used twice by trees that never share",
		       (unsigned long long)b);
		return 1;
	}
	return 0;
}

/* Mapping-tree nodes may be shared: descend the first time only. */
static int visit_shared_node(void *context, u64 b)
{
	struct checker *c = context;
	s32 before;
	int r = add_meta_ref(c, b, &before);

	if (r)
		return r;
	c->result->nr_mapping_nodes += !before;
	return before ? 1 : 0;
}

static int visit_mapping(void *context, u64 vblock, const void *value)
{
	struct checker *c = context;
	u64 block;
	u32 time;

	dmrow_unpack_mapping(value, &block, &time);
	c->result->nr_mappings++;
	if (block >= c->md->data_sm.nr_blocks) {
		report(c, "disk %llu block %llu maps to data block %llu beyond the data device",
		       (unsigned long long)c->current_disk, (unsigned long long)vblock,
		       (unsigned long long)block);
		return 0;
	}
	if (time > le32_to_cpu(c->md->sb.time))
		report(c, "disk %llu block %llu was written in the future (time %u > %u)",
		       (unsigned long long)c->current_disk, (unsigned long long)vblock, time,
		       le32_to_cpu(c->md->sb.time));
	return dmrow_delta_map_add(&c->data_refs, block, 1);
}

static int check_mapping_tree(struct checker *c, u64 disk, u64 root)
{
	struct dmrow_btree_stats stats;
	int r;

	if (!root)
		return 0;
	c->current_disk = disk;
	r = dmrow_btree_check_visit(&c->md->mapping_info, root, visit_shared_node,
				    visit_mapping, c, &stats);
	if (r == -EILSEQ) {
		report(c, "mapping tree of disk %llu (root %llu) is damaged",
		       (unsigned long long)disk, (unsigned long long)root);
		return 0;
	}
	return r;
}

/*----------------------------------------------------------------*/

struct sm_walk {
	struct checker *c;
	struct dmrow_sm *sm;
	const char *name;
};

static int visit_index_node(void *context, u64 b)
{
	struct sm_walk *w = context;

	return visit_unique_node(w->c, b);
}

static int visit_index_entry(void *context, u64 index, const void *value)
{
	const struct row_disk_sm_index_entry *entry = value;
	struct sm_walk *w = context;
	struct checker *c = w->c;
	const struct row_disk_refcount_block *rb;
	struct dmrow_block *blk;
	u32 zeroes = 0, i;
	s32 before;
	int r;

	if (index * DMROW_REFCOUNTS_PER_BLOCK >= w->sm->nr_blocks) {
		report(c, "%s space map: refcount block %llu covers no block of the device",
		       w->name, (unsigned long long)index);
		return 0;
	}
	r = add_meta_ref(c, le64_to_cpu(entry->blocknr), &before);
	if (r)
		return r == -EILSEQ ? 0 : r;
	if (before)
		report(c, "%s space map: refcount block %llu is used twice", w->name,
		       (unsigned long long)le64_to_cpu(entry->blocknr));
	r = dmrow_tm_read_lock(&c->md->tm, le64_to_cpu(entry->blocknr),
			       &dmrow_refcount_validator, &blk);
	if (r == -EILSEQ) {
		report(c, "%s space map: refcount block %llu is damaged", w->name,
		       (unsigned long long)le64_to_cpu(entry->blocknr));
		return 0;
	}
	if (r)
		return r;
	rb = dmrow_block_data(blk);
	for (i = 0; i < DMROW_REFCOUNTS_PER_BLOCK; i++)
		zeroes += !rb->counts[i];
	dmrow_tm_unlock(&c->md->tm, blk);
	if (zeroes != le32_to_cpu(entry->nr_free))
		report(c, "%s space map: refcount block %llu says %u free, holds %u",
		       w->name, (unsigned long long)index, le32_to_cpu(entry->nr_free), zeroes);
	return 0;
}

static int check_space_map_index(struct checker *c, struct dmrow_sm *sm, const char *name)
{
	struct sm_walk w = { .c = c, .sm = sm, .name = name };
	struct dmrow_btree_stats stats;
	int r;

	if (!sm->index_root)
		return 0;
	r = dmrow_btree_check_visit(&sm->index_info, sm->index_root, visit_index_node,
				    visit_index_entry, &w, &stats);
	if (r == -EILSEQ) {
		report(c, "%s space map index is damaged", name);
		return 0;
	}
	return r;
}

/* Compare the space map with the references found; empties @refs. */
struct compare_state {
	struct checker *c;
	struct dmrow_delta_map *refs;
	struct dmrow_delta_map *fixes;	/* repairs only */
	bool is_metadata;
	const char *name;
	u64 nonzero;
};

static int compare_count(void *context, u64 b, u32 count)
{
	struct compare_state *cs = context;
	s32 expect = dmrow_delta_map_get(cs->refs, b);
	int r;

	cs->nonzero++;
	if ((u32)expect != count) {
		report_repairable(cs->c, "%s block %llu: reference count %u, but %d references found",
				  cs->name, (unsigned long long)b, count, expect);
		if (cs->fixes) {
			r = dmrow_delta_map_add(cs->fixes, b, expect - (s32)count);
			if (r)
				return r;
		}
	}
	return dmrow_delta_map_add(cs->refs, b, -expect);
}

static int compare_space_map(struct checker *c, struct dmrow_sm *sm,
			     struct dmrow_delta_map *refs, const char *name)
{
	bool is_metadata = sm == &c->md->metadata_sm;
	struct compare_state cs = {
		.c = c, .refs = refs, .name = name, .is_metadata = is_metadata,
		.fixes = !c->repair ? NULL : is_metadata ? &c->meta_fixes : &c->data_fixes,
	};
	unsigned int i;
	s32 delta;
	int r;

	r = dmrow_sm_walk(sm, compare_count, &cs);
	if (r == -EILSEQ) {
		report(c, "%s space map cannot be read", name);
		return 0;
	}
	if (r)
		return r;
	for (i = 0; i < refs->nr_slots; i++) {
		if (refs->slots[i].block == DMROW_DELTA_EMPTY || !refs->slots[i].delta)
			continue;
		delta = refs->slots[i].delta;
		/* A metadata block counted free may have been reused: see the top. */
		if (is_metadata) {
			report(c, "%s block %llu is referenced %d times but counted free", name,
			       (unsigned long long)refs->slots[i].block, delta);
			continue;
		}
		report_repairable(c, "%s block %llu is referenced %d times but counted free",
				  name, (unsigned long long)refs->slots[i].block, delta);
		if (cs.fixes) {
			r = dmrow_delta_map_add(cs.fixes, refs->slots[i].block, delta);
			if (r)
				return r;
		}
	}
	if (cs.nonzero != sm->nr_allocated) {
		report_repairable(c, "%s space map: %llu blocks in use, superblock says %llu", name,
				  (unsigned long long)cs.nonzero,
				  (unsigned long long)sm->nr_allocated);
		if (is_metadata)
			c->meta_allocated_fix = (s64)cs.nonzero - (s64)sm->nr_allocated;
		else
			c->data_allocated_fix = (s64)cs.nonzero - (s64)sm->nr_allocated;
	}
	return 0;
}

/*----------------------------------------------------------------*/

static int check_chain(struct checker *c, const struct row_disk_disk *disk)
{
	struct row_disk_snapshot rec;
	struct dmrow_chain_walk walk;
	u64 id, prev = 0, nr = 0, nr_auto = 0;
	int r;

	dmrow_chain_walk_init(&walk, dmrow_chain_max_len(disk));
	for (id = le64_to_cpu(disk->first_snapshot); id; id = le64_to_cpu(rec.next)) {
		/* A loop, or more snapshots than counted. */
		if (!dmrow_chain_walk_step(&walk, id)) {
			report(c, "disk %llu: snapshot chain loops or is longer than the %llu snapshots counted",
			       (unsigned long long)le64_to_cpu(disk->id),
			       (unsigned long long)dmrow_chain_max_len(disk));
			return 0;
		}
		nr++;
		r = dmrow_btree_lookup(&c->md->snapshot_info,
				       le64_to_cpu(c->md->sb.snapshot_tree_root), id, &rec);
		if (r == -ENODATA || r == -EILSEQ) {
			report(c, "disk %llu: chain names snapshot %llu, which cannot be found",
			       (unsigned long long)le64_to_cpu(disk->id), (unsigned long long)id);
			return 0;
		}
		if (r)
			return r;
		if (le64_to_cpu(rec.disk_id) != le64_to_cpu(disk->id))
			report(c, "snapshot %llu is in disk %llu's chain but belongs to disk %llu",
			       (unsigned long long)id, (unsigned long long)le64_to_cpu(disk->id),
			       (unsigned long long)le64_to_cpu(rec.disk_id));
		if (le64_to_cpu(rec.prev) != prev)
			report(c, "snapshot %llu: previous link %llu, chain says %llu",
			       (unsigned long long)id, (unsigned long long)le64_to_cpu(rec.prev),
			       (unsigned long long)prev);
		nr_auto += !!(le32_to_cpu(rec.flags) & DMROW_SNAP_AUTO);
		prev = id;
	}
	if (prev != le64_to_cpu(disk->last_snapshot))
		report(c, "disk %llu: last snapshot %llu, chain ends at %llu",
		       (unsigned long long)le64_to_cpu(disk->id),
		       (unsigned long long)le64_to_cpu(disk->last_snapshot),
		       (unsigned long long)prev);
	if (nr_auto != le32_to_cpu(disk->nr_auto) ||
	    nr - nr_auto != le32_to_cpu(disk->nr_manual))
		report(c, "disk %llu: counts %u manual and %u automatic snapshots, chain holds %llu and %llu",
		       (unsigned long long)le64_to_cpu(disk->id), le32_to_cpu(disk->nr_manual),
		       le32_to_cpu(disk->nr_auto), (unsigned long long)(nr - nr_auto),
		       (unsigned long long)nr_auto);
	if ((le32_to_cpu(disk->flags) & DMROW_DISK_REMOVED) && !nr)
		report(c, "disk %llu: removed, with no snapshot left, but still recorded",
		       (unsigned long long)le64_to_cpu(disk->id));
	return 0;
}

/* An external origin's fields agree with the flag, the size and each other. */
static void check_origin(struct checker *c, u64 id, const struct row_disk_disk *disk)
{
	u64 origin = le64_to_cpu(disk->origin_blocks);
	u64 hydrated = le64_to_cpu(disk->hydrated_blocks);

	if (!(le32_to_cpu(disk->flags) & DMROW_DISK_EXTERNAL_ORIGIN)) {
		if (origin || hydrated)
			report(c, "disk %llu: no external origin, but origin fields set",
			       (unsigned long long)id);
		return;
	}
	if (!(le64_to_cpu(c->md->sb.incompat_flags) & DMROW_FEATURE_INCOMPAT_ORIGINS))
		report(c, "disk %llu has an external origin the superblock does not announce",
		       (unsigned long long)id);
	if (!origin || origin > le64_to_cpu(disk->size_blocks) || hydrated > origin)
		report(c, "disk %llu: external origin of %llu blocks, %llu hydrated, disk of %llu",
		       (unsigned long long)id, (unsigned long long)origin,
		       (unsigned long long)hydrated,
		       (unsigned long long)le64_to_cpu(disk->size_blocks));
}

static int visit_disk(void *context, u64 id, const void *value)
{
	const struct row_disk_disk *disk = value;
	struct checker *c = context;
	int r;

	c->result->nr_disks++;
	if (le64_to_cpu(disk->id) != id)
		report(c, "disk record %llu names disk %llu", (unsigned long long)id,
		       (unsigned long long)le64_to_cpu(disk->id));
	if (le32_to_cpu(disk->snapshotted_time) > le32_to_cpu(c->md->sb.time))
		report(c, "disk %llu: snapshotted in the future", (unsigned long long)id);
	if ((le32_to_cpu(disk->flags) & DMROW_DISK_REMOVED) && disk->root)
		report(c, "disk %llu: removed but still has a live head", (unsigned long long)id);
	check_origin(c, id, disk);
	r = check_chain(c, disk);
	if (r)
		return r;
	return check_mapping_tree(c, id, le64_to_cpu(disk->root));
}

static int visit_snapshot(void *context, u64 id, const void *value)
{
	const struct row_disk_snapshot *snap = value;
	struct checker *c = context;
	struct row_disk_disk disk;
	int r;

	c->result->nr_snapshots++;
	if (le64_to_cpu(snap->id) != id)
		report(c, "snapshot record %llu names snapshot %llu", (unsigned long long)id,
		       (unsigned long long)le64_to_cpu(snap->id));
	if (id >= le64_to_cpu(c->md->sb.next_snapshot_id))
		report(c, "snapshot %llu: id not yet given out", (unsigned long long)id);
	r = dmrow_btree_lookup(&c->md->disk_info, le64_to_cpu(c->md->sb.disk_tree_root),
			       le64_to_cpu(snap->disk_id), &disk);
	if (r == -ENODATA || r == -EILSEQ)
		report(c, "snapshot %llu belongs to disk %llu, which does not exist",
		       (unsigned long long)id, (unsigned long long)le64_to_cpu(snap->disk_id));
	else if (r)
		return r;
	return check_mapping_tree(c, le64_to_cpu(snap->disk_id), le64_to_cpu(snap->root));
}

static int check_record_tree(struct checker *c, struct dmrow_btree_info *info, u64 root,
			     int (*visit)(void *context, u64 key, const void *value),
			     const char *name)
{
	struct dmrow_btree_stats stats;
	int r;

	if (!root)
		return 0;
	r = dmrow_btree_check_visit(info, root, visit_unique_node, visit, c, &stats);
	if (r == -EILSEQ) {
		report(c, "%s tree is damaged", name);
		return 0;
	}
	return r;
}

/* Walk and compare everything; the metadata lock is held for writing. */
static int __run_check(struct checker *c)
{
	struct dmrow_metadata *md = c->md;
	unsigned int slot;
	s32 before;
	int r;

	if (md->dirty)
		return -EBUSY;
	r = dmrow_delta_map_init(&c->meta_refs);
	if (r)
		return r;
	r = dmrow_delta_map_init(&c->data_refs);
	if (r)
		goto out_meta;

	if (le32_to_cpu(md->sb.hdr.flags) & DMROW_SB_NEEDS_CHECK)
		c->result->needs_check_flag = true;
	for (slot = 0; slot < DMROW_SUPERBLOCK_SLOTS && !r; slot++)
		r = add_meta_ref(c, slot, &before);
	if (!r)
		r = check_space_map_index(c, &md->metadata_sm, "metadata");
	if (!r)
		r = check_space_map_index(c, &md->data_sm, "data");
	if (!r)
		r = check_record_tree(c, &md->disk_info, le64_to_cpu(md->sb.disk_tree_root),
				      visit_disk, "disk");
	if (!r)
		r = check_record_tree(c, &md->snapshot_info,
				      le64_to_cpu(md->sb.snapshot_tree_root),
				      visit_snapshot, "snapshot");
	if (!r)
		r = compare_space_map(c, &md->metadata_sm, &c->meta_refs, "metadata");
	if (!r)
		r = compare_space_map(c, &md->data_sm, &c->data_refs, "data");

	c->result->metadata_used = md->metadata_sm.nr_allocated;
	c->result->data_used = md->data_sm.nr_allocated;
	dmrow_delta_map_exit(&c->data_refs);
out_meta:
	dmrow_delta_map_exit(&c->meta_refs);
	return r;
}

int dmrow_md_check(struct dmrow_metadata *md, struct dmrow_check_result *result,
		   void (*problem)(void *context, const char *message), void *context)
{
	struct checker c = {
		.md = md, .result = result, .problem = problem, .context = context,
	};
	int r;

	memset(result, 0, sizeof(*result));
	down_write(&md->lock);
	r = __run_check(&c);
	up_write(&md->lock);
	return r;
}

/* Move every count of @sm by what @fixes holds for it. */
static int __apply_fixes(struct dmrow_sm *sm, struct dmrow_delta_map *fixes)
{
	unsigned int i;
	s32 delta;
	int r;

	for (i = 0; i < fixes->nr_slots; i++) {
		if (fixes->slots[i].block == DMROW_DELTA_EMPTY)
			continue;
		for (delta = fixes->slots[i].delta; delta; delta += delta < 0 ? 1 : -1) {
			r = delta > 0 ? dmrow_sm_inc(sm, fixes->slots[i].block) :
					dmrow_sm_dec(sm, fixes->slots[i].block);
			if (r)
				return r;
		}
	}
	return 0;
}

int dmrow_md_repair(struct dmrow_metadata *md, struct dmrow_check_result *found,
		    struct dmrow_check_result *after,
		    void (*problem)(void *context, const char *message), void *context)
{
	struct checker c = {
		.md = md, .result = found, .problem = problem, .context = context,
		.repair = true,
	};
	bool changed = false;
	int r;

	memset(found, 0, sizeof(*found));
	memset(after, 0, sizeof(*after));
	down_write(&md->lock);
	r = md->failed ? -EIO : md->read_only ? -EROFS : 0;
	if (r)
		goto out_unlock;
	r = dmrow_delta_map_init(&c.meta_fixes);
	if (r)
		goto out_unlock;
	r = dmrow_delta_map_init(&c.data_fixes);
	if (r)
		goto out_meta_fixes;

	r = __run_check(&c);
	if (r)
		goto out_data_fixes;
	if (found->nr_problems != found->nr_repairable) {
		r = -EUCLEAN;
		goto out_data_fixes;
	}
	if (!found->nr_problems && !found->needs_check_flag)
		goto out_data_fixes;	/* clean: nothing to write */

	md->metadata_sm.nr_allocated += c.meta_allocated_fix;
	md->data_sm.nr_allocated += c.data_allocated_fix;
	md->dirty = changed = true;	/* a failure from here leaves a transaction to abort */
	r = __apply_fixes(&md->data_sm, &c.data_fixes);
	if (!r)
		r = __apply_fixes(&md->metadata_sm, &c.meta_fixes);
	if (!r)
		md->sb.hdr.flags = cpu_to_le32(le32_to_cpu(md->sb.hdr.flags) &
					       ~DMROW_SB_NEEDS_CHECK);
out_data_fixes:
	dmrow_delta_map_exit(&c.data_fixes);
out_meta_fixes:
	dmrow_delta_map_exit(&c.meta_fixes);
out_unlock:
	up_write(&md->lock);
	if (!r && changed)
		r = dmrow_md_commit(md);
	if (r)
		return r;
	return dmrow_md_check(md, after, NULL, NULL);
}
