// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl: the operator's tool for dm-row pools, disks and snapshots.
 *
 *   snapctl [--json] <noun> <verb> [<args>]
 *   snapctl [--json] <verb> [<args>]
 *   snapctl help [<noun> [<verb>]], snapctl <noun> --help, snapctl --version
 *
 * Dispatch is table driven: every command group contributes a table of
 * struct snapctl_cmd (see snapctl.h, commands.c) and main() only finds the
 * entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void print_overview(FILE *out)
{
	fprintf(out, "Usage: snapctl [--json] <noun> <verb> [<args>]\n\n"
		     "Redirect-on-write snapshots of dm-row disks.\n\nCommands:\n");
	for_each_snapctl_cmd(cmd)
		snapctl_print_command_line(out, cmd);
	fprintf(out, "\nRun 'snapctl <command> --help' for the options of a command,\n"
		     "'snapctl <noun> --help' for a noun's verbs.\n");
}

static const struct snapctl_cmd *find_command(int argc, char **argv, int *consumed)
{
	for_each_snapctl_cmd(cmd) {
		if (cmd->noun) {
			if (argc >= 2 && !strcmp(argv[0], cmd->noun) &&
			    !strcmp(argv[1], cmd->verb)) {
				*consumed = 2;
				return cmd;
			}
		} else if (argc >= 1 && !strcmp(argv[0], cmd->verb)) {
			*consumed = 1;
			return cmd;
		}
	}
	return NULL;
}

static bool is_known_noun(const char *word)
{
	for_each_snapctl_cmd(cmd)
		if (cmd->noun && !strcmp(cmd->noun, word))
			return true;
	return false;
}

static bool is_help(const char *arg)
{
	return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

/* The verbs of @noun: 'snapctl NOUN --help', and a missing or unknown verb. */
static void print_noun_help(FILE *out, const char *noun)
{
	fprintf(out, "Usage: snapctl [--json] %s <verb> [<args>]\n\nVerbs:\n", noun);
	for_each_snapctl_cmd(cmd)
		if (cmd->noun && !strcmp(cmd->noun, noun))
			snapctl_print_command_line(out, cmd);
	fprintf(out, "\nRun 'snapctl %s <verb> --help' for the options of a verb.\n", noun);
}

/*
 * 'snapctl help [WORDS]' and 'snapctl --help WORDS': the overview, a noun's
 * verbs or a command's help, on standard output.
 */
static int print_help_for(int argc, char **argv)
{
	const struct snapctl_cmd *cmd;
	int consumed = 0;

	if (!argc) {
		print_overview(stdout);
		return EXIT_OK;
	}
	cmd = find_command(argc, argv, &consumed);
	if (cmd && consumed == argc) {
		snapctl_print_cmd_help(cmd);
		return EXIT_OK;
	}
	if (argc == 1 && is_known_noun(argv[0])) {
		print_noun_help(stdout, argv[0]);
		return EXIT_OK;
	}
	return snapctl_usage_error(NULL, "no command '%s%s%s' to help with", argv[0],
				   argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
}

/* A noun with no verb, or one it does not have: say so, list its verbs. */
static int noun_without_verb(int argc, char **argv)
{
	if (argc > 1 && is_help(argv[1])) {
		print_noun_help(stdout, argv[0]);
		return EXIT_OK;
	}
	if (argc > 1)
		fprintf(stderr, "snapctl: '%s' has no verb '%s'\n\n", argv[0], argv[1]);
	else
		fprintf(stderr, "snapctl: '%s' needs a verb\n\n", argv[0]);
	print_noun_help(stderr, argv[0]);
	return EXIT_USAGE;
}

/*
 * --help (-h) and --json among a command's arguments (@argv[-1] is its
 * verb).  They are looked for as the command's parser looks for options,
 * with the same tables: a word that is an option's value is never taken
 * for one of them, whatever it says ('--pre-hook --help'), nor is a word
 * after '--'.  The --json words are taken out of @argv.  0, or -1 when out
 * of memory.
 */
static int find_common_options(const struct snapctl_cmd *cmd, int *argc, char **argv,
			       bool *help, bool *json)
{
	struct cmd_getopt g = { 0 };
	char shortopts[sizeof(g.shortopts) + 1];
	bool *drop;
	int c, i, n;

	drop = calloc(*argc + 1, sizeof(*drop));
	if (!drop)
		return -1;
	cmd_getopt_tables(cmd, &g);
	/* In order ('-'): every word is looked at where it is, none moved. */
	snprintf(shortopts, sizeof(shortopts), "-%s", g.shortopts);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(*argc + 1, argv - 1, shortopts, g.longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			*help = true;
		} else if (c == OPT_JSON) {
			*json = true;
			drop[optind - 2] = true;
		}
	}
	/* The command's parser starts afresh. */
	optind = 0;
	for (i = 0, n = 0; i < *argc; i++)
		if (!drop[i])
			argv[n++] = argv[i];
	*argc = n;
	free(drop);
	return 0;
}

int main(int argc, char **argv)
{
	struct snapctl_ctx ctx = { .prog = "snapctl" };
	const struct snapctl_cmd *cmd;
	bool help = false, json = false;
	int consumed = 0;

	argc--;
	argv++;
	while (argc && argv[0][0] == '-') {
		if (!strcmp(argv[0], "--json")) {
			ctx.json = true;
		} else if (is_help(argv[0])) {
			return print_help_for(argc - 1, argv + 1);
		} else if (!strcmp(argv[0], "--version")) {
			argv[0] = "version";
			break;
		} else {
			return snapctl_usage_error(NULL, "unknown option '%s'", argv[0]);
		}
		argc--;
		argv++;
	}
	if (!argc) {
		print_overview(stderr);
		return EXIT_USAGE;
	}

	if (!strcmp(argv[0], "help"))
		return print_help_for(argc - 1, argv + 1);
	cmd = find_command(argc, argv, &consumed);
	if (!cmd) {
		if (is_known_noun(argv[0]))
			return noun_without_verb(argc, argv);
		return snapctl_usage_error(NULL, "unknown command '%s'", argv[0]);
	}
	argc -= consumed;
	argv += consumed;

	if (find_common_options(cmd, &argc, argv, &help, &json)) {
		fprintf(stderr, "snapctl: out of memory\n");
		return EXIT_FAILURE_GENERIC;
	}
	if (help) {
		snapctl_print_cmd_help(cmd);
		return EXIT_OK;
	}
	if (json) {
		if (!(cmd->flags & CMD_JSON))
			return snapctl_usage_error(cmd, "--json is not supported here");
		ctx.json = true;
	}
	if ((cmd->flags & CMD_NEEDS_ROOT) && geteuid() != 0) {
		fprintf(stderr, "snapctl: this command talks to device-mapper and must run as root\n");
		return EXIT_FAILURE_GENERIC;
	}
	return cmd->run(&ctx, argc, argv);
}
