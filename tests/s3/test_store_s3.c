// SPDX-License-Identifier: GPL-2.0
/*
 * The S3 object store against a real S3-protocol server (tests/s3/run
 * starts one and sets AWS_ENDPOINT_URL and the credentials):
 *
 *   test_store_s3 s3://<bucket>
 *
 * Prints "PASS s3/<test>" or "FAIL s3/<test> (why)" for each test, and
 * exits nonzero if any failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <pthread.h>

#include "store.h"

#define BIG_SIZE (1024 * 1024)
#define MANY 1100		/* more than the 1000 keys of one list page */

static const char *base_url;
static char failure[1024];

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static bool fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(failure, sizeof(failure), fmt, ap);
	va_end(ap);
	return false;
}

/* Check @cond, else fail the test with the expression and the store's error. */
#define CHECK(s, cond)							\
	do {								\
		if (!(cond))						\
			return fail("line %d: %s (store: %s)", __LINE__, #cond, \
				    store_error(s));			\
	} while (0)

/* The same for conditions that do not involve a store. */
#define REQUIRE(cond)							\
	do {								\
		if (!(cond))						\
			return fail("line %d: %s", __LINE__, #cond);	\
	} while (0)

static struct store *open_store(const char *url)
{
	const char *why = NULL;
	struct store *s = store_open(url, &why);

	if (!s)
		fail("store_open(%s): %s", url, why);
	return s;
}

/*
 * The store opened against a server of the test's own on 127.0.0.1:@port,
 * retrying @retries times; the endpoint and retries the other tests use
 * are set back before it returns.
 */
static struct store *open_store_at(int port, const char *retries)
{
	char *endpoint = strdup(getenv("AWS_ENDPOINT_URL"));
	struct store *s;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	setenv("AWS_ENDPOINT_URL", url, 1);
	setenv("SNAPCTL_S3_RETRIES", retries, 1);
	s = open_store(base_url);
	setenv("AWS_ENDPOINT_URL", endpoint, 1);
	unsetenv("SNAPCTL_S3_RETRIES");
	free(endpoint);
	return s;
}

static void sha256(const void *data, size_t len, unsigned char md[32])
{
	unsigned int n = 32;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
}

static bool test_round_trip(void)
{
	unsigned char want[32], got[32];
	struct store_buf buf = { 0 };
	struct store_stats st;
	struct store *s = open_store(base_url);
	uint8_t *data = malloc(BIG_SIZE);
	size_t done = 0;
	bool ok = false;

	if (!s || !data)
		goto out;
	while (done < BIG_SIZE) {
		ssize_t n = getrandom(data + done, BIG_SIZE - done, 0);

		if (n < 0)
			goto out;
		done += n;
	}
	sha256(data, BIG_SIZE, want);
	if (store_put(s, "big/random", data, BIG_SIZE)) {
		fail("put: %s", store_error(s));
		goto out;
	}
	if (store_get(s, "big/random", &buf)) {
		fail("get: %s", store_error(s));
		goto out;
	}
	sha256(buf.data, buf.len, got);
	store_get_stats(s, &st);
	if (buf.len != BIG_SIZE || memcmp(want, got, 32))
		fail("got %zu bytes back, or other bytes", buf.len);
	else if (st.puts != 1 || st.put_bytes != BIG_SIZE || st.gets != 1 ||
		 st.get_bytes != BIG_SIZE || st.retries != 0)
		fail("stats %llu/%llu/%llu/%llu/%llu", (unsigned long long)st.puts,
		     (unsigned long long)st.put_bytes, (unsigned long long)st.gets,
		     (unsigned long long)st.get_bytes, (unsigned long long)st.retries);
	else
		ok = true;
out:
	store_buf_free(&buf);
	free(data);
	store_close(s);
	return ok;
}

static bool check_small(struct store *s, const char *key, const char *want)
{
	struct store_buf buf = { 0 };
	bool ok;

	ok = !store_get(s, key, &buf) && buf.len == strlen(want) &&
	     !memcmp(buf.data, want, buf.len);
	store_buf_free(&buf);
	return ok;
}

static bool small_tests(struct store *s)
{
	const struct iovec parts[3] = { { "sec", 3 }, { NULL, 0 }, { "ond", 3 } };
	struct store_buf buf = { 0 };

	CHECK(s, store_put(s, "small/one", "first", 5) == 0);
	CHECK(s, store_exists(s, "small/one") == 0);
	CHECK(s, store_exists(s, "small/none") == -ENOENT);
	CHECK(s, store_exists(s, "small") == -ENOENT);
	CHECK(s, store_get(s, "small/none", &buf) == -ENOENT);
	CHECK(s, strstr(store_error(s), "NoSuchKey"));
	store_buf_free(&buf);
	/* replaced by an object put in parts */
	CHECK(s, store_putv(s, "small/one", parts, 3) == 0);
	CHECK(s, check_small(s, "small/one", "second"));
	CHECK(s, store_put(s, "small/empty", NULL, 0) == 0);
	CHECK(s, check_small(s, "small/empty", ""));
	/* Characters that need percent-encoding in the path and the query. */
	CHECK(s, store_put(s, "odd/a key+with=odd&chars~", "odd", 3) == 0);
	CHECK(s, check_small(s, "odd/a key+with=odd&chars~", "odd"));
	CHECK(s, store_exists(s, "odd/a key+with=odd&chars~") == 0);
	CHECK(s, store_delete(s, "odd/a key+with=odd&chars~") == 0);
	CHECK(s, store_exists(s, "odd/a key+with=odd&chars~") == -ENOENT);
	CHECK(s, store_put(s, "odd/sp ace+plus=eq~", "odd", 3) == 0);
	return true;
}

static bool test_small_objects(void)
{
	struct store *s = open_store(base_url);
	bool ok;

	if (!s)
		return false;
	ok = small_tests(s);
	store_close(s);
	return ok;
}

struct seen {
	unsigned char many[MANY];
	unsigned int count;
	unsigned int other;
	bool bad_size;
	char last[256];
};

static int note_key(void *context, const char *key, uint64_t size)
{
	struct seen *seen = context;
	unsigned int i;
	char end;

	seen->count++;
	snprintf(seen->last, sizeof(seen->last), "%s", key);
	if (sscanf(key, "many/k%4u%c", &i, &end) == 1 && i < MANY) {
		seen->many[i]++;
		if (size != strlen(key))
			seen->bad_size = true;
	} else {
		seen->other++;
	}
	return 0;
}

static int stop_at_third(void *context, const char *key, uint64_t size)
{
	int *calls = context;

	return ++*calls == 3 ? 42 : 0;
}

static bool all_once(const struct seen *seen, unsigned int from, unsigned int to)
{
	unsigned int i;

	for (i = 0; i < MANY; i++)
		if (seen->many[i] != (i >= from && i < to))
			return false;
	return true;
}

static bool list_tests(struct store *s)
{
	struct seen *seen = calloc(1, sizeof(*seen));
	char key[32];
	int i, calls = 0;

	REQUIRE(seen);
	for (i = 0; i < MANY; i++) {
		snprintf(key, sizeof(key), "many/k%04d", i);
		CHECK(s, store_put(s, key, key, strlen(key)) == 0);
	}
	CHECK(s, store_list(s, "many/", note_key, seen) == 0);
	CHECK(s, seen->count == MANY && seen->other == 0 && !seen->bad_size);
	CHECK(s, all_once(seen, 0, MANY));

	memset(seen, 0, sizeof(*seen));
	CHECK(s, store_list(s, "many/k10", note_key, seen) == 0);
	CHECK(s, seen->count == 100 && seen->other == 0 && all_once(seen, 1000, 1100));

	memset(seen, 0, sizeof(*seen));
	CHECK(s, store_list(s, "small/", note_key, seen) == 0);
	CHECK(s, seen->count == 2 && seen->other == 2);

	memset(seen, 0, sizeof(*seen));
	CHECK(s, store_list(s, "nothing/", note_key, seen) == 0);
	CHECK(s, seen->count == 0);

	/*
	 * Encoding in the query.  (Not '&' in a listed key: s3rver escapes
	 * it twice in the XML, "&amp;amp;", where S3 escapes it once.)
	 */
	memset(seen, 0, sizeof(*seen));
	CHECK(s, store_list(s, "odd/sp ace+p", note_key, seen) == 0);
	CHECK(s, seen->count == 1 && !strcmp(seen->last, "odd/sp ace+plus=eq~"));

	CHECK(s, store_list(s, "many/", stop_at_third, &calls) == 42 && calls == 3);
	free(seen);
	return true;
}

static bool test_list(void)
{
	struct store *s = open_store(base_url);
	bool ok;

	if (!s)
		return false;
	ok = list_tests(s);
	store_close(s);
	return ok;
}

static bool delete_tests(struct store *s)
{
	struct seen seen = { 0 };

	CHECK(s, store_delete(s, "many/k0000") == 0);
	CHECK(s, store_exists(s, "many/k0000") == -ENOENT);
	CHECK(s, store_delete(s, "many/k0000") == 0);
	CHECK(s, store_delete(s, "never/was") == 0);
	CHECK(s, store_list(s, "many/k000", note_key, &seen) == 0);
	CHECK(s, seen.count == 9 && !seen.many[0] && seen.many[1]);
	return true;
}

static bool test_delete(void)
{
	struct store *s = open_store(base_url);
	bool ok;

	if (!s)
		return false;
	ok = delete_tests(s);
	store_close(s);
	return ok;
}

/* A store under a prefix sees its own keys, relative to the prefix. */
static bool prefix_tests(struct store *outer, struct store *inner)
{
	struct seen seen = { 0 };

	CHECK(inner, store_put(inner, "x/inner", "in", 2) == 0);
	CHECK(outer, check_small(outer, "pfx/sub/x/inner", "in"));
	CHECK(outer, store_put(outer, "pfx/subway", "no", 2) == 0);
	CHECK(inner, store_list(inner, "", note_key, &seen) == 0);
	CHECK(inner, seen.count == 1 && !strcmp(seen.last, "x/inner"));
	CHECK(inner, store_exists(inner, "x/inner") == 0);
	CHECK(inner, store_delete(inner, "x/inner") == 0);
	CHECK(outer, store_exists(outer, "pfx/sub/x/inner") == -ENOENT);
	return true;
}

static bool test_prefix(void)
{
	char url[512];
	struct store *outer, *inner;
	bool ok = false;

	snprintf(url, sizeof(url), "%s/pfx/sub/", base_url);
	outer = open_store(base_url);
	inner = outer ? open_store(url) : NULL;
	if (inner)
		ok = prefix_tests(outer, inner);
	store_close(inner);
	store_close(outer);
	return ok;
}

static bool test_wrong_secret(void)
{
	char *secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
	struct store_buf buf = { 0 };
	struct store *s;
	bool ok = false;
	int ret;

	setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
	s = open_store(base_url);
	setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
	free(secret);
	if (!s)
		return false;
	ret = store_put(s, "refused", "x", 1);
	if (ret != -EACCES)
		fail("put with a wrong secret: %d (%s)", ret, store_error(s));
	else if (!strstr(store_error(s), "SignatureDoesNotMatch"))
		fail("error does not name the S3 code: %s", store_error(s));
	else if ((ret = store_get(s, "small/one", &buf)) != -EACCES)
		fail("get with a wrong secret: %d (%s)", ret, store_error(s));
	else
		ok = true;
	store_buf_free(&buf);
	store_close(s);
	return ok;
}

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool test_unreachable(void)
{
	struct store_buf buf = { 0 };
	struct store_stats st;
	struct store *s;
	bool ok = false;
	int ret;

	s = open_store_at(closed_port(), "2");
	if (!s)
		return false;
	ret = store_get(s, "small/one", &buf);
	store_get_stats(s, &st);
	if (ret != -EIO)
		fail("get from a closed port: %d (%s)", ret, store_error(s));
	else if (st.retries != 2)
		fail("%llu retries counted, not 2", (unsigned long long)st.retries);
	else if ((ret = store_put(s, "x", "x", 1)) != -EIO)
		fail("put to a closed port: %d (%s)", ret, store_error(s));
	else
		ok = true;
	store_buf_free(&buf);
	store_close(s);
	return ok;
}

/* A server that answers every request 503 SlowDown, @count times. */
struct busy_server {
	int fd;
	int count;
	int served;
};

static void *busy_serve(void *arg)
{
	static const char answer[] =
		"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
		"Content-Length: 60\r\nConnection: close\r\n\r\n"
		"<Error><Code>SlowDown</Code><Message>busy</Message></Error>\n";
	struct busy_server *b = arg;
	char request[4096];

	while (b->served < b->count) {
		int c = accept(b->fd, NULL, NULL);
		size_t got = 0;
		ssize_t n;

		if (c < 0)
			break;
		/* Read the request head (GETs carry no body). */
		while (got < sizeof(request) - 1 &&
		       (n = read(c, request + got, sizeof(request) - 1 - got)) > 0) {
			got += n;
			request[got] = '\0';
			if (strstr(request, "\r\n\r\n"))
				break;
		}
		if (write(c, answer, sizeof(answer) - 1) < 0)
			break;
		close(c);
		b->served++;
	}
	return NULL;
}

static int listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static bool busy_tests(struct store *s)
{
	struct store_buf buf = { 0 };
	struct store_stats st;
	int ret = store_get(s, "small/one", &buf);

	store_buf_free(&buf);
	store_get_stats(s, &st);
	CHECK(s, ret == -EIO);
	CHECK(s, st.retries == 2);
	CHECK(s, strstr(store_error(s), "503") && strstr(store_error(s), "SlowDown"));
	return true;
}

static bool test_server_busy(void)
{
	struct busy_server b = { .count = 3 };
	struct store *s = NULL;
	pthread_t thread;
	bool ok = false;
	int port;

	b.fd = listen_any(&port);
	if (b.fd < 0 || pthread_create(&thread, NULL, busy_serve, &b))
		return fail("cannot start the busy server");
	s = open_store_at(port, "2");
	if (s)
		ok = busy_tests(s);
	store_close(s);
	shutdown(b.fd, SHUT_RDWR);	/* wakes accept() if a test failed early */
	pthread_join(thread, NULL);
	close(b.fd);
	if (ok && b.served != 3)
		ok = fail("the busy server answered %d requests, not 3", b.served);
	return ok;
}

/*
 * An object put in parts (a chunk's header, its data, an encryption tag)
 * goes out as their concatenation, with its SHA-256 in
 * x-amz-content-sha256, and goes out whole again when the request is
 * retried.  A server of our own answers the first PUT 503, the second 200,
 * and keeps the head and body of both.
 */
#define PARTS_BODY ((200u << 10) + 32)	/* under curl's 1 MiB for Expect: 100-continue */

struct capture_server {
	int fd;
	int served;
	char sha[2][65];		/* x-amz-content-sha256 of each request */
	size_t len[2];
	uint8_t *body[2];
};

static void header_value(const char *head, const char *name, char *out, size_t size)
{
	const char *p = strcasestr(head, name);
	size_t n;

	out[0] = '\0';
	if (!p)
		return;
	p += strlen(name);
	while (*p == ' ')
		p++;
	n = strcspn(p, "\r\n");
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static void *capture_serve(void *arg)
{
	static const char busy[] =
		"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
		"Content-Length: 60\r\nConnection: close\r\n\r\n"
		"<Error><Code>SlowDown</Code><Message>busy</Message></Error>\n";
	static const char done[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	struct capture_server *c = arg;
	char head[8192], length[32];

	while (c->served < 2) {
		int k = c->served, conn = accept(c->fd, NULL, NULL);
		size_t got = 0, want;
		char *end = NULL;
		ssize_t n;

		if (conn < 0)
			break;
		while (got < sizeof(head) - 1 && !end &&
		       (n = read(conn, head + got, sizeof(head) - 1 - got)) > 0) {
			got += n;
			head[got] = '\0';
			end = strstr(head, "\r\n\r\n");
		}
		header_value(head, "x-amz-content-sha256:", c->sha[k], sizeof(c->sha[k]));
		header_value(head, "content-length:", length, sizeof(length));
		want = strtoul(length, NULL, 10);
		c->body[k] = malloc(want ? want : 1);
		if (end && c->body[k] && want <= PARTS_BODY) {
			size_t have = got - (end + 4 - head);

			memcpy(c->body[k], end + 4, have);
			while (have < want && (n = read(conn, c->body[k] + have, want - have)) > 0)
				have += n;
			c->len[k] = have;
		}
		n = k ? write(conn, done, sizeof(done) - 1) : write(conn, busy, sizeof(busy) - 1);
		close(conn);
		c->served++;
		if (n < 0)
			break;
	}
	return NULL;
}

static void hex32(const unsigned char md[32], char hex[65])
{
	unsigned int i;

	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
}

static bool parts_tests(struct store *s, struct capture_server *c)
{
	static const char head[16] = "DMRC-head-bytes", tail[16] = "-the-tail-bytes";
	uint8_t *data = malloc(PARTS_BODY - 32), *whole = malloc(PARTS_BODY);
	struct iovec parts[4] = {
		{ (void *)head, sizeof(head) }, { data, PARTS_BODY - 32 }, { NULL, 0 },
		{ (void *)tail, sizeof(tail) },
	};
	unsigned char md[32];
	char want[65];
	struct store_stats st;
	bool ok = false;
	int i;

	if (!data || !whole) {
		fail("out of memory");
		goto out;
	}
	for (i = 0; i < (int)(PARTS_BODY - 32); i++)
		data[i] = (i * 7919) >> 3;
	memcpy(whole, head, 16);
	memcpy(whole + 16, data, PARTS_BODY - 32);
	memcpy(whole + PARTS_BODY - 16, tail, 16);
	sha256(whole, PARTS_BODY, md);
	hex32(md, want);
	if (store_putv(s, "parts/obj", parts, 4)) {
		fail("putv: %s", store_error(s));
		goto out;
	}
	store_get_stats(s, &st);
	for (i = 0; i < 2; i++) {
		if (c->len[i] != PARTS_BODY || memcmp(c->body[i], whole, PARTS_BODY)) {
			fail("request %d: %zu bytes of body, or other bytes", i + 1, c->len[i]);
			goto out;
		}
		if (strcmp(c->sha[i], want)) {
			fail("request %d: x-amz-content-sha256 %s, not %s", i + 1, c->sha[i], want);
			goto out;
		}
	}
	if (st.puts != 1 || st.put_bytes != PARTS_BODY || st.retries != 1)
		fail("stats %llu/%llu/%llu", (unsigned long long)st.puts,
		     (unsigned long long)st.put_bytes, (unsigned long long)st.retries);
	else
		ok = true;
out:
	free(data);
	free(whole);
	return ok;
}

static bool test_put_parts(void)
{
	struct capture_server c = { 0 };
	struct store *s = NULL;
	pthread_t thread;
	bool ok = false;
	int port, i;

	c.fd = listen_any(&port);
	if (c.fd < 0 || pthread_create(&thread, NULL, capture_serve, &c))
		return fail("cannot start the capturing server");
	s = open_store_at(port, "1");
	if (s)
		ok = parts_tests(s, &c);
	store_close(s);
	shutdown(c.fd, SHUT_RDWR);
	pthread_join(thread, NULL);
	close(c.fd);
	for (i = 0; i < 2; i++)
		free(c.body[i]);
	return ok;
}

/* Settings from the file named by SNAPCTL_S3_CONFIG; the environment wins. */
static bool config_tests(const char *path, const char *endpoint)
{
	struct store *s;
	FILE *f;

	f = fopen(path, "w");
	REQUIRE(f);
	fprintf(f, "# written by test_store_s3\n\n  endpoint = %s/\n"
		"region=us-east-1\naccess_key_id = S3RVER\nsecret_access_key = S3RVER\n"
		"retries = 0\n", endpoint);
	fclose(f);
	setenv("SNAPCTL_S3_CONFIG", path, 1);
	s = open_store(base_url);
	REQUIRE(s);
	CHECK(s, check_small(s, "small/one", "second"));
	store_close(s);

	setenv("AWS_SECRET_ACCESS_KEY", "wrong", 1);
	s = open_store(base_url);
	REQUIRE(s);
	CHECK(s, store_exists(s, "small/one") == -EACCES);
	store_close(s);
	unsetenv("AWS_SECRET_ACCESS_KEY");

	f = fopen(path, "a");
	REQUIRE(f);
	fprintf(f, "colour = blue\n");
	fclose(f);
	s = store_open(base_url, NULL);
	if (s) {
		store_close(s);
		return fail("opened with an unknown key in the config file");
	}
	return true;
}

static bool test_config_file(void)
{
	static const char *const names[] = {
		"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
	};
	char path[] = "/tmp/test_store_s3.conf.XXXXXX";
	char *saved[4];
	unsigned int i;
	bool ok;
	int fd = mkstemp(path);

	if (fd < 0)
		return fail("mkstemp: %s", strerror(errno));
	close(fd);
	for (i = 0; i < 4; i++) {
		saved[i] = strdup(getenv(names[i]));
		unsetenv(names[i]);
	}
	ok = config_tests(path, saved[0]);
	for (i = 0; i < 4; i++) {
		setenv(names[i], saved[i], 1);
		free(saved[i]);
	}
	unsetenv("SNAPCTL_S3_CONFIG");
	unlink(path);
	return ok;
}

static bool test_missing_credentials(void)
{
	char *secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
	const char *why = NULL;
	struct store *s;

	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("SNAPCTL_S3_CONFIG", "/dev/null", 1);
	s = store_open(base_url, &why);
	setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
	free(secret);
	if (s) {
		store_close(s);
		return fail("opened without a secret");
	}
	if (!why || !strstr(why, "AWS_SECRET_ACCESS_KEY"))
		return fail("reason: %s", why ? why : "(none)");
	return true;
}

static bool test_bad_urls(void)
{
	static const char *const bad[] = { "s3://", "s3:///prefix", "s3://b/a//c", "ftp://x" };
	const char *why = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct store *s = store_open(bad[i], &why);

		if (s) {
			store_close(s);
			return fail("store_open(%s) succeeded", bad[i]);
		}
		if (!why || !*why)
			return fail("store_open(%s) gave no reason", bad[i]);
	}
	return true;
}

static const struct {
	const char *name;
	bool (*fn)(void);
} tests[] = {
	{ "round_trip_1MiB", test_round_trip },
	{ "small_objects", test_small_objects },
	{ "list_paginated", test_list },
	{ "delete", test_delete },
	{ "prefix", test_prefix },
	{ "wrong_secret", test_wrong_secret },
	{ "unreachable", test_unreachable },
	{ "server_busy", test_server_busy },
	{ "put_parts", test_put_parts },
	{ "config_file", test_config_file },
	{ "missing_credentials", test_missing_credentials },
	{ "bad_urls", test_bad_urls },
};

int main(int argc, char **argv)
{
	unsigned int i, failed = 0;

	if (argc != 2 || strncmp(argv[1], "s3://", 5)) {
		fprintf(stderr, "usage: %s s3://<bucket>\n", argv[0]);
		return 2;
	}
	if (!getenv("AWS_ENDPOINT_URL") || !getenv("AWS_SECRET_ACCESS_KEY")) {
		fprintf(stderr, "%s: set AWS_ENDPOINT_URL and the credentials (tests/s3/run does)\n",
			argv[0]);
		return 2;
	}
	base_url = argv[1];
	if (store_global_init()) {
		fprintf(stderr, "%s: store_global_init failed\n", argv[0]);
		return 1;
	}
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		failure[0] = '\0';
		if (tests[i].fn()) {
			printf("PASS s3/%s\n", tests[i].name);
		} else {
			printf("FAIL s3/%s (%s)\n", tests[i].name, failure);
			failed++;
		}
		fflush(stdout);
	}
	store_global_exit();
	return failed ? 1 : 0;
}
