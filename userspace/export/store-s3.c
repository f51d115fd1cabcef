// SPDX-License-Identifier: GPL-2.0
/*
 * S3 object store over libcurl: path-style requests
 * <endpoint>/<bucket>/<prefix><key>, signed with SigV4 by curl
 * (CURLOPT_AWS_SIGV4).  Settings and retry rules are in store.h.
 *
 * Two things curl 7.88 leaves to us for SigV4 to verify:
 *   - the x-amz-content-sha256 header (SHA-256 of the body, of "" for
 *     requests without one): curl signs it but does not add it, and S3
 *     refuses a request without it;
 *   - a canonical query string: curl signs the query as written, S3 signs
 *     it with parameters sorted by name and values percent-encoded, so we
 *     write it that way.
 * Paths are percent-encoded the same way (RFC 3986 unreserved characters
 * and '/' stay as they are), which is also how S3 canonicalizes them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "store-backend.h"

#define S3_DEFAULT_CONFIG "/etc/dm-row/s3.conf"
#define S3_DEFAULT_REGION "us-east-1"
#define S3_DEFAULT_RETRIES 6
#define S3_MAX_RETRIES 100
#define S3_BACKOFF_FIRST_MS 100
#define S3_BACKOFF_MAX_MS 5000
#define S3_CONNECT_TIMEOUT 10L		/* seconds */
#define S3_LOW_SPEED_TIME 30L		/* seconds below 1 byte/s: a dead peer */
#define S3_ANSWER_MAX (1u << 20)	/* bodies of answers other than GET and LIST */
#define S3_LIST_MAX (16u << 20)		/* one ListObjectsV2 page (1000 keys ~ 300 KB) */

struct s3_config {
	char *endpoint;
	char *region;
	char *access_key;
	char *secret;
	unsigned int retries;
};

struct s3_store {
	struct s3_config cfg;
	char *bucket;
	char *prefix;		/* "" or "dir/.../" */
	char *userpwd;
	char *sigv4;
	CURL *curl;
	struct store_buf body;	/* answers other than a GET's object */
	char curl_error[CURL_ERROR_SIZE];
};

struct request {
	const char *method;	/* GET PUT HEAD DELETE, or LIST (a GET) */
	const char *key;	/* for messages */
	const char *url;
	const struct iovec *parts;	/* PUT body: these one after the other */
	unsigned int nr_parts;
	size_t len;		/* ... of len bytes */
	size_t sent;
	unsigned int part;	/* where on_read goes on: parts[part], ... */
	size_t part_off;	/* ... from this byte of it */
	struct store_buf *out;	/* where the answer's body goes */
	size_t max;		/* ... and the most of it we hold */
	bool too_big;		/* the answer went past max: refused */
	long status;
	unsigned int attempts;
};

static struct s3_store *s3_of(struct store *s)
{
	return s->priv;
}

/* ---- settings ---- */

