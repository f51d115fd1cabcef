// SPDX-License-Identifier: GPL-2.0
/*
 * The control plane: pool messages (`dmsetup message <pool> 0 <verb> ...`).
 * Every message runs on the pool's worker, so it is ordered with the I/O
 * path; every message that changes metadata commits before it returns.
 * It sees its pool only through dm-row-control.h: the metadata, the block
 * size, the mode, and the services the pool offers it there.
 * The grammar is in include/uapi/linux/dm-row.h and Documentation/dm-row.rst.
 *
 * A message that prints returns 1 with its text in the result buffer, one
 * record per line, "key=value" fields separated by spaces.  Listings stop
 * before the buffer would overflow and end with "next=<id>" when there is
 * more to fetch.
 */
#include <linux/device-mapper.h>
#include <linux/dm-row.h>
#include <linux/kernel.h>
#include <linux/kstrtox.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

#include "dm-row-control.h"

#define DM_MSG_PREFIX "row-pool"

struct msg_ctx {
	struct dmrow_pool *pool;	/* opaque: see dm-row-control.h */
	struct dmrow_metadata *md;
	unsigned int block_shift;	/* log2 of the data block size in sectors */
	unsigned int argc;
	char **argv;
	char *result;
	unsigned int maxlen;
	unsigned int sz;
	bool overflow;
	const char *why;	/* why it was refused, for the log */
	bool unchanged;		/* it failed, but put back what it changed */
	/*
	 * The transaction held nothing but committed work when the handler
	 * began (dmrow_md_changes() then: changes_at_start), so a failure
	 * can abort back to it and lose nothing acknowledged.
	 */
	bool clean_start;
	u64 changes_at_start;
};

struct msg_handler {
	const char *verb;
	unsigned int min_args;	/* after the verb */
	unsigned int max_args;
	bool changes;		/* commits, and is refused on a read-only pool */
	bool frees_space;	/* allowed even when metadata space is low */
	/*
	 * Frees data blocks that only inactive or suspended devices map
	 * (delete, merge, rollback, shrink, remove): runs once every bio
	 * admitted before it is done, so what it frees is free at once.
	 */
	bool frees_blocks;
	int (*fn)(struct msg_ctx *m);
};

/*----------------------------------------------------------------*/

static __printf(2, 3) void emit(struct msg_ctx *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->overflow || !m->result)
		return;
	va_start(ap, fmt);
	n = vsnprintf(m->result + m->sz, m->maxlen - m->sz, fmt, ap);
	va_end(ap);
	if (n < 0 || m->sz + n >= m->maxlen) {
		m->result[m->sz] = '\0';
		m->overflow = true;
		return;
	}
	m->sz += n;
}

/* Room for one more record of about @need bytes, plus a "next=" line? */
static bool room_for(struct msg_ctx *m, unsigned int need)
{
	return m->result && m->sz + need + 32 < m->maxlen;
}

static int parse_u64(struct msg_ctx *m, const char *arg, u64 *value, const char *what)
{
	if (kstrtou64(arg, 10, value)) {
		m->why = what;
		return -EINVAL;
	}
	return 0;
}

static int parse_u32(struct msg_ctx *m, const char *arg, u32 *value, const char *what)
{
	if (kstrtou32(arg, 10, value)) {
		m->why = what;
		return -EINVAL;
	}
	return 0;
}

static u64 now_seconds(void)
{
	return ktime_get_real_seconds();
}

static sector_t block_sectors(struct msg_ctx *m)
{
	return (sector_t)1 << m->block_shift;
}

/* A size in sectors, a whole number of blocks, as blocks. */
static int parse_size(struct msg_ctx *m, const char *arg, u64 *blocks)
{
	u64 sectors;
	int r = parse_u64(m, arg, &sectors, "size must be a number of sectors");

	if (r)
		return r;
	if (!sectors || sectors & (block_sectors(m) - 1)) {
		m->why = "size must be a positive multiple of the data block size";
		return -EINVAL;
	}
	*blocks = sectors >> m->block_shift;
	return 0;
}

/* "key=value": the value if @arg starts with @key=, else NULL. */
static const char *value_of(const char *arg, const char *key)
{
	size_t len = strlen(key);

	return !strncmp(arg, key, len) && arg[len] == '=' ? arg + len + 1 : NULL;
}

/*
 * Does a snapshot of @disk_id that would go have an active device?  The
 * @nr_oldest_auto oldest automatic snapshots are checked: U32_MAX for all of
 * them (what remove_disk deletes with delete_auto_snapshots), or as many as
 * an automatic snapshot over quota evicts (more than one when the quota was
 * lowered below the count).
 */
static bool doomed_view_active(struct msg_ctx *m, u64 disk_id, u32 nr_oldest_auto)
{
	struct dmrow_snapshot_info snap;
	struct dmrow_disk_info disk;
	struct dmrow_chain_walk walk;
	u64 id;

	if (dmrow_md_get_disk(m->md, disk_id, &disk))
		return false;
	dmrow_chain_walk_init(&walk, (u64)disk.nr_manual + disk.nr_auto);
	for (id = disk.first_snapshot; id && dmrow_chain_walk_step(&walk, id); id = snap.next) {
		if (dmrow_md_get_snapshot(m->md, id, &snap))
			return false;
		if (!(snap.flags & DMROW_SNAP_AUTO))
			continue;
		if (dmrow_pool_disk_active(m->pool, disk_id, id, true))
			return true;
		if (!--nr_oldest_auto)
			return false;
	}
	return false;
}

