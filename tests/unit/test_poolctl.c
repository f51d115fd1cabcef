// SPDX-License-Identifier: GPL-2.0
/*
 * poolctl: sizes on the command line, the records of the pool's message
 * answers, the message each typed function sends, and names.  The record lines below are what kernel/dm-row-message.c emits
 * (emit_disk, emit_snapshot, info pool, space): if the kernel's format
 * changes, these tests say what snapctl would misread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <linux/dm-row.h>

#include "md_image.h"
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
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 0, 512, NULL), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7");
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 12, 512, NULL), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7 12");
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 0, 4096, NULL), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7 logical_block_size=4096");
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 12, 4096, NULL), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7 12 logical_block_size=4096");
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 12, 512, "/dev/nbd0"), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7 12 external_origin=/dev/nbd0");
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 0, 4096, "/dev/loop1"), 0);
	assert_string_equal(buf, "/dev/mapper/tank 7 logical_block_size=4096 external_origin=/dev/loop1");
	/* A device path that is not one word of the line is refused. */
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 0, 512, "/dev/a b"), -EINVAL);
	assert_int_equal(disk_table_params(buf, sizeof(buf), "tank", 7, 0, 512, ""), -EINVAL);
	assert_int_equal(disk_table_params(tiny, sizeof(tiny), "tank", 7, 0, 512, "/dev/nbd0"),
			 -ENAMETOOLONG);
	/* Cut short is an error, never a table naming another disk. */
	assert_int_equal(disk_table_params(tiny, sizeof(tiny), "tank", 1234567, 0, 512, NULL),
			 -ENAMETOOLONG);
	assert_int_equal(disk_table_params(tiny, sizeof(tiny), "tank", 7, 0, 4096, NULL), -ENAMETOOLONG);
}

/*----------------------------------------------------------------
 * One function per message
 *
 * The test is linked with --wrap=dmctl_message (tests/unit/Makefile.inc):
 * what the typed functions send comes here, and each is answered with the
 * next of the answers a test gave, as the pool would.
 *--------------------------------------------------------------*/

#define MAX_SENT 8

static struct {
	unsigned int nr_sent;
	char sent[MAX_SENT][8192];
	unsigned int nr_answers, next_answer;
	const char *answers[MAX_SENT];	/* NULL: no answer text */
	int errors[MAX_SENT];		/* what the message returns */
} pool;

int __wrap_dmctl_message(const char *name, const char *message, char **response);
int __wrap_dmctl_message(const char *name, const char *message, char **response)
{
	unsigned int i = pool.next_answer;

	assert_string_equal(name, "tank");
	assert_true(pool.nr_sent < MAX_SENT);
	assert_true(strlen(message) < sizeof(pool.sent[0]));
	strcpy(pool.sent[pool.nr_sent++], message);
	*response = NULL;
	if (i >= pool.nr_answers)
		return 0;
	pool.next_answer++;
	if (pool.answers[i])
		*response = strdup(pool.answers[i]);
	return pool.errors[i];
}

static int reset_pool(void **state)
{
	(void)state;
	memset(&pool, 0, sizeof(pool));
	return 0;
}

static void answer(const char *text, int error)
{
	pool.answers[pool.nr_answers] = text;
	pool.errors[pool.nr_answers++] = error;
}

/* Exactly the messages given were sent, in order. */
static void sent(unsigned int nr, ...)
{
	va_list ap;
	unsigned int i;

	assert_int_equal(pool.nr_sent, nr);
	va_start(ap, nr);
	for (i = 0; i < nr; i++)
		assert_string_equal(pool.sent[i], va_arg(ap, const char *));
	va_end(ap);
	pool.nr_sent = 0;
}

