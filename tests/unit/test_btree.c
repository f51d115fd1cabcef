// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the copy-on-write B+tree (core/dm-row-btree.c).
 *
 * The tree runs on a real transaction manager and deferred metadata space
 * map over a file-backed block cache, wired as the metadata layer wires
 * them, with commits (space map commit, flush, committed, txn + 1) between
 * phases so that committed nodes get shadowed.  The model is a sorted
 * array: a fixed random "universe" of keys, each present with a value or
 * absent.  Values are unique ids whose holders are counted through the
 * value type's inc/dec callbacks; audit() recounts, from the trees alone,
 * what every metadata block's reference count and every value's holder
 * count must be and compares them with the space map and the callbacks.
 *
 * Every test has a fixed seed, printed on failure; DMROW_TEST_SEED=<n>
 * replaces it to explore others.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <unistd.h>

#include <linux/crc32c.h>
#include <dm-row/ondisk.h>
#include "dm-row-btree.h"
#include "dm-row-space-map.h"
#include "dm-row-transaction.h"
#include "../../userspace/compat/public/block-cache.h"

#define TEST_NAME "btree"
#include "test_helpers.h"

#define NR_BLOCKS	16384		/* metadata blocks in the temp file */
#define CACHE_BLOCKS	4096
#define NR_UNIVERSE	150000		/* candidate keys */
#define NR_KEYS		100000		/* enough for a tree of height 3 */
#define MAX_IDS		(1U << 21)
#define ABSENT		(~0ULL)
#define LEAF_MAX	((DMROW_METADATA_BLOCK_SIZE - sizeof(struct row_disk_btree_node)) / 16)

static int meta_fd = -1;
static struct dmrow_bm *bm;
static struct dmrow_tm tm;
static struct dmrow_sm sm;
static struct row_disk_space_map committed_sm;	/* what a superblock would hold */
static struct dmrow_btree_info info;

static u64 ukeys[NR_UNIVERSE];	/* sorted */
static int *refs;		/* holders of each value id, per the callbacks */
static u64 next_id;
static u64 nr_inc, nr_dec;
static u64 *dec_log;		/* ids passed to dec, when logging */
static u64 nr_dec_log;

/*----------------------------------------------------------------
 * Fixture: block cache, transaction manager, metadata space map
 *--------------------------------------------------------------*/

static int value_inc(void *context, const void *value)
{
	__le64 le;
	u64 id;

	memcpy(&le, value, sizeof(le));
	id = le64_to_cpu(le);
	check(id < next_id, "inc of unknown value %llu", (unsigned long long)id);
	refs[id]++;
	nr_inc++;
	return 0;
}

static int value_dec(void *context, const void *value)
{
	__le64 le;
	u64 id;

	memcpy(&le, value, sizeof(le));
	id = le64_to_cpu(le);
	check(id < next_id, "dec of unknown value %llu", (unsigned long long)id);
	check(refs[id] > 0, "dec of value %llu that nothing holds", (unsigned long long)id);
	refs[id]--;
	nr_dec++;
	if (dec_log)
		dec_log[nr_dec_log++] = id;
	return 0;
}

