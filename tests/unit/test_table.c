// SPDX-License-Identifier: GPL-2.0
/*
 * Human tables: columns as wide as their widest cell, two spaces between
 * columns, numeric columns (header ending in '>') right-aligned, no
 * trailing blanks; and human_bytes() sizes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "table.h"

/* Print @t into a string (caller frees). */
static char *print_table(struct table *t)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	table_print(t, f);
	fclose(f);
	return text;
}

static void test_alignment(void **state)
{
	static const char *const headers[] = { "ID>", "NAME", "SIZE>", "STATE" };
	struct table t;
	char *out;

	(void)state;
	table_init(&t, 4, headers);
	assert_true(t.right[0]);
	assert_false(t.right[1]);
	assert_true(t.right[2]);
	assert_false(t.right[3]);
	table_add_row(&t, "%d\t%s\t%s\t%s", 1, "vm1", "256.0 MiB", "live");
	table_add_row(&t, "%d\t%s\t%s\t%s", 12, "database", "8.0 GiB", "in use");
	out = print_table(&t);
	assert_string_equal(out,
			    "ID  NAME           SIZE  STATE\n"
			    " 1  vm1       256.0 MiB  live\n"
			    "12  database    8.0 GiB  in use\n");
	free(out);
	table_free(&t);
	assert_int_equal(t.nr_rows, 0);
	assert_null(t.cells);
}

/* A header wider than every cell sets the width; a right-aligned last column is padded. */
static void test_header_sets_width(void **state)
{
	static const char *const headers[] = { "NAME", "SNAPSHOTS>" };
	struct table t;
	char *out;

	(void)state;
	table_init(&t, 2, headers);
	table_add_row(&t, "a\t3");
	table_add_row(&t, "bb\t12");
	out = print_table(&t);
	assert_string_equal(out,
			    "NAME  SNAPSHOTS\n"
			    "a             3\n"
			    "bb           12\n");
	free(out);
	table_free(&t);
}

static void test_no_trailing_blanks(void **state)
{
	static const char *const headers[] = { "ID>", "NAME", "DEVICE" };
	struct table t;
	char *out, *line, *cursor;

	(void)state;
	table_init(&t, 3, headers);
	table_add_row(&t, "1\tx\t/dev/mapper/tank-a-long-name");
	table_add_row(&t, "2\tlonger name\t-");
	out = print_table(&t);
	for (cursor = out; (line = strsep(&cursor, "\n"));) {
		size_t len = strlen(line);

		if (len && line[len - 1] == ' ')
			fail_msg("trailing blank in '%s'", line);
	}
	free(out);
	table_free(&t);
}

static void test_empty_table_prints_headers(void **state)
{
	static const char *const headers[] = { "ID>", "NAME", "DELTA>" };
	struct table t;
	char *out;

	(void)state;
	table_init(&t, 3, headers);
	out = print_table(&t);
	assert_string_equal(out, "ID  NAME  DELTA\n");
	free(out);
	table_free(&t);
}

/* Missing cells are empty; extra ones are dropped; many rows grow the table. */
static void test_ragged_rows_and_growth(void **state)
{
	static const char *const headers[] = { "A", "B>" };
	struct table t;
	char *out;
	int i;

	(void)state;
	table_init(&t, 2, headers);
	table_add_row(&t, "only");
	table_add_row(&t, "x\t1\textra");
	out = print_table(&t);
	assert_string_equal(out,
			    "A     B\n"
			    "only   \n"
			    "x     1\n");
	free(out);
	table_free(&t);

	table_init(&t, 2, headers);
	for (i = 0; i < 1000; i++)
		assert_int_equal(table_add_row(&t, "r%d\t%d", i, i), 0);
	assert_int_equal(t.nr_rows, 1000);
	assert_string_equal(t.cells[999 * 2], "r999");
	assert_string_equal(t.cells[999 * 2 + 1], "999");
	table_free(&t);
}

static void test_human_bytes(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(human_bytes(0, buf, sizeof(buf)), "0 B");
	assert_string_equal(human_bytes(1023, buf, sizeof(buf)), "1023 B");
	assert_string_equal(human_bytes(1024, buf, sizeof(buf)), "1.0 KiB");
	assert_string_equal(human_bytes(1536, buf, sizeof(buf)), "1.5 KiB");
	assert_string_equal(human_bytes(16ULL << 20, buf, sizeof(buf)), "16.0 MiB");
	assert_string_equal(human_bytes(256ULL << 20, buf, sizeof(buf)), "256.0 MiB");
	assert_string_equal(human_bytes(10ULL << 30, buf, sizeof(buf)), "10.0 GiB");
	assert_string_equal(human_bytes(3ULL << 40, buf, sizeof(buf)), "3.0 TiB");
	assert_string_equal(human_bytes(5ULL << 50, buf, sizeof(buf)), "5.0 PiB");
	/* No unit beyond PiB. */
	assert_string_equal(human_bytes(4096ULL << 50, buf, sizeof(buf)), "4096.0 PiB");
	/* The buffer is returned, truncated to its size. */
	assert_ptr_equal(human_bytes(1, buf, 2), buf);
	assert_string_equal(buf, "1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_header_sets_width),
		cmocka_unit_test(test_no_trailing_blanks),
		cmocka_unit_test(test_empty_table_prints_headers),
		cmocka_unit_test(test_ragged_rows_and_growth),
		cmocka_unit_test(test_human_bytes),
	};

	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
