/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copy-on-write B+trees with reference-counted nodes, the structure behind
 * every dm-row map: the block maps of disks and snapshots, the disk and
 * snapshot records, and the space maps' indexes.
 *
 * Keys are u64; a tree's values have a fixed size.  A tree is named by the
 * location of its root; 0 is the empty tree.  Trees share nodes: sharing a
 * whole tree is one more reference on its root (dmrow_tm_inc()), and a
 * change to a shared tree copies only the path it touches.  Leaf values
 * may themselves hold references (a mapping holds its data block); the
 * value type's inc/dec keep those counts right as leaves are copied and
 * freed.
 *
 * All functions may block.  Lookups, walks and diffs need the pool metadata
 * lock held for reading; insert, remove and del for writing.  Functions
 * that change a tree return its new root in *new_root.
 */
#ifndef DM_ROW_BTREE_H
#define DM_ROW_BTREE_H

#include <linux/types.h>

struct dmrow_tm;

#define DMROW_BTREE_MAX_DEPTH 16
#define DMROW_BTREE_MAX_VALUE_SIZE 512

struct dmrow_btree_value_type {
	unsigned int size;
	void *context;
	/* A leaf holding @value was copied: the value has one more holder. */
	int (*inc)(void *context, const void *value);
	/*
	 * Optional: the same for the @nr values of a copied leaf at once
	 * (@values packed, @size bytes apart), so their holders can be
	 * counted in runs rather than one by one.
	 */
	int (*inc_many)(void *context, const void *values, unsigned int nr);
	/* A leaf holding @value was freed or the value was dropped. */
	int (*dec)(void *context, const void *value);
};

struct dmrow_btree_info {
	struct dmrow_tm *tm;
	struct dmrow_btree_value_type vt;
};

int dmrow_btree_lookup(struct dmrow_btree_info *info, u64 root, u64 key, void *value);
/* The same, or -EWOULDBLOCK when a node is not cached and checked already. */
int dmrow_btree_lookup_nonblocking(struct dmrow_btree_info *info, u64 root, u64 key,
				   void *value);
/*
 * Nonblocking lookup of the run @key, @key + 1 ...: @visit gets, in order,
 * the values that the leaf holding @key has for them, at most @max, until it
 * returns false.  *@visited: how many it got (the run may go on in the next
 * leaf: look it up from @key + *@visited).  -ENODATA if @key is absent;
 * *@visited is then how many keys from @key on are absent (1 to @max, as
 * far as the leaf and the path to it tell: an unmapped run costs one
 * lookup per leaf it spans, not one per key).
 */
typedef bool (*dmrow_btree_run_fn)(void *context, u64 key, const void *value);
int dmrow_btree_lookup_run_nonblocking(struct dmrow_btree_info *info, u64 root, u64 key,
				       unsigned int max, dmrow_btree_run_fn visit,
				       void *context, unsigned int *visited);

/* The first entry with a key >= @key: -ENODATA if there is none. */
int dmrow_btree_lookup_next(struct dmrow_btree_info *info, u64 root, u64 key,
			    u64 *found_key, void *value);

/*
 * Insert or overwrite.  If an entry was overwritten, *replaced is set and
 * its value copied to @old_value (the caller drops what it held); either
 * may be NULL if the caller knows the key is new.
 */
int dmrow_btree_insert(struct dmrow_btree_info *info, u64 root, u64 key,
		       const void *value, u64 *new_root, void *old_value,
		       bool *replaced);
/*
 * Insert or overwrite a run of entries with one walk from the root: the
 * first, and after it each that is strictly greater than the one before
 * and still belongs in the same leaf, while the leaf has room.  *@done
 * says how many went in (at least one unless an error is returned); the
 * caller goes on from there with the new root.  @values, and @old_values
 * and @replaced when not NULL, hold one value (or flag) per key, as
 * dmrow_btree_insert() does for one.  Sorted keys that fall in one leaf,
 * as neighbouring blocks written together do, share its walk and shadow.
 */
int dmrow_btree_insert_run(struct dmrow_btree_info *info, u64 root, const u64 *keys,
			   const void *values, unsigned int nr, u64 *new_root,
			   void *old_values, bool *replaced, unsigned int *done);

/* Remove @key; its value is copied to @old_value.  -ENODATA if absent. */
int dmrow_btree_remove(struct dmrow_btree_info *info, u64 root, u64 key,
		       u64 *new_root, void *old_value);

/* Drop one reference to a tree, freeing what nothing else shares. */
int dmrow_btree_del(struct dmrow_btree_info *info, u64 root);

/* In key order; a nonzero return from @fn stops the walk and is returned. */
int dmrow_btree_walk(struct dmrow_btree_info *info, u64 root,
		     int (*fn)(void *context, u64 key, const void *value),
		     void *context);

/*
 * Every key whose value differs between two trees of the same value type,
 * in key order: @fn gets NULL for the side that lacks the key.  Subtrees
 * the two share are skipped, so the cost grows with the difference, not
 * with the size of the trees.
 */
int dmrow_btree_diff(struct dmrow_btree_info *info, u64 root_a, u64 root_b,
		     int (*fn)(void *context, u64 key, const void *value_a,
			       const void *value_b),
		     void *context);

/*
 * The same from key @start on: the keys below it are skipped without being
 * read, so a listing taken in pages costs each page what it lists (plus a
 * path from the root), not what comes before it.
 */
int dmrow_btree_diff_from(struct dmrow_btree_info *info, u64 root_a, u64 root_b, u64 start,
			  int (*fn)(void *context, u64 key, const void *value_a,
				    const void *value_b),
			  void *context);

/*
 * The values that only this tree holds (reached through nodes referenced
 * once): what dmrow_btree_del() would release if called now.
 */
int dmrow_btree_walk_exclusive(struct dmrow_btree_info *info, u64 root,
			       int (*fn)(void *context, u64 key, const void *value),
			       void *context);

/* Levels from @root to its leaves (every leaf is as deep): 0 for no tree. */
int dmrow_btree_height(struct dmrow_btree_info *info, u64 root, unsigned int *height);

/* Node statistics, for checks and dumps. */
struct dmrow_btree_stats {
	u64 nr_entries;
	u64 nr_nodes;
	unsigned int height;
};

/*
 * Check a tree's structure: checksums, key order, lower bounds, equal leaf
 * depth.  @node_fn, if set, is called once per node reference.
 */
int dmrow_btree_check(struct dmrow_btree_info *info, u64 root,
		      int (*node_fn)(void *context, u64 b), void *context,
		      struct dmrow_btree_stats *stats);

/*
 * The same, for checking trees that share nodes: @node_fn may return 1 to
 * skip a node (and what is below it) already checked through another
 * parent; @value_fn is called for every entry of every leaf checked.
 */
int dmrow_btree_check_visit(struct dmrow_btree_info *info, u64 root,
			    int (*node_fn)(void *context, u64 b),
			    int (*value_fn)(void *context, u64 key, const void *value),
			    void *context, struct dmrow_btree_stats *stats);

extern const struct dmrow_validator dmrow_btree_validator;

#endif /* DM_ROW_BTREE_H */