static void open_cache(void)
{
	bm = dmrow_bm_open_fd(meta_fd, NR_BLOCKS, CACHE_BLOCKS, false);
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

static int setup(void **state)
{
	char path[64];

	/* tmpfs if there is one: every commit flushes, fdatasync is cheap there. */
	strcpy(path, "/dev/shm/dm-row-btree.XXXXXX");
	meta_fd = mkstemp(path);
	if (meta_fd < 0) {
		strcpy(path, "/tmp/dm-row-btree.XXXXXX");
		meta_fd = mkstemp(path);
	}
	if (meta_fd < 0)
		return -1;
	unlink(path);
	if (ftruncate(meta_fd, (off_t)NR_BLOCKS * DMROW_METADATA_BLOCK_SIZE))
		return -1;
	bm = dmrow_bm_open_fd(meta_fd, NR_BLOCKS, CACHE_BLOCKS, false);
	if (!bm)
		return -1;
	tm.bm = bm;
	tm.metadata_sm = &sm;
	tm.txn = 1;
	if (dmrow_sm_init(&sm, &tm, true, NULL, NR_BLOCKS))
		return -1;
	/* What the superblock slots are to the metadata layer. */
	if (dmrow_sm_inc(&sm, 0) || dmrow_sm_inc(&sm, 1))
		return -1;

	memset(&info, 0, sizeof(info));
	info.tm = &tm;
	info.vt.size = sizeof(__le64);
	info.vt.inc = value_inc;
	info.vt.dec = value_dec;

	refs = calloc(MAX_IDS, sizeof(*refs));
	if (!refs)
		return -1;
	next_id = 0;
	nr_inc = nr_dec = 0;
	dec_log = NULL;
	return 0;
}

static int teardown(void **state)
{
	dmrow_sm_exit(&sm);
	if (bm)
		dmrow_bm_destroy(bm);
	bm = NULL;
	close(meta_fd);
	free(refs);
	free(dec_log);
	dec_log = NULL;
	return 0;
}

/* What a metadata commit does for the trees: counts, flush, new transaction. */
static void commit(void)
{
	check_ok(dmrow_sm_commit(&sm));
	dmrow_sm_to_disk(&sm, &committed_sm);
	check_ok(dmrow_bm_flush(bm));
	dmrow_sm_committed(&sm);
	tm.txn++;
}

/* Drop the open transaction: unwritten blocks and deferred counts. */
static void abort_txn(void)
{
	close_cache();
	open_cache();
	dmrow_sm_exit(&sm);
	check_ok(dmrow_sm_init(&sm, &tm, true, &committed_sm, 0));
}

/* Commit, then start again from an empty cache: every later read hits the file. */
static void reopen_cold(void)
{
	commit();
	close_cache();
	open_cache();
}

/*----------------------------------------------------------------
 * The model
 *--------------------------------------------------------------*/

/* A sorted universe of distinct random keys, with both extremes in it. */
static void make_universe(void)
{
	unsigned int i;

	ukeys[0] = 0;
	ukeys[1] = U64_MAX;
	for (i = 2; i < NR_UNIVERSE; i++)
		ukeys[i] = rnd() >> (rnd() & 31);	/* dense and sparse regions */
	qsort(ukeys, NR_UNIVERSE, sizeof(u64), cmp_u64);
	for (i = 1; i < NR_UNIVERSE; i++) {
		if (ukeys[i] == ukeys[i - 1]) {
			/* Rare: make it unique by nudging it into a gap. */
			check(ukeys[i] < U64_MAX, "duplicate at the top");
			ukeys[i] = ukeys[i - 1] + 1;
		}
		check(ukeys[i] > ukeys[i - 1], "universe not strictly sorted at %u", i);
	}
}

static u64 *model_new(void)
{
	u64 *m = malloc(NR_UNIVERSE * sizeof(*m));
	unsigned int i;

	check(m, "malloc");
	for (i = 0; i < NR_UNIVERSE; i++)
		m[i] = ABSENT;
	return m;
}

static u64 *model_dup(const u64 *m)
{
	u64 *c = malloc(NR_UNIVERSE * sizeof(*c));

	check(c, "malloc");
	memcpy(c, m, NR_UNIVERSE * sizeof(*c));
	return c;
}

static unsigned int model_count(const u64 *m)
{
	unsigned int i, n = 0;

	for (i = 0; i < NR_UNIVERSE; i++)
		n += m[i] != ABSENT;
	return n;
}

/* Index of the first universe key >= key (NR_UNIVERSE if none). */
static unsigned int universe_lower(u64 key)
{
	unsigned int lo = 0, hi = NR_UNIVERSE;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (ukeys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static u64 value_of(const void *value)
{
	__le64 le;

	memcpy(&le, value, sizeof(le));
	return le64_to_cpu(le);
}

/* Insert or overwrite universe key @idx with a fresh value, in tree and model. */
static void t_insert(u64 *root, u64 *m, unsigned int idx)
{
	__le64 v, old = 0;
	bool replaced;
	u64 id = next_id++;

	check(id < MAX_IDS, "out of value ids");
	v = cpu_to_le64(id);
	check_ok(dmrow_btree_insert(&info, *root, ukeys[idx], &v, root, &old, &replaced));
	check(replaced == (m[idx] != ABSENT), "key %llu: replaced=%d, model has %s",
	      (unsigned long long)ukeys[idx], replaced, m[idx] != ABSENT ? "it" : "none");
	if (replaced) {
		check(le64_to_cpu(old) == m[idx], "key %llu: overwrote %llu, model %llu",
		      (unsigned long long)ukeys[idx], (unsigned long long)le64_to_cpu(old),
		      (unsigned long long)m[idx]);
		refs[m[idx]]--;		/* the caller drops what the tree held */
	}
	refs[id]++;
	m[idx] = id;
}

/*
 * Insert or overwrite a run of universe keys from @idx on (within @window),
 * ascending with gaps, a key sometimes repeated, through
 * dmrow_btree_insert_run() called until the run is in: each call takes at
 * least one, stops at a repeat, and says what each entry replaced.
 */
static void t_insert_run(u64 *root, u64 *m, unsigned int idx, unsigned int window)
{
	unsigned int nr = 1 + rnd_below(300), n = 0, i, done, at;
	static unsigned int idxs[300];
	static u64 keys[300];
	static __le64 values[300], olds[300];
	static bool replaced[300];

	for (i = idx; n < nr && i < window; i += 1 + (rnd_below(4) ? 0 : rnd_below(20))) {
		idxs[n] = i;
		if (n && !rnd_below(50))
			idxs[n] = idxs[n - 1];		/* a repeat: must wait a call */
		keys[n] = ukeys[idxs[n]];
		check(next_id < MAX_IDS, "out of value ids");
		values[n] = cpu_to_le64(next_id++);
		n++;
	}
	for (at = 0; at < n; at += done) {
		check_ok(dmrow_btree_insert_run(&info, *root, keys + at, values + at, n - at, root,
						olds + at, replaced + at, &done));
		check(done >= 1 && done <= n - at, "run of %u at %u: %u done", n - at, at, done);
		for (i = at; i < at + done; i++) {
			u64 id = le64_to_cpu(values[i]), was = m[idxs[i]];

			check(i == at || keys[i] > keys[i - 1], "key %llu out of order in a call",
			      (unsigned long long)keys[i]);
			check(replaced[i] == (was != ABSENT), "run key %llu: replaced=%d",
			      (unsigned long long)keys[i], replaced[i]);
			if (replaced[i]) {
				check(le64_to_cpu(olds[i]) == was, "run key %llu: overwrote %llu, model %llu",
				      (unsigned long long)keys[i],
				      (unsigned long long)le64_to_cpu(olds[i]),
				      (unsigned long long)was);
				refs[was]--;
			}
			refs[id]++;
			m[idxs[i]] = id;
		}
	}
}

static void t_remove(u64 *root, u64 *m, unsigned int idx)
{
	__le64 old = 0;
	u64 before = *root;
	int r = dmrow_btree_remove(&info, *root, ukeys[idx], root, &old);

	if (m[idx] == ABSENT) {
		check(r == -ENODATA, "remove of absent key %llu returned %d",
		      (unsigned long long)ukeys[idx], r);
		check(*root == before, "failed remove moved the root");
		return;
	}
	check(r == 0, "remove of key %llu returned %d", (unsigned long long)ukeys[idx], r);
	check(le64_to_cpu(old) == m[idx], "key %llu: removed %llu, model %llu",
	      (unsigned long long)ukeys[idx], (unsigned long long)le64_to_cpu(old),
	      (unsigned long long)m[idx]);
	refs[m[idx]]--;
	m[idx] = ABSENT;
}

/* Insert @nr random absent keys, in random order, committing every @every. */
static void build_random(u64 *root, u64 *m, unsigned int nr, unsigned int every)
{
	unsigned int *perm = malloc(NR_UNIVERSE * sizeof(*perm));
	unsigned int i, done = 0;

	check(perm, "malloc");
	if (!every)
		every = ~0U;
	for (i = 0; i < NR_UNIVERSE; i++)
		perm[i] = i;
	for (i = NR_UNIVERSE - 1; i > 0; i--) {
		unsigned int j = rnd_below(i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < NR_UNIVERSE && done < nr; i++) {
		if (m[perm[i]] != ABSENT)
			continue;
		t_insert(root, m, perm[i]);
		if (++done % every == 0)
			commit();
	}
	free(perm);
}

/*----------------------------------------------------------------
 * Checking a tree against the model
 *--------------------------------------------------------------*/

struct walk_ctx {
	const u64 *m;
	unsigned int idx;	/* next universe index expected */
	u64 nr;
};

static int walk_fn(void *context, u64 key, const void *value)
{
	struct walk_ctx *w = context;

	while (w->idx < NR_UNIVERSE && w->m[w->idx] == ABSENT)
		w->idx++;
	check(w->idx < NR_UNIVERSE, "walk: key %llu beyond the model's last",
	      (unsigned long long)key);
	/* cppcheck-suppress arrayIndexOutOfBoundsCond ; the check above stops at the end */
	check(key == ukeys[w->idx] && value_of(value) == w->m[w->idx],
	      "walk: got key %llu value %llu, model key %llu value %llu",
	      (unsigned long long)key, (unsigned long long)value_of(value),
	      (unsigned long long)ukeys[w->idx], (unsigned long long)w->m[w->idx]);
	w->idx++;
	w->nr++;
	return 0;
}

/* Lookups of every universe key and of keys between them; a walk; a check. */
static void verify_tree(u64 root, const u64 *m)
{
	struct dmrow_btree_stats stats;
	struct walk_ctx w = { .m = m };
	unsigned int i, nr = model_count(m);
	__le64 v;
	int r;

	for (i = 0; i < NR_UNIVERSE; i++) {
		r = dmrow_btree_lookup(&info, root, ukeys[i], &v);
		if (m[i] == ABSENT) {
			check(r == -ENODATA, "lookup of absent key %llu returned %d",
			      (unsigned long long)ukeys[i], r);
		} else {
			check(r == 0, "lookup of key %llu returned %d",
			      (unsigned long long)ukeys[i], r);
			check(le64_to_cpu(v) == m[i], "key %llu: value %llu, model %llu",
			      (unsigned long long)ukeys[i], (unsigned long long)le64_to_cpu(v),
			      (unsigned long long)m[i]);
		}
		if (i + 1 < NR_UNIVERSE && ukeys[i + 1] != ukeys[i] + 1) {
			r = dmrow_btree_lookup(&info, root, ukeys[i] + 1, &v);
			check(r == -ENODATA, "lookup of non-key %llu returned %d",
			      (unsigned long long)ukeys[i] + 1, r);
		}
	}
	check_ok(dmrow_btree_walk(&info, root, walk_fn, &w));
	check(w.nr == nr, "walk saw %llu entries, model has %u", (unsigned long long)w.nr, nr);
	check_ok(dmrow_btree_check(&info, root, NULL, NULL, &stats));
	check(stats.nr_entries == nr, "check counted %llu entries, model has %u",
	      (unsigned long long)stats.nr_entries, nr);
	check(!root == !nr, "root %llu for %u entries", (unsigned long long)root, nr);
}

/*----------------------------------------------------------------
 * Reading nodes directly, for the audit and for corruption
 *--------------------------------------------------------------*/

static u32 raw_nr(const struct row_disk_btree_node *n)
{
	return le32_to_cpu(n->nr_entries);
}

static bool raw_leaf(const struct row_disk_btree_node *n)
{
	return le32_to_cpu(n->hdr.flags) & DMROW_BTREE_LEAF;
}

static u64 raw_key(const struct row_disk_btree_node *n, u32 i)
{
	return le64_to_cpu(n->keys[i]);
}

/* Values follow the max_entries keys. */
static u64 raw_value(const struct row_disk_btree_node *n, u32 i)
{
	const u8 *p = (const u8 *)&n->keys[le32_to_cpu(n->max_entries)] +
		      i * le32_to_cpu(n->value_size);
	__le64 le;

	memcpy(&le, p, sizeof(le));
	return le64_to_cpu(le);
}

static const struct row_disk_btree_node *raw_read(u64 b, struct dmrow_block **blk)
{
	check_ok(dmrow_bm_read_lock(bm, b, &dmrow_btree_validator, blk));
	return dmrow_block_data(*blk);
}

/*
 * The leaf that holds (or would hold) @key, how many entries it has and
 * the key its parent files it under.
 */
static u64 leaf_bound_of(u64 root, u64 key, u32 *nr, u64 *bound)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	u64 b = root;

	for (;;) {
		u32 i;

		n = raw_read(b, &blk);
		if (raw_leaf(n)) {
			*nr = raw_nr(n);
			dmrow_bm_unlock(blk);
			return b;
		}
		for (i = 1; i < raw_nr(n) && raw_key(n, i) <= key; i++)
			;
		b = raw_value(n, i - 1);
		*bound = raw_key(n, i - 1);
		dmrow_bm_unlock(blk);
	}
}

static u64 leaf_of(u64 root, u64 key, u32 *nr)
{
	u64 bound = 0;

	return leaf_bound_of(root, key, nr, &bound);
}

/* The children of internal node @b. */
static u32 children_of(u64 b, u64 *child, u32 max)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	u32 i, nr;

	n = raw_read(b, &blk);
	check(!raw_leaf(n), "node %llu is a leaf", (unsigned long long)b);
	nr = raw_nr(n);
	check(nr <= max, "node %llu has %u children", (unsigned long long)b, nr);
	for (i = 0; i < nr; i++)
		child[i] = raw_value(n, i);
	dmrow_bm_unlock(blk);
	return nr;
}

struct audit {
	u32 *expect;		/* per metadata block */
	u8 *seen;		/* node visited */
	u32 *holders;		/* per value id: distinct leaves holding it */
	u64 nr_nodes;
};

static void audit_node(struct audit *a, u64 b)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	u32 i;

	check(b < NR_BLOCKS, "node %llu beyond the device", (unsigned long long)b);
	if (a->seen[b])
		return;
	a->seen[b] = 1;
	a->nr_nodes++;
	n = raw_read(b, &blk);
	for (i = 0; i < raw_nr(n); i++) {
		u64 x = raw_value(n, i);

		if (raw_leaf(n)) {
			check(x < next_id, "leaf %llu holds unknown value %llu",
			      (unsigned long long)b, (unsigned long long)x);
			a->holders[x]++;
		} else {
			a->expect[x]++;
			audit_node(a, x);
		}
	}
	dmrow_bm_unlock(blk);
}

static int audit_sm_node(void *context, u64 b)
{
	struct audit *a = context;

	a->expect[b]++;
	return 0;
}

static int audit_sm_entry(void *context, u64 key, const void *value)
{
	const struct row_disk_sm_index_entry *e = value;
	struct audit *a = context;

	a->expect[le64_to_cpu(e->blocknr)]++;
	return 0;
}

/*
 * The whole reference picture, recounted from scratch: the two reserved
 * blocks, the space map's own index nodes and refcount blocks, and every
 * node of the given trees (a root once per holder, any other node once per
 * distinct parent) must have exactly the count the space map reports, and
 * nothing else may be allocated; each value must have as many holders, per
 * the callbacks, as there are distinct leaves holding it.
 */
static void audit(const u64 *roots, unsigned int nr_roots)
{
	struct audit a;
	struct dmrow_btree_stats stats;
	u64 b, id, nr_allocated = 0;
	unsigned int i;
	u32 count;

	a.expect = calloc(NR_BLOCKS, sizeof(*a.expect));
	a.seen = calloc(NR_BLOCKS, 1);
	a.holders = calloc(next_id + 1, sizeof(*a.holders));
	a.nr_nodes = 0;
	check(a.expect && a.seen && a.holders, "calloc");

	a.expect[0]++;
	a.expect[1]++;
	check_ok(dmrow_btree_check(&sm.index_info, sm.index_root, audit_sm_node, &a, &stats));
	check_ok(dmrow_btree_walk(&sm.index_info, sm.index_root, audit_sm_entry, &a));
	for (i = 0; i < nr_roots; i++) {
		if (!roots[i])
			continue;
		a.expect[roots[i]]++;
		audit_node(&a, roots[i]);
	}

	for (b = 0; b < NR_BLOCKS; b++) {
		check_ok(dmrow_sm_get_count(&sm, b, &count));
		check(count == a.expect[b], "metadata block %llu: count %u, expected %u",
		      (unsigned long long)b, count, a.expect[b]);
		nr_allocated += !!count;
	}
	check(sm.nr_allocated == nr_allocated, "space map says %llu allocated, counts say %llu",
	      (unsigned long long)sm.nr_allocated, (unsigned long long)nr_allocated);
	for (id = 0; id < next_id; id++)
		check(refs[id] == (int)a.holders[id],
		      "value %llu: %d holders per the callbacks, %u leaves hold it",
		      (unsigned long long)id, refs[id], a.holders[id]);
	free(a.expect);
	free(a.seen);
	free(a.holders);
}

/*----------------------------------------------------------------
 * Tests
 *--------------------------------------------------------------*/

static int count_fn(void *context, u64 key, const void *value)
{
	(*(u64 *)context)++;
	return 0;
}

/* The empty tree is root 0; one entry makes a leaf root, removing it ends it. */
static void test_empty_and_single(void **state)
{
	struct dmrow_btree_stats stats;
	u64 root = 0, n = 0, found, allocated;
	__le64 v = cpu_to_le64(7), out;

	start("empty", 0x5eed0001);
	check(dmrow_btree_lookup(&info, 0, 42, &out) == -ENODATA, "lookup in empty tree");
	check(dmrow_btree_lookup_next(&info, 0, 0, &found, &out) == -ENODATA,
	      "lookup_next in empty tree");
	check_ok(dmrow_btree_walk(&info, 0, count_fn, &n));
	check(!n, "walk of empty tree visited %llu", (unsigned long long)n);
	check_ok(dmrow_btree_check(&info, 0, NULL, NULL, &stats));
	check(!stats.nr_entries && !stats.nr_nodes && !stats.height, "stats of empty tree");
	check_ok(dmrow_btree_del(&info, 0));
	check(dmrow_btree_remove(&info, 0, 42, &root, &out) == -ENODATA, "remove from empty tree");

	commit();
	allocated = sm.nr_allocated;
	next_id = 8;
	refs[7] = 1;
	check_ok(dmrow_btree_insert(&info, 0, 42, &v, &root, NULL, NULL));
	check(root >= 2, "new root at %llu", (unsigned long long)root);
	check(sm.nr_allocated == allocated + 1, "one node allocated");
	check_ok(dmrow_btree_check(&info, root, NULL, NULL, &stats));
	check(stats.height == 1 && stats.nr_entries == 1 && stats.nr_nodes == 1,
	      "single leaf: height %u entries %llu nodes %llu", stats.height,
	      (unsigned long long)stats.nr_entries, (unsigned long long)stats.nr_nodes);
	check(dmrow_btree_lookup(&info, root, 41, &out) == -ENODATA, "key below");
	check(dmrow_btree_lookup(&info, root, 43, &out) == -ENODATA, "key above");
	check_ok(dmrow_btree_lookup_next(&info, root, 0, &found, &out));
	check(found == 42 && le64_to_cpu(out) == 7, "lookup_next found %llu",
	      (unsigned long long)found);
	check(dmrow_btree_lookup_next(&info, root, 43, &found, &out) == -ENODATA,
	      "lookup_next past the end");
	check(dmrow_btree_diff(&info, root, root, NULL, NULL) == 0, "diff with itself");

	check_ok(dmrow_btree_remove(&info, root, 42, &root, &out));
	check(!root && le64_to_cpu(out) == 7, "last remove: root %llu", (unsigned long long)root);
	refs[7]--;
	check(sm.nr_allocated == allocated, "the leaf was freed");
	commit();
	audit(NULL, 0);
}

/* 100,000 random keys: height 3; overwrites, more inserts, removes. */
static void test_insert_overwrite_remove(void **state)
{
	struct dmrow_btree_stats stats;
	u64 root = 0, *m;
	unsigned int i;

	start("build", 0x5eed0002);
	make_universe();
	m = model_new();
	build_random(&root, m, NR_KEYS, 20000);
	verify_tree(root, m);
	check_ok(dmrow_btree_check(&info, root, NULL, NULL, &stats));
	check(stats.height == 3, "height %u for %d keys", stats.height, NR_KEYS);
	check(stats.nr_entries == NR_KEYS, "entries %llu", (unsigned long long)stats.nr_entries);
	audit(&root, 1);

	phase = "overwrite";
	for (i = 0; i < 20000; i++) {
		unsigned int idx = rnd_below(NR_UNIVERSE);

		while (m[idx] == ABSENT)
			idx = (idx + 1) % NR_UNIVERSE;
		t_insert(&root, m, idx);
		if (i % 5000 == 4999)
			commit();
	}
	verify_tree(root, m);
	audit(&root, 1);

	phase = "mixed";
	for (i = 0; i < 60000; i++) {
		unsigned int idx = rnd_below(NR_UNIVERSE);

		if (rnd() % 3)
			t_remove(&root, m, idx);
		else
			t_insert(&root, m, idx);
		if (i % 7000 == 6999)
			commit();
	}
	verify_tree(root, m);
	audit(&root, 1);
	commit();
	audit(&root, 1);
	verify_tree(root, m);
	free(m);
}

/* Ascending inserts fill rightmost leaves; descending ones lower key[0]. */
static void test_ordered_inserts(void **state)
{
	u64 up = 0, down = 0, *mu, *md, roots[2];
	unsigned int i, n = 60000;

	start("ordered", 0x5eed0003);
	make_universe();
	mu = model_new();
	md = model_new();
	for (i = 0; i < n; i++) {
		t_insert(&up, mu, i);
		t_insert(&down, md, n - 1 - i);
		if (i % 15000 == 14999)
			commit();
	}
	verify_tree(up, mu);
	verify_tree(down, md);
	roots[0] = up;
	roots[1] = down;
	audit(roots, 2);
	phase = "ordered removes";
	for (i = 0; i < n; i += 2) {
		t_remove(&up, mu, i);
		t_remove(&down, md, n - 1 - i);
	}
	verify_tree(up, mu);
	verify_tree(down, md);
	roots[0] = up;
	roots[1] = down;
	audit(roots, 2);
	free(mu);
	free(md);
}

/* Iterating with lookup_next visits the model's keys; random probes agree. */
static void test_lookup_next(void **state)
{
	u64 root = 0, key, found, *m;
	unsigned int i, idx, seen = 0;
	__le64 v;
	int r;

	start("lookup_next", 0x5eed0004);
	make_universe();
	m = model_new();
	build_random(&root, m, NR_KEYS, 50000);
	for (i = 0; i < 20000; i++)
		t_remove(&root, m, rnd_below(NR_UNIVERSE));
	commit();

	/* Iteration from 0. */
	idx = 0;
	key = 0;
	for (;;) {
		r = dmrow_btree_lookup_next(&info, root, key, &found, &v);
		while (idx < NR_UNIVERSE && m[idx] == ABSENT)
			idx++;
		if (idx == NR_UNIVERSE) {
			check(r == -ENODATA, "iteration: %d past the model's end", r);
			break;
		}
		check(r == 0, "iteration from %llu returned %d", (unsigned long long)key, r);
		check(found == ukeys[idx] && le64_to_cpu(v) == m[idx],
		      "iteration from %llu: found %llu, model %llu",
		      (unsigned long long)key, (unsigned long long)found,
		      (unsigned long long)ukeys[idx]);
		seen++;
		idx++;
		if (found == U64_MAX)
			break;
		key = found + 1;
	}
	check(seen == model_count(m), "iteration saw %u of %u", seen, model_count(m));

	/* Probes: random keys, exact keys, neighbours, extremes. */
	for (i = 0; i < 100000; i++) {
		switch (i % 4) {
		case 0:
			key = rnd();
			break;
		case 1:
			key = ukeys[rnd_below(NR_UNIVERSE)];
			break;
		case 2:
			key = ukeys[rnd_below(NR_UNIVERSE)] + 1;
			break;
		default:
			key = i & 4 ? U64_MAX - (i & 3) : i & 7;
		}
		idx = universe_lower(key);
		while (idx < NR_UNIVERSE && m[idx] == ABSENT)
			idx++;
		r = dmrow_btree_lookup_next(&info, root, key, &found, NULL);
		if (idx == NR_UNIVERSE) {
			check(r == -ENODATA, "probe %llu: %d, model has no successor",
			      (unsigned long long)key, r);
		} else {
			check(r == 0 && found == ukeys[idx], "probe %llu: %d found %llu, model %llu",
			      (unsigned long long)key, r, (unsigned long long)found,
			      (unsigned long long)ukeys[idx]);
		}
	}
	free(m);
}

/* What a run visitor saw: keys in order from @next, values as in @ids. */
struct run_seen {
	const u64 *ids;
	u64 next;
	unsigned int count, stop_after;
};

static bool run_visit(void *context, u64 key, const void *value)
{
	struct run_seen *seen = context;

	check(key == seen->next, "run: key %llu, expected %llu", (unsigned long long)key,
	      (unsigned long long)seen->next);
	check(value_of(value) == seen->ids[key], "run: key %llu has %llu, inserted %llu",
	      (unsigned long long)key, (unsigned long long)value_of(value),
	      (unsigned long long)seen->ids[key]);
	seen->next++;
	return ++seen->count < seen->stop_after;
}

#define RUN_KEYS 4000
#define NO_STOP (~0U)

#define SPARSE_BASE	100000

/* Counts what a lookup found, and stops at once. */
static bool count_run(void *context, u64 key, const void *value)
{
	struct run_seen *seen = context;

	seen->count++;
	return false;
}

/* Runs of consecutive keys come back in order, leaf by leaf, and stop where the keys do. */
static void test_lookup_run(void **state)
{
	static u64 ids[RUN_KEYS];
	struct run_seen seen;
	unsigned int visited, total = 0, calls = 0;
	u64 root = 0, key, id;
	__le64 v;
	int r;

	start("lookup_run", 0x5eed000a);
	for (key = 0; key < RUN_KEYS; key++) {
		ids[key] = ABSENT;
		if (key == 1500 || (key >= 2200 && key < 2210))
			continue;	/* gaps */
		id = next_id++;
		check(id < MAX_IDS, "out of value ids");
		v = cpu_to_le64(id);
		check_ok(dmrow_btree_insert(&info, root, key, &v, &root, NULL, NULL));
		refs[id]++;
		ids[key] = id;
	}
	commit();

	/* From 7, leaf after leaf, up to the gap at 1500. */
	key = 7;
	for (;;) {
		seen = (struct run_seen){ .ids = ids, .next = key, .stop_after = NO_STOP };
		r = dmrow_btree_lookup_run_nonblocking(&info, root, key, 5000, run_visit, &seen,
						       &visited);
		if (r)
			break;
		check(visited >= 1 && visited == seen.count, "run from %llu: visited %u, saw %u",
		      (unsigned long long)key, visited, seen.count);
		total += visited;
		calls++;
		key += visited;
	}
	check(r == -ENODATA && key == 1500 && total == 1493,
	      "run from 7 ended at %llu with %d after %u keys", (unsigned long long)key, r, total);
	check(calls > 1, "a run of 1493 keys came from %u leaf", calls);

	/* A missing key, a visitor that stops, a limit, the last key. */
	seen = (struct run_seen){ .ids = ids, .next = 2205, .stop_after = NO_STOP };
	r = dmrow_btree_lookup_run_nonblocking(&info, root, 2205, 10, run_visit, &seen, &visited);
	check(r == -ENODATA && visited == 5, "run from a gap: %d, visited %u", r, visited);
	r = dmrow_btree_lookup_run_nonblocking(&info, root, 2205, 3, run_visit, &seen, &visited);
	check(r == -ENODATA && visited == 3, "gap run limited to 3: %d, visited %u", r, visited);
	r = dmrow_btree_lookup_run_nonblocking(&info, root, RUN_KEYS + 5, 1000, run_visit, &seen,
					       &visited);
	check(r == -ENODATA && visited == 1000, "past the last key: %d, visited %u", r, visited);
	r = dmrow_btree_lookup_run_nonblocking(&info, 0, 5, 77, run_visit, &seen, &visited);
	check(r == -ENODATA && visited == 77, "empty tree: %d, visited %u", r, visited);
	seen = (struct run_seen){ .ids = ids, .next = 2210, .stop_after = 3 };
	check_ok(dmrow_btree_lookup_run_nonblocking(&info, root, 2210, 100, run_visit, &seen,
						    &visited));
	check(visited == 3 && seen.count == 3, "stopping visitor: visited %u", visited);
	seen = (struct run_seen){ .ids = ids, .next = 3000, .stop_after = NO_STOP };
	check_ok(dmrow_btree_lookup_run_nonblocking(&info, root, 3000, 5, run_visit, &seen,
						    &visited));
	check(visited == 5, "run limited to 5: visited %u", visited);
	seen = (struct run_seen){ .ids = ids, .next = RUN_KEYS - 1, .stop_after = NO_STOP };
	check_ok(dmrow_btree_lookup_run_nonblocking(&info, root, RUN_KEYS - 1, 100, run_visit,
						    &seen, &visited));
	check(visited == 1, "run from the last key: visited %u", visited);
	seen = (struct run_seen){ .ids = ids, .next = 0, .stop_after = NO_STOP };
	r = dmrow_btree_lookup_run_nonblocking(&info, root, 0, 0, run_visit, &seen, &visited);
	check(r == -ENODATA && !visited, "run of at most 0: %d, visited %u", r, visited);
	audit(&root, 1);

	/*
	 * Absent runs in a sparse tree: every 7th key from SPARSE_BASE.  From
	 * any absent key, each lookup says how many keys are absent (all of
	 * them truly absent), and lookups from there on reach the next
	 * present key exactly, a leaf's worth at a time, not key by key.
	 */
	phase = "absent runs";
	{
		u64 sparse = 0, k, next_present;
		unsigned int steps;

		for (k = 0; k < 3000; k++) {
			id = next_id++;
			check(id < MAX_IDS, "out of value ids");
			v = cpu_to_le64(id);
			check_ok(dmrow_btree_insert(&info, sparse, SPARSE_BASE + 7 * k, &v, &sparse,
						    NULL, NULL));
			refs[id]++;
		}
		commit();
		for (k = 0; k < 2000; k++) {
			u64 start = SPARSE_BASE - 50 + rnd_below(7 * 3000 + 100);

			if (start >= SPARSE_BASE && (start - SPARSE_BASE) % 7 == 0)
				continue;
			next_present = start < SPARSE_BASE ? SPARSE_BASE :
				       SPARSE_BASE + ((start - SPARSE_BASE) / 7 + 1) * 7;
			key = start;
			steps = 0;
			for (;;) {
				seen = (struct run_seen){ .next = key, .stop_after = 1 };
				r = dmrow_btree_lookup_run_nonblocking(&info, sparse, key, 1 << 20,
								       count_run, &seen, &visited);
				if (r != -ENODATA)
					break;
				check(visited >= 1, "absent from %llu: visited 0",
				      (unsigned long long)key);
				check((key < next_present && key + visited <= next_present) ||
				      next_present > SPARSE_BASE + 7 * 2999,
				      "absent from %llu: %u keys, but %llu is present",
				      (unsigned long long)key, visited,
				      (unsigned long long)next_present);
				key += visited;
				steps++;
				if (next_present > SPARSE_BASE + 7 * 2999)
					break;	/* past the last key: all absent */
			}
			if (next_present <= SPARSE_BASE + 7 * 2999) {
				check(!r && key == next_present,
				      "from %llu the absent run ended at %llu (%d), next key %llu",
				      (unsigned long long)start, (unsigned long long)key, r,
				      (unsigned long long)next_present);
				check(steps <= 2, "from %llu: %u lookups to cross a gap of 6 keys",
				      (unsigned long long)start, steps);
			}
		}
		check_ok(dmrow_btree_del(&info, sparse));
	}
}

/*
 * Removing every key frees every node.  After a commit what remains
 * allocated is exactly the two reserved blocks and the space map's own
 * index nodes and refcount blocks: the refcount blocks covering the ranges
 * the tree used stay (with all-zero counts), so the figure is compared
 * with that structure, not with the count before the tree existed.
 */
static void test_remove_all(void **state)
{
	struct dmrow_btree_stats ss;
	u64 root = 0, *m, empty_allocated;
	unsigned int i, idx;

	start("remove_all", 0x5eed0005);
	make_universe();
	m = model_new();
	commit();
	empty_allocated = sm.nr_allocated;
	build_random(&root, m, NR_KEYS, 30000);
	commit();
	check(sm.nr_allocated > empty_allocated + NR_KEYS / LEAF_MAX,
	      "a tree of %d keys holds only %llu blocks", NR_KEYS,
	      (unsigned long long)(sm.nr_allocated - empty_allocated));

	phase = "remove all";
	for (i = 0; i < NR_KEYS; i++) {
		idx = rnd_below(NR_UNIVERSE);
		while (m[idx] == ABSENT)
			idx = (idx + 1) % NR_UNIVERSE;
		t_remove(&root, m, idx);
		if (i % 25000 == 24999)
			commit();
	}
	check(!root, "root %llu after removing every key", (unsigned long long)root);
	commit();
	audit(NULL, 0);
	check_ok(dmrow_btree_check(&sm.index_info, sm.index_root, NULL, NULL, &ss));
	check(sm.nr_allocated == 2 + ss.nr_nodes + ss.nr_entries,
	      "allocated %llu: 2 reserved + %llu index nodes + %llu refcount blocks",
	      (unsigned long long)sm.nr_allocated, (unsigned long long)ss.nr_nodes,
	      (unsigned long long)ss.nr_entries);
	check(sm.nr_allocated - empty_allocated <= ss.nr_entries,
	      "%llu more blocks than the empty tree needed, with %llu refcount blocks",
	      (unsigned long long)(sm.nr_allocated - empty_allocated),
	      (unsigned long long)ss.nr_entries);
	for (idx = 0; idx < NR_UNIVERSE; idx++)
		check(m[idx] == ABSENT, "model not empty");
	free(m);
}

struct diff_entry {
	u64 key, a, b;
};

struct diff_ctx {
	struct diff_entry *e;
	unsigned int nr, max;
};

static int diff_fn(void *context, u64 key, const void *a, const void *b)
{
	struct diff_ctx *d = context;

	check(d->nr < d->max, "diff reported more than %u keys", d->max);
	d->e[d->nr].key = key;
	d->e[d->nr].a = a ? value_of(a) : ABSENT;
	d->e[d->nr].b = b ? value_of(b) : ABSENT;
	d->nr++;
	return 0;
}

/*
 * dmrow_btree_diff_from(a, b, start) reports exactly the keys at or past
 * @start the two models differ in (dmrow_btree_diff() when @start is 0).
 */
static unsigned int check_diff_from(u64 ra, const u64 *ma, u64 rb, const u64 *mb, u64 start)
{
	struct diff_ctx d = { .max = NR_UNIVERSE };
	unsigned int i, j = 0;

	d.e = malloc(d.max * sizeof(*d.e));
	check(d.e, "malloc");
	if (start)
		check_ok(dmrow_btree_diff_from(&info, ra, rb, start, diff_fn, &d));
	else
		check_ok(dmrow_btree_diff(&info, ra, rb, diff_fn, &d));
	for (i = 0; i < NR_UNIVERSE; i++) {
		if (ma[i] == mb[i] || ukeys[i] < start)
			continue;
		check(j < d.nr, "diff missed key %llu", (unsigned long long)ukeys[i]);
		check(d.e[j].key == ukeys[i] && d.e[j].a == ma[i] && d.e[j].b == mb[i],
		      "diff entry %u: key %llu (%llu, %llu), model key %llu (%llu, %llu)", j,
		      (unsigned long long)d.e[j].key, (unsigned long long)d.e[j].a,
		      (unsigned long long)d.e[j].b, (unsigned long long)ukeys[i],
		      (unsigned long long)ma[i], (unsigned long long)mb[i]);
		j++;
	}
	check(j == d.nr, "diff from %llu reported %u keys, the models differ in %u",
	      (unsigned long long)start, d.nr, j);
	free(d.e);
	return j;
}

static unsigned int check_diff(u64 ra, const u64 *ma, u64 rb, const u64 *mb)
{
	return check_diff_from(ra, ma, rb, mb, 0);
}

/*
 * Diffs from many starts, both ways: keys of the universe (present or
 * not), the keys between them, the first and past the last; a diff taken
 * in pages from where the last one stopped adds up to the whole.
 */
static void check_diff_starts(u64 ra, const u64 *ma, u64 rb, const u64 *mb)
{
	unsigned int i, total = check_diff(ra, ma, rb, mb), sum = 0;
	u64 prev = 0;

	for (i = 0; i < 40; i++) {
		unsigned int idx = rnd_below(NR_UNIVERSE);

		check_diff_from(ra, ma, rb, mb, ukeys[idx]);
		check_diff_from(rb, mb, ra, ma, ukeys[idx] + 1);
	}
	check_diff_from(ra, ma, rb, mb, ukeys[0]);
	check(check_diff_from(ra, ma, rb, mb, U64_MAX) <= 1, "a diff from the top key");

	/* Pages: each diff from where the last page ended, kept up to the next. */
	for (i = 0; i <= 10; i++) {
		u64 next = i < 10 ? ukeys[(u64)NR_UNIVERSE * (i + 1) / 11] : ~0ULL;
		struct diff_ctx d = { .max = NR_UNIVERSE };
		unsigned int k;

		d.e = malloc(d.max * sizeof(*d.e));
		check(d.e, "malloc");
		check_ok(dmrow_btree_diff_from(&info, ra, rb, prev, diff_fn, &d));
		for (k = 0; k < d.nr && (i == 10 || d.e[k].key < next); k++)
			check(d.e[k].key >= prev, "page from %llu reported key %llu",
			      (unsigned long long)prev, (unsigned long long)d.e[k].key);
		sum += k;
		free(d.e);
		prev = next;
	}
	check(sum == total, "pages add up to %u keys, the whole diff has %u", sum, total);
}

/* One random change to a tree: overwrite, insert or remove. */
static void random_change(u64 *root, u64 *m)
{
	unsigned int idx = rnd_below(NR_UNIVERSE);

	switch (rnd() % 3) {
	case 0:
		while (m[idx] == ABSENT)
			idx = (idx + 1) % NR_UNIVERSE;
		t_insert(root, m, idx);
		break;
	case 1:
		while (m[idx] != ABSENT)
			idx = (idx + 1) % NR_UNIVERSE;
		t_insert(root, m, idx);
		break;
	default:
		while (m[idx] == ABSENT)
			idx = (idx + 1) % NR_UNIVERSE;
		t_remove(root, m, idx);
	}
}

/*
 * A snapshot is one more reference on the root.  Changing the copy leaves
 * the original as it was, diff reports exactly the changes, and a diff of
 * 10 changes in a 100,000-key tree reads a few dozen nodes, not the tree.
 */
static void test_snapshot_and_diff(void **state)
{
	struct dmrow_bm_stats st;
	u64 orig = 0, copy, *mo, *mc, n = 0, diff_reads, walk_reads;
	u64 roots[2];
	unsigned int i;

	start("snapshot", 0x5eed0006);
	make_universe();
	mo = model_new();
	build_random(&orig, mo, NR_KEYS, 50000);
	commit();
	copy = orig;
	check_ok(dmrow_tm_inc(&tm, orig));
	mc = model_dup(mo);
	roots[0] = orig;
	roots[1] = copy;
	audit(roots, 2);
	check(dmrow_btree_diff(&info, orig, copy, diff_fn, NULL) == 0, "diff of one tree");

	phase = "10 changes";
	for (i = 0; i < 10; i++)
		random_change(&copy, mc);
	check(copy != orig, "changing a shared tree kept its root");
	verify_tree(orig, mo);
	verify_tree(copy, mc);
	check(check_diff(orig, mo, copy, mc) == 10, "10 changes, 10 diff entries");
	check_diff(copy, mc, orig, mo);
	roots[1] = copy;
	audit(roots, 2);

	phase = "diff cost";
	reopen_cold();
	{
		struct diff_ctx d = { .max = 64 };

		d.e = malloc(d.max * sizeof(*d.e));
		check(d.e, "malloc");
		check_ok(dmrow_btree_diff(&info, orig, copy, diff_fn, &d));
		check(d.nr == 10, "diff reported %u", d.nr);
		free(d.e);
	}
	dmrow_bm_get_stats(bm, &st);
	diff_reads = st.reads;
	reopen_cold();
	check_ok(dmrow_btree_walk(&info, orig, count_fn, &n));
	dmrow_bm_get_stats(bm, &st);
	walk_reads = st.reads;
	print_message("diff of 10 changes read %llu blocks, a full walk %llu\n",
		      (unsigned long long)diff_reads, (unsigned long long)walk_reads);
	/* Per side: root, <= 10 internal nodes, <= 10 leaves, the leftmost path. */
	check(diff_reads <= 2 * (1 + 10 + 10 + 3), "diff read %llu blocks",
	      (unsigned long long)diff_reads);
	check(walk_reads >= NR_KEYS / LEAF_MAX && diff_reads * 10 < walk_reads,
	      "diff read %llu blocks, walk %llu", (unsigned long long)diff_reads,
	      (unsigned long long)walk_reads);

	phase = "many changes";
	for (i = 0; i < 4000; i++) {
		random_change(&copy, mc);
		if (i % 1000 == 999)
			commit();
	}
	check_diff(orig, mo, copy, mc);
	check_diff(copy, mc, orig, mo);
	roots[1] = copy;
	audit(roots, 2);

	phase = "diff from a start";
	check_diff_starts(orig, mo, copy, mc);
	{
		/* From a start near the end: a path per side, not the tree. */
		struct diff_ctx d = { .max = NR_UNIVERSE };
		u64 before, last_reads;

		d.e = malloc(d.max * sizeof(*d.e));
		check(d.e, "malloc");
		reopen_cold();
		dmrow_bm_get_stats(bm, &st);
		before = st.reads;
		check_ok(dmrow_btree_diff_from(&info, orig, copy, ukeys[NR_UNIVERSE - 1], diff_fn,
					       &d));
		dmrow_bm_get_stats(bm, &st);
		last_reads = st.reads - before;
		print_message("diff from the last key read %llu blocks\n",
			      (unsigned long long)last_reads);
		/* Per side: the path to the last leaf and its neighbours' roots. */
		check(last_reads <= 2 * 6 && last_reads * 20 < walk_reads,
		      "diff from the last key read %llu blocks, a walk %llu",
		      (unsigned long long)last_reads, (unsigned long long)walk_reads);
		free(d.e);
	}

	phase = "diff against empty";
	{
		u64 *empty = model_new();

		check(check_diff(0, empty, copy, mc) == model_count(mc), "all of copy");
		check(check_diff(orig, mo, 0, empty) == model_count(mo), "all of orig");
		check_diff_starts(0, empty, copy, mc);
		free(empty);
	}

	phase = "diff across heights";
	{
		/* A tree of height 1 or 2 against height 3, sharing nothing. */
		u64 small = 0, *ms = model_new();

		for (i = 0; i < 300; i++)
			t_insert(&small, ms, rnd_below(NR_UNIVERSE));
		check_diff(small, ms, orig, mo);
		check_diff(copy, mc, small, ms);
		check_diff_starts(small, ms, orig, mo);
		check_ok(dmrow_btree_del(&info, small));
		free(ms);
	}
	free(mo);
	free(mc);
}

/* The inc callback runs once per value of a shared leaf when it is copied. */
static void test_shared_leaf_value_refs(void **state)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	u64 orig = 0, copy, *mo, *mc, leaf, leaf2, k2, child[LEAF_MAX], roots[2];
	u32 nr, nr2, count, i, nr_children, nr_private = 0;
	unsigned int idx, idx2;

	start("value refs", 0x5eed0007);
	make_universe();
	mo = model_new();
	build_random(&orig, mo, NR_KEYS, 0);
	commit();
	copy = orig;
	check_ok(dmrow_tm_inc(&tm, orig));
	mc = model_dup(mo);

	/* Overwrite in the copy: root, internal node and leaf are copied. */
	idx = rnd_below(NR_UNIVERSE);
	while (mc[idx] == ABSENT)
		idx = (idx + 1) % NR_UNIVERSE;
	leaf = leaf_of(copy, ukeys[idx], &nr);
	nr_inc = 0;
	t_insert(&copy, mc, idx);
	check(nr_inc == nr, "copying a shared leaf of %u entries called inc %llu times",
	      nr, (unsigned long long)nr_inc);
	check(leaf_of(copy, ukeys[idx], &nr2) != leaf && nr2 == nr, "the copy's leaf moved");
	check_ok(dmrow_tm_ref_count(&tm, leaf, &count));
	check(count == 1, "the original leaf has %u references", count);
	check_ok(dmrow_tm_ref_count(&tm, orig, &count));
	check(count == 1, "the original root has %u references", count);

	/*
	 * The copy of the root is a new parent of the original root's
	 * children, except the one on the changed path, which was copied.
	 */
	nr_children = children_of(orig, child, LEAF_MAX);
	for (i = 0; i < nr_children; i++) {
		check_ok(dmrow_tm_ref_count(&tm, child[i], &count));
		check(count == 1 || count == 2, "root child %u has %u references", i, count);
		nr_private += count == 1;
	}
	check(nr_children >= 2 && nr_private == 1,
	      "%u of %u root children unshared after one change", nr_private, nr_children);

	/* Another key of the same (now private) leaf: nothing copied again. */
	n = raw_read(leaf_of(copy, ukeys[idx], &nr), &blk);
	k2 = raw_key(n, raw_key(n, 0) == ukeys[idx] ? 1 : 0);
	dmrow_bm_unlock(blk);
	idx2 = universe_lower(k2);
	nr_inc = 0;
	t_insert(&copy, mc, idx2);
	check(!nr_inc, "a private leaf written in this transaction: inc called %llu times",
	      (unsigned long long)nr_inc);

	/* After commit the leaf is committed but unshared: moved, not shared. */
	commit();
	leaf2 = leaf_of(copy, ukeys[idx], &nr);
	t_insert(&copy, mc, idx);
	check(!nr_inc, "an unshared committed leaf: inc called %llu times",
	      (unsigned long long)nr_inc);
	check(leaf_of(copy, ukeys[idx], &nr) != leaf2, "a committed leaf changed in place");
	roots[0] = orig;
	roots[1] = copy;
	audit(roots, 2);

	/* A leaf still shared: inc once for each of its values. */
	do {
		idx2 = rnd_below(NR_UNIVERSE);
		while (mc[idx2] == ABSENT)
			idx2 = (idx2 + 1) % NR_UNIVERSE;
		leaf2 = leaf_of(copy, ukeys[idx2], &nr);
	} while (leaf2 != leaf_of(orig, ukeys[idx2], &nr2));
	nr_inc = 0;
	t_insert(&copy, mc, idx2);
	check(nr_inc == nr, "second shared leaf of %u: inc called %llu times", nr,
	      (unsigned long long)nr_inc);
	roots[1] = copy;
	audit(roots, 2);
	verify_tree(orig, mo);
	verify_tree(copy, mc);
	free(mo);
	free(mc);
}

