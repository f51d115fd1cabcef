/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by snapctl's command files.
 */
#ifndef SNAPCTL_COMMON_H
#define SNAPCTL_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "json.h"
#include "poolctl.h"
#include "snapctl.h"
#include "table.h"

/*
 * What parse_size() (poolctl.h) takes, in the help of every command that
 * takes a <size>; snapctl.8 says the same under "Names, snapshots and
 * sizes".
 */
#define SIZE_HELP \
	"A <size> is a number of bytes, optionally followed by K, M, G, T or P\n" \
	"(powers of 1024, either case), which may be followed by B or iB:\n" \
	"4096, 512M, 10G, 1GiB."

/*
 * How a <snapshot> argument is found (snapctl_find_snapshot()), in the help
 * of every command that takes one; snapctl.8 says the same under "Names,
 * snapshots and sizes".
 */
#define SNAPSHOT_HELP \
	"A <snapshot> is its id, its name, or <disk>/<name> (needed when several\n" \
	"disks have a snapshot of that name)."

/*
 * What --jobs does (export_chunks(), import_chunks()), in the help of every
 * command that takes it; snapctl.8 says it in each of their entries.
 */
#define JOBS_HELP \
	"--jobs <n> (1..64, default: the CPUs online) sets the threads that work on\n" \
	"chunks: for an export, those that hash, compress and encrypt (as many, at\n" \
	"least four, upload); for an import or a verify, those that fetch, check\n" \
	"and write (at least four by default)."

/*
 * What a 'list' command prints: with --json one JSON array (an object per
 * item, added through .j), else a table with @headers (rows through .t),
 * printed by listing_end().
 */
struct listing {
	bool json;
	struct json j;
	struct table t;
};
void listing_begin(struct listing *l, bool json, unsigned int nr_columns,
		   const char *const *headers);
void listing_end(struct listing *l);

/* Map a negative errno to snapctl's exit codes (snapctl.h). */
int exit_for_errno(int r);

/* Print "snapctl: <message>" and return @code. */
int fail_with(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A failed pool message: one line naming what failed and why, with a hint
 * for the usual causes; returns the exit code.
 */
int message_failed(const char *what, int r);

/*
 * getopt_long() over a command's arguments (argv[0] is the first argument,
 * not the verb) with its options from the command table, @cmd->options.
 * Unknown options and missing values become usage errors.  Returns the
 * option, -1 at the end, or '?' after printing the error.
 */
int next_option(const struct snapctl_cmd *cmd, int argc, char **argv, int *optind_out);

/*
 * What getopt_long() takes for @cmd: its options, then --help and --json,
 * which every command has; the short options -h, and -y if it has --yes.
 * main() looks for --help and --json with the same tables, so that it and
 * the command agree on which word is an option and which an option's value.
 */
#define MAX_CMD_OPTIONS 24
struct cmd_getopt {
	struct option longopts[MAX_CMD_OPTIONS + 3];
	char shortopts[4];
};
void cmd_getopt_tables(const struct snapctl_cmd *cmd, struct cmd_getopt *g);

/*
 * For commands that take no options (besides --help and --json, which main()
 * handles): a usage error naming the first word that looks like one, else 0.
 */
int no_options(const struct snapctl_cmd *cmd, int argc, char **argv);

/* The pool must be defined (config) and active (dm device present). */
int open_pool(const char *name, struct pool_config_file *cfg);

/* Ask "question [y/N]" on a TTY; false without one. */
bool confirm(const char *question);

/* Bytes per data block of an active pool. */
uint64_t pool_block_bytes(const char *pool);

/* Create the dm device of a disk (live head) if it is not there. */
int activate_disk(const char *pool, const struct record *disk);
/* Create the read-only view device @dev of snapshot @snap of @disk; -EEXIST if there. */
int create_snapshot_view(const char *pool, const struct record *disk, const struct record *snap,
			 const char *dev);
/* Is a dm device open (mounted, held)? */
bool device_in_use(const char *name);

/*
 * The policy store could not be read or written (@r from policy.h, @err its
 * description of a damaged file): print why and what to do; returns the
 * exit code (7 for a damaged store).
 */
int policy_store_failed(int r, const char *err);

#endif
