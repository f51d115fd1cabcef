// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl's command line, run as an operator runs it (the built snapctl
 * beside this binary): every way of asking for help answers on standard
 * output with status 0, a noun without a verb (or with one it does not
 * have) lists the noun's verbs on standard error with status 2, and
 * --version is 'snapctl version'.  An option's value is its value even when
 * it reads --help or --json, and nothing after '--' is an option.  No pool
 * is touched: the pool definitions, the policy store and the locks are in
 * a directory of the test's own, and the commands that need root and a
 * pool are only run as root, to where they find there is none.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "run_snapctl.h"

struct fixture {
	char snapctl[PATH_MAX];
	char out[64], err[64];
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char path[128];
	int fd;

	if (!fx || find_built_snapctl(fx->snapctl, sizeof(fx->snapctl)))
		goto fail;
	strcpy(fx->dir, "/tmp/dmrow-cli-XXXXXX");
	if (!mkdtemp(fx->dir))
		goto fail;
	/* Empty: no pool is defined, no policy exists. */
	snprintf(path, sizeof(path), "%s/pools", fx->dir);
	setenv("SNAPCTL_CONFIG_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/state", fx->dir);
	setenv("SNAPCTL_STATE_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/run", fx->dir);
	setenv("SNAPCTL_RUN_DIR", path, 1);
	/* The zone of the policies made without --timezone. */
	setenv("TZ", "UTC", 1);
	strcpy(fx->out, "/tmp/dmrow-cli-out-XXXXXX");
	strcpy(fx->err, "/tmp/dmrow-cli-err-XXXXXX");
	fd = mkstemp(fx->out);
	if (fd < 0)
		goto fail;
	close(fd);
	fd = mkstemp(fx->err);
	if (fd < 0)
		goto fail;
	close(fd);
	*state = fx;
	return 0;
fail:
	free(fx);
	return -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	char cmd[128];

	unlink(fx->out);
	unlink(fx->err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd))
		return -1;
	free(fx);
	return 0;
}


/* Run snapctl @args; expect @status, @want on @stream (1 out, 2 err), the other empty. */
static void expect(struct fixture *fx, const char *args, int status, int stream, const char *want)
{
	char *out, *err, *in;

	assert_int_equal(run_snapctl(fx->snapctl, fx->out, fx->err, "%s", args), status);
	out = slurp(fx->out);
	err = slurp(fx->err);
	in = stream == 1 ? out : err;
	if (!strstr(in, want))
		fail_msg("'snapctl %s' printed no '%s' on %s:\n%s", args, want,
			 stream == 1 ? "stdout" : "stderr", in);
	if (stream == 1 && *err)
		fail_msg("'snapctl %s' printed on stderr: %s", args, err);
	if (stream == 2 && *out)
		fail_msg("'snapctl %s' printed on stdout: %s", args, out);
	free(out);
	free(err);
}

static void test_overview(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "--help", 0, 1, "Commands:\n");
	expect(fx, "-h", 0, 1, "  snapctl snapshot create ");
	expect(fx, "help", 0, 1, "  snapctl pool create ");
	expect(fx, "", 2, 2, "Commands:\n");
}

/* A noun's verbs: every verb of the noun is listed, and no other noun's. */
static void test_noun_help(void **state)
{
	static const char *const asks[] = { "snapshot --help", "snapshot -h", "help snapshot",
					    "--help snapshot", "-h snapshot" };
	struct fixture *fx = *state;
	unsigned int i;
	char *out;

	for (i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		expect(fx, asks[i], 0, 1, "Usage: snapctl [--json] snapshot <verb>");
		out = slurp(fx->out);
		assert_non_null(strstr(out, "  snapctl snapshot create "));
		assert_non_null(strstr(out, "  snapctl snapshot rollback "));
		assert_non_null(strstr(out, "  snapctl snapshot delete "));
		assert_null(strstr(out, "  snapctl disk "));
		assert_null(strstr(out, "  snapctl pool "));
		free(out);
	}
	expect(fx, "disk --help", 0, 1, "  snapctl disk create ");
	expect(fx, "policy --help", 0, 1, "  snapctl policy create ");
	/* 'export' is a verb too: its own help, as 'snapctl export list --help' is list's. */
	expect(fx, "export --help", 0, 1, "Usage:\n  snapctl export <pool> ");
}

static void test_command_help(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "help snapshot delete", 0, 1, "Usage:\n  snapctl snapshot delete ");
	expect(fx, "-h snapshot delete", 0, 1, "Usage:\n  snapctl snapshot delete ");
	expect(fx, "snapshot delete --help", 0, 1, "Usage:\n  snapctl snapshot delete ");
	expect(fx, "help version", 0, 1, "Usage:\n  snapctl version ");
}

static void test_missing_or_unknown(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "snapshot", 2, 2, "snapctl: 'snapshot' needs a verb\n");
	expect(fx, "snapshot", 2, 2, "  snapctl snapshot create ");
	expect(fx, "snapshot frobnicate", 2, 2, "snapctl: 'snapshot' has no verb 'frobnicate'\n");
	expect(fx, "snapshot frobnicate", 2, 2, "  snapctl snapshot rollback ");
	expect(fx, "frobnicate", 2, 2, "snapctl: unknown command 'frobnicate'");
	expect(fx, "help frobnicate", 2, 2, "snapctl: no command 'frobnicate' to help with");
	expect(fx, "--frobnicate", 2, 2, "snapctl: unknown option '--frobnicate'");
}

