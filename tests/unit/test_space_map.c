// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the space maps (core/dm-row-space-map.c): the data map,
 * which changes its tree at once, in both allocation modes (plain, and
 * no_reuse_in_txn as the pool uses it), and the deferred metadata map,
 * which counts its own blocks and applies its changes at commit.
 *
 * They run over a real transaction manager and a file-backed block cache,
 * with commits as the metadata layer makes them (space map commits,
 * descriptions for the superblock, flush, committed, txn + 1) and reopens
 * from those descriptions with an empty cache.  Randomized tests check
 * every allocation against a model of the counts now and in the committed
 * state, and after each commit recount the metadata map's own blocks (the
 * two reserved ones, index nodes and refcount blocks of both maps): every
 * other metadata block must be free.
 *
 * Every test has a fixed seed, printed on failure; DMROW_TEST_SEED=<n>
 * replaces it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <unistd.h>

#include <dm-row/ondisk.h>
#include "dm-row-btree.h"
#include "dm-row-space-map.h"
#include "dm-row-transaction.h"
#include "../../userspace/compat/public/block-cache.h"

#define TEST_NAME "space map"
#include "test_helpers.h"

#define NR_META		4096	/* 5 refcount ranges, the last one partial */
#define CACHE_BLOCKS	256
#define NR_DATA		2500	/* 3 ranges, the last one partial */
#define PER_BLOCK	DMROW_REFCOUNTS_PER_BLOCK

static int meta_fd = -1;
static struct dmrow_bm *bm;
static struct dmrow_tm tm;
static struct dmrow_sm msm, dsm;
static struct row_disk_space_map msm_disk, dsm_disk;	/* the last commit's */

/*----------------------------------------------------------------
 * Fixture
 *--------------------------------------------------------------*/

static void open_cache(void)
{
	bm = dmrow_bm_open_fd(meta_fd, NR_META, CACHE_BLOCKS, false);
	check(bm, "cannot create block cache");
	tm.bm = bm;
}

/* Destroy the cache; a block still locked (a leak) fails the test. */
static void close_cache(void)
{
	char warnings[512];

	bm_destroy_capture(bm, warnings, sizeof(warnings));
	bm = NULL;
	tm.bm = NULL;
	check(!strstr(warnings, "WARN_ON"), "blocks left locked: %s", warnings);
}

/* What the metadata layer does to commit both maps. */
static void commit(void)
{
	check_ok(dmrow_sm_commit(&dsm));
	check_ok(dmrow_sm_commit(&msm));
	dmrow_sm_to_disk(&dsm, &dsm_disk);
	dmrow_sm_to_disk(&msm, &msm_disk);
	check_ok(dmrow_bm_flush(bm));
	dmrow_sm_committed(&dsm);
	dmrow_sm_committed(&msm);
	tm.txn++;
}

/* Commit, close, and open both maps again from their descriptions, cold. */
static void reopen(void)
{
	bool no_reuse = dsm.no_reuse_in_txn;

	commit();
	dmrow_sm_exit(&dsm);
	dmrow_sm_exit(&msm);
	close_cache();
	open_cache();
	check_ok(dmrow_sm_init(&msm, &tm, true, &msm_disk, 0));
	check_ok(dmrow_sm_init(&dsm, &tm, false, &dsm_disk, 0));
	dsm.no_reuse_in_txn = no_reuse;	/* set by the pool, not stored */
}

static int setup(void **state)
{
	char path[64];

	/* tmpfs if there is one: every commit flushes, fdatasync is cheap there. */
	strcpy(path, "/dev/shm/dm-row-sm.XXXXXX");
	meta_fd = mkstemp(path);
	if (meta_fd < 0) {
		strcpy(path, "/tmp/dm-row-sm.XXXXXX");
		meta_fd = mkstemp(path);
	}
	if (meta_fd < 0)
		return -1;
	unlink(path);
	if (ftruncate(meta_fd, (off_t)NR_META * DMROW_METADATA_BLOCK_SIZE))
		return -1;
	bm = dmrow_bm_open_fd(meta_fd, NR_META, CACHE_BLOCKS, false);
	if (!bm)
		return -1;
	tm.bm = bm;
	tm.metadata_sm = &msm;
	tm.txn = 1;
	if (dmrow_sm_init(&msm, &tm, true, NULL, NR_META) ||
	    dmrow_sm_init(&dsm, &tm, false, NULL, NR_DATA))
		return -1;
	/* The superblock slots, as the metadata layer reserves them. */
	if (dmrow_sm_inc(&msm, 0) || dmrow_sm_inc(&msm, 1))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	dmrow_sm_exit(&dsm);
	dmrow_sm_exit(&msm);
	if (bm)
		dmrow_bm_destroy(bm);
	bm = NULL;
	close(meta_fd);
	return 0;
}

