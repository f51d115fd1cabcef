// SPDX-License-Identifier: GPL-2.0
/*
 * poolctl: sizes on the command line and the records of the pool's message
 * answers.  The record lines below are what kernel/dm-row-message.c emits
 * (emit_disk, emit_snapshot, info pool, space): if the kernel's format
 * changes, these tests say what snapctl would misread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "poolctl.h"

/*----------------------------------------------------------------
 * parse_size
 *--------------------------------------------------------------*/

static uint64_t size_of(const char *s)
{
	uint64_t bytes = 0xdeadbeef;

	assert_int_equal(parse_size(s, &bytes), 0);
	return bytes;
}

static void test_size_plain_bytes(void **state)
{
	(void)state;
	assert_int_equal(size_of("0"), 0);
	assert_int_equal(size_of("1"), 1);
	assert_int_equal(size_of("4096"), 4096);
	assert_int_equal(size_of("007"), 7);
	assert_int_equal(size_of("18446744073709551615"), UINT64_MAX);
}

static void test_size_suffixes(void **state)
{
	(void)state;
	assert_int_equal(size_of("1K"), 1024);
	assert_int_equal(size_of("4k"), 4096);
	assert_int_equal(size_of("256M"), 256ULL << 20);
	assert_int_equal(size_of("10G"), 10ULL << 30);
	assert_int_equal(size_of("3T"), 3ULL << 40);
	assert_int_equal(size_of("2P"), 2ULL << 50);
	/* Binary units, also when spelled out. */
	assert_int_equal(size_of("1KB"), 1024);
	assert_int_equal(size_of("1KiB"), 1024);
	assert_int_equal(size_of("16MiB"), 16ULL << 20);
	assert_int_equal(size_of("1gib"), 1ULL << 30);
	assert_int_equal(size_of("0G"), 0);
}

static void test_size_invalid(void **state)
{
	static const char *const bad[] = {
		"", "G", "-1", "-1G", "+5", " 5", "5 ", "5 G", "1.5G", "0x10", "10X", "10E",
		"10GG", "10Gi", "10GiBs", "10Bi", "ten", "1e3", "5\n",
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t bytes = 42;

		if (parse_size(bad[i], &bytes) != -EINVAL)
			fail_msg("'%s' was accepted as %llu", bad[i], (unsigned long long)bytes);
		assert_int_equal(bytes, 42);	/* untouched */
	}
}

static void test_size_overflow(void **state)
{
	uint64_t bytes = 42;

	(void)state;
	/* Too many bytes for 64 bits, written out or through a unit. */
	assert_int_equal(parse_size("18446744073709551616", &bytes), -ERANGE);
	assert_int_equal(parse_size("99999999999999999999999", &bytes), -ERANGE);
	assert_int_equal(parse_size("16777216T", &bytes), -ERANGE);	/* 2^64 */
	assert_int_equal(parse_size("16384P", &bytes), -ERANGE);	/* 2^64 */
	assert_int_equal(parse_size("17179869184G", &bytes), -ERANGE);	/* 2^64 */
	assert_int_equal(bytes, 42);
	/* The largest that fit. */
	assert_int_equal(size_of("16777215T"), 16777215ULL << 40);
	assert_int_equal(size_of("16383P"), 16383ULL << 50);
	assert_int_equal(size_of("18014398509481983K"), 18014398509481983ULL << 10);
}

/*----------------------------------------------------------------
 * Records
 *--------------------------------------------------------------*/

/* emit_disk */
static const char disk_line[] =
	"disk id=7 size=524288 created=1795309722 first=3 last=9 origin=2 removed=0 "
	"delete_auto_snapshots=1 manual=2 auto=1 policy=4 name=vm1";
/* emit_snapshot */
static const char snapshot_line[] =
	"snapshot id=9 disk=7 prev=3 next=0 created=1795309725 size=524288 kind=manual "
	"consistency=app policy=0 retention=1798000000 group=5 name=before";