static void test_msg_disks(void **state)
{
	(void)state;
	assert_int_equal(poolctl_create_disk("tank", 7, 1048576, "vm1"), 0);
	assert_int_equal(poolctl_create_disk("tank", 16777215, 8, ""), 0);
	assert_int_equal(poolctl_remove_disk("tank", 7), 0);
	assert_int_equal(poolctl_resize_disk("tank", 7, 2097152), 0);
	sent(4, "create_disk 7 1048576 vm1", "create_disk 16777215 8", "remove_disk 7",
	     "resize_disk 7 2097152");
	/* A name the pool would refuse is not sent. */
	assert_int_equal(poolctl_create_disk("tank", 7, 8, "two words"), -EINVAL);
	sent(0);
	/* The pool's answer is the caller's. */
	answer(NULL, -EEXIST);
	assert_int_equal(poolctl_create_disk("tank", 7, 8, "vm1"), -EEXIST);
	sent(1, "create_disk 7 8 vm1");
}

static void test_msg_set_disk(void **state)
{
	struct poolctl_disk_attrs attrs = POOLCTL_DISK_ATTRS;

	(void)state;
	/* Nothing to set is no message. */
	assert_int_equal(poolctl_set_disk("tank", 3, &attrs), -EINVAL);
	sent(0);
	attrs.delete_auto_snapshots = 0;
	assert_int_equal(poolctl_set_disk("tank", 3, &attrs), 0);
	attrs.name = "web";
	attrs.delete_auto_snapshots = 1;
	attrs.policy = 0;
	attrs.logical_block_size = 4096;
	assert_int_equal(poolctl_set_disk("tank", 3, &attrs), 0);
	assert_int_equal(poolctl_set_disk_name("tank", 3, ""), 0);
	assert_int_equal(poolctl_set_disk_policy("tank", 3, 2147483647), 0);
	sent(4, "set_disk 3 delete_auto_snapshots=0",
	     "set_disk 3 name=web delete_auto_snapshots=1 policy=0 logical_block_size=4096",
	     "set_disk 3 name=", "set_disk 3 policy=2147483647");
	/* What the kernel would refuse is refused here. */
	attrs = (struct poolctl_disk_attrs)POOLCTL_DISK_ATTRS;
	attrs.logical_block_size = 1024;
	assert_int_equal(poolctl_set_disk("tank", 3, &attrs), -EINVAL);
	attrs.logical_block_size = 0;
	attrs.delete_auto_snapshots = 2;
	assert_int_equal(poolctl_set_disk("tank", 3, &attrs), -EINVAL);
	attrs.delete_auto_snapshots = -1;
	attrs.policy = 2147483648LL;
	assert_int_equal(poolctl_set_disk("tank", 3, &attrs), -EINVAL);
	assert_int_equal(poolctl_set_disk_name("tank", 3, "a b"), -EINVAL);
	sent(0);
}

static void test_msg_origin(void **state)
{
	(void)state;
	assert_int_equal(poolctl_set_disk_origin("tank", 3, 524288), 0);
	assert_int_equal(poolctl_set_disk_origin("tank", 3, 0), 0);
	assert_int_equal(poolctl_hydrate("tank", 3, 8388608), 0);
	assert_int_equal(poolctl_hydrate("tank", 3, 0), 0);
	assert_int_equal(poolctl_hydrate("tank", 3, -1), 0);
	sent(5, "set_disk 3 external_origin=524288", "set_disk 3 external_origin=none",
	     "hydrate 3 8388608", "hydrate 3 0", "hydrate 3 stop");
}

