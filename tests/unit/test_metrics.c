// SPDX-License-Identifier: GPL-2.0
/*
 * 'snapctl metrics' (metrics.c, exportlog.c): the names of every metric
 * against Prometheus' rules and conventions, the escaping of label values
 * and help texts, a whole rendered exposition of a pool with its disks,
 * policies and exports compared byte for byte, and the export log's round
 * trip, its updates and its refusal of a damaged file; every metric is
 * documented in 'snapctl metrics --help' and snapctl(8).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "exportlog.h"
#include "metrics.h"
#include "statefile.h"
#include "temp_dir.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

static void test_names(void **state)
{
	unsigned int i, k;

	(void)state;
	assert_true(metrics_name_valid("dmrow_pool_active"));
	assert_true(metrics_name_valid("a:b_c9"));
	assert_true(metrics_name_valid("_x"));
	assert_false(metrics_name_valid(""));
	assert_false(metrics_name_valid("9lives"));
	assert_false(metrics_name_valid("a-b"));
	assert_false(metrics_name_valid("a b"));
	assert_false(metrics_name_valid("dmrow.pool"));
	assert_true(metrics_label_name_valid("pool"));
	assert_true(metrics_label_name_valid("_disk2"));
	assert_false(metrics_label_name_valid("__name__"));
	assert_false(metrics_label_name_valid("a:b"));
	assert_false(metrics_label_name_valid("2x"));

	for (i = 0; i < NR_METRICS; i++) {
		const struct metric_desc *d = metric_desc(i);

		assert_non_null(d);
		assert_non_null(d->name);
		if (!metrics_name_valid(d->name) || strncmp(d->name, "dmrow_", 6) ||
		    strchr(d->name, ':'))
			fail_msg("bad metric name '%s'", d->name);
		/* Counters and only counters end in _total. */
		if ((d->type == METRIC_COUNTER) != ends_with(d->name, "_total"))
			fail_msg("'%s': a counter's name, and only its, ends in _total", d->name);
		/* Times are seconds since the epoch, *_timestamp_seconds. */
		if (strstr(d->name, "time") && !ends_with(d->name, "_timestamp_seconds"))
			fail_msg("'%s': a time is *_timestamp_seconds", d->name);
		if (strstr(d->name, "byte") && !ends_with(d->name, "_bytes"))
			fail_msg("'%s': space is in *_bytes", d->name);
		assert_true(d->help && *d->help && !strchr(d->help, '\n'));
		for (k = 0; k < i; k++)
			if (!strcmp(metric_desc(k)->name, d->name))
				fail_msg("'%s' is listed twice", d->name);
	}
	assert_null(metric_desc(NR_METRICS));
}