/*----------------------------------------------------------------
 * Helpers
 *--------------------------------------------------------------*/

static u32 count_of(struct dmrow_sm *sm, u64 b)
{
	u32 count = ~0U;

	check_ok(dmrow_sm_get_count(sm, b, &count));
	return count;
}

/* Mark the blocks a space map is made of: index nodes and refcount blocks. */
static int mark_node(void *context, u64 b)
{
	((u8 *)context)[b]++;
	return 0;
}

static int mark_refcount_block(void *context, u64 key, const void *value)
{
	const struct row_disk_sm_index_entry *e = value;

	((u8 *)context)[le64_to_cpu(e->blocknr)]++;
	return 0;
}

static void own_blocks(struct dmrow_sm *sm, u8 *own)
{
	struct dmrow_btree_stats stats;

	check_ok(dmrow_btree_check(&sm->index_info, sm->index_root, mark_node, own, &stats));
	check_ok(dmrow_btree_walk(&sm->index_info, sm->index_root, mark_refcount_block, own));
}

struct walk_check {
	const u32 *expect;	/* NULL: only collect */
	u64 nr_blocks;
	u64 last;
	u64 nr;
	bool any;
};

static int walk_fn(void *context, u64 b, u32 count)
{
	struct walk_check *w = context;

	check(b < w->nr_blocks, "walk: block %llu beyond the end", (unsigned long long)b);
	check(!w->any || b > w->last, "walk: block %llu after %llu", (unsigned long long)b,
	      (unsigned long long)w->last);
	check(count, "walk: block %llu with count 0", (unsigned long long)b);
	if (w->expect)
		check(count == w->expect[b], "walk: block %llu count %u, expected %u",
		      (unsigned long long)b, count, w->expect[b]);
	w->last = b;
	w->any = true;
	w->nr++;
	return 0;
}

/*
 * Every count of @sm equals @expect, through get_count and, if the map's
 * tree is up to date (not deferred, or just committed), through a walk;
 * nr_allocated equals the number of nonzero counts.
 */
static void verify_counts(struct dmrow_sm *sm, const u32 *expect, bool walk)
{
	struct walk_check w = { .expect = expect, .nr_blocks = sm->nr_blocks };
	u64 b, nonzero = 0;

	for (b = 0; b < sm->nr_blocks; b++) {
		u32 c = count_of(sm, b);

		check(c == expect[b], "block %llu: count %u, expected %u", (unsigned long long)b,
		      c, expect[b]);
		nonzero += !!c;
	}
	check(sm->nr_allocated == nonzero, "nr_allocated %llu, %llu nonzero counts",
	      (unsigned long long)sm->nr_allocated, (unsigned long long)nonzero);
	check(dmrow_sm_nr_free(sm) == sm->nr_blocks - nonzero, "nr_free");
	if (walk) {
		check_ok(dmrow_sm_walk(sm, walk_fn, &w));
		check(w.nr == nonzero, "walk visited %llu blocks, %llu are in use",
		      (unsigned long long)w.nr, (unsigned long long)nonzero);
	}
}

/*
 * Right after a commit, the metadata map holds exactly: the two reserved
 * blocks, its own and the data map's index nodes and refcount blocks (one
 * reference each), and what the test itself holds (@held, may be NULL).
 */
static void audit_metadata(const u32 *held)
{
	u32 *expect = calloc(NR_META, sizeof(*expect));
	u8 *own = calloc(NR_META, 1);
	u64 b;

	check(expect && own, "calloc");
	own_blocks(&msm, own);
	own_blocks(&dsm, own);
	for (b = 0; b < NR_META; b++) {
		expect[b] = own[b] + (held ? held[b] : 0);
		check(own[b] <= 1, "block %llu used %u times by the space maps",
		      (unsigned long long)b, own[b]);
		check(!own[b] || !held || !held[b], "block %llu both held and used by a space map",
		      (unsigned long long)b);
	}
	if (!held)
		expect[0] = expect[1] = 1;
	verify_counts(&msm, expect, true);
	free(expect);
	free(own);
}