/*----------------------------------------------------------------
 * Disks
 *--------------------------------------------------------------*/

static int msg_create_disk(struct msg_ctx *m)
{
	u64 id, blocks;
	int r;

	r = parse_u64(m, m->argv[1], &id, "disk id must be a number");
	if (!r)
		r = parse_size(m, m->argv[2], &blocks);
	if (r)
		return r;
	r = dmrow_md_create_disk(m->md, id, blocks, m->argc > 3 ? m->argv[3] : "",
				 now_seconds());
	if (r == -EEXIST)
		m->why = "a disk with this id or name exists";
	else if (r == -EINVAL)
		m->why = "disk id above 16777215 or invalid name";
	return r;
}

static int msg_remove_disk(struct msg_ctx *m)
{
	struct dmrow_disk_info disk;
	u64 id;
	int r = parse_u64(m, m->argv[1], &id, "disk id must be a number");

	if (!r)
		r = dmrow_md_get_disk(m->md, id, &disk);
	if (r)
		return r;
	if (dmrow_pool_disk_active(m->pool, id, 0, true)) {
		m->why = "the disk's device is active: remove it first";
		return -EBUSY;
	}
	/* Without delete_auto_snapshots every snapshot stays: views may too. */
	if ((disk.flags & DMROW_DISK_DELETE_AUTO_SNAPS) &&
	    doomed_view_active(m, id, U32_MAX)) {
		m->why = "an automatic snapshot that goes with the disk has an active device";
		return -EBUSY;
	}
	return dmrow_md_remove_disk(m->md, id);
}

static int msg_resize_disk(struct msg_ctx *m)
{
	struct dmrow_disk_info info;
	u64 id, blocks;
	int r;

	r = parse_u64(m, m->argv[1], &id, "disk id must be a number");
	if (!r)
		r = parse_size(m, m->argv[2], &blocks);
	if (!r)
		r = dmrow_md_get_disk(m->md, id, &info);
	if (r)
		return r;
	if (blocks < info.size_blocks && dmrow_pool_disk_active(m->pool, id, 0, false)) {
		m->why = "shrinking a disk needs its device suspended or removed";
		return -EBUSY;
	}
	return dmrow_md_resize_disk(m->md, id, blocks);
}

static int msg_set_disk(struct msg_ctx *m)
{
	const char *name = NULL, *v;
	struct dmrow_disk_info info;
	int del = -1, policy = -1, logical_4k = -1;
	u64 origin_blocks = 0;
	bool origin = false;
	unsigned int i;
	u32 n;
	u64 id;
	int r;

	r = parse_u64(m, m->argv[1], &id, "disk id must be a number");
	if (r)
		return r;
	/* All attributes are checked before any is applied. */
	for (i = 2; i < m->argc; i++) {
		if ((v = value_of(m->argv[i], DM_ROW_DISK_NAME))) {
			name = v;
		} else if ((v = value_of(m->argv[i], DM_ROW_DISK_DELETE_AUTO_SNAPSHOTS))) {
			if (parse_u32(m, v, &n, "delete_auto_snapshots is 0 or 1") || n > 1) {
				m->why = "delete_auto_snapshots is 0 or 1";
				return -EINVAL;
			}
			del = n;
		} else if ((v = value_of(m->argv[i], DM_ROW_DISK_POLICY))) {
			if (parse_u32(m, v, &n, "policy must be a number") || n > INT_MAX) {
				m->why = "policy must be a number up to 2147483647";
				return -EINVAL;
			}
			policy = n;
		} else if ((v = value_of(m->argv[i], DM_ROW_DISK_LOGICAL_BLOCK_SIZE))) {
			if (parse_u32(m, v, &n, "logical_block_size is 512 or 4096") ||
			    (n != 512 && n != 4096)) {
				m->why = "logical_block_size is 512 or 4096";
				return -EINVAL;
			}
			logical_4k = n == 4096;
		} else if ((v = value_of(m->argv[i], DM_ROW_DISK_EXTERNAL_ORIGIN))) {
			origin = true;
			if (strcmp(v, DM_ROW_DISK_EXTERNAL_ORIGIN_NONE)) {
				r = parse_size(m, v, &origin_blocks);
				if (r)
					return r;
			}
		} else {
			m->why = "unknown disk attribute (name=, delete_auto_snapshots=, policy=, logical_block_size=, external_origin=)";
			return -EINVAL;
		}
	}
	r = dmrow_md_get_disk(m->md, id, &info);
	if (!r && name)
		r = dmrow_md_set_disk_name(m->md, id, name);
	if (!r && del >= 0)
		r = dmrow_md_set_disk_flags(m->md, id, del ? DMROW_DISK_DELETE_AUTO_SNAPS : 0,
					    DMROW_DISK_DELETE_AUTO_SNAPS);
	if (!r && logical_4k >= 0)
		r = dmrow_md_set_disk_flags(m->md, id, logical_4k ? DMROW_DISK_LOGICAL_4K : 0,
					    DMROW_DISK_LOGICAL_4K);
	if (!r && policy >= 0)
		r = dmrow_md_set_disk_policy(m->md, id, policy);
	if (!r && origin) {
		r = dmrow_md_set_disk_origin(m->md, id, origin_blocks);
		if (r == -EBUSY)
			m->why = origin_blocks ?
				"an external origin is given only to a new disk: no writes, snapshots or clone" :
				"the external origin is not hydrated yet";
		else if (r == -EINVAL)
			m->why = "the external origin is longer than the disk";
		else if (r == -ENODATA && !origin_blocks)
			m->why = "the disk has no external origin";
		else if (!r && !origin_blocks)
			dmrow_pool_origin_detached(m->pool, id);
		return r;
	}
	if (r == -EEXIST)
		m->why = "another disk has this name";
	else if (r == -EINVAL)
		m->why = "invalid name";
	return r;
}

