// SPDX-License-Identifier: GPL-2.0
/*
 * The store of disks' external origins (userspace/lib/origins.c): entries
 * of both kinds survive a save and a load whole, a damaged file is refused
 * with a reason and never read in part, entries count only for the disk
 * created at their time, and a pool without origins has no file.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "origins.h"
#include "statefile.h"
#include "temp_dir.h"

static char root[PATH_MAX];

static int setup(void **state)
{
	char dir[PATH_MAX + 8];

	(void)state;
	if (temp_dir_make(root, sizeof(root), "origins"))
		return -1;
	snprintf(dir, sizeof(dir), "%s/conf", root);
	setenv("SNAPCTL_CONFIG_DIR", dir, 1);
	snprintf(dir, sizeof(dir), "%s/run", root);
	setenv("SNAPCTL_RUN_DIR", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unsetenv("SNAPCTL_CONFIG_DIR");
	unsetenv("SNAPCTL_RUN_DIR");
	return temp_dir_remove(root);
}

static struct origin template_origin(uint64_t id)
{
	struct origin o = { .disk_id = id, .created = 1000 + id };

	snprintf(o.device, sizeof(o.device), "/dev/disk/by-id/golden image %%1");
	return o;
}

static struct origin export_origin(uint64_t id)
{
	struct origin o = { .disk_id = id, .created = 2000 + id, .hydrate = true,
			    .rate = 8 << 20 };

	snprintf(o.url, sizeof(o.url), "s3://bucket/prefix");
	snprintf(o.export_name, sizeof(o.export_name), "vm.12");
	snprintf(o.key_file, sizeof(o.key_file), "/etc/dm-row/key");
	return o;
}

static void test_round_trip(void **state)
{
	struct origin_store s = { 0 }, back;
	struct origin a = template_origin(3), b = export_origin(7), c = export_origin(9);
	char *text, err[128];
	size_t len;

	(void)state;
	memset(c.key_file, 0, sizeof(c.key_file));
	c.hydrate = true;
	c.rate = 0;			/* as fast as it goes, not "not asked" */
	memset(c.root, 'e', ORIGIN_ROOT_MAX);	/* the export's root checksum */
	assert_int_equal(origin_store_put(&s, &a), 0);
	assert_int_equal(origin_store_put(&s, &b), 0);
	assert_int_equal(origin_store_put(&s, &c), 0);
	assert_int_equal(origin_store_format(&s, &text, &len), 0);
	assert_non_null(strstr(text, "device=/dev/disk/by-id/golden%20image%20%251 rate=-"));
	assert_non_null(strstr(text, "export=vm.12 key_file=/etc/dm-row/key rate=8388608"));
	assert_non_null(strstr(text, "export=vm.12 root=eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee rate=0"));
	assert_int_equal(origin_store_parse(&back, text, len, err, sizeof(err)), 0);
	assert_int_equal(back.nr, 3);
	assert_memory_equal(origin_store_find(&back, 3, 1003), &a, sizeof(a));
	assert_memory_equal(origin_store_find(&back, 7, 2007), &b, sizeof(b));
	assert_memory_equal(origin_store_find(&back, 9, 2009), &c, sizeof(c));
	free(text);
	origin_store_free(&back);
	origin_store_free(&s);
}

static void test_entries(void **state)
{
	struct origin_store s = { 0 };
	struct origin a = export_origin(1), b = export_origin(2), bad = template_origin(5);

	(void)state;
	assert_int_equal(origin_store_put(&s, &a), 0);
	assert_int_equal(origin_store_put(&s, &b), 0);
	/* A disk id whose record came back is another disk. */
	assert_null(origin_store_find(&s, 1, 1));
	assert_non_null(origin_store_find(&s, 1, a.created));
	/* The export is used by disk 2 when disk 1 asks, and the other way round. */
	assert_true(origin_store_uses_export(&s, a.url, a.export_name, 1));
	assert_int_equal(origin_store_remove(&s, 2), true);
	assert_false(origin_store_uses_export(&s, a.url, a.export_name, 1));
	assert_false(origin_store_uses_export(&s, a.url, "other", 0));
	assert_int_equal(origin_store_remove(&s, 2), false);
	/* A put replaces. */
	a.rate = 1;
	assert_int_equal(origin_store_put(&s, &a), 0);
	assert_int_equal(s.nr, 1);
	assert_int_equal(s.entries[0].rate, 1);
	/* Neither or both kinds: refused. */
	snprintf(bad.url, sizeof(bad.url), "file:///x");
	assert_int_equal(origin_store_put(&s, &bad), -EINVAL);
	memset(&bad, 0, sizeof(bad));
	assert_int_equal(origin_store_put(&s, &bad), -EINVAL);
	assert_int_equal(s.nr, 1);
	origin_store_free(&s);
}

static void expect_damaged(const char *text, const char *why)
{
	struct origin_store s;
	char err[160];

	assert_int_equal(origin_store_parse(&s, text, strlen(text), err, sizeof(err)), -EILSEQ);
	if (!strstr(err, why))
		fail_msg("'%s' gave '%s', not '%s'", text, err, why);
	assert_int_equal(s.nr, 0);
}

