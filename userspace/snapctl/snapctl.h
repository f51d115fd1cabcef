/* SPDX-License-Identifier: GPL-2.0 */
/*
 * snapctl command table.  Each command group lives in its own file and
 * exports a NULL-terminated array of struct snapctl_cmd.
 */
#ifndef SNAPCTL_H
#define SNAPCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes, documented in Documentation/snapctl.8. */
enum snapctl_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_GENERIC = 1,	/* the operation failed */
	EXIT_USAGE = 2,			/* bad command line */
	EXIT_NOT_FOUND = 3,		/* no such pool, disk, snapshot */
	EXIT_BUSY = 4,			/* device in use, operation in progress */
	EXIT_NO_SPACE = 5,		/* pool full or quota reached */
	EXIT_REFUSED = 6,		/* would destroy data; needs --force/--yes */
	EXIT_CORRUPT = 7,		/* metadata or export is damaged */
};

/* Command flags. */
#define CMD_NEEDS_ROOT	0x1	/* talks to device-mapper */
#define CMD_JSON	0x2	/* accepts --json */

/*
 * Option values every command shares.  --help (-h) and --json are every
 * command's (main.c takes them out); --yes has the only other short form,
 * -y, wherever a command takes it.
 */
#define OPT_HELP	'h'
#define OPT_YES		'y'
#define OPT_JSON	0x100
#define YES_OPTION	{ "yes", no_argument, NULL, OPT_YES }

struct snapctl_ctx {
	bool json;
	const char *prog;
};

struct snapctl_cmd {
	const char *noun;	/* NULL for top-level verbs */
	const char *verb;
	const char *usage;	/* one line: arguments and options */
	const char *help;	/* what it does, one or more lines */
	/*
	 * Its options as getopt_long() takes them, NULL-terminated (NULL: none):
	 * the one list that next_option() (common.h) and main()'s search for
	 * --help and --json use, and that tests/unit/test_cli_table.c checks
	 * the help text and snapctl.8 against.
	 */
	const struct option *options;
	unsigned int flags;
	int (*run)(struct snapctl_ctx *ctx, int argc, char **argv);
};

/* Every command group's table, NULL-terminated (commands.c). */
extern const struct snapctl_cmd *const snapctl_command_tables[];

#define for_each_snapctl_cmd(cmd)						\
	for (const struct snapctl_cmd *const *t__ = snapctl_command_tables; *t__; t__++)	\
		for (const struct snapctl_cmd *cmd = *t__; cmd->verb; cmd++)

extern const struct snapctl_cmd snapctl_misc_cmds[];
extern const struct snapctl_cmd snapctl_offline_cmds[];
extern const struct snapctl_cmd snapctl_pool_cmds[];
extern const struct snapctl_cmd snapctl_disk_cmds[];
extern const struct snapctl_cmd snapctl_snapshot_cmds[];
extern const struct snapctl_cmd snapctl_export_cmds[];
extern const struct snapctl_cmd snapctl_policy_cmds[];
extern const struct snapctl_cmd snapctl_daemon_cmds[];
extern const struct snapctl_cmd snapctl_metrics_cmds[];

struct record;
/* A snapshot by id, name, or <disk>/<name>; prints the error and returns an exit code. */
int snapctl_find_snapshot(const char *pool, const char *spec, struct record *rec);

/*
 * 'snapctl metrics' of the pools named (all if @nr_pools is 0): the text
 * (malloc'd), or written to @path atomically, mode 0644.  *errors counts
 * what could not be read (left out, said on standard error).  -errno.
 */
int snapctl_metrics_text(char *const *pools, int nr_pools, char **text, size_t *len,
			 unsigned int *errors);
int snapctl_metrics_write(const char *path, char *const *pools, int nr_pools,
			  unsigned int *errors);

/* "  snapctl <noun> <verb> <usage>" */
void snapctl_print_command_line(FILE *out, const struct snapctl_cmd *cmd);
/* 'snapctl <noun> <verb> --help', on standard output. */
void snapctl_print_cmd_help(const struct snapctl_cmd *cmd);
int snapctl_usage_error(const struct snapctl_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* SNAPCTL_H */
