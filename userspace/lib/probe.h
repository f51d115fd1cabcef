/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What is on a device, before anything is formatted over it: libblkid for
 * filesystems and partition tables, and dm-row's own superblock magic.
 */
#ifndef SNAPCTL_PROBE_H
#define SNAPCTL_PROBE_H

#include <stddef.h>

/*
 * 0: nothing recognised.  1: @what describes what was found ("ext4
 * filesystem", "gpt partition table", "dm-row pool metadata").  <0: errno.
 */
int probe_device(const char *path, char *what, size_t len);

#endif
