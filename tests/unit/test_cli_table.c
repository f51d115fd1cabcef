// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl's command table, its help and its man page say the same.
 *
 * For every command of the table (userspace/snapctl/snapctl.h): each option
 * of its options table, and --json where it takes it, is named in its
 * --help (as the built snapctl prints it) and in its entry of
 * Documentation/snapctl.8; the other way round, each option its help or its
 * entry names is one of those, or one of the references to another
 * command's option listed in cross_references[].  Every command has an
 * entry in snapctl.8, and every entry is of a command.  A command's options
 * have names and values of their own.
 *
 * Sizes: the help of every command that takes a <size> says what
 * parse_size() takes (SIZE_HELP), the suffixes it names are the ones
 * parse_size() takes, its examples parse, and snapctl.8 names the same.
 * Likewise every command that takes --jobs says what it does, and every
 * command that takes a <snapshot> how one is named.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common.h"
#include "poolctl.h"
#include "run_snapctl.h"

/* The source tree, where the Makefile says it is. */
#ifndef DMROW_SRC_DIR
#define DMROW_SRC_DIR "."
#endif
#define MAN_PAGE DMROW_SRC_DIR "/Documentation/snapctl.8"
#define MAX_COMMANDS 64
#define MAX_NAMES 48

/*
 * An option a command's help or man entry names that is another command's,
 * and why it is named there.
 */
static const struct cross_reference {
	const char *command;	/* "noun verb" or "verb" */
	const char *option;
	const char *why;
} cross_references[] = {
	{ "daemon", "retention-days", "deletes what 'snapshot create --retention-days' keeps" },
	{ "daemon", "output", "writes what 'metrics --output' writes" },
	{ "metrics", "metrics-file", "'daemon --metrics-file' writes the same" },
};

struct names {
	unsigned int nr;
	char name[MAX_NAMES][40];
};

static void names_add(struct names *n, const char *name, size_t len)
{
	unsigned int i;

	if (len >= sizeof(n->name[0]))
		fail_msg("option name '%.*s' is too long for the test", (int)len, name);
	for (i = 0; i < n->nr; i++)
		if (strlen(n->name[i]) == len && !strncmp(n->name[i], name, len))
			return;
	if (n->nr == MAX_NAMES)
		fail_msg("more than %d options named in one place", MAX_NAMES);
	memcpy(n->name[n->nr], name, len);
	n->name[n->nr++][len] = '\0';
}

static bool names_have(const struct names *n, const char *name)
{
	unsigned int i;

	for (i = 0; i < n->nr; i++)
		if (!strcmp(n->name[i], name))
			return true;
	return false;
}

static bool option_char(char c)
{
	return islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-';
}

/* Every "--<name>" in @text that is not part of a longer word. */
static void options_named(const char *text, struct names *n)
{
	const char *p = text, *q;

	while ((p = strstr(p, "--"))) {
		if (p > text && (option_char(p[-1]) || isalnum((unsigned char)p[-1]))) {
			p += 2;
			continue;
		}
		for (q = p + 2; option_char(*q); q++)
			;
		while (q > p + 2 && q[-1] == '-')
			q--;
		if (q > p + 2 && islower((unsigned char)p[2]))
			names_add(n, p + 2, q - (p + 2));
		p = q > p + 2 ? q : p + 2;
	}
}

/* A man page line without troff's escapes: "\-" is "-", fonts and "\%" go. */
static void unescape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	while (*in && o + 1 < len) {
		if (in[0] == '\\' && in[1] == '-') {
			out[o++] = '-';
			in += 2;
		} else if (in[0] == '\\' && in[1] == 'f' && in[2]) {
			in += 3;
		} else if (in[0] == '\\' && (in[1] == '%' || in[1] == '&')) {
			in += 2;
		} else if (in[0] == '\\' && in[1] == 'e') {
			out[o++] = '\\';
			in += 2;
		} else {
			out[o++] = *in++;
		}
	}
	out[o] = '\0';
}

/*
 * The text an unescaped man page line shows: a font macro's arguments (the
 * alternating ones joined without blanks), nothing of other requests.
 */
static void troff_text(const char *line, char *out, size_t len)
{
	static const char *const fonts[] = { "B", "I", "R", "BR", "RB", "BI", "IB", "IR", "RI" };
	const char *p = line + 1;
	size_t o = 0, m = strcspn(p, " ");
	bool joined, known = false;
	unsigned int i;

	out[0] = '\0';
	if (line[0] != '.') {
		snprintf(out, len, "%s", line);
		return;
	}
	for (i = 0; i < sizeof(fonts) / sizeof(fonts[0]); i++)
		if (strlen(fonts[i]) == m && !strncmp(fonts[i], p, m))
			known = true;
	if (!known)
		return;
	joined = m == 2;
	p += m;
	while (*p && o + 1 < len) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (o && !joined)
			out[o++] = ' ';
		if (*p == '"') {
			for (p++; *p && *p != '"' && o + 1 < len; p++)
				out[o++] = *p;
			if (*p)
				p++;
		} else {
			for (; *p && *p != ' ' && o + 1 < len; p++)
				out[o++] = *p;
		}
	}
	out[o] = '\0';
}


