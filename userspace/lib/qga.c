// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU guest agent client; see qga.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qga.h"

int64_t qga_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_error(struct qga *a, int r, const char *what)
{
	snprintf(a->error, sizeof(a->error), "%s", what);
	return r;
}

void qga_attach(struct qga *a, int fd)
{
	a->fd = fd;
	a->len = 0;
	a->error[0] = '\0';
}

int qga_connect(struct qga *a, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, r;

	qga_attach(a, -1);
	if (strlen(path) >= sizeof(addr.sun_path))
		return set_error(a, -ENAMETOOLONG, "socket path too long");
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return set_error(a, -errno, strerror(errno));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		char why[128];

		r = -errno;
		close(fd);
		snprintf(why, sizeof(why), "cannot connect (%s)", strerror(-r));
		return set_error(a, r, why);
	}
	a->fd = fd;
	return 0;
}

void qga_close(struct qga *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	a->len = 0;
}

/* Wait for @events on the channel until @deadline. */
static int wait_for(struct qga *a, short events, int64_t deadline)
{
	struct pollfd p = { .fd = a->fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - qga_now_ms();
		if (left <= 0)
			return set_error(a, -ETIMEDOUT, "the agent did not answer in time");
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return set_error(a, -errno, strerror(errno));
	}
}

static int send_all(struct qga *a, const char *data, size_t len, int64_t deadline)
{
	ssize_t n;
	int r;

	while (len) {
		r = wait_for(a, POLLOUT, deadline);
		if (r)
			return r;
		n = send(a->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				return set_error(a, -EPIPE, "the agent closed the connection");
			return set_error(a, -errno, strerror(errno));
		}
		data += n;
		len -= n;
	}
	return 0;
}

/* Receive more bytes into the buffer. */
static int fill(struct qga *a, int64_t deadline)
{
	ssize_t n;
	int r;

	if (a->len == sizeof(a->buf))
		return set_error(a, -EPROTO, "a response longer than 4 KiB");
	for (;;) {
		r = wait_for(a, POLLIN, deadline);
		if (r)
			return r;
		n = recv(a->fd, a->buf + a->len, sizeof(a->buf) - a->len, MSG_DONTWAIT);
		if (n > 0) {
			a->len += n;
			return 0;
		}
		if (n == 0 || errno == ECONNRESET)
			return set_error(a, -EPIPE, "the agent closed the connection");
		if (errno != EINTR && errno != EAGAIN)
			return set_error(a, -errno, strerror(errno));
	}
}

static void consume(struct qga *a, size_t n)
{
	memmove(a->buf, a->buf + n, a->len - n);
	a->len -= n;
}

/* One response line, without its newline, NUL-terminated. */
static int read_line(struct qga *a, char *line, size_t size, int64_t deadline)
{
	char *nl;
	size_t n;
	int r;

	while (!(nl = memchr(a->buf, '\n', a->len))) {
		r = fill(a, deadline);
		if (r)
			return r;
	}
	n = nl - a->buf;
	if (n >= size) {
		consume(a, n + 1);
		return set_error(a, -EPROTO, "a response longer than expected");
	}
	memcpy(line, a->buf, n);
	line[n] = '\0';
	consume(a, n + 1);
	return 0;
}