/*----------------------------------------------------------------
 * Snapshots
 *--------------------------------------------------------------*/

#define MAX_SNAPSHOT_DISKS DM_ROW_MAX_SNAPSHOT_DISKS

/* Split "a,b,c" in place into up to @max strings. */
static unsigned int split_list(char *list, char **items, unsigned int max)
{
	unsigned int n = 0;
	char *item;

	while ((item = strsep(&list, ",")) && n < max + 1)
		items[n++] = item;
	return n;
}

/*
 * snapshot <disk id>[,<disk id>...] [name=<n>[,<n>...]] [kind=manual|auto]
 *          [consistency=crash|app] [policy=<id>] [retention=<secs>] [time=<secs>]
 */
static int msg_snapshot(struct msg_ctx *m)
{
	struct dmrow_snapshot_attrs *attrs = NULL;
	char *ids[MAX_SNAPSHOT_DISKS + 1], *names[MAX_SNAPSHOT_DISKS + 1];
	u64 *disks = NULL, *snaps = NULL, created = now_seconds(), retention = 0;
	unsigned int nr, nr_names = 0, i;
	u32 flags = 0, policy = 0;
	const char *v;
	int r;

	nr = split_list(m->argv[1], ids, MAX_SNAPSHOT_DISKS);
	if (nr > MAX_SNAPSHOT_DISKS) {
		m->why = "at most 64 disks in one snapshot";
		return -EINVAL;
	}
	for (i = 2; i < m->argc; i++) {
		if ((v = value_of(m->argv[i], DM_ROW_SNAP_NAME))) {
			nr_names = split_list((char *)v, names, MAX_SNAPSHOT_DISKS);
		} else if ((v = value_of(m->argv[i], DM_ROW_SNAP_KIND))) {
			if (!strcmp(v, DM_ROW_SNAP_KIND_AUTO)) {
				flags |= DMROW_SNAP_AUTO;
			} else if (strcmp(v, DM_ROW_SNAP_KIND_MANUAL)) {
				m->why = "kind is manual or auto";
				return -EINVAL;
			}
		} else if ((v = value_of(m->argv[i], DM_ROW_SNAP_CONSISTENCY))) {
			if (!strcmp(v, DM_ROW_SNAP_CONSISTENCY_APP)) {
				flags |= DMROW_SNAP_APP_CONSISTENT;
			} else if (strcmp(v, DM_ROW_SNAP_CONSISTENCY_CRASH)) {
				m->why = "consistency is crash or app";
				return -EINVAL;
			}
		} else if ((v = value_of(m->argv[i], DM_ROW_SNAP_POLICY))) {
			if (parse_u32(m, v, &policy, "policy must be a number"))
				return -EINVAL;
		} else if ((v = value_of(m->argv[i], DM_ROW_SNAP_RETENTION))) {
			if (parse_u64(m, v, &retention, "retention must be seconds since the epoch"))
				return -EINVAL;
		} else if ((v = value_of(m->argv[i], DM_ROW_SNAP_TIME))) {
			if (parse_u64(m, v, &created, "time must be seconds since the epoch"))
				return -EINVAL;
		} else {
			m->why = "unknown snapshot attribute (name=, kind=, consistency=, policy=, retention=, time=)";
			return -EINVAL;
		}
	}
	if (nr_names && nr_names != nr) {
		m->why = "give one name per disk";
		return -EINVAL;
	}

	disks = kcalloc(nr, sizeof(*disks), GFP_KERNEL);
	snaps = kcalloc(nr, sizeof(*snaps), GFP_KERNEL);
	attrs = kcalloc(nr, sizeof(*attrs), GFP_KERNEL);
	r = -ENOMEM;
	if (!disks || !snaps || !attrs)
		goto out;
	for (i = 0; i < nr; i++) {
		r = parse_u64(m, ids[i], &disks[i], "disk ids must be numbers");
		if (r)
			goto out;
		attrs[i].name = nr_names ? names[i] : "";
		attrs[i].created = created;
		attrs[i].flags = flags;
		attrs[i].policy_id = policy;
		attrs[i].retention_until = retention;
	}

	/* An automatic snapshot over quota evicts the oldest: not one in use. */
	if (flags & DMROW_SNAP_AUTO) {
		struct dmrow_pool_info pool;

		r = dmrow_md_pool_info(m->md, &pool);
		for (i = 0; !r && i < nr; i++) {
			struct dmrow_disk_info disk;

			if (dmrow_md_get_disk(m->md, disks[i], &disk))
				continue;
			/*
			 * A quota lowered below the count evicts several, and a
			 * quota of 0 evicts none: the snapshot fails with EDQUOT.
			 */
			if (pool.auto_quota && disk.nr_auto >= pool.auto_quota &&
			    doomed_view_active(m, disks[i],
					       disk.nr_auto - pool.auto_quota + 1)) {
				m->why = "the automatic snapshot to evict has an active device";
				r = -EBUSY;
			}
		}
		if (r)
			goto out;
	}

	/*
	 * Every write acknowledged so far is in the snapshot: a new-block
	 * write is mapped before it is acknowledged, and the disks' in-place
	 * writes in flight (judged unshared before now) are waited for while
	 * new ones are held back until the snapshot shares the live tree.
	 * Nothing else waits.  See "Snapshots under load" in dm-row-pool.c.
	 */
	/*
	 * An automatic snapshot may evict the oldest one, a change that can
	 * meet a damaged chain half way: commit the I/O path's work first, so
	 * that such a failure can be undone (see dmrow_process_message()).  A
	 * manual snapshot changes nothing before everything that can refuse
	 * it has been checked, and saves this commit.
	 */
	if (flags & DMROW_SNAP_AUTO) {
		r = dmrow_pool_commit(m->pool);
		if (r)
			goto out;
		m->clean_start = true;
		m->changes_at_start = dmrow_md_changes(m->md);
	}
	/*
	 * The commit below flushes the data device first; a device that
	 * cannot flush refuses the snapshot here, before anything changes.
	 */
	r = dmrow_pool_flush_data(m->pool);
	if (r) {
		m->why = "the data device cannot flush";
		m->unchanged = true;
		goto out;
	}
	if (flags & DMROW_SNAP_AUTO)
		dmrow_pool_begin_freeing(m->pool);	/* evicting frees blocks */
	dmrow_pool_gate_writes(m->pool, disks, nr);
	r = dmrow_md_create_snapshots(m->md, nr, disks, attrs, snaps);
	dmrow_pool_release_writes(m->pool);
	if (flags & DMROW_SNAP_AUTO)
		dmrow_pool_end_freeing(m->pool);
	if (r == -EDQUOT)
		m->why = "snapshot quota reached";
	else if (r == -EEXIST)
		m->why = "the disk has a snapshot of this name";
	else if (r == -ERANGE)
		m->why = "the pool has taken all the snapshots its clock allows (2^24)";
	else if (r == -EINVAL)
		m->why = "a disk given twice or an invalid name";
	if (r)
		goto out;
	/*
	 * The snapshot's one commit.  Should the data device fail to flush
	 * now, the transaction stays open: take the snapshots out again, so
	 * that a snapshot reported failed never appears later.  (A metadata
	 * failure has aborted the transaction, snapshots and all.)
	 */
	r = dmrow_pool_commit(m->pool);
	if (r) {
		m->why = "the commit failed: the snapshot was taken out again";
		m->unchanged = dmrow_pool_mode(m->pool) < POOL_READ_ONLY;
		for (i = 0; m->unchanged && i < nr; i++)
			if (dmrow_md_delete_snapshot(m->md, snaps[i]))
				m->unchanged = false;
		goto out;
	}
	for (i = 0; i < nr; i++)
		emit(m, "%s%llu", i ? " " : "", (unsigned long long)snaps[i]);
	emit(m, "\n");
	r = 1;
out:
	kfree(attrs);
	kfree(snaps);
	kfree(disks);
	return r;
}