static void command_name(const struct snapctl_cmd *cmd, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", cmd->noun ? cmd->noun : "", cmd->noun ? " " : "", cmd->verb);
}

static unsigned int command_index(const struct snapctl_cmd *which)
{
	unsigned int i = 0;

	for_each_snapctl_cmd(cmd) {
		if (cmd == which)
			return i;
		i++;
	}
	fail_msg("a command not in the table");
	return 0;
}

/* The command a man page entry's header is of, from its first two words. */
static const struct snapctl_cmd *entry_command(const char *header)
{
	char w1[64] = "", w2[64] = "";

	if (sscanf(header, ".B snapctl %63s %63s", w1, w2) < 1)
		return NULL;
	for_each_snapctl_cmd(cmd)
		if (cmd->noun && !strcmp(cmd->noun, w1) && !strcmp(cmd->verb, w2))
			return cmd;
	for_each_snapctl_cmd(cmd)
		if (!cmd->noun && !strcmp(cmd->verb, w1))
			return cmd;
	return NULL;
}

/*
 * The options each command's entries in snapctl.8 name.  An entry is a
 * ".TP" and ".B snapctl <command> ..." up to the next entry, section or
 * paragraph (".PP" outside an indented block).
 */
static void man_entries(struct names *man, bool *has_entry, char *problems, size_t len)
{
	char *text = slurp(MAN_PAGE), *line, *save = NULL;
	char clean[1024];
	bool after_tp = false;
	const struct snapctl_cmd *current = NULL;
	int depth = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unescape(line, clean, sizeof(clean));
		if (!strncmp(clean, ".SH", 3) || !strncmp(clean, ".SS", 3)) {
			current = NULL;
		} else if (after_tp && !strncmp(clean, ".B snapctl ", 11)) {
			current = entry_command(clean);
			depth = 0;
			/* 'snapctl help' is main()'s, not a command of the table. */
			if (!current && strncmp(clean, ".B snapctl help ", 16))
				snprintf(problems + strlen(problems), len - strlen(problems),
					 "snapctl.8 has an entry for no command: %s\n", clean);
			if (current)
				has_entry[command_index(current)] = true;
		} else if (!strcmp(clean, ".RS")) {
			depth++;
		} else if (!strcmp(clean, ".RE")) {
			depth--;
		} else if (!strcmp(clean, ".PP") && !depth) {
			current = NULL;
		}
		if (current)
			options_named(clean, &man[command_index(current)]);
		after_tp = !strcmp(clean, ".TP");
	}
	free(text);
}

/* What 'snapctl <command> --help' prints. */
static char *command_help(const struct snapctl_cmd *cmd)
{
	char snapctl[PATH_MAX], out[] = "/tmp/dmrow-cli-table-XXXXXX", name[64];
	char *help;
	int fd;

	assert_int_equal(find_built_snapctl(snapctl, sizeof(snapctl)), 0);
	fd = mkstemp(out);
	assert_true(fd >= 0);
	close(fd);
	command_name(cmd, name, sizeof(name));
	if (run_snapctl(snapctl, out, NULL, "%s --help", name))
		fail_msg("'snapctl %s --help' failed", name);
	help = slurp(out);
	unlink(out);
	return help;
}

#define NR_CROSS_REFERENCES (sizeof(cross_references) / sizeof(cross_references[0]))
static bool cross_reference_used[NR_CROSS_REFERENCES];

/* main()'s options, which every command's help and entry may name. */
static bool global_option(const char *option)
{
	return !strcmp(option, "help") || !strcmp(option, "version");
}

static bool cross_reference(const char *command, const char *option)
{
	unsigned int i;

	if (global_option(option))
		return true;
	for (i = 0; i < NR_CROSS_REFERENCES; i++)
		if (!strcmp(cross_references[i].command, command) &&
		    !strcmp(cross_references[i].option, option)) {
			cross_reference_used[i] = true;
			return true;
		}
	return false;
}

static void say(char *problems, size_t len, const char *fmt, ...)
{
	size_t used = strlen(problems);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(problems + used, len - used, fmt, ap);
	va_end(ap);
}

