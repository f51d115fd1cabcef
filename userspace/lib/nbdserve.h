/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An export served read-only as a kernel block device: nbdkit with the
 * dmrow plugin (userspace/nbdkit/dmrow-plugin.c) on a unix socket, and the
 * kernel's NBD driver connected to it with nbd-client.
 *
 * The server outlives the process that starts it: it runs in a session of
 * its own, and what it is lives in the runtime directory (run_dir(),
 * statefile.h), per device, under nbd/:
 *
 *   nbdN.sock    the server's socket
 *   nbdN.pid     its pid, written by nbdkit once it serves
 *   nbdN.log     its messages (nbdkit's standard error)
 *   nbdN.serve   what is served: url=, export=, device=, pid=
 *
 * The plugin is SNAPCTL_NBDKIT_PLUGIN if set, else nbdkit-dmrow-plugin.so
 * beside the running program (the build tree), else nbdkit's own plugin
 * "dmrow" (installed in nbdkit's plugin directory); nbdkit is
 * SNAPCTL_NBDKIT if set, else nbdkit on the PATH, as nbd-client is.
 */
#ifndef SNAPCTL_NBDSERVE_H
#define SNAPCTL_NBDSERVE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chunk.h"		/* CHUNK_ID_LEN */

#define NBD_DEVICE_MAX 32
#define NBD_EXPORT_ROOT_MAX CHUNK_ID_LEN	/* an export's root checksum, in hex */

struct nbd_serve_options {
	const char *url;
	const char *export_name;
	const char *key_file;		/* NULL: an unencrypted repository */
	const char *device;		/* "/dev/nbdN", or NULL: the first free one */
	uint64_t cache_bytes;		/* 0: the plugin's default */
	int prefetch;			/* chunks; < 0: the plugin's default */
	/*
	 * The root checksum the export must have (its manifest's), or NULL:
	 * the server refuses to start if the export now holds other data, as
	 * it would once deleted and made again under its name.
	 */
	const char *root;
};

struct nbd_serve_info {
	char device[NBD_DEVICE_MAX];
	char url[PATH_MAX];
	char export_name[128];
	char root[NBD_EXPORT_ROOT_MAX + 1];	/* "" if none was asked for */
	pid_t pid;
	bool server_running;		/* the nbdkit process is there */
	bool connected;			/* the device is connected */
};

/*
 * Serve @o's export on an NBD device (loading the nbd module if needed)
 * and put its path in @device (NBD_DEVICE_MAX bytes).  Returns 0 once the
 * device is connected, or -errno with @why (@why_len bytes) saying what
 * failed (the server's own message if it refused), and nothing left:
 * no server, no connection, no file.
 */
int nbd_serve_start(const struct nbd_serve_options *o, char *device, char *why,
		    size_t why_len);

/*
 * Disconnect @device ("/dev/nbdN" or "nbdN") and stop its server.
 * -EBUSY if the device is open exclusively (mounted, or under a
 * device-mapper table) unless @force; -ENOENT if no export is served on it.
 */
int nbd_serve_stop(const char *device, bool force, char *why, size_t why_len);

/* What is served on @device: 0 and @info, or -ENOENT. */
int nbd_serve_status(const char *device, struct nbd_serve_info *info);

/* Call @fn for every device with an export served, in device order. */
int nbd_serve_for_each(int (*fn)(void *context, const struct nbd_serve_info *info),
		       void *context);

#endif /* SNAPCTL_NBDSERVE_H */