/* info pool */
static const char pool_line[] =
	"pool uuid=68fbf0a3-9a0b-d418-5eb2-a4377b0447af block_size=8 transaction=2 "
	"metadata_blocks=262144 metadata_used=5 data_blocks=262144 data_used=4096 "
	"manual_quota=256 auto_quota=256 mode=rw needs_check=0";

static void test_record_disk(void **state)
{
	struct record rec;

	(void)state;
	assert_int_equal(record_parse(disk_line, &rec), 0);
	assert_string_equal(rec.kind, "disk");
	assert_int_equal(rec.nr_fields, 12);
	assert_int_equal(record_u64(&rec, "id"), 7);
	assert_int_equal(record_u64(&rec, "size"), 524288);
	assert_int_equal(record_u64(&rec, "created"), 1795309722);
	assert_int_equal(record_u64(&rec, "first"), 3);
	assert_int_equal(record_u64(&rec, "last"), 9);
	assert_int_equal(record_u64(&rec, "origin"), 2);
	assert_int_equal(record_u64(&rec, "removed"), 0);
	assert_int_equal(record_u64(&rec, "delete_auto_snapshots"), 1);
	assert_int_equal(record_u64(&rec, "manual"), 2);
	assert_int_equal(record_u64(&rec, "auto"), 1);
	assert_int_equal(record_u64(&rec, "policy"), 4);
	assert_string_equal(record_get(&rec, "name"), "vm1");
	/* Keys and values in the order of the line. */
	assert_string_equal(rec.keys[0], "id");
	assert_string_equal(rec.keys[11], "name");
	record_free(&rec);
	assert_null(rec.buf);
	assert_int_equal(rec.nr_fields, 0);
}

static void test_record_snapshot(void **state)
{
	struct record rec;

	(void)state;
	assert_int_equal(record_parse(snapshot_line, &rec), 0);
	assert_string_equal(rec.kind, "snapshot");
	assert_int_equal(rec.nr_fields, 12);
	assert_int_equal(record_u64(&rec, "id"), 9);
	assert_int_equal(record_u64(&rec, "disk"), 7);
	assert_int_equal(record_u64(&rec, "prev"), 3);
	assert_int_equal(record_u64(&rec, "next"), 0);
	assert_int_equal(record_u64(&rec, "size"), 524288);
	assert_string_equal(record_get(&rec, "kind"), "manual");
	assert_string_equal(record_get(&rec, "consistency"), "app");
	assert_int_equal(record_u64(&rec, "retention"), 1798000000);
	assert_int_equal(record_u64(&rec, "group"), 5);
	assert_string_equal(record_get(&rec, "name"), "before");
	record_free(&rec);
}

static void test_record_pool_and_space(void **state)
{
	struct record rec;

	(void)state;
	assert_int_equal(record_parse(pool_line, &rec), 0);
	assert_string_equal(rec.kind, "pool");
	assert_string_equal(record_get(&rec, "uuid"), "68fbf0a3-9a0b-d418-5eb2-a4377b0447af");
	assert_int_equal(record_u64(&rec, "block_size"), 8);
	assert_int_equal(record_u64(&rec, "data_used"), 4096);
	assert_string_equal(record_get(&rec, "mode"), "rw");
	assert_int_equal(record_u64(&rec, "needs_check"), 0);
	record_free(&rec);

	/* space snapshot <id> */
	assert_int_equal(record_parse("snapshot id=9 delta_blocks=4096 exclusive_blocks=17 mapped_blocks=8192",
				      &rec), 0);
	assert_int_equal(record_u64(&rec, "delta_blocks"), 4096);
	assert_int_equal(record_u64(&rec, "exclusive_blocks"), 17);
	assert_int_equal(record_u64(&rec, "mapped_blocks"), 8192);
	record_free(&rec);
}

/* The record owns a copy: the line may go away. */
static void test_record_copies_the_line(void **state)
{
	char line[sizeof(disk_line)];
	struct record rec;

	(void)state;
	memcpy(line, disk_line, sizeof(line));
	assert_int_equal(record_parse(line, &rec), 0);
	memset(line, 'x', sizeof(line) - 1);
	assert_string_equal(record_get(&rec, "name"), "vm1");
	assert_int_equal(record_u64(&rec, "id"), 7);
	record_free(&rec);
}