/*----------------------------------------------------------------
 * Tests
 *--------------------------------------------------------------*/

/* inc/dec/get_count, nr_allocated, dec below zero and blocks past the end. */
static void check_basic_counts(struct dmrow_sm *sm, const char *name)
{
	u64 allocated, b = sm->nr_blocks / 2 + 17, end = sm->nr_blocks;
	u32 count;
	int i;

	/*
	 * Blocks the metadata map does not use for itself yet; a commit may
	 * give it a refcount block for them, so nr_allocated is taken again
	 * after each.
	 */
	phase = name;
	allocated = sm->nr_allocated;
	check(count_of(sm, b) == 0, "fresh block counted");
	for (i = 0; i < 3; i++)
		check_ok(dmrow_sm_inc(sm, b));
	check(count_of(sm, b) == 3, "count %u after 3 incs", count_of(sm, b));
	check(sm->nr_allocated == allocated + 1, "one block in use");
	check_ok(dmrow_sm_inc(sm, end - 1));
	check(count_of(sm, end - 1) == 1 && sm->nr_allocated == allocated + 2, "last block");
	check_ok(dmrow_sm_dec(sm, b));
	check(count_of(sm, b) == 2 && sm->nr_allocated == allocated + 2, "dec to 2");
	commit();
	check(count_of(sm, b) == 2 && count_of(sm, end - 1) == 1, "counts across commit");
	allocated = sm->nr_allocated - 2;
	check_ok(dmrow_sm_dec(sm, b));
	check_ok(dmrow_sm_dec(sm, b));
	check(count_of(sm, b) == 0 && sm->nr_allocated == allocated + 1, "dec to 0");
	check(dmrow_sm_dec(sm, b) == -EILSEQ, "dec below zero in the open transaction");
	check(count_of(sm, b) == 0 && sm->nr_allocated == allocated + 1, "failed dec changed it");
	commit();
	allocated = sm->nr_allocated - 1;
	check(dmrow_sm_dec(sm, b) == -EILSEQ, "dec below zero after commit");
	check(dmrow_sm_dec(sm, b + 1) == -EILSEQ, "dec of a never used block");
	check(dmrow_sm_inc(sm, end) == -EILSEQ, "inc past the end");
	check(dmrow_sm_dec(sm, end) == -EILSEQ, "dec past the end");
	check(dmrow_sm_get_count(sm, end, &count) == -EINVAL, "get_count past the end");
	check(dmrow_sm_get_count(sm, ~0ULL, &count) == -EINVAL, "get_count of ~0");
	check_ok(dmrow_sm_dec(sm, end - 1));
	check(sm->nr_allocated == allocated, "back to where it started");
	commit();
	check(count_of(sm, b) == 0 && count_of(sm, end - 1) == 0, "counts after commit");
}

static void test_basic_counts(void **state)
{
	start("basic", 0x5a0001);
	commit();
	check_basic_counts(&dsm, "data");
	audit_metadata(NULL);
	check_basic_counts(&msm, "metadata");
	audit_metadata(NULL);
}

/*
 * The data map, plain mode: once full, -ENOSPC; a block freed in the open
 * transaction is not handed out until the transaction is committed, even
 * when nothing else is free.
 */
static void test_data_full_and_freed(void **state)
{
	u8 *seen = calloc(NR_DATA, 1);
	u64 b, x = 100, y = NR_DATA - 1, got[2];
	unsigned int i;

	start("data full", 0x5a0002);
	check(seen, "calloc");
	for (i = 0; i < NR_DATA; i++) {
		check_ok(dmrow_sm_alloc(&dsm, &b));
		check(b < NR_DATA && !seen[b], "alloc %u gave block %llu twice", i,
		      (unsigned long long)b);
		seen[b] = 1;
		check(count_of(&dsm, b) == 1, "allocated block count");
	}
	check(dmrow_sm_alloc(&dsm, &b) == -ENOSPC, "alloc from a full map");
	check(dmrow_sm_nr_free(&dsm) == 0, "nr_free of a full map");
	commit();
	audit_metadata(NULL);

	phase = "freed in the open transaction";
	check_ok(dmrow_sm_dec(&dsm, x));
	check_ok(dmrow_sm_dec(&dsm, y));
	check(dmrow_sm_nr_free(&dsm) == 2, "two free now");
	check(dmrow_sm_alloc(&dsm, &b) == -ENOSPC,
	      "handed out block %llu the committed state still uses", (unsigned long long)b);
	reopen();
	phase = "after commit";
	check_ok(dmrow_sm_alloc(&dsm, &got[0]));
	check_ok(dmrow_sm_alloc(&dsm, &got[1]));
	check((got[0] == x && got[1] == y) || (got[0] == y && got[1] == x),
	      "allocated %llu and %llu", (unsigned long long)got[0],
	      (unsigned long long)got[1]);
	check(dmrow_sm_alloc(&dsm, &b) == -ENOSPC, "full again");

	phase = "allocated and freed in one transaction";
	commit();
	check_ok(dmrow_sm_dec(&dsm, x));
	commit();
	check_ok(dmrow_sm_alloc(&dsm, &b));
	check(b == x, "allocated %llu", (unsigned long long)b);
	check_ok(dmrow_sm_dec(&dsm, x));
	/* Free now and in the committed state: plain mode may reuse it at once. */
	check_ok(dmrow_sm_alloc(&dsm, &b));
	check(b == x, "allocated %llu", (unsigned long long)b);
	free(seen);
}

