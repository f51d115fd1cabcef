/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Creating and destroying the kernel block manager; the rest of its
 * interface is dm-row-block-manager.h, shared with userspace.
 */
#ifndef DM_ROW_BLOCK_MANAGER_KERNEL_H
#define DM_ROW_BLOCK_MANAGER_KERNEL_H

#include "dm-row-block-manager.h"

struct block_device;

/* Blocks the core may hold at once: two tree paths plus a few. */
#define DMROW_BTREE_LOCKS_MAX 40

/* May block.  Returns an ERR_PTR on failure. */
struct dmrow_bm *dmrow_bm_create(struct block_device *bdev, unsigned int cache_blocks,
				 bool read_only);
void dmrow_bm_destroy(struct dmrow_bm *bm);
void dmrow_bm_set_read_only(struct dmrow_bm *bm, bool read_only);

#endif /* DM_ROW_BLOCK_MANAGER_KERNEL_H */
