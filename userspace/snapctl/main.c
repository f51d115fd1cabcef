// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl: the operator's tool for dm-row pools, disks and snapshots.
 *
 *   snapctl [--json] <noun> <verb> [<args>]
 *   snapctl [--json] <verb> [<args>]
 *
 * Dispatch is table driven: every command group contributes a table of
 * struct snapctl_cmd (see snapctl.h) and main() only finds the entry.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "snapctl.h"

static const struct snapctl_cmd *const command_tables[] = {
	snapctl_pool_cmds,
	snapctl_disk_cmds,
	snapctl_snapshot_cmds,
	snapctl_export_cmds,
	snapctl_policy_cmds,
	snapctl_daemon_cmds,
	snapctl_metrics_cmds,
	snapctl_offline_cmds,
	snapctl_misc_cmds,
};

#define for_each_command(cmd)						\
	for (size_t t__ = 0; t__ < sizeof(command_tables) / sizeof(command_tables[0]); t__++) \
		for (const struct snapctl_cmd *cmd = command_tables[t__]; cmd->verb; cmd++)

static void print_command_line(FILE *out, const struct snapctl_cmd *cmd)
{
	if (cmd->noun)
		fprintf(out, "  snapctl %s %s %s\n", cmd->noun, cmd->verb, cmd->usage);
	else
		fprintf(out, "  snapctl %s %s\n", cmd->verb, cmd->usage);
}

static void print_overview(FILE *out)
{
	fprintf(out, "Usage: snapctl [--json] <noun> <verb> [<args>]\n\n"
		     "Redirect-on-write snapshots of dm-row disks.\n\nCommands:\n");
	for_each_command(cmd)
		print_command_line(out, cmd);
	fprintf(out, "\nRun 'snapctl <command> --help' for the options of a command.\n");
}

void snapctl_print_cmd_help(const struct snapctl_cmd *cmd)
{
	printf("Usage:\n");
	print_command_line(stdout, cmd);
	printf("\n%s\n", cmd->help);
	if (cmd->flags & CMD_JSON)
		printf("\n  --json    print machine-readable JSON\n");
}

int snapctl_usage_error(const struct snapctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "snapctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nTry 'snapctl %s%s%s --help'.\n",
			cmd->noun ? cmd->noun : "", cmd->noun ? " " : "", cmd->verb);
	else
		fprintf(stderr, "\nTry 'snapctl --help'.\n");
	return EXIT_USAGE;
}

static const struct snapctl_cmd *find_command(int argc, char **argv, int *consumed)
{
	for_each_command(cmd) {
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
	for_each_command(cmd)
		if (cmd->noun && !strcmp(cmd->noun, word))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct snapctl_ctx ctx = { .prog = "snapctl" };
	const struct snapctl_cmd *cmd;
	int consumed = 0;
	int i;

	argc--;
	argv++;
	while (argc && argv[0][0] == '-') {
		if (!strcmp(argv[0], "--json")) {
			ctx.json = true;
		} else if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
			print_overview(stdout);
			return EXIT_OK;
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

	cmd = find_command(argc, argv, &consumed);
	if (!cmd) {
		if (is_known_noun(argv[0]))
			return snapctl_usage_error(NULL, "'%s' needs a verb%s%s",
						   argv[0], argc > 1 ? ", not " : "",
						   argc > 1 ? argv[1] : "");
		return snapctl_usage_error(NULL, "unknown command '%s'", argv[0]);
	}
	argc -= consumed;
	argv += consumed;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			snapctl_print_cmd_help(cmd);
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "--json")) {
			if (!(cmd->flags & CMD_JSON))
				return snapctl_usage_error(cmd, "--json is not supported here");
			ctx.json = true;
			memmove(&argv[i], &argv[i + 1], (argc - i - 1) * sizeof(*argv));
			argc--;
			i--;
		}
	}
	if ((cmd->flags & CMD_NEEDS_ROOT) && geteuid() != 0) {
		fprintf(stderr, "snapctl: this command talks to device-mapper and must run as root\n");
		return EXIT_FAILURE_GENERIC;
	}
	return cmd->run(&ctx, argc, argv);
}
