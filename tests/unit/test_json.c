// SPDX-License-Identifier: GPL-2.0
/*
 * The JSON writer behind every --json: exact output for nesting, commas and
 * string escaping, since scripts parse it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

struct capture {
	char *text;
	size_t len;
	FILE *f;
	struct json j;
};

static int setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->f = open_memstream(&c->text, &c->len);
	if (!c->f) {
		free(c);
		return -1;
	}
	json_init(&c->j, c->f);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct capture *c = *state;

	if (c->f)
		fclose(c->f);
	free(c->text);
	free(c);
	return 0;
}

/* What was written so far. */
static const char *output(struct capture *c)
{
	fflush(c->f);
	return c->text;
}

static void test_empty_containers(void **state)
{
	struct capture *c = *state;

	json_begin_array(&c->j, NULL);
	json_end_array(&c->j);
	json_finish(&c->j);
	assert_string_equal(output(c), "[]\n");
}

static void test_empty_object(void **state)
{
	struct capture *c = *state;

	json_begin_object(&c->j, NULL);
	json_end_object(&c->j);
	json_finish(&c->j);
	assert_string_equal(output(c), "{}\n");
}

static void test_scalars_and_commas(void **state)
{
	struct capture *c = *state;

	json_begin_object(&c->j, NULL);
	json_string(&c->j, "name", "vm1");
	json_u64(&c->j, "size", 268435456);
	json_u64(&c->j, "max", UINT64_MAX);
	json_i64(&c->j, "neg", -42);
	json_i64(&c->j, "min", INT64_MIN);
	json_bool(&c->j, "yes", true);
	json_bool(&c->j, "no", false);
	json_null(&c->j, "none");
	json_end_object(&c->j);
	json_finish(&c->j);
	assert_string_equal(output(c),
			    "{\"name\":\"vm1\",\"size\":268435456,\"max\":18446744073709551615,"
			    "\"neg\":-42,\"min\":-9223372036854775808,\"yes\":true,\"no\":false,"
			    "\"none\":null}\n");
}

/* Commas belong to each level: closing a container resumes its parent's. */
static void test_nesting(void **state)
{
	struct capture *c = *state;
	int i;

	json_begin_object(&c->j, NULL);
	json_begin_object(&c->j, "pool");
	json_string(&c->j, "uuid", "u");
	json_end_object(&c->j);
	json_begin_array(&c->j, "disks");
	for (i = 1; i <= 2; i++) {
		json_begin_object(&c->j, NULL);
		json_u64(&c->j, "id", i);
		json_begin_array(&c->j, "snapshots");
		json_u64(&c->j, NULL, i * 10);
		json_u64(&c->j, NULL, i * 10 + 1);
		json_end_array(&c->j);
		json_end_object(&c->j);
	}
	json_end_array(&c->j);
	json_begin_array(&c->j, "empty");
	json_end_array(&c->j);
	json_u64(&c->j, "after", 1);
	json_end_object(&c->j);
	json_finish(&c->j);
	assert_string_equal(output(c),
			    "{\"pool\":{\"uuid\":\"u\"},"
			    "\"disks\":[{\"id\":1,\"snapshots\":[10,11]},{\"id\":2,\"snapshots\":[20,21]}],"
			    "\"empty\":[],\"after\":1}\n");
}

static void test_array_of_arrays(void **state)
{
	struct capture *c = *state;

	json_begin_array(&c->j, NULL);
	json_begin_array(&c->j, NULL);
	json_end_array(&c->j);
	json_begin_array(&c->j, NULL);
	json_string(&c->j, NULL, "a");
	json_null(&c->j, NULL);
	json_end_array(&c->j);
	json_bool(&c->j, NULL, true);
	json_end_array(&c->j);
	json_finish(&c->j);
	assert_string_equal(output(c), "[[],[\"a\",null],true]\n");
}

static void test_string_escaping(void **state)
{
	struct capture *c = *state;

	json_begin_array(&c->j, NULL);
	json_string(&c->j, NULL, "quote \" backslash \\ slash /");
	json_string(&c->j, NULL, "tab\tnewline\nreturn\rbell\a");
	json_string(&c->j, NULL, "\x01\x1f");
	json_string(&c->j, NULL, "caf\xc3\xa9 \x7f");	/* UTF-8 and DEL pass through */
	json_string(&c->j, NULL, "");
	json_end_array(&c->j);
	json_finish(&c->j);
	assert_string_equal(output(c),
			    "[\"quote \\\" backslash \\\\ slash /\","
			    "\"tab\\tnewline\\nreturn\\u000dbell\\u0007\","
			    "\"\\u0001\\u001f\","
			    "\"caf\xc3\xa9 \x7f\","
			    "\"\"]\n");
}

static void test_keys_are_escaped(void **state)
{
	struct capture *c = *state;

	json_begin_object(&c->j, NULL);
	json_u64(&c->j, "a\"b", 1);
	json_u64(&c->j, "line\nbreak", 2);
	json_end_object(&c->j);
	json_finish(&c->j);
	assert_string_equal(output(c), "{\"a\\\"b\":1,\"line\\nbreak\":2}\n");
}

/* A field the kernel did not send (record_get() gave NULL) is null. */
static void test_null_string(void **state)
{
	struct capture *c = *state;

	json_begin_object(&c->j, NULL);
	json_string(&c->j, "uuid", NULL);
	json_string(&c->j, "mode", "rw");
	json_end_object(&c->j);
	json_finish(&c->j);
	assert_string_equal(output(c), "{\"uuid\":null,\"mode\":\"rw\"}\n");
}

/* Two documents in a row on one writer are two lines. */
static void test_reinit_for_next_document(void **state)
{
	struct capture *c = *state;

	json_begin_object(&c->j, NULL);
	json_u64(&c->j, "n", 1);
	json_end_object(&c->j);
	json_finish(&c->j);
	json_init(&c->j, c->f);
	json_begin_object(&c->j, NULL);
	json_u64(&c->j, "n", 2);
	json_end_object(&c->j);
	json_finish(&c->j);
	assert_string_equal(output(c), "{\"n\":1}\n{\"n\":2}\n");
}

/* Deep nesting up to the limit still balances. */
static void test_deep_nesting(void **state)
{
	struct capture *c = *state;
	char expect[256] = "";
	int i;

	for (i = 0; i < JSON_MAX_DEPTH - 1; i++)
		json_begin_array(&c->j, NULL);
	json_u64(&c->j, NULL, 1);
	json_u64(&c->j, NULL, 2);
	for (i = 0; i < JSON_MAX_DEPTH - 1; i++)
		json_end_array(&c->j);
	json_finish(&c->j);
	for (i = 0; i < JSON_MAX_DEPTH - 1; i++)
		strcat(expect, "[");
	strcat(expect, "1,2");
	for (i = 0; i < JSON_MAX_DEPTH - 1; i++)
		strcat(expect, "]");
	strcat(expect, "\n");
	assert_string_equal(output(c), expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_containers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scalars_and_commas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nesting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_array_of_arrays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_string_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_are_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_string, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reinit_for_next_document, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