static void test_record_missing_and_odd_fields(void **state)
{
	struct record rec;

	(void)state;
	assert_int_equal(record_parse("disk id=3  stray size=x name=- big=18446744073709551615 eq=a=b", &rec), 0);
	assert_string_equal(rec.kind, "disk");
	/* Words without '=' and empty words are skipped. */
	assert_int_equal(rec.nr_fields, 5);
	assert_null(record_get(&rec, "stray"));
	assert_null(record_get(&rec, "nope"));
	assert_int_equal(record_u64(&rec, "nope"), 0);
	assert_int_equal(record_u64(&rec, "size"), 0);		/* not a number */
	assert_string_equal(record_get(&rec, "name"), "-");	/* the kernel's "no name" */
	assert_int_equal(record_u64(&rec, "big"), UINT64_MAX);
	assert_string_equal(record_get(&rec, "eq"), "a=b");	/* split at the first '=' */
	/* Keys match exactly, not by prefix. */
	assert_null(record_get(&rec, "i"));
	assert_null(record_get(&rec, "id="));
	record_free(&rec);

	assert_int_equal(record_parse("", &rec), 0);
	assert_string_equal(rec.kind, "");
	assert_int_equal(rec.nr_fields, 0);
	record_free(&rec);
}

static void test_record_too_many_fields(void **state)
{
	char line[2048] = "many";
	struct record rec;
	unsigned int i;

	(void)state;
	for (i = 0; i < RECORD_MAX_FIELDS + 8; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " k%u=%u", i, i);
	assert_int_equal(record_parse(line, &rec), 0);
	assert_int_equal(rec.nr_fields, RECORD_MAX_FIELDS);
	assert_int_equal(record_u64(&rec, "k0"), 0);
	assert_int_equal(record_u64(&rec, "k31"), 31);
	assert_null(record_get(&rec, "k32"));
	record_free(&rec);
}

/*----------------------------------------------------------------
 * Device names
 *--------------------------------------------------------------*/

static void test_device_names(void **state)
{
	struct record disk, snap, nameless;
	char buf[128];

	(void)state;
	assert_int_equal(record_parse(disk_line, &disk), 0);
	assert_int_equal(record_parse(snapshot_line, &snap), 0);
	assert_int_equal(record_parse("snapshot id=12 disk=7 name=-", &nameless), 0);

	disk_device_name("tank", &disk, buf, sizeof(buf));
	assert_string_equal(buf, "tank-vm1");
	view_device_name("tank", &disk, &snap, buf, sizeof(buf));
	assert_string_equal(buf, "tank-vm1@before");
	/* No name: the id stands in. */
	view_device_name("tank", &disk, &nameless, buf, sizeof(buf));
	assert_string_equal(buf, "tank-vm1@12");

	device_uuid("68fb", "disk", 7, buf, sizeof(buf));
	assert_string_equal(buf, "DMROW-68fb-disk-7");
	device_uuid("68fb", "pool", 0, buf, sizeof(buf));
	assert_string_equal(buf, "DMROW-68fb-pool");

	record_free(&nameless);
	record_free(&snap);
	record_free(&disk);
}

/*----------------------------------------------------------------
 * Sizes of clones and imports, logical block sizes, disk tables
 *--------------------------------------------------------------*/

