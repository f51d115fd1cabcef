// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel block manager (see dm-row-block-manager.h): metadata blocks
 * cached by dm-bufio.  A struct dmrow_block is a struct dm_buffer; its aux
 * data remembers the validator and whether the contents were checked.
 * Blocks are sealed (checksummed) by dm-bufio's write callback, just before
 * they go to disk, and marked dirty again when a writer lets go, so a
 * write-back that raced with a change is followed by another.
 */
#include <linux/device-mapper.h>
#include <linux/dm-bufio.h>
#include <linux/err.h>
#include <linux/slab.h>

#include <dm-row/ondisk.h>
#include "dm-row-block-manager-kernel.h"

#define DM_MSG_PREFIX "row-bm"

struct bm_aux {
	const struct dmrow_validator *v;
	bool validated;
	bool write_locked;
};

struct dmrow_bm {
	struct dm_bufio_client *bufio;
	bool read_only;
};

static struct dm_buffer *to_buffer(struct dmrow_block *blk)
{
	return (struct dm_buffer *)blk;
}

static struct dmrow_block *to_block(struct dm_buffer *b)
{
	return (struct dmrow_block *)b;
}

static void bm_alloc_callback(struct dm_buffer *b)
{
	struct bm_aux *aux = dm_bufio_get_aux_data(b);

	memset(aux, 0, sizeof(*aux));
}

static void bm_write_callback(struct dm_buffer *b)
{
	struct bm_aux *aux = dm_bufio_get_aux_data(b);

	if (aux->v && aux->v->prepare_for_write)
		aux->v->prepare_for_write(aux->v, dm_bufio_get_block_data(b),
					  dm_bufio_get_block_number(b));
}

struct dmrow_bm *dmrow_bm_create(struct block_device *bdev, unsigned int cache_blocks,
				 bool read_only)
{
	struct dmrow_bm *bm = kzalloc(sizeof(*bm), GFP_KERNEL);

	if (!bm)
		return ERR_PTR(-ENOMEM);
	bm->read_only = read_only;
	bm->bufio = dm_bufio_client_create(bdev, DMROW_METADATA_BLOCK_SIZE,
					   DMROW_BTREE_LOCKS_MAX, sizeof(struct bm_aux),
					   bm_alloc_callback, bm_write_callback, 0);
	if (IS_ERR(bm->bufio)) {
		void *err = bm->bufio;

		kfree(bm);
		return err;
	}
	if (cache_blocks)
		dm_bufio_set_minimum_buffers(bm->bufio, cache_blocks);
	return bm;
}

void dmrow_bm_destroy(struct dmrow_bm *bm)
{
	dm_bufio_client_destroy(bm->bufio);
	kfree(bm);
}

void dmrow_bm_set_read_only(struct dmrow_bm *bm, bool read_only)
{
	bm->read_only = read_only;
}

u64 dmrow_bm_nr_blocks(struct dmrow_bm *bm)
{
	return dm_bufio_get_device_size(bm->bufio);
}

/*
 * A cached block keeps the type it was checked or written as (its
 * validator).  A corrupt pointer can lead one structure to a block that
 * holds another, say the data space map to a B-tree node written in this
 * transaction: both would then change one buffer, and each trusts geometry
 * that only its own validator checked.  So a block is never locked as a
 * type other than the one it has.
 */
static bool wrong_type(struct dm_buffer *b, const struct dmrow_validator *v)
{
	struct bm_aux *aux = dm_bufio_get_aux_data(b);

	return v && aux->validated && aux->v && aux->v != v;
}

static int refuse_type(struct dm_buffer *b, const struct dmrow_validator *v)
{
	struct bm_aux *aux = dm_bufio_get_aux_data(b);

	DMERR_LIMIT("metadata block %llu is a %s, not a %s",
		    (unsigned long long)dm_bufio_get_block_number(b), aux->v->name, v->name);
	return -EILSEQ;
}

