// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write B+trees with reference-counted nodes.
 *
 * Sharing.  A node's reference count (in the metadata space map) is the
 * number of parents pointing at it; a tree root held by a disk or snapshot
 * record counts as a parent.  Taking a snapshot is therefore one increment
 * on a root, whatever the size of the tree.  To change a tree, every node
 * on the path from the root is shadowed (dmrow_tm_shadow()): a node this
 * transaction wrote and nobody else references is changed in place; an
 * unshared older node is copied and the copy takes over its reference; a
 * shared node is copied and the copy becomes a new parent of each of its
 * children, whose counts go up by one (for a leaf, the value type's inc()).
 * The original keeps its other owners.  So a write into a shared tree
 * copies O(height) nodes and nothing else.
 *
 * Freeing.  Dropping a reference to a node that others still reference is
 * a decrement; dropping the last one frees the node and drops one reference
 * to each child.  Deleting a snapshot therefore visits only the nodes it
 * does not share, and costs what the snapshot owns, not the disk size.
 *
 * Shape.  Inserts split full nodes on the way down, so a parent always has
 * room for a new sibling and every leaf stays at the same depth.  Removes
 * free nodes that become empty and collapse a root with a single child;
 * they do not rebalance half-empty siblings, which would copy shared
 * neighbours for no gain in a tree that mostly grows.  key[i] of an
 * internal node is a lower bound of child i's keys (lowered when a smaller
 * key is inserted), which is all lookups and diffs rely on.
 */
#define DM_MSG_PREFIX "row-metadata"

#include <linux/device-mapper.h>
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/crc32c.h>

#include <dm-row/ondisk.h>
#include "dm-row-btree.h"
#include "dm-row-transaction.h"

#define NODE_HEADER_SIZE sizeof(struct row_disk_btree_node)

/*----------------------------------------------------------------
 * Node layout
 *--------------------------------------------------------------*/

static u32 max_entries_for(u32 value_size)
{
	return (DMROW_METADATA_BLOCK_SIZE - NODE_HEADER_SIZE) / (sizeof(__le64) + value_size);
}

static u32 nr_entries(const struct row_disk_btree_node *n)
{
	return le32_to_cpu(n->nr_entries);
}

static bool is_leaf(const struct row_disk_btree_node *n)
{
	return le32_to_cpu(n->hdr.flags) & DMROW_BTREE_LEAF;
}

static u64 key_at(const struct row_disk_btree_node *n, u32 i)
{
	return le64_to_cpu(n->keys[i]);
}

static void *value_ptr(struct row_disk_btree_node *n, u32 i)
{
	return (u8 *)&n->keys[le32_to_cpu(n->max_entries)] + i * le32_to_cpu(n->value_size);
}

static const void *value_at(const struct row_disk_btree_node *n, u32 i)
{
	return value_ptr((struct row_disk_btree_node *)n, i);
}

static u64 child_at(const struct row_disk_btree_node *n, u32 i)
{
	__le64 child;

	memcpy(&child, value_at(n, i), sizeof(child));
	return le64_to_cpu(child);
}

static void set_child(struct row_disk_btree_node *n, u32 i, u64 child)
{
	__le64 le = cpu_to_le64(child);

	memcpy(value_ptr(n, i), &le, sizeof(le));
}

static void init_node(struct row_disk_btree_node *n, bool leaf, u32 value_size)
{
	n->hdr.flags = cpu_to_le32(leaf ? DMROW_BTREE_LEAF : DMROW_BTREE_INTERNAL);
	n->nr_entries = 0;
	n->max_entries = cpu_to_le32(max_entries_for(value_size));
	n->value_size = cpu_to_le32(value_size);
	n->reserved = 0;
}

/* Open a gap at @i and fill it. */
static void insert_at(struct row_disk_btree_node *n, u32 i, u64 key, const void *value)
{
	u32 nr = nr_entries(n), vs = le32_to_cpu(n->value_size);

	memmove(&n->keys[i + 1], &n->keys[i], (nr - i) * sizeof(__le64));
	memmove(value_ptr(n, i + 1), value_ptr(n, i), (nr - i) * vs);
	n->keys[i] = cpu_to_le64(key);
	memcpy(value_ptr(n, i), value, vs);
	n->nr_entries = cpu_to_le32(nr + 1);
}

static void delete_at(struct row_disk_btree_node *n, u32 i)
{
	u32 nr = nr_entries(n), vs = le32_to_cpu(n->value_size);

	memmove(&n->keys[i], &n->keys[i + 1], (nr - i - 1) * sizeof(__le64));
	memmove(value_ptr(n, i), value_ptr(n, i + 1), (nr - i - 1) * vs);
	n->nr_entries = cpu_to_le32(nr - 1);
}