/* The options of the table against the help and the man page, both ways. */
static void test_options_documented(void **state)
{
	static struct names man[MAX_COMMANDS];
	static char problems[16384];
	bool has_entry[MAX_COMMANDS] = { false };
	unsigned int i, k = 0;

	(void)state;
	memset(man, 0, sizeof(man));
	problems[0] = '\0';
	man_entries(man, has_entry, problems, sizeof(problems));
	for_each_snapctl_cmd(cmd) {
		const struct option *o;
		struct names table = { 0 }, help = { 0 };
		char name[64], *text;

		assert_true(k < MAX_COMMANDS);
		command_name(cmd, name, sizeof(name));
		for (o = cmd->options; o && o->name; o++)
			names_add(&table, o->name, strlen(o->name));
		if (cmd->flags & CMD_JSON)
			names_add(&table, "json", 4);
		text = command_help(cmd);
		options_named(text, &help);
		free(text);

		if (!has_entry[k])
			say(problems, sizeof(problems), "'snapctl %s' has no entry in snapctl.8\n", name);
		for (i = 0; i < table.nr; i++) {
			if (!names_have(&help, table.name[i]))
				say(problems, sizeof(problems), "'snapctl %s --help' does not name --%s\n",
				    name, table.name[i]);
			if (has_entry[k] && !names_have(&man[k], table.name[i]))
				say(problems, sizeof(problems), "snapctl.8 does not name --%s of 'snapctl %s'\n",
				    table.name[i], name);
		}
		for (i = 0; i < help.nr; i++)
			if (!names_have(&table, help.name[i]) && !cross_reference(name, help.name[i]))
				say(problems, sizeof(problems), "'snapctl %s --help' names --%s, which it does not take\n",
				    name, help.name[i]);
		for (i = 0; i < man[k].nr; i++)
			if (!names_have(&table, man[k].name[i]) && !cross_reference(name, man[k].name[i]))
				say(problems, sizeof(problems), "snapctl.8 names --%s for 'snapctl %s', which it does not take\n",
				    man[k].name[i], name);
		k++;
	}
	for (i = 0; i < NR_CROSS_REFERENCES; i++)
		if (!cross_reference_used[i])
			say(problems, sizeof(problems), "'snapctl %s' names --%s nowhere; drop it from cross_references[]\n",
			    cross_references[i].command, cross_references[i].option);
	if (problems[0])
		fail_msg("the command table, the help and snapctl.8 disagree:\n%s", problems);
}

/* The cross references name options that exist where they point. */
static void test_cross_references_exist(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < NR_CROSS_REFERENCES; i++) {
		bool found = false;

		for_each_snapctl_cmd(cmd)
			for (const struct option *o = cmd->options; o && o->name; o++)
				if (!strcmp(o->name, cross_references[i].option))
					found = true;
		if (!found)
			fail_msg("--%s (%s) is no command's option", cross_references[i].option,
				 cross_references[i].why);
	}
}

/*
 * getopt_long() tells options apart by their values: two of one command
 * with one value would be one option, and --help, --json and -y are
 * every command's.
 */
static void test_option_values_distinct(void **state)
{
	(void)state;
	for_each_snapctl_cmd(cmd) {
		const struct option *o, *p;
		char name[64];
		unsigned int n = 0;

		command_name(cmd, name, sizeof(name));
		for (o = cmd->options; o && o->name; o++, n++) {
			if (o->val == OPT_HELP || o->val == OPT_JSON || o->flag ||
			    (o->val == OPT_YES && strcmp(o->name, "yes")))
				fail_msg("--%s of 'snapctl %s' has a value kept for --help, --json or --yes",
					 o->name, name);
			if (!strcmp(o->name, "help") || !strcmp(o->name, "json"))
				fail_msg("'snapctl %s' lists --%s, which every command has", name, o->name);
			for (p = cmd->options; p != o; p++)
				if (p->val == o->val || !strcmp(p->name, o->name))
					fail_msg("--%s and --%s of 'snapctl %s' are one option to getopt",
						 p->name, o->name, name);
		}
		if (n > MAX_CMD_OPTIONS)
			fail_msg("'snapctl %s' has more than %d options", name, MAX_CMD_OPTIONS);
	}
}

/*
 * "K, M, G, T or P": the unit letters parse_size() takes, smallest first,
 * as the help lists them.
 */
static void accepted_units(char *buf, size_t len)
{
	char letters[27] = "", s[4];
	uint64_t bytes, value[27];
	size_t n = 0, i, j, used = 0;
	char c;

	for (c = 'A'; c <= 'Z'; c++) {
		snprintf(s, sizeof(s), "1%c", c);
		if (parse_size(s, &bytes))
			continue;
		s[1] = tolower(c);
		assert_int_equal(parse_size(s, &value[n]), 0);	/* either case */
		assert_int_equal(value[n], bytes);
		for (j = n; j > 0 && value[j - 1] > bytes; j--) {
			letters[j] = letters[j - 1];
			value[j] = value[j - 1];
		}
		letters[j] = c;
		value[j] = bytes;
		n++;
	}
	assert_true(n >= 2);
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		used += snprintf(buf + used, len - used, "%s%c",
				 !i ? "" : i + 1 == n ? " or " : ", ", letters[i]);
}

