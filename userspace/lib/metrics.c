// SPDX-License-Identifier: GPL-2.0
/*
 * The Prometheus text exposition of pools, disks, policies and exports;
 * see metrics.h.  The names follow Prometheus' conventions: one prefix,
 * base units (bytes, seconds since the epoch as *_timestamp_seconds),
 * counters ending in _total, and the objects as labels (pool, disk).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const struct metric_desc metric_table[NR_METRICS] = {
	[M_POOL_ACTIVE] = { "dmrow_pool_active", METRIC_GAUGE,
		"1 if the pool's device is active and answers, 0 if the pool is defined but not active or does not answer." },
	[M_POOL_MODE] = { "dmrow_pool_mode", METRIC_GAUGE,
		"The pool's mode: 1 for the current one (rw, out_of_data_space, ro, fail), 0 for the others." },
	[M_POOL_NEEDS_CHECK] = { "dmrow_pool_needs_check", METRIC_GAUGE,
		"1 if the pool's metadata needs 'snapctl check'." },
	[M_POOL_DATA_SIZE] = { "dmrow_pool_data_size_bytes", METRIC_GAUGE,
		"Size of the pool's data space." },
	[M_POOL_DATA_USED] = { "dmrow_pool_data_used_bytes", METRIC_GAUGE,
		"Data space in use: the blocks of every disk and snapshot." },
	[M_POOL_DATA_FREE] = { "dmrow_pool_data_free_bytes", METRIC_GAUGE,
		"Data space free." },
	[M_POOL_METADATA_SIZE] = { "dmrow_pool_metadata_size_bytes", METRIC_GAUGE,
		"Size of the pool's metadata device." },
	[M_POOL_METADATA_USED] = { "dmrow_pool_metadata_used_bytes", METRIC_GAUGE,
		"Metadata space in use." },
	[M_DISK_SIZE] = { "dmrow_disk_size_bytes", METRIC_GAUGE,
		"Size of the disk." },
	[M_DISK_MAPPED] = { "dmrow_disk_mapped_bytes", METRIC_GAUGE,
		"Space the disk's live data maps (written and not discarded); 0 for a removed disk." },
	[M_DISK_LIVE_DELTA] = { "dmrow_disk_since_snapshot_bytes", METRIC_GAUGE,
		"Space the disk's live data maps differently from its newest snapshot (all of it without one)." },
	[M_DISK_CHAIN] = { "dmrow_disk_chain_bytes", METRIC_GAUGE,
		"Space the disk's snapshots hold: the sum of their deltas." },
	[M_DISK_EXCLUSIVE] = { "dmrow_disk_snapshot_exclusive_bytes", METRIC_GAUGE,
		"Sum of the exclusive space of the disk's snapshots: what deleting each alone would free." },
	[M_DISK_SNAPSHOTS] = { "dmrow_disk_snapshots", METRIC_GAUGE,
		"Snapshots of the disk, by kind (manual, auto)." },
	[M_POLICY_LAST_RUN] = { "dmrow_policy_last_run_timestamp_seconds", METRIC_GAUGE,
		"When the scheduler last took, or failed to take, an automatic snapshot of the disk; 0: never." },
	[M_POLICY_LAST_SUCCESS] = { "dmrow_policy_last_success_timestamp_seconds", METRIC_GAUGE,
		"When the scheduler last took an automatic snapshot of the disk; 0: never." },
	[M_POLICY_FAILURES] = { "dmrow_policy_failures_total", METRIC_COUNTER,
		"Automatic snapshots of the disk the scheduler failed to take." },
	[M_EXPORT_LAST] = { "dmrow_export_last_timestamp_seconds", METRIC_GAUGE,
		"When the last export of a snapshot of the disk ended, complete or failed." },
	[M_EXPORT_LAST_OK] = { "dmrow_export_last_succeeded", METRIC_GAUGE,
		"1 if the last export of a snapshot of the disk completed, 0 if it failed." },
	[M_EXPORT_LAST_SUCCESS] = { "dmrow_export_last_success_timestamp_seconds", METRIC_GAUGE,
		"Creation time of the disk's last complete export (its manifest's 'created'); 0: none." },
	[M_EXPORT_FAILURES] = { "dmrow_export_failures_total", METRIC_COUNTER,
		"Exports of snapshots of the disk that failed." },
};

const char *const metrics_pool_modes[4] = { "rw", "out_of_data_space", "ro", "fail" };

const struct metric_desc *metric_desc(enum metric_id id)
{
	return id < NR_METRICS ? &metric_table[id] : NULL;
}

void metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
}

void metrics_free(struct metrics *m)
{
	unsigned int i;

	for (i = 0; i < NR_METRICS; i++)
		free(m->series[i].text);
	memset(m, 0, sizeof(*m));
}

bool metrics_name_valid(const char *name)
{
	const char *p;

	if (!name || !*name || (*name >= '0' && *name <= '9'))
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == ':'))
			return false;
	return true;
}

bool metrics_label_name_valid(const char *name)
{
	return metrics_name_valid(name) && !strchr(name, ':') && strncmp(name, "__", 2);
}

size_t metrics_escape(const char *s, bool help, char *buf, size_t len)
{
	size_t n = 0, written = 0;
	bool full = false;

	for (; *s; s++) {
		char esc[2] = { *s, 0 };
		size_t k = 1;

		if (*s == '\\' || *s == '\n' || (*s == '"' && !help)) {
			esc[0] = '\\';
			esc[1] = *s == '\n' ? 'n' : *s;
			k = 2;
		}
		/* Whole escapes only: no dangling backslash in a cut value. */
		if (!full && written + k < len) {
			memcpy(buf + written, esc, k);
			written += k;
		} else {
			full = true;
		}
		n += k;
	}
	if (len)
		buf[written] = '\0';
	return n;
}

