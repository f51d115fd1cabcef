// SPDX-License-Identifier: GPL-2.0
/*
 * Descriptions and tags (tags.c) and their place in export manifests
 * (repo.c): what keys, values and descriptions are accepted, at their
 * limits; tag sets and edits, which change all or nothing; filters; the
 * tag store's round trip, damage detection, lookups keyed by pool, id and
 * a disk's creation time, and pruning; manifests with and without tags.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "repo.h"
#include "tags.h"
#include "temp_dir.h"

struct env {
	char root[64];
	char url[128];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char dir[128];

	if (!e)
		return -1;
	if (temp_dir_make(e->root, sizeof(e->root), "tags")) {
		free(e);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/state", e->root);
	setenv("SNAPCTL_STATE_DIR", dir, 1);
	snprintf(e->url, sizeof(e->url), "file://%s/repo", e->root);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (temp_dir_remove(e->root))
		return -1;
	unsetenv("SNAPCTL_STATE_DIR");
	free(e);
	return 0;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/*----------------------------------------------------------------*/

static void test_keys_values_descriptions(void **state)
{
	char *s;

	assert_true(tag_key_valid("env"));
	assert_true(tag_key_valid("app.kubernetes.io/name"));
	assert_true(tag_key_valid("a:b+c-d@e_f"));
	assert_false(tag_key_valid(""));
	assert_false(tag_key_valid("a b"));
	assert_false(tag_key_valid("a=b"));
	assert_false(tag_key_valid("a,b"));
	assert_false(tag_key_valid("caf\xc3\xa9"));
	s = repeat('k', TAG_KEY_MAX);
	assert_true(tag_key_valid(s));
	free(s);
	s = repeat('k', TAG_KEY_MAX + 1);
	assert_false(tag_key_valid(s));
	free(s);

	assert_true(tag_value_valid(""));
	assert_true(tag_value_valid("web server = 2"));
	assert_false(tag_value_valid("a,b"));
	assert_false(tag_value_valid("tab\there"));
	assert_false(tag_value_valid("new\nline"));
	assert_false(tag_value_valid("50%"));
	s = repeat('v', TAG_VALUE_MAX);
	assert_true(tag_value_valid(s));
	free(s);
	s = repeat('v', TAG_VALUE_MAX + 1);
	assert_false(tag_value_valid(s));
	free(s);

	assert_true(description_valid(""));
	assert_true(description_valid("before the upgrade to 2.4, 100% tested; \"ok\" = yes"));
	assert_true(description_valid("caf\xc3\xa9 \xe6\x95\xb0\xe6\x8d\xae \xf0\x9f\x98\x80"));
	assert_false(description_valid("line\nbreak"));
	assert_false(description_valid("tab\tstop"));
	assert_false(description_valid("del\x7f"));
	assert_false(description_valid("\xc3"));			/* cut short */
	assert_false(description_valid("\xc0\xaf"));		/* overlong '/' */
	assert_false(description_valid("\xed\xa0\x80"));		/* a surrogate */
	assert_false(description_valid("\xc2\x85"));		/* C1 control NEL */
	assert_false(description_valid("\xff"));
	s = repeat('d', DESCRIPTION_MAX);
	assert_true(description_valid(s));
	free(s);
	s = repeat('d', DESCRIPTION_MAX + 1);
	assert_false(description_valid(s));
	free(s);
}