/* The values of leaves reachable from @root but not from @other. */
struct excl_ctx {
	u64 *ids;
	u64 nr;
};

static void collect_unshared(u64 b, const u8 *other_nodes, struct excl_ctx *x)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	u32 i;

	if (other_nodes[b])
		return;
	n = raw_read(b, &blk);
	for (i = 0; i < raw_nr(n); i++) {
		if (raw_leaf(n))
			x->ids[x->nr++] = raw_value(n, i);
		else
			collect_unshared(raw_value(n, i), other_nodes, x);
	}
	dmrow_bm_unlock(blk);
}

static int mark_node(void *context, u64 b)
{
	((u8 *)context)[b] = 1;
	return 0;
}

static int collect_fn(void *context, u64 key, const void *value)
{
	struct excl_ctx *x = context;

	x->ids[x->nr++] = value_of(value);
	return 0;
}

/* walk_exclusive(root) against the values of nodes @other does not reach. */
static u64 check_exclusive(u64 root, u64 other)
{
	struct dmrow_btree_stats stats;
	struct excl_ctx got = { 0 }, want = { 0 };
	u8 *other_nodes = calloc(NR_BLOCKS, 1);
	u64 i;

	got.ids = malloc(NR_UNIVERSE * sizeof(u64));
	want.ids = malloc(NR_UNIVERSE * sizeof(u64));
	check(other_nodes && got.ids && want.ids, "malloc");
	if (other)
		check_ok(dmrow_btree_check(&info, other, mark_node, other_nodes, &stats));
	collect_unshared(root, other_nodes, &want);
	check_ok(dmrow_btree_walk_exclusive(&info, root, collect_fn, &got));
	check(got.nr == want.nr, "walk_exclusive visited %llu values, %llu are not shared",
	      (unsigned long long)got.nr, (unsigned long long)want.nr);
	for (i = 0; i < got.nr; i++)
		check(got.ids[i] == want.ids[i], "exclusive value %llu: %llu, expected %llu",
		      (unsigned long long)i, (unsigned long long)got.ids[i],
		      (unsigned long long)want.ids[i]);
	free(other_nodes);
	free(got.ids);
	free(want.ids);
	return want.nr;
}

