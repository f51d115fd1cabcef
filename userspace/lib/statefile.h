/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small files that must survive a crash whole: snapctl's state directory
 * (SNAPCTL_STATE_DIR, default /var/lib/dm-row) and runtime directory
 * (SNAPCTL_RUN_DIR, default /run/dm-row, for locks), and the way files in
 * them are replaced.  Also the file helpers the rest of the userspace code
 * shares (the pool definitions, the export file store): mkdir -p and a
 * write(2) of a whole buffer.
 */
#ifndef SNAPCTL_STATEFILE_H
#define SNAPCTL_STATEFILE_H

#include <stddef.h>

const char *state_dir(void);
const char *run_dir(void);

/*
 * Replace @path with @len bytes so that a crash at any point leaves either
 * the old file or the new one, never a mix or nothing: write a temporary
 * file in the same directory, fsync it, rename it over @path, fsync the
 * directory.  @mode is the new file's, whatever the umask.  Creates the
 * directory if needed.
 */
int write_file_atomic(const char *path, const void *data, size_t len, unsigned int mode);

/* Read a whole file (at most @max bytes, else -EFBIG) into a NUL-terminated buffer. */
int read_file(const char *path, size_t max, char **data, size_t *len);

/* mkdir -p: every missing directory of @dir is made with @mode (less the umask). */
int make_dirs_mode(const char *dir, unsigned int mode);
/* mkdir -p, mode 0755. */
int make_dirs(const char *dir);

/*
 * Open (creating it, mode 0600) the lock file @path and take an exclusive
 * flock(2) of it, waiting, again after EINTR: the descriptor (closing it
 * lets go), or -errno.
 */
int lock_file(const char *path);

/* write(2) all of @len bytes, again after EINTR and short writes; 0 or -errno. */
int write_all(int fd, const void *data, size_t len);

#endif