/* Index of the last key <= @key, or -1 if every key is greater. */
static int lower_bound(const struct row_disk_btree_node *n, u64 key)
{
	int lo = -1, hi = nr_entries(n);

	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;

		if (key_at(n, mid) <= key)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*----------------------------------------------------------------
 * Validation
 *--------------------------------------------------------------*/

static void node_prepare_for_write(const struct dmrow_validator *v, void *data,
				   u64 blocknr)
{
	struct row_disk_block_header *hdr = data;

	hdr->blocknr = cpu_to_le64(blocknr);
	hdr->csum = cpu_to_le32(crc32c(DMROW_CSUM_SEED_BTREE,
				       (u8 *)data + sizeof(hdr->csum),
				       DMROW_METADATA_BLOCK_SIZE - sizeof(hdr->csum)));
}

static int node_check(const struct dmrow_validator *v, const void *data, u64 blocknr)
{
	const struct row_disk_btree_node *n = data;
	u32 csum = crc32c(DMROW_CSUM_SEED_BTREE, (const u8 *)data + sizeof(n->hdr.csum),
			  DMROW_METADATA_BLOCK_SIZE - sizeof(n->hdr.csum));
	u32 flags = le32_to_cpu(n->hdr.flags), vs = le32_to_cpu(n->value_size);
	u32 i;

	if (le32_to_cpu(n->hdr.csum) != csum) {
		DMERR_LIMIT("btree node %llu: bad checksum", (unsigned long long)blocknr);
		return -EILSEQ;
	}
	if (le64_to_cpu(n->hdr.blocknr) != blocknr) {
		DMERR_LIMIT("btree node %llu: claims to be block %llu",
			    (unsigned long long)blocknr,
			    (unsigned long long)le64_to_cpu(n->hdr.blocknr));
		return -EILSEQ;
	}
	if (flags != DMROW_BTREE_LEAF && flags != DMROW_BTREE_INTERNAL) {
		DMERR_LIMIT("btree node %llu: bad flags %x", (unsigned long long)blocknr, flags);
		return -EILSEQ;
	}
	if (!vs || vs > DMROW_BTREE_MAX_VALUE_SIZE ||
	    (flags == DMROW_BTREE_INTERNAL && vs != sizeof(__le64)) ||
	    le32_to_cpu(n->max_entries) != max_entries_for(vs) ||
	    nr_entries(n) > le32_to_cpu(n->max_entries)) {
		DMERR_LIMIT("btree node %llu: bad geometry", (unsigned long long)blocknr);
		return -EILSEQ;
	}
	for (i = 1; i < nr_entries(n); i++) {
		if (key_at(n, i - 1) >= key_at(n, i)) {
			DMERR_LIMIT("btree node %llu: keys out of order",
				    (unsigned long long)blocknr);
			return -EILSEQ;
		}
	}
	return 0;
}

const struct dmrow_validator dmrow_btree_validator = {
	.name = "btree_node",
	.prepare_for_write = node_prepare_for_write,
	.check = node_check,
};

/*
 * A node read from disk must also fit the tree it is found in.
 *
 * The block manager runs a validator on a block's first read only, with
 * whichever validator asked first: a block that a corrupt pointer leads to
 * may have passed as a refcount block and never met node_check().  So the
 * geometry every access to the node trusts (flags, max_entries and
 * nr_entries, which place the values and bound the loops) is checked here,
 * on every read, or a refcount block taken for a node reads far past its
 * end.
 */
static int check_node_fits(struct dmrow_btree_info *info,
			   const struct row_disk_btree_node *n, u64 b)
{
	u32 flags = le32_to_cpu(n->hdr.flags);
	u32 expect = is_leaf(n) ? info->vt.size : sizeof(__le64);

	if ((flags != DMROW_BTREE_LEAF && flags != DMROW_BTREE_INTERNAL) ||
	    le32_to_cpu(n->max_entries) != max_entries_for(expect) ||
	    nr_entries(n) > le32_to_cpu(n->max_entries)) {
		DMERR_LIMIT("btree node %llu: bad geometry", (unsigned long long)b);
		return -EILSEQ;
	}
	if (le32_to_cpu(n->value_size) != expect) {
		DMERR_LIMIT("btree node %llu: value size %u where %u expected",
			    (unsigned long long)b, le32_to_cpu(n->value_size), expect);
		return -EILSEQ;
	}
	if (!nr_entries(n)) {
		DMERR_LIMIT("btree node %llu: empty node inside a tree",
			    (unsigned long long)b);
		return -EILSEQ;
	}
	return 0;
}

static int read_node_maybe_nonblocking(struct dmrow_btree_info *info, u64 b,
				       struct dmrow_block **blk,
				       const struct row_disk_btree_node **n, bool nonblocking)
{
	int r = nonblocking ? dmrow_tm_read_try_lock(info->tm, b, &dmrow_btree_validator, blk) :
			      dmrow_tm_read_lock(info->tm, b, &dmrow_btree_validator, blk);

	if (r)
		return r;
	*n = dmrow_block_data(*blk);
	r = check_node_fits(info, *n, b);
	if (r)
		dmrow_tm_unlock(info->tm, *blk);
	return r;
}

static int read_node(struct dmrow_btree_info *info, u64 b, struct dmrow_block **blk,
		     const struct row_disk_btree_node **n)
{
	return read_node_maybe_nonblocking(info, b, blk, n, false);
}

/*
 * The keys a node may hold, as its parent says: [lower, upper), or from
 * lower up if !bounded.  The root may hold any key; child i of an internal
 * node gets [key[i], key[i + 1]), its last child the parent's own upper
 * bound.
 *
 * Walks that visit every child check each node against its range.  In a
 * corrupt tree whose entries point again and again at the same child (or
 * back up the tree), a walk would otherwise visit that subtree once per
 * path to it: a handful of nodes can make it 253^depth steps, a hang.  The
 * ranges of the entries at one level are disjoint, so a node (never empty)
 * fits only one of them: with the check, a walk reads every node at most
 * once per level.
 */
struct key_range {
	u64 lower, upper;
	bool bounded;
};

static const struct key_range all_keys;

static struct key_range child_range(const struct row_disk_btree_node *n, u32 i,
				    const struct key_range *parent)
{
	struct key_range r = { .lower = key_at(n, i) };

	if (i + 1 < nr_entries(n)) {
		r.upper = key_at(n, i + 1);
		r.bounded = true;
	} else {
		r.upper = parent->upper;
		r.bounded = parent->bounded;
	}
	return r;
}

/* read_node(), for a node that must hold keys in @range only. */
static int read_node_in(struct dmrow_btree_info *info, u64 b, const struct key_range *range,
			struct dmrow_block **blk, const struct row_disk_btree_node **n)
{
	int r = read_node(info, b, blk, n);

	if (r)
		return r;
	if (key_at(*n, 0) < range->lower ||
	    (range->bounded && key_at(*n, nr_entries(*n) - 1) >= range->upper)) {
		DMERR_LIMIT("btree node %llu: keys outside the range its parent gives it",
			    (unsigned long long)b);
		dmrow_tm_unlock(info->tm, *blk);
		return -EILSEQ;
	}
	return 0;
}

/*----------------------------------------------------------------
 * Lookup
 *--------------------------------------------------------------*/

/*
 * How many keys from @key on are absent, at most @max, when the first key
 * after @key that the path down to @key's leaf can see is @next (or none,
 * !@has_next).  A lookup of any key in between would take the same path
 * and not find it either.
 */
static unsigned int absent_run(u64 key, u64 next, bool has_next, unsigned int max)
{
	return has_next && next - key < max ? next - key : max;
}

/*
 * Descend to the leaf that would hold @key.  If it holds @key, @visit gets
 * its value and then those of the entries after it whose keys follow on
 * (@key + 1, @key + 2 ...), at most @max in all, until it returns false;
 * *@visited says how many it got.  If @key is absent (-ENODATA),
 * *@visited says how many keys from @key on are absent, at most @max: up
 * to the next key of the leaf, or the upper bound of its keys that the
 * path down gives.
 */
static int lookup_run(struct dmrow_btree_info *info, u64 root, u64 key, unsigned int max,
		      dmrow_btree_run_fn visit, void *context, unsigned int *visited,
		      bool nonblocking)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	unsigned int depth, j;
	bool bounded = false;	/* the node's keys are below @upper */
	u64 b = root, upper = 0;
	int r, i;

	*visited = 0;
	for (depth = 0; b; depth++) {
		if (depth >= DMROW_BTREE_MAX_DEPTH)
			return -EILSEQ;
		r = read_node_maybe_nonblocking(info, b, &blk, &n, nonblocking);
		if (r)
			return r;
		i = lower_bound(n, key);
		if (i < 0) {
			*visited = absent_run(key, key_at(n, 0), true, max);
			dmrow_tm_unlock(info->tm, blk);
			return -ENODATA;
		}
		if ((u32)i + 1 < nr_entries(n)) {
			upper = key_at(n, i + 1);
			bounded = true;
		}
		if (is_leaf(n)) {
			r = -ENODATA;
			if (key_at(n, i) == key && max) {
				r = 0;
				for (j = 0; j < max && (u32)i + j < nr_entries(n) &&
					    key_at(n, i + j) == key + j; j++) {
					(*visited)++;
					if (!visit(context, key + j, value_at(n, i + j)))
						break;
				}
			} else {
				*visited = absent_run(key, upper, bounded, max);
			}
			dmrow_tm_unlock(info->tm, blk);
			return r;
		}
		b = child_at(n, i);
		dmrow_tm_unlock(info->tm, blk);
	}
	*visited = max;		/* an empty tree */
	return -ENODATA;
}