static void test_disk_sectors_at_least(void **state)
{
	uint64_t sectors = 42;

	(void)state;
	/* No size given: the image's. */
	assert_int_equal(disk_sectors_at_least(0, 4096, 2048, &sectors), 0);
	assert_int_equal(sectors, 2048);
	/* Larger, rounded up to whole data blocks. */
	assert_int_equal(disk_sectors_at_least(2 << 20, 4096, 2048, &sectors), 0);
	assert_int_equal(sectors, 4096);
	assert_int_equal(disk_sectors_at_least((1 << 20) + 1, 65536, 2048, &sectors), 0);
	assert_int_equal(sectors, 2048 + 128);
	/* The same size is fine; rounding up may reach the image's. */
	assert_int_equal(disk_sectors_at_least(1 << 20, 4096, 2048, &sectors), 0);
	assert_int_equal(sectors, 2048);
	assert_int_equal(disk_sectors_at_least((1 << 20) - 100, 4096, 2048, &sectors), 0);
	assert_int_equal(sectors, 2048);
	/* Smaller than the image, or more than a block device can hold. */
	sectors = 42;
	assert_int_equal(disk_sectors_at_least((1 << 20) - 4096, 4096, 2048, &sectors), -ERANGE);
	assert_int_equal(disk_sectors_at_least(1, 4096, 2048, &sectors), -ERANGE);
	assert_int_equal(disk_sectors_at_least(UINT64_MAX, 4096, 2048, &sectors), -ERANGE);
	assert_int_equal(disk_sectors_at_least(1ULL << 63, 4096, 2048, &sectors), -ERANGE);
	assert_int_equal(sectors, 42);	/* untouched */
	assert_int_equal(disk_sectors_at_least((1ULL << 63) - 4096, 4096, 2048, &sectors), 0);
	assert_int_equal(sectors, ((1ULL << 63) - 4096) >> 9);
}

static void test_logical_block_size(void **state)
{
	static const char *const bad[] = {
		"", "0", "1024", "2048", "8192", "8K", "4097", "-4096", "4096 ", "4KX", "1M",
	};
	unsigned int bytes, i;
	struct record disk;

	(void)state;
	assert_int_equal(parse_logical_block_size("512", &bytes), 0);
	assert_int_equal(bytes, 512);
	assert_int_equal(parse_logical_block_size("4096", &bytes), 0);
	assert_int_equal(bytes, 4096);
	assert_int_equal(parse_logical_block_size("4K", &bytes), 0);
	assert_int_equal(bytes, 4096);
	assert_int_equal(parse_logical_block_size("4KiB", &bytes), 0);
	assert_int_equal(bytes, 4096);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bytes = 42;
		if (parse_logical_block_size(bad[i], &bytes) != -EINVAL)
			fail_msg("'%s' was accepted as %u", bad[i], bytes);
		assert_int_equal(bytes, 42);
	}

	/* emit_disk prints it before the name; older modules do not print it. */
	assert_int_equal(record_parse("disk id=7 size=8 policy=0 logical_block_size=4096 name=vm1",
				      &disk), 0);
	assert_int_equal(record_logical_block_size(&disk), 4096);
	assert_string_equal(record_get(&disk, "name"), "vm1");
	record_free(&disk);
	assert_int_equal(record_parse(disk_line, &disk), 0);
	assert_int_equal(record_logical_block_size(&disk), 512);
	record_free(&disk);
}

static void test_disk_table_params(void **state)
{
	char buf[128], tiny[24];

	(void)state;
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 0, 512), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7");
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 12, 512), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7 12");
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 0, 4096), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7 logical_block_size=4096");
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 12, 4096), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7 12 logical_block_size=4096");
	/* Cut short is an error, never a table naming another disk. */
	assert_int_equal(disk_table_params(tiny, sizeof(tiny), "tank", 1234567, 0, 512),
			 -ENAMETOOLONG);
	assert_int_equal(disk_table_params(tiny, sizeof(tiny), "tank", 7, 0, 4096), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_plain_bytes),
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_invalid),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_record_disk),
		cmocka_unit_test(test_record_snapshot),
		cmocka_unit_test(test_record_pool_and_space),
		cmocka_unit_test(test_record_copies_the_line),
		cmocka_unit_test(test_record_missing_and_odd_fields),
		cmocka_unit_test(test_record_too_many_fields),
		cmocka_unit_test(test_device_names),
		cmocka_unit_test(test_disk_sectors_at_least),
		cmocka_unit_test(test_logical_block_size),
		cmocka_unit_test(test_disk_table_params),
	};

	return cmocka_run_group_tests_name("poolctl", tests, NULL, NULL);
}