/* Append to a series; a failure is remembered for metrics_render(). */
static void __attribute__((format(printf, 3, 4)))
put(struct metrics *m, struct metrics_series *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->failed)
		return;
	for (;;) {
		size_t room = s->cap - s->len;
		char *grown;

		va_start(ap, fmt);
		n = vsnprintf(s->text ? s->text + s->len : NULL, s->text ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->failed = true;
			return;
		}
		if (s->text && (size_t)n < room) {
			s->len += n;
			return;
		}
		grown = realloc(s->text, s->cap * 2 + n + 1);
		if (!grown) {
			m->failed = true;
			return;
		}
		s->text = grown;
		s->cap = s->cap * 2 + n + 1;
	}
}

static void put_escaped(struct metrics *m, struct metrics_series *s, const char *value)
{
	char small[256], *buf = small;
	size_t n = metrics_escape(value, false, small, sizeof(small));

	if (n >= sizeof(small)) {
		buf = malloc(n + 1);
		if (!buf) {
			m->failed = true;
			return;
		}
		metrics_escape(value, false, buf, n + 1);
	}
	put(m, s, "%s", buf);
	if (buf != small)
		free(buf);
}

void metrics_add(struct metrics *m, enum metric_id id, const char *const *labels,
		 uint64_t value)
{
	struct metrics_series *s;
	unsigned int i;

	if (id >= NR_METRICS)
		return;
	s = &m->series[id];
	put(m, s, "%s", metric_table[id].name);
	for (i = 0; labels && labels[i]; i += 2) {
		put(m, s, "%s%s=\"", i ? "," : "{", labels[i]);
		put_escaped(m, s, labels[i + 1] ? labels[i + 1] : "");
		put(m, s, "\"");
	}
	put(m, s, "%s %" PRIu64 "\n", i ? "}" : "", value);
}

