// SPDX-License-Identifier: GPL-2.0
/*
 * Pool definitions (config.c): what `snapctl pool activate` reads after a
 * reboot.  Saved and loaded in a temporary SNAPCTL_CONFIG_DIR: round trip,
 * atomic replacement (a reader of the old file never sees a mix, a stale
 * temporary file is harmless, two processes saving at once both succeed),
 * listing, removal and pool names.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "temp_dir.h"

struct env {
	char root[64];		/* the temporary directory */
	char dir[128];		/* SNAPCTL_CONFIG_DIR: not created yet */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	if (temp_dir_make(e->root, sizeof(e->root), "config")) {
		free(e);
		return -1;
	}
	/* Two levels that do not exist: config_save() creates them. */
	snprintf(e->dir, sizeof(e->dir), "%s/etc/pools", e->root);
	setenv("SNAPCTL_CONFIG_DIR", e->dir, 1);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (temp_dir_remove(e->root))
		return -1;
	unsetenv("SNAPCTL_CONFIG_DIR");
	free(e);
	return 0;
}

static struct pool_config_file make_cfg(const char *name, const char *meta, const char *data)
{
	struct pool_config_file cfg = { .block_sectors = 8, .low_water = 100 };

	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	snprintf(cfg.metadata, sizeof(cfg.metadata), "%s", meta);
	snprintf(cfg.data, sizeof(cfg.data), "%s", data);
	snprintf(cfg.uuid, sizeof(cfg.uuid), "68fbf0a3-9a0b-d418-5eb2-a4377b0447af");
	return cfg;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_dir_from_environment(void **state)
{
	struct env *e = *state;

	assert_string_equal(config_dir(), e->dir);
	setenv("SNAPCTL_CONFIG_DIR", "", 1);
	assert_string_equal(config_dir(), "/etc/dm-row/pools");
	unsetenv("SNAPCTL_CONFIG_DIR");
	assert_string_equal(config_dir(), "/etc/dm-row/pools");
	setenv("SNAPCTL_CONFIG_DIR", e->dir, 1);
}

static void test_round_trip(void **state)
{
	struct pool_config_file saved = make_cfg("tank", "/dev/vda", "/dev/disk/by-id/virtio-dmrow1");
	struct pool_config_file loaded;
	char path[256];
	struct stat st;

	(void)state;
	saved.block_sectors = 2048;
	saved.low_water = 18446744073709551615ULL;
	assert_int_equal(config_save(&saved), 0);
	snprintf(path, sizeof(path), "%s/tank.conf", config_dir());
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	memset(&loaded, 0xa5, sizeof(loaded));
	assert_int_equal(config_load("tank", &loaded), 0);
	assert_string_equal(loaded.name, "tank");
	assert_string_equal(loaded.metadata, "/dev/vda");
	assert_string_equal(loaded.data, "/dev/disk/by-id/virtio-dmrow1");
	assert_int_equal(loaded.block_sectors, 2048);
	assert_int_equal(loaded.low_water, 18446744073709551615ULL);
	assert_string_equal(loaded.uuid, "68fbf0a3-9a0b-d418-5eb2-a4377b0447af");
}

static void test_load_missing_and_bad(void **state)
{
	struct pool_config_file cfg;
	char path[256];

	(void)state;
	assert_int_equal(config_load("nothere", &cfg), -ENOENT);
	assert_int_equal(config_load("../etc/passwd", &cfg), -EINVAL);
	assert_int_equal(config_load("", &cfg), -EINVAL);

	/* A definition without its data device is damaged, not empty. */
	assert_int_equal(config_save(	/* (creates the directory) */&(struct pool_config_file){ .name = "x", .metadata = "/dev/a",
								.data = "/dev/b", .block_sectors = 8 }), 0);
	snprintf(path, sizeof(path), "%s/half.conf", config_dir());
	write_file(path, "# hand-edited\nmetadata=/dev/vda\nblock_sectors=8\n");
	assert_int_equal(config_load("half", &cfg), -EILSEQ);

	/* Comments, unknown keys, lines without '=' and no final newline are fine. */
	snprintf(path, sizeof(path), "%s/edited.conf", config_dir());
	write_file(path, "# comment=ignored\nfuture_key=1\njunk\nmetadata=/dev/vda\n"
			 "data=/dev/vdb\nblock_sectors=128");
	assert_int_equal(config_load("edited", &cfg), 0);
	assert_string_equal(cfg.metadata, "/dev/vda");
	assert_string_equal(cfg.data, "/dev/vdb");
	assert_int_equal(cfg.block_sectors, 128);
	assert_int_equal(cfg.low_water, 0);
	assert_string_equal(cfg.uuid, "");
}

static unsigned int temporary_files(const char *dir)
{
	struct dirent *d;
	unsigned int found = 0;
	DIR *dh = opendir(dir);

	assert_non_null(dh);
	while ((d = readdir(dh)))
		if (strstr(d->d_name, ".tmp"))
			found++;
	closedir(dh);
	return found;
}

/*
 * Saving over a definition replaces the file whole (rename): a reader that
 * opened the old one reads the old one to its end, a new reader the new one,
 * and no temporary file is left.
 */
static void test_atomic_replacement(void **state)
{
	struct pool_config_file a = make_cfg("tank", "/dev/vda", "/dev/vdb");
	struct pool_config_file b = make_cfg("tank", "/dev/sdx", "/dev/sdy");
	struct pool_config_file loaded;
	char path[256], old_text[512];
	struct stat before, after;
	size_t n;
	FILE *reader;

	(void)state;
	assert_int_equal(config_save(&a), 0);
	snprintf(path, sizeof(path), "%s/tank.conf", config_dir());
	assert_int_equal(stat(path, &before), 0);
	reader = fopen(path, "r");
	assert_non_null(reader);

	b.block_sectors = 16;
	assert_int_equal(config_save(&b), 0);
	assert_int_equal(stat(path, &after), 0);
	assert_int_not_equal(before.st_ino, after.st_ino);	/* a new file, renamed over */

	n = fread(old_text, 1, sizeof(old_text) - 1, reader);
	old_text[n] = '\0';
	fclose(reader);
	assert_non_null(strstr(old_text, "metadata=/dev/vda\n"));
	assert_non_null(strstr(old_text, "data=/dev/vdb\n"));
	assert_null(strstr(old_text, "/dev/sd"));

	assert_int_equal(config_load("tank", &loaded), 0);
	assert_string_equal(loaded.metadata, "/dev/sdx");
	assert_string_equal(loaded.data, "/dev/sdy");
	assert_int_equal(loaded.block_sectors, 16);
	assert_int_equal(temporary_files(config_dir()), 0);
}

/* A crash between writing the temporary file and renaming it leaves the old definition. */
static void test_stale_temporary_file(void **state)
{
	struct pool_config_file a = make_cfg("tank", "/dev/vda", "/dev/vdb");
	struct pool_config_file loaded;
	char path[256];

	(void)state;
	assert_int_equal(config_save(&a), 0);
	/* Left by a process that died (pid 1 is never ours). */
	snprintf(path, sizeof(path), "%s/tank.conf.tmp.1", config_dir());
	write_file(path, "metadata=/dev/half-writ");	/* torn */
	assert_int_equal(config_load("tank", &loaded), 0);
	assert_string_equal(loaded.metadata, "/dev/vda");

	/* The next save writes a temporary file of its own and leaves only the stale one. */
	a.low_water = 7;
	assert_int_equal(config_save(&a), 0);
	assert_int_equal(temporary_files(config_dir()), 1);
	assert_int_equal(config_load("tank", &loaded), 0);
	assert_string_equal(loaded.metadata, "/dev/vda");
	assert_int_equal(loaded.low_water, 7);
}

/*
 * Two processes saving the same pool at once: each writes its own
 * temporary file, so every save succeeds and the definition left is one
 * of the two, whole.
 */
static void test_concurrent_saves(void **state)
{
	static const char *const meta[] = { "/dev/vda", "/dev/sdx" };
	static const char *const data[] = { "/dev/vdb", "/dev/sdy" };
	struct pool_config_file loaded;
	pid_t pids[2];
	unsigned int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (!pids[i]) {
			struct pool_config_file cfg = make_cfg("tank", meta[i], data[i]);
			int n, failed = 0;

			for (n = 0; n < 50; n++)
				failed |= config_save(&cfg) != 0;
			_exit(failed);
		}
	}
	for (i = 0; i < 2; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(config_load("tank", &loaded), 0);
	i = !strcmp(loaded.metadata, meta[1]);
	assert_string_equal(loaded.metadata, meta[i]);
	assert_string_equal(loaded.data, data[i]);
	assert_int_equal(temporary_files(config_dir()), 0);
}

struct seen {
	char names[8][POOL_NAME_MAX];
	unsigned int nr;
	unsigned int stop_after;
};

static int collect(void *context, const struct pool_config_file *cfg)
{
	struct seen *s = context;

	if (s->nr < 8)
		snprintf(s->names[s->nr], POOL_NAME_MAX, "%s", cfg->name);
	s->nr++;
	return s->stop_after && s->nr == s->stop_after ? 42 : 0;
}

static void test_for_each_and_remove(void **state)
{
	static const char *const names[] = { "zeta", "alpha", "mid.pool", "a-b_c" };
	struct seen seen = { 0 };
	struct pool_config_file loaded;
	char path[256];
	unsigned int i;

	(void)state;
	/* No directory yet: no pools, no error. */
	assert_int_equal(config_for_each(collect, &seen), 0);
	assert_int_equal(seen.nr, 0);

	for (i = 0; i < 4; i++) {
		struct pool_config_file cfg = make_cfg(names[i], "/dev/m", "/dev/d");

		assert_int_equal(config_save(&cfg), 0);
	}
	/* Neither a leftover nor a damaged definition nor another file is a pool. */
	snprintf(path, sizeof(path), "%s/beta.conf.tmp", config_dir());
	write_file(path, "metadata=/dev/m\ndata=/dev/d\nblock_sectors=8\n");
	snprintf(path, sizeof(path), "%s/broken.conf", config_dir());
	write_file(path, "metadata=/dev/m\n");
	snprintf(path, sizeof(path), "%s/README", config_dir());
	write_file(path, "hello\n");
	snprintf(path, sizeof(path), "%s/.conf", config_dir());
	write_file(path, "metadata=/dev/m\ndata=/dev/d\nblock_sectors=8\n");

	assert_int_equal(config_for_each(collect, &seen), 0);
	assert_int_equal(seen.nr, 4);
	assert_string_equal(seen.names[0], "a-b_c");	/* in name order */
	assert_string_equal(seen.names[1], "alpha");
	assert_string_equal(seen.names[2], "mid.pool");
	assert_string_equal(seen.names[3], "zeta");

	/* A callback's nonzero return stops the walk and is returned. */
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 2;
	assert_int_equal(config_for_each(collect, &seen), 42);
	assert_int_equal(seen.nr, 2);

	assert_int_equal(config_remove("alpha"), 0);
	assert_int_equal(config_load("alpha", &loaded), -ENOENT);
	assert_int_equal(config_remove("alpha"), -ENOENT);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(config_for_each(collect, &seen), 0);
	assert_int_equal(seen.nr, 3);
}

static void test_name_valid(void **state)
{
	static const char *const good[] = {
		"tank", "a", "Tank_01", "pool.backup", "vm-pool", "a..b", "0pool", "x-",
	};
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "-opt", "a/b", "../x", "a b", "tab\t", "new\nline",
		"é", "a:b", "a@b", "a*", "semi;colon",
	};
	char longest[POOL_NAME_MAX], too_long[POOL_NAME_MAX + 1];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!config_name_valid(good[i]))
			fail_msg("'%s' refused", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_name_valid(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
	memset(longest, 'p', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	assert_true(config_name_valid(longest));		/* 63 bytes */
	memset(too_long, 'p', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_false(config_name_valid(too_long));		/* 64 bytes */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dir_from_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_missing_and_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_replacement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_temporary_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_saves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_for_each_and_remove, setup, teardown),
		cmocka_unit_test(test_name_valid),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
