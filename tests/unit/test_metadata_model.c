// SPDX-License-Identifier: GPL-2.0
/*
 * Randomized model-based test of the metadata core.
 *
 * A trivially correct model (arrays: every image, live or snapshot, maps
 * each virtual block to a data block and the token last written there)
 * runs beside the real metadata on a file-backed pool.  Random operations
 * (writes, discards, snapshots of one or several disks, deletes, merges,
 * rollbacks, clones, disk removal, commits, close and reopen, and crashes
 * that drop a random subset of the metadata writes since the last flush)
 * are applied to both, and both are compared: every block of every image,
 * the content tokens on the simulated data device, every snapshot's delta
 * and exclusive count, and the pool's data space figure.
 *
 * Every disk has a mapping cache attached (dm-row-map-cache.c), as a loaded
 * table would: lookups fill it, and after every operation a stretch of one
 * disk's cache is checked against the tree: a cached answer may be missing,
 * never different (a change the cache was not told of shows up here).  Half
 * the runs give the caches a budget of a few segments, so that windows take
 * each other's slots.
 *
 *   DMROW_MODEL_SEED=<n>   replay one run (the seed is printed on failure)
 *   DMROW_MODEL_OPS=<n>    number of operations (default 100000)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>
#include <unistd.h>

#include "dm-row-metadata.h"
#include "dm-row-map-cache.h"
#include "dm-row-transaction.h"
#include "dm-row-check.h"
#include "../../userspace/compat/public/block-cache.h"

#define TEST_NAME	"model"
#define TEST_WHERE_FMT	"op=%llu (%s)"
#define TEST_WHERE_ARGS	(unsigned long long)op_index, op_name
#include "test_helpers.h"

#define NV		1024	/* virtual blocks per disk: several leaves */
#define MAX_IMAGES	48
#define MAX_DISKS	6
#define DATA_BLOCKS	2500
#define METADATA_BLOCKS	8192
#define CACHE_BLOCKS	48
#define MANUAL_QUOTA	6
#define AUTO_QUOTA	3
#define NONE		(~0ULL)
#define ORIGIN_NV	(NV / 8)	/* the external origin of some disks */
/* What an origin block holds, as a token: never a write's. */
#define ORIGIN_TOKEN(v)	((1ULL << 62) | (v))

struct image {
	bool used;
	bool live;
	bool removed;		/* live image of a removed disk: no content */
	u64 disk;
	u64 snap;		/* 0 for the live image */
	bool is_auto;
	u64 origin;		/* live image: the disk's external origin, blocks (0: none) */
	u64 block[NV];
	u64 token[NV];
};

struct model {
	struct image img[MAX_IMAGES];
	u64 next_disk_id;
};

static struct model model, committed;
static u64 data_tokens[DATA_BLOCKS];
static u64 token_seq;
static u64 op_index;
static const char *op_name = "setup";
static u64 nr_eagain, nr_enospc, nr_crashes;
static u64 nr_fast_answered, nr_fast_passed;
/* dmrow_md_try_find_run(): runs answered, and those that ended where the image does. */
static u64 nr_runs, nr_run_ends;
static u64 nr_reserve_refusals;	/* changes refused to keep the metadata reserve */
static u64 nr_hydrated, nr_hydrated_images, nr_marks;	/* origin blocks, their images, marks moved */
static u64 nr_reverts;	/* failed writes undone */	/* dmrow_md_try_find_block() */

static struct dmrow_bm *bm;
static struct dmrow_metadata *md;
static int meta_fd;

/* One cache per disk id (ids lost to an abort are given again). */
#define MAX_DISK_IDS	4096
static struct dmrow_map_cache *caches[MAX_DISK_IDS];
static u64 cache_budget;
static u64 nr_cache_hits, nr_cache_misses, nr_cache_blocks;

/*----------------------------------------------------------------*/

static struct image *find_live(u64 disk)
{
	for (int i = 0; i < MAX_IMAGES; i++)
		if (model.img[i].used && model.img[i].live && model.img[i].disk == disk)
			return &model.img[i];
	return NULL;
}

static struct image *free_image(void)
{
	for (int i = 0; i < MAX_IMAGES; i++)
		if (!model.img[i].used)
			return &model.img[i];
	return NULL;
}

static int nr_images(void)
{
	int n = 0;

	for (int i = 0; i < MAX_IMAGES; i++)
		n += model.img[i].used;
	return n;
}

/* A random image with the given liveness; NULL if none. */
static struct image *random_image(bool live)
{
	struct image *pick[MAX_IMAGES];
	int n = 0;

	for (int i = 0; i < MAX_IMAGES; i++)
		if (model.img[i].used && model.img[i].live == live && !model.img[i].removed)
			pick[n++] = &model.img[i];
	/* cppcheck-suppress uninitvar ; pick[0..n-1] were set above */
	return n ? pick[rnd_below(n)] : NULL;
}