struct value_copy {
	void *value;
	size_t size;
};

static bool copy_value(void *context, u64 key, const void *value)
{
	struct value_copy *copy = context;

	if (copy->value)
		memcpy(copy->value, value, copy->size);
	return false;
}

static int lookup(struct dmrow_btree_info *info, u64 root, u64 key, void *value,
		  bool nonblocking)
{
	struct value_copy copy = { .value = value, .size = info->vt.size };
	unsigned int visited;

	return lookup_run(info, root, key, 1, copy_value, &copy, &visited, nonblocking);
}

int dmrow_btree_lookup(struct dmrow_btree_info *info, u64 root, u64 key, void *value)
{
	return lookup(info, root, key, value, false);
}

int dmrow_btree_lookup_nonblocking(struct dmrow_btree_info *info, u64 root, u64 key,
				   void *value)
{
	return lookup(info, root, key, value, true);
}

int dmrow_btree_lookup_run_nonblocking(struct dmrow_btree_info *info, u64 root, u64 key,
				       unsigned int max, dmrow_btree_run_fn visit,
				       void *context, unsigned int *visited)
{
	return lookup_run(info, root, key, max, visit, context, visited, true);
}

int dmrow_btree_height(struct dmrow_btree_info *info, u64 root, unsigned int *height)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	u64 b = root;
	bool leaf;
	int r;

	for (*height = 0; b; (*height)++) {
		if (*height >= DMROW_BTREE_MAX_DEPTH)
			return -EILSEQ;
		r = read_node(info, b, &blk, &n);
		if (r)
			return r;
		leaf = is_leaf(n);
		b = leaf || !nr_entries(n) ? 0 : child_at(n, 0);
		dmrow_tm_unlock(info->tm, blk);
		if (leaf) {
			(*height)++;
			break;
		}
	}
	return 0;
}

static int lookup_next_rec(struct dmrow_btree_info *info, u64 b,
			   const struct key_range *range, u64 key, u64 *found_key,
			   void *value, unsigned int depth)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	struct key_range cr;
	u32 i;
	int r;

	if (depth >= DMROW_BTREE_MAX_DEPTH)
		return -EILSEQ;
	r = read_node_in(info, b, range, &blk, &n);
	if (r)
		return r;

	r = -ENODATA;
	if (is_leaf(n)) {
		for (i = max(lower_bound(n, key), 0); i < nr_entries(n); i++) {
			if (key_at(n, i) >= key) {
				*found_key = key_at(n, i);
				if (value)
					memcpy(value, value_at(n, i), info->vt.size);
				r = 0;
				break;
			}
		}
	} else {
		/* The subtree that may hold @key, then the ones after it. */
		for (i = max(lower_bound(n, key), 0); i < nr_entries(n); i++) {
			cr = child_range(n, i, range);
			r = lookup_next_rec(info, child_at(n, i), &cr, key, found_key,
					    value, depth + 1);
			if (r != -ENODATA)
				break;
		}
	}
	dmrow_tm_unlock(info->tm, blk);
	return r;
}

