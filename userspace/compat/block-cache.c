// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace block manager (see core/dm-row-block-manager.h): an LRU cache
 * of metadata blocks over a file.  Dirty blocks reach the file when evicted
 * or at flush; a flush ends with fdatasync, the userspace REQ_PREFLUSH.
 *
 * A block that is locked is never evicted; if every cached block is locked
 * the cache grows past its size rather than fail (the core holds at most a
 * tree height's worth at once).
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "compat.h"
#include "dm-row-block-manager.h"
#include "public/block-cache.h"
#include <dm-row/ondisk.h>

#define MD_BLOCK_SIZE DMROW_METADATA_BLOCK_SIZE

struct dmrow_block {
	u64 blocknr;
	struct dmrow_bm *bm;
	const struct dmrow_validator *v;
	unsigned int lock_count;
	bool dirty;
	bool validated;
	struct dmrow_block *hash_next;
	struct dmrow_block *lru_prev, *lru_next;	/* unlocked blocks only */
	void *data;
};

/* One write made since the last flush, with what the file held before. */
struct crash_log_entry {
	u64 blocknr;
	struct crash_log_entry *next;
	unsigned char old[MD_BLOCK_SIZE];
};

struct dmrow_bm {
	int fd;
	bool own_fd;
	bool read_only;
	u64 nr_blocks;
	unsigned int capacity;
	unsigned int nr_cached;
	unsigned int nr_buckets;
	struct dmrow_block **buckets;
	struct dmrow_block lru;		/* list head: lru.lru_next is the oldest */
	struct dmrow_bm_stats stats;
	bool crash_log_armed;
	struct crash_log_entry *crash_log;
};

static unsigned int bucket_of(struct dmrow_bm *bm, u64 b)
{
	return (unsigned int)((b * 0x9e3779b97f4a7c15ULL) >> 32) % bm->nr_buckets;
}

static void lru_remove(struct dmrow_block *blk)
{
	blk->lru_prev->lru_next = blk->lru_next;
	blk->lru_next->lru_prev = blk->lru_prev;
	blk->lru_prev = blk->lru_next = NULL;
}

static void lru_add_newest(struct dmrow_bm *bm, struct dmrow_block *blk)
{
	blk->lru_prev = bm->lru.lru_prev;
	blk->lru_next = &bm->lru;
	bm->lru.lru_prev->lru_next = blk;
	bm->lru.lru_prev = blk;
}

static struct dmrow_block *hash_find(struct dmrow_bm *bm, u64 b)
{
	struct dmrow_block *blk;

	for (blk = bm->buckets[bucket_of(bm, b)]; blk; blk = blk->hash_next)
		if (blk->blocknr == b)
			return blk;
	return NULL;
}

static void hash_remove(struct dmrow_bm *bm, struct dmrow_block *blk)
{
	struct dmrow_block **p = &bm->buckets[bucket_of(bm, blk->blocknr)];

	while (*p != blk)
		p = &(*p)->hash_next;
	*p = blk->hash_next;
}

static int log_old_contents(struct dmrow_bm *bm, u64 b)
{
	struct crash_log_entry *e;

	for (e = bm->crash_log; e; e = e->next)
		if (e->blocknr == b)
			return 0;	/* the oldest contents are already kept */
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->blocknr = b;
	if (pread(bm->fd, e->old, MD_BLOCK_SIZE, (off_t)b * MD_BLOCK_SIZE) != MD_BLOCK_SIZE)
		memset(e->old, 0, MD_BLOCK_SIZE);
	e->next = bm->crash_log;
	bm->crash_log = e;
	return 0;
}

static int write_block(struct dmrow_bm *bm, struct dmrow_block *blk)
{
	int r;

	if (bm->read_only)
		return -EROFS;
	if (blk->v && blk->v->prepare_for_write)
		blk->v->prepare_for_write(blk->v, blk->data, blk->blocknr);
	if (bm->crash_log_armed) {
		r = log_old_contents(bm, blk->blocknr);
		if (r)
			return r;
	}
	if (pwrite(bm->fd, blk->data, MD_BLOCK_SIZE, (off_t)blk->blocknr * MD_BLOCK_SIZE) != MD_BLOCK_SIZE)
		return -EIO;
	bm->stats.writes++;
	blk->dirty = false;
	return 0;
}

static void free_block(struct dmrow_block *blk)
{
	free(blk->data);
	free(blk);
}

/* Evict unlocked blocks, oldest first, until the cache is within capacity. */
static int shrink(struct dmrow_bm *bm)
{
	while (bm->nr_cached >= bm->capacity && bm->lru.lru_next != &bm->lru) {
		struct dmrow_block *victim = bm->lru.lru_next;
		int r;

		if (victim->dirty) {
			r = write_block(bm, victim);
			if (r)
				return r;
		}
		lru_remove(victim);
		hash_remove(bm, victim);
		bm->nr_cached--;
		free_block(victim);
	}
	return 0;
}

static int get_block(struct dmrow_bm *bm, u64 b, bool read, struct dmrow_block **result)
{
	struct dmrow_block *blk;
	int r;

	if (b >= bm->nr_blocks)
		return -EINVAL;

	blk = hash_find(bm, b);
	if (blk) {
		if (!blk->lock_count)
			lru_remove(blk);
		blk->lock_count++;
		*result = blk;
		return 0;
	}

	r = shrink(bm);
	if (r)
		return r;
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	if (posix_memalign(&blk->data, MD_BLOCK_SIZE, MD_BLOCK_SIZE)) {
		free(blk);
		return -ENOMEM;
	}
	blk->bm = bm;
	blk->blocknr = b;
	if (read) {
		if (pread(bm->fd, blk->data, MD_BLOCK_SIZE, (off_t)b * MD_BLOCK_SIZE) != MD_BLOCK_SIZE) {
			free_block(blk);
			return -EIO;
		}
		bm->stats.reads++;
	} else {
		memset(blk->data, 0, MD_BLOCK_SIZE);
		blk->validated = true;
	}
	blk->lock_count = 1;
	blk->hash_next = bm->buckets[bucket_of(bm, b)];
	bm->buckets[bucket_of(bm, b)] = blk;
	bm->nr_cached++;
	if (bm->nr_cached > bm->stats.max_cached)
		bm->stats.max_cached = bm->nr_cached;
	*result = blk;
	return 0;
}

/* As in the kernel's block manager: a cached block keeps its type. */
static bool wrong_type(const struct dmrow_block *blk, const struct dmrow_validator *v)
{
	return v && blk->validated && blk->v && blk->v != v;
}

static int validate(struct dmrow_block *blk, const struct dmrow_validator *v)
{
	int r;

	if (blk->validated || !v)
		return 0;
	r = v->check(v, blk->data, blk->blocknr);
	if (r)
		return r;
	blk->validated = true;
	blk->v = v;
	return 0;
}

int dmrow_bm_read_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
		       struct dmrow_block **result)
{
	int r = get_block(bm, b, true, result);