/*
 * walk_exclusive visits the values only one tree holds; deleting a shared
 * tree drops exactly those (one dec each) and leaves the other intact;
 * deleting the last reference frees every node and drops every value.
 */
static void test_exclusive_and_del(void **state)
{
	u64 orig = 0, copy, *mo, *mc, nr_excl, all, i;
	u64 roots[2];
	struct excl_ctx got = { 0 };

	start("exclusive", 0x5eed0008);
	make_universe();
	mo = model_new();
	build_random(&orig, mo, NR_KEYS, 0);
	commit();
	check(check_exclusive(orig, 0) == NR_KEYS, "an unshared tree is all exclusive");

	copy = orig;
	check_ok(dmrow_tm_inc(&tm, orig));
	mc = model_dup(mo);
	got.ids = malloc(NR_UNIVERSE * sizeof(u64));
	check(got.ids, "malloc");
	check_ok(dmrow_btree_walk_exclusive(&info, orig, collect_fn, &got));
	check(!got.nr, "a tree whose root is shared has %llu exclusive values",
	      (unsigned long long)got.nr);

	for (i = 0; i < 40; i++)
		random_change(&copy, mc);
	commit();
	for (i = 0; i < 40; i++)
		random_change(&copy, mc);
	nr_excl = check_exclusive(orig, copy);
	check(nr_excl > 0 && nr_excl <= 80 * LEAF_MAX, "%llu exclusive values after 80 changes",
	      (unsigned long long)nr_excl);
	check_exclusive(copy, orig);

	/* Delete the original: exactly its exclusive values are dropped. */
	phase = "del shared";
	got.nr = 0;
	check_ok(dmrow_btree_walk_exclusive(&info, orig, collect_fn, &got));
	dec_log = malloc(NR_UNIVERSE * sizeof(u64));
	check(dec_log, "malloc");
	nr_dec_log = 0;
	nr_dec = 0;
	check_ok(dmrow_btree_del(&info, orig));
	check(nr_dec == nr_excl, "del called dec %llu times for %llu exclusive values",
	      (unsigned long long)nr_dec, (unsigned long long)nr_excl);
	qsort(got.ids, got.nr, sizeof(u64), cmp_u64);
	qsort(dec_log, nr_dec_log, sizeof(u64), cmp_u64);
	for (i = 0; i < nr_dec_log; i++)
		check(dec_log[i] == got.ids[i], "del dropped value %llu, not exclusive",
		      (unsigned long long)dec_log[i]);
	verify_tree(copy, mc);
	roots[0] = copy;
	audit(roots, 1);
	commit();
	audit(roots, 1);
	verify_tree(copy, mc);
	check(check_exclusive(copy, 0) == model_count(mc), "the survivor is all exclusive");

	/* Delete the last reference: everything goes. */
	phase = "del last";
	all = model_count(mc);
	nr_dec = 0;
	nr_dec_log = 0;
	check_ok(dmrow_btree_del(&info, copy));
	check(nr_dec == all, "del of the last reference: dec %llu times for %llu values",
	      (unsigned long long)nr_dec, (unsigned long long)all);
	for (i = 0; i < next_id; i++)
		check(!refs[i], "value %llu still held %d times", (unsigned long long)i, refs[i]);
	audit(NULL, 0);
	commit();
	audit(NULL, 0);
	free(got.ids);
	free(mo);
	free(mc);
}

