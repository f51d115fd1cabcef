// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write access to metadata blocks; see dm-row-transaction.h.
 */
#define DM_MSG_PREFIX "row-metadata"

#include <linux/device-mapper.h>
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/string.h>

#include <dm-row/ondisk.h>
#include "dm-row-transaction.h"
#include "dm-row-space-map.h"

int dmrow_tm_read_lock(struct dmrow_tm *tm, u64 b, const struct dmrow_validator *v,
		       struct dmrow_block **result)
{
	return dmrow_bm_read_lock(tm->bm, b, v, result);
}

int dmrow_tm_read_try_lock(struct dmrow_tm *tm, u64 b, const struct dmrow_validator *v,
			   struct dmrow_block **result)
{
	return dmrow_bm_read_try_lock(tm->bm, b, v, result);
}

#ifndef __KERNEL__
unsigned long dmrow_tm_fresh_mismatches;
#endif

/* A transaction manager whose owner set up no fresh set keeps none. */
void dmrow_tm_begin(struct dmrow_tm *tm)
{
	if (tm->fresh.slots)
		dmrow_delta_map_clear(&tm->fresh);
}

static bool is_fresh(struct dmrow_tm *tm, u64 b)
{
	return tm->fresh.slots && dmrow_delta_map_get(&tm->fresh, b) > 0;
}

/* A failed insertion only costs the next shadow of @b its lookups. */
static void set_fresh(struct dmrow_tm *tm, u64 b, bool fresh)
{
	s32 now;

	if (!tm->fresh.slots)
		return;
	now = dmrow_delta_map_get(&tm->fresh, b);

	if (fresh && now <= 0)
		dmrow_delta_map_add(&tm->fresh, b, 1 - now);
	else if (!fresh && now > 0)
		dmrow_delta_map_add(&tm->fresh, b, -now);
}

static void init_header(struct dmrow_tm *tm, struct dmrow_block *blk)
{
	struct row_disk_block_header *hdr = dmrow_block_data(blk);

	hdr->blocknr = cpu_to_le64(dmrow_block_location(blk));
	hdr->txn = cpu_to_le64(tm->txn);
}

int dmrow_tm_new_block(struct dmrow_tm *tm, const struct dmrow_validator *v,
		       struct dmrow_block **result)
{
	u64 b;
	int r;

	tm->changes++;
	r = dmrow_sm_alloc(tm->metadata_sm, &b);
	if (r)
		return r;
	if (b < DMROW_SUPERBLOCK_SLOTS) {
		/* Only a damaged space map counts a superblock slot free. */
		DMERR_LIMIT("metadata space map hands out superblock slot %llu",
			    (unsigned long long)b);
		dmrow_sm_dec(tm->metadata_sm, b);
		return -EILSEQ;
	}
	r = dmrow_bm_write_lock_zero(tm->bm, b, v, result);
	if (r) {
		dmrow_sm_dec(tm->metadata_sm, b);
		return r;
	}
	init_header(tm, *result);
	set_fresh(tm, b, true);
	return 0;
}

int dmrow_tm_shadow(struct dmrow_tm *tm, u64 orig, const struct dmrow_validator *v,
		    struct dmrow_block **result, bool *inc_children)
{
	struct dmrow_block *orig_blk, *copy;
	const struct row_disk_block_header *hdr;
	u32 count;
	int r;

	*inc_children = false;
	tm->changes++;
	if (is_fresh(tm, orig)) {
#ifndef __KERNEL__
		/*
		 * The userspace build counts where the slow path would have
		 * decided otherwise on sound metadata: the model test wants
		 * none.  (A damaged space map may say anything.)
		 */
		if (!dmrow_sm_get_count(tm->metadata_sm, orig, &count) && count != 1)
			dmrow_tm_fresh_mismatches++;
#endif
		return dmrow_bm_write_lock(tm->bm, orig, v, result);
	}
	r = dmrow_sm_get_count(tm->metadata_sm, orig, &count);
	if (r)
		return r;
	if (!count) {
		DMERR_LIMIT("metadata block %llu is referenced but has no reference count",
			    (unsigned long long)orig);
		return -EILSEQ;
	}

	r = dmrow_bm_read_lock(tm->bm, orig, v, &orig_blk);
	if (r)
		return r;
	hdr = dmrow_block_data(orig_blk);
	if (count == 1 && le64_to_cpu(hdr->txn) == tm->txn) {
		/* Written in this transaction and ours alone: change in place. */
		dmrow_bm_unlock(orig_blk);
		return dmrow_bm_write_lock(tm->bm, orig, v, result);
	}

	r = dmrow_tm_new_block(tm, v, &copy);
	if (r) {
		dmrow_bm_unlock(orig_blk);
		return r;
	}
	memcpy(dmrow_block_data(copy), dmrow_block_data(orig_blk),
	       DMROW_METADATA_BLOCK_SIZE);
	init_header(tm, copy);
	dmrow_bm_unlock(orig_blk);

	/*
	 * The copy takes over @orig's reference.  If @orig is shared it lives
	 * on for its other owners and the copy becomes one more parent of its
	 * children; otherwise @orig is free once this transaction commits.
	 */
	r = dmrow_sm_dec(tm->metadata_sm, orig);
	if (r) {
		dmrow_bm_unlock(copy);
		return r;
	}
	*inc_children = count > 1;
	*result = copy;
	set_fresh(tm, dmrow_block_location(copy), true);
	return 0;
}

void dmrow_tm_unlock(struct dmrow_tm *tm, struct dmrow_block *blk)
{
	dmrow_bm_unlock(blk);
}

int dmrow_tm_inc(struct dmrow_tm *tm, u64 b)
{
	set_fresh(tm, b, false);
	tm->changes++;
	return dmrow_sm_inc(tm->metadata_sm, b);
}

int dmrow_tm_dec(struct dmrow_tm *tm, u64 b)
{
	tm->changes++;
	return dmrow_sm_dec(tm->metadata_sm, b);
}

int dmrow_tm_ref_count(struct dmrow_tm *tm, u64 b, u32 *count)
{
	return dmrow_sm_get_count(tm->metadata_sm, b, count);
}
