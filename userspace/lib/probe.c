// SPDX-License-Identifier: GPL-2.0
/*
 * Device probing; see probe.h.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

/* The superblock magic sits after the 24-byte block header, in slot 0 or 1. */
#define DMROW_MAGIC		"dm-row01"
#define DMROW_SLOT_SIZE		4096
#define DMROW_MAGIC_OFFSET	24

static int probe_dmrow(const char *path)
{
	char buf[DMROW_SLOT_SIZE * 2];
	int fd, slot, found = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < 0)
		return -errno;
	for (slot = 0; slot < 2 && (slot + 1) * DMROW_SLOT_SIZE <= n; slot++)
		if (!memcmp(buf + slot * DMROW_SLOT_SIZE + DMROW_MAGIC_OFFSET, DMROW_MAGIC, 8))
			found = 1;
	return found;
}

int probe_device(const char *path, char *what, size_t len)
{
	const char *type = NULL, *usage = NULL;
	blkid_probe pr;
	int r;

	r = probe_dmrow(path);
	if (r < 0)
		return r;
	if (r) {
		snprintf(what, len, "dm-row pool metadata");
		return 1;
	}

	pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 1);
	r = blkid_do_safeprobe(pr);
	if (r == 0) {
		if (!blkid_probe_lookup_value(pr, "TYPE", &type, NULL)) {
			if (blkid_probe_lookup_value(pr, "USAGE", &usage, NULL))
				usage = "";
			if (!strcmp(usage, "filesystem"))
				snprintf(what, len, "%s filesystem", type);
			else if (!strcmp(usage, "raid"))
				snprintf(what, len, "%s RAID member", type);
			else if (!strcmp(usage, "crypto"))
				snprintf(what, len, "%s encrypted volume", type);
			else
				snprintf(what, len, "%s signature", type);
		}
		else if (!blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL))
			snprintf(what, len, "%s partition table", type);
		else
			snprintf(what, len, "a known signature");
		r = 1;
	} else if (r == -2) {
		snprintf(what, len, "several conflicting signatures");
		r = 1;
	} else if (r == 1) {
		r = 0;
	} else {
		r = -EIO;
	}
	blkid_free_probe(pr);
	return r;
}
