// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl's command table: the tables of the command groups, one per
 * file, and what is printed from them (a command's usage line and help,
 * usage errors).  main.c dispatches through it; tests/unit reads it to
 * check the help and snapctl.8 against the options.
 */
#include <stdarg.h>
#include <stdio.h>

#include "snapctl.h"

const struct snapctl_cmd *const snapctl_command_tables[] = {
	snapctl_pool_cmds,
	snapctl_disk_cmds,
	snapctl_snapshot_cmds,
	snapctl_export_cmds,
	snapctl_policy_cmds,
	snapctl_daemon_cmds,
	snapctl_metrics_cmds,
	snapctl_offline_cmds,
	snapctl_misc_cmds,
	NULL
};

void snapctl_print_command_line(FILE *out, const struct snapctl_cmd *cmd)
{
	if (cmd->noun)
		fprintf(out, "  snapctl %s %s %s\n", cmd->noun, cmd->verb, cmd->usage);
	else
		fprintf(out, "  snapctl %s %s\n", cmd->verb, cmd->usage);
}

void snapctl_print_cmd_help(const struct snapctl_cmd *cmd)
{
	printf("Usage:\n");
	snapctl_print_command_line(stdout, cmd);
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
