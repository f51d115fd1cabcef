/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace block manager: the metadata core's block cache on a file or a
 * block device opened as a file.  The core calls the functions declared in
 * core/dm-row-block-manager.h; tools and tests create and destroy it here.
 */
#ifndef DMROW_BLOCK_CACHE_H
#define DMROW_BLOCK_CACHE_H

#include <stdbool.h>
#include <stdint.h>

struct dmrow_bm;

/* Open path (a file or a block device) with a cache of cache_blocks blocks. */
struct dmrow_bm *dmrow_bm_open_path(const char *path, unsigned int cache_blocks,
				    bool read_only, int *error);

/* Use an open descriptor; the cache does not close it. */
struct dmrow_bm *dmrow_bm_open_fd(int fd, uint64_t nr_blocks,
				  unsigned int cache_blocks, bool read_only);

/* Drop the cache without writing anything (the caller committed or aborts). */
void dmrow_bm_destroy(struct dmrow_bm *bm);

struct dmrow_bm_stats {
	uint64_t reads;		/* blocks read from the file */
	uint64_t writes;	/* blocks written to the file */
	uint64_t flushes;
	unsigned int cached;	/* blocks in the cache now */
	unsigned int max_cached;/* most ever held at once */
};
void dmrow_bm_get_stats(struct dmrow_bm *bm, struct dmrow_bm_stats *stats);

/*
 * Testing aid: power loss.  From the moment it is armed, the cache records
 * the old contents of every block written since the last flush; crash()
 * then drops every cached block and, for each such write, keeps it or
 * undoes it as chooser() decides, as a disk with a volatile write cache
 * may.  A flush makes everything before it permanent.
 */
void dmrow_bm_arm_crash_log(struct dmrow_bm *bm);
void dmrow_bm_crash(struct dmrow_bm *bm, bool (*keep_write)(void *arg), void *arg);

#endif /* DMROW_BLOCK_CACHE_H */