int dmrow_btree_lookup_next(struct dmrow_btree_info *info, u64 root, u64 key,
			    u64 *found_key, void *value)
{
	if (!root)
		return -ENODATA;
	return lookup_next_rec(info, root, &all_keys, key, found_key, value, 0);
}

/*----------------------------------------------------------------
 * Shadowing
 *--------------------------------------------------------------*/

/* The copy of a shared node is a new parent of all it references. */
static int inc_children(struct dmrow_btree_info *info, const struct row_disk_btree_node *n)
{
	u32 i;
	int r;

	if (is_leaf(n) && info->vt.inc_many)
		return nr_entries(n) ? info->vt.inc_many(info->vt.context, value_at(n, 0),
							 nr_entries(n)) : 0;
	for (i = 0; i < nr_entries(n); i++) {
		if (is_leaf(n))
			r = info->vt.inc ? info->vt.inc(info->vt.context, value_at(n, i)) : 0;
		else
			r = dmrow_tm_inc(info->tm, child_at(n, i));
		if (r)
			return r;
	}
	return 0;
}

static int shadow_node(struct dmrow_btree_info *info, u64 b, struct dmrow_block **blk,
		       struct row_disk_btree_node **n)
{
	bool inc;
	int r;

	r = dmrow_tm_shadow(info->tm, b, &dmrow_btree_validator, blk, &inc);
	if (r)
		return r;
	*n = dmrow_block_data(*blk);
	r = check_node_fits(info, *n, b);
	if (!r && inc)
		r = inc_children(info, *n);
	if (r)
		dmrow_tm_unlock(info->tm, *blk);
	return r;
}

static int new_node(struct dmrow_btree_info *info, bool leaf, struct dmrow_block **blk,
		    struct row_disk_btree_node **n)
{
	int r = dmrow_tm_new_block(info->tm, &dmrow_btree_validator, blk);

	if (r)
		return r;
	*n = dmrow_block_data(*blk);
	init_node(*n, leaf, leaf ? info->vt.size : sizeof(__le64));
	return 0;
}

/*----------------------------------------------------------------
 * Insert
 *--------------------------------------------------------------*/

/* Move the upper half of @left into the empty node @right. */
static void move_upper_half(struct row_disk_btree_node *left,
			    struct row_disk_btree_node *right)
{
	u32 nr = nr_entries(left), keep = nr / 2, vs = le32_to_cpu(left->value_size);

	memcpy(&right->keys[0], &left->keys[keep], (nr - keep) * sizeof(__le64));
	memcpy(value_ptr(right, 0), value_ptr(left, keep), (nr - keep) * vs);
	right->nr_entries = cpu_to_le32(nr - keep);
	left->nr_entries = cpu_to_le32(keep);
}

/*
 * The root is full: move all its entries into two new children, so the
 * root stays where it is and gains a level.
 */
static int split_root(struct dmrow_btree_info *info, struct row_disk_btree_node *root)
{
	struct row_disk_btree_node *left, *right;
	struct dmrow_block *lblk, *rblk;
	bool leaf = is_leaf(root);
	u32 vs = le32_to_cpu(root->value_size);
	int r;

	r = new_node(info, leaf, &lblk, &left);
	if (r)
		return r;
	r = new_node(info, leaf, &rblk, &right);
	if (r) {
		dmrow_tm_unlock(info->tm, lblk);
		return r;
	}
	memcpy(&left->keys[0], &root->keys[0], nr_entries(root) * sizeof(__le64));
	memcpy(value_ptr(left, 0), value_ptr(root, 0), nr_entries(root) * vs);
	left->nr_entries = root->nr_entries;
	move_upper_half(left, right);

	init_node(root, false, sizeof(__le64));
	root->keys[0] = left->keys[0];
	set_child(root, 0, dmrow_block_location(lblk));
	root->keys[1] = right->keys[0];
	set_child(root, 1, dmrow_block_location(rblk));
	root->nr_entries = cpu_to_le32(2);

	dmrow_tm_unlock(info->tm, rblk);
	dmrow_tm_unlock(info->tm, lblk);
	return 0;
}

/*
 * Child @i of @parent is full: split it, the upper half going to a new
 * sibling at @i + 1.  *blk and *n is the child on entry and, on return, the
 * half that @key belongs in; the other half is unlocked.
 */
static int split_child(struct dmrow_btree_info *info, struct row_disk_btree_node *parent,
		       u32 i, u64 key, struct dmrow_block **blk,
		       struct row_disk_btree_node **n)
{
	struct row_disk_btree_node *sibling;
	struct dmrow_block *sblk;
	__le64 loc;
	int r;

	r = new_node(info, is_leaf(*n), &sblk, &sibling);
	if (r)
		return r;
	move_upper_half(*n, sibling);
	loc = cpu_to_le64(dmrow_block_location(sblk));
	insert_at(parent, i + 1, key_at(sibling, 0), &loc);

	if (key >= key_at(sibling, 0)) {
		dmrow_tm_unlock(info->tm, *blk);
		*blk = sblk;
		*n = sibling;
	} else {
		dmrow_tm_unlock(info->tm, sblk);
	}
	return 0;
}

static bool is_full(const struct row_disk_btree_node *n)
{
	return nr_entries(n) >= le32_to_cpu(n->max_entries);
}