/*
 * Removing keys from a copy until its root has one child collapses the
 * root, repeatedly while the new root is an internal node with one child.
 * The lower of those nodes may still be shared with the original tree:
 * then it keeps its reference to its child and the copy's new root needs
 * one of its own.
 */
static void test_collapse_shared_root(void **state)
{
	u64 orig = 0, copy, *mo, *mc, child[LEAF_MAX], first_child, first_leaf, next_bound;
	u64 roots[2];
	unsigned int idx;
	u32 count;

	start("collapse", 0x5eed0009);
	make_universe();
	mo = model_new();
	build_random(&orig, mo, NR_KEYS, 0);
	commit();

	/* Leave the root's first child with a single leaf, L. */
	check(children_of(orig, child, LEAF_MAX) >= 2, "root has one child");
	first_child = child[0];
	{
		const struct row_disk_btree_node *n;
		struct dmrow_block *blk;
		u64 last_in_leaf;

		check(children_of(first_child, child, LEAF_MAX) >= 2, "first child has one child");
		first_leaf = child[0];
		n = raw_read(first_leaf, &blk);
		last_in_leaf = raw_key(n, raw_nr(n) - 1);
		dmrow_bm_unlock(blk);
		n = raw_read(orig, &blk);
		next_bound = raw_key(n, 1);	/* where the root's second child starts */
		dmrow_bm_unlock(blk);
		for (idx = universe_lower(last_in_leaf + 1);
		     idx < NR_UNIVERSE && ukeys[idx] < next_bound; idx++)
			t_remove(&orig, mo, idx);
		next_bound = last_in_leaf + 1;
	}
	commit();
	/* The path was shadowed: the first child moved, L did not. */
	check(children_of(orig, child, LEAF_MAX) >= 2, "root has one child");
	first_child = child[0];
	check(children_of(first_child, child, LEAF_MAX) == 1 && child[0] == first_leaf,
	      "the root's first child should hold only L");
	verify_tree(orig, mo);

	/* Snapshot; in the copy empty every other child of the root. */
	copy = orig;
	check_ok(dmrow_tm_inc(&tm, orig));
	mc = model_dup(mo);
	for (idx = universe_lower(next_bound); idx < NR_UNIVERSE; idx++)
		t_remove(&copy, mc, idx);
	check(copy == first_leaf, "the copy collapsed to %llu, not to L %llu",
	      (unsigned long long)copy, (unsigned long long)first_leaf);
	check_ok(dmrow_tm_ref_count(&tm, first_leaf, &count));
	check(count == 2, "L, root of the copy and child of the original, has %u references",
	      count);
	check_ok(dmrow_tm_ref_count(&tm, first_child, &count));
	check(count == 1, "the original's first child has %u references", count);
	roots[0] = orig;
	roots[1] = copy;
	audit(roots, 2);
	verify_tree(orig, mo);
	verify_tree(copy, mc);

	/* Changing and then dropping the copy leaves the original whole. */
	commit();
	t_insert(&copy, mc, 0);
	check(copy != first_leaf, "a shared leaf changed in place");
	roots[1] = copy;
	audit(roots, 2);
	check_ok(dmrow_btree_del(&info, copy));
	commit();
	audit(roots, 1);
	verify_tree(orig, mo);
	free(mo);
	free(mc);
}

