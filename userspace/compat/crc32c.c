// SPDX-License-Identifier: GPL-2.0
/*
 * crc32c (Castagnoli) for the userspace build of the metadata core, with
 * the kernel's calling convention: no pre- or post-inversion, the caller
 * passes the seed.  Table-driven, one byte at a time; fast enough for the
 * offline tools and the tests.
 */
#include <linux/crc32c.h>

#define CRC32C_POLY_REVERSED 0x82f63b78u

static u32 crc32c_table[256];

static void crc32c_init_table(void)
{
	u32 byte, bit, crc;

	for (byte = 0; byte < 256; byte++) {
		crc = byte;
		for (bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ ((crc & 1) ? CRC32C_POLY_REVERSED : 0);
		crc32c_table[byte] = crc;
	}
}

u32 crc32c(u32 crc, const void *address, unsigned int length)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const u8 *p = address;

	pthread_once(&once, crc32c_init_table);
	while (length--)
		crc = (crc >> 8) ^ crc32c_table[(crc ^ *p++) & 0xff];
	return crc;
}