static void insert_into_leaf(struct dmrow_btree_info *info, struct row_disk_btree_node *leaf,
			     u64 key, const void *value, void *old_value, bool *replaced)
{
	int i = lower_bound(leaf, key);

	if (i >= 0 && key_at(leaf, i) == key) {
		if (old_value)
			memcpy(old_value, value_at(leaf, i), info->vt.size);
		if (replaced)
			*replaced = true;
		memcpy(value_ptr(leaf, i), value, info->vt.size);
		return;
	}
	insert_at(leaf, i + 1, key, value);
}

/*
 * Fill the leaf @n (not full) with the entries of the run that belong in
 * it: the first always, then each that follows in strictly ascending
 * order, sorts below @limit (when @has_limit: the first key of the next
 * leaf) and finds the leaf not full yet.
 */
static unsigned int fill_leaf(struct dmrow_btree_info *info, struct row_disk_btree_node *n,
			      const u64 *keys, const void *values, unsigned int nr,
			      bool has_limit, u64 limit, void *old_values, bool *replaced)
{
	u32 vs = info->vt.size;
	unsigned int i;

	for (i = 0; i < nr; i++) {
		if (i && (keys[i] <= keys[i - 1] || (has_limit && keys[i] >= limit) ||
			  is_full(n)))
			break;
		if (replaced)
			replaced[i] = false;
		insert_into_leaf(info, n, keys[i], (const u8 *)values + i * vs,
				 old_values ? (u8 *)old_values + i * vs : NULL,
				 replaced ? &replaced[i] : NULL);
	}
	return i;
}

int dmrow_btree_insert_run(struct dmrow_btree_info *info, u64 root, const u64 *keys,
			   const void *values, unsigned int nr, u64 *new_root,
			   void *old_values, bool *replaced, unsigned int *done)
{
	struct row_disk_btree_node *n, *child;
	struct dmrow_block *blk, *cblk;
	bool has_limit = false;
	unsigned int depth;
	u64 key = keys[0], limit = 0;
	int r, i;

	*done = 0;
	if (!nr)
		return 0;
	if (!root) {
		r = new_node(info, true, &blk, &n);
		if (r)
			return r;
		*done = fill_leaf(info, n, keys, values, nr, false, 0, old_values, replaced);
		*new_root = dmrow_block_location(blk);
		dmrow_tm_unlock(info->tm, blk);
		return 0;
	}

	r = shadow_node(info, root, &blk, &n);
	if (r)
		return r;
	*new_root = dmrow_block_location(blk);
	if (is_full(n)) {
		r = split_root(info, n);
		if (r)
			goto out;
	}

	for (depth = 0; !is_leaf(n); depth++) {
		if (depth >= DMROW_BTREE_MAX_DEPTH) {
			r = -EILSEQ;
			goto out;
		}
		i = lower_bound(n, key);
		if (i < 0) {
			/* Smaller than every key: keep key[0] a lower bound. */
			i = 0;
			n->keys[0] = cpu_to_le64(key);
		}
		r = shadow_node(info, child_at(n, i), &cblk, &child);
		if (r)
			goto out;
		set_child(n, i, dmrow_block_location(cblk));
		if (is_full(child)) {
			r = split_child(info, n, i, key, &cblk, &child);
			if (r) {
				dmrow_tm_unlock(info->tm, cblk);
				goto out;
			}
			if (key >= key_at(n, i + 1))
				i++;		/* the new upper half */
		}
		/* The next child's first key bounds this subtree, and so the run. */
		if ((u32)i + 1 < nr_entries(n)) {
			limit = key_at(n, i + 1);
			has_limit = true;
		}
		dmrow_tm_unlock(info->tm, blk);
		blk = cblk;
		n = child;
	}
	*done = fill_leaf(info, n, keys, values, nr, has_limit, limit, old_values, replaced);
out:
	dmrow_tm_unlock(info->tm, blk);
	return r;
}

int dmrow_btree_insert(struct dmrow_btree_info *info, u64 root, u64 key,
		       const void *value, u64 *new_root, void *old_value,
		       bool *replaced)
{
	unsigned int done;

	if (replaced)
		*replaced = false;
	return dmrow_btree_insert_run(info, root, &key, value, 1, new_root, old_value,
				      replaced, &done);
}

/*----------------------------------------------------------------
 * Remove
 *--------------------------------------------------------------*/

/*
 * Remove @key below node @b (known to hold it).  *new_b is where the node
 * now lives; *emptied says it has no entries left and its parent should
 * free it.
 */
static int remove_rec(struct dmrow_btree_info *info, u64 b, u64 key, u64 *new_b,
		      bool *emptied, void *old_value, unsigned int depth)
{
	struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	bool child_emptied;
	u64 child, new_child;
	int r, i;

	if (depth >= DMROW_BTREE_MAX_DEPTH)
		return -EILSEQ;
	r = shadow_node(info, b, &blk, &n);
	if (r)
		return r;
	*new_b = dmrow_block_location(blk);
	i = lower_bound(n, key);
	if (i < 0 || (is_leaf(n) && key_at(n, i) != key)) {
		dmrow_tm_unlock(info->tm, blk);
		return -ENODATA;
	}
	if (is_leaf(n)) {
		if (old_value)
			memcpy(old_value, value_at(n, i), info->vt.size);
		delete_at(n, i);
		*emptied = !nr_entries(n);
		dmrow_tm_unlock(info->tm, blk);
		return 0;
	}

	child = child_at(n, i);
	/* The node is ours now; no need to hold it while the child changes. */
	dmrow_tm_unlock(info->tm, blk);
	r = remove_rec(info, child, key, &new_child, &child_emptied, old_value, depth + 1);
	if (r)
		return r;

	r = dmrow_bm_write_lock(info->tm->bm, *new_b, &dmrow_btree_validator, &blk);
	if (r)
		return r;
	n = dmrow_block_data(blk);
	if (child_emptied) {
		delete_at(n, i);
		r = dmrow_tm_dec(info->tm, new_child);
	} else {
		set_child(n, i, new_child);
	}
	*emptied = !nr_entries(n);
	dmrow_tm_unlock(info->tm, blk);
	return r;
}

