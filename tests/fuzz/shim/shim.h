/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace stand-ins for what kernel/dm-row-message.c needs beyond the
 * metadata core's compat shim (userspace/compat/): the types that
 * kernel/dm-row-pool.h names (opaque where the message code never looks
 * inside), kstrtou64()/kstrtou32() with the kernel's rules, and a fixed
 * clock.  Used by tests/fuzz/fuzz_message.c only, which provides the pool
 * functions the message code calls.
 */
#ifndef DMROW_FUZZ_SHIM_H
#define DMROW_FUZZ_SHIM_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../../userspace/compat/compat.h"

#define __printf(a, b)	__attribute__((format(printf, a, b)))

struct list_head {
	struct list_head *next, *prev;
};

struct hlist_head {
	void *first;
};

struct hlist_node {
	void *next, **pprev;
};

struct bio;
struct bio_list {
	struct bio *head, *tail;
};
typedef void (bio_end_io_t)(struct bio *bio);

typedef struct { int unused; } spinlock_t;
typedef struct { int unused; } wait_queue_head_t;

struct completion {
	unsigned int done;
};

struct work_struct {
	int unused;
};

struct delayed_work {
	struct work_struct work;
};

/* The pool's shrinker (dm-row-kcompat.h): declared, never registered. */
struct shrink_control {
	unsigned long nr_to_scan;
};

struct shrinker {
	unsigned long (*count_objects)(struct shrinker *s, struct shrink_control *sc);
	unsigned long (*scan_objects)(struct shrinker *s, struct shrink_control *sc);
	int seeks;
};
#define DEFAULT_SEEKS	2
int register_shrinker(struct shrinker *s, const char *fmt, ...);
void unregister_shrinker(struct shrinker *s);

/* The pool's I/O epochs (never entered: the fuzzer has no bios). */
struct percpu_ref {
	long count;
};

/* atomic_t and RCU's read side come from the compat shim. */
#define __percpu

static inline void percpu_ref_get(struct percpu_ref *ref)
{
	ref->count++;
}

static inline void percpu_ref_put(struct percpu_ref *ref)
{
	ref->count--;
}

struct workqueue_struct;
struct mapped_device;
struct block_device;
struct dm_target;
struct target_type;

/*
 * kstrtoull() in base 10: an optional '+', digits, an optional newline,
 * nothing else; -ERANGE past 2^64 - 1, -EINVAL for anything malformed.
 */
static inline int kstrtou64(const char *s, unsigned int base, u64 *res)
{
	const char *p;
	u64 v = 0;

	if (base != 10)
		abort();	/* the message code only uses base 10 */
	if (*s == '+')
		s++;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		unsigned int digit = *p - '0';

		if (v > (U64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	if (p == s)
		return -EINVAL;
	if (*p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	*res = v;
	return 0;
}

static inline int kstrtou32(const char *s, unsigned int base, u32 *res)
{
	u64 v;
	int r = kstrtou64(s, base, &v);

	if (r)
		return r;
	if (v > U32_MAX)
		return -ERANGE;
	*res = v;
	return 0;
}

/* A fixed clock: every run of an input does the same. */
static inline s64 ktime_get_real_seconds(void)
{
	return 1700000000;
}

#endif /* DMROW_FUZZ_SHIM_H */