/* Random operations on several trees sharing nodes, against the model. */
#define NR_HANDLES 5

static void test_random_forest(void **state)
{
	u64 root[NR_HANDLES] = { 0 }, *m[NR_HANDLES];
	unsigned int op, h, g, i;

	start("forest", 0x5eed000a);
	make_universe();
	for (h = 0; h < NR_HANDLES; h++)
		m[h] = model_new();
	/* Keys from a small window, so trees shrink and collapse often. */
	for (op = 0; op < 30000; op++) {
		unsigned int dice = rnd_below(1000);
		unsigned int idx = rnd_below(NR_UNIVERSE / 8);

		h = rnd_below(NR_HANDLES);
		if (dice < 400) {
			t_insert(&root[h], m[h], idx);
		} else if (dice < 450) {
			t_insert_run(&root[h], m[h], idx, NR_UNIVERSE / 8);
		} else if (dice < 900) {
			/* Remove runs of keys, to empty whole subtrees. */
			for (i = 0; i < 1 + rnd_below(40); i++)
				t_remove(&root[h], m[h], (idx + i) % (NR_UNIVERSE / 8));
		} else if (dice < 930) {
			/* Snapshot h into g. */
			g = rnd_below(NR_HANDLES);
			if (g == h)
				continue;
			check_ok(dmrow_btree_del(&info, root[g]));
			if (root[h])
				check_ok(dmrow_tm_inc(&tm, root[h]));
			root[g] = root[h];
			memcpy(m[g], m[h], NR_UNIVERSE * sizeof(u64));
		} else if (dice < 940) {
			check_ok(dmrow_btree_del(&info, root[h]));
			root[h] = 0;
			for (i = 0; i < NR_UNIVERSE; i++)
				m[h][i] = ABSENT;
		} else if (dice < 955) {
			g = rnd_below(NR_HANDLES);
			check_diff(root[h], m[h], root[g], m[g]);
		} else if (dice < 999) {
			commit();
		} else {
			phase = "forest audit";
			audit(root, NR_HANDLES);
			verify_tree(root[h], m[h]);
			phase = "forest";
		}
	}
	commit();
	audit(root, NR_HANDLES);
	for (h = 0; h < NR_HANDLES; h++) {
		verify_tree(root[h], m[h]);
		check_ok(dmrow_btree_del(&info, root[h]));
		free(m[h]);
	}
	commit();
	audit(NULL, 0);
}