static int msg_delete_snapshot(struct msg_ctx *m)
{
	struct dmrow_snapshot_info info;
	u64 id;
	int r;

	r = parse_u64(m, m->argv[1], &id, "snapshot id must be a number");
	if (!r)
		r = dmrow_md_get_snapshot(m->md, id, &info);
	if (r)
		return r;
	if (dmrow_pool_disk_active(m->pool, info.disk_id, id, true)) {
		m->why = "the snapshot's device is active: remove it first";
		return -EBUSY;
	}
	return dmrow_md_delete_snapshot(m->md, id);
}

static int msg_merge(struct msg_ctx *m)
{
	struct dmrow_snapshot_info info;
	struct dmrow_disk_info disk;
	struct dmrow_chain_walk walk;
	u64 first, last, id;
	int r;

	r = parse_u64(m, m->argv[1], &first, "snapshot id must be a number");
	if (!r)
		r = parse_u64(m, m->argv[2], &last, "snapshot id must be a number");
	if (!r)
		r = dmrow_md_get_snapshot(m->md, first, &info);
	if (!r)
		r = dmrow_md_get_disk(m->md, info.disk_id, &disk);
	if (r)
		return r;
	/* None of the snapshots that go may have an active device. */
	dmrow_chain_walk_init(&walk, (u64)disk.nr_manual + disk.nr_auto);
	for (id = first; id && id != last; id = info.next) {
		if (!dmrow_chain_walk_step(&walk, id)) {
			m->why = "the snapshot chain is damaged: run 'snapctl check'";
			m->unchanged = true;
			return -EILSEQ;
		}
		r = dmrow_md_get_snapshot(m->md, id, &info);
		if (!r && dmrow_pool_disk_active(m->pool, info.disk_id, id, true)) {
			m->why = "a snapshot to be merged has an active device";
			r = -EBUSY;
		}
		if (r)
			return r;
	}
	r = dmrow_md_merge_snapshots(m->md, first, last);
	if (r == -EINVAL)
		m->why = "the second snapshot must follow the first in the same chain";
	return r;
}