/*----------------------------------------------------------------
 * Just enough JSON to read the agent's responses
 *--------------------------------------------------------------*/

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/* @p at a '"': past the closing quote, or NULL if there is none. */
static const char *skip_string(const char *p)
{
	for (p++; *p; p++) {
		if (*p == '\\') {
			if (!*++p)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/* Past one JSON value at @p, or NULL if it is malformed. */
static const char *skip_value(const char *p)
{
	int depth = 0;

	if (*p == '"')
		return skip_string(p);
	if (*p != '{' && *p != '[') {
		const char *start = p;

		while (*p && !strchr(",}] \t\r\n", *p))
			p++;
		return p == start ? NULL : p;
	}
	for (; *p; p++) {
		if (*p == '"') {
			p = skip_string(p);
			if (!p)
				return NULL;
			p--;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if ((*p == '}' || *p == ']') && !--depth) {
			return p + 1;
		}
	}
	return NULL;
}

const char *qga_json_member(const char *json, const char *key, size_t *len)
{
	const char *p = skip_ws(json), *k, *kend, *v, *vend;

	if (*p != '{')
		return NULL;
	p = skip_ws(p + 1);
	if (*p == '}')
		return NULL;
	for (;;) {
		if (*p != '"')
			return NULL;
		k = p + 1;
		kend = skip_string(p);
		if (!kend)
			return NULL;
		p = skip_ws(kend);
		if (*p != ':')
			return NULL;
		v = skip_ws(p + 1);
		vend = skip_value(v);
		if (!vend)
			return NULL;
		if ((size_t)(kend - 1 - k) == strlen(key) && !memcmp(k, key, strlen(key))) {
			*len = vend - v;
			return v;
		}
		p = skip_ws(vend);
		if (*p != ',')
			return NULL;
		p = skip_ws(p + 1);
	}
}

int qga_json_string(const char *value, size_t vlen, char *out, size_t outlen)
{
	size_t i, o = 0;

	if (vlen < 2 || value[0] != '"' || value[vlen - 1] != '"' || !outlen)
		return -EPROTO;
	for (i = 1; i < vlen - 1 && o + 1 < outlen; i++) {
		char c = value[i];

		if (c == '\\' && i + 1 < vlen - 1) {
			c = value[++i];
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				char hex[5] = { 0 };
				unsigned long u;

				if (i + 4 >= vlen - 1)
					return -EPROTO;
				memcpy(hex, value + i + 1, 4);
				u = strtoul(hex, NULL, 16);
				c = u >= 0x20 && u < 0x7f ? (char)u : '?';
				i += 4;
				break;
			}
			default:	/* '"', '\\', '/' stand for themselves */
				break;
			}
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/*----------------------------------------------------------------*/

int qga_sync(struct qga *a, uint32_t id, int64_t deadline)
{
	char req[128], line[512];
	const char *v;
	size_t vlen;
	int r;

	/* The leading 0xFF resets the agent's parser. */
	snprintf(req, sizeof(req),
		 "\xff{\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": %u}}\n", id);
	r = send_all(a, req, strlen(req), deadline);
	if (r)
		return r;
	for (;;) {
		char *ff;

		/* Everything before the agent's 0xFF is stale. */
		while (!(ff = memchr(a->buf, 0xff, a->len))) {
			a->len = 0;
			r = fill(a, deadline);
			if (r)
				return r;
		}
		consume(a, ff - a->buf + 1);
		r = read_line(a, line, sizeof(line), deadline);
		if (r == -EPROTO)
			continue;
		if (r)
			return r;
		v = qga_json_member(line, "return", &vlen);
		if (v && strtoull(v, NULL, 10) == id && vlen == strspn(v, "0123456789"))
			return 0;
		/* An answer to an earlier sync: keep looking. */
	}
}

/* Run @command (no arguments); the raw text of its "return" value in @ret. */
static int command(struct qga *a, const char *command, char *ret, size_t retlen,
		   int64_t deadline)
{
	char req[128], line[1024];
	const char *v;
	size_t vlen;
	int r;

	snprintf(req, sizeof(req), "{\"execute\": \"%s\"}\n", command);
	r = send_all(a, req, strlen(req), deadline);
	if (!r)
		r = read_line(a, line, sizeof(line), deadline);
	if (r)
		return r;
	v = qga_json_member(line, "return", &vlen);
	if (v) {
		snprintf(ret, retlen, "%.*s", (int)vlen, v);
		return 0;
	}
	v = qga_json_member(line, "error", &vlen);
	if (v) {
		char obj[1024];
		const char *desc;
		size_t dlen;

		snprintf(obj, sizeof(obj), "%.*s", (int)vlen, v);
		desc = qga_json_member(obj, "desc", &dlen);
		if (!desc || qga_json_string(desc, dlen, a->error, sizeof(a->error)))
			snprintf(a->error, sizeof(a->error), "%s failed", command);
		return -EIO;
	}
	return set_error(a, -EPROTO, "a response with neither a return value nor an error");
}

static int count_command(struct qga *a, const char *name, long *count, int64_t deadline)
{
	char ret[64], *end;
	int r;

	r = command(a, name, ret, sizeof(ret), deadline);
	if (r)
		return r;
	*count = strtol(ret, &end, 10);
	if (end == ret || *end)
		return set_error(a, -EPROTO, "a count that is not a number");
	return 0;
}

int qga_freeze(struct qga *a, long *count, int64_t deadline)
{
	return count_command(a, "guest-fsfreeze-freeze", count, deadline);
}

int qga_thaw(struct qga *a, long *count, int64_t deadline)
{
	return count_command(a, "guest-fsfreeze-thaw", count, deadline);
}

int qga_freeze_status(struct qga *a, char *status, size_t len, int64_t deadline)
{
	char ret[64];
	int r;

	r = command(a, "guest-fsfreeze-status", ret, sizeof(ret), deadline);
	if (r)
		return r;
	if (qga_json_string(ret, strlen(ret), status, len))
		return set_error(a, -EPROTO, "a status that is not a string");
	return 0;
}