/* While the root is an internal node with one child, the child becomes root. */
static int collapse_root(struct dmrow_btree_info *info, u64 *root)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	unsigned int depth;
	u64 child;
	u32 count;
	int r;

	/*
	 * No deeper than a tree can be: in a corrupt tree the single children
	 * may lead round in a circle, and shared ones (inc the child, dec the
	 * root) would keep every count as it was, round and round.
	 */
	for (depth = 0; ; depth++) {
		if (depth >= DMROW_BTREE_MAX_DEPTH)
			return -EILSEQ;
		r = read_node(info, *root, &blk, &n);
		if (r)
			return r;
		if (is_leaf(n) || nr_entries(n) != 1) {
			dmrow_tm_unlock(info->tm, blk);
			return 0;
		}
		child = child_at(n, 0);
		dmrow_tm_unlock(info->tm, blk);
		/*
		 * A root ours alone is freed and its reference moves to the
		 * child.  Only the first root was just shadowed: a lower one
		 * may be shared with another tree, keeps its reference to the
		 * child then, and the child needs one more for being our root.
		 */
		r = dmrow_tm_ref_count(info->tm, *root, &count);
		if (!r && count > 1)
			r = dmrow_tm_inc(info->tm, child);
		if (!r)
			r = dmrow_tm_dec(info->tm, *root);
		if (r)
			return r;
		*root = child;
	}
}

int dmrow_btree_remove(struct dmrow_btree_info *info, u64 root, u64 key,
		       u64 *new_root, void *old_value)
{
	bool emptied;
	int r;

	r = dmrow_btree_lookup(info, root, key, NULL);
	if (r)
		return r;
	r = remove_rec(info, root, key, new_root, &emptied, old_value, 0);
	if (r)
		return r;
	if (emptied) {
		r = dmrow_tm_dec(info->tm, *new_root);
		*new_root = 0;
		return r;
	}
	return collapse_root(info, new_root);
}

/*----------------------------------------------------------------
 * Delete
 *--------------------------------------------------------------*/

static int del_rec(struct dmrow_btree_info *info, u64 b, const struct key_range *range,
		   unsigned int depth)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	struct key_range cr;
	u32 count, i;
	int r;

	if (depth >= DMROW_BTREE_MAX_DEPTH)
		return -EILSEQ;
	r = dmrow_tm_ref_count(info->tm, b, &count);
	if (r)
		return r;
	if (count > 1)
		return dmrow_tm_dec(info->tm, b);

	r = read_node_in(info, b, range, &blk, &n);
	if (r)
		return r;
	for (i = 0; i < nr_entries(n) && !r; i++) {
		if (is_leaf(n)) {
			r = info->vt.dec ? info->vt.dec(info->vt.context, value_at(n, i)) : 0;
		} else {
			cr = child_range(n, i, range);
			r = del_rec(info, child_at(n, i), &cr, depth + 1);
		}
	}
	dmrow_tm_unlock(info->tm, blk);
	if (r)
		return r;
	return dmrow_tm_dec(info->tm, b);
}

int dmrow_btree_del(struct dmrow_btree_info *info, u64 root)
{
	if (!root)
		return 0;
	return del_rec(info, root, &all_keys, 0);
}

/*----------------------------------------------------------------
 * Walks
 *--------------------------------------------------------------*/

static int walk_rec(struct dmrow_btree_info *info, u64 b, const struct key_range *range,
		    bool exclusive_only,
		    int (*fn)(void *context, u64 key, const void *value),
		    void *context, unsigned int depth)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	struct key_range cr;
	u32 i, count;
	int r;

	if (depth >= DMROW_BTREE_MAX_DEPTH)
		return -EILSEQ;
	if (exclusive_only) {
		r = dmrow_tm_ref_count(info->tm, b, &count);
		if (r || count > 1)
			return r;
	}
	r = read_node_in(info, b, range, &blk, &n);
	if (r)
		return r;
	for (i = 0; i < nr_entries(n) && !r; i++) {
		if (is_leaf(n)) {
			r = fn(context, key_at(n, i), value_at(n, i));
		} else {
			cr = child_range(n, i, range);
			r = walk_rec(info, child_at(n, i), &cr, exclusive_only, fn, context,
				     depth + 1);
		}
	}
	dmrow_tm_unlock(info->tm, blk);
	return r;
}

int dmrow_btree_walk(struct dmrow_btree_info *info, u64 root,
		     int (*fn)(void *context, u64 key, const void *value),
		     void *context)
{
	return root ? walk_rec(info, root, &all_keys, false, fn, context, 0) : 0;
}

int dmrow_btree_walk_exclusive(struct dmrow_btree_info *info, u64 root,
			       int (*fn)(void *context, u64 key, const void *value),
			       void *context)
{
	return root ? walk_rec(info, root, &all_keys, true, fn, context, 0) : 0;
}

/*----------------------------------------------------------------
 * Diff
 *--------------------------------------------------------------*/

/*
 * A cursor: the path from the root to the current entry, which is either a
 * child pointer of an internal node (standing for a whole subtree) or a
 * leaf entry.  All leaves are at the same depth, so the level of the
 * current entry (0 for a leaf) is height - 1 - depth.
 */
struct cursor {
	struct dmrow_btree_info *info;
	unsigned int height;
	int depth;		/* -1: exhausted */
	struct {
		struct dmrow_block *blk;
		const struct row_disk_btree_node *n;
		struct key_range range;
		u32 i;
	} path[DMROW_BTREE_MAX_DEPTH];
};