/*
 * The data map as the pool runs it (no_reuse_in_txn): a block freed in
 * the open transaction is never handed out again in it, even one that
 * the transaction itself allocated; -EAGAIN then, and after a commit the
 * block is available.
 */
static void test_data_no_reuse(void **state)
{
	u64 b, first, x;
	unsigned int i;
	int r;

	start("no reuse", 0x5a0003);
	dsm.no_reuse_in_txn = true;
	commit();
	check_ok(dmrow_sm_alloc(&dsm, &first));
	x = first;
	check_ok(dmrow_sm_dec(&dsm, x));
	for (i = 0; i < NR_DATA; i++) {
		r = dmrow_sm_alloc(&dsm, &b);
		if (r)
			break;
		check(b != x, "block %llu freed in this transaction handed out again",
		      (unsigned long long)b);
	}
	check(r == -EAGAIN, "alloc returned %d with only a just-freed block left", r);
	check(i == NR_DATA - 1, "allocated %u of the %d blocks never used", i, NR_DATA - 1);
	check(dmrow_sm_alloc(&dsm, &b) == -EAGAIN, "-EAGAIN again");
	commit();
	check_ok(dmrow_sm_alloc(&dsm, &b));
	check(b == x, "after commit allocated %llu, not the free %llu", (unsigned long long)b,
	      (unsigned long long)x);
	check(dmrow_sm_alloc(&dsm, &b) == -ENOSPC, "full: -ENOSPC, not -EAGAIN");
	commit();
	check(dmrow_sm_alloc(&dsm, &b) == -ENOSPC, "full after commit");
	audit_metadata(NULL);

	/*
	 * The transaction starts inside a range (at 1501) with the hint;
	 * every block is in use but one freed in it: the scan goes round
	 * and ends in that range below txn_start.  Commit and retry, not
	 * out of space.
	 */
	phase = "no reuse: scan ends in txn_start's range";
	check_ok(dmrow_sm_dec(&dsm, 1500));
	commit();
	check_ok(dmrow_sm_alloc(&dsm, &b));
	check(b == 1500, "allocated %llu", (unsigned long long)b);
	commit();
	check_ok(dmrow_sm_dec(&dsm, 100));
	r = dmrow_sm_alloc(&dsm, &b);
	check(r == -EAGAIN, "only a block freed in this transaction is free: %d", r);
	commit();
	check_ok(dmrow_sm_alloc(&dsm, &b));
	check(b == 100, "allocated %llu", (unsigned long long)b);

	/*
	 * txn_start in the last range (2300), the hint wrapped past the end:
	 * a block the transaction allocated and freed below the hint must
	 * not come round again when nothing at or after txn_start is free.
	 */
	phase = "no reuse: second wrap";
	check_ok(dmrow_sm_dec(&dsm, 2299));
	commit();
	check_ok(dmrow_sm_alloc(&dsm, &b));
	check(b == 2299, "allocated %llu", (unsigned long long)b);
	check_ok(dmrow_sm_dec(&dsm, 5));
	commit();
	check_ok(dmrow_sm_alloc(&dsm, &b));
	check(b == 5, "allocated %llu", (unsigned long long)b);
	check_ok(dmrow_sm_dec(&dsm, 5));
	r = dmrow_sm_alloc(&dsm, &b);
	check(r == -EAGAIN, "alloc returned %d, block %llu", r, (unsigned long long)b);
	commit();
	check_ok(dmrow_sm_alloc(&dsm, &b));
	check(b == 5, "allocated %llu", (unsigned long long)b);
	check(dmrow_sm_alloc(&dsm, &b) == -ENOSPC, "full");
}