static void flatten(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 1 < len; in++)
		out[o++] = *in == '\n' ? ' ' : *in;
	out[o] = '\0';
}

static void test_sizes(void **state)
{
	char units[64], help[512], examples[128], man_text[2048] = "", clean[512], text[512];
	char *man, *line, *save = NULL, *example;
	bool in_size = false;
	uint64_t bytes;

	(void)state;
	/* The help's list of units and suffixes is what parse_size() takes. */
	accepted_units(units, sizeof(units));
	flatten(SIZE_HELP, help, sizeof(help));
	if (!strstr(help, units))
		fail_msg("SIZE_HELP does not say \"%s\": %s", units, help);
	assert_non_null(strstr(help, "either case"));
	assert_non_null(strstr(help, "B or iB"));
	assert_int_equal(parse_size("3KB", &bytes), 0);
	assert_int_equal(parse_size("3kib", &bytes), 0);
	assert_int_equal(parse_size("3MiB", &bytes), 0);
	assert_int_equal(bytes, 3 << 20);
	assert_int_equal(parse_size("3B", &bytes), -EINVAL);
	assert_int_equal(parse_size("3KiBB", &bytes), -EINVAL);

	/* Its examples parse. */
	snprintf(examples, sizeof(examples), "%s", strrchr(help, ':') + 1);
	for (example = strtok_r(examples, " ,.", &save); example;
	     example = strtok_r(NULL, " ,.", &save))
		if (parse_size(example, &bytes))
			fail_msg("the example size '%s' does not parse", example);

	/* Each command that takes a <size> says it. */
	for_each_snapctl_cmd(cmd) {
		char name[64], *out;

		if (!strstr(cmd->usage, "<size>"))
			continue;
		command_name(cmd, name, sizeof(name));
		out = command_help(cmd);
		if (!strstr(out, SIZE_HELP))
			fail_msg("'snapctl %s --help' takes a <size> and does not say what it is", name);
		free(out);
	}

	/* snapctl.8's "size" says the same. */
	man = slurp(MAN_PAGE);
	save = NULL;
	for (line = strtok_r(man, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unescape(line, clean, sizeof(clean));
		if (in_size && !strcmp(clean, ".TP"))
			break;
		if (!strcmp(clean, ".I size")) {
			in_size = true;
			continue;
		}
		if (!in_size)
			continue;
		troff_text(clean, text, sizeof(text));
		if (text[0])
			snprintf(man_text + strlen(man_text), sizeof(man_text) - strlen(man_text), "%s%s",
				 man_text[0] ? " " : "", text);
	}
	free(man);
	if (!in_size)
		fail_msg("snapctl.8 has no entry for a size");
	if (!strstr(man_text, units) || !strstr(man_text, "either case") ||
	    !strstr(man_text, "B or iB") || !strstr(man_text, strrchr(help, ':') + 2))
		fail_msg("snapctl.8 does not describe sizes as the help does (%s): %s", help, man_text);
}

static bool has_option(const struct snapctl_cmd *cmd, const char *name)
{
	const struct option *o;

	for (o = cmd->options; o && o->name; o++)
		if (!strcmp(o->name, name))
			return true;
	return false;
}

/*
 * What is explained once is explained everywhere it applies: the help of
 * every command that takes --jobs says what it does (JOBS_HELP), and of
 * every command that takes a <snapshot> how one is named (SNAPSHOT_HELP),
 * but for 'snapshot rollback', whose snapshot is one of the disk it is
 * given.
 */
static void test_shared_help(void **state)
{
	unsigned int jobs = 0, snapshots = 0;

	(void)state;
	for_each_snapctl_cmd(cmd) {
		bool takes_snapshot = strstr(cmd->usage, "snapshot>") &&
				      !strstr(cmd->usage, "<disk> <snapshot>");
		char name[64], *out;

		if (!has_option(cmd, "jobs") && !takes_snapshot)
			continue;
		command_name(cmd, name, sizeof(name));
		out = command_help(cmd);
		if (has_option(cmd, "jobs") && !strstr(out, JOBS_HELP))
			fail_msg("'snapctl %s --help' takes --jobs and does not say what it does", name);
		if (takes_snapshot && !strstr(out, SNAPSHOT_HELP))
			fail_msg("'snapctl %s --help' takes a <snapshot> and does not say what it is",
				 name);
		jobs += has_option(cmd, "jobs");
		snapshots += takes_snapshot;
		free(out);
	}
	/* export, import and export verify; clone, export and six snapshot verbs */
	assert_int_equal(jobs, 3);
	assert_int_equal(snapshots, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_documented),
		cmocka_unit_test(test_cross_references_exist),
		cmocka_unit_test(test_option_values_distinct),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_shared_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
