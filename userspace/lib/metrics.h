/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Prometheus text exposition format (version 0.0.4) of what snapctl
 * knows about pools, disks, policies and exports, for node exporter's
 * textfile collector ('snapctl metrics', 'snapctl daemon --metrics-file').
 *
 * Samples are added in any order and rendered grouped by metric, each
 * metric once with its "# HELP" and "# TYPE" lines, in the order of the
 * table in metrics.c (the one list of names, documented in snapctl(8)):
 *
 *   struct metrics m;  metrics_init(&m);
 *   metrics_add_pool(&m, &pool);  metrics_add_disk(&m, &disk); ...
 *   metrics_render(&m, &text, &len);  metrics_free(&m);
 *
 * Only metrics with samples are rendered.  Label values are escaped as the
 * format wants (backslash, double quote, newline); values are integers.
 */
#ifndef SNAPCTL_METRICS_H
#define SNAPCTL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every metric snapctl writes; metrics.c names and describes them. */
enum metric_id {
	M_POOL_ACTIVE,
	M_POOL_MODE,
	M_POOL_NEEDS_CHECK,
	M_POOL_DATA_SIZE,
	M_POOL_DATA_USED,
	M_POOL_DATA_FREE,
	M_POOL_METADATA_SIZE,
	M_POOL_METADATA_USED,
	M_DISK_SIZE,
	M_DISK_MAPPED,
	M_DISK_LIVE_DELTA,
	M_DISK_CHAIN,
	M_DISK_EXCLUSIVE,
	M_DISK_SNAPSHOTS,
	M_POLICY_LAST_RUN,
	M_POLICY_LAST_SUCCESS,
	M_POLICY_FAILURES,
	M_EXPORT_LAST,
	M_EXPORT_LAST_OK,
	M_EXPORT_LAST_SUCCESS,
	M_EXPORT_FAILURES,
	NR_METRICS
};

enum metric_type { METRIC_GAUGE, METRIC_COUNTER };

struct metric_desc {
	const char *name;
	enum metric_type type;
	const char *help;
};

/* The table of metric_id: name, type, help text. */
const struct metric_desc *metric_desc(enum metric_id id);

struct metrics {
	struct metrics_series {
		char *text;		/* the sample lines, "name{labels} value\n" */
		size_t len, cap;
	} series[NR_METRICS];
	bool failed;			/* out of memory: metrics_render() says so */
};

void metrics_init(struct metrics *m);
void metrics_free(struct metrics *m);

/*
 * One sample.  @labels: label names and values in turn, ended by a NULL
 * name ({ "pool", "tank", "disk", "vm1", NULL }), or NULL for none.
 * Names must be valid (they are constants); values are escaped, a NULL
 * value is "".
 */
void metrics_add(struct metrics *m, enum metric_id id, const char *const *labels,
		 uint64_t value);

/* The exposition (malloc'd, NUL-terminated).  -ENOMEM. */
int metrics_render(const struct metrics *m, char **text, size_t *len);

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
bool metrics_name_valid(const char *name);
/* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved). */
bool metrics_label_name_valid(const char *name);
/*
 * A label value (\\, \" and \n escaped) or, with @help, a HELP text (\\ and
 * \n escaped) into @buf; returns the length it needs (as snprintf()).
 */
size_t metrics_escape(const char *s, bool help, char *buf, size_t len);

/*----------------------------------------------------------------
 * What snapctl collects, one struct per kind of object
 *--------------------------------------------------------------*/

struct metrics_pool {
	const char *name;
	bool active;			/* the device is there and answered */
	const char *mode;		/* rw, out_of_data_space, ro, fail; NULL: unknown */
	bool needs_check;
	bool have_space;		/* the figures below are known */
	uint64_t data_bytes, data_used_bytes;
	uint64_t metadata_bytes, metadata_used_bytes;
};

/* The pool modes, in order of degradation (Documentation/dm-row.rst). */
extern const char *const metrics_pool_modes[4];

struct metrics_disk {
	const char *pool;
	const char *name;
	uint64_t size_bytes;
	uint64_t mapped_bytes;		/* what the live head maps */
	uint64_t live_delta_bytes;	/* written since the newest snapshot */
	uint64_t chain_bytes;		/* what its snapshots hold */
	uint64_t exclusive_bytes;	/* what deleting all its snapshots would free */
	uint64_t manual_snapshots, auto_snapshots;
};

struct metrics_policy {
	const char *pool;
	const char *disk;
	const char *policy;		/* its name */
	int64_t last_run;		/* 0: never */
	int64_t last_success;
	uint64_t failures;
};

struct metrics_export {
	const char *pool;
	const char *disk;
	int64_t last;			/* when the last export ended, 0: never */
	bool last_ok;
	int64_t last_success;		/* creation time of the last complete one */
	uint64_t failures;
};

void metrics_add_pool(struct metrics *m, const struct metrics_pool *p);
void metrics_add_disk(struct metrics *m, const struct metrics_disk *d);
void metrics_add_policy(struct metrics *m, const struct metrics_policy *p);
void metrics_add_export(struct metrics *m, const struct metrics_export *e);

#endif