static void test_msg_snapshot(void **state)
{
	static const char *const names[2] = { "web-nightly", "db-nightly" };
	const char *one_name[1] = { "before" };
	struct poolctl_snapshot_attrs manual = { .names = one_name, .time = 1795309725 };
	struct poolctl_snapshot_attrs all = {
		.names = names, .automatic = true, .app_consistent = true, .policy = 4,
		.retention = 1798000000, .time = 1795309725,
	};
	struct poolctl_snapshot_attrs bare = { 0 };
	uint64_t disks[2] = { 1, 2 }, ids[2] = { 0, 0 };

	(void)state;
	answer("9\n", 0);
	assert_int_equal(poolctl_snapshot("tank", disks, 1, &manual, ids), 0);
	assert_int_equal(ids[0], 9);
	answer("12 13\n", 0);
	assert_int_equal(poolctl_snapshot("tank", disks, 2, &all, ids), 0);
	assert_int_equal(ids[0], 12);
	assert_int_equal(ids[1], 13);
	answer("14\n", 0);
	assert_int_equal(poolctl_snapshot("tank", disks + 1, 1, &bare, ids), 0);
	assert_int_equal(ids[0], 14);
	sent(3, "snapshot 1 name=before time=1795309725",
	     "snapshot 1,2 name=web-nightly,db-nightly kind=auto consistency=app policy=4 retention=1798000000 time=1795309725",
	     "snapshot 2");
	/* An answer without an id per disk is not taken for one. */
	answer("12\n", 0);
	assert_int_equal(poolctl_snapshot("tank", disks, 2, &all, ids), -EPROTO);
	answer(NULL, 0);
	assert_int_equal(poolctl_snapshot("tank", disks, 1, &manual, ids), -EPROTO);
	answer("0\n", 0);
	assert_int_equal(poolctl_snapshot("tank", disks, 1, &manual, ids), -EPROTO);
	answer(NULL, -EDQUOT);
	assert_int_equal(poolctl_snapshot("tank", disks, 1, &manual, ids), -EDQUOT);
	sent(4, "snapshot 1,2 name=web-nightly,db-nightly kind=auto consistency=app policy=4 retention=1798000000 time=1795309725",
	     "snapshot 1 name=before time=1795309725", "snapshot 1 name=before time=1795309725",
	     "snapshot 1 name=before time=1795309725");
}

static void test_msg_snapshot_refused(void **state)
{
	uint64_t disks[DM_ROW_MAX_SNAPSHOT_DISKS + 1], ids[DM_ROW_MAX_SNAPSHOT_DISKS + 1];
	const char *names[DM_ROW_MAX_SNAPSHOT_DISKS + 1];
	char name[DM_ROW_MAX_SNAPSHOT_DISKS + 1][16], answer_text[1024] = "";
	struct poolctl_snapshot_attrs attrs = { .names = names };
	unsigned int i;

	(void)state;
	for (i = 0; i <= DM_ROW_MAX_SNAPSHOT_DISKS; i++) {
		disks[i] = i + 1;
		snprintf(name[i], sizeof(name[i]), "s%u", i);
		names[i] = name[i];
		snprintf(answer_text + strlen(answer_text), sizeof(answer_text) - strlen(answer_text),
			 "%s%u", i ? " " : "", 100 + i);
	}
	assert_int_equal(poolctl_snapshot("tank", disks, 0, &attrs, ids), -EINVAL);
	assert_int_equal(poolctl_snapshot("tank", disks, DM_ROW_MAX_SNAPSHOT_DISKS + 1, &attrs, ids),
			 -EINVAL);
	/* A comma would split one name in two. */
	names[0] = "a,b";
	assert_int_equal(poolctl_snapshot("tank", disks, 1, &attrs, ids), -EINVAL);
	names[0] = "";
	answer("100\n", 0);
	assert_int_equal(poolctl_snapshot("tank", disks, 1, &attrs, ids), 0);
	sent(1, "snapshot 1 name=");
	/* As many disks as the pool takes, in one message. */
	names[0] = name[0];
	answer(answer_text, 0);
	assert_int_equal(poolctl_snapshot("tank", disks, DM_ROW_MAX_SNAPSHOT_DISKS, &attrs, ids), 0);
	assert_int_equal(pool.nr_sent, 1);
	assert_non_null(strstr(pool.sent[0], ",64 name=s0,s1,"));
	assert_non_null(strstr(pool.sent[0], ",s63"));
	assert_int_equal(ids[63], 163);
}

