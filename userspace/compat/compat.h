/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userspace shim that lets the metadata core in kernel/ compile
 * unchanged as a userspace library.  userspace/compat/include/ shadows the
 * kernel headers the core includes; each of them includes this file, which
 * supplies the kernel types and helpers the core uses with libc, pthreads
 * and liburcu underneath.
 */
#ifndef DMROW_COMPAT_H
#define DMROW_COMPAT_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef uint16_t __le16;
typedef uint32_t __le32;
typedef uint64_t __le64;
typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
typedef uint64_t sector_t;

#endif /* DMROW_COMPAT_H */
