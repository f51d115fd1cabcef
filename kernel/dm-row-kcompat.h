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
#define DMROW_OPEN_READ_WRITE	(BLK_OPEN_READ | BLK_OPEN_WRITE)
#else
#define DMROW_OPEN_READ_WRITE	(FMODE_READ | FMODE_WRITE)
#endif

#endif /* DM_ROW_KCOMPAT_H */