/* Growing a map makes its new blocks allocatable; shrinking is refused. */
static void test_extend(void **state)
{
	u32 *held = calloc(NR_META, sizeof(*held));
	u64 b, first_new = 1000, mid_txn[64];
	unsigned int i, nr_mid = 0;
	int r;

	start("extend data", 0x5a0004);
	check(held, "calloc");
	dmrow_sm_exit(&dsm);
	check_ok(dmrow_sm_init(&dsm, &tm, false, NULL, first_new));
	for (i = 0; i < first_new; i++)
		check_ok(dmrow_sm_alloc(&dsm, &b));
	check(dmrow_sm_alloc(&dsm, &b) == -ENOSPC, "full before extend");
	check(dmrow_sm_extend(&dsm, first_new - 1) == -EINVAL, "shrink accepted");
	check_ok(dmrow_sm_extend(&dsm, NR_DATA));
	check(dmrow_sm_nr_free(&dsm) == NR_DATA - first_new, "nr_free after extend");
	for (i = first_new; i < NR_DATA; i++) {
		check_ok(dmrow_sm_alloc(&dsm, &b));
		check(b >= first_new && b < NR_DATA, "allocated %llu", (unsigned long long)b);
	}
	check(dmrow_sm_alloc(&dsm, &b) == -ENOSPC, "full after extend");
	reopen();
	check(dsm.nr_blocks == NR_DATA && dsm.nr_allocated == NR_DATA, "size after reopen");
	for (b = 0; b < NR_DATA; b++)
		check(count_of(&dsm, b) == 1, "block %llu after reopen", (unsigned long long)b);
	audit_metadata(NULL);

	/*
	 * The metadata map: its device has 4096 blocks, the superblock says
	 * 1500 (as after growing the metadata device, before the resize).
	 */
	phase = "extend metadata";
	msm_disk.nr_blocks = cpu_to_le64(1500);
	dmrow_sm_exit(&msm);
	check_ok(dmrow_sm_init(&msm, &tm, true, &msm_disk, 0));
	held[0] = held[1] = 1;
	for (;;) {
		r = dmrow_sm_alloc(&msm, &b);
		if (r)
			break;
		check(b < 1500 && !held[b] && count_of(&msm, b) == 1,
		      "allocated %llu", (unsigned long long)b);
		held[b] = 1;
	}
	check(r == -ENOSPC && msm.nr_allocated == 1500, "full: %d, %llu allocated", r,
	      (unsigned long long)msm.nr_allocated);
	check_ok(dmrow_sm_extend(&msm, NR_META));
	check(dmrow_sm_extend(&msm, NR_META - 1) == -EINVAL, "shrink accepted");
	for (i = 0; i < 64; i++) {
		check_ok(dmrow_sm_alloc(&msm, &b));
		check(b >= 1500 && b < NR_META, "allocated %llu", (unsigned long long)b);
		held[b] = 1;
		mid_txn[nr_mid++] = b;
	}
	/* Give most back, so that the commit has room, and check it all. */
	for (b = 2; b < 1500; b++) {
		if (held[b] && b % 4) {
			check_ok(dmrow_sm_dec(&msm, b));
			held[b] = 0;
		}
	}
	commit();
	audit_metadata(held);
	reopen();
	check(msm.nr_blocks == NR_META, "metadata size after reopen");
	audit_metadata(held);
	for (i = 0; i < nr_mid; i++)
		check(count_of(&msm, mid_txn[i]) == 1, "block %llu", (unsigned long long)mid_txn[i]);
	free(held);
}

/*
 * A commit whose first new index node is the first block of a refcount
 * range nothing has used yet: applying that node's own count creates the
 * range's refcount block, and the index insert that records it shadows
 * the node itself, whose count must read 1 throughout.
 */