/*----------------------------------------------------------------
 * Check and corruption
 *--------------------------------------------------------------*/

static int diff_count_fn(void *context, u64 key, const void *a, const void *b)
{
	(*(u64 *)context)++;
	return 0;
}

static int count_node(void *context, u64 b)
{
	(*(u64 *)context)++;
	return 0;
}

static void raw_pread(u64 b, void *buf)
{
	check(pread(meta_fd, buf, DMROW_METADATA_BLOCK_SIZE,
		    (off_t)b * DMROW_METADATA_BLOCK_SIZE) == DMROW_METADATA_BLOCK_SIZE, "pread");
}

static void raw_pwrite(u64 b, const void *buf)
{
	check(pwrite(meta_fd, buf, DMROW_METADATA_BLOCK_SIZE,
		     (off_t)b * DMROW_METADATA_BLOCK_SIZE) == DMROW_METADATA_BLOCK_SIZE, "pwrite");
}

/* Seal a block as the btree validator would: a valid checksum. */
static void reseal(void *buf)
{
	struct row_disk_block_header *hdr = buf;

	hdr->csum = cpu_to_le32(crc32c(DMROW_CSUM_SEED_BTREE, (u8 *)buf + sizeof(hdr->csum),
				       DMROW_METADATA_BLOCK_SIZE - sizeof(hdr->csum)));
}

