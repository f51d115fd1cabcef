/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API differences between the kernels dm-row supports, decided by
 * the compile-time probes in scripts/kernel-probes/ (never by version).
 */
#ifndef DM_ROW_KCOMPAT_H
#define DM_ROW_KCOMPAT_H

#include <linux/blkdev.h>
#include "dm-row-probes.h"

#ifdef HAVE_BLK_OPEN_MODE
#define DMROW_OPEN_READ		BLK_OPEN_READ
#define DMROW_OPEN_READ_WRITE	(BLK_OPEN_READ | BLK_OPEN_WRITE)
#else
#define DMROW_OPEN_READ		FMODE_READ
#define DMROW_OPEN_READ_WRITE	(FMODE_READ | FMODE_WRITE)
#endif

/*
 * A registered shrinker that carries a pointer for its callbacks: allocated
 * by the kernel with private data (6.7+), or embedded in a struct of ours.
 */
#include <linux/shrinker.h>
#include <linux/slab.h>

struct dmrow_shrinker_ops {
	unsigned long (*count)(struct shrinker *s, struct shrink_control *sc);
	unsigned long (*scan)(struct shrinker *s, struct shrink_control *sc);
};

#ifdef HAVE_SHRINKER_ALLOC
static inline struct shrinker *dmrow_shrinker_create(const char *name,
						     const struct dmrow_shrinker_ops *ops,
						     void *private)
{
	struct shrinker *s = shrinker_alloc(0, "%s", name);

	if (!s)
		return NULL;
	s->count_objects = ops->count;
	s->scan_objects = ops->scan;
	s->private_data = private;
	shrinker_register(s);
	return s;
}

static inline void *dmrow_shrinker_private(struct shrinker *s)
{
	return s->private_data;
}

static inline void dmrow_shrinker_destroy(struct shrinker *s)
{
	shrinker_free(s);
}
#else
struct dmrow_embedded_shrinker {
	struct shrinker shrinker;
	void *private;
};

static inline struct shrinker *dmrow_shrinker_create(const char *name,
						     const struct dmrow_shrinker_ops *ops,
						     void *private)
{
	struct dmrow_embedded_shrinker *e = kzalloc(sizeof(*e), GFP_KERNEL);

	if (!e)
		return NULL;
	e->shrinker.count_objects = ops->count;
	e->shrinker.scan_objects = ops->scan;
	e->shrinker.seeks = DEFAULT_SEEKS;
	e->private = private;
	if (register_shrinker(&e->shrinker, "%s", name)) {
		kfree(e);
		return NULL;
	}
	return &e->shrinker;
}

static inline void *dmrow_shrinker_private(struct shrinker *s)
{
	return container_of(s, struct dmrow_embedded_shrinker, shrinker)->private;
}

static inline void dmrow_shrinker_destroy(struct shrinker *s)
{
	if (s) {
		unregister_shrinker(s);
		kfree(container_of(s, struct dmrow_embedded_shrinker, shrinker));
	}
}
#endif

#endif /* DM_ROW_KCOMPAT_H */