static char *trim(char *p)
{
	char *end;

	while (isspace((unsigned char)*p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return p;
}

static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static int set_retries(struct s3_config *cfg, const char *value)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(value, &end, 10);
	if (errno || end == value || *trim(end) || n > S3_MAX_RETRIES || value[0] == '-')
		return -EINVAL;
	cfg->retries = n;
	return 0;
}

static int config_set(struct s3_config *cfg, const char *key, const char *value)
{
	if (!strcmp(key, "endpoint"))
		return set_string(&cfg->endpoint, value);
	if (!strcmp(key, "region"))
		return set_string(&cfg->region, value);
	if (!strcmp(key, "access_key_id"))
		return set_string(&cfg->access_key, value);
	if (!strcmp(key, "secret_access_key"))
		return set_string(&cfg->secret, value);
	if (!strcmp(key, "retries"))
		return set_retries(cfg, value);
	return -ENOENT;
}

static int parse_config_line(struct s3_config *cfg, char *line, const char **why)
{
	char *eq, *key;
	int ret;

	key = trim(line);
	if (!*key || *key == '#')
		return 0;
	eq = strchr(key, '=');
	if (!eq) {
		*why = "S3 config file: a line is not \"key = value\"";
		return -EINVAL;
	}
	*eq = '\0';
	ret = config_set(cfg, trim(key), trim(eq + 1));
	if (ret == -ENOENT)
		*why = "S3 config file: unknown key (endpoint, region, access_key_id, "
		       "secret_access_key, retries)";
	else if (ret == -EINVAL)
		*why = "S3 config file: retries must be a number from 0 to 100";
	else if (ret)
		*why = "out of memory";
	return ret;
}

/* The optional "key = value" file: SNAPCTL_S3_CONFIG or the default. */
static int load_config_file(struct s3_config *cfg, const char **why)
{
	const char *path = getenv("SNAPCTL_S3_CONFIG");
	bool named = path && *path;
	char *line = NULL;
	size_t size = 0;
	int ret = 0;
	FILE *f;

	f = fopen(named ? path : S3_DEFAULT_CONFIG, "re");
	if (!f) {
		if (!named && errno == ENOENT)
			return 0;
		*why = named ? "cannot read the S3 config file named by SNAPCTL_S3_CONFIG" :
			       "cannot read the S3 config file " S3_DEFAULT_CONFIG;
		return -errno;
	}
	while (!ret && getline(&line, &size, f) >= 0)
		ret = parse_config_line(cfg, line, why);
	free(line);
	fclose(f);
	return ret;
}

static int env_override(char **field, const char *name)
{
	const char *value = getenv(name);

	return value && *value ? set_string(field, value) : 0;
}

static int load_env(struct s3_config *cfg, const char **why)
{
	const char *retries = getenv("SNAPCTL_S3_RETRIES");
	int ret;

	ret = env_override(&cfg->endpoint, "AWS_ENDPOINT_URL");
	if (!ret && !(getenv("AWS_REGION") && *getenv("AWS_REGION")))
		ret = env_override(&cfg->region, "AWS_DEFAULT_REGION");
	if (!ret)
		ret = env_override(&cfg->region, "AWS_REGION");
	if (!ret)
		ret = env_override(&cfg->access_key, "AWS_ACCESS_KEY_ID");
	if (!ret)
		ret = env_override(&cfg->secret, "AWS_SECRET_ACCESS_KEY");
	if (ret) {
		*why = "out of memory";
		return ret;
	}
	if (retries && *retries && set_retries(cfg, retries)) {
		*why = "SNAPCTL_S3_RETRIES must be a number from 0 to 100";
		return -EINVAL;
	}
	return 0;
}

/* Defaults for what neither the file nor the environment gave. */
static int config_finish(struct s3_config *cfg, const char **why)
{
	char *end;

	if (!cfg->access_key || !cfg->secret) {
		*why = "S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
		       "(or access_key_id and secret_access_key in " S3_DEFAULT_CONFIG ")";
		return -EINVAL;
	}
	if (!cfg->region && set_string(&cfg->region, S3_DEFAULT_REGION))
		goto nomem;
	if (!cfg->endpoint) {
		if (asprintf(&cfg->endpoint, "https://s3.%s.amazonaws.com", cfg->region) < 0) {
			cfg->endpoint = NULL;
			goto nomem;
		}
	}
	if (strncmp(cfg->endpoint, "http://", 7) && strncmp(cfg->endpoint, "https://", 8)) {
		*why = "the S3 endpoint must be an http:// or https:// URL";
		return -EINVAL;
	}
	end = cfg->endpoint + strlen(cfg->endpoint);
	while (end > cfg->endpoint + 8 && end[-1] == '/')
		*--end = '\0';
	return 0;
nomem:
	*why = "out of memory";
	return -ENOMEM;
}

static int load_config(struct s3_config *cfg, const char **why)
{
	int ret;

	cfg->retries = S3_DEFAULT_RETRIES;
	ret = load_config_file(cfg, why);
	if (!ret)
		ret = load_env(cfg, why);
	if (!ret)
		ret = config_finish(cfg, why);
	return ret;
}

static void free_config(struct s3_config *cfg)
{
	free(cfg->endpoint);
	free(cfg->region);
	free(cfg->access_key);
	if (cfg->secret)
		memset(cfg->secret, 0, strlen(cfg->secret));
	free(cfg->secret);
}

/* ---- URLs ---- */

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Append @s percent-encoded to @buf; '/' stays when @keep_slash. */
static int append_encoded(struct store_buf *buf, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	int ret = 0;

	for (; *s && !ret; s++) {
		unsigned char c = *s;

		if (unreserved(c) || (c == '/' && keep_slash)) {
			ret = store_buf_append(buf, s, 1);
		} else {
			char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

			ret = store_buf_append(buf, esc, 3);
		}
	}
	return ret;
}

static int append_str(struct store_buf *buf, const char *s)
{
	return store_buf_append(buf, s, strlen(s));
}

/* <endpoint>/<bucket>/<prefix><key> into @url, a NUL-terminated string. */
static int object_url(struct s3_store *s3, const char *key, struct store_buf *url)
{
	int ret;

	url->len = 0;
	ret = append_str(url, s3->cfg.endpoint);
	if (!ret)
		ret = append_str(url, "/");
	if (!ret)
		ret = append_encoded(url, s3->bucket, false);
	if (!ret)
		ret = append_str(url, "/");
	if (!ret)
		ret = append_encoded(url, s3->prefix, true);
	if (!ret)
		ret = append_encoded(url, key, true);
	return ret;
}

/*
 * ListObjectsV2: the query with its parameters in name order and values
 * encoded, as SigV4 canonicalizes it (see the top of the file).
 */
static int list_url(struct s3_store *s3, const char *prefix, const char *token,
		    struct store_buf *url)
{
	int ret;

	url->len = 0;
	ret = append_str(url, s3->cfg.endpoint);
	if (!ret)
		ret = append_str(url, "/");
	if (!ret)
		ret = append_encoded(url, s3->bucket, false);
	if (!ret)
		ret = append_str(url, "?");
	if (!ret && token) {
		ret = append_str(url, "continuation-token=");
		if (!ret)
			ret = append_encoded(url, token, false);
		if (!ret)
			ret = append_str(url, "&");
	}
	if (!ret)
		ret = append_str(url, "list-type=2&prefix=");
	if (!ret)
		ret = append_encoded(url, s3->prefix, false);
	if (!ret)
		ret = append_encoded(url, prefix, false);
	return ret;
}

/* ---- requests ---- */

/* SHA-256 of the @nr @parts one after the other. */
static void sha256_hex(const struct iovec *parts, unsigned int nr, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

	for (i = 0; ok && i < nr; i++)
		ok = EVP_DigestUpdate(ctx, parts[i].iov_base, parts[i].iov_len);
	if (!ok || !EVP_DigestFinal_ex(ctx, md, &mdlen))
		mdlen = 0;
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < mdlen && i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[2 * i] = '\0';
}

/* The answer's body, never more than r->max bytes of it: a larger one aborts. */
static size_t on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct request *r = arg;
	size_t n = size * nmemb;

	if (n > r->max || r->out->len > r->max - n) {
		r->too_big = true;
		return 0;
	}
	return store_buf_append(r->out, ptr, n) ? 0 : n;
}