/*
 * Every reader of the tree must fail with -EILSEQ on the damaged node, and
 * so must writers (whose transaction is then dropped).  Some damage only
 * the checker sees: @check_only.
 */
static void expect_eilseq(u64 root, u64 key, u64 other_root, bool check_only)
{
	struct dmrow_btree_stats stats;
	u64 found, n = 0, new_root;
	__le64 v = cpu_to_le64(0), old;
	int r;

	reopen_cold();
	r = dmrow_btree_check(&info, root, NULL, NULL, &stats);
	check(r == -EILSEQ, "check returned %d", r);
	if (check_only)
		return;
	r = dmrow_btree_lookup(&info, root, key, &v);
	check(r == -EILSEQ, "lookup returned %d", r);
	r = dmrow_btree_lookup_next(&info, root, key, &found, &v);
	check(r == -EILSEQ, "lookup_next returned %d", r);
	r = dmrow_btree_walk(&info, root, count_fn, &n);
	check(r == -EILSEQ, "walk returned %d", r);
	r = dmrow_btree_diff(&info, root, other_root, diff_count_fn, &n);
	check(r == -EILSEQ, "diff returned %d", r);
	r = dmrow_btree_walk_exclusive(&info, root, count_fn, &n);
	check(r == -EILSEQ, "walk_exclusive returned %d", r);
	r = dmrow_btree_remove(&info, root, key, &new_root, &old);
	check(r == -EILSEQ, "remove returned %d", r);
	r = dmrow_btree_insert(&info, root, key, &v, &new_root, &old, NULL);
	check(r == -EILSEQ, "insert returned %d", r);
	abort_txn();
}

/*
 * dmrow_btree_check reports height and entries; a node damaged on disk
 * (bad checksum, wrong location, keys out of order, wrong value size, no
 * entries, a cycle, a leaf above the bottom, a key below its parent's
 * bound) gives -EILSEQ, never a crash, and leaves no block locked.
 */
static void test_check_and_corruption(void **state)
{
	struct dmrow_btree_stats stats;
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	struct row_disk_btree_node *node;
	u64 root = 0, other = 0, *m, *mo, refs_seen = 0, internal, leaf, leaf_b;
	u64 key, key_b, bound = 0, child[LEAF_MAX];
	u32 i, nr;
	u8 *buf, *saved;

	start("check", 0x5eed000b);
	make_universe();
	m = model_new();
	mo = model_new();
	build_random(&root, m, NR_KEYS, 0);
	for (i = 0; i < 100; i++)
		t_insert(&other, mo, rnd_below(NR_UNIVERSE));
	commit();

	check_ok(dmrow_btree_check(&info, root, count_node, &refs_seen, &stats));
	check(stats.height == 3 && stats.nr_entries == NR_KEYS, "height %u entries %llu",
	      stats.height, (unsigned long long)stats.nr_entries);
	check(refs_seen == stats.nr_nodes, "node_fn called %llu times for %llu nodes",
	      (unsigned long long)refs_seen, (unsigned long long)stats.nr_nodes);
	nr = children_of(root, child, LEAF_MAX);
	check(stats.nr_nodes > 1 + nr + NR_KEYS / LEAF_MAX, "%llu nodes",
	      (unsigned long long)stats.nr_nodes);
	check_ok(dmrow_btree_check(&info, other, NULL, NULL, &stats));
	check(stats.nr_entries == model_count(mo) && stats.height == 1 && stats.nr_nodes == 1,
	      "small tree: entries %llu height %u", (unsigned long long)stats.nr_entries,
	      stats.height);

	/* A leaf in the middle (not the first), the node above it, a key in it. */
	key = ukeys[NR_UNIVERSE / 2];
	leaf = leaf_bound_of(root, key, &nr, &bound);
	n = raw_read(leaf, &blk);
	key = raw_key(n, raw_nr(n) / 2);
	dmrow_bm_unlock(blk);
	internal = 0;
	nr = children_of(root, child, LEAF_MAX);
	for (i = 0; i < nr && !internal; i++) {
		u64 grand[LEAF_MAX];
		u32 j, nr_grand = children_of(child[i], grand, LEAF_MAX);

		for (j = 0; j < nr_grand; j++)
			if (grand[j] == leaf)
				internal = child[i];
	}
	check(internal, "no parent for leaf %llu", (unsigned long long)leaf);
	leaf_b = leaf_of(root, ukeys[NR_UNIVERSE - 1], &nr);
	check(leaf_b != leaf, "two leaves");
	n = raw_read(leaf_b, &blk);
	key_b = raw_key(n, 0);
	dmrow_bm_unlock(blk);
	check(leaf != leaf_of(root, 0, &nr), "the middle leaf is the first");

	buf = malloc(DMROW_METADATA_BLOCK_SIZE);
	saved = malloc(DMROW_METADATA_BLOCK_SIZE);
	check(buf && saved, "malloc");
	node = (struct row_disk_btree_node *)buf;
	reopen_cold();
	raw_pread(leaf, saved);

	phase = "flipped bit in a leaf";
	memcpy(buf, saved, DMROW_METADATA_BLOCK_SIZE);
	buf[DMROW_METADATA_BLOCK_SIZE / 2] ^= 0x10;
	raw_pwrite(leaf, buf);
	expect_eilseq(root, key, other, false);
	check_ok(dmrow_btree_lookup(&info, root, key_b, NULL));	/* other leaves still read */

	phase = "leaf at the wrong place";
	raw_pread(leaf_b, buf);		/* a valid leaf, checksum and all */
	raw_pwrite(leaf, buf);
	expect_eilseq(root, key, other, false);

	phase = "keys out of order";
	memcpy(buf, saved, DMROW_METADATA_BLOCK_SIZE);
	{
		__le64 t = node->keys[0];

		node->keys[0] = node->keys[1];
		node->keys[1] = t;
	}
	reseal(buf);
	raw_pwrite(leaf, buf);
	expect_eilseq(root, key, other, false);

	phase = "wrong value size";
	memcpy(buf, saved, DMROW_METADATA_BLOCK_SIZE);
	node->value_size = cpu_to_le32(16);
	node->max_entries = cpu_to_le32((DMROW_METADATA_BLOCK_SIZE - sizeof(*node)) / 24);
	if (le32_to_cpu(node->nr_entries) > le32_to_cpu(node->max_entries))
		node->nr_entries = node->max_entries;
	reseal(buf);
	raw_pwrite(leaf, buf);
	expect_eilseq(root, key, other, false);

	phase = "empty node";
	memcpy(buf, saved, DMROW_METADATA_BLOCK_SIZE);
	node->nr_entries = 0;
	reseal(buf);
	raw_pwrite(leaf, buf);
	expect_eilseq(root, key, other, false);

	phase = "key below the parent's bound";
	memcpy(buf, saved, DMROW_METADATA_BLOCK_SIZE);
	check(bound > 0 && bound <= le64_to_cpu(node->keys[0]), "bound %llu",
	      (unsigned long long)bound);
	node->keys[0] = cpu_to_le64(bound - 1);
	reseal(buf);
	raw_pwrite(leaf, buf);
	expect_eilseq(root, key, other, true);
	raw_pwrite(leaf, saved);
	reopen_cold();
	check_ok(dmrow_btree_check(&info, root, NULL, NULL, &stats));

	phase = "damaged internal node";
	raw_pread(internal, saved);
	memcpy(buf, saved, DMROW_METADATA_BLOCK_SIZE);
	buf[100] ^= 1;
	raw_pwrite(internal, buf);
	expect_eilseq(root, key, other, false);

	phase = "internal node pointing at itself";
	memcpy(buf, saved, DMROW_METADATA_BLOCK_SIZE);
	{
		__le64 self = cpu_to_le64(internal);
		u32 max = le32_to_cpu(node->max_entries);

		for (i = 0; i < le32_to_cpu(node->nr_entries); i++)
			memcpy((u8 *)&node->keys[max] + i * sizeof(self), &self, sizeof(self));
	}
	reseal(buf);
	raw_pwrite(internal, buf);
	expect_eilseq(root, key, other, false);

	phase = "leaf where an internal node belongs";
	raw_pread(leaf_b, buf);
	node->hdr.blocknr = cpu_to_le64(internal);
	reseal(buf);
	raw_pwrite(internal, buf);
	expect_eilseq(root, key, other, true);

	phase = "repaired";
	raw_pwrite(internal, saved);
	reopen_cold();
	verify_tree(root, m);
	verify_tree(other, mo);
	free(buf);
	free(saved);
	free(m);
	free(mo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_and_single, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_overwrite_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ordered_inserts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_and_diff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_leaf_value_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclusive_and_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collapse_shared_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_forest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_and_corruption, setup, teardown),
	};

	return cmocka_run_group_tests_name("btree", tests, NULL, NULL);
}