static void test_commit_opens_new_range(void **state)
{
	u32 *held = calloc(NR_META, sizeof(*held));
	u64 b;

	start("new range", 0x5a0005);
	check(held, "calloc");
	commit();
	held[0] = held[1] = 1;
	/* Use every block of the first range but its last. */
	while (msm.alloc_hint < PER_BLOCK - 1) {
		check_ok(dmrow_sm_alloc(&msm, &b));
		held[b] = 1;
	}
	commit();
	audit_metadata(held);
	reopen();
	audit_metadata(held);
	/* And again with the next range. */
	while (msm.alloc_hint < 2 * PER_BLOCK - 1) {
		check_ok(dmrow_sm_alloc(&msm, &b));
		held[b] = 1;
	}
	commit();
	audit_metadata(held);
	free(held);
}

/* Counts survive commit and a cold reopen from the descriptions. */
static void test_reopen(void **state)
{
	u32 *dexp = calloc(NR_DATA, sizeof(*dexp)), *mheld = calloc(NR_META, sizeof(*mheld));
	u64 b, freed;
	unsigned int i;

	start("reopen", 0x5a0006);
	check(dexp && mheld, "calloc");
	mheld[0] = mheld[1] = 1;
	for (i = 0; i < 5000; i++) {
		b = rnd_below(NR_DATA);
		check_ok(dmrow_sm_inc(&dsm, b));
		dexp[b]++;
	}
	for (i = 0; i < 300; i++) {
		check_ok(dmrow_sm_alloc(&msm, &b));
		mheld[b] = 1 + rnd_below(3);
		while (count_of(&msm, b) < mheld[b])
			check_ok(dmrow_sm_inc(&msm, b));
	}
	verify_counts(&dsm, dexp, true);
	reopen();
	verify_counts(&dsm, dexp, true);
	audit_metadata(mheld);

	/* After a reopen, the committed state still protects freed blocks. */
	phase = "committed state after reopen";
	for (freed = 0; !dexp[freed]; freed++)
		;
	while (dexp[freed]) {
		check_ok(dmrow_sm_dec(&dsm, freed));
		dexp[freed]--;
	}
	for (;;) {
		int r = dmrow_sm_alloc(&dsm, &b);

		if (r == -ENOSPC)
			break;
		check(!r && b != freed, "alloc %d gave %llu", r, (unsigned long long)b);
		dexp[b] = 1;
	}
	verify_counts(&dsm, dexp, true);
	reopen();
	verify_counts(&dsm, dexp, true);
	check_ok(dmrow_sm_alloc(&dsm, &b));
	check(b == freed, "after commit allocated %llu", (unsigned long long)b);
	free(dexp);
	free(mheld);
}

/*
 * Random operations on the data map against a model of its counts now and
 * in the committed state.
 */