static void test_damage(void **state)
{
	struct origin_store s = { 0 };
	struct origin a = template_origin(4);
	char *text, *copy;
	size_t len;

	(void)state;
	expect_damaged("", "empty");
	expect_damaged("dm-row-tags 1\n", "not a dm-row origin store");
	expect_damaged("dm-row-origins 2\n", "newer snapctl");
	assert_int_equal(origin_store_put(&s, &a), 0);
	assert_int_equal(origin_store_format(&s, &text, &len), 0);
	copy = strdup(text);
	copy[20] ^= 1;				/* one bit of the record */
	expect_damaged(copy, "checksum");
	free(copy);
	copy = strndup(text, len - 3);		/* cut short */
	expect_damaged(copy, "cut short");
	free(copy);
	free(text);
	origin_store_free(&s);
}

/* CRC-32C of the userspace build, as the store's checksum line uses it. */
uint32_t crc32c(uint32_t crc, const void *address, unsigned int length);

/* A store of one record @line, with its right checksum (malloc'd). */
static char *store_of(const char *line)
{
	char *body, *text;

	assert_true(asprintf(&body, "dm-row-origins 1\n%s\n", line) > 0);
	assert_true(asprintf(&text, "%scrc32c=%08x\n", body,
			     crc32c(~0u, body, strlen(body)) ^ ~0u) > 0);
	free(body);
	return text;
}

/* A record the checksum covers but that says something wrong. */
/* A root checksum: 64 copies of the one-character string @c. */
#define ROOT_OF(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
		   c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void test_malformed_records(void **state)
{
	static const char *const records[] = {
		"disk id=1 created=2 rate=-",			/* no origin */
		"disk id=1 created=2 device=/dev/x url=u export=e rate=-",	/* both */
		"disk id=1 created=2 url=u rate=-",		/* no export */
		"disk id=1 device=/dev/x rate=-",		/* no creation time */
		"disk id=1 created=2 device=/dev/x",		/* no rate */
		"disk id=1 created=2 device=/dev/x rate=fast",
		"disk id=x created=2 device=/dev/x rate=-",
		"disk id=1 created=2 device=/dev/%00 rate=-",
		"disk id=1 created=2 device=/dev/x rate=- color=blue",
		"disk id=1 created=2 device=/dev/x root=" ROOT_OF("a") " rate=-",	/* root of a device */
		"disk id=1 created=2 url=u export=e root=abc rate=-",		/* root too short */
		"disk id=1 created=2 url=u export=e root=" ROOT_OF("A") " rate=-",	/* not lowercase */
		"disk id=1 created=2 url=u export=e root=" ROOT_OF("a") " root=" ROOT_OF("b") " rate=-",
		"snapshot id=1 created=2 device=/dev/x rate=-",
	};
	struct origin_store s;
	unsigned int i;
	char *text;

	(void)state;
	text = store_of("disk id=1 created=2 device=/dev/x rate=5");
	assert_int_equal(origin_store_parse(&s, text, strlen(text), NULL, 0), 0);
	assert_int_equal(s.nr, 1);
	assert_true(s.entries[0].hydrate);
	origin_store_free(&s);
	free(text);
	/* an export's entry from before roots were kept: served by name */
	text = store_of("disk id=1 created=2 url=u export=e rate=-");
	assert_int_equal(origin_store_parse(&s, text, strlen(text), NULL, 0), 0);
	assert_string_equal(s.entries[0].root, "");
	origin_store_free(&s);
	free(text);
	for (i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		text = store_of(records[i]);
		expect_damaged(text, "line 2: malformed record");
		free(text);
	}
	text = store_of("disk id=1 created=2 device=/dev/x rate=-\ndisk id=1 created=2 device=/dev/y rate=-");
	expect_damaged(text, "line 3: repeated record");
	free(text);
}

static void test_files(void **state)
{
	struct origin_store s, again;
	struct origin_txn txn;
	struct origin a = export_origin(2);
	char path[PATH_MAX], err[128];

	(void)state;
	/* No file: empty. */
	assert_int_equal(origin_store_load("tank", &s, err, sizeof(err)), 0);
	assert_int_equal(s.nr, 0);
	assert_int_equal(origin_store_load("../x", &s, err, sizeof(err)), -EINVAL);

	assert_int_equal(origin_store_begin(&txn, "tank", &s, err, sizeof(err)), 0);
	assert_int_equal(origin_store_put(&s, &a), 0);
	assert_int_equal(origin_store_commit(&txn, &s), 0);
	origin_store_end(&txn, &s);
	assert_int_equal(access(origin_store_path("tank", path, sizeof(path)), F_OK), 0);

	assert_int_equal(origin_store_load("tank", &again, err, sizeof(err)), 0);
	assert_int_equal(again.nr, 1);
	assert_memory_equal(&again.entries[0], &a, sizeof(a));
	origin_store_free(&again);
	/* Another pool's store is its own. */
	assert_int_equal(origin_store_load("other", &again, err, sizeof(err)), 0);
	assert_int_equal(again.nr, 0);

	/* The last entry gone, the file goes. */
	assert_int_equal(origin_store_begin(&txn, "tank", &s, err, sizeof(err)), 0);
	assert_true(origin_store_remove(&s, 2));
	assert_int_equal(origin_store_commit(&txn, &s), 0);
	origin_store_end(&txn, &s);
	assert_int_equal(access(path, F_OK), -1);

	/* A damaged file is refused, not read in part. */
	assert_int_equal(write_file_atomic(path, "dm-row-origins 1\ngarbage\n", 25, 0600), 0);
	assert_int_equal(origin_store_begin(&txn, "tank", &s, err, sizeof(err)), -EILSEQ);
	assert_non_null(strstr(err, "checksum"));
	origin_store_end(&txn, &s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_malformed_records),
		cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
