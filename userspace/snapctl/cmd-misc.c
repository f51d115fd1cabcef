// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl commands that belong to no object: version.
 */
#include <stdio.h>

#include <linux/dm-row.h>

#include "snapctl.h"

static int cmd_version(struct snapctl_ctx *ctx, int argc, char **argv);

const struct snapctl_cmd snapctl_misc_cmds[] = {
	{
		.verb = "version",
		.usage = "[--json]",
		.help = "Print the version of snapctl and of the dm-row interface it speaks.",
		.flags = CMD_JSON,
		.run = cmd_version,
	},
	{ 0 }
};

static int cmd_version(struct snapctl_ctx *ctx, int argc, char **argv)
{
	if (argc > 0)
		return snapctl_usage_error(&snapctl_misc_cmds[0], argv[0][0] == '-' ?
					   "unknown option '%s'" : "unexpected argument '%s'",
					   argv[0]);
	if (ctx->json)
		printf("{\"snapctl\":\"%d.%d.%d\",\"target_version\":[%d,%d,%d]}\n",
		       DM_ROW_VERSION_MAJOR, DM_ROW_VERSION_MINOR, DM_ROW_VERSION_PATCH,
		       DM_ROW_VERSION_MAJOR, DM_ROW_VERSION_MINOR, DM_ROW_VERSION_PATCH);
	else
		printf("snapctl %d.%d.%d (dm-row target %d.%d.%d)\n",
		       DM_ROW_VERSION_MAJOR, DM_ROW_VERSION_MINOR, DM_ROW_VERSION_PATCH,
		       DM_ROW_VERSION_MAJOR, DM_ROW_VERSION_MINOR, DM_ROW_VERSION_PATCH);
	return EXIT_OK;
}