/* Send the body from byte @offset on. */
static void body_seek(struct request *r, size_t offset)
{
	r->sent = offset;
	for (r->part = 0; r->part < r->nr_parts && offset >= r->parts[r->part].iov_len; r->part++)
		offset -= r->parts[r->part].iov_len;
	r->part_off = offset;
}

static size_t on_read(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct request *r = arg;
	size_t want = size * nmemb, n, done = 0;

	while (done < want && r->part < r->nr_parts) {
		const struct iovec *p = &r->parts[r->part];

		n = p->iov_len - r->part_off;
		if (n > want - done)
			n = want - done;
		memcpy(ptr + done, (const uint8_t *)p->iov_base + r->part_off, n);
		done += n;
		r->part_off += n;
		if (r->part_off == p->iov_len) {
			r->part++;
			r->part_off = 0;
		}
	}
	r->sent += done;
	return done;
}

/* curl rewinds the body when it has to send it again on a connection. */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
	struct request *r = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->len)
		return CURL_SEEKFUNC_CANTSEEK;
	body_seek(r, offset);
	return CURL_SEEKFUNC_OK;
}

static void set_method(CURL *c, struct request *r)
{
	if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
	} else if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "DELETE")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
}

static CURLcode perform_once(struct s3_store *s3, struct request *r, struct curl_slist *headers)
{
	CURL *c = s3->curl;
	CURLcode res;

	curl_easy_reset(c);	/* options only: the connection stays open */
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, S3_CONNECT_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, S3_LOW_SPEED_TIME);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(c, CURLOPT_USERPWD, s3->userpwd);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "snapctl");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s3->curl_error);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max);
	set_method(c, r);
	s3->curl_error[0] = '\0';
	r->too_big = false;
	body_seek(r, 0);
	r->out->len = 0;
	r->status = 0;
	res = curl_easy_perform(c);
	if (res == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	return res;
}

