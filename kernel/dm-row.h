/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Declarations shared between the files of the dm-row module.
 */
#ifndef DM_ROW_H
#define DM_ROW_H

#include <linux/device-mapper.h>
#include <linux/dm-row.h>

#include "dm-row-kcompat.h"

extern struct target_type dmrow_pool_target;
extern struct target_type dmrow_disk_target;

#endif /* DM_ROW_H */