static void test_version(void **state)
{
	struct fixture *fx = *state;
	char *a, *b;

	expect(fx, "--version", 0, 1, "snapctl ");
	a = slurp(fx->out);
	expect(fx, "version", 0, 1, "snapctl ");
	b = slurp(fx->out);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "(dm-row target "));
	free(a);
	free(b);
	expect(fx, "--json --version", 0, 1, "{\"snapctl\":\"");
}

/*
 * An option that takes a value takes the next word, whatever it is: it is
 * never --help or --json instead.  A value that is not right for the option
 * is a usage error that names it, and nothing is printed on standard output.
 */
static void test_option_values(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "policy create p --hours --json", 2, 2,
	       "snapctl: --hours takes hours of 0..23 such as 2,14 or 8-18, not '--json'\n");
	expect(fx, "policy create p --hours 1 --weekdays --help", 2, 2,
	       "--weekdays takes days such as mon,thu or mon-fri or 1-7, not '--help'\n");
	expect(fx, "policy create p --hours 1 --timezone --help", 2, 2, "--timezone: ");
	expect(fx, "policy create p --hours 1 --timezone -h", 2, 2, "--timezone: ");
	/* Where they are options, they still are. */
	expect(fx, "policy create p --hours 1 --json", 0, 1, "{\"id\":1,\"name\":\"p\",");
	expect(fx, "policy create q --json --hours 2", 0, 1, "{\"id\":2,\"name\":\"q\",");
	expect(fx, "policy create r --hours 1 --timezone UTC --help", 0, 1,
	       "Usage:\n  snapctl policy create ");
	expect(fx, "snapshot rollback --yes --help", 0, 1, "Usage:\n  snapctl snapshot rollback ");
	expect(fx, "policy list --json", 0, 1, "\"name\":\"q\"");
	expect(fx, "pool create --json", 2, 2, "snapctl: --json is not supported here\n");
	expect(fx, "policy create p --hours 1 --json=yes", 2, 2,
	       "snapctl: option '--json=yes' takes no value\n");
	expect(fx, "policy create p --hours", 2, 2, "snapctl: option '--hours' needs a value\n");
	/* A hook is a command line: '--help' is one, if a strange one. */
	if (geteuid() == 0)
		expect(fx, "snapshot create tank vm1 --pre-hook --help --post-hook --json", 3, 2,
		       "snapctl: no pool 'tank'");
}

/* After '--' no word is an option: not --help, not --json. */
static void test_end_of_options(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "policy create --hours 1 -- --help", 2, 2,
	       "snapctl: '--help' is not a valid policy name");
	expect(fx, "policy create --hours 1 -- --json", 2, 2,
	       "snapctl: '--json' is not a valid policy name");
	expect(fx, "policy create --hours 1 -- p", 0, 1, "policy 1 created: p,");
}

/*
 * After 'export', list, verify, delete and gc are its verbs; a pool named
 * like one is given after '--'.  'export list <snapshot> <url>' says so.
 */
static void test_export_pool_named_like_a_verb(void **state)
{
	static const char *const verbs[] = { "list", "verify", "delete", "gc" };
	struct fixture *fx = *state;
	char args[128], want[128];
	unsigned int i;

	expect(fx, "export list vm1/s1 /tmp/repo", 2, 2,
	       "(to export a snapshot of a pool named 'list', end the options before the pool: 'snapctl export [<options>] -- list vm1/s1 /tmp/repo')");
	expect(fx, "export gc vm1/s1 /tmp/repo", 2, 2,
	       "'snapctl export [<options>] -- gc vm1/s1 /tmp/repo'");
	expect(fx, "export --help", 0, 1, "'snapctl export [<options>] -- list <snapshot> <url>'");
	if (geteuid() != 0)
		return;		/* 'snapctl export' needs root before it looks for the pool */
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		snprintf(args, sizeof(args), "export --name e1 -- %s vm1/s1 /tmp/repo", verbs[i]);
		snprintf(want, sizeof(want), "snapctl: no pool '%s'", verbs[i]);
		expect(fx, args, 3, 2, want);
	}
}

/* A retention is 1..65536 days or forever, written 'forever' or 0, everywhere. */
static void test_retention_forever(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "policy create a --hours 1 --retention-days forever", 0, 1,
	       "policy 1 created: a, hours 1 UTC, days mon-sun, kept forever\n");
	expect(fx, "policy create b --hours 1 --retention-days 0", 0, 1,
	       "policy 2 created: b, hours 1 UTC, days mon-sun, kept forever\n");
	expect(fx, "policy modify b --retention-days 7", 0, 1, ", kept 7d\n");
	expect(fx, "policy modify b --retention-days 0", 0, 1, ", kept forever\n");
	expect(fx, "policy create c --hours 1 --retention-days 65537", 2, 2,
	       "snapctl: --retention-days takes 1..65536 or 'forever' (or 0), not '65537'\n");
	if (geteuid() != 0)
		return;		/* 'snapshot create' needs root before it looks for the pool */
	expect(fx, "snapshot create tank vm1 --retention-days forever", 3, 2, "no pool 'tank'");
	expect(fx, "snapshot create tank vm1 --retention-days 0", 3, 2, "no pool 'tank'");
	expect(fx, "snapshot create tank vm1 --retention-days 65536", 3, 2, "no pool 'tank'");
	expect(fx, "snapshot create tank vm1 --retention-days always", 2, 2,
	       "snapctl: --retention-days takes 1..65536 or 'forever' (or 0), not 'always'\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_overview, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noun_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_or_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_option_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_of_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_pool_named_like_a_verb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_forever, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