static void expect_escape(const char *in, bool help, const char *want)
{
	char buf[64];
	size_t n = metrics_escape(in, help, buf, sizeof(buf));

	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static void test_escape(void **state)
{
	char small[6];

	(void)state;
	expect_escape("vm1", false, "vm1");
	expect_escape("", false, "");
	expect_escape("a\"b", false, "a\\\"b");
	expect_escape("a\\b", false, "a\\\\b");
	expect_escape("a\nb", false, "a\\nb");
	expect_escape("\\\"\n", false, "\\\\\\\"\\n");
	expect_escape("tab\there", false, "tab\there");
	expect_escape("ünï", false, "ünï");
	/* In HELP, a double quote is left alone. */
	expect_escape("say \"x\"\\\n", true, "say \"x\"\\\\\\n");
	/* Cut short, NUL-terminated; the length is what it needs. */
	assert_int_equal(metrics_escape("a\"bcdef", false, small, sizeof(small)), 8);
	assert_string_equal(small, "a\\\"bc");
	assert_int_equal(metrics_escape("abc\"", false, small, 5), 5);
	assert_string_equal(small, "abc");
	assert_int_equal(metrics_escape("abc", false, NULL, 0), 3);
}

static char *render(struct metrics *m)
{
	size_t len;
	char *text;

	assert_int_equal(metrics_render(m, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static void test_labels(void **state)
{
	struct metrics m;
	char *text, *long_value;

	(void)state;
	metrics_init(&m);
	text = render(&m);
	assert_string_equal(text, "");
	free(text);

	metrics_add(&m, M_DISK_SIZE, NULL, 0);
	metrics_add(&m, M_DISK_SIZE, (const char *[]){ "pool", "p", NULL }, UINT64_MAX);
	metrics_add(&m, M_DISK_SIZE, (const char *[]){ "pool", "p\"q", "disk", "a\\b\nc", NULL }, 1);
	metrics_add(&m, M_DISK_SIZE, (const char *[]){ "pool", NULL, NULL }, 2);
	metrics_add(&m, NR_METRICS, (const char *[]){ "pool", "ignored", NULL }, 3);
	text = render(&m);
	assert_string_equal(text,
		"# HELP dmrow_disk_size_bytes Size of the disk.\n"
		"# TYPE dmrow_disk_size_bytes gauge\n"
		"dmrow_disk_size_bytes 0\n"
		"dmrow_disk_size_bytes{pool=\"p\"} 18446744073709551615\n"
		"dmrow_disk_size_bytes{pool=\"p\\\"q\",disk=\"a\\\\b\\nc\"} 1\n"
		"dmrow_disk_size_bytes{pool=\"\"} 2\n");
	free(text);
	metrics_free(&m);

	/* A label value longer than any buffer on the way. */
	long_value = malloc(5001);
	assert_non_null(long_value);
	memset(long_value, '"', 5000);
	long_value[5000] = '\0';
	metrics_init(&m);
	metrics_add(&m, M_POOL_ACTIVE, (const char *[]){ "pool", long_value, NULL }, 1);
	text = render(&m);
	assert_int_equal(strlen(text), strlen("# HELP dmrow_pool_active ") +
			 strlen(metric_desc(M_POOL_ACTIVE)->help) + 1 +
			 strlen("# TYPE dmrow_pool_active gauge\n") +
			 strlen("dmrow_pool_active{pool=\"\"} 1\n") + 10000);
	free(text);
	metrics_free(&m);
	free(long_value);
}

/* A pool with two disks, a policy and an export, as snapctl metrics prints it. */
static void test_rendered_sample(void **state)
{
	const struct metrics_pool tank = {
		.name = "tank", .active = true, .mode = "out_of_data_space", .have_space = true,
		.data_bytes = 1 << 30, .data_used_bytes = 3 << 20,
		.metadata_bytes = 64 << 20, .metadata_used_bytes = 40960,
	};
	const struct metrics_pool idle = { .name = "idle" };
	const struct metrics_pool failed = { .name = "bad", .active = true, .mode = "fail" };
	const struct metrics_disk vm1 = {
		.pool = "tank", .name = "vm1", .size_bytes = 64 << 20, .mapped_bytes = 2 << 20,
		.live_delta_bytes = 4096, .chain_bytes = 3 << 20, .exclusive_bytes = 8192,
		.manual_snapshots = 2, .auto_snapshots = 1,
	};
	const struct metrics_disk vm2 = {
		.pool = "tank", .name = "vm \"2\"", .size_bytes = 16 << 20,
	};
	const struct metrics_policy pol = {
		.pool = "tank", .disk = "vm1", .policy = "nightly", .last_run = 1772503200,
		.last_success = 1772416800, .failures = 3,
	};
	const struct metrics_export exp = {
		.pool = "tank", .disk = "vm1", .last = 1772503300, .last_ok = false,
		.last_success = 1772416900, .failures = 1,
	};
	struct metrics m;
	char *text;

	(void)state;
	metrics_init(&m);
	/* In the order collected: pool, its disks, the next pool. */
	metrics_add_pool(&m, &tank);
	metrics_add_disk(&m, &vm1);
	metrics_add_policy(&m, &pol);
	metrics_add_export(&m, &exp);
	metrics_add_disk(&m, &vm2);
	metrics_add_pool(&m, &idle);
	metrics_add_pool(&m, &failed);
	text = render(&m);
	assert_string_equal(text,
"# HELP dmrow_pool_active 1 if the pool's device is active and answers, 0 if the pool is defined but not active or does not answer.\n"
"# TYPE dmrow_pool_active gauge\n"
"dmrow_pool_active{pool=\"tank\"} 1\n"
"dmrow_pool_active{pool=\"idle\"} 0\n"
"dmrow_pool_active{pool=\"bad\"} 1\n"
"# HELP dmrow_pool_mode The pool's mode: 1 for the current one (rw, out_of_data_space, ro, fail), 0 for the others.\n"
"# TYPE dmrow_pool_mode gauge\n"
"dmrow_pool_mode{pool=\"tank\",mode=\"rw\"} 0\n"
"dmrow_pool_mode{pool=\"tank\",mode=\"out_of_data_space\"} 1\n"
"dmrow_pool_mode{pool=\"tank\",mode=\"ro\"} 0\n"
"dmrow_pool_mode{pool=\"tank\",mode=\"fail\"} 0\n"
"dmrow_pool_mode{pool=\"bad\",mode=\"rw\"} 0\n"
"dmrow_pool_mode{pool=\"bad\",mode=\"out_of_data_space\"} 0\n"
"dmrow_pool_mode{pool=\"bad\",mode=\"ro\"} 0\n"
"dmrow_pool_mode{pool=\"bad\",mode=\"fail\"} 1\n"
"# HELP dmrow_pool_needs_check 1 if the pool's metadata needs 'snapctl check'.\n"
"# TYPE dmrow_pool_needs_check gauge\n"
"dmrow_pool_needs_check{pool=\"tank\"} 0\n"
"# HELP dmrow_pool_data_size_bytes Size of the pool's data space.\n"
"# TYPE dmrow_pool_data_size_bytes gauge\n"
"dmrow_pool_data_size_bytes{pool=\"tank\"} 1073741824\n"
"# HELP dmrow_pool_data_used_bytes Data space in use: the blocks of every disk and snapshot.\n"
"# TYPE dmrow_pool_data_used_bytes gauge\n"
"dmrow_pool_data_used_bytes{pool=\"tank\"} 3145728\n"
"# HELP dmrow_pool_data_free_bytes Data space free.\n"
"# TYPE dmrow_pool_data_free_bytes gauge\n"
"dmrow_pool_data_free_bytes{pool=\"tank\"} 1070596096\n"
"# HELP dmrow_pool_metadata_size_bytes Size of the pool's metadata device.\n"
"# TYPE dmrow_pool_metadata_size_bytes gauge\n"
"dmrow_pool_metadata_size_bytes{pool=\"tank\"} 67108864\n"
"# HELP dmrow_pool_metadata_used_bytes Metadata space in use.\n"
"# TYPE dmrow_pool_metadata_used_bytes gauge\n"
"dmrow_pool_metadata_used_bytes{pool=\"tank\"} 40960\n"
"# HELP dmrow_disk_size_bytes Size of the disk.\n"
"# TYPE dmrow_disk_size_bytes gauge\n"
"dmrow_disk_size_bytes{pool=\"tank\",disk=\"vm1\"} 67108864\n"
"dmrow_disk_size_bytes{pool=\"tank\",disk=\"vm \\\"2\\\"\"} 16777216\n"
"# HELP dmrow_disk_mapped_bytes Space the disk's live data maps (written and not discarded); 0 for a removed disk.\n"
"# TYPE dmrow_disk_mapped_bytes gauge\n"
"dmrow_disk_mapped_bytes{pool=\"tank\",disk=\"vm1\"} 2097152\n"
"dmrow_disk_mapped_bytes{pool=\"tank\",disk=\"vm \\\"2\\\"\"} 0\n"
"# HELP dmrow_disk_since_snapshot_bytes Space the disk's live data maps differently from its newest snapshot (all of it without one).\n"
"# TYPE dmrow_disk_since_snapshot_bytes gauge\n"
"dmrow_disk_since_snapshot_bytes{pool=\"tank\",disk=\"vm1\"} 4096\n"
"dmrow_disk_since_snapshot_bytes{pool=\"tank\",disk=\"vm \\\"2\\\"\"} 0\n"
"# HELP dmrow_disk_chain_bytes Space the disk's snapshots hold: the sum of their deltas.\n"
"# TYPE dmrow_disk_chain_bytes gauge\n"
"dmrow_disk_chain_bytes{pool=\"tank\",disk=\"vm1\"} 3145728\n"
"dmrow_disk_chain_bytes{pool=\"tank\",disk=\"vm \\\"2\\\"\"} 0\n"
"# HELP dmrow_disk_snapshot_exclusive_bytes Sum of the exclusive space of the disk's snapshots: what deleting each alone would free.\n"
"# TYPE dmrow_disk_snapshot_exclusive_bytes gauge\n"
"dmrow_disk_snapshot_exclusive_bytes{pool=\"tank\",disk=\"vm1\"} 8192\n"
"dmrow_disk_snapshot_exclusive_bytes{pool=\"tank\",disk=\"vm \\\"2\\\"\"} 0\n"
"# HELP dmrow_disk_snapshots Snapshots of the disk, by kind (manual, auto).\n"
"# TYPE dmrow_disk_snapshots gauge\n"
"dmrow_disk_snapshots{pool=\"tank\",disk=\"vm1\",kind=\"manual\"} 2\n"
"dmrow_disk_snapshots{pool=\"tank\",disk=\"vm1\",kind=\"auto\"} 1\n"
"dmrow_disk_snapshots{pool=\"tank\",disk=\"vm \\\"2\\\"\",kind=\"manual\"} 0\n"
"dmrow_disk_snapshots{pool=\"tank\",disk=\"vm \\\"2\\\"\",kind=\"auto\"} 0\n"
"# HELP dmrow_policy_last_run_timestamp_seconds When the scheduler last took, or failed to take, an automatic snapshot of the disk; 0: never.\n"
"# TYPE dmrow_policy_last_run_timestamp_seconds gauge\n"
"dmrow_policy_last_run_timestamp_seconds{pool=\"tank\",disk=\"vm1\",policy=\"nightly\"} 1772503200\n"
"# HELP dmrow_policy_last_success_timestamp_seconds When the scheduler last took an automatic snapshot of the disk; 0: never.\n"
"# TYPE dmrow_policy_last_success_timestamp_seconds gauge\n"
"dmrow_policy_last_success_timestamp_seconds{pool=\"tank\",disk=\"vm1\",policy=\"nightly\"} 1772416800\n"
"# HELP dmrow_policy_failures_total Automatic snapshots of the disk the scheduler failed to take.\n"
"# TYPE dmrow_policy_failures_total counter\n"
"dmrow_policy_failures_total{pool=\"tank\",disk=\"vm1\",policy=\"nightly\"} 3\n"
"# HELP dmrow_export_last_timestamp_seconds When the last export of a snapshot of the disk ended, complete or failed.\n"
"# TYPE dmrow_export_last_timestamp_seconds gauge\n"
"dmrow_export_last_timestamp_seconds{pool=\"tank\",disk=\"vm1\"} 1772503300\n"
"# HELP dmrow_export_last_succeeded 1 if the last export of a snapshot of the disk completed, 0 if it failed.\n"
"# TYPE dmrow_export_last_succeeded gauge\n"
"dmrow_export_last_succeeded{pool=\"tank\",disk=\"vm1\"} 0\n"
"# HELP dmrow_export_last_success_timestamp_seconds Creation time of the disk's last complete export (its manifest's 'created'); 0: none.\n"
"# TYPE dmrow_export_last_success_timestamp_seconds gauge\n"
"dmrow_export_last_success_timestamp_seconds{pool=\"tank\",disk=\"vm1\"} 1772416900\n"
"# HELP dmrow_export_failures_total Exports of snapshots of the disk that failed.\n"
"# TYPE dmrow_export_failures_total counter\n"
"dmrow_export_failures_total{pool=\"tank\",disk=\"vm1\"} 1\n");
	free(text);
	metrics_free(&m);
}

/* Every metric is in 'snapctl metrics --help' and in snapctl(8). */
static void test_documented(void **state)
{
	char self[PATH_MAX], path[PATH_MAX + 64], *slash, *help = NULL, *man = NULL;
	size_t help_len = 0, man_len;
	unsigned int i;
	ssize_t n;
	FILE *f;

	(void)state;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	slash = strrchr(self, '/');
	assert_non_null(slash);
	*slash = '\0';
	/* build/tests/<this> -> build/snapctl, Documentation/snapctl.8 */
	snprintf(path, sizeof(path), "%s/../snapctl metrics --help", self);
	f = popen(path, "r");
	assert_non_null(f);
	{
		FILE *mem = open_memstream(&help, &help_len);
		char buf[4096];
		size_t k;

		assert_non_null(mem);
		while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, k, mem);
		fclose(mem);
	}
	assert_int_equal(pclose(f), 0);
	snprintf(path, sizeof(path), "%s/../../Documentation/snapctl.8", self);
	assert_int_equal(read_file(path, 1 << 20, &man, &man_len), 0);
	for (i = 0; i < NR_METRICS; i++) {
		const char *name = metric_desc(i)->name;

		if (!strstr(help, name))
			fail_msg("'snapctl metrics --help' does not list %s", name);
		if (!strstr(man, name))
			fail_msg("Documentation/snapctl.8 does not describe %s", name);
	}
	free(help);
	free(man);
}

/*----------------------------------------------------------------
 * The export log
 *--------------------------------------------------------------*/

struct env {
	char root[64];
	char path[160];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char dir[128];

	if (!e)
		return -1;
	if (temp_dir_make(e->root, sizeof(e->root), "metrics")) {
		free(e);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/state", e->root);	/* made on the first record */
	setenv("SNAPCTL_STATE_DIR", dir, 1);
	snprintf(e->path, sizeof(e->path), "%s/exports", dir);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (temp_dir_remove(e->root))
		return -1;
	free(e);
	return 0;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_export_log(void **state)
{
	struct env *e = *state;
	const struct export_log_entry *x;
	struct export_log log;
	struct stat st;
	char buf[128];
	size_t len;
	char *text;

	assert_string_equal(export_log_path(buf, sizeof(buf)), e->path);
	/* No file: an empty log. */
	assert_int_equal(export_log_load(&log), 0);
	assert_int_equal(log.nr, 0);
	export_log_free(&log);

	assert_int_equal(export_log_record("tank", "u-1", 1, "vm1.5", 100, true, 90), 0);
	assert_int_equal(export_log_record("tank", "u-1", 2, "vm2.6", 110, false, 0), 0);
	assert_int_equal(export_log_record("tank", "u-1", 1, "vm1.7", 120, false, 0), 0);
	assert_int_equal(export_log_record("tank", "u-1", 1, "vm1.8", 130, false, 0), 0);
	/* The same disk id in a pool made again is another disk. */
	assert_int_equal(export_log_record("tank", "u-2", 1, "vm1.1", 140, true, 135), 0);
	assert_int_equal(stat(e->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	assert_int_equal(export_log_load(&log), 0);
	assert_int_equal(log.nr, 3);
	x = export_log_find(&log, "u-1", 1);
	assert_non_null(x);
	assert_string_equal(x->pool, "tank");
	assert_string_equal(x->export, "vm1.8");
	assert_int_equal(x->last, 130);
	assert_false(x->ok);
	assert_int_equal(x->last_success, 90);
	assert_int_equal(x->failures, 2);
	x = export_log_find(&log, "u-1", 2);
	assert_non_null(x);
	assert_int_equal(x->last_success, 0);
	assert_int_equal(x->failures, 1);
	x = export_log_find(&log, "u-2", 1);
	assert_non_null(x);
	assert_true(x->ok);
	assert_int_equal(x->last_success, 135);
	assert_int_equal(x->failures, 0);
	assert_null(export_log_find(&log, "u-2", 2));

	/* Format and parse give back the same. */
	assert_int_equal(export_log_format(&log, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "dm-row-exports 1\n"
				     "disk pool=tank uuid=u-1 disk=1 last=130 ok=0 last_success=90 failures=2 export=vm1.8\n"));
	export_log_free(&log);
	assert_int_equal(export_log_parse(&log, text), 0);
	assert_int_equal(log.nr, 3);
	export_log_free(&log);
	free(text);

	/* Names that would break the line are refused. */
	assert_int_equal(export_log_record("tank", "u-1", 1, "a b", 1, true, 1), -EINVAL);
	assert_int_equal(export_log_record("tank", "u\n1", 1, "a", 1, true, 1), -EINVAL);
}

static void test_export_log_damaged(void **state)
{
	static const char *const bad[] = {
		"",
		"dm-row-exports 2\n",
		"dm-row-exports 1\ndisk pool=t uuid=u disk=1 last=1 ok=1 last_success=1 failures=0 export=a",
		"dm-row-exports 1\ndisk pool=t uuid=u disk=1 last=1 ok=2 last_success=1 failures=0 export=a\n",
		"dm-row-exports 1\ndisk pool=t uuid=u disk=x last=1 ok=1 last_success=1 failures=0 export=a\n",
		"dm-row-exports 1\ndisk pool=t uuid=u disk=1 last=-1 ok=1 last_success=1 failures=0 export=a\n",
		"dm-row-exports 1\ndisk pool=t uuid=u disk=1 last=1 ok=1 failures=0 export=a\n",
		"dm-row-exports 1\npolicy pool=t uuid=u disk=1 last=1 ok=1 last_success=1 failures=0 export=a\n",
	};
	struct env *e = *state;
	struct export_log log;
	unsigned int i;

	assert_int_equal(make_dirs(getenv("SNAPCTL_STATE_DIR")), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(e->path, bad[i]);
		if (export_log_load(&log) != -EILSEQ)
			fail_msg("damaged log %u was read", i);
		assert_int_equal(log.nr, 0);
		assert_null(log.entries);
	}
	/* Recording over a damaged log starts a new one. */
	assert_int_equal(export_log_record("tank", "u", 3, "e", 5, true, 4), 0);
	assert_int_equal(export_log_load(&log), 0);
	assert_int_equal(log.nr, 1);
	assert_int_equal(log.entries[0].disk, 3);
	export_log_free(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_rendered_sample),
		cmocka_unit_test(test_documented),
		cmocka_unit_test_setup_teardown(test_export_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_log_damaged, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