/* The disk's snapshots in chain order. */
static int chain_of(u64 disk, struct image **chain)
{
	int n = 0;

	for (int i = 0; i < MAX_IMAGES; i++)
		if (model.img[i].used && !model.img[i].live && model.img[i].disk == disk)
			chain[n++] = &model.img[i];
	/* Snapshot ids grow with time: sort by id. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && chain[j - 1]->snap > chain[j]->snap; j--) {
			struct image *t = chain[j];

			chain[j] = chain[j - 1];
			chain[j - 1] = t;
		}
	return n;
}

static void copy_content(struct image *dst, const struct image *src)
{
	memcpy(dst->block, src->block, sizeof(dst->block));
	memcpy(dst->token, src->token, sizeof(dst->token));
}

static void drop_disk_if_gone(u64 disk)
{
	struct image *chain[MAX_IMAGES];
	struct image *live = find_live(disk);

	if (live && live->removed && !chain_of(disk, chain))
		live->used = false;
}

/*----------------------------------------------------------------
 * Open, commit, crash
 *--------------------------------------------------------------*/

static void open_pool(bool format)
{
	bm = dmrow_bm_open_fd(meta_fd, METADATA_BLOCKS, CACHE_BLOCKS, false);
	check(bm, "cannot create block cache");
	dmrow_bm_arm_crash_log(bm);
	if (format) {
		u8 uuid[16] = { 1, 2, 3 };

		check_ok(dmrow_md_format(bm, 8, DATA_BLOCKS, uuid, &md));
		check_ok(dmrow_md_set_quota(md, MANUAL_QUOTA, AUTO_QUOTA));
		check_ok(dmrow_md_commit(md));
	} else {
		check_ok(dmrow_md_open(bm, false, &md));
	}
}

static void detach_caches(void)
{
	for (u64 id = 0; id < MAX_DISK_IDS; id++) {
		if (caches[id]) {
			dmrow_md_detach_cache(md, caches[id]);
			dmrow_map_cache_destroy(caches[id]);
			caches[id] = NULL;
		}
	}
}

/* Disk @id gets a cache, as a table loaded for it would. */
static void attach_cache(u64 id)
{
	check(id < MAX_DISK_IDS, "cache for disk %llu", (unsigned long long)id);
	if (caches[id]) {
		/* An id given again after an abort or a crash lost its disk. */
		dmrow_md_detach_cache(md, caches[id]);
		dmrow_map_cache_destroy(caches[id]);
	}
	caches[id] = dmrow_map_cache_create(id, NV, cache_budget);
	check(caches[id], "cannot create a mapping cache");
	check(dmrow_map_cache_budget(caches[id]) <= cache_budget ||
	      dmrow_map_cache_budget(caches[id]) <= 4096,
	      "cache budget %llu over %llu", (unsigned long long)dmrow_map_cache_budget(caches[id]),
	      (unsigned long long)cache_budget);
	dmrow_md_attach_cache(md, caches[id]);
}

static void attach_caches(void)
{
	for (int i = 0; i < MAX_IMAGES; i++)
		if (model.img[i].used && model.img[i].live)
			attach_cache(model.img[i].disk);
}

static void close_pool(void)
{
	detach_caches();
	dmrow_md_close(md);
	dmrow_bm_destroy(bm);
	md = NULL;
	bm = NULL;
}

static void commit(void)
{
	check_ok(dmrow_md_commit(md));
	committed = model;
}

static bool keep_write_randomly(void *arg)
{
	return rnd() & 1;
}

/* After losing the open transaction the model is the committed one. */
static void restore_committed_model(void)
{
	model = committed;
	/*
	 * Data writes are not transactional: a live block overwritten in place
	 * after the commit shows the newer token.  Snapshots are never written.
	 */
	for (int i = 0; i < MAX_IMAGES; i++) {
		struct image *img = &model.img[i];

		if (!img->used || !img->live || img->removed)
			continue;
		for (int v = 0; v < NV; v++)
			if (img->block[v] != NONE)
				img->token[v] = data_tokens[img->block[v]];
	}
}

static void crash(void)
{
	nr_crashes++;
	detach_caches();
	dmrow_md_close(md);
	dmrow_bm_crash(bm, keep_write_randomly, NULL);
	dmrow_bm_destroy(bm);
	open_pool(false);
	restore_committed_model();
	attach_caches();
}

static void abort_transaction(void)
{
	check_ok(dmrow_md_abort(md));
	restore_committed_model();
}

/*----------------------------------------------------------------
 * Verification
 *--------------------------------------------------------------*/

/* How many images map each data block: recomputed by verify_all(). */
static u32 image_refs[DATA_BLOCKS];

static void count_image_refs(void)
{
	memset(image_refs, 0, sizeof(image_refs));
	for (int i = 0; i < MAX_IMAGES; i++) {
		const struct image *img = &model.img[i];

		if (!img->used || img->removed)
			continue;
		for (int v = 0; v < NV; v++)
			if (img->block[v] != NONE)
				image_refs[img->block[v]]++;
	}
}

/*
 * The fast path's run lookup from block @v to the image's end: when it
 * answers, every block of the run must be as find_block says, unmapped like
 * the first, or mapped to the data block after the previous one and not
 * shared if the first is not; and the block after the run must not be.
 */
static void verify_run(const struct image *img, int v)
{
	struct dmrow_mapping first, m;
	unsigned int run = NV - v, i;
	int fr, r;

	fr = dmrow_md_try_find_run(md, img->disk, img->snap, v, &run, &first);
	if (fr == -EWOULDBLOCK)
		return;
	check(fr == 0 || fr == -ENODATA || run == 0, "disk %llu snap %llu block %d: run of %u on %d",
	      (unsigned long long)img->disk, (unsigned long long)img->snap, v, run, fr);
	if (fr && fr != -ENODATA)
		return;
	check(run >= 1 && run <= (unsigned int)(NV - v), "disk %llu snap %llu block %d: run of %u",
	      (unsigned long long)img->disk, (unsigned long long)img->snap, v, run);
	for (i = 0; i < run; i++) {
		r = dmrow_md_find_block(md, img->disk, img->snap, v + i, &m);
		if (fr == -ENODATA) {
			check(r == -ENODATA, "disk %llu snap %llu block %u: in an unmapped run, find %d",
			      (unsigned long long)img->disk, (unsigned long long)img->snap, v + i, r);
			continue;
		}
		check(r == 0 && m.data_block == first.data_block + i &&
		      (first.shared || !m.shared),
		      "disk %llu snap %llu block %u: in a run from %llu, find %d maps to %llu (shared %d)",
		      (unsigned long long)img->disk, (unsigned long long)img->snap, v + i,
		      (unsigned long long)first.data_block, r, (unsigned long long)m.data_block,
		      m.shared);
	}
	if (v + run >= NV)
		return;
	r = dmrow_md_find_block(md, img->disk, img->snap, v + run, &m);
	if (fr == -ENODATA)
		nr_run_ends += r != -ENODATA;
	else
		nr_run_ends += r != 0 || m.data_block != first.data_block + run ||
			       (!first.shared && m.shared);
	nr_runs++;
}

static void verify_image(struct image *img)
{
	struct dmrow_mapping m;

	for (int v = 0; v < NV; v++) {
		int r = dmrow_md_find_block(md, img->disk, img->snap, v, &m);
		struct dmrow_mapping fast;
		int fr = dmrow_md_try_find_block(md, img->disk, img->snap, v, &fast);

		/* The fast path's lookup may pass, never disagree. */
		check(fr == -EWOULDBLOCK || fr == r, "disk %llu snap %llu block %d: try_find %d, find %d",
		      (unsigned long long)img->disk, (unsigned long long)img->snap, v, fr, r);
		if (!fr && !r)
			check(fast.data_block == m.data_block && fast.shared == m.shared,
			      "disk %llu snap %llu block %d: try_find maps to %llu (shared %d), find to %llu (shared %d)",
			      (unsigned long long)img->disk, (unsigned long long)img->snap, v,
			      (unsigned long long)fast.data_block, fast.shared,
			      (unsigned long long)m.data_block, m.shared);
		if (fr == -EWOULDBLOCK)
			nr_fast_passed++;
		else
			nr_fast_answered++;

		verify_run(img, v);

		if (img->block[v] == NONE) {
			check(r == -ENODATA, "disk %llu snap %llu block %d: expected unmapped, got %d",
			      (unsigned long long)img->disk, (unsigned long long)img->snap, v, r);
			continue;
		}
		check(r == 0, "disk %llu snap %llu block %d: lookup %d",
		      (unsigned long long)img->disk, (unsigned long long)img->snap, v, r);
		check(m.data_block == img->block[v],
		      "disk %llu snap %llu block %d: maps to %llu, model %llu",
		      (unsigned long long)img->disk, (unsigned long long)img->snap, v,
		      (unsigned long long)m.data_block, (unsigned long long)img->block[v]);
		check(data_tokens[m.data_block] == img->token[v],
		      "disk %llu snap %llu block %d: data %llu holds token %llu, expected %llu",
		      (unsigned long long)img->disk, (unsigned long long)img->snap, v,
		      (unsigned long long)m.data_block,
		      (unsigned long long)data_tokens[m.data_block],
		      (unsigned long long)img->token[v]);
	}
}

static u64 count_delta(const struct image *img, const struct image *prev)
{
	u64 n = 0;

	for (int v = 0; v < NV; v++)
		if (img->block[v] != NONE && (!prev || prev->block[v] != img->block[v]))
			n++;
	return n;
}

static void verify_chain(u64 disk)
{
	struct image *chain[MAX_IMAGES];
	struct image *live = find_live(disk);
	struct dmrow_disk_info info;
	int n = chain_of(disk, chain);
	u64 blocks, capacity = 0;

	check_ok(dmrow_md_get_disk(md, disk, &info));
	check(info.first_snapshot == (n ? chain[0]->snap : 0), "disk %llu: first snapshot",
	      (unsigned long long)disk);
	check(info.last_snapshot == (n ? chain[n - 1]->snap : 0), "disk %llu: last snapshot",
	      (unsigned long long)disk);
	for (int i = 0; i < n; i++) {
		u64 expect = count_delta(chain[i], i ? chain[i - 1] : NULL);
		u64 exclusive = 0;

		check_ok(dmrow_md_snapshot_delta(md, chain[i]->snap, &blocks));
		check(blocks == expect, "snapshot %llu: delta %llu, model %llu",
		      (unsigned long long)chain[i]->snap, (unsigned long long)blocks,
		      (unsigned long long)expect);
		capacity += expect;
		for (int v = 0; v < NV; v++)
			if (chain[i]->block[v] != NONE && image_refs[chain[i]->block[v]] == 1)
				exclusive++;
		check_ok(dmrow_md_snapshot_exclusive(md, chain[i]->snap, &blocks));
		check(blocks == exclusive, "snapshot %llu: exclusive %llu, model %llu",
		      (unsigned long long)chain[i]->snap, (unsigned long long)blocks,
		      (unsigned long long)exclusive);
	}
	check_ok(dmrow_md_chain_capacity(md, disk, &blocks));
	check(blocks == capacity, "disk %llu: chain capacity %llu, model %llu",
	      (unsigned long long)disk, (unsigned long long)blocks, (unsigned long long)capacity);
	if (live && !live->removed) {
		check_ok(dmrow_md_disk_delta(md, disk, &blocks));
		check(blocks == count_delta(live, n ? chain[n - 1] : NULL),
		      "disk %llu: live delta %llu", (unsigned long long)disk,
		      (unsigned long long)blocks);
	}
}

static void print_problem(void *context, const char *message)
{
	fprintf(stderr, "check: %s\n", message);
}

/*
 * Disk @disk's cache from block @v on, as map() reads it: every block of a
 * run it answers must be as the tree says (find_block), mapped alike.  Then
 * fill a little, as map()'s misses would.
 */
static void verify_cache_stretch(u64 disk, int v, unsigned int len)
{
	struct dmrow_cache_hit hit;
	struct dmrow_mapping m;
	unsigned int n, i, stretch;
	int r, cr;

	if (disk >= MAX_DISK_IDS || !caches[disk])
		return;
	for (stretch = 0; stretch < len && v < NV; v += n, stretch += n) {
		n = NV - v;
		cr = dmrow_map_cache_find_run(caches[disk], v, &n, &hit);
		if (cr == -EAGAIN) {
			nr_cache_misses++;
			check(n == 0, "disk %llu block %d: a miss with a run of %u",
			      (unsigned long long)disk, v, n);
			n = 1;
			continue;
		}
		nr_cache_hits++;
		check((cr == 0 || cr == -ENODATA) && n >= 1 && n <= (unsigned int)(NV - v),
		      "disk %llu block %d: cache run of %u on %d", (unsigned long long)disk, v, n, cr);
		for (i = 0; i < n; i++) {
			nr_cache_blocks++;
			r = dmrow_md_find_block(md, disk, 0, v + i, &m);
			if (cr == -ENODATA) {
				check(r == -ENODATA || r == -ENOENT,
				      "disk %llu block %u: cached unmapped, find %d maps to %llu",
				      (unsigned long long)disk, v + i, r,
				      (unsigned long long)m.data_block);
				continue;
			}
			check(r == 0 && m.data_block == hit.data_block + i &&
			      (i || m.shared == hit.shared) && (hit.shared || !m.shared),
			      "disk %llu block %u: cached %llu+%u (shared %d), find %d maps to %llu (shared %d)",
			      (unsigned long long)disk, v + i, (unsigned long long)hit.data_block, i,
			      hit.shared, r, (unsigned long long)m.data_block, m.shared);
		}
	}
}

/* Below a disk's hydrated mark every image of it maps every block. */
static void verify_hydrated(const struct image *live)
{
	struct image *chain[MAX_IMAGES];
	struct dmrow_disk_info info;
	int n = chain_of(live->disk, chain);

	check_ok(dmrow_md_get_disk(md, live->disk, &info));
	check(info.origin_blocks == live->origin &&
	      !(info.flags & DMROW_DISK_EXTERNAL_ORIGIN) == !live->origin,
	      "disk %llu: origin of %llu blocks, model %llu", (unsigned long long)live->disk,
	      (unsigned long long)info.origin_blocks, (unsigned long long)live->origin);
	for (u64 v = 0; v < info.hydrated_blocks; v++) {
		check(live->removed || live->block[v] != NONE,
		      "disk %llu: block %llu below the hydrated mark unmapped",
		      (unsigned long long)live->disk, (unsigned long long)v);
		for (int i = 0; i < n; i++)
			check(chain[i]->block[v] != NONE,
			      "disk %llu snapshot %llu: block %llu below the hydrated mark unmapped",
			      (unsigned long long)live->disk, (unsigned long long)chain[i]->snap,
			      (unsigned long long)v);
	}
}

static void verify_all(void)
{
	struct dmrow_pool_info pool;
	u64 used = 0;

	count_image_refs();
	for (u64 b = 0; b < DATA_BLOCKS; b++)
		used += image_refs[b] != 0;
	for (int i = 0; i < MAX_IMAGES; i++)
		if (model.img[i].used && model.img[i].live)
			verify_cache_stretch(model.img[i].disk, 0, NV);
	for (int i = 0; i < MAX_IMAGES; i++) {
		struct image *img = &model.img[i];

		if (!img->used)
			continue;
		if (img->live && img->removed) {
			struct dmrow_disk_info info;

			check_ok(dmrow_md_get_disk(md, img->disk, &info));
			check(info.flags & DMROW_DISK_REMOVED, "disk %llu should be removed",
			      (unsigned long long)img->disk);
			continue;
		}
		verify_image(img);
		if (img->live) {
			verify_chain(img->disk);
			verify_hydrated(img);
		}
	}
	check_ok(dmrow_md_pool_info(md, &pool));
	if (!dmrow_md_dirty(md)) {
		struct dmrow_check_result result;

		check_ok(dmrow_md_check(md, &result, print_problem, NULL));
		check(!result.nr_problems, "metadata check found %llu problems",
		      (unsigned long long)result.nr_problems);
		check(result.data_used == used, "check: data used %llu",
		      (unsigned long long)result.data_used);
	}
	check(pool.data_used == used, "data blocks used %llu, model %llu",
	      (unsigned long long)pool.data_used, (unsigned long long)used);
}

/*----------------------------------------------------------------
 * Operations
 *--------------------------------------------------------------*/

static void op_write(void)
{
	struct image *img = random_image(true);
	struct dmrow_mapping m;
	u64 b, token;
	bool mapped;
	int v, r;

	if (!img)
		return;
	v = rnd_below(NV);
	token = ++token_seq;
	r = dmrow_md_find_block(md, img->disk, 0, v, &m);
	check(r == 0 || r == -ENODATA, "find_block %d", r);
	mapped = !r;
	if (!r && !m.shared) {
		check(m.data_block == img->block[v], "in-place target differs from model");
		data_tokens[m.data_block] = token;
		img->token[v] = token;
		return;
	}
	r = dmrow_md_alloc_data_block(md, &b);
	if (r == -EAGAIN) {
		/* Blocks freed in this transaction come back after a commit. */
		nr_eagain++;
		commit();
		r = dmrow_md_alloc_data_block(md, &b);
	}
	if (r == -ENOSPC) {
		nr_enospc++;
		return;
	}
	check(r == 0, "alloc %d", r);
	if (!rnd_below(8)) {
		/*
		 * The data write failed: the reserved block is given back
		 * unmapped.  The block reads as before (the model is
		 * unchanged) and the fresh block is free again.
		 */
		nr_reverts++;
		check(dmrow_md_release_data_block(md, b) == 0, "release of a reserved block");
		check(dmrow_md_release_data_block(md, b) == -EINVAL,
		      "a block released twice must be refused");
		r = dmrow_md_find_block(md, img->disk, 0, v, &m);
		if (mapped)
			check(r == 0 && m.data_block == img->block[v] && m.shared,
			      "after a failed write block %d maps to %llu (%d, shared %d), model %llu", v,
			      (unsigned long long)m.data_block, r, m.shared,
			      (unsigned long long)img->block[v]);
		else
			check(r == -ENODATA, "after a failed write block %d: %d, expected unmapped", v, r);
		return;
	}
	data_tokens[b] = token;
	r = dmrow_md_insert_block(md, img->disk, v, b);
	if (r == -ENOSPC) {
		/*
		 * The metadata reserve: refused before anything changed.  As
		 * the pool does, commit (which gives back what the transaction
		 * shadowed away) and try once more; refused again, the write
		 * fails and its block is given back.
		 */
		nr_reserve_refusals++;
		commit();
		r = dmrow_md_insert_block(md, img->disk, v, b);
		if (r == -ENOSPC) {
			check(dmrow_md_release_data_block(md, b) == 0, "release after a refusal");
			return;
		}
	}
	check(r == 0, "insert %d", r);
	img->block[v] = b;
	img->token[v] = token;
}

/* A discard stopped at the metadata reserve: what it removed is removed. */
static void note_short_discard(struct image *img, int begin, int end)
{
	for (int v = begin; v < end; v++) {
		struct dmrow_mapping m;
		int r = dmrow_md_find_block(md, img->disk, 0, v, &m);

		check(r == 0 || r == -ENODATA, "find_block after a short discard %d", r);
		if (r == -ENODATA) {
			img->block[v] = NONE;
			img->token[v] = 0;
		}
	}
}

static void op_discard(void)
{
	struct image *img = random_image(true);
	int begin, end, r;

	if (!img)
		return;
	begin = rnd_below(NV);
	end = begin + 1 + rnd_below(rnd_below(4) ? 4 : NV);
	if (end > NV)
		end = NV;
	r = dmrow_md_discard(md, img->disk, begin, end);
	/* The blocks of an external origin stay mapped. */
	if (begin < (int)img->origin)
		begin = end < (int)img->origin ? end : (int)img->origin;
	if (r == -ENOSPC) {
		/* Stopped at the reserve: commit and finish it, as the pool does. */
		nr_reserve_refusals++;
		note_short_discard(img, begin, end);
		commit();
		r = dmrow_md_discard(md, img->disk, begin, end);
		if (r == -ENOSPC) {
			note_short_discard(img, begin, end);
			return;
		}
	}
	check(r == 0, "discard %d", r);
	for (int v = begin; v < end; v++) {
		img->block[v] = NONE;
		img->token[v] = 0;
	}
}

static void evict_oldest_auto(u64 disk)
{
	struct image *chain[MAX_IMAGES];
	int n = chain_of(disk, chain), nr_auto = 0;

	for (int i = 0; i < n; i++)
		nr_auto += chain[i]->is_auto;
	for (int i = 0; i < n && nr_auto >= AUTO_QUOTA; i++) {
		if (chain[i]->is_auto) {
			chain[i]->used = false;
			nr_auto--;
		}
	}
}

static void op_snapshot(void)
{
	unsigned int nr = 1 + (rnd_below(4) == 0 ? rnd_below(3) : 0);
	struct dmrow_snapshot_attrs attrs[3];
	u64 disks[3], ids[3];
	struct image *lives[3];
	bool over_quota = false;
	unsigned int i, j;
	int r;

	for (i = 0; i < nr; i++) {
		lives[i] = random_image(true);
		if (!lives[i])
			return;
		for (j = 0; j < i; j++)
			if (lives[j] == lives[i])
				return;
		disks[i] = lives[i]->disk;
		memset(&attrs[i], 0, sizeof(attrs[i]));
		attrs[i].name = "";
		attrs[i].created = op_index;
		attrs[i].flags = rnd_below(2) ? DMROW_SNAP_AUTO : 0;
	}
	if (nr_images() + (int)nr > MAX_IMAGES - 2)
		return;
	for (i = 0; i < nr; i++) {
		struct image *chain[MAX_IMAGES];
		int n = chain_of(disks[i], chain), manual = 0;

		for (j = 0; j < (unsigned int)n; j++)
			manual += !chain[j]->is_auto;
		if (!(attrs[i].flags & DMROW_SNAP_AUTO) && manual >= MANUAL_QUOTA)
			over_quota = true;
	}

	r = dmrow_md_create_snapshots(md, nr, disks, attrs, ids);
	if (over_quota) {
		check(r == -EDQUOT, "snapshot over quota returned %d", r);
		return;
	}
	if (r == -ENOSPC) {
		abort_transaction();
		return;
	}
	check(r == 0, "create_snapshots %d", r);
	for (i = 0; i < nr; i++) {
		struct image *snap;

		if (attrs[i].flags & DMROW_SNAP_AUTO)
			evict_oldest_auto(disks[i]);
		snap = free_image();
		check(snap, "model full");
		memset(snap, 0, sizeof(*snap));
		snap->used = true;
		snap->disk = disks[i];
		snap->snap = ids[i];
		snap->is_auto = attrs[i].flags & DMROW_SNAP_AUTO;
		copy_content(snap, lives[i]);
	}
}

static void op_delete(void)
{
	struct image *img = random_image(false);
	u64 disk;
	int r;

	if (!img)
		return;
	disk = img->disk;
	r = dmrow_md_delete_snapshot(md, img->snap);
	if (r == -ENOSPC) {
		abort_transaction();
		return;
	}
	check(r == 0, "delete %d", r);
	img->used = false;
	drop_disk_if_gone(disk);
}

static void op_merge(void)
{
	struct image *img = random_image(false), *chain[MAX_IMAGES];
	int n, first, last, r;
	u64 disk;

	if (!img)
		return;
	disk = img->disk;
	n = chain_of(disk, chain);
	first = rnd_below(n);
	last = first + rnd_below(n - first);
	/* A run the wrong way round is refused and changes nothing. */
	if (last > first)
		check(dmrow_md_merge_snapshots(md, chain[last]->snap, chain[first]->snap) == -EINVAL,
		      "reversed merge accepted");
	r = dmrow_md_merge_snapshots(md, chain[first]->snap, chain[last]->snap);
	if (r == -ENOSPC) {
		abort_transaction();
		return;
	}
	check(r == 0, "merge %d", r);
	for (int i = first; i < last; i++)
		chain[i]->used = false;
}

static void op_rollback(void)
{
	struct image *snap = random_image(false), *live;
	int r;

	if (!snap)
		return;
	live = find_live(snap->disk);
	if (!live || live->removed) {
		check(dmrow_md_rollback(md, snap->disk, snap->snap, false) == -ENODATA,
		      "rollback of a removed disk");
		return;
	}
	r = dmrow_md_rollback(md, snap->disk, snap->snap, false);
	if (r == -ENOSPC) {
		abort_transaction();
		return;
	}
	check(r == 0, "rollback %d", r);
	copy_content(live, snap);
}

static void op_clone(void)
{
	struct image *snap = random_image(false), *clone;
	int disks = 0, r;
	char name[32];

	if (!snap)
		return;
	for (int i = 0; i < MAX_IMAGES; i++)
		disks += model.img[i].used && model.img[i].live;
	if (disks >= MAX_DISKS || nr_images() >= MAX_IMAGES - 4)
		return;
	snprintf(name, sizeof(name), "clone-%llu", (unsigned long long)model.next_disk_id);
	r = dmrow_md_clone(md, snap->snap, model.next_disk_id, name, 0, op_index);
	if (r == -ENOSPC) {
		abort_transaction();
		return;
	}
	check(r == 0, "clone %d", r);
	clone = free_image();
	memset(clone, 0, sizeof(*clone));
	clone->used = true;
	clone->live = true;
	clone->disk = model.next_disk_id++;
	clone->origin = find_live(snap->disk)->origin;
	copy_content(clone, snap);
	attach_cache(clone->disk);
}

/*
 * Hydrate one origin block of a disk, as the pool does: scan, copy into a
 * reserved block, map it into every image that lacks it; or, when a scan
 * from the mark finds nothing, move the mark.
 */
static void hydrate_one(struct image *live)
{
	struct image *chain[MAX_IMAGES];
	unsigned int images, lacking;
	u64 from, v, b;
	int n, r;

	from = rnd_below(2) ? 0 : rnd_below(live->origin);
	r = dmrow_md_hydrate_scan(md, live->disk, from, live->origin, &v);
	if (r == -ENODATA) {
		check(v == live->origin, "a scan to the end stopped at %llu", (unsigned long long)v);
		if (!from) {
			check_ok(dmrow_md_set_hydrated(md, live->disk, v));
			nr_marks++;
		}
		return;
	}
	check(r == 0 && v >= from && v < live->origin, "hydrate scan %d, block %llu", r,
	      (unsigned long long)v);
	n = chain_of(live->disk, chain);
	lacking = live->block[v] == NONE;
	for (int i = 0; i < n; i++)
		lacking += chain[i]->block[v] == NONE;
	check(lacking > 0, "the scan found block %llu, which every image maps",
	      (unsigned long long)v);
	r = dmrow_md_alloc_data_block(md, &b);
	if (r == -EAGAIN) {
		commit();
		r = dmrow_md_alloc_data_block(md, &b);
	}
	if (r == -ENOSPC)
		return;
	check_ok(r);
	data_tokens[b] = ORIGIN_TOKEN(v);
	r = dmrow_md_hydrate_block(md, live->disk, v, b, &images);
	if (r == -ENOSPC) {
		nr_reserve_refusals++;
		commit();
		r = dmrow_md_hydrate_block(md, live->disk, v, b, &images);
	}
	if (r == -ENOSPC) {
		check_ok(dmrow_md_release_data_block(md, b));
		return;
	}
	check(r == 0 && images == lacking, "hydrate block %llu: %d, %u images, model %u",
	      (unsigned long long)v, r, images, lacking);
	nr_hydrated++;
	nr_hydrated_images += images;
	for (int i = -1; i < n; i++) {
		struct image *img = i < 0 ? live : chain[i];

		if (img->block[v] == NONE) {
			img->block[v] = b;
			img->token[v] = ORIGIN_TOKEN(v);
		}
	}
}

/* A few steps of one disk's hydration. */
static void op_hydrate(void)
{
	struct image *live = random_image(true);
	int steps = 1 + rnd_below(48);

	while (live && live->origin && steps--)
		hydrate_one(live);
}

static void op_create_disk(void)
{
	struct image *img;
	int disks = 0;

	for (int i = 0; i < MAX_IMAGES; i++)
		disks += model.img[i].used && model.img[i].live;
	if (disks >= MAX_DISKS || nr_images() >= MAX_IMAGES - 4)
		return;
	check_ok(dmrow_md_create_disk(md, model.next_disk_id, NV, "", op_index));
	img = free_image();
	memset(img, 0, sizeof(*img));
	img->used = true;
	img->live = true;
	if (!rnd_below(3)) {
		check_ok(dmrow_md_set_disk_origin(md, model.next_disk_id, ORIGIN_NV));
		img->origin = ORIGIN_NV;
	}
	img->disk = model.next_disk_id++;
	for (int v = 0; v < NV; v++)
		img->block[v] = NONE;
	attach_cache(img->disk);
}

static void op_remove_disk(void)
{
	struct image *img = random_image(true);
	int r;

	if (!img)
		return;
	r = dmrow_md_remove_disk(md, img->disk);
	if (r == -ENOSPC) {
		abort_transaction();
		return;
	}
	check(r == 0, "remove disk %d", r);
	img->removed = true;
	for (int v = 0; v < NV; v++)
		img->block[v] = NONE;
	drop_disk_if_gone(img->disk);
}

static void op_reopen(void)
{
	commit();
	close_pool();
	open_pool(false);
	attach_caches();
}

/* Check a stretch of one disk's cache, then fill every disk's some, as map()'s misses do. */
static void verify_some_cache(void)
{
	struct image *img = random_image(true);
	struct dmrow_mapping m;
	unsigned int n;

	if (img)
		verify_cache_stretch(img->disk, rnd_below(NV), 128);
	for (int i = 0; i < MAX_IMAGES; i++) {
		struct dmrow_disk_info info;
		u64 disk = model.img[i].disk;
		u32 time;

		if (!model.img[i].used || !model.img[i].live)
			continue;
		/* The time a cache judges sharing by is the disk's, or unknown. */
		time = caches[disk] ? caches[disk]->snapshotted_time : DMROW_CACHE_TIME_UNKNOWN;
		if (time != DMROW_CACHE_TIME_UNKNOWN && !model.img[i].removed) {
			check_ok(dmrow_md_get_disk(md, disk, &info));
			check(time == info.snapshotted_time,
			      "disk %llu: cache time %u, snapshotted_time %u",
			      (unsigned long long)disk, time, info.snapshotted_time);
		}
		for (int j = 0; j < 4; j++) {
			n = rnd_below(96) + 1;
			dmrow_md_try_find_run(md, model.img[i].disk, 0, rnd_below(NV), &n, &m);
		}
	}
}

/*----------------------------------------------------------------*/

static void run_model(void **state)
{
	const char *env_seed = getenv("DMROW_MODEL_SEED");
	const char *env_ops = getenv("DMROW_MODEL_OPS");
	u64 nr_ops = env_ops ? strtoull(env_ops, NULL, 0) : 100000;
	char path[] = "/tmp/dm-row-model.XXXXXX";

	(void)state;
	rnd_seed(env_seed ? strtoull(env_seed, NULL, 0) : (u64)time(NULL) ^ (u64)getpid() << 20);
	printf("metadata model: seed %llu, %llu operations\n", (unsigned long long)seed,
	       (unsigned long long)nr_ops);

	meta_fd = mkstemp(path);
	check(meta_fd >= 0, "mkstemp");
	unlink(path);
	check(ftruncate(meta_fd, (off_t)METADATA_BLOCKS * DMROW_METADATA_BLOCK_SIZE) == 0,
	      "ftruncate");
	memset(&model, 0, sizeof(model));
	model.next_disk_id = 1;
	memset(caches, 0, sizeof(caches));
	check_ok(dmrow_map_cache_module_init());
	/* Whole disks, or a few slots that windows fight over. */
	cache_budget = rnd_below(2) ? 1 << 20 : 3 * sizeof(struct dmrow_cache_segment);
	printf("metadata model: mapping caches of %llu bytes\n", (unsigned long long)cache_budget);
	open_pool(true);
	op_create_disk();
	op_create_disk();
	commit();

	for (op_index = 0; op_index < nr_ops; op_index++) {
		unsigned int dice = rnd_below(1000);

		if (dice < 520) {
			op_name = "write";
			op_write();
		} else if (dice < 580) {
			op_name = "discard";
			op_discard();
		} else if (dice < 680) {
			op_name = "snapshot";
			op_snapshot();
		} else if (dice < 740) {
			op_name = "delete";
			op_delete();
		} else if (dice < 760) {
			op_name = "merge";
			op_merge();
		} else if (dice < 790) {
			op_name = "rollback";
			op_rollback();
		} else if (dice < 805) {
			op_name = "clone";
			op_clone();
		} else if (dice < 815) {
			op_name = "create disk";
			op_create_disk();
		} else if (dice < 820) {
			op_name = "remove disk";
			op_remove_disk();
		} else if (dice < 850) {
			op_name = "hydrate";
			op_hydrate();
		} else if (dice < 950) {
			op_name = "commit";
			commit();
		} else if (dice < 960) {
			op_name = "reopen";
			op_reopen();
		} else if (dice < 975) {
			op_name = "crash";
			crash();
		} else if (dice < 978) {
			op_name = "verify";
			if (rnd_below(2))
				commit();
			verify_all();
		} else {
			op_name = "write burst";
			for (int i = 0; i < 64; i++)
				op_write();
		}
		verify_some_cache();
	}
	op_name = "final verify";
	commit();
	verify_all();
	op_reopen();
	verify_all();
	close_pool();
	dmrow_map_cache_module_exit();
	close(meta_fd);
	printf("metadata model: %llu crashes, %llu full-pool retries after commit, %llu writes refused for space\n",
	       (unsigned long long)nr_crashes, (unsigned long long)nr_eagain,
	       (unsigned long long)nr_enospc);
	printf("metadata model: %llu failed writes undone\n", (unsigned long long)nr_reverts);
	printf("metadata model: %llu changes refused at the metadata reserve\n",
	       (unsigned long long)nr_reserve_refusals);
	check(nr_reverts > 0, "no failed write was undone");
	printf("metadata model: %llu origin blocks hydrated into %llu images, %llu marks moved\n",
	       (unsigned long long)nr_hydrated, (unsigned long long)nr_hydrated_images,
	       (unsigned long long)nr_marks);
	check(nr_hydrated > 0 && nr_hydrated_images > nr_hydrated && nr_marks > 0,
	      "hydration was not exercised");
	printf("metadata model: the fast-path lookup answered %llu lookups and passed %llu\n",
	       (unsigned long long)nr_fast_answered, (unsigned long long)nr_fast_passed);
	/* With every block in memory it must answer most lookups itself. */
	check(nr_fast_answered > nr_fast_passed, "the fast-path lookup answered too few");
	printf("metadata model: mapping caches: %llu hits over %llu blocks, %llu misses\n",
	       (unsigned long long)nr_cache_hits, (unsigned long long)nr_cache_blocks,
	       (unsigned long long)nr_cache_misses);
	check(nr_cache_hits > 0 && nr_cache_misses > 0, "the caches were not exercised");
	/* Every block shadowed as fresh really was referenced once. */
	check(dmrow_tm_fresh_mismatches == 0, "%lu fresh metadata blocks had another count",
	      dmrow_tm_fresh_mismatches);
	printf("metadata model: %llu run lookups, %llu ending where the mapping changes\n",
	       (unsigned long long)nr_runs, (unsigned long long)nr_run_ends);
	/* A run may also end at a lookup that would block, but most end where the mapping does. */
	check(nr_runs > 0 && nr_run_ends * 2 > nr_runs, "runs: %llu, %llu ending at a change",
	      (unsigned long long)nr_runs, (unsigned long long)nr_run_ends);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(run_model),
	};

	return cmocka_run_group_tests_name("metadata_model", tests, NULL, NULL);
}
