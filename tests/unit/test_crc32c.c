// SPDX-License-Identifier: GPL-2.0
/*
 * crc32c of the userspace shim must agree with the kernel's crc32c(), or
 * metadata written by one could not be read by the other.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/crc32c.h>

/* The standard check value: CRC-32C of "123456789" with ~0 in and out. */
static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(~crc32c(~0u, "123456789", 9), 0xe3069283u);
}

/* Kernel convention: the seed is used as it is, no implicit inversion. */
static void test_seed_is_not_inverted(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "", 0), 0);
	assert_int_equal(crc32c(0x12345678, "", 0), 0x12345678);
}

/* Checksumming in pieces equals checksumming at once. */
static void test_incremental(void **state)
{
	const char data[] = "redirect-on-write keeps every snapshot";
	u32 whole = crc32c(~0u, data, sizeof(data));
	u32 split = crc32c(crc32c(~0u, data, 10), data + 10, sizeof(data) - 10);

	(void)state;
	assert_int_equal(whole, split);
}

/* A single flipped bit changes the checksum. */
static void test_detects_bit_flip(void **state)
{
	unsigned char block[4096];
	u32 before;

	(void)state;
	memset(block, 0xa5, sizeof(block));
	before = crc32c(~0u, block, sizeof(block));
	block[1234] ^= 0x10;
	assert_int_not_equal(before, crc32c(~0u, block, sizeof(block)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_seed_is_not_inverted),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_detects_bit_flip),
	};

	return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