static void test_msg_chain(void **state)
{
	(void)state;
	assert_int_equal(poolctl_delete_snapshot("tank", 9), 0);
	assert_int_equal(poolctl_merge("tank", 3, 9), 0);
	assert_int_equal(poolctl_rollback("tank", 7, 9, true), 0);
	assert_int_equal(poolctl_rollback("tank", 7, 9, false), 0);
	assert_int_equal(poolctl_clone("tank", 9, 8, "vm1-monday", 1048576), 0);
	assert_int_equal(poolctl_clone("tank", 9, 8, "vm1-monday", 0), 0);
	assert_int_equal(poolctl_clone("tank", 9, 8, "", 0), 0);
	assert_int_equal(poolctl_set_quota("tank", 0, 65536), 0);
	sent(8, "delete_snapshot 9", "merge 3 9", "rollback 7 9 keep_size",
	     "rollback 7 9 snapshot_size", "clone 9 8 vm1-monday 1048576", "clone 9 8 vm1-monday",
	     "clone 9 8", "set_quota 0 65536");
	/* The size is the fourth word: it cannot follow a missing name. */
	assert_int_equal(poolctl_clone("tank", 9, 8, "", 1048576), -EINVAL);
	assert_int_equal(poolctl_clone("tank", 9, 8, "a\tb", 0), -EINVAL);
	sent(0);
}

static void test_msg_listings(void **state)
{
	struct record_list list;

	(void)state;
	/* Every page, each from where the last ended. */
	answer("disk id=1 name=a\ndisk id=2 name=b\nnext=3\n", 0);
	answer("disk id=5 name=c\n", 0);
	assert_int_equal(poolctl_list_disks("tank", &list), 0);
	assert_int_equal(list.nr, 3);
	assert_int_equal(record_u64(&list.records[2], "id"), 5);
	record_list_free(&list);
	sent(2, "list_disks", "list_disks 3");

	answer("snapshot id=4 disk=7\nnext=6\n", 0);
	answer("snapshot id=6 disk=7\n", 0);
	assert_int_equal(poolctl_list_snapshots("tank", 7, &list), 0);
	assert_int_equal(list.nr, 2);
	record_list_free(&list);
	sent(2, "list_snapshots 7", "list_snapshots 7 6");

	answer("0+4\n9+1\nnext=12\n", 0);
	answer("12+3\nend\n", 0);
	assert_int_equal(poolctl_diff("tank", 7, 4, 0, &list), 0);
	assert_int_equal(list.nr, 4);
	assert_string_equal(list.records[2].kind, "12+3");
	record_list_free(&list);
	sent(2, "diff 7 4 0", "diff 7 4 0 12");

	/* A failed page is the listing's failure, and leaves nothing. */
	answer("disk id=1 name=a\nnext=2\n", 0);
	answer(NULL, -EIO);
	assert_int_equal(poolctl_list_disks("tank", &list), -EIO);
	assert_int_equal(list.nr, 0);
	assert_null(list.records);
	sent(2, "list_disks", "list_disks 2");
}

/*----------------------------------------------------------------
 * Names
 *--------------------------------------------------------------*/

/*
 * poolctl_name_valid() takes what the kernel takes: the metadata core (the
 * kernel's own code, built for userspace) is asked about every byte in a
 * name and about the lengths around the limit.
 */
static void test_name_as_the_kernel(void **state)
{
	char name[DM_ROW_NAME_LEN + 2];
	struct md_image im = { .fd = -1 };
	unsigned int c, len;

	(void)state;
	assert_int_equal(DM_ROW_NAME_LEN, DMROW_NAME_LEN);
	md_image_create(&im, 64, 16, 64, 1, 8, 3);
	for (c = 1; c < 256; c++) {
		snprintf(name, sizeof(name), "a%cb", (char)c);
		if (poolctl_name_valid(name) != !dmrow_md_set_disk_name(im.md, 1, name))
			fail_msg("byte 0x%02x: the kernel and poolctl_name_valid() disagree", c);
	}
	for (len = 0; len <= DM_ROW_NAME_LEN; len++) {
		memset(name, 'x', len);
		name[len] = '\0';
		if (poolctl_name_valid(name) != !dmrow_md_set_disk_name(im.md, 1, name))
			fail_msg("a name of %u bytes: the kernel and poolctl_name_valid() disagree", len);
	}
	assert_true(poolctl_name_valid(""));
	assert_false(poolctl_name_valid("a b"));
	md_image_destroy(&im);
}

