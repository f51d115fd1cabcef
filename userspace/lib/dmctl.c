// SPDX-License-Identifier: GPL-2.0
/*
 * Device-mapper control through libdevmapper; see dmctl.h.
 */
#include <errno.h>
#include <libdevmapper.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmctl.h"

static char last_error[256];

static void quiet_log(int level, const char *file, int line, int dm_errno,
		      const char *fmt, ...)
{
	va_list ap;

	(void)file;
	(void)line;
	(void)dm_errno;
	if (level > 3)		/* keep errors and warnings only */
		return;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

const char *dmctl_last_error(void)
{
	return last_error;
}

static struct dm_task *task(int type, const char *name)
{
	static bool initialised;
	struct dm_task *dmt;

	if (!initialised) {
		dm_log_with_errno_init(quiet_log);
		initialised = true;
	}
	last_error[0] = '\0';
	dmt = dm_task_create(type);
	if (!dmt)
		return NULL;
	if (name && !dm_task_set_name(dmt, name)) {
		dm_task_destroy(dmt);
		return NULL;
	}
	return dmt;
}

static int task_errno(struct dm_task *dmt)
{
	int e = dm_task_get_errno(dmt);

	return e ? -e : -EIO;
}

/* Run a task that changes device nodes, waiting for udev if there is one. */
static int run_with_udev(struct dm_task *dmt)
{
	uint32_t cookie = 0;
	int r = 0;

	if (!dm_task_set_cookie(dmt, &cookie, 0))
		return -ENOMEM;
	if (!dm_task_run(dmt))
		r = task_errno(dmt);
	dm_udev_wait(cookie);
	return r;
}

static int load_table(struct dm_task *dmt, uint64_t sectors, const char *target,
		      const char *params)
{
	return dm_task_add_target(dmt, 0, sectors, target, params) ? 0 : -ENOMEM;
}

int dmctl_create(const char *name, const char *uuid, uint64_t sectors, const char *target,
		 const char *params, bool read_only)
{
	struct dm_task *dmt = task(DM_DEVICE_CREATE, name);
	int r;

	if (!dmt)
		return -ENOMEM;
	r = load_table(dmt, sectors, target, params);
	if (!r && uuid && !dm_task_set_uuid(dmt, uuid))
		r = -ENOMEM;
	if (!r && read_only && !dm_task_set_ro(dmt))
		r = -ENOMEM;
	if (!r)
		r = run_with_udev(dmt);
	dm_task_destroy(dmt);
	return r;
}

int dmctl_resume(const char *name)
{
	struct dm_task *dmt = task(DM_DEVICE_RESUME, name);
	int r;

	if (!dmt)
		return -ENOMEM;
	r = run_with_udev(dmt);
	dm_task_destroy(dmt);
	return r;
}

int dmctl_reload(const char *name, uint64_t sectors, const char *target, const char *params)
{
	struct dm_task *dmt = task(DM_DEVICE_RELOAD, name);
	struct dm_device_info info;
	int r;

	if (!dmt)
		return -ENOMEM;
	r = load_table(dmt, sectors, target, params);
	/* A read-only device (a snapshot's view) stays read-only. */
	if (!r && !dmctl_info(name, &info) && info.exists && info.read_only && !dm_task_set_ro(dmt))
		r = -ENOMEM;
	if (!r && !dm_task_run(dmt))
		r = task_errno(dmt);
	dm_task_destroy(dmt);
	if (!r) {
		r = dmctl_suspend(name);
		if (!r)
			r = dmctl_resume(name);
	}
	return r;
}

int dmctl_remove(const char *name)
{
	int r = 0, tries;

	/* A device just closed may still be held for a moment: retry briefly. */
	for (tries = 0; tries < 25; tries++) {
		struct dm_task *dmt = task(DM_DEVICE_REMOVE, name);

		if (!dmt)
			return -ENOMEM;
		r = run_with_udev(dmt);
		dm_task_destroy(dmt);
		if (r != -EBUSY)
			break;
		usleep(200 * 1000);
	}
	return r;
}

int dmctl_suspend(const char *name)
{
	struct dm_task *dmt = task(DM_DEVICE_SUSPEND, name);
	int r = 0;

	if (!dmt)
		return -ENOMEM;
	if (!dm_task_run(dmt))
		r = task_errno(dmt);
	dm_task_destroy(dmt);
	return r;
}

int dmctl_info(const char *name, struct dm_device_info *info)
{
	struct dm_task *dmt = task(DM_DEVICE_INFO, name);
	struct dm_info di;
	int r = 0;

	memset(info, 0, sizeof(*info));
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_run(dmt) || !dm_task_get_info(dmt, &di)) {
		r = task_errno(dmt);
	} else if (di.exists) {
		info->exists = true;
		info->suspended = di.suspended;
		info->read_only = di.read_only;
		info->open_count = di.open_count;
		info->major = di.major;
		info->minor = di.minor;
	}
	dm_task_destroy(dmt);
	return r;
}

int dmctl_message(const char *name, const char *message, char **response)
{
	struct dm_task *dmt = task(DM_DEVICE_TARGET_MSG, name);
	const char *answer;
	int r = 0;

	if (response)
		*response = NULL;
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_sector(dmt, 0) || !dm_task_set_message(dmt, message)) {
		dm_task_destroy(dmt);
		return -ENOMEM;
	}
	if (!dm_task_run(dmt)) {
		r = task_errno(dmt);
	} else if (response) {
		answer = dm_task_get_message_response(dmt);
		*response = strdup(answer ? answer : "");
		if (!*response)
			r = -ENOMEM;
	}
	dm_task_destroy(dmt);
	return r;
}

static int first_target(int type, const char *name, uint64_t *sectors, char **target_type,
			char **params)
{
	struct dm_task *dmt = task(type, name);
	uint64_t start, length;
	char *ttype = NULL, *p = NULL;
	int r = 0;

	*target_type = *params = NULL;
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_run(dmt)) {
		r = task_errno(dmt);
	} else {
		dm_get_next_target(dmt, NULL, &start, &length, &ttype, &p);
		if (!ttype) {
			r = -ENODEV;
		} else {
			*target_type = strdup(ttype);
			*params = strdup(p ? p : "");
			if (sectors)
				*sectors = length;
			if (!*target_type || !*params)
				r = -ENOMEM;
		}
	}
	dm_task_destroy(dmt);
	return r;
}

int dmctl_status(const char *name, char **target_type, char **params)
{
	return first_target(DM_DEVICE_STATUS, name, NULL, target_type, params);
}

int dmctl_table(const char *name, uint64_t *sectors, char **target_type, char **params)
{
	return first_target(DM_DEVICE_TABLE, name, sectors, target_type, params);
}

int dmctl_for_each(const char *prefix, int (*fn)(void *context, const char *name),
		   void *context)
{
	struct dm_task *dmt = task(DM_DEVICE_LIST, NULL);
	struct dm_names *names;
	size_t len = strlen(prefix);
	unsigned int next = 0;
	int r = 0;

	if (!dmt)
		return -ENOMEM;
	if (!dm_task_run(dmt)) {
		r = task_errno(dmt);
		goto out;
	}
	names = dm_task_get_names(dmt);
	if (!names || !names->dev)
		goto out;
	do {
		names = (struct dm_names *)((char *)names + next);
		if (!strncmp(names->name, prefix, len)) {
			r = fn(context, names->name);
			if (r)
				break;
		}
		next = names->next;
	} while (next);
out:
	dm_task_destroy(dmt);
	return r;
}
