/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DMROW_COMPAT_LINUX_CRC32C_H
#define DMROW_COMPAT_LINUX_CRC32C_H
#include <linux/types.h>
u32 crc32c(u32 crc, const void *address, unsigned int length);
#endif