	if (r)
		return r;
	if (wrong_type(*result, v)) {
		/* Its content is sound as what it is: keep it cached. */
		DMERR_LIMIT("metadata block %llu is a %s, not a %s", (unsigned long long)b,
			    (*result)->v->name, v->name);
		dmrow_bm_unlock(*result);
		return -EILSEQ;
	}
	r = validate(*result, v);
	if (r) {
		dmrow_bm_unlock(*result);
		dmrow_bm_forget(bm, b);
	}
	return r;
}

int dmrow_bm_read_try_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
			   struct dmrow_block **result)
{
	return dmrow_bm_read_lock(bm, b, v, result);
}

int dmrow_bm_write_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
			struct dmrow_block **result)
{
	int r;

	if (bm->read_only)
		return -EROFS;
	r = dmrow_bm_read_lock(bm, b, v, result);
	if (r)
		return r;
	(*result)->v = v;
	(*result)->dirty = true;
	return 0;
}

int dmrow_bm_write_lock_zero(struct dmrow_bm *bm, u64 b,
			     const struct dmrow_validator *v,
			     struct dmrow_block **result)
{
	struct dmrow_block *blk;
	int r;

	if (bm->read_only)
		return -EROFS;
	blk = hash_find(bm, b);
	if (blk) {
		if (!blk->lock_count)
			lru_remove(blk);
		blk->lock_count++;
		memset(blk->data, 0, MD_BLOCK_SIZE);
		blk->validated = true;
	} else {
		r = get_block(bm, b, false, &blk);
		if (r)
			return r;
	}
	blk->v = v;
	blk->dirty = true;
	*result = blk;
	return 0;
}

void dmrow_bm_unlock(struct dmrow_block *blk)
{
	if (WARN_ON(!blk->lock_count))
		return;
	if (!--blk->lock_count)
		lru_add_newest(blk->bm, blk);
}

void *dmrow_block_data(struct dmrow_block *blk)
{
	return blk->data;
}

u64 dmrow_block_location(struct dmrow_block *blk)
{
	return blk->blocknr;
}

u64 dmrow_bm_nr_blocks(struct dmrow_bm *bm)
{
	return bm->nr_blocks;
}