static int msg_rollback(struct msg_ctx *m)
{
	bool keep_size = false;
	u64 disk, snap;
	int r;

	r = parse_u64(m, m->argv[1], &disk, "disk id must be a number");
	if (!r)
		r = parse_u64(m, m->argv[2], &snap, "snapshot id must be a number");
	if (r)
		return r;
	if (m->argc > 3) {
		if (!strcmp(m->argv[3], DM_ROW_ROLLBACK_KEEP_SIZE)) {
			keep_size = true;
		} else if (strcmp(m->argv[3], DM_ROW_ROLLBACK_SNAPSHOT_SIZE)) {
			m->why = "the size is keep_size or snapshot_size";
			return -EINVAL;
		}
	}
	if (dmrow_pool_disk_active(m->pool, disk, 0, false)) {
		m->why = "rollback needs the disk's device suspended or removed";
		return -EBUSY;
	}
	r = dmrow_md_rollback(m->md, disk, snap, keep_size);
	if (r == -EINVAL)
		m->why = "the snapshot belongs to another disk";
	return r;
}

static int msg_clone(struct msg_ctx *m)
{
	u64 snap, disk, size_blocks = 0;
	int r;

	r = parse_u64(m, m->argv[1], &snap, "snapshot id must be a number");
	if (!r)
		r = parse_u64(m, m->argv[2], &disk, "disk id must be a number");
	if (!r && m->argc > 4)
		r = parse_size(m, m->argv[4], &size_blocks);
	if (r)
		return r;
	r = dmrow_md_clone(m->md, snap, disk, m->argc > 3 ? m->argv[3] : "",
			   size_blocks, now_seconds());
	if (r == -ERANGE) {
		m->why = "a clone cannot be smaller than its snapshot";
		r = -EINVAL;
	} else if (r == -EEXIST)
		m->why = "a disk with this id or name exists";
	else if (r == -EINVAL)
		m->why = "disk id above 16777215 or invalid name";
	return r;
}

static int msg_set_snapshot(struct msg_ctx *m)
{
	const char *name = NULL, *v;
	bool set_retention = false;
	u64 id, retention = 0;
	unsigned int i;
	int r;

	r = parse_u64(m, m->argv[1], &id, "snapshot id must be a number");
	if (r)
		return r;
	for (i = 2; i < m->argc; i++) {
		if ((v = value_of(m->argv[i], DM_ROW_SNAP_NAME))) {
			name = v;
		} else if ((v = value_of(m->argv[i], DM_ROW_SNAP_RETENTION))) {
			if (parse_u64(m, v, &retention, "retention must be seconds since the epoch"))
				return -EINVAL;
			set_retention = true;
		} else {
			m->why = "unknown snapshot attribute (name=, retention=)";
			return -EINVAL;
		}
	}
	if (name)
		r = dmrow_md_set_snapshot_name(m->md, id, name);
	if (!r && set_retention)
		r = dmrow_md_set_snapshot_retention(m->md, id, retention);
	if (r == -EEXIST)
		m->why = "the disk has a snapshot of this name";
	else if (r == -EINVAL)
		m->why = "invalid name";
	return r;
}

static int msg_set_quota(struct msg_ctx *m)
{
	u32 manual, automatic;
	int r;

	r = parse_u32(m, m->argv[1], &manual, "quota must be a number");
	if (!r)
		r = parse_u32(m, m->argv[2], &automatic, "quota must be a number");
	if (!r)
		r = dmrow_md_set_quota(m->md, manual, automatic);
	if (r == -EINVAL)
		m->why = "quotas are 0..65536";
	return r;
}

static int msg_commit(struct msg_ctx *m)
{
	return dmrow_pool_commit(m->pool);
}

/*----------------------------------------------------------------
 * Reports
 *--------------------------------------------------------------*/

static void emit_name(struct msg_ctx *m, const char *name)
{
	emit(m, " name=%s", name[0] ? name : "-");
}

static void emit_disk(struct msg_ctx *m, const struct dmrow_disk_info *d)
{
	/* New fields go before the name, which stays last. */
	emit(m, "disk id=%llu size=%llu created=%llu first=%llu last=%llu origin=%llu removed=%d delete_auto_snapshots=%d manual=%u auto=%u policy=%u logical_block_size=%u external_origin=%llu hydrated=%llu",
	     (unsigned long long)d->id,
	     (unsigned long long)(d->size_blocks << m->block_shift),
	     (unsigned long long)d->created, (unsigned long long)d->first_snapshot,
	     (unsigned long long)d->last_snapshot, (unsigned long long)d->origin_snapshot,
	     !!(d->flags & DMROW_DISK_REMOVED), !!(d->flags & DMROW_DISK_DELETE_AUTO_SNAPS),
	     d->nr_manual, d->nr_auto, d->policy_id,
	     d->flags & DMROW_DISK_LOGICAL_4K ? 4096 : 512,
	     (unsigned long long)(d->origin_blocks << m->block_shift),
	     (unsigned long long)(d->hydrated_blocks << m->block_shift));
	emit_name(m, d->name);
	emit(m, "\n");
}

