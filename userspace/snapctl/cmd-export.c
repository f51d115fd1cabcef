// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl export / import: snapshots to and from an object store
 * (Documentation/export-format.rst), and export list, verify, delete, gc,
 * and export serve / unserve: an export as a read-only block device, its
 * chunks fetched as they are read (nbdserve.h).
 *
 * An export reads the snapshot through a read-only view device.  A full
 * export reads only the chunk slots the kernel's diff against nothing says
 * are mapped; an incremental one only the slots the diff against the base
 * snapshot names, and takes every other slot's chunk from the base's
 * manifest.  An import writes into a new disk named "<name>.importing",
 * renamed when every chunk is in and verified, removed on failure.  The
 * manifest carries the snapshot's and the disk's descriptions and tags; the
 * restored disk gets them (restored_tags()).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "dmctl.h"
#include "exportlog.h"
#include "json.h"
#include "nbdserve.h"
#include "origin.h"
#include "readahead.h"
#include "repo.h"
#include "table.h"
#include "tagging.h"
#include "transfer.h"

static int cmd_export(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_import(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_export_list(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_export_verify(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_export_delete(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_export_gc(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_export_serve(struct snapctl_ctx *ctx, int argc, char **argv);
static int cmd_export_unserve(struct snapctl_ctx *ctx, int argc, char **argv);

enum { EXPORT_LIST, EXPORT_VERIFY, EXPORT_DELETE, EXPORT_GC, EXPORT_SERVE, EXPORT_UNSERVE,
       EXPORT, IMPORT };

/* What an import's disk is called until it is complete. */
#define IMPORTING_SUFFIX ".importing"

#define KEY_FILE_OPTION { "key-file", required_argument, NULL, 'k' }
#define JOBS_OPTION { "jobs", required_argument, NULL, 'j' }
#define WAIT_OPTION { "wait", no_argument, NULL, 'w' }
#define IMAGE_OPTION { "image", required_argument, NULL, 'i' }

static const struct option list_options[] = {
	KEY_FILE_OPTION,
	{ 0 }
};

static const struct option verify_options[] = {
	KEY_FILE_OPTION,
	JOBS_OPTION,
	{ 0 }
};

static const struct option delete_options[] = {
	KEY_FILE_OPTION,
	WAIT_OPTION,
	{ 0 }
};

static const struct option gc_options[] = {
	KEY_FILE_OPTION,
	{ "force", no_argument, NULL, 'f' },
	WAIT_OPTION,
	{ 0 }
};

static const struct option serve_options[] = {
	KEY_FILE_OPTION,
	{ "device", required_argument, NULL, 'D' },
	{ "cache", required_argument, NULL, 'm' },
	{ "prefetch", required_argument, NULL, 'p' },
	{ 0 }
};

static const struct option unserve_options[] = {
	{ "force", no_argument, NULL, 'f' },
	{ 0 }
};

static const struct option export_verb_options[] = {
	{ "base", required_argument, NULL, 'b' },
	{ "name", required_argument, NULL, 'n' },
	KEY_FILE_OPTION,
	{ "chunk-size", required_argument, NULL, 'c' },
	JOBS_OPTION,
	IMAGE_OPTION,
	{ 0 }
};

static const struct option import_options[] = {
	{ "size", required_argument, NULL, 's' },
	{ "resume", no_argument, NULL, 'r' },
	KEY_FILE_OPTION,
	JOBS_OPTION,
	IMAGE_OPTION,
	{ "instant", no_argument, NULL, 'I' },
	{ "rate", required_argument, NULL, 'R' },
	{ "wait", no_argument, NULL, 'w' },
	{ 0 }
};

#define URL_HELP "URL: file:///dir (or a plain path; the default kind) or s3://bucket/prefix,\n" \
		 "with S3 settings from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,\n" \
		 "AWS_SECRET_ACCESS_KEY or the file SNAPCTL_S3_CONFIG (default /etc/dm-row/s3.conf)."

const struct snapctl_cmd snapctl_export_cmds[] = {
	[EXPORT_LIST] = {
		.noun = "export", .verb = "list",
		.usage = "<url> [--key-file <file>] [--json]",
		.help = "List the exports at a URL: disk, snapshot, base, size, chunks.\n"
			"Interrupted exports are listed as such.  An encrypted repository\n"
			"made by this version hides the export names: listing it needs\n"
			"--key-file.\n" URL_HELP,
		.options = list_options,
		.flags = CMD_JSON,
		.run = cmd_export_list,
	},
	[EXPORT_VERIFY] = {
		.noun = "export", .verb = "verify",
		.usage = "<url> <export> [--key-file <file>] [--jobs <n>] [--json]",
		.help = "Fetch and check every chunk of an export (exit 7 if one is damaged\n"
			"or missing, naming it).\n\n" JOBS_HELP,
		.options = verify_options,
		.flags = CMD_JSON,
		.run = cmd_export_verify,
	},
	[EXPORT_DELETE] = {
		.noun = "export", .verb = "delete",
		.usage = "<url> <export> [--key-file <file>] [--wait] [--json]",
		.help = "Delete an export, then the chunks no other export needs.  Every\n"
			"other export stays restorable: none depends on another.  Refused\n"
			"(exit 4) while an export to the repository is running, from this\n"
			"or another host, unless --wait: then it waits for it to end.",
		.options = delete_options,
		.flags = CMD_JSON,
		.run = cmd_export_delete,
	},
	[EXPORT_GC] = {
		.noun = "export", .verb = "gc",
		.usage = "<url> [--key-file <file>] [--force] [--wait] [--json]",
		.help = "Delete the chunks no export references.  Refused while an export is\n"
			"interrupted (its chunks are not referenced yet) unless --force, and\n"
			"while one is running (it holds a lease) unless --wait, which waits.",
		.options = gc_options,
		.flags = CMD_JSON,
		.run = cmd_export_gc,
	},
	[EXPORT_SERVE] = {
		.noun = "export", .verb = "serve",
		.usage = "<url> <export> [--key-file <file>] [--device <device>] [--cache <size>]\n"
			 "          [--prefetch <n>] [--json]",
		.help = "Serve an export read-only as a block device at once: its chunks are\n"
			"fetched from the repository when they are read, verified, decrypted,\n"
			"kept in memory and read ahead of sequential reads (nbdkit with the\n"
			"dmrow plugin, on the kernel's NBD driver).  A chunk that cannot be\n"
			"fetched or is damaged fails the read with an I/O error, never wrong\n"
			"data.  Prints the device: --device, else the first free /dev/nbdN.\n"
			"The server runs until 'snapctl export unserve'.  --cache bounds the\n"
			"decoded chunks kept in memory (default 256M); --prefetch <n> (0..256,\n"
			"default 4) sets the chunks read ahead.\n" URL_HELP "\n\n" SIZE_HELP,
		.options = serve_options,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_export_serve,
	},
	[EXPORT_UNSERVE] = {
		.noun = "export", .verb = "unserve",
		.usage = "<device> [--force] [--json]",
		.help = "Disconnect a device 'snapctl export serve' made and stop its server.\n"
			"Refused (exit 4) while the device is mounted or under a device-mapper\n"
			"table, unless --force.",
		.options = unserve_options,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_export_unserve,
	},
	[EXPORT] = {
		.verb = "export",
		.usage = "<pool> <snapshot> <url> [--base <export>] [--name <export>]\n"
			 "          [--key-file <file>] [--chunk-size <size>] [--jobs <n>] [--json]\n"
			 "   or: snapctl export --image <device or file> <url> --name <export>\n"
			 "          [--key-file <file>] [--chunk-size <size>] [--jobs <n>] [--json]",
		.help = "Export a snapshot to an object store: every written chunk, or with\n"
			"--base only the chunks changed since that earlier export of the same\n"
			"disk's chain.  The export is named <disk>.<snapshot id> unless --name;\n"
			"it becomes visible when its manifest is written, last.  Run again, an\n"
			"interrupted export skips what is stored already.  --key-file encrypts\n"
			"a new repository (AES-256-GCM; the key is 32 bytes or 64 hex digits);\n"
			"--chunk-size sets a new repository's chunk size (default 4M).\n"
			"--image exports a block device or raw image file that is in no pool\n"
			"(a VM image, an LVM volume), fully, in the same format; holes and zero\n"
			"chunks are skipped.\n" URL_HELP "\n\n"
			"'snapctl export list', 'verify', 'delete', 'gc', 'serve' and 'unserve'\n"
			"are verbs of their own: to export from a pool named like one of them,\n"
			"end the options before the pool,\n"
			"'snapctl export [<options>] -- list <snapshot> <url>'.\n\n"
			SNAPSHOT_HELP "\n" JOBS_HELP "\n" SIZE_HELP,
		.options = export_verb_options,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_export,
	},
	[IMPORT] = {
		.verb = "import",
		.usage = "<url> <export> <pool> <new disk> [--size <size>] [--resume] [--key-file <file>]\n"
			 "          [--jobs <n>] [--json]\n"
			 "   or: snapctl import --instant <url> <export> <pool> <new disk> [--size <size>]\n"
			 "          [--key-file <file>] [--rate <size>/s] [--wait] [--json]\n"
			 "   or: snapctl import <url> <export> --image <new file or device> [--size <size>]\n"
			 "          [--resume] [--key-file <file>] [--jobs <n>] [--json]",
		.help = "Restore an export into a new disk of a pool, verifying every chunk.\n"
			"The disk is built as <new disk>.importing and renamed when complete; on\n"
			"failure it is removed.  An import that was killed leaves that disk:\n"
			"--resume continues into it, fetching only the chunks it lacks (any\n"
			"export may have been restored into it: every slot is checked).  With\n"
			"--resume a failure keeps the disk for the next --resume.\n"
			"--image restores into a raw image file (made, never overwritten) or\n"
			"a block device at least as large as the image, outside any pool.  The\n"
			"file is built as <file>.importing and renamed when complete, and\n"
			"--resume continues into it (or into the device) the same way.\n"
			"--size makes the new disk or image file larger than the export's image\n"
			"(the rest reads zeroes); it may not be smaller.\n"
			"--instant makes the disk usable at once: the export is served read-only\n"
			"on an NBD device (as by 'snapctl export serve') and is the new disk's\n"
			"external origin; chunks are fetched as they are read, and hydration\n"
			"copies the rest into the pool in the background (--rate caps it,\n"
			"default: as fast as it goes).  It prints the device as soon as it\n"
			"exists.  'snapctl disk list' shows the progress; once hydrated, the\n"
			"origin is taken away and the server stops ('snapctl disk hydrate\n"
			"--wait' does it; --wait here waits the same way).  The image's size\n"
			"must be a multiple of the pool's block size.\n\n" JOBS_HELP "\n"
			SIZE_HELP,
		.options = import_options,
		.flags = CMD_NEEDS_ROOT | CMD_JSON,
		.run = cmd_import,
	},
	{ 0 }
};

/*----------------------------------------------------------------*/

struct export_options {
	const char *image;
	const char *device;		/* serve */
	uint64_t cache;			/* serve: bytes, 0: the default */
	int prefetch;			/* serve: < 0: the default */
	const char *base;
	const char *name;
	const char *key_file;
	uint64_t chunk_size;
	uint64_t size;			/* import: of the new disk or file, 0: the image's */
	unsigned int jobs;
	bool force;
	bool wait;
	bool resume;
	bool instant;			/* import: serve and hydrate */
	const char *rate;		/* import --instant: the hydration rate */
};

static int parse_export_options(const struct snapctl_cmd *cmd, int argc, char **argv,
				struct export_options *o, int *ind)
{
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->prefetch = -1;
	while ((c = next_option(cmd, argc, argv, ind)) != -1) {
		switch (c) {
		case 'b':
			o->base = optarg;
			break;
		case 'n':
			if (!export_name_valid(optarg))
				return snapctl_usage_error(cmd, "'%s' is not a valid export name (1-100 of A-Z a-z 0-9 . _ -, not starting with '.')",
							   optarg);
			o->name = optarg;
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 'c':
			if (parse_size(optarg, &o->chunk_size) || o->chunk_size < REPO_MIN_CHUNK_SIZE ||
			    o->chunk_size > REPO_MAX_CHUNK_SIZE || o->chunk_size % 4096)
				return snapctl_usage_error(cmd, "chunk size must be a multiple of 4K from 64K to 64M, not '%s'",
							   optarg);
			break;
		case 'j':
			o->jobs = strtoul(optarg, &end, 10);
			if (*end || !o->jobs || o->jobs > TRANSFER_MAX_JOBS)
				return snapctl_usage_error(cmd, "--jobs takes 1..%d", TRANSFER_MAX_JOBS);
			break;
		case 'f':
			o->force = true;
			break;
		case 'w':
			o->wait = true;
			break;
		case 'i':
			o->image = optarg;
			break;
		case 'r':
			o->resume = true;
			break;
		case 'D':
			o->device = optarg;
			break;
		case 'I':
			o->instant = true;
			break;
		case 'R':
			o->rate = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &o->cache) || !o->cache)
				return snapctl_usage_error(cmd, "cache must be a positive size such as 256M, not '%s'",
							   optarg);
			break;
		case 'p':
			o->prefetch = strtol(optarg, &end, 10);
			if (*end || !*optarg || o->prefetch < 0 || o->prefetch > READAHEAD_MAX_WINDOW)
				return snapctl_usage_error(cmd, "--prefetch takes 0..%d",
							   READAHEAD_MAX_WINDOW);
			break;
		case 's':
			if (parse_size(optarg, &o->size) || !o->size)
				return snapctl_usage_error(cmd, "size must be a positive size such as 10G, not '%s'",
							   optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	return 0;
}

/*
 * The arguments of 'export list', 'verify', 'delete', 'gc', 'serve' and
 * 'unserve' (after the
 * options): @want of them, or a usage error.  'snapctl export list <snapshot>
 * <url>' meant to export from a pool named 'list', which 'snapctl export'
 * takes after '--': the error says so.
 */
static int export_noun_args(const struct snapctl_cmd *cmd, int argc, char **argv, int want,
			    const char *missing)
{
	if (argc < want)
		return snapctl_usage_error(cmd, "%s", missing);
	if (argc == 2 && want == 1)
		return snapctl_usage_error(cmd, "unexpected argument '%s' (to export a snapshot of a pool named '%s', end the options before the pool: 'snapctl export [<options>] -- %s %s %s')",
					   argv[1], cmd->verb, cmd->verb, argv[0], argv[1]);
	if (argc > want)
		return snapctl_usage_error(cmd, "unexpected argument '%s'", argv[want]);
	return 0;
}

static int repo_exit(struct repo *repo, int r)
{
	int code;

	switch (-r) {
	case EBADMSG:
		code = EXIT_CORRUPT;
		break;
	case EKEYREJECTED:
	case EACCES:
		code = EXIT_FAILURE_GENERIC;
		break;
	default:
		code = exit_for_errno(r);
	}
	return fail_with(code, "%s", repo->error[0] ? repo->error : strerror(-r));
}

static double mib(uint64_t bytes)
{
	return bytes / 1048576.0;
}

static void print_rate(const char *verb, const struct transfer_stats *s)
{
	printf("%s %.1f MiB in %.1f s (%.1f MiB/s)", verb, mib(s->bytes), s->seconds,
	       s->seconds > 0 ? mib(s->bytes) / s->seconds : 0.0);
	if (s->retries)
		printf(", %" PRIu64 " retries", s->retries);
	printf("\n");
}

/*----------------------------------------------------------------*/

/* Slots of @chunk bytes touched by block runs "<first>+<count>" of the diff. */
static int changed_slots(const char *pool, uint64_t disk, uint64_t from, uint64_t to,
			 uint64_t block_bytes, uint64_t chunk, uint64_t nr_slots,
			 uint64_t origin_bytes, uint64_t **slots_out, size_t *nr_out)
{
	struct record_list runs;
	uint64_t *slots = NULL, first, count, s, last;
	size_t nr = 0, cap = 0;
	unsigned int i;
	void *p;
	int r;

	r = poolctl_diff(pool, disk, from, to, &runs);
	if (r)
		return r;
	/*
	 * A full export of an image that reads an external origin where it
	 * maps nothing: the diff names only mapped blocks, so every slot the
	 * origin covers is read (a slot of zeroes is not stored anyway).
	 */
	if (!from && origin_bytes) {
		cap = (origin_bytes + chunk - 1) / chunk;
		if (cap > nr_slots)
			cap = nr_slots;
		slots = malloc((cap ? cap : 1) * sizeof(*slots));
		if (!slots) {
			record_list_free(&runs);
			return -ENOMEM;
		}
		for (nr = 0; nr < cap; nr++)
			slots[nr] = nr;
	}
	for (i = 0; i < runs.nr && !r; i++) {
		if (!strcmp(runs.records[i].kind, "end"))
			continue;
		if (sscanf(runs.records[i].kind, "%" SCNu64 "+%" SCNu64, &first, &count) != 2 ||
		    !count) {
			r = -EPROTO;
			break;
		}
		last = ((first + count) * block_bytes - 1) / chunk;
		for (s = first * block_bytes / chunk; s <= last && s < nr_slots; s++) {
			if (nr && slots[nr - 1] >= s)
				continue;	/* runs are in order; slots may repeat */
			if (nr == cap) {
				cap = cap ? 2 * cap : 1024;
				p = realloc(slots, cap * sizeof(*slots));
				if (!p) {
					r = -ENOMEM;
					break;
				}
				slots = p;
			}
			slots[nr++] = s;
		}
	}
	record_list_free(&runs);
	if (r) {
		free(slots);
		return r;
	}
	*slots_out = slots;
	*nr_out = nr;
	return 0;
}

static void manifest_json(struct json *j, const struct manifest *m)
{
	json_string(j, "name", m->name);
	json_string(j, "pool", m->pool);
	json_string(j, "pool_uuid", m->pool_uuid);
	json_string(j, "disk", m->disk);
	json_u64(j, "disk_id", m->disk_id);
	json_string(j, "snapshot", m->snapshot);
	json_u64(j, "snapshot_id", m->snapshot_id);
	json_u64(j, "snapshot_time", m->snapshot_time);
	json_string(j, "base", m->base[0] ? m->base : NULL);
	json_u64(j, "image_bytes", m->image_bytes);
	json_u64(j, "chunk_size", m->chunk_size);
	json_u64(j, "stored_chunks", m->stored_chunks);
	json_u64(j, "read_chunks", m->read_chunks);
	json_u64(j, "new_chunks", m->new_chunks);
	json_u64(j, "new_bytes", m->new_bytes);
	json_u64(j, "created", m->created);
	json_string(j, "root", m->root);
	tags_json(j, &m->tags);
	json_begin_object(j, "source_disk");
	tags_json(j, &m->disk_tags);
	json_end_object(j);
}

static void stats_json(struct json *j, const struct transfer_stats *s)
{
	json_begin_object(j, "transfer");
	json_u64(j, "bytes", s->bytes);
	json_u64(j, "chunks", s->chunks);
	json_u64(j, "zero_chunks", s->zero_chunks);
	json_u64(j, "already_stored_chunks", s->stored_chunks);
	json_u64(j, "uploaded_chunks", s->new_chunks);
	json_u64(j, "uploaded_bytes", s->new_bytes);
	json_u64(j, "retries", s->retries);
	json_u64(j, "milliseconds", (uint64_t)(s->seconds * 1000));
	json_end_object(j);
}

/* The base export: same pool and disk, its snapshot still in the pool. */
static int load_base(struct repo *repo, struct chunk_codec *codec, const char *name,
		     const struct manifest *m, const char *pool, struct manifest *base)
{
	struct record snap;
	char idbuf[32];
	int r;

	r = manifest_read(repo, name, base);
	if (r)
		return repo_exit(repo, r);
	if (strcmp(base->pool_uuid, m->pool_uuid) || base->disk_id != m->disk_id) {
		manifest_free(base);
		return fail_with(EXIT_USAGE, "export '%s' is of disk %s of pool %s, not of this disk's chain: an incremental export needs an earlier export of the same disk",
				 name, base->disk, base->pool);
	}
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, base->snapshot_id);
	r = pool_find_snapshot(pool, m->disk_id, idbuf, &snap);
	if (r) {
		manifest_free(base);
		return fail_with(EXIT_NOT_FOUND, "snapshot %" PRIu64 " of export '%s' is no longer in pool '%s': export without --base (chunks already stored are not sent again)",
				 base->snapshot_id, name, pool);
	}
	record_free(&snap);
	r = manifest_load_entries(repo, codec, base);
	if (r) {
		manifest_free(base);
		return repo_exit(repo, r);
	}
	return 0;
}

/* What an export reads: the snapshot's view, removed once read if made for it. */
struct export_source {
	int fd;
	const char *view;		/* the view to remove, or NULL */
	bool removed;
};

/*
 * The source is read: close it and remove the view.  Called by the export's
 * reader as soon as it is done, so that the removal (RCU grace periods,
 * udev) overlaps the hashing and uploading; called again at the end.
 */
static void release_source(void *arg)
{
	struct export_source *src = arg;

	if (src->fd >= 0)
		close(src->fd);
	src->fd = -1;
	if (src->view && !src->removed) {
		src->removed = true;
		if (dmctl_remove(src->view))
			fprintf(stderr, "snapctl: could not remove the view /dev/mapper/%s\n",
				src->view);
	}
}

static int do_export(struct snapctl_ctx *ctx, struct repo *repo, const struct export_options *o,
		     struct manifest *m, const char *pool, const char *dev, const char *view,
		     uint64_t origin_bytes)
{
	struct chunk_codec *codec = chunk_codec_new(&repo->keys, repo->chunk_size);
	struct export_source src = { .fd = -1, .view = view };
	struct manifest base = { 0 };
	struct transfer_stats stats;
	struct repo_lease *lease = NULL;
	uint64_t *slots = NULL;
	size_t nr_slots = 0;
	int r, code = EXIT_OK;

	if (!codec) {
		release_source(&src);
		return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	}
	m->chunk_size = repo->chunk_size;
	if (o->base) {
		code = load_base(repo, codec, o->base, m, pool, &base);
		if (code)
			goto out;
		snprintf(m->base, sizeof(m->base), "%s", o->base);
	}
	r = changed_slots(pool, m->disk_id, o->base ? base.snapshot_id : 0, m->snapshot_id,
			  m->block_bytes, repo->chunk_size, manifest_slots(m), origin_bytes, &slots,
			  &nr_slots);
	if (r) {
		code = message_failed("finding the changed blocks", r);
		goto out;
	}
	src.fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (src.fd < 0) {
		code = fail_with(EXIT_FAILURE_GENERIC, "cannot open %s: %s", dev, strerror(errno));
		goto out;
	}
	/* held until the manifest is written: no gc deletes what we count as stored */
	r = repo_lease_take(repo, "export", 0, &lease);
	if (!r)
		r = repo_mark_pending(repo, m->name);
	if (!r)
		r = export_chunks_then(repo, src.fd, slots, nr_slots, o->base ? &base : NULL, m,
				       o->jobs, !ctx->json, &stats, release_source, &src);
	release_source(&src);
	if (!r)
		r = manifest_write(repo, codec, m);
	if (!r)
		r = repo_clear_pending(repo, m->name);
	if (r) {
		code = repo_exit(repo, r);
		fprintf(stderr, "snapctl: export '%s' is incomplete; run the same command again to finish it\n",
			m->name);
		goto out;
	}
	if (ctx->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		manifest_json(&j, m);
		stats_json(&j, &stats);
		json_end_object(&j);
		json_finish(&j);
	} else {
		printf("exported %s of disk %s to %s as '%s' (%s%s)\n",
		       m->snapshot[0] ? m->snapshot : "snapshot", m->disk, repo->url, m->name,
		       o->base ? "incremental from " : "full", o->base ? o->base : "");
		printf("%" PRIu64 " chunks read, %" PRIu64 " uploaded (%.1f MiB), %" PRIu64 " already stored, %" PRIu64 " zero; the image has %" PRIu64 " chunks\n",
		       stats.chunks, stats.new_chunks, mib(stats.new_bytes), stats.stored_chunks,
		       stats.zero_chunks, m->stored_chunks);
		print_rate("read", &stats);
	}
out:
	repo_lease_release(lease);
	release_source(&src);
	free(slots);
	manifest_free(&base);
	chunk_codec_free(codec);
	return code;
}

/*
 * The slots of the image file @fd holding data: SEEK_DATA / SEEK_HOLE
 * skip holes; a device (or a file system without them) gives every slot.
 */
static int image_slots(int fd, uint64_t bytes, uint64_t chunk, uint64_t **slots_out,
		       size_t *nr_out)
{
	uint64_t nr_slots = (bytes + chunk - 1) / chunk, *slots, s;
	off_t data = 0, hole;
	size_t nr = 0;

	slots = malloc((nr_slots ? nr_slots : 1) * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (;;) {
		data = lseek(fd, data, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break;			/* no more data */
			for (nr = 0; nr < nr_slots; nr++)	/* no holes known */
				slots[nr] = nr;
			break;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > bytes)
			hole = bytes;
		for (s = data / chunk; s < nr_slots && s * chunk < (uint64_t)hole; s++)
			if (!nr || slots[nr - 1] < s)
				slots[nr++] = s;
		if ((uint64_t)hole >= bytes)
			break;
		data = hole;
	}
	*slots_out = slots;
	*nr_out = nr;
	return 0;
}

/* snapctl export --image PATH URL --name N: a device or file in no pool. */
static int export_image(struct snapctl_ctx *ctx, const struct snapctl_cmd *cmd,
			const struct export_options *o, const char *url)
{
	struct chunk_codec *codec = NULL;
	struct manifest m = { 0 }, existing;
	struct transfer_stats stats;
	struct repo_lease *lease = NULL;
	uint64_t *slots = NULL, bytes;
	size_t nr_slots = 0;
	struct repo repo;
	const char *base;
	struct stat st;
	int fd, r, code = EXIT_OK;

	if (o->base)
		return snapctl_usage_error(cmd, "--image exports are full: --base does not apply");
	if (!o->name)
		return snapctl_usage_error(cmd, "--image needs --name <export>");
	fd = open(o->image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_with(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_FAILURE_GENERIC,
				 "cannot open %s: %s", o->image, strerror(errno));
	if (fstat(fd, &st) || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		close(fd);
		return fail_with(EXIT_USAGE, "%s is neither a block device nor a regular file", o->image);
	}
	if (S_ISBLK(st.st_mode) ? ioctl(fd, BLKGETSIZE64, &bytes) : (bytes = st.st_size, 0)) {
		code = fail_with(EXIT_FAILURE_GENERIC, "cannot get the size of %s: %s", o->image,
				 strerror(errno));
		close(fd);
		return code;
	}
	if (!bytes) {
		close(fd);
		return fail_with(EXIT_USAGE, "%s is empty: nothing to export", o->image);
	}
	base = strrchr(o->image, '/') ? strrchr(o->image, '/') + 1 : o->image;
	snprintf(m.name, sizeof(m.name), "%s", o->name);
	snprintf(m.disk, sizeof(m.disk), "%s", base);
	m.image_bytes = bytes;
	m.block_bytes = 512;
	m.snapshot_time = st.st_mtime;

	r = repo_open(&repo, url, o->key_file, o->chunk_size, REPO_CREATE);
	if (r) {
		code = repo_exit(&repo, r);
		goto out;
	}
	r = manifest_read(&repo, m.name, &existing);
	if (!r) {
		manifest_free(&existing);
		code = fail_with(EXIT_REFUSED, "%s has an export named '%s' already; choose another --name or delete it",
				 repo.url, m.name);
		goto out;
	}
	if (r != -ENOENT) {
		code = repo_exit(&repo, r);
		goto out;
	}
	codec = chunk_codec_new(&repo.keys, repo.chunk_size);
	r = codec ? image_slots(fd, bytes, repo.chunk_size, &slots, &nr_slots) : -ENOMEM;
	if (!r)
		r = repo_lease_take(&repo, "export", 0, &lease);
	if (!r)
		r = repo_mark_pending(&repo, m.name);
	if (!r)
		r = export_chunks(&repo, fd, slots, nr_slots, NULL, &m, o->jobs, !ctx->json, &stats);
	if (!r)
		r = manifest_write(&repo, codec, &m);
	if (!r)
		r = repo_clear_pending(&repo, m.name);
	if (r) {
		code = repo_exit(&repo, r);
		fprintf(stderr, "snapctl: export '%s' is incomplete; run the same command again to finish it\n",
			m.name);
		goto out;
	}
	if (ctx->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		manifest_json(&j, &m);
		json_string(&j, "image", o->image);
		stats_json(&j, &stats);
		json_end_object(&j);
		json_finish(&j);
	} else {
		printf("exported %s to %s as '%s' (full)\n", o->image, repo.url, m.name);
		printf("%" PRIu64 " chunks read, %" PRIu64 " uploaded (%.1f MiB), %" PRIu64 " already stored, %" PRIu64 " zero; the image has %" PRIu64 " chunks\n",
		       stats.chunks, stats.new_chunks, mib(stats.new_bytes), stats.stored_chunks,
		       stats.zero_chunks, m.stored_chunks);
		print_rate("read", &stats);
	}
out:
	repo_lease_release(lease);
	chunk_codec_free(codec);
	free(slots);
	manifest_free(&m);
	repo_close(&repo);
	close(fd);
	return code;
}

/* The export log (exportlog.h) of the disk: what 'snapctl metrics' reports. */
static void log_export(const struct manifest *m, bool ok)
{
	char path[PATH_MAX];
	int r;

	r = export_log_record(m->pool, m->pool_uuid, m->disk_id, m->name, time(NULL), ok,
			      (int64_t)m->created);
	if (r)
		fprintf(stderr, "snapctl: warning: cannot record the export in %s: %s\n",
			export_log_path(path, sizeof(path)), strerror(-r));
}

/*
 * The manifest of an export of @snap of @disk (what the pool says, with
 * the snapshot's and the disk's tags), named --name or <disk>.<snapshot id>.
 */
static int export_manifest_init(const char *pool, const struct record *snap,
				const struct record *disk, const struct export_options *o,
				struct manifest *m)
{
	struct pool_tags tags;
	struct record info;
	size_t i;
	int r;

	r = pool_info(pool, &info);
	if (r)
		return message_failed("looking up the snapshot's disk", r);
	snprintf(m->pool, sizeof(m->pool), "%s", pool);
	snprintf(m->pool_uuid, sizeof(m->pool_uuid), "%s", record_get(&info, "uuid"));
	m->block_bytes = record_u64(&info, "block_size") << 9;
	record_free(&info);
	m->disk_id = record_u64(disk, "id");
	if (record_get(disk, "name"))
		snprintf(m->disk, sizeof(m->disk), "%s", record_get(disk, "name"));
	else
		snprintf(m->disk, sizeof(m->disk), "%" PRIu64, m->disk_id);
	snprintf(m->snapshot, sizeof(m->snapshot), "%s",
		 record_get(snap, "name") ? record_get(snap, "name") : "");
	m->snapshot_id = record_u64(snap, "id");
	m->snapshot_time = record_u64(snap, "created");
	m->image_bytes = record_u64(snap, "size") << 9;

	r = pool_tags_load(pool, &tags, false);
	if (r)
		return r;
	if (tag_set_copy(&m->tags, snapshot_tags(&tags, m->snapshot_id)) ||
	    tag_set_copy(&m->disk_tags, disk_tags(&tags, disk)))
		r = fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	pool_tags_free(&tags);
	if (r)
		return r;

	if (o->name) {
		snprintf(m->name, sizeof(m->name), "%s", o->name);
		return 0;
	}
	snprintf(m->name, sizeof(m->name), "%.63s.%" PRIu64, m->disk, m->snapshot_id);
	for (i = 0; m->name[i]; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", m->name[i]) ||
		    (!i && m->name[i] == '.'))
			m->name[i] = '_';
	return 0;
}

/* Open the repository at @url for a new export @m->name, based on --base if given. */
static int export_repo_open(const struct snapctl_cmd *cmd, struct repo *repo, const char *url,
			    const struct export_options *o, const struct manifest *m)
{
	struct manifest existing;
	int r;

	r = repo_open(repo, url, o->key_file, o->chunk_size, REPO_CREATE);
	if (r)
		return repo_exit(repo, r);
	r = manifest_read(repo, m->name, &existing);
	if (!r) {
		manifest_free(&existing);
		return fail_with(EXIT_REFUSED, "%s has an export named '%s' already; choose another --name or delete it",
				 repo->url, m->name);
	}
	if (r != -ENOENT)
		return repo_exit(repo, r);
	if (o->base && !strcmp(o->base, m->name))
		return snapctl_usage_error(cmd, "an export cannot be its own base");
	return 0;
}

/* Export @snap through a read-only view of it (one made here goes again, once read). */
static int export_through_view(struct snapctl_ctx *ctx, struct repo *repo,
			       const struct export_options *o, struct manifest *m,
			       const char *pool, const struct record *disk,
			       const struct record *snap)
{
	char dev[300], path[320];
	uint64_t origin_bytes = 0;
	int r;

	view_device_name(pool, disk, snap, dev, sizeof(dev));
	r = create_snapshot_view(pool, disk, snap, dev);
	if (r && r != -EEXIST)
		return fail_with(exit_for_errno(r), "cannot create the view /dev/mapper/%s: %s", dev,
				 strerror(-r));
	snprintf(path, sizeof(path), "/dev/mapper/%s", dev);
	/* Unmapped blocks below an origin not yet hydrated read the origin. */
	if (record_u64(disk, "hydrated") < record_u64(disk, "external_origin"))
		origin_bytes = record_u64(disk, "external_origin") << 9;
	return do_export(ctx, repo, o, m, pool, path, r ? NULL : dev, origin_bytes);
}

static int cmd_export(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_export_cmds[EXPORT];
	struct pool_config_file cfg;
	struct export_options o;
	struct record snap, disk;
	struct manifest m = { 0 };
	struct repo repo;
	char idbuf[32];
	int ind, r, code;

	code = parse_export_options(cmd, argc, argv, &o, &ind);
	if (code)
		return code;
	if (o.image) {
		if (argc - ind != 1)
			return snapctl_usage_error(cmd, argc - ind < 1 ? "--image expects a URL" :
						   "unexpected argument '%s'", argv[ind + 1]);
		return export_image(ctx, cmd, &o, argv[ind]);
	}
	if (argc - ind != 3)
		return snapctl_usage_error(cmd, argc - ind < 3 ? "expects a pool, a snapshot and a URL" :
					   "unexpected argument '%s'", argv[ind + 3]);
	code = open_pool(argv[ind], &cfg);
	if (!code)
		code = snapctl_find_snapshot(cfg.name, argv[ind + 1], &snap);
	if (code)
		return code;
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, record_u64(&snap, "disk"));
	r = pool_find_disk(cfg.name, idbuf, &disk);
	if (r) {
		record_free(&snap);
		return message_failed("looking up the snapshot's disk", r);
	}
	code = export_manifest_init(cfg.name, &snap, &disk, &o, &m);
	if (code)
		goto out_records;
	code = export_repo_open(cmd, &repo, argv[ind + 2], &o, &m);
	if (!code)
		code = export_through_view(ctx, &repo, &o, &m, cfg.name, &disk, &snap);
	log_export(&m, code == EXIT_OK);
	repo_close(&repo);
out_records:
	manifest_free(&m);
	record_free(&disk);
	record_free(&snap);
	return code;
}

/*----------------------------------------------------------------*/

/* Open @url's repository and read export @name with its chunk lists. */
static int open_export(struct repo *repo, const char *url, const char *name,
		       const char *key_file, struct manifest *m)
{
	struct chunk_codec *codec;
	int r;

	r = repo_open(repo, url, key_file, 0, 0);
	if (!r)
		r = manifest_read(repo, name, m);
	if (r)
		return repo_exit(repo, r);
	codec = chunk_codec_new(&repo->keys, repo->chunk_size);
	if (!codec)
		return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	r = manifest_load_entries(repo, codec, m);
	chunk_codec_free(codec);
	return r ? repo_exit(repo, r) : 0;
}

/* Remove a half-imported disk: its device, then the disk itself. */
static void discard_import(const char *pool, const struct record *disk)
{
	char dev[256];

	disk_device_name(pool, disk, dev, sizeof(dev));
	dmctl_remove(dev);
	if (poolctl_remove_disk(pool, record_u64(disk, "id")))
		fprintf(stderr, "snapctl: could not remove the incomplete disk %s; remove it with 'snapctl disk remove %s %s'\n",
			record_get(disk, "name"), pool, record_get(disk, "name"));
}

static int write_import(struct snapctl_ctx *ctx, struct repo *repo, const struct manifest *m,
			const char *pool, const struct record *disk, unsigned int jobs,
			unsigned int flags, struct transfer_stats *stats)
{
	char dev[256], path[300];
	int fd, r;

	disk_device_name(pool, disk, dev, sizeof(dev));
	snprintf(path, sizeof(path), "/dev/mapper/%s", dev);
	fd = open(path, ((flags & IMPORT_RESUME) ? O_RDWR : O_WRONLY) | O_CLOEXEC);
	if (fd < 0)
		return fail_with(EXIT_FAILURE_GENERIC, "cannot open %s: %s", path, strerror(errno));
	r = import_chunks(repo, m, fd, jobs, flags, !ctx->json, stats);
	if (!r && fsync(fd))
		r = -errno;
	close(fd);
	if (r)
		return repo_exit(repo, r);
	return 0;
}

static int size_too_small(uint64_t size, uint64_t image_bytes)
{
	char a[32], b[32];

	return fail_with(EXIT_USAGE, "--size %s (%" PRIu64 " bytes) is smaller than the export's image, %s (%" PRIu64 " bytes): the new disk must hold it",
			 human_bytes(size, a, sizeof(a)), size, human_bytes(image_bytes, b, sizeof(b)),
			 image_bytes);
}

/*
 * Open the image file an import writes: "<path>.importing", made new
 * (0600, never over an existing file) or, with @resume, the one a killed
 * import left.  The final name must not exist.
 */
static int open_importing_file(const struct export_options *o, const struct manifest *m,
			       const char *temp, bool *made)
{
	struct stat st;
	int fd;

	*made = false;
	if (!lstat(o->image, &st)) {
		errno = EEXIST;
		return fail_with(EXIT_REFUSED, "cannot create %s: %s (an image is restored into a new file only)",
				 o->image, strerror(EEXIST));
	}
	if (o->resume) {
		fd = open(temp, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return fail_with(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_FAILURE_GENERIC,
					 "cannot open %s to resume: %s", temp, strerror(errno));
		if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			close(fd);
			return fail_with(EXIT_REFUSED, "%s is not a regular file: not resumed", temp);
		}
	} else {
		fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST)
			return fail_with(EXIT_REFUSED, "%s is an import that did not finish: continue it with --resume, or remove it",
					 temp);
		if (fd < 0)
			return fail_with(exit_for_errno(-errno), "cannot create %s: %s", temp,
					 strerror(errno));
		*made = true;
	}
	if (ftruncate(fd, o->size ? o->size : m->image_bytes)) {
		int err = errno;

		close(fd);
		return fail_with(exit_for_errno(-err), "cannot size %s: %s", temp, strerror(err));
	}
	return -fd - 1;		/* a descriptor, told apart from an exit status */
}

/* Rename @temp to @path unless @path exists, and make it durable. */
static int publish_image(const char *temp, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int dfd, r = 0;

	if (renameat2(AT_FDCWD, temp, AT_FDCWD, path, RENAME_NOREPLACE))
		return -errno;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd))
			r = -errno;
		close(dfd);
	}
	return r;
}

/*
 * snapctl import URL EXPORT --image PATH: into a new file or a device.
 * A file is written as "<path>.importing" and renamed when complete, so
 * a killed import never leaves a file that looks restored; --resume
 * continues into that file (or into the device), reading every slot
 * first and fetching only the chunks that are not in place.
 */
static int import_image(struct snapctl_ctx *ctx, const struct export_options *o,
			const char *url, const char *name)
{
	struct transfer_stats stats;
	struct manifest m = { 0 };
	struct repo repo;
	struct stat st;
	char temp[PATH_MAX];
	uint64_t bytes = 0;
	unsigned int flags = o->resume ? IMPORT_RESUME : 0;
	bool made = false, device = false;
	int fd = -1, r, code;

	code = open_export(&repo, url, name, o->key_file, &m);
	if (code)
		goto out;
	if (o->size && o->size < m.image_bytes) {
		code = size_too_small(o->size, m.image_bytes);
		goto out;
	}
	if (snprintf(temp, sizeof(temp), "%s.importing", o->image) >= (int)sizeof(temp)) {
		code = fail_with(EXIT_USAGE, "%s: the path is too long", o->image);
		goto out;
	}
	if (!stat(o->image, &st) && S_ISBLK(st.st_mode)) {
		device = true;
		if (o->size) {
			code = fail_with(EXIT_USAGE, "--size applies to a new image file, not to the device %s",
					 o->image);
			goto out;
		}
		fd = open(o->image, (o->resume ? O_RDWR : O_WRONLY) | O_CLOEXEC | O_EXCL);
		if (fd < 0) {
			code = fail_with(exit_for_errno(-errno), "cannot open %s: %s", o->image,
					 strerror(errno));
			goto out;
		}
		if (ioctl(fd, BLKGETSIZE64, &bytes))
			bytes = 0;
		if (bytes < m.image_bytes) {
			code = fail_with(EXIT_NO_SPACE, "%s holds %" PRIu64 " bytes; the image has %" PRIu64,
					 o->image, bytes, m.image_bytes);
			goto out;
		}
	} else {
		r = open_importing_file(o, &m, temp, &made);
		if (r >= 0) {
			code = r;
			goto out;
		}
		fd = -r - 1;
	}
	r = import_chunks(&repo, &m, fd, o->jobs, flags, !ctx->json, &stats);
	if (!r && fsync(fd))
		r = -errno;
	if (r) {
		code = repo_exit(&repo, r);
		if (!device && o->resume)
			fprintf(stderr, "snapctl: %s kept: run the same command with --resume again\n",
				temp);
		else if (!device)
			fprintf(stderr, "snapctl: removed %s\n", temp);
		goto out;
	}
	if (!device) {
		r = publish_image(temp, o->image);
		if (r) {
			code = fail_with(r == -EEXIST ? EXIT_REFUSED : exit_for_errno(r),
					 "cannot rename %s to %s: %s", temp, o->image, strerror(-r));
			made = false;	/* whole: keep it */
			goto out;
		}
	}
	made = false;
	if (ctx->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		json_string(&j, "export", m.name);
		json_string(&j, "image", o->image);
		json_u64(&j, "image_bytes", m.image_bytes);
		stats_json(&j, &stats);
		json_end_object(&j);
		json_finish(&j);
	} else {
		printf("restored '%s' into %s, %" PRIu64 " chunks verified\n", m.name, o->image,
		       stats.chunks);
		if (flags & IMPORT_RESUME)
			printf("resumed: %" PRIu64 " chunks were in place already\n", stats.stored_chunks);
		print_rate("wrote", &stats);
	}
out:
	if (fd >= 0)
		close(fd);
	if (made && !o->resume)
		unlink(temp);
	manifest_free(&m);
	repo_close(&repo);
	return code;
}

/*
 * What the restored disk is tagged with: the exported disk's description
 * and tags, with the snapshot's tags on top (its value wins for a key both
 * have) and the snapshot's description if it has one.  Tags past the limit
 * are left out, with a warning.
 */
static void restored_tags(const struct manifest *m, struct tag_set *out)
{
	unsigned int i;

	if (tag_set_copy(out, &m->disk_tags))
		memset(out, 0, sizeof(*out));
	if (m->tags.description && m->tags.description[0])
		tag_set_describe(out, m->tags.description);
	for (i = 0; i < m->tags.nr; i++)
		if (tag_set_put(out, m->tags.tags[i].key, m->tags.tags[i].value) == -E2BIG)
			fprintf(stderr, "snapctl: warning: tag '%s' of the snapshot is left out: a disk has at most %d tags\n",
				m->tags.tags[i].key, TAGS_MAX);
}

/* Give the restored disk its tags (replacing any entry a reused disk id left). */
static int restore_tags(const char *pool, const struct record *disk, const struct manifest *m,
			struct tag_set *restored)
{
	int r;

	restored_tags(m, restored);
	r = tags_replace(pool, TAG_DISK, record_u64(disk, "id"), record_u64(disk, "created"),
			 restored);
	if (r)
		fprintf(stderr, "snapctl: the disk was restored, but without its tags and description; set them with 'snapctl disk tag'\n");
	return r;
}

/*
 * The disk an import writes into, @temp_name of @sectors: the one an
 * interrupted import left, with --resume (*flags gets IMPORT_RESUME), or a
 * new one.  0 with its record in @disk, or the exit code.
 */
static int import_disk(const struct export_options *o, const char *pool, const char *temp_name,
		       const struct manifest *m, uint64_t sectors, struct record *disk,
		       unsigned int *flags)
{
	char idbuf[32];
	uint64_t id;
	int r;

	if (!pool_find_disk(pool, temp_name, disk)) {
		/* an import that was killed (or failed with --resume) */
		if (!o->resume) {
			record_free(disk);
			return fail_with(EXIT_REFUSED, "pool '%s' holds '%s', an import that did not finish: continue it with --resume, or remove that disk",
					 pool, temp_name);
		}
		/* Without --size, any size that holds the image: it may have been given before. */
		if (o->size ? record_u64(disk, "size") != sectors : record_u64(disk, "size") < sectors) {
			r = fail_with(EXIT_REFUSED, "'%s' has %" PRIu64 " sectors, export '%s' needs %" PRIu64 ": remove that disk and import again",
				      temp_name, record_u64(disk, "size"), m->name, sectors);
			record_free(disk);
			return r;
		}
		*flags |= IMPORT_RESUME;
		return 0;
	}
	id = pool_next_disk_id(pool);
	r = poolctl_create_disk(pool, id, sectors, temp_name);
	if (r)
		return message_failed("creating the disk to import into", r);
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, id);
	r = pool_find_disk(pool, idbuf, disk);
	if (r)
		return message_failed("looking up the new disk", r);
	return 0;
}

/* Complete and verified: give the disk its name (its device is named after it). */
static int import_name_disk(const char *pool, struct record *disk, const char *name)
{
	uint64_t id = record_u64(disk, "id");
	char dev[256], idbuf[32];
	int r;

	disk_device_name(pool, disk, dev, sizeof(dev));
	dmctl_remove(dev);
	r = poolctl_set_disk_name(pool, id, name);
	if (!r) {
		record_free(disk);
		snprintf(idbuf, sizeof(idbuf), "%" PRIu64, id);
		r = pool_find_disk(pool, idbuf, disk);
		if (!r)
			r = activate_disk(pool, disk);
		else
			memset(disk, 0, sizeof(*disk));
	}
	return r ? message_failed("naming the restored disk", r) : 0;
}

static void import_report(struct snapctl_ctx *ctx, const struct manifest *m, const char *pool,
			  const char *name, const struct record *disk,
			  const struct tag_set *restored, const struct transfer_stats *stats,
			  unsigned int flags)
{
	uint64_t id = record_u64(disk, "id");
	char dev[256], path[300];
	struct json j;

	disk_device_name(pool, disk, dev, sizeof(dev));
	if (!ctx->json) {
		printf("restored '%s' into disk %s of pool %s: /dev/mapper/%s (id %" PRIu64 "), %" PRIu64 " chunks verified\n",
		       m->name, name, pool, dev, id, stats->chunks);
		if (flags & IMPORT_RESUME)
			printf("resumed: %" PRIu64 " chunks were in place already\n", stats->stored_chunks);
		print_rate("wrote", stats);
		return;
	}
	snprintf(path, sizeof(path), "/dev/mapper/%s", dev);
	json_init(&j, stdout);
	json_begin_object(&j, NULL);
	json_string(&j, "export", m->name);
	json_string(&j, "pool", pool);
	json_string(&j, "disk", name);
	json_u64(&j, "disk_id", id);
	json_string(&j, "device", path);
	json_u64(&j, "image_bytes", m->image_bytes);
	tags_json(&j, restored);
	stats_json(&j, stats);
	json_end_object(&j);
	json_finish(&j);
}

/*
 * snapctl import --instant: serve export @m of @url, create disk @name of
 * the image's size (or --size) with it as the external origin, make its
 * device and start hydration.  Nothing half made on failure: no disk, no
 * record, and no server that no other disk uses.
 */
static int import_instant(struct snapctl_ctx *ctx, const struct export_options *o,
			  const char *url, const struct manifest *m, const char *pool,
			  const char *name)
{
	struct origin or = { 0 };
	struct tag_set restored = { 0 };
	struct record disk;
	uint64_t block, sectors, rate = 0, id, served = 0;
	char device[NBD_DEVICE_MAX], why[512], idbuf[32], dev[256];
	int fd, r, code;

	if (o->rate && (parse_rate(o->rate, &rate) || rate > INT64_MAX))
		return fail_with(EXIT_USAGE, "--rate takes a size per second such as 8M/s (0: as fast as it goes), not '%s'",
				 o->rate);
	block = pool_block_bytes(pool);
	if (!m->image_bytes || m->image_bytes % block)
		return fail_with(EXIT_USAGE, "the image of export '%s' holds %" PRIu64 " bytes, not a multiple of pool %s's block size (%" PRIu64 " bytes): import it without --instant",
				 m->name, m->image_bytes, pool, block);
	sectors = m->image_bytes >> 9;
	if (o->size && disk_sectors_at_least(o->size, block, sectors, &sectors))
		return o->size < m->image_bytes ? size_too_small(o->size, m->image_bytes) :
		       fail_with(EXIT_USAGE, "size must be at most 8 EiB");
	snprintf(or.url, sizeof(or.url), "%s", url);
	snprintf(or.export_name, sizeof(or.export_name), "%s", m->name);
	if (o->key_file)
		snprintf(or.key_file, sizeof(or.key_file), "%s", o->key_file);
	/* the server refuses the export if it is ever made again as other data */
	snprintf(or.root, sizeof(or.root), "%s", m->root);
	or.hydrate = true;
	or.rate = rate;
	if (!origin_valid(&or))
		return fail_with(EXIT_USAGE, "the URL or the key file's path is too long");

	r = origin_serve(&or, device, sizeof(device), why, sizeof(why));
	if (r)
		return fail_with(exit_for_errno(r), "cannot serve export '%s': %s", m->name, why);
	fd = open(device, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (ioctl(fd, BLKGETSIZE64, &served))
			served = 0;
		close(fd);
	}
	if (served < m->image_bytes) {
		code = fail_with(EXIT_FAILURE_GENERIC, "%s serves %" PRIu64 " bytes, the image has %" PRIu64,
				 device, served, m->image_bytes);
		goto out_unserve;
	}
	id = pool_next_disk_id(pool);
	r = poolctl_create_disk(pool, id, sectors, name);
	if (r) {
		code = message_failed("creating the disk", r);
		goto out_unserve;
	}
	r = poolctl_set_disk_origin(pool, id, m->image_bytes >> 9);
	if (r) {
		code = message_failed("giving the disk its origin", r);
		goto out_remove;
	}
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, id);
	r = pool_find_disk(pool, idbuf, &disk);
	if (r) {
		code = message_failed("looking up the new disk", r);
		goto out_remove;
	}
	or.disk_id = id;
	or.created = record_u64(&disk, "created");
	code = origin_remember(pool, &or);
	if (code)
		goto out_record;
	r = activate_disk(pool, &disk);
	if (r) {
		code = fail_with(exit_for_errno(r), "cannot create the new disk's device: %s",
				 strerror(-r));
		goto out_record;
	}
	code = origin_hydrate(pool, &disk, (int64_t)rate);
	if (code) {
		disk_device_name(pool, &disk, dev, sizeof(dev));
		dmctl_remove(dev);
		goto out_record;
	}
	restore_tags(pool, &disk, m, &restored);
	tag_set_free(&restored);
	disk_device_name(pool, &disk, dev, sizeof(dev));
	if (ctx->json) {
		struct json j;
		char path[300];

		snprintf(path, sizeof(path), "/dev/mapper/%s", dev);
		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		json_string(&j, "export", m->name);
		json_string(&j, "pool", pool);
		json_string(&j, "disk", name);
		json_u64(&j, "disk_id", id);
		json_string(&j, "device", path);
		json_string(&j, "origin", device);
		json_u64(&j, "image_bytes", m->image_bytes);
		json_end_object(&j);
		json_finish(&j);
	} else {
		printf("/dev/mapper/%s\n", dev);
	}
	fflush(stdout);
	record_free(&disk);
	return o->wait ? origin_wait(pool, name) : EXIT_OK;

out_record:
	record_free(&disk);
	{
		struct origin_store s;
		struct origin_txn txn;

		if (!origin_store_begin(&txn, pool, &s, NULL, 0) && origin_store_remove(&s, id))
			origin_store_commit(&txn, &s);
		origin_store_end(&txn, &s);
	}
out_remove:
	poolctl_remove_disk(pool, id);
	fprintf(stderr, "snapctl: nothing was imported: the new disk is removed\n");
out_unserve:
	or.disk_id = UINT64_MAX;
	origin_unserve_unused(pool, &or);
	return code;
}

static int cmd_import(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_export_cmds[IMPORT];
	char temp_name[128];
	struct pool_config_file cfg;
	struct transfer_stats stats;
	struct export_options o;
	struct record disk, found;
	struct manifest m = { 0 };
	struct tag_set restored = { 0 };
	struct repo repo;
	const char *name;
	uint64_t block, sectors;
	unsigned int flags = 0;
	int ind, r, code;

	code = parse_export_options(cmd, argc, argv, &o, &ind);
	if (code)
		return code;
	if (o.image) {
		if (argc - ind != 2)
			return snapctl_usage_error(cmd, argc - ind < 2 ? "--image expects a URL and an export" :
						   "unexpected argument '%s'", argv[ind + 2]);
		if (o.instant || o.rate || o.wait)
			return snapctl_usage_error(cmd, "--image restores a whole image: --instant, --rate and --wait do not apply");
		return import_image(ctx, &o, argv[ind], argv[ind + 1]);
	}
	if (argc - ind != 4)
		return snapctl_usage_error(cmd, argc - ind < 4 ? "expects a URL, an export, a pool and a new disk name" :
					   "unexpected argument '%s'", argv[ind + 4]);
	if (o.instant && (o.resume || o.jobs))
		return snapctl_usage_error(cmd, "--instant fetches as the disk is read: --%s does not apply",
					   o.resume ? "resume" : "jobs");
	if (!o.instant && (o.rate || o.wait))
		return snapctl_usage_error(cmd, "--%s applies to --instant imports", o.rate ? "rate" : "wait");
	name = argv[ind + 3];
	/* The disk is built as <name>.importing: that must be a name too. */
	snprintf(temp_name, sizeof(temp_name), "%s" IMPORTING_SUFFIX, name);
	if (!poolctl_new_name_valid(name) || !poolctl_new_name_valid(temp_name))
		return snapctl_usage_error(cmd, "'%s' is not a valid disk name here (" POOLCTL_NAME_RULES ", less the %zu of '" IMPORTING_SUFFIX "')",
					   name, strlen(IMPORTING_SUFFIX));
	code = open_pool(argv[ind + 2], &cfg);
	if (code)
		return code;
	if (!pool_find_disk(cfg.name, name, &found)) {
		record_free(&found);
		return fail_with(EXIT_USAGE, "pool '%s' has a disk named '%s' already", cfg.name, name);
	}
	code = open_export(&repo, argv[ind], argv[ind + 1], o.key_file, &m);
	if (code)
		goto out;
	if (o.instant) {
		code = import_instant(ctx, &o, argv[ind], &m, cfg.name, name);
		goto out;
	}

	/* The new disk: whole pool blocks covering the image (or --size); the tail reads zeroes. */
	block = pool_block_bytes(cfg.name);
	sectors = (m.image_bytes + block - 1) / block * block >> 9;
	if (o.size && disk_sectors_at_least(o.size, block, sectors, &sectors)) {
		code = o.size < m.image_bytes ? size_too_small(o.size, m.image_bytes) :
		       fail_with(EXIT_USAGE, "size must be at most 8 EiB");
		goto out;
	}
	code = import_disk(&o, cfg.name, temp_name, &m, sectors, &disk, &flags);
	if (code)
		goto out;
	r = activate_disk(cfg.name, &disk);
	if (r) {
		code = fail_with(exit_for_errno(r), "cannot create the new disk's device: %s", strerror(-r));
		if (!o.resume)
			discard_import(cfg.name, &disk);
		goto out_disk;
	}
	code = write_import(ctx, &repo, &m, cfg.name, &disk, o.jobs, flags, &stats);
	if (code && o.resume) {
		fprintf(stderr, "snapctl: the incomplete disk %s is kept: run the same command again to continue\n",
			temp_name);
		goto out_disk;
	}
	if (code) {
		fprintf(stderr, "snapctl: nothing was restored: the incomplete disk is removed\n");
		discard_import(cfg.name, &disk);
		goto out_disk;
	}
	code = import_name_disk(cfg.name, &disk, name);
	if (code)
		goto out_disk;
	code = restore_tags(cfg.name, &disk, &m, &restored);
	import_report(ctx, &m, cfg.name, name, &disk, &restored, &stats, flags);
out_disk:
	record_free(&disk);
out:
	tag_set_free(&restored);
	manifest_free(&m);
	repo_close(&repo);
	return code;
}

/*----------------------------------------------------------------*/

static int cmd_export_list(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_export_cmds[EXPORT_LIST];
	struct export_options o;
	struct export_list list;
	struct manifest m;
	struct repo repo;
	struct json j;
	int ind, r, code;
	size_t i;

	code = parse_export_options(cmd, argc, argv, &o, &ind);
	if (code)
		return code;
	code = export_noun_args(cmd, argc - ind, argv + ind, 1, "expects a URL");
	if (code)
		return code;
	r = repo_open(&repo, argv[ind], o.key_file, 0, REPO_KEYLESS);
	if (!r)
		r = repo_list_exports(&repo, &list);
	if (r) {
		code = repo_exit(&repo, r);
		repo_close(&repo);
		return code;
	}
	if (ctx->json) {
		json_init(&j, stdout);
		json_begin_array(&j, NULL);
	} else {
		printf("%-24s %-12s %-16s %-24s %10s %8s %8s  %s\n", "EXPORT", "DISK", "SNAPSHOT",
		       "BASE", "SIZE", "CHUNKS", "NEW", "CREATED");
	}
	for (i = 0; i < list.nr; i++) {
		const struct export_list_entry *e = &list.entries[i];

		if (!e->complete) {
			if (ctx->json) {
				json_begin_object(&j, NULL);
				json_string(&j, "name", e->name);
				json_bool(&j, "complete", false);
				json_end_object(&j);
			} else {
				printf("%-24s (interrupted: run the export again, or delete it)\n", e->name);
			}
			continue;
		}
		r = manifest_read(&repo, e->name, &m);
		if (r) {
			fprintf(stderr, "snapctl: %s\n", repo.error);
			code = EXIT_CORRUPT;
			continue;
		}
		if (ctx->json) {
			json_begin_object(&j, NULL);
			manifest_json(&j, &m);
			json_bool(&j, "complete", true);
			json_end_object(&j);
		} else {
			char snap[160], when[32];
			time_t t = m.created;

			snprintf(snap, sizeof(snap), "%s%s%" PRIu64 "%s", m.snapshot,
				 m.snapshot[0] ? " (" : "", m.snapshot_id, m.snapshot[0] ? ")" : "");
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
			printf("%-24s %-12s %-16s %-24s %9.1fM %8" PRIu64 " %8" PRIu64 "  %s\n", m.name,
			       m.disk, snap, m.base[0] ? m.base : "-", mib(m.image_bytes),
			       m.stored_chunks, m.new_chunks, when);
		}
		manifest_free(&m);
	}
	if (ctx->json) {
		json_end_array(&j);
		json_finish(&j);
	}
	export_list_free(&list);
	repo_close(&repo);
	return code;
}

static int cmd_export_verify(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_export_cmds[EXPORT_VERIFY];
	struct transfer_stats stats;
	struct export_options o;
	struct manifest m = { 0 };
	struct repo repo;
	int ind, r, code;

	code = parse_export_options(cmd, argc, argv, &o, &ind);
	if (code)
		return code;
	code = export_noun_args(cmd, argc - ind, argv + ind, 2, "expects a URL and an export");
	if (code)
		return code;
	code = open_export(&repo, argv[ind], argv[ind + 1], o.key_file, &m);
	if (!code) {
		r = import_chunks(&repo, &m, -1, o.jobs, 0, !ctx->json, &stats);
		if (r)
			code = repo_exit(&repo, r);
	}
	if (!code && ctx->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		manifest_json(&j, &m);
		json_bool(&j, "verified", true);
		stats_json(&j, &stats);
		json_end_object(&j);
		json_finish(&j);
	} else if (!code) {
		printf("export '%s': %" PRIu64 " chunks and the root checksum verified\n", m.name,
		       stats.chunks);
		print_rate("checked", &stats);
	}
	manifest_free(&m);
	repo_close(&repo);
	return code;
}

static int gc_and_report(struct snapctl_ctx *ctx, struct repo *repo, bool force, bool wait,
			 struct repo_lease *lease, const char *deleted)
{
	struct chunk_codec *codec = chunk_codec_new(&repo->keys, repo->chunk_size);
	struct gc_result res;
	int r;

	if (!codec)
		return fail_with(EXIT_FAILURE_GENERIC, "out of memory");
	r = repo_gc_leased(repo, codec, force, wait ? LEASE_WAIT : 0, lease, &res);
	chunk_codec_free(codec);
	if (r == -EBUSY && deleted) {
		fprintf(stderr, "snapctl: export '%s' deleted; its chunks stay until 'snapctl export gc': %s\n",
			deleted, repo->error);
		return EXIT_OK;
	}
	if (r)
		return repo_exit(repo, r);
	if (ctx->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		if (deleted)
			json_string(&j, "deleted", deleted);
		json_u64(&j, "referenced_chunks", res.referenced);
		json_u64(&j, "kept_chunks", res.kept);
		json_u64(&j, "deleted_chunks", res.deleted);
		json_u64(&j, "deleted_bytes", res.deleted_bytes);
		json_end_object(&j);
		json_finish(&j);
	} else {
		if (deleted)
			printf("export '%s' deleted\n", deleted);
		printf("%" PRIu64 " chunks deleted (%.1f MiB), %" PRIu64 " kept\n", res.deleted,
		       mib(res.deleted_bytes), res.kept);
	}
	return EXIT_OK;
}

static int cmd_export_delete(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_export_cmds[EXPORT_DELETE];
	struct export_options o;
	struct export_list list;
	struct repo_lease *lease = NULL;
	struct repo repo;
	bool found = false;
	int ind, r, code;
	size_t i;

	code = parse_export_options(cmd, argc, argv, &o, &ind);
	if (code)
		return code;
	code = export_noun_args(cmd, argc - ind, argv + ind, 2, "expects a URL and an export");
	if (code)
		return code;
	if (!export_name_valid(argv[ind + 1]))
		return snapctl_usage_error(cmd, "'%s' is not a valid export name", argv[ind + 1]);
	r = repo_open(&repo, argv[ind], o.key_file, 0, 0);
	/* the lease first: nothing is deleted while an export may count on it */
	if (!r)
		r = repo_lease_take(&repo, "gc", o.wait ? LEASE_WAIT : 0, &lease);
	if (!r)
		r = repo_list_exports(&repo, &list);
	if (r) {
		code = repo_exit(&repo, r);
		repo_lease_release(lease);
		repo_close(&repo);
		return code;
	}
	for (i = 0; i < list.nr; i++)
		found |= !strcmp(list.entries[i].name, argv[ind + 1]);
	export_list_free(&list);
	if (!found)
		code = fail_with(EXIT_NOT_FOUND, "%s has no export '%s'", repo.url, argv[ind + 1]);
	else if ((r = repo_delete_export(&repo, argv[ind + 1])))
		code = repo_exit(&repo, r);
	else
		code = gc_and_report(ctx, &repo, false, o.wait, lease, argv[ind + 1]);
	repo_lease_release(lease);
	repo_close(&repo);
	return code;
}

static int cmd_export_gc(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_export_cmds[EXPORT_GC];
	struct export_options o;
	struct repo repo;
	int ind, r, code;

	code = parse_export_options(cmd, argc, argv, &o, &ind);
	if (code)
		return code;
	code = export_noun_args(cmd, argc - ind, argv + ind, 1, "expects a URL");
	if (code)
		return code;
	r = repo_open(&repo, argv[ind], o.key_file, 0, 0);
	code = r ? repo_exit(&repo, r) : gc_and_report(ctx, &repo, o.force, o.wait, NULL, NULL);
	repo_close(&repo);
	return code;
}

/*----------------------------------------------------------------*/

static int serve_exit(int r, const char *why)
{
	return fail_with(exit_for_errno(r), "%s", why);
}

static int cmd_export_serve(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_export_cmds[EXPORT_SERVE];
	struct nbd_serve_options so = { 0 };
	struct export_options o;
	char device[NBD_DEVICE_MAX], why[512];
	int ind, r, code;

	code = parse_export_options(cmd, argc, argv, &o, &ind);
	if (code)
		return code;
	code = export_noun_args(cmd, argc - ind, argv + ind, 2, "expects a URL and an export");
	if (code)
		return code;
	if (!export_name_valid(argv[ind + 1]))
		return snapctl_usage_error(cmd, "'%s' is not a valid export name", argv[ind + 1]);
	so.url = argv[ind];
	so.export_name = argv[ind + 1];
	so.key_file = o.key_file;
	so.device = o.device;
	so.cache_bytes = o.cache;
	so.prefetch = o.prefetch;
	r = nbd_serve_start(&so, device, why, sizeof(why));
	if (r)
		return serve_exit(r, why);
	if (ctx->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		json_string(&j, "device", device);
		json_string(&j, "url", so.url);
		json_string(&j, "export", so.export_name);
		json_end_object(&j);
		json_finish(&j);
	} else {
		printf("%s\n", device);
	}
	return EXIT_OK;
}

static int cmd_export_unserve(struct snapctl_ctx *ctx, int argc, char **argv)
{
	const struct snapctl_cmd *cmd = &snapctl_export_cmds[EXPORT_UNSERVE];
	struct export_options o;
	char why[512];
	int ind, r, code;

	code = parse_export_options(cmd, argc, argv, &o, &ind);
	if (code)
		return code;
	code = export_noun_args(cmd, argc - ind, argv + ind, 1, "expects a device");
	if (code)
		return code;
	r = nbd_serve_stop(argv[ind], o.force, why, sizeof(why));
	if (r)
		return serve_exit(r, why);
	if (ctx->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_object(&j, NULL);
		json_string(&j, "unserved", argv[ind]);
		json_end_object(&j);
		json_finish(&j);
	} else {
		printf("%s disconnected, its server stopped\n", argv[ind]);
	}
	return EXIT_OK;
}
