/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device-mapper control through libdevmapper (the DM ioctl interface):
 * the only way snapctl talks to the kernel.  Functions return 0 or a
 * negative errno; libdevmapper's own messages are kept quiet and the last
 * one is available for error reports.
 */
#ifndef SNAPCTL_DMCTL_H
#define SNAPCTL_DMCTL_H

#include <stdbool.h>
#include <stdint.h>

struct dm_device_info {
	bool exists;
	bool suspended;
	bool read_only;
	int open_count;
	uint32_t major, minor;
};

int dmctl_create(const char *name, const char *uuid, uint64_t sectors, const char *target,
		 const char *params, bool read_only);
/* Load a new table and resume: for a device that exists (a read-only one stays so). */
int dmctl_reload(const char *name, uint64_t sectors, const char *target, const char *params);
int dmctl_remove(const char *name);
int dmctl_suspend(const char *name);
int dmctl_resume(const char *name);
int dmctl_info(const char *name, struct dm_device_info *info);
/* Send a target message; *response (malloc'd, may be NULL) gets its answer. */
int dmctl_message(const char *name, const char *message, char **response);
/* The first target's status line (malloc'd). */
int dmctl_status(const char *name, char **target_type, char **params);
/* The first target's table line (malloc'd). */
int dmctl_table(const char *name, uint64_t *sectors, char **target_type, char **params);
/* Call fn for every dm device whose name starts with @prefix. */
int dmctl_for_each(const char *prefix, int (*fn)(void *context, const char *name),
		   void *context);
/* libdevmapper's last error text, "" if none. */
const char *dmctl_last_error(void);

#endif