static void emit_snapshot(struct msg_ctx *m, const struct dmrow_snapshot_info *s)
{
	emit(m, "snapshot id=%llu disk=%llu prev=%llu next=%llu created=%llu size=%llu kind=%s consistency=%s policy=%u retention=%llu group=%llu",
	     (unsigned long long)s->id, (unsigned long long)s->disk_id,
	     (unsigned long long)s->prev, (unsigned long long)s->next,
	     (unsigned long long)s->created,
	     (unsigned long long)(s->size_blocks << m->block_shift),
	     s->flags & DMROW_SNAP_AUTO ? DM_ROW_SNAP_KIND_AUTO : DM_ROW_SNAP_KIND_MANUAL,
	     s->flags & DMROW_SNAP_APP_CONSISTENT ?
	     DM_ROW_SNAP_CONSISTENCY_APP : DM_ROW_SNAP_CONSISTENCY_CRASH, s->policy_id,
	     (unsigned long long)s->retention_until, (unsigned long long)s->group_id);
	emit_name(m, s->name);
	emit(m, "\n");
}

/* info pool | info disk <id> | info snapshot <id> */
static int msg_info(struct msg_ctx *m)
{
	struct dmrow_snapshot_info snap;
	struct dmrow_disk_info disk;
	struct dmrow_pool_info pool;
	u64 id;
	int r;

	if (!strcmp(m->argv[1], DM_ROW_OBJECT_POOL)) {
		if (m->argc > 2) {
			m->why = "info pool takes no id";
			return -EINVAL;
		}
		r = dmrow_md_pool_info(m->md, &pool);
		if (r)
			return r;
		emit(m, "pool uuid=%pUb block_size=%u transaction=%llu metadata_blocks=%llu metadata_used=%llu data_blocks=%llu data_used=%llu manual_quota=%u auto_quota=%u mode=%s needs_check=%d\n",
		     pool.uuid, pool.data_block_sectors,
		     (unsigned long long)pool.transaction_id,
		     (unsigned long long)pool.metadata_blocks,
		     (unsigned long long)pool.metadata_used,
		     (unsigned long long)pool.data_blocks, (unsigned long long)pool.data_used,
		     pool.manual_quota, pool.auto_quota,
		     dmrow_pool_mode_name(dmrow_pool_mode(m->pool)), pool.needs_check);
		return 1;
	}
	if (m->argc < 3) {
		m->why = "info pool | info disk <id> | info snapshot <id>";
		return -EINVAL;
	}
	r = parse_u64(m, m->argv[2], &id, "id must be a number");
	if (r)
		return r;
	if (!strcmp(m->argv[1], DM_ROW_OBJECT_DISK)) {
		r = dmrow_md_get_disk(m->md, id, &disk);
		if (!r)
			emit_disk(m, &disk);
	} else if (!strcmp(m->argv[1], DM_ROW_OBJECT_SNAPSHOT)) {
		r = dmrow_md_get_snapshot(m->md, id, &snap);
		if (!r)
			emit_snapshot(m, &snap);
	} else {
		m->why = "info pool | info disk <id> | info snapshot <id>";
		r = -EINVAL;
	}
	return r ? r : 1;
}

/* list_disks [<from id>] */
static int msg_list_disks(struct msg_ctx *m)
{
	struct dmrow_disk_info disk;
	u64 from = 0;
	int r = 0;

	if (m->argc > 1 && parse_u64(m, m->argv[1], &from, "id must be a number"))
		return -EINVAL;
	for (;;) {
		r = dmrow_md_next_disk(m->md, from, &disk);
		if (r == -ENODATA)
			break;
		if (r)
			return r;
		if (!room_for(m, 400)) {
			emit(m, "next=%llu\n", (unsigned long long)from);
			break;
		}
		emit_disk(m, &disk);
		if (disk.id == U64_MAX)
			break;
		from = disk.id + 1;
	}
	return 1;
}

/* list_snapshots <disk id> [<from snapshot id>]: the chain, oldest first */
static int msg_list_snapshots(struct msg_ctx *m)
{
	struct dmrow_snapshot_info snap;
	struct dmrow_disk_info disk;
	u64 disk_id, id;
	int r;

	r = parse_u64(m, m->argv[1], &disk_id, "disk id must be a number");
	if (!r)
		r = dmrow_md_get_disk(m->md, disk_id, &disk);
	if (r)
		return r;
	id = disk.first_snapshot;
	if (m->argc > 2 && parse_u64(m, m->argv[2], &id, "snapshot id must be a number"))
		return -EINVAL;
	while (id) {
		if (!room_for(m, 400)) {
			emit(m, "next=%llu\n", (unsigned long long)id);
			break;
		}
		r = dmrow_md_get_snapshot(m->md, id, &snap);
		if (r)
			return r;
		if (snap.disk_id != disk_id) {
			m->why = "the snapshot belongs to another disk";
			return -EINVAL;
		}
		emit_snapshot(m, &snap);
		id = snap.next;
	}
	return 1;
}