static void random_data(bool no_reuse, unsigned int nr_ops)
{
	u32 *cur = calloc(NR_DATA, sizeof(u32)), *committed = calloc(NR_DATA, sizeof(u32));
	u8 *touched = calloc(NR_DATA, 1), *freed = calloc(NR_DATA, 1);
	unsigned int op, i, nr_enospc = 0, nr_eagain = 0, nr_commits = 0;
	u64 b;
	int r;

	check(cur && committed && touched && freed, "calloc");
	dsm.no_reuse_in_txn = no_reuse;
	commit();
	for (op = 0; op < nr_ops; op++) {
		unsigned int dice = rnd_below(1000);

		if (dice < 450) {
			r = dmrow_sm_alloc(&dsm, &b);
			if (!r) {
				check(b < NR_DATA && !cur[b] && !committed[b],
				      "op %u: allocated block %llu, count %u, committed %u", op,
				      (unsigned long long)b, cur[b], committed[b]);
				check(!(no_reuse && freed[b]),
				      "op %u: block %llu freed in this transaction handed out",
				      op, (unsigned long long)b);
				cur[b] = 1;
				touched[b] = 1;
				continue;
			}
			for (b = 0; b < NR_DATA; b++) {
				bool free_both = !cur[b] && !committed[b];

				if (r == -ENOSPC)
					check(no_reuse ? cur[b] : !free_both,
					      "op %u: -ENOSPC, but block %llu is free", op,
					      (unsigned long long)b);
				else
					check(r == -EAGAIN && no_reuse && (!free_both || touched[b]),
					      "op %u: alloc returned %d, block %llu free and "
					      "untouched in this transaction", op, r,
					      (unsigned long long)b);
			}
			if (r == -ENOSPC) {
				nr_enospc++;
				continue;
			}
			nr_eagain++;
			/* What the pool does: commit and try again. */
			check(dsm.nr_allocated < NR_DATA, "-EAGAIN on a full map");
			commit();
			memcpy(committed, cur, NR_DATA * sizeof(u32));
			memset(touched, 0, NR_DATA);
			memset(freed, 0, NR_DATA);
			r = dmrow_sm_alloc(&dsm, &b);
			check(!r && !cur[b], "op %u: alloc after commit returned %d", op, r);
			cur[b] = 1;
			touched[b] = 1;
		} else if (dice >= 785 && dice < 800) {
			/*
			 * Drop the references a batch of overwritten mappings
			 * held at once: sorted, with repeats up to each
			 * block's count; what reaches zero is reported freed.
			 */
			u64 batch[40], gone[40];
			u32 *left = calloc(NR_DATA, sizeof(u32));
			unsigned int n = 0, nr_gone, j, want = 1 + rnd_below(40);

			memcpy(left, cur, NR_DATA * sizeof(u32));
			b = rnd_below(NR_DATA);
			for (i = 0; i < 4 * NR_DATA && n < want; i++) {
				if (left[b]) {
					left[b]--;
					batch[n++] = b;
				}
				b = rnd_below(3) ? (b + 1) % NR_DATA : rnd_below(NR_DATA);
			}
			qsort(batch, n, sizeof(*batch), cmp_u64);
			check_ok(dmrow_sm_dec_blocks(&dsm, batch, n, gone, &nr_gone));
			for (i = 0, j = 0; i < n; i++) {
				if (--cur[batch[i]])
					continue;
				touched[batch[i]] = freed[batch[i]] = 1;
				check(j < nr_gone && gone[j] == batch[i],
				      "op %u: block %llu freed, not reported", op,
				      (unsigned long long)batch[i]);
				j++;
			}
			check(j == nr_gone, "op %u: %u blocks reported freed, %u were", op,
			      nr_gone, j);
			free(left);
		} else if (dice < 800) {
			/* Drop a reference to a block in use. */
			for (i = 0, b = rnd_below(NR_DATA); i < NR_DATA && !cur[b]; i++)
				b = (b + 1) % NR_DATA;
			if (!cur[b])
				continue;
			check_ok(dmrow_sm_dec(&dsm, b));
			if (!--cur[b])
				touched[b] = freed[b] = 1;
		} else if (dice < 900) {
			/* Share a block in use. */
			b = rnd_below(NR_DATA);
			if (!cur[b])
				continue;
			check_ok(dmrow_sm_inc(&dsm, b));
			cur[b]++;
		} else if (dice < 930) {
			/*
			 * Share the blocks of a copied leaf at once: in use,
			 * mostly neighbours, across range boundaries, with
			 * repeats.
			 */
			u64 leaf[40];
			unsigned int n = 0, want = 1 + rnd_below(40);

			b = rnd_below(NR_DATA);
			for (i = 0; i < 4 * NR_DATA && n < want; i++) {
				if (cur[b])
					leaf[n++] = b;
				b = rnd_below(4) ? (b + 1) % NR_DATA : rnd_below(NR_DATA);
			}
			check_ok(dmrow_sm_inc_blocks(&dsm, leaf, n));
			for (i = 0; i < n; i++)
				cur[leaf[i]]++;
		} else if (dice < 945) {
			b = rnd_below(NR_DATA);
			if (cur[b])
				continue;
			check(dmrow_sm_dec(&dsm, b) == -EILSEQ, "op %u: dec of free block %llu",
			      op, (unsigned long long)b);
		} else if (dice < 985) {
			commit();
			nr_commits++;
			memcpy(committed, cur, NR_DATA * sizeof(u32));
			memset(touched, 0, NR_DATA);
			memset(freed, 0, NR_DATA);
			if (dice == 945)
				audit_metadata(NULL);
		} else if (dice < 987) {
			reopen();
			memcpy(committed, cur, NR_DATA * sizeof(u32));
			memset(touched, 0, NR_DATA);
			memset(freed, 0, NR_DATA);
		} else if (dice < 989) {
			verify_counts(&dsm, cur, true);
		}
	}
	print_message("%u ops: %u commits, %u -ENOSPC, %u -EAGAIN\n", nr_ops, nr_commits,
		      nr_enospc, nr_eagain);
	check(nr_enospc + nr_eagain > 0, "the map never filled up");
	verify_counts(&dsm, cur, true);
	reopen();
	verify_counts(&dsm, cur, true);
	audit_metadata(NULL);
	free(cur);
	free(committed);
	free(touched);
	free(freed);
}