static int tree_height(struct dmrow_btree_info *info, u64 root, unsigned int *height)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	bool leaf;
	int r;

	for (*height = 0; root; (*height)++) {
		if (*height >= DMROW_BTREE_MAX_DEPTH)
			return -EILSEQ;
		r = read_node(info, root, &blk, &n);
		if (r)
			return r;
		leaf = is_leaf(n);
		root = leaf ? 0 : child_at(n, 0);
		dmrow_tm_unlock(info->tm, blk);
	}
	return 0;
}

static int cursor_push(struct cursor *c, u64 b)
{
	struct key_range range = all_keys;
	int r;

	if (c->depth + 1 >= (int)c->height)
		return -EILSEQ;
	if (c->depth >= 0)
		range = child_range(c->path[c->depth].n, c->path[c->depth].i,
				    &c->path[c->depth].range);
	c->depth++;
	c->path[c->depth].range = range;
	r = read_node_in(c->info, b, &range, &c->path[c->depth].blk, &c->path[c->depth].n);
	if (r) {
		c->depth--;
		return r;
	}
	c->path[c->depth].i = 0;
	/* Leaves must be exactly at the bottom. */
	if (is_leaf(c->path[c->depth].n) != (c->depth == (int)c->height - 1)) {
		dmrow_tm_unlock(c->info->tm, c->path[c->depth].blk);
		c->depth--;
		return -EILSEQ;
	}
	return 0;
}

static int cursor_init(struct cursor *c, struct dmrow_btree_info *info, u64 root)
{
	int r;

	c->info = info;
	c->depth = -1;
	r = tree_height(info, root, &c->height);
	if (r || !root)
		return r;
	return cursor_push(c, root);
}

static void cursor_exit(struct cursor *c)
{
	for (; c->depth >= 0; c->depth--)
		dmrow_tm_unlock(c->info->tm, c->path[c->depth].blk);
}

static bool cursor_done(const struct cursor *c)
{
	return c->depth < 0;
}

static const struct row_disk_btree_node *cursor_node(const struct cursor *c)
{
	return c->path[c->depth].n;
}

static u64 cursor_key(const struct cursor *c)
{
	return key_at(cursor_node(c), c->path[c->depth].i);
}

static bool cursor_at_leaf(const struct cursor *c)
{
	return is_leaf(cursor_node(c));
}

static unsigned int cursor_level(const struct cursor *c)
{
	return c->height - 1 - c->depth;
}

static u64 cursor_child(const struct cursor *c)
{
	return child_at(cursor_node(c), c->path[c->depth].i);
}

static const void *cursor_value(const struct cursor *c)
{
	return value_at(cursor_node(c), c->path[c->depth].i);
}

/* Step over the current entry (or whole subtree). */
static void cursor_next(struct cursor *c)
{
	while (c->depth >= 0) {
		if (++c->path[c->depth].i < nr_entries(c->path[c->depth].n))
			return;
		dmrow_tm_unlock(c->info->tm, c->path[c->depth].blk);
		c->depth--;
	}
}

static int cursor_descend(struct cursor *c)
{
	return cursor_push(c, cursor_child(c));
}

/*
 * Skip every key below @start: in each internal node go down the last
 * child whose keys begin at or before @start (the ones before it hold only
 * smaller keys), then step over the leaf's keys below @start.  Whatever
 * the cursor visits afterwards is at or past @start; the node path it
 * leaves is the one a walk from the first key would have reached there.
 */
static int cursor_seek(struct cursor *c, u64 start)
{
	int r;

	while (!cursor_done(c) && !cursor_at_leaf(c)) {
		const struct row_disk_btree_node *n = cursor_node(c);
		unsigned int i = c->path[c->depth].i;

		while (i + 1 < nr_entries(n) && key_at(n, i + 1) <= start)
			i++;
		c->path[c->depth].i = i;
		r = cursor_descend(c);
		if (r)
			return r;
	}
	while (!cursor_done(c) && cursor_at_leaf(c) &&
	       (c->path[c->depth].i >= nr_entries(cursor_node(c)) || cursor_key(c) < start))
		cursor_next(c);
	return 0;
}

int dmrow_btree_diff_from(struct dmrow_btree_info *info, u64 root_a, u64 root_b, u64 start,
			  int (*fn)(void *context, u64 key, const void *value_a,
				    const void *value_b),
			  void *context)
{
	struct cursor a, b;
	int r;

	if (root_a == root_b)
		return 0;
	r = cursor_init(&a, info, root_a);
	if (r)
		return r;
	r = cursor_init(&b, info, root_b);
	if (r) {
		cursor_exit(&a);
		return r;
	}
	if (start) {
		r = cursor_seek(&a, start);
		if (!r)
			r = cursor_seek(&b, start);
	}

	while (!r && (!cursor_done(&a) || !cursor_done(&b))) {
		bool a_leaf = !cursor_done(&a) && cursor_at_leaf(&a);
		bool b_leaf = !cursor_done(&b) && cursor_at_leaf(&b);
		u64 ka, kb;

		if (cursor_done(&a) || cursor_done(&b)) {
			struct cursor *c = cursor_done(&a) ? &b : &a;

			if (!cursor_at_leaf(c)) {
				r = cursor_descend(c);
			} else {
				r = c == &a ? fn(context, cursor_key(c), cursor_value(c), NULL)
					    : fn(context, cursor_key(c), NULL, cursor_value(c));
				cursor_next(c);
			}
			continue;
		}

		ka = cursor_key(&a);
		kb = cursor_key(&b);
		if (!a_leaf && !b_leaf) {
			if (cursor_child(&a) == cursor_child(&b)) {
				/* The same subtree on both sides: nothing differs in it. */
				cursor_next(&a);
				cursor_next(&b);
			} else if (ka < kb) {
				r = cursor_descend(&a);
			} else if (kb < ka) {
				r = cursor_descend(&b);
			} else if (cursor_level(&a) > cursor_level(&b)) {
				r = cursor_descend(&a);
			} else if (cursor_level(&b) > cursor_level(&a)) {
				r = cursor_descend(&b);
			} else {
				r = cursor_descend(&a);
				if (!r)
					r = cursor_descend(&b);
			}
		} else if (!a_leaf) {
			/* b's key comes first only if it is below a's lower bound. */
			if (kb < ka) {
				r = fn(context, kb, NULL, cursor_value(&b));
				cursor_next(&b);
			} else {
				r = cursor_descend(&a);
			}
		} else if (!b_leaf) {
			if (ka < kb) {
				r = fn(context, ka, cursor_value(&a), NULL);
				cursor_next(&a);
			} else {
				r = cursor_descend(&b);
			}
		} else if (ka == kb) {
			if (memcmp(cursor_value(&a), cursor_value(&b), info->vt.size))
				r = fn(context, ka, cursor_value(&a), cursor_value(&b));
			cursor_next(&a);
			cursor_next(&b);
		} else if (ka < kb) {
			r = fn(context, ka, cursor_value(&a), NULL);
			cursor_next(&a);
		} else {
			r = fn(context, kb, NULL, cursor_value(&b));
			cursor_next(&b);
		}
	}
	cursor_exit(&b);
	cursor_exit(&a);
	return r;
}