/* snapctl's new names: the kernel's, less what its arguments would misread. */
static void test_new_name(void **state)
{
	static const char *const good[] = {
		"vm1", "web-test", "a", "x.importing", "_1", "~", "a,b", "not-first-0",
		"x23456789012345678901234567890123456789012345678901234567890abc",
	};
	static const char *const bad[] = {
		"", "1vm", "0", "a/b", "/", "vm@1", "@", "a b", "tab\t", "caf\xc3\xa9",
		"1234567890123456789012345678901234567890123456789012345678901234",
		"a123456789012345678901234567890123456789012345678901234567890abc",
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!poolctl_new_name_valid(good[i]) || !poolctl_name_valid(good[i]))
			fail_msg("'%s' was refused", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (poolctl_new_name_valid(bad[i]))
			fail_msg("'%s' was accepted", bad[i]);
}

/*----------------------------------------------------------------
 * Status
 *--------------------------------------------------------------*/

#ifndef DMROW_SRC_DIR
#define DMROW_SRC_DIR "."
#endif

/*
 * The fields of the first literal block after the heading @title of
 * Documentation/dm-row.rst, which shows a status line: how many there are.
 */
static unsigned int documented_fields(const char *title)
{
	FILE *f = fopen(DMROW_SRC_DIR "/Documentation/dm-row.rst", "r");
	bool in_section = false, in_block = false;
	unsigned int nr = 0, depth;
	char line[512], *p;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!in_section) {
			in_section = !strcmp(line, title);
			continue;
		}
		if (!in_block) {
			in_block = strlen(line) >= 2 && !strcmp(line + strlen(line) - 2, "::");
			continue;
		}
		if (!line[0] && nr)
			break;
		/* Fields are blank separated; "<transaction id>" is one. */
		for (p = line, depth = 0; *p; p++) {
			if (*p != ' ' && !depth && (p == line || p[-1] == ' '))
				nr++;
			depth += *p == '<';
			depth -= *p == '>' && depth;
		}
	}
	fclose(f);
	if (!nr)
		fail_msg("dm-row.rst shows no status line under '%s'", title);
	return nr;
}

/* The uapi header's status fields are the ones dm-row.rst documents, as many. */
static void test_status_fields(void **state)
{
	(void)state;
	assert_int_equal(documented_fields("Pool status"), DM_ROW_POOL_STATUS_NR_FIELDS);
	assert_int_equal(documented_fields("Disk status"), DM_ROW_DISK_STATUS_NR_FIELDS);
	assert_int_equal(DM_ROW_POOL_STATUS_METADATA_LOW, 6);
	assert_int_equal(DM_ROW_DISK_STATUS_EARLY_ACKS, 10);
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
		cmocka_unit_test_setup(test_msg_disks, reset_pool),
		cmocka_unit_test_setup(test_msg_set_disk, reset_pool),
		cmocka_unit_test_setup(test_msg_origin, reset_pool),
		cmocka_unit_test_setup(test_msg_snapshot, reset_pool),
		cmocka_unit_test_setup(test_msg_snapshot_refused, reset_pool),
		cmocka_unit_test_setup(test_msg_chain, reset_pool),
		cmocka_unit_test_setup(test_msg_listings, reset_pool),
		cmocka_unit_test(test_name_as_the_kernel),
		cmocka_unit_test(test_new_name),
		cmocka_unit_test(test_status_fields),
	};

	return cmocka_run_group_tests_name("poolctl", tests, NULL, NULL);
}
