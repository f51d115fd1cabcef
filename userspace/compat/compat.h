/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userspace shim that lets the metadata core in core/ compile
 * unchanged as a userspace library.  userspace/compat/include/ shadows the
 * kernel headers the core includes; each of them includes this file, which
 * supplies the kernel types and helpers the core uses, on top of libc and
 * pthreads.
 */
#ifndef DMROW_COMPAT_H
#define DMROW_COMPAT_H

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* __u8 .. __le64 come from the system's <linux/types.h>. */
#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s8 s8;
typedef __s16 s16;
typedef __s32 s32;
typedef __s64 s64;
typedef u64 sector_t;

#undef static_assert
#define static_assert(expr, ...) _Static_assert(expr, #expr)

#define __packed	__attribute__((packed))
#define __must_check	__attribute__((warn_unused_result))
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define fallthrough	__attribute__((fallthrough))

/* Byte order. */
#define cpu_to_le16(x)	htole16(x)
#define cpu_to_le32(x)	htole32(x)
#define cpu_to_le64(x)	htole64(x)
#define le16_to_cpu(x)	le16toh(x)
#define le32_to_cpu(x)	le32toh(x)
#define le64_to_cpu(x)	le64toh(x)
static inline void le32_add_cpu(__le32 *var, u32 val)
{
	*var = cpu_to_le32(le32_to_cpu(*var) + val);
}
static inline void le64_add_cpu(__le64 *var, u64 val)
{
	*var = cpu_to_le64(le64_to_cpu(*var) + val);
}

/* Arithmetic. */
#define U32_MAX		UINT32_MAX
#define U64_MAX		UINT64_MAX
#define min(a, b)	((a) < (b) ? (a) : (b))
#define max(a, b)	((a) > (b) ? (a) : (b))
#define min_t(t, a, b)	((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define max_t(t, a, b)	((t)(a) > (t)(b) ? (t)(a) : (t)(b))
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define BIT(n)		(1UL << (n))
#define GENMASK_ULL(h, l) ((~0ULL << (l)) & (~0ULL >> (63 - (h))))
static inline u64 div_u64_rem(u64 dividend, u32 divisor, u32 *remainder)
{
	*remainder = dividend % divisor;
	return dividend / divisor;
}
static inline u64 div_u64(u64 dividend, u32 divisor)
{
	return dividend / divisor;
}
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* Memory.  Allocation flags only matter to the kernel. */
typedef unsigned int gfp_t;
#define GFP_KERNEL	0u
#define GFP_NOIO	0u
#define __GFP_ZERO	1u
static inline void *kmalloc(size_t size, gfp_t flags)
{
	return (flags & __GFP_ZERO) ? calloc(1, size) : malloc(size);
}
static inline void *kzalloc(size_t size, gfp_t flags)
{
	(void)flags;
	return calloc(1, size);
}
static inline void *kcalloc(size_t n, size_t size, gfp_t flags)
{
	(void)flags;
	return calloc(n, size);
}
#define kvmalloc(size, flags)	kmalloc(size, flags)
#define kvzalloc(size, flags)	kzalloc(size, flags)
#define kvcalloc(n, size, flags) kcalloc(n, size, flags)
#define kfree(p)		free((void *)(p))
#define kvfree(p)		free((void *)(p))

/* Strings. */
static inline size_t strscpy(char *dst, const char *src, size_t size)
{
	size_t len = strnlen(src, size);

	if (!size)
		return -E2BIG;
	if (len >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -E2BIG;
	}
	memcpy(dst, src, len + 1);
	return len;
}

/* Diagnostics. */
#define pr_err(fmt, ...)	fprintf(stderr, "dm-row: " fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)	fprintf(stderr, "dm-row: " fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)	do { } while (0)
#define pr_debug(fmt, ...)	do { } while (0)
#define DMERR(fmt, ...)		fprintf(stderr, "dm-row: " fmt "\n", ##__VA_ARGS__)
#define DMWARN(fmt, ...)	fprintf(stderr, "dm-row: " fmt "\n", ##__VA_ARGS__)
#define DMERR_LIMIT		DMERR
#define DMINFO(fmt, ...)	do { } while (0)
#define WARN_ON(cond)		({ int __c = !!(cond); if (__c) fprintf(stderr, "WARN_ON(%s) at %s:%d\n", #cond, __FILE__, __LINE__); __c; })
#define WARN_ON_ONCE(cond)	WARN_ON(cond)
#define BUG_ON(cond)		assert(!(cond))
#define BUG()			abort()
#define might_sleep()		do { } while (0)
#define cond_resched()		do { } while (0)

/* Locks: the core takes its own pool lock; these back it in userspace. */
struct mutex {
	pthread_mutex_t m;
};
#define mutex_init(l)		pthread_mutex_init(&(l)->m, NULL)
#define mutex_destroy(l)	pthread_mutex_destroy(&(l)->m)
#define mutex_lock(l)		pthread_mutex_lock(&(l)->m)
#define mutex_unlock(l)		pthread_mutex_unlock(&(l)->m)

/*
 * The metadata lock.  It remembers its writer and counts its readers, so
 * that the core's lockdep_assert_held*() are checked by every unit test
 * (lockdep does it in a debug kernel): a helper called without the lock
 * its rule states aborts the test.
 */