static int check_block(struct dm_buffer *b, const struct dmrow_validator *v)
{
	struct bm_aux *aux = dm_bufio_get_aux_data(b);
	int r;

	if (aux->validated || !v)
		return 0;
	r = v->check(v, dm_bufio_get_block_data(b), dm_bufio_get_block_number(b));
	if (r)
		return r;
	aux->validated = true;
	aux->v = v;
	return 0;
}

int dmrow_bm_read_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
		       struct dmrow_block **result)
{
	struct dm_buffer *buf;
	void *data;
	int r;

	data = dm_bufio_read(bm->bufio, b, &buf);
	if (IS_ERR(data))
		return PTR_ERR(data);
	if (wrong_type(buf, v)) {
		/* Its content is sound as what it is: keep it cached. */
		r = refuse_type(buf, v);
		dm_bufio_release(buf);
		return r;
	}
	r = check_block(buf, v);
	if (r) {
		dm_bufio_release(buf);
		dm_bufio_forget(bm->bufio, b);
		return r;
	}
	*result = to_block(buf);
	return 0;
}

int dmrow_bm_read_try_lock(struct dmrow_bm *bm, u64 b, const struct dmrow_validator *v,
			   struct dmrow_block **result)
{
	struct dm_buffer *buf;
	struct bm_aux *aux;
	void *data;

	data = dm_bufio_get(bm->bufio, b, &buf);
	if (IS_ERR_OR_NULL(data))
		return data ? PTR_ERR(data) : -EWOULDBLOCK;
	/* Checking writes aux: leave that to a caller holding the pool lock. */
	aux = dm_bufio_get_aux_data(buf);
	if ((v && !aux->validated) || wrong_type(buf, v)) {
		dm_bufio_release(buf);
		return -EWOULDBLOCK;
	}
	*result = to_block(buf);
	return 0;
}

static void mark_written(struct dm_buffer *buf, const struct dmrow_validator *v)
{
	struct bm_aux *aux = dm_bufio_get_aux_data(buf);

	aux->v = v;
	aux->validated = true;
	aux->write_locked = true;
	dm_bufio_mark_buffer_dirty(buf);
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
	mark_written(to_buffer(*result), v);
	return 0;
}

int dmrow_bm_write_lock_zero(struct dmrow_bm *bm, u64 b,
			     const struct dmrow_validator *v,
			     struct dmrow_block **result)
{
	struct dm_buffer *buf;
	void *data;

	if (bm->read_only)
		return -EROFS;
	data = dm_bufio_new(bm->bufio, b, &buf);
	if (IS_ERR(data))
		return PTR_ERR(data);
	memset(data, 0, DMROW_METADATA_BLOCK_SIZE);
	mark_written(buf, v);
	*result = to_block(buf);
	return 0;
}

void dmrow_bm_unlock(struct dmrow_block *blk)
{
	struct dm_buffer *buf = to_buffer(blk);
	struct bm_aux *aux = dm_bufio_get_aux_data(buf);

	if (aux->write_locked) {
		aux->write_locked = false;
		dm_bufio_mark_buffer_dirty(buf);
	}
	dm_bufio_release(buf);
}

void *dmrow_block_data(struct dmrow_block *blk)
{
	return dm_bufio_get_block_data(to_buffer(blk));
}

u64 dmrow_block_location(struct dmrow_block *blk)
{
	return dm_bufio_get_block_number(to_buffer(blk));
}

/* dm_bufio_write_dirty_buffers() ends with a flush of the device (6.1 and 6.12). */
int dmrow_bm_flush(struct dmrow_bm *bm)
{
	if (bm->read_only)
		return -EROFS;
	return dm_bufio_write_dirty_buffers(bm->bufio);
}

void dmrow_bm_forget(struct dmrow_bm *bm, u64 b)
{
	dm_bufio_forget(bm->bufio, b);
}