static void test_random_data(void **state)
{
	start("random data", 0x5a0007);
	random_data(false, 60000);
}

static void test_random_data_no_reuse(void **state)
{
	start("random data no reuse", 0x5a0008);
	random_data(true, 60000);
}

/*
 * Random operations on the metadata map: counts the test holds, against a
 * model, while the map's own blocks move at every commit.  An allocation
 * must avoid what the test holds now or held at the last commit and the
 * map's own committed blocks; a commit must allocate only blocks that
 * were free in the committed state.
 */
static void test_random_metadata(void **state)
{
	u32 *cur = calloc(NR_META, sizeof(u32)), *committed = calloc(NR_META, sizeof(u32));
	u32 *expect = calloc(NR_META, sizeof(u32));
	u8 *own = calloc(NR_META, 1), *own_new = calloc(NR_META, 1);
	unsigned int op, i, nr_held = 2, nr_commits = 0;
	u64 b;
	int r;

	start("random metadata", 0x5a0009);
	check(cur && committed && expect && own && own_new, "calloc");
	cur[0] = cur[1] = 1;
	commit();
	memcpy(committed, cur, NR_META * sizeof(u32));
	own_blocks(&msm, own);
	for (op = 0; op < 60000; op++) {
		unsigned int dice = rnd_below(1000);

		if (dice < 420) {
			unsigned int free_both = 0;

			/* Keep room for the map's own blocks at commit. */
			for (b = 0; b < NR_META; b++)
				free_both += !cur[b] && !committed[b] && !own[b];
			if (free_both < 32)
				continue;
			r = dmrow_sm_alloc(&msm, &b);
			check(!r, "op %u: alloc returned %d", op, r);
			check(!cur[b] && !committed[b] && !own[b],
			      "op %u: allocated block %llu: count %u, committed %u, own %u", op,
			      (unsigned long long)b, cur[b], committed[b], own[b]);
			cur[b] = 1;
			nr_held++;
		} else if (dice < 800) {
			for (i = 0, b = 2 + rnd_below(NR_META - 2); i < NR_META && !cur[b]; i++)
				b = 2 + (b - 1) % (NR_META - 2);
			if (!cur[b] || b < 2)
				continue;
			check_ok(dmrow_sm_dec(&msm, b));
			nr_held -= !--cur[b];
		} else if (dice < 900) {
			b = rnd_below(NR_META);
			if (!cur[b])
				continue;
			check_ok(dmrow_sm_inc(&msm, b));
			cur[b]++;
		} else if (dice < 910) {
			b = rnd_below(NR_META);
			if (cur[b] || own[b])
				continue;
			check(dmrow_sm_dec(&msm, b) == -EILSEQ, "op %u: dec of free block %llu",
			      op, (unsigned long long)b);
		} else if (dice < 925) {
			if (dice < 922) {
				commit();
			} else {
				phase = "random metadata reopen";
				reopen();
				phase = "random metadata";
			}
			nr_commits++;
			memset(own_new, 0, NR_META);
			own_blocks(&msm, own_new);
			own_blocks(&dsm, own_new);
			for (b = 0; b < NR_META; b++) {
				check(own_new[b] <= 1 && !(own_new[b] && cur[b]),
				      "op %u: block %llu own %u held %u", op,
				      (unsigned long long)b, own_new[b], cur[b]);
				check(!own_new[b] || own[b] || !committed[b],
				      "op %u: commit took block %llu the committed state holds",
				      op, (unsigned long long)b);
				expect[b] = cur[b] + own_new[b];
			}
			verify_counts(&msm, expect, true);
			memcpy(committed, cur, NR_META * sizeof(u32));
			memcpy(own, own_new, NR_META);
		} else if (dice < 930) {
			/* In the open transaction: tree counts plus pending deltas. */
			for (b = 0; b < NR_META; b++)
				expect[b] = cur[b] + own[b];
			verify_counts(&msm, expect, false);
		}
	}
	print_message("60000 ops, %u commits, %u blocks held at the end\n", nr_commits,
		      nr_held);
	free(cur);
	free(committed);
	free(expect);
	free(own);
	free(own_new);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_basic_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_full_and_freed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_no_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_opens_new_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_data_no_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_metadata, setup, teardown),
	};

	return cmocka_run_group_tests_name("space_map", tests, NULL, NULL);
}