/* space snapshot <id> | space disk <id>: what the object holds */
static int msg_space(struct msg_ctx *m)
{
	u64 id, a, b, c;
	int r;

	r = parse_u64(m, m->argv[2], &id, "id must be a number");
	if (r)
		return r;
	if (!strcmp(m->argv[1], DM_ROW_OBJECT_SNAPSHOT)) {
		struct dmrow_snapshot_info snap;

		r = dmrow_md_get_snapshot(m->md, id, &snap);
		if (!r)
			r = dmrow_md_snapshot_delta(m->md, id, &a);
		if (!r)
			r = dmrow_md_snapshot_exclusive(m->md, id, &b);
		if (!r)
			r = dmrow_md_mapped_blocks(m->md, snap.disk_id, id, &c);
		if (!r)
			emit(m, "snapshot id=%llu delta_blocks=%llu exclusive_blocks=%llu mapped_blocks=%llu\n",
			     (unsigned long long)id, (unsigned long long)a,
			     (unsigned long long)b, (unsigned long long)c);
	} else if (!strcmp(m->argv[1], DM_ROW_OBJECT_DISK)) {
		struct dmrow_disk_info disk;

		r = dmrow_md_get_disk(m->md, id, &disk);
		if (!r)
			r = dmrow_md_chain_capacity(m->md, id, &a);
		b = c = 0;
		if (!r && !(disk.flags & DMROW_DISK_REMOVED)) {
			r = dmrow_md_disk_delta(m->md, id, &b);
			if (!r)
				r = dmrow_md_mapped_blocks(m->md, id, 0, &c);
		}
		if (!r)
			emit(m, "disk id=%llu chain_blocks=%llu live_delta_blocks=%llu mapped_blocks=%llu\n",
			     (unsigned long long)id, (unsigned long long)a,
			     (unsigned long long)b, (unsigned long long)c);
	} else {
		m->why = "space snapshot <id> | space disk <id>";
		r = -EINVAL;
	}
	return r ? r : 1;
}

struct diff_emitter {
	struct msg_ctx *m;
	u64 run_start;		/* current run of changed blocks */
	u64 run_len;
	u64 next;		/* where to resume when the buffer is full */
	bool full;
};

static bool flush_run(struct diff_emitter *de)
{
	if (!de->run_len)
		return true;
	if (!room_for(de->m, 48))
		return false;
	emit(de->m, "%llu+%llu\n", (unsigned long long)de->run_start,
	     (unsigned long long)de->run_len);
	de->run_len = 0;
	return true;
}

static int diff_block(void *context, u64 vblock, u64 data_block)
{
	struct diff_emitter *de = context;

	if (de->run_len && de->run_start + de->run_len == vblock) {
		de->run_len++;
		return 0;
	}
	if (!flush_run(de)) {
		de->next = de->run_start;
		de->full = true;
		return 1;	/* stop the walk */
	}
	de->run_start = vblock;
	de->run_len = 1;
	return 0;
}

/*
 * diff <disk id> <from snapshot|0> <to snapshot|0> [<start block>]:
 * the runs of blocks that differ, "<first block>+<count>" per line (in data
 * blocks), then "next=<block>" if the buffer filled up, else "end".
 */
static int msg_diff(struct msg_ctx *m)
{
	struct diff_emitter de = { .m = m };
	u64 disk, from, to;
	int r;

	r = parse_u64(m, m->argv[1], &disk, "disk id must be a number");
	if (!r)
		r = parse_u64(m, m->argv[2], &from, "snapshot id must be a number");
	if (!r)
		r = parse_u64(m, m->argv[3], &to, "snapshot id must be a number");
	if (!r && m->argc > 4)
		r = parse_u64(m, m->argv[4], &de.next, "start must be a block number");
	if (r)
		return r;
	r = dmrow_md_diff(m->md, disk, from, to, de.next, diff_block, &de);
	if (r == -ENOENT)
		r = -ENODATA;	/* the I/O path's "no such image": no such disk or snapshot */
	if (r < 0)
		return r;
	if (!de.full && !flush_run(&de)) {
		de.next = de.run_start;
		de.full = true;
	}
	if (de.full)
		emit(m, "next=%llu\n", (unsigned long long)de.next);
	else
		emit(m, "end\n");
	return 1;
}

/*----------------------------------------------------------------*/

/*
 * A message failed.  If it changed nothing, it was refused and there is
 * nothing to undo, whatever the error.  If it had begun to change the
 * metadata, the change must not survive to the next commit:
 *  - from a clean start, abort back to it: the pool loses nothing, since
 *    the transaction held only this message's work, and stays writable
 *    unless the metadata device itself failed or filled up;
 *  - otherwise (a manual snapshot, which saves the commit before it) the
 *    transaction also holds acknowledged mappings that cannot be told
 *    apart from the half change: a metadata failure, as for any failed
 *    mapping.  Only I/O errors and lack of memory or space get that far.
 */
static void message_failed(struct msg_ctx *m, const struct msg_handler *h, int r)
{
	const char *why = m->why;

	if (!why)
		why = r == -ENODATA ? "no such disk or snapshot" :
		      r == -EILSEQ ? "damaged metadata: run 'snapctl check'" :
		      r == -ENOMEM ? "out of memory" : "error";
	if (!h->changes || m->unchanged ||
	    dmrow_md_changes(m->md) == m->changes_at_start) {
		DMWARN("message '%s' refused: %s", h->verb, why);
		return;
	}
	if (m->clean_start && r != -EIO && r != -ENOSPC) {
		DMWARN("message '%s' failed part way (%s): undone", h->verb, why);
		if (dmrow_md_abort(m->md))
			dmrow_pool_metadata_failed(m->pool, h->verb, r);
		return;
	}
	dmrow_pool_metadata_failed(m->pool, h->verb, r);
}

/*
 * hydrate <disk id> <bytes per second>|stop: start copying the disk's
 * external origin into the pool (0: as fast as it goes), change the rate,
 * or stop.  It changes nothing itself: the worker commits what it copies
 * with the next commit.
 */