struct rw_semaphore {
	pthread_rwlock_t l;
	pthread_t writer;	/* while @write_held */
	int write_held;
	int readers;
};
extern __thread int compat_read_holds;	/* read holds of this thread, any lock */
static inline void init_rwsem(struct rw_semaphore *s)
{
	pthread_rwlock_init(&s->l, NULL);
	s->write_held = 0;
	s->readers = 0;
}
static inline void compat_read_taken(struct rw_semaphore *s)
{
	__atomic_add_fetch(&s->readers, 1, __ATOMIC_SEQ_CST);
	compat_read_holds++;
}
static inline void down_read(struct rw_semaphore *s)
{
	pthread_rwlock_rdlock(&s->l);
	compat_read_taken(s);
}
static inline int down_read_trylock(struct rw_semaphore *s)
{
	if (pthread_rwlock_tryrdlock(&s->l))
		return 0;
	compat_read_taken(s);
	return 1;
}
static inline void up_read(struct rw_semaphore *s)
{
	compat_read_holds--;
	__atomic_sub_fetch(&s->readers, 1, __ATOMIC_SEQ_CST);
	pthread_rwlock_unlock(&s->l);
}
static inline void down_write(struct rw_semaphore *s)
{
	pthread_rwlock_wrlock(&s->l);
	s->writer = pthread_self();
	__atomic_store_n(&s->write_held, 1, __ATOMIC_SEQ_CST);
}
static inline void up_write(struct rw_semaphore *s)
{
	__atomic_store_n(&s->write_held, 0, __ATOMIC_SEQ_CST);
	pthread_rwlock_unlock(&s->l);
}
static inline int compat_write_held(struct rw_semaphore *s)
{
	return __atomic_load_n(&s->write_held, __ATOMIC_SEQ_CST) &&
	       pthread_equal(s->writer, pthread_self());
}
void compat_lock_rule_broken(const char *rule, const char *file, int line,
			     const char *func) __attribute__((noreturn));
#define lockdep_assert_held_write(s)						\
	do {									\
		if (!compat_write_held(s))					\
			compat_lock_rule_broken("held for writing", __FILE__,	\
						__LINE__, __func__);		\
	} while (0)
#define lockdep_assert_held(s)							\
	do {									\
		if (!compat_write_held(s) &&					\
		    !(__atomic_load_n(&(s)->readers, __ATOMIC_SEQ_CST) &&	\
		      compat_read_holds))					\
			compat_lock_rule_broken("held", __FILE__, __LINE__,	\
						__func__);			\
	} while (0)

/*
 * Memory ordering, atomics, bits and RCU, for the mapping cache
 * (dm-row-map-cache.c).  In userspace no lookup runs beside a change, so a
 * grace period is over at once: call_rcu() calls back there and then.
 */
#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))
#define smp_wmb()		__atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_rmb()		__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define cmpxchg(p, old, new)	__sync_val_compare_and_swap(p, old, new)
#define xchg(p, v)		__atomic_exchange_n(p, v, __ATOMIC_SEQ_CST)
typedef struct {
	int counter;
} atomic_t;
#define atomic_set(a, v)	__atomic_store_n(&(a)->counter, v, __ATOMIC_RELAXED)
#define atomic_read(a)		__atomic_load_n(&(a)->counter, __ATOMIC_RELAXED)
#define atomic_inc(a)		__atomic_add_fetch(&(a)->counter, 1, __ATOMIC_SEQ_CST)
#define atomic_dec(a)		__atomic_sub_fetch(&(a)->counter, 1, __ATOMIC_SEQ_CST)
#define BITS_PER_LONG		(8 * (int)sizeof(long))
static inline bool test_bit(unsigned int nr, const volatile unsigned long *addr)
{
	return (__atomic_load_n(addr, __ATOMIC_RELAXED) >> nr) & 1;
}
static inline void set_bit(unsigned int nr, volatile unsigned long *addr)
{
	__atomic_or_fetch(addr, 1UL << nr, __ATOMIC_SEQ_CST);
}
#define __rcu
struct rcu_head {
	struct rcu_head *next;
	void (*func)(struct rcu_head *head);
};
#define rcu_read_lock()		do { } while (0)
#define rcu_read_unlock()	do { } while (0)
#define rcu_dereference(p)	READ_ONCE(p)
#define rcu_access_pointer(p)	READ_ONCE(p)
#define unrcu_pointer(p)	(p)
#define RCU_INITIALIZER(v)	(v)
#define rcu_assign_pointer(p, v)	__atomic_store_n(&(p), v, __ATOMIC_RELEASE)
#define rcu_dereference_protected(p, c)	(p)
#define call_rcu(head, fn)	(fn)(head)
#define rcu_barrier()		do { } while (0)
#define GFP_NOWAIT		0u
#define __GFP_NOWARN		0u
struct kmem_cache {
	size_t size;
};
static inline struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
						   unsigned int align, unsigned int flags,
						   void (*ctor)(void *))
{
	struct kmem_cache *c = malloc(sizeof(*c));

	(void)name, (void)align, (void)flags, (void)ctor;
	if (c)
		c->size = size;
	return c;
}
#define kmem_cache_destroy(c)	free(c)
#define kmem_cache_alloc(c, flags)	malloc((c)->size)
#define kmem_cache_free(c, p)	free(p)
static inline unsigned long roundup_pow_of_two(unsigned long n)
{
	return n <= 1 ? 1 : 1UL << (64 - __builtin_clzl(n - 1));
}
static inline unsigned long rounddown_pow_of_two(unsigned long n)
{
	return 1UL << (63 - __builtin_clzl(n));
}

/* <linux/sort.h>: the core passes no swap function. */
static inline void sort(void *base, size_t num, size_t size,
			int (*cmp)(const void *, const void *), void *swap)
{
	assert(!swap);
	qsort(base, num, size, cmp);
}

#endif /* DMROW_COMPAT_H */