int dmrow_btree_diff(struct dmrow_btree_info *info, u64 root_a, u64 root_b,
		     int (*fn)(void *context, u64 key, const void *value_a,
			       const void *value_b),
		     void *context)
{
	return dmrow_btree_diff_from(info, root_a, root_b, 0, fn, context);
}

/*----------------------------------------------------------------
 * Check
 *--------------------------------------------------------------*/

struct check_state {
	struct dmrow_btree_info *info;
	int (*node_fn)(void *context, u64 b);
	int (*value_fn)(void *context, u64 key, const void *value);
	void *context;
	struct dmrow_btree_stats *stats;
	int leaf_depth;		/* -1 until the first leaf */
	bool have_last;
	u64 last_key;
};

/* Every key under @b must be >= @lower and, if @bounded, < @upper. */
static int check_rec(struct check_state *cs, u64 b, u64 lower, u64 upper, bool bounded,
		     unsigned int depth)
{
	const struct row_disk_btree_node *n;
	struct dmrow_block *blk;
	u32 i;
	int r;

	if (depth >= DMROW_BTREE_MAX_DEPTH) {
		DMERR_LIMIT("btree deeper than %d at node %llu", DMROW_BTREE_MAX_DEPTH,
			    (unsigned long long)b);
		return -EILSEQ;
	}
	if (cs->node_fn) {
		r = cs->node_fn(cs->context, b);
		if (r < 0)
			return r;
		if (r > 0) {
			/* Seen before through another parent: checked then. */
			cs->have_last = false;
			return 0;
		}
	}
	r = read_node(cs->info, b, &blk, &n);
	if (r)
		return r;
	cs->stats->nr_nodes++;
	if (key_at(n, 0) < lower || (bounded && key_at(n, nr_entries(n) - 1) >= upper)) {
		DMERR_LIMIT("btree node %llu: keys outside the range its parent gives it",
			    (unsigned long long)b);
		r = -EILSEQ;
		goto out;
	}
	if (is_leaf(n)) {
		if (cs->leaf_depth < 0)
			cs->leaf_depth = depth;
		if (cs->leaf_depth != (int)depth) {
			DMERR_LIMIT("btree leaf %llu at depth %u, others at %d",
				    (unsigned long long)b, depth, cs->leaf_depth);
			r = -EILSEQ;
			goto out;
		}
		if (cs->have_last && key_at(n, 0) <= cs->last_key) {
			DMERR_LIMIT("btree leaf %llu: keys overlap the previous leaf",
				    (unsigned long long)b);
			r = -EILSEQ;
			goto out;
		}
		cs->stats->nr_entries += nr_entries(n);
		for (i = 0; i < nr_entries(n) && cs->value_fn && !r; i++)
			r = cs->value_fn(cs->context, key_at(n, i), value_at(n, i));
		cs->last_key = key_at(n, nr_entries(n) - 1);
		cs->have_last = true;
		goto out;
	}
	for (i = 0; i < nr_entries(n) && !r; i++) {
		bool last = i + 1 == nr_entries(n);

		r = check_rec(cs, child_at(n, i), key_at(n, i),
			      last ? upper : key_at(n, i + 1), bounded || !last, depth + 1);
	}
out:
	dmrow_tm_unlock(cs->info->tm, blk);
	return r;
}

int dmrow_btree_check(struct dmrow_btree_info *info, u64 root,
		      int (*node_fn)(void *context, u64 b), void *context,
		      struct dmrow_btree_stats *stats)
{
	return dmrow_btree_check_visit(info, root, node_fn, NULL, context, stats);
}

int dmrow_btree_check_visit(struct dmrow_btree_info *info, u64 root,
			    int (*node_fn)(void *context, u64 b),
			    int (*value_fn)(void *context, u64 key, const void *value),
			    void *context, struct dmrow_btree_stats *stats)
{
	struct check_state cs = {
		.info = info, .node_fn = node_fn, .value_fn = value_fn,
		.context = context, .stats = stats, .leaf_depth = -1,
	};
	int r;

	memset(stats, 0, sizeof(*stats));
	if (!root)
		return 0;
	r = check_rec(&cs, root, 0, 0, false, 0);
	stats->height = cs.leaf_depth + 1;
	return r;
}