static void test_parse(void **state)
{
	char *key, *value, err[300];

	assert_int_equal(tag_parse("env=prod", false, &key, &value, err, sizeof(err)), 0);
	assert_string_equal(key, "env");
	assert_string_equal(value, "prod");
	free(key);
	free(value);
	/* The value may hold '=' and be empty. */
	assert_int_equal(tag_parse("expr=a=b", false, &key, &value, err, sizeof(err)), 0);
	assert_string_equal(key, "expr");
	assert_string_equal(value, "a=b");
	free(key);
	free(value);
	assert_int_equal(tag_parse("empty=", false, &key, &value, err, sizeof(err)), 0);
	assert_string_equal(value, "");
	free(key);
	free(value);

	assert_int_equal(tag_parse("env", false, &key, &value, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "key=value"));
	assert_null(key);
	assert_int_equal(tag_parse("=prod", false, &key, &value, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a valid tag key"));
	assert_int_equal(tag_parse("env=a,b", false, &key, &value, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "value of tag 'env'"));
	assert_null(key);
	assert_null(value);

	/* A filter: a key alone. */
	assert_int_equal(tag_parse("env", true, &key, &value, err, sizeof(err)), 0);
	assert_string_equal(key, "env");
	assert_null(value);
	free(key);
}

static void test_sets_and_filters(void **state)
{
	struct tag_set s = { 0 };
	struct tag filters[2] = { { "env", "prod" }, { "owner", NULL } };
	char key[16], buf[64];
	unsigned int i;

	assert_true(tag_set_empty(&s));
	assert_string_equal(tag_set_format(&s, buf, sizeof(buf)), "-");
	assert_int_equal(tag_set_put(&s, "owner", "ops"), 0);
	assert_int_equal(tag_set_put(&s, "env", "test"), 0);
	assert_int_equal(tag_set_put(&s, "app", "web"), 0);
	assert_int_equal(s.nr, 3);
	/* Sorted by key, whatever the order they came in. */
	assert_string_equal(s.tags[0].key, "app");
	assert_string_equal(s.tags[2].key, "owner");
	assert_false(tag_set_matches(&s, filters, 2));
	assert_int_equal(tag_set_put(&s, "env", "prod"), 0);	/* replaces */
	assert_int_equal(s.nr, 3);
	assert_true(tag_set_matches(&s, filters, 2));
	assert_true(tag_set_matches(&s, filters, 0));
	assert_string_equal(tag_set_format(&s, buf, sizeof(buf)), "app=web,env=prod,owner=ops");
	assert_true(tag_set_remove(&s, "owner"));
	assert_false(tag_set_remove(&s, "owner"));
	assert_false(tag_set_matches(&s, filters, 2));
	assert_null(tag_set_get(&s, "owner"));

	for (i = s.nr; i < TAGS_MAX; i++) {
		snprintf(key, sizeof(key), "k%02u", i);
		assert_int_equal(tag_set_put(&s, key, "v"), 0);
	}
	assert_int_equal(tag_set_put(&s, "one-more", "v"), -E2BIG);
	assert_int_equal(tag_set_put(&s, "env", "dev"), 0);	/* replacing is fine */
	assert_int_equal(s.nr, TAGS_MAX);
	tag_set_free(&s);
	assert_true(tag_set_empty(&s));
}

static void test_edits_all_or_nothing(void **state)
{
	struct tag_set s = { 0 };
	struct tag_edit e;
	char key[16], arg[32], err[300];
	unsigned int i;

	tag_edit_init(&e);
	assert_true(tag_edit_empty(&e));
	assert_int_equal(tag_edit_add_set(&e, "env=prod", err, sizeof(err)), 0);
	assert_int_equal(tag_edit_add_set(&e, "env=test", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "given twice"));
	assert_int_equal(tag_edit_add_set(&e, "bad key=1", err, sizeof(err)), -EINVAL);
	assert_int_equal(tag_edit_add_unset(&e, "no good", err, sizeof(err)), -EINVAL);
	assert_int_equal(tag_edit_describe(&e, "two\nlines", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "description"));
	assert_int_equal(tag_edit_describe(&e, "the web server", err, sizeof(err)), 0);
	assert_int_equal(e.nr_set, 1);
	assert_int_equal(tag_edit_apply(&e, &s, err, sizeof(err)), 0);
	assert_string_equal(tag_set_get(&s, "env"), "prod");
	assert_string_equal(s.description, "the web server");
	tag_edit_free(&e);

	/* Fill the set, then ask for one more: refused, and nothing changes. */
	for (i = 1; i < TAGS_MAX; i++) {
		snprintf(key, sizeof(key), "k%02u", i);
		assert_int_equal(tag_set_put(&s, key, "v"), 0);
	}
	tag_edit_init(&e);
	assert_int_equal(tag_edit_add_set(&e, "env=dev", err, sizeof(err)), 0);
	assert_int_equal(tag_edit_add_set(&e, "extra=1", err, sizeof(err)), 0);
	assert_int_equal(tag_edit_describe(&e, "", err, sizeof(err)), 0);
	assert_int_equal(tag_edit_apply(&e, &s, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "at most 20 tags"));
	assert_string_equal(tag_set_get(&s, "env"), "prod");
	assert_null(tag_set_get(&s, "extra"));
	assert_string_equal(s.description, "the web server");
	assert_int_equal(s.nr, TAGS_MAX);
	/* Removals come first, so making room in the same edit works. */
	assert_int_equal(tag_edit_add_unset(&e, "k01", err, sizeof(err)), 0);
	assert_int_equal(tag_edit_apply(&e, &s, err, sizeof(err)), 0);
	assert_string_equal(tag_set_get(&s, "env"), "dev");
	assert_string_equal(tag_set_get(&s, "extra"), "1");
	assert_null(tag_set_get(&s, "k01"));
	assert_null(s.description);		/* "" cleared it */
	tag_edit_free(&e);

	/* At most TAGS_MAX tags in one edit. */
	tag_edit_init(&e);
	for (i = 0; i < TAGS_MAX; i++) {
		snprintf(arg, sizeof(arg), "t%02u=x", i);
		assert_int_equal(tag_edit_add_set(&e, arg, err, sizeof(err)), 0);
	}
	assert_int_equal(tag_edit_add_set(&e, "t99=x", err, sizeof(err)), -E2BIG);
	tag_edit_free(&e);
	tag_set_free(&s);
}

/*----------------------------------------------------------------*/

static void fill_store(struct tag_store *st)
{
	struct tag_set s = { 0 };

	assert_int_equal(tag_set_describe(&s, "100% \xe6\x95\xb0\xe6\x8d\xae, with  two spaces"), 0);
	assert_int_equal(tag_set_put(&s, "env", "prod web"), 0);
	assert_int_equal(tag_set_put(&s, "empty", ""), 0);
	assert_int_equal(tag_store_put(st, TAG_DISK, "uuid-a", 7, 1700000000, &s), 0);
	assert_int_equal(tag_store_put(st, TAG_SNAPSHOT, "uuid-a", 7, 0, &s), 0);
	tag_set_free(&s);
	assert_int_equal(tag_set_put(&s, "keep", "me"), 0);
	assert_int_equal(tag_store_put(st, TAG_SNAPSHOT, "uuid-a", 9, 0, &s), 0);
	assert_int_equal(tag_store_put(st, TAG_SNAPSHOT, "uuid-b", 9, 0, &s), 0);
	tag_set_free(&s);
}

static void test_store_round_trip_and_damage(void **state)
{
	struct tag_store st = { 0 }, back;
	struct tag_entry *e;
	struct tag_set empty = { 0 };
	char *text, *copy, err[256];
	size_t len, i;

	fill_store(&st);
	assert_int_equal(st.nr, 4);
	assert_int_equal(tag_store_format(&st, &text, &len), 0);
	/* Spaces and '%' are encoded: one record per line, fields split on blanks. */
	assert_non_null(strstr(text, "tag.env=prod%20web"));
	assert_non_null(strstr(text, "description=100%25%20"));
	assert_int_equal(tag_store_parse(&back, text, len, err, sizeof(err)), 0);
	assert_int_equal(back.nr, 4);
	e = tag_store_find(&back, TAG_DISK, "uuid-a", 7, 1700000000);
	assert_non_null(e);
	assert_string_equal(e->set.description, "100% \xe6\x95\xb0\xe6\x8d\xae, with  two spaces");
	assert_string_equal(tag_set_get(&e->set, "env"), "prod web");
	assert_string_equal(tag_set_get(&e->set, "empty"), "");
	/* A disk id used again later is another disk. */
	assert_null(tag_store_find(&back, TAG_DISK, "uuid-a", 7, 1700000001));
	assert_non_null(tag_store_find_id(&back, TAG_DISK, "uuid-a", 7));
	assert_null(tag_store_find(&back, TAG_SNAPSHOT, "uuid-c", 9, 0));
	tag_store_free(&back);

	/* Every single changed byte is caught. */
	copy = malloc(len);
	assert_non_null(copy);
	for (i = 0; i < len; i++) {
		memcpy(copy, text, len);
		copy[i] ^= 0x01;
		assert_int_equal(tag_store_parse(&back, copy, len, err, sizeof(err)), -EILSEQ);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(tag_store_parse(&back, text, len / 2, err, sizeof(err)), -EILSEQ);
	assert_int_equal(tag_store_parse(&back, "dm-row-tags 2\ncrc32c=00000000\n", 30, err,
					 sizeof(err)), -EILSEQ);
	assert_non_null(strstr(err, "newer snapctl"));
	free(copy);
	free(text);

	/* An empty set removes the entry. */
	tag_store_put(&st, TAG_SNAPSHOT, "uuid-b", 9, 0, &empty);
	assert_null(tag_store_find(&st, TAG_SNAPSHOT, "uuid-b", 9, 0));
	assert_int_equal(st.nr, 3);
	tag_store_free(&st);
}

static bool only_snapshot_9(void *arg, enum tag_object kind, uint64_t id, uint64_t created)
{
	(*(unsigned int *)arg)++;
	return kind == TAG_SNAPSHOT && id == 9;
}

static void test_store_file_and_prune(void **state)
{
	struct tag_store st = { 0 };
	struct tag_txn txn;
	unsigned int asked = 0;
	char err[256];

	/* No file: an empty store. */
	assert_int_equal(tag_store_load(&st, err, sizeof(err)), 0);
	assert_int_equal(st.nr, 0);
	assert_int_equal(tag_store_begin(&txn, &st, err, sizeof(err)), 0);
	fill_store(&st);
	assert_int_equal(tag_store_commit(&txn, &st), 0);
	tag_store_end(&txn, &st);

	assert_int_equal(tag_store_load(&st, err, sizeof(err)), 0);
	assert_int_equal(st.nr, 4);
	assert_true(tag_store_has_pool(&st, "uuid-b"));
	assert_false(tag_store_has_pool(&st, "uuid-z"));
	/* Pool a keeps only snapshot 9; pool b is not asked about. */
	assert_int_equal(tag_store_prune(&st, "uuid-a", only_snapshot_9, &asked), 2);
	assert_int_equal(asked, 3);
	assert_int_equal(st.nr, 2);
	assert_null(tag_store_find(&st, TAG_DISK, "uuid-a", 7, 1700000000));
	assert_null(tag_store_find(&st, TAG_SNAPSHOT, "uuid-a", 7, 0));
	assert_non_null(tag_store_find(&st, TAG_SNAPSHOT, "uuid-a", 9, 0));
	assert_non_null(tag_store_find(&st, TAG_SNAPSHOT, "uuid-b", 9, 0));
	tag_store_free(&st);
}

/*----------------------------------------------------------------*/

static void write_manifest(struct repo *repo, const char *name, bool with_tags)
{
	struct chunk_codec *codec = chunk_codec_new(&repo->keys, repo->chunk_size);
	struct manifest m = { 0 };

	snprintf(m.name, sizeof(m.name), "%s", name);
	strcpy(m.pool, "pool");
	strcpy(m.pool_uuid, "uuid");
	strcpy(m.disk, "web");
	m.disk_id = 1;
	strcpy(m.snapshot, "s1");
	m.snapshot_id = 3;
	m.image_bytes = 1 << 20;
	m.block_bytes = 4096;
	if (with_tags) {
		assert_int_equal(tag_set_describe(&m.tags, "before the upgrade = safe"), 0);
		assert_int_equal(tag_set_put(&m.tags, "reason", "upgrade 2.4"), 0);
		assert_int_equal(tag_set_put(&m.tags, "env", "prod"), 0);
		assert_int_equal(tag_set_describe(&m.disk_tags, "web server disk"), 0);
		assert_int_equal(tag_set_put(&m.disk_tags, "env", "staging"), 0);
	}
	assert_int_equal(manifest_write(repo, codec, &m), 0);
	manifest_free(&m);
	chunk_codec_free(codec);
}

static void test_manifest_tags(void **state)
{
	struct env *e = *state;
	struct store_buf buf = { 0 };
	struct manifest m;
	struct repo repo;
	char *end, *text;

	assert_int_equal(repo_open(&repo, e->url, NULL, 64 << 10, REPO_CREATE), 0);
	write_manifest(&repo, "tagged", true);
	write_manifest(&repo, "plain", false);

	assert_int_equal(manifest_read(&repo, "tagged", &m), 0);
	assert_string_equal(m.tags.description, "before the upgrade = safe");
	assert_int_equal(m.tags.nr, 2);
	assert_string_equal(tag_set_get(&m.tags, "reason"), "upgrade 2.4");
	assert_string_equal(tag_set_get(&m.tags, "env"), "prod");
	assert_string_equal(m.disk_tags.description, "web server disk");
	assert_string_equal(tag_set_get(&m.disk_tags, "env"), "staging");
	assert_int_equal(m.disk_tags.nr, 1);
	manifest_free(&m);
	assert_true(tag_set_empty(&m.tags));

	/* A manifest without the fields (as older versions write them). */
	assert_int_equal(manifest_read(&repo, "plain", &m), 0);
	assert_true(tag_set_empty(&m.tags));
	assert_true(tag_set_empty(&m.disk_tags));
	manifest_free(&m);

	/* A tag that is not valid, or given twice, is damage. */
	assert_int_equal(store_get(repo.store, "exports/plain.manifest", &buf), 0);
	text = calloc(1, buf.len + 64);
	assert_non_null(text);
	memcpy(text, buf.data, buf.len);
	end = strstr(text, "end\n");
	assert_non_null(end);
	strcpy(end, "tag=bad key=1\nend\n");
	assert_int_equal(store_put(repo.store, "exports/plain.manifest", text, strlen(text)), 0);
	assert_int_equal(manifest_read(&repo, "plain", &m), -EBADMSG);
	strcpy(end, "tag=a=1\ntag=a=2\nend\n");
	assert_int_equal(store_put(repo.store, "exports/plain.manifest", text, strlen(text)), 0);
	assert_int_equal(manifest_read(&repo, "plain", &m), -EBADMSG);
	strcpy(end, "disk_tag=a=1\ntag=a=2\nend\n");
	assert_int_equal(store_put(repo.store, "exports/plain.manifest", text, strlen(text)), 0);
	assert_int_equal(manifest_read(&repo, "plain", &m), 0);
	assert_string_equal(tag_set_get(&m.disk_tags, "a"), "1");
	assert_string_equal(tag_set_get(&m.tags, "a"), "2");
	manifest_free(&m);
	free(text);
	store_buf_free(&buf);
	repo_close(&repo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_values_descriptions),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_sets_and_filters),
		cmocka_unit_test(test_edits_all_or_nothing),
		cmocka_unit_test(test_store_round_trip_and_damage),
		cmocka_unit_test_setup_teardown(test_store_file_and_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_tags, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