static int msg_hydrate(struct msg_ctx *m)
{
	u64 id, rate;
	int r = parse_u64(m, m->argv[1], &id, "disk id must be a number");

	if (r)
		return r;
	if (!strcmp(m->argv[2], DM_ROW_HYDRATE_STOP))
		return dmrow_hydrate_pause(m->pool, id);
	r = parse_u64(m, m->argv[2], &rate, "rate must be bytes per second, or stop");
	if (r)
		return r;
	if (dmrow_pool_mode(m->pool) != POOL_WRITE) {
		m->why = "the pool is not writable";
		return -EROFS;
	}
	return dmrow_hydrate_start(m->pool, id, rate, &m->why);
}

static const struct msg_handler handlers[] = {
	/* verb				args  changes frees_space frees_blocks */
	{ DM_ROW_MSG_COMMIT,		0, 0, false, true,  false, msg_commit },
	{ DM_ROW_MSG_CREATE_DISK,	2, 3, true,  false, false, msg_create_disk },
	{ DM_ROW_MSG_REMOVE_DISK,	1, 1, true,  true,  true,  msg_remove_disk },
	{ DM_ROW_MSG_RESIZE_DISK,	2, 2, true,  false, true,  msg_resize_disk },
	{ DM_ROW_MSG_SET_DISK,		2, 6, true,  false, false, msg_set_disk },
	{ DM_ROW_MSG_SNAPSHOT,		1, 7, true,  false, false, msg_snapshot },
	{ DM_ROW_MSG_DELETE_SNAPSHOT,	1, 1, true,  true,  true,  msg_delete_snapshot },
	{ DM_ROW_MSG_MERGE,		2, 2, true,  true,  true,  msg_merge },
	{ DM_ROW_MSG_ROLLBACK,		2, 3, true,  false, true,  msg_rollback },
	{ DM_ROW_MSG_CLONE,		2, 4, true,  false, false, msg_clone },
	{ DM_ROW_MSG_SET_SNAPSHOT,	2, 3, true,  false, false, msg_set_snapshot },
	{ DM_ROW_MSG_SET_QUOTA,		2, 2, true,  false, false, msg_set_quota },
	{ DM_ROW_MSG_INFO,		1, 2, false, true,  false, msg_info },
	{ DM_ROW_MSG_LIST_DISKS,	0, 1, false, true,  false, msg_list_disks },
	{ DM_ROW_MSG_LIST_SNAPSHOTS,	1, 2, false, true,  false, msg_list_snapshots },
	{ DM_ROW_MSG_SPACE,		2, 2, false, true,  false, msg_space },
	{ DM_ROW_MSG_DIFF,		3, 4, false, true,  false, msg_diff },
	{ DM_ROW_MSG_HYDRATE,		2, 2, false, false, false, msg_hydrate },
};

int dmrow_process_message(struct dmrow_pool *pool, unsigned int argc, char **argv,
			  char *result, unsigned int maxlen)
{
	struct msg_ctx m = {
		.pool = pool, .md = dmrow_pool_metadata(pool),
		.block_shift = dmrow_pool_block_shift(pool),
		.argc = argc, .argv = argv, .result = result, .maxlen = maxlen,
	};
	const struct msg_handler *h = NULL;
	enum pool_mode mode;
	bool metadata_low;
	unsigned int i;
	int r;

	if (result && maxlen)
		result[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(handlers); i++)
		if (!strcasecmp(argv[0], handlers[i].verb))
			h = &handlers[i];
	if (!h) {
		DMWARN("unknown message '%s'", argv[0]);
		return -EINVAL;
	}
	if (argc - 1 < h->min_args || argc - 1 > h->max_args) {
		DMWARN("message '%s' takes %u to %u arguments, not %u", h->verb,
		       h->min_args, h->max_args, argc - 1);
		return -EINVAL;
	}

	mode = dmrow_pool_mode(pool);
	if (mode == POOL_FAIL) {
		DMWARN("message '%s' refused: the pool has failed", h->verb);
		return -EIO;
	}
	metadata_low = dmrow_pool_metadata_low(pool);
	if (h->changes && mode == POOL_READ_ONLY && !(metadata_low && h->frees_space)) {
		DMWARN("message '%s' refused: the pool is read-only%s", h->verb,
		       metadata_low ? " for lack of metadata space: delete snapshots" : "");
		return metadata_low ? -ENOSPC : -EROFS;
	}

	/*
	 * Commit what the I/O path did, so a failure below loses only this
	 * message.  A snapshot skips it to cost one commit, its own: it
	 * writes a few records, and were that to fail (metadata I/O error or
	 * full) the pool would go read-only as for any failed mapping.
	 */
	if (h->changes && h->fn != msg_snapshot) {
		r = dmrow_pool_commit(pool);
		if (r)
			return r;
		m.clean_start = true;
	}
	m.changes_at_start = dmrow_md_changes(m.md);
	if (h->frees_blocks)
		dmrow_pool_begin_freeing(pool);
	r = h->fn(&m);
	if (h->frees_blocks)
		dmrow_pool_end_freeing(pool);
	if (r < 0) {
		message_failed(&m, h, r);
		return r;
	}
	if (h->changes) {
		int c = dmrow_pool_commit(pool);

		if (c)
			return c;
		if (h->frees_space)
			dmrow_pool_space_freed(pool);
	}
	if (m.overflow)
		DMWARN("message '%s': result truncated", h->verb);
	return r;
}
