/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A client of the QEMU guest agent (qemu-ga), for freezing a guest's
 * filesystems around a snapshot of its disks.
 *
 * The agent speaks QMP-style JSON over a stream socket: one request object
 * ({"execute": "<command>", "arguments": {...}}) in, one response object
 * ({"return": <value>} or {"error": {"class": ..., "desc": ...}}) out,
 * each response ending with a newline.  The channel carries no request ids,
 * so a client that connects after another one gave up (or after a command
 * timed out) may find stale responses in it.  guest-sync-delimited puts the
 * stream back in step: the client sends a 0xFF byte (the agent's parser
 * drops whatever partial input it holds), then the command with a fresh id;
 * the agent answers with a 0xFF byte followed by {"return": <id>}.  Anything
 * before the answer carrying our id is dropped.
 *
 * Every call takes a deadline in CLOCK_MONOTONIC milliseconds (qga_now_ms())
 * and returns -ETIMEDOUT past it, -EPIPE when the agent closed the channel,
 * -EPROTO on a response that makes no sense and -EIO on an error response,
 * whose description is then in @error.
 */
#ifndef SNAPCTL_QGA_H
#define SNAPCTL_QGA_H

#include <stddef.h>
#include <stdint.h>

struct qga {
	int fd;
	size_t len;		/* bytes received, not consumed yet */
	char buf[4096];
	char error[256];	/* the last error, for messages */
};

int64_t qga_now_ms(void);

/* Connect to the agent's unix socket at @path. */
int qga_connect(struct qga *a, const char *path);
/* Use an already connected stream socket (tests); the client owns it. */
void qga_attach(struct qga *a, int fd);
void qga_close(struct qga *a);

/* guest-sync-delimited with @id: drops stale responses. */
int qga_sync(struct qga *a, uint32_t id, int64_t deadline);
/* guest-fsfreeze-freeze: 0 and the number of filesystems frozen in @count. */
int qga_freeze(struct qga *a, long *count, int64_t deadline);
/* guest-fsfreeze-thaw: 0 and the number of filesystems thawed in @count. */
int qga_thaw(struct qga *a, long *count, int64_t deadline);
/* guest-fsfreeze-status: "frozen" or "thawed" in @status. */
int qga_freeze_status(struct qga *a, char *status, size_t len, int64_t deadline);

/*
 * JSON helpers, exposed for the tests: the raw text of member @key of the
 * object at @json (NULL if absent), its length in @len; and a JSON string's
 * value, unescaped (non-ASCII \u escapes become '?').
 */
const char *qga_json_member(const char *json, const char *key, size_t *len);
int qga_json_string(const char *value, size_t vlen, char *out, size_t outlen);

#endif