static void drop_crash_log(struct dmrow_bm *bm)
{
	while (bm->crash_log) {
		struct crash_log_entry *e = bm->crash_log;

		bm->crash_log = e->next;
		free(e);
	}
}

int dmrow_bm_flush(struct dmrow_bm *bm)
{
	unsigned int i;
	int r;

	if (bm->read_only)
		return 0;
	for (i = 0; i < bm->nr_buckets; i++) {
		struct dmrow_block *blk;

		for (blk = bm->buckets[i]; blk; blk = blk->hash_next) {
			if (!blk->dirty)
				continue;
			r = write_block(bm, blk);
			if (r)
				return r;
		}
	}
	if (fdatasync(bm->fd))
		return -errno;
	bm->stats.flushes++;
	drop_crash_log(bm);
	return 0;
}

void dmrow_bm_forget(struct dmrow_bm *bm, u64 b)
{
	struct dmrow_block *blk = hash_find(bm, b);

	if (!blk || blk->lock_count)
		return;
	lru_remove(blk);
	hash_remove(bm, blk);
	bm->nr_cached--;
	free_block(blk);
}

struct dmrow_bm *dmrow_bm_open_fd(int fd, uint64_t nr_blocks,
				  unsigned int cache_blocks, bool read_only)
{
	struct dmrow_bm *bm = calloc(1, sizeof(*bm));

	if (!bm)
		return NULL;
	bm->fd = fd;
	bm->read_only = read_only;
	bm->nr_blocks = nr_blocks;
	bm->capacity = cache_blocks < 16 ? 16 : cache_blocks;
	bm->nr_buckets = bm->capacity * 2 + 1;
	bm->buckets = calloc(bm->nr_buckets, sizeof(*bm->buckets));
	if (!bm->buckets) {
		free(bm);
		return NULL;
	}
	bm->lru.lru_next = bm->lru.lru_prev = &bm->lru;
	return bm;
}

static int device_size(int fd, u64 *bytes)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, bytes) ? -errno : 0;
	*bytes = st.st_size;
	return 0;
}

struct dmrow_bm *dmrow_bm_open_path(const char *path, unsigned int cache_blocks,
				    bool read_only, int *error)
{
	struct dmrow_bm *bm;
	u64 bytes;
	int fd, r;

	/* Writers open block devices exclusively: never under an active pool. */
	fd = open(path, (read_only ? O_RDONLY : O_RDWR | O_EXCL) | O_CLOEXEC);
	if (fd < 0) {
		*error = -errno;
		return NULL;
	}
	r = device_size(fd, &bytes);
	if (r) {
		close(fd);
		*error = r;
		return NULL;
	}
	bm = dmrow_bm_open_fd(fd, bytes / MD_BLOCK_SIZE, cache_blocks, read_only);
	if (!bm) {
		close(fd);
		*error = -ENOMEM;
		return NULL;
	}
	bm->own_fd = true;
	return bm;
}

static void drop_all_blocks(struct dmrow_bm *bm)
{
	unsigned int i;

	for (i = 0; i < bm->nr_buckets; i++) {
		while (bm->buckets[i]) {
			struct dmrow_block *blk = bm->buckets[i];

			bm->buckets[i] = blk->hash_next;
			WARN_ON(blk->lock_count);
			free_block(blk);
		}
	}
	bm->nr_cached = 0;
	bm->lru.lru_next = bm->lru.lru_prev = &bm->lru;
}

void dmrow_bm_destroy(struct dmrow_bm *bm)
{
	if (!bm)
		return;
	drop_all_blocks(bm);
	drop_crash_log(bm);
	if (bm->own_fd)
		close(bm->fd);
	free(bm->buckets);
	free(bm);
}

void dmrow_bm_get_stats(struct dmrow_bm *bm, struct dmrow_bm_stats *stats)
{
	*stats = bm->stats;
	stats->cached = bm->nr_cached;
}

void dmrow_bm_arm_crash_log(struct dmrow_bm *bm)
{
	bm->crash_log_armed = true;
}

void dmrow_bm_crash(struct dmrow_bm *bm, bool (*keep_write)(void *arg), void *arg)
{
	struct crash_log_entry *e;

	drop_all_blocks(bm);
	for (e = bm->crash_log; e; e = e->next) {
		if (keep_write(arg))
			continue;
		if (pwrite(bm->fd, e->old, MD_BLOCK_SIZE, (off_t)e->blocknr * MD_BLOCK_SIZE) != MD_BLOCK_SIZE)
			WARN_ON(1);
	}
	drop_crash_log(bm);
}