int metrics_render(const struct metrics *m, char **text, size_t *len)
{
	size_t cap = 1, used = 0;
	unsigned int i;
	char *out, help[512];

	if (m->failed)
		return -ENOMEM;
	for (i = 0; i < NR_METRICS; i++)
		if (m->series[i].len)
			cap += m->series[i].len + 2 * strlen(metric_table[i].name) +
			       sizeof(help) + 32;
	out = malloc(cap);
	if (!out)
		return -ENOMEM;
	out[0] = '\0';
	for (i = 0; i < NR_METRICS; i++) {
		const struct metric_desc *d = &metric_table[i];

		if (!m->series[i].len)
			continue;
		metrics_escape(d->help, true, help, sizeof(help));
		used += snprintf(out + used, cap - used, "# HELP %s %s\n# TYPE %s %s\n", d->name,
				 help, d->name, d->type == METRIC_COUNTER ? "counter" : "gauge");
		memcpy(out + used, m->series[i].text, m->series[i].len);
		used += m->series[i].len;
		out[used] = '\0';
	}
	*text = out;
	*len = used;
	return 0;
}

/*----------------------------------------------------------------*/

static uint64_t seconds(int64_t t)
{
	return t > 0 ? (uint64_t)t : 0;
}

void metrics_add_pool(struct metrics *m, const struct metrics_pool *p)
{
	const char *const labels[] = { "pool", p->name, NULL };
	unsigned int i;

	metrics_add(m, M_POOL_ACTIVE, labels, p->active);
	if (!p->active)
		return;
	for (i = 0; p->mode && i < 4; i++) {
		const char *const mode[] = { "pool", p->name, "mode", metrics_pool_modes[i], NULL };

		metrics_add(m, M_POOL_MODE, mode, !strcmp(p->mode, metrics_pool_modes[i]));
	}
	if (!p->have_space)
		return;
	metrics_add(m, M_POOL_NEEDS_CHECK, labels, p->needs_check);
	metrics_add(m, M_POOL_DATA_SIZE, labels, p->data_bytes);
	metrics_add(m, M_POOL_DATA_USED, labels, p->data_used_bytes);
	metrics_add(m, M_POOL_DATA_FREE, labels,
		    p->data_bytes > p->data_used_bytes ? p->data_bytes - p->data_used_bytes : 0);
	metrics_add(m, M_POOL_METADATA_SIZE, labels, p->metadata_bytes);
	metrics_add(m, M_POOL_METADATA_USED, labels, p->metadata_used_bytes);
}

void metrics_add_disk(struct metrics *m, const struct metrics_disk *d)
{
	const char *const labels[] = { "pool", d->pool, "disk", d->name, NULL };
	const char *const manual[] = { "pool", d->pool, "disk", d->name, "kind", "manual", NULL };
	const char *const automatic[] = { "pool", d->pool, "disk", d->name, "kind", "auto", NULL };

	metrics_add(m, M_DISK_SIZE, labels, d->size_bytes);
	metrics_add(m, M_DISK_MAPPED, labels, d->mapped_bytes);
	metrics_add(m, M_DISK_LIVE_DELTA, labels, d->live_delta_bytes);
	metrics_add(m, M_DISK_CHAIN, labels, d->chain_bytes);
	metrics_add(m, M_DISK_EXCLUSIVE, labels, d->exclusive_bytes);
	metrics_add(m, M_DISK_SNAPSHOTS, manual, d->manual_snapshots);
	metrics_add(m, M_DISK_SNAPSHOTS, automatic, d->auto_snapshots);
}

void metrics_add_policy(struct metrics *m, const struct metrics_policy *p)
{
	const char *const labels[] = {
		"pool", p->pool, "disk", p->disk, "policy", p->policy, NULL
	};

	metrics_add(m, M_POLICY_LAST_RUN, labels, seconds(p->last_run));
	metrics_add(m, M_POLICY_LAST_SUCCESS, labels, seconds(p->last_success));
	metrics_add(m, M_POLICY_FAILURES, labels, p->failures);
}

void metrics_add_export(struct metrics *m, const struct metrics_export *e)
{
	const char *const labels[] = { "pool", e->pool, "disk", e->disk, NULL };

	metrics_add(m, M_EXPORT_LAST, labels, seconds(e->last));
	metrics_add(m, M_EXPORT_LAST_OK, labels, e->last_ok);
	metrics_add(m, M_EXPORT_LAST_SUCCESS, labels, seconds(e->last_success));
	metrics_add(m, M_EXPORT_FAILURES, labels, e->failures);
}