static bool retry_network(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
		return true;
	default:
		return false;
	}
}

static bool retry_status(long status)
{
	return status >= 500 || status == 429;
}

static void backoff(unsigned int retry)
{
	unsigned long ms = S3_BACKOFF_FIRST_MS;
	struct timespec ts;

	while (retry-- > 1 && ms < S3_BACKOFF_MAX_MS)
		ms *= 2;
	if (ms > S3_BACKOFF_MAX_MS)
		ms = S3_BACKOFF_MAX_MS;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static struct curl_slist *make_headers(const struct request *r)
{
	char line[80] = "x-amz-content-sha256: ";

	sha256_hex(r->parts, r->nr_parts, line + strlen(line));
	return curl_slist_append(NULL, line);
}

/*
 * Send @r until it gets an answer that is not worth retrying or the
 * retries run out.  Returns 0 with r->status set when an answer came (of
 * any status), or -EIO after network failures.
 */
static int perform(struct store *s, struct request *r)
{
	struct s3_store *s3 = s3_of(s);
	struct curl_slist *headers = make_headers(r);
	CURLcode res = CURLE_OUT_OF_MEMORY;

	if (!headers) {
		store_set_error(s, "%s %s: out of memory", r->method, r->key);
		return -ENOMEM;
	}
	for (r->attempts = 1; ; r->attempts++) {
		res = perform_once(s3, r, headers);
		if (res == CURLE_OK ? !retry_status(r->status) : !retry_network(res))
			break;
		if (r->attempts > s3->cfg.retries)
			break;
		s->stats.retries++;
		backoff(r->attempts);
	}
	curl_slist_free_all(headers);
	if (res == CURLE_OK)
		return 0;
	if (r->too_big || res == CURLE_FILESIZE_EXCEEDED) {
		store_set_error(s, "%s %s: the answer is larger than %zu bytes: refused", r->method,
				r->key, r->max);
		return -EFBIG;
	}
	store_set_error(s, "%s %s: %s (%u attempt%s)", r->method, r->key,
			s3->curl_error[0] ? s3->curl_error : curl_easy_strerror(res),
			r->attempts, r->attempts == 1 ? "" : "s");
	return -EIO;
}

/* ---- answers ---- */

/* The text of the first <tag>...</tag> in [p, end), or NULL. */
static const char *xml_element(const char *p, const char *end, const char *tag,
			       size_t *len, const char **after)
{
	char open[64], close[64];
	const char *start, *stop;
	int olen, clen;

	olen = snprintf(open, sizeof(open), "<%s>", tag);
	clen = snprintf(close, sizeof(close), "</%s>", tag);
	start = memmem(p, end - p, open, olen);
	if (!start)
		return NULL;
	start += olen;
	stop = memmem(start, end - start, close, clen);
	if (!stop)
		return NULL;
	*len = stop - start;
	if (after)
		*after = stop + clen;
	return start;
}

static size_t put_utf8(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = 0xc0 | (cp >> 6);
		out[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = 0xe0 | (cp >> 12);
		out[1] = 0x80 | ((cp >> 6) & 0x3f);
		out[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	out[0] = 0xf0 | (cp >> 18);
	out[1] = 0x80 | ((cp >> 12) & 0x3f);
	out[2] = 0x80 | ((cp >> 6) & 0x3f);
	out[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/*
 * Decode one entity at @p (just after '&', @n bytes up to ';') into @out.
 * Returns the bytes written, or 0 if it is not an entity we know.
 */
static size_t decode_entity(const char *p, size_t n, char *out)
{
	static const struct { const char *name; char c; } named[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
	};
	unsigned long cp;
	char *end;
	size_t i;

	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (n == strlen(named[i].name) && !memcmp(p, named[i].name, n)) {
			*out = named[i].c;
			return 1;
		}
	}
	if (n < 2 || p[0] != '#')
		return 0;
	if (p[1] == 'x' || p[1] == 'X')
		cp = strtoul(p + 2, &end, 16);
	else
		cp = strtoul(p + 1, &end, 10);
	if (end != p + n || cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return put_utf8(out, cp);
}

/* XML text to a malloced string; unknown entities stay as written. */
static char *xml_text(const char *p, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	const char *end = p + len;

	if (!out)
		return NULL;
	while (p < end) {
		const char *semi = *p == '&' ? memchr(p, ';', end - p) : NULL;
		size_t n = 0;

		if (semi && semi - p <= 12)
			n = decode_entity(p + 1, semi - p - 1, o);
		if (n) {
			o += n;
			p = semi + 1;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* The S3 error Code of an XML error answer, in @code ("" if none). */
static void error_code(const struct store_buf *body, char *code, size_t size)
{
	const char *text = NULL;
	size_t len = 0;
	char *decoded;

	code[0] = '\0';
	if (body->len)
		text = xml_element((const char *)body->data, (const char *)body->data + body->len,
				   "Code", &len, NULL);
	if (!text)
		return;
	decoded = xml_text(text, len);
	if (decoded)
		snprintf(code, size, "%s", decoded);
	free(decoded);
}

/*
 * The errno for an answer: -ENOENT for 404 (but a missing bucket is a
 * configuration error, not a missing object), -EACCES for 401 and 403.
 */
static int status_errno(long status, const char *code)
{
	if (status >= 200 && status < 300)
		return 0;
	if (status == 404 && strcmp(code, "NoSuchBucket"))
		return -ENOENT;
	if (status == 401 || status == 403)
		return -EACCES;
	return -EIO;
}

/* Map r's answer to an errno; a failure (but @quiet ones) is recorded. */
static int answer(struct store *s, struct request *r, int quiet)
{
	char code[128] = "", tries[32] = "";
	int ret;

	if (r->status >= 200 && r->status < 300)
		return 0;
	error_code(r->out, code, sizeof(code));
	ret = status_errno(r->status, code);
	if (ret == quiet)
		return ret;
	if (retry_status(r->status) && r->attempts > 1)
		snprintf(tries, sizeof(tries), " (%u attempts)", r->attempts);
	store_set_error(s, "HTTP %ld%s%s on %s %s%s", r->status, code[0] ? " " : "", code,
			r->method, r->key, tries);
	return ret;
}

static int object_request(struct store *s, struct request *r, const char *key)
{
	struct store_buf url = { 0 };
	int ret;

	if (!r->max)
		r->max = S3_ANSWER_MAX;
	if (object_url(s3_of(s), key, &url)) {
		store_set_error(s, "%s %s: out of memory", r->method, key);
		return -ENOMEM;
	}
	r->key = key;
	r->url = (const char *)url.data;
	ret = perform(s, r);
	store_buf_free(&url);
	return ret;
}

static int s3_put(struct store *s, const char *key, const struct iovec *parts, unsigned int nr,
		  size_t len)
{
	struct request r = { .method = "PUT", .parts = parts, .nr_parts = nr, .len = len,
			     .out = &s3_of(s)->body };
	int ret;

	ret = object_request(s, &r, key);
	return ret ? ret : answer(s, &r, 0);
}

static int s3_get(struct store *s, const char *key, struct store_buf *out, size_t max)
{
	struct request r = { .method = "GET", .out = out, .max = max };
	int ret = object_request(s, &r, key);

	return ret ? ret : answer(s, &r, 0);
}

static int s3_exists(struct store *s, const char *key)
{
	struct request r = { .method = "HEAD", .out = &s3_of(s)->body };
	int ret = object_request(s, &r, key);

	return ret ? ret : answer(s, &r, -ENOENT);
}

static int s3_delete(struct store *s, const char *key)
{
	struct request r = { .method = "DELETE", .out = &s3_of(s)->body };
	int ret = object_request(s, &r, key);

	if (!ret)
		ret = answer(s, &r, -ENOENT);
	return ret == -ENOENT ? 0 : ret;
}

/* ---- listing ---- */

struct listing {
	struct store *s;
	const char *prefix;
	store_list_fn fn;
	void *context;
	char *token;		/* NextContinuationToken, or NULL: done */
	const char *bad;	/* why an answer could not be used */
};

static int list_entry(struct listing *l, const char *p, const char *end)
{
	const char *key_text, *size_text;
	size_t key_len, size_len, strip = strlen(s3_of(l->s)->prefix);
	uint64_t size;
	char *key;
	int ret;

	key_text = xml_element(p, end, "Key", &key_len, NULL);
	size_text = xml_element(p, end, "Size", &size_len, NULL);
	if (!key_text || !size_text || !isdigit((unsigned char)*size_text)) {
		l->bad = "malformed ListObjectsV2 answer: <Contents> without <Key> or <Size>";
		return -EIO;
	}
	size = strtoull(size_text, NULL, 10);
	key = xml_text(key_text, key_len);
	if (!key) {
		l->bad = "out of memory";
		return -ENOMEM;
	}
	ret = 0;
	if (strlen(key) > strip && !strncmp(key, s3_of(l->s)->prefix, strip))
		ret = l->fn(l->context, key + strip, size);
	else if (!l->s->stats.skipped_keys++)
		fprintf(stderr, "snapctl: warning: %s listed the key \"%.100s\" outside its prefix: skipped\n",
			l->s->url, key);
	free(key);
	return ret;
}

/* Call back for each <Contents> of one answer; note its continuation token. */
static int list_page(struct listing *l, const struct store_buf *body)
{
	const char *p = (const char *)body->data, *end, *text, *after;
	size_t len;

	free(l->token);
	l->token = NULL;
	end = p ? p + body->len : NULL;
	if (!p || !memmem(p, end - p, "<ListBucketResult", 17)) {
		l->bad = "malformed ListObjectsV2 answer: no <ListBucketResult>";
		return -EIO;
	}
	text = xml_element(p, end, "IsTruncated", &len, NULL);
	if (text && len == 4 && !memcmp(text, "true", 4)) {
		text = xml_element(p, end, "NextContinuationToken", &len, NULL);
		if (!text || !len) {
			/* Without it we would list the same page forever. */
			l->bad = "malformed ListObjectsV2 answer: truncated without a token";
			return -EIO;
		}
		l->token = xml_text(text, len);
		if (!l->token) {
			l->bad = "out of memory";
			return -ENOMEM;
		}
	}
	while ((text = xml_element(p, end, "Contents", &len, &after))) {
		int ret = list_entry(l, text, text + len);

		if (ret)
			return ret;
		p = after;
	}
	return 0;
}

static int list_once(struct listing *l, struct store_buf *url)
{
	struct store *s = l->s;
	struct request r = { .method = "LIST", .key = l->prefix, .out = &s3_of(s)->body,
			     .max = S3_LIST_MAX };
	int ret;

	if (list_url(s3_of(s), l->prefix, l->token, url)) {
		store_set_error(s, "LIST %s: out of memory", l->prefix);
		return -ENOMEM;
	}
	r.url = (const char *)url->data;
	ret = perform(s, &r);
	if (!ret)
		ret = answer(s, &r, 0);
	if (ret)
		return ret;
	ret = list_page(l, r.out);
	if (l->bad)
		store_set_error(s, "LIST %s: %s", l->prefix, l->bad);
	return ret;
}

static int s3_list(struct store *s, const char *prefix, store_list_fn fn, void *context)
{
	struct listing l = { .s = s, .prefix = prefix, .fn = fn, .context = context };
	struct store_buf url = { 0 };
	int ret;

	do {
		ret = list_once(&l, &url);
	} while (!ret && l.token);
	free(l.token);
	store_buf_free(&url);
	return ret;
}

/* ---- opening ---- */

static void s3_free(struct s3_store *s3)
{
	if (s3->curl)
		curl_easy_cleanup(s3->curl);
	free_config(&s3->cfg);
	free(s3->bucket);
	free(s3->prefix);
	if (s3->userpwd)
		memset(s3->userpwd, 0, strlen(s3->userpwd));
	free(s3->userpwd);
	free(s3->sigv4);
	store_buf_free(&s3->body);
	free(s3);
}

static void s3_close(struct store *s)
{
	s3_free(s3_of(s));
}

static const struct store_ops s3_ops = {
	.name = "s3",
	.put = s3_put,
	.get = s3_get,
	.exists = s3_exists,
	.del = s3_delete,
	.list = s3_list,
	.close = s3_close,
};

static bool bucket_valid(const char *b, size_t len)
{
	size_t i;

	if (!len || len > 255)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)b[i]) && !strchr("._-", b[i]))
			return false;
	return true;
}

/* "bucket[/prefix]": the prefix is kept with one trailing '/'. */
static int parse_location(struct s3_store *s3, const char *where, const char **why)
{
	size_t blen = strcspn(where, "/");
	const char *prefix = where + blen;
	size_t plen;

	if (!bucket_valid(where, blen)) {
		*why = "invalid S3 bucket name in s3://bucket/prefix";
		return -EINVAL;
	}
	prefix += strspn(prefix, "/");
	plen = strlen(prefix);
	while (plen && prefix[plen - 1] == '/')
		plen--;
	if (memmem(prefix, plen, "//", 2)) {
		*why = "invalid S3 prefix in s3://bucket/prefix (empty path component)";
		return -EINVAL;
	}
	s3->bucket = strndup(where, blen);
	if (asprintf(&s3->prefix, "%.*s%s", (int)plen, prefix, plen ? "/" : "") < 0)
		s3->prefix = NULL;
	if (!s3->bucket || !s3->prefix) {
		*why = "out of memory";
		return -ENOMEM;
	}
	return 0;
}

static int s3_setup(struct s3_store *s3, const char *where, const char **why)
{
	int ret;

	ret = parse_location(s3, where, why);
	if (!ret)
		ret = load_config(&s3->cfg, why);
	if (ret)
		return ret;
	if (asprintf(&s3->userpwd, "%s:%s", s3->cfg.access_key, s3->cfg.secret) < 0)
		s3->userpwd = NULL;
	if (asprintf(&s3->sigv4, "aws:amz:%s:s3", s3->cfg.region) < 0)
		s3->sigv4 = NULL;
	s3->curl = curl_easy_init();
	if (!s3->userpwd || !s3->sigv4 || !s3->curl) {
		*why = "out of memory";
		return -ENOMEM;
	}
	return 0;
}

int store_s3_open(struct store *s, const char *where, const char **why)
{
	struct s3_store *s3 = calloc(1, sizeof(*s3));
	int ret;

	if (!s3) {
		*why = "out of memory";
		return -ENOMEM;
	}
	ret = s3_setup(s3, where, why);
	if (ret) {
		s3_free(s3);
		return ret;
	}
	s->ops = &s3_ops;
	s->priv = s3;
	return 0;
}
