// SPDX-License-Identifier: GPL-2.0
/*
 * The nbdkit plugin (build/nbdkit-dmrow-plugin.so, beside snapctl) serving
 * exports that the built snapctl made, read by nbdcopy as any NBD client
 * would, on the host: no kernel module is involved.
 *
 *  - A raw image of random data with zero regions and a short last chunk,
 *    exported with 'snapctl export --image', reads back whole with the
 *    image's checksum, with a cache of a few chunks and read-ahead on, and
 *    the slots the manifest has no chunk for are reported as holes.
 *  - The same from an encrypted repository with its key; without the key,
 *    or with another one, the server refuses to start and says why.
 *  - A damaged chunk object fails the reads of its slot with an I/O error
 *    (and is logged as damaged), while the slots before and after it read
 *    right; a missing object likewise; once the object is back, the same
 *    server reads the slot right.
 *
 * Skipped where nbdkit or nbdcopy is not installed (make setup installs
 * them).  The server is the plugin as nbdkit loads it; slices of the disk
 * are served through nbdkit's offset filter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "run_snapctl.h"
#include "temp_dir.h"

#define CHUNK (256u << 10)
#define SLOTS 13
#define IMAGE_BYTES ((SLOTS - 1) * CHUNK + 12345)	/* the last slot is short */
#define BAD_SLOT 5
#define PATH_LEN 512			/* of the files in the test's directory */

struct fixture {
	char dir[256];
	char snapctl[PATH_MAX];
	char plugin[PATH_MAX];
	char image[512];
	uint8_t *data;			/* the image */
};

static bool have(const char *program)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", program);
	return !system(cmd);
}

static void fill_random(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = seed >> 16;
	}
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char *slash;

	if (!fx)
		return -1;
	if (find_built_snapctl(fx->snapctl, sizeof(fx->snapctl)))
		goto fail;
	snprintf(fx->plugin, sizeof(fx->plugin), "%s", fx->snapctl);
	slash = strrchr(fx->plugin, '/');
	snprintf(slash + 1, sizeof(fx->plugin) - (slash + 1 - fx->plugin),
		 "nbdkit-dmrow-plugin.so");
	if (temp_dir_make(fx->dir, sizeof(fx->dir), "nbd"))
		goto fail;
	/* random data; slots 2 and 3 zero, and the second half of slot 7 */
	fx->data = malloc(IMAGE_BYTES);
	if (!fx->data)
		goto fail;
	fill_random(fx->data, IMAGE_BYTES, 23);
	memset(fx->data + 2 * CHUNK, 0, 2 * CHUNK);
	memset(fx->data + 7 * CHUNK + CHUNK / 2, 0, CHUNK / 2);
	snprintf(fx->image, sizeof(fx->image), "%s/image", fx->dir);
	*state = fx;
	return 0;
fail:
	free(fx);
	return -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int r = temp_dir_remove(fx->dir);

	free(fx->data);
	free(fx);
	return r;
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL);
	for (i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
}

/* Is @path's content @len bytes equal to @data? */
static bool file_equals(const char *path, const uint8_t *data, size_t len)
{
	struct stat st;
	uint8_t *buf;
	bool same;
	FILE *f;

	if (stat(path, &st) || (size_t)st.st_size != len)
		return false;
	buf = malloc(len ? len : 1);
	assert_non_null(buf);
	f = fopen(path, "r");
	assert_non_null(f);
	same = fread(buf, 1, len, f) == len && !memcmp(buf, data, len);
	fclose(f);
	free(buf);
	return same;
}

static bool file_has(const char *path, const char *text)
{
	char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, text) != NULL;
}

/* Run a shell command line; its exit status. */
static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int shell(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Export the image to @repo (a new repository) as "e1", encrypted with @key if given. */
static void export_image(struct fixture *fx, const char *repo, const char *key)
{
	char args[4096], out[PATH_LEN];
	int r;

	write_file(fx->image, fx->data, IMAGE_BYTES);
	snprintf(out, sizeof(out), "%s/export.out", fx->dir);
	snprintf(args, sizeof(args), "export --image '%s' 'file://%s' --name e1 --chunk-size 256K%s%s%s",
		 fx->image, repo, key ? " --key-file '" : "", key ? key : "", key ? "'" : "");
	r = run_snapctl(fx->snapctl, out, out, "%s", args);
	if (r)
		fail_msg("snapctl %s exited %d: %s", args, r, slurp(out));
}

/*
 * Serve export e1 of @repo with the plugin and @params, copy it all with
 * nbdcopy into @copy and list its extents into @map: nbdcopy's exit
 * status (nbdkit's if it does not start); its messages in @log.
 */
static int serve_and_copy(struct fixture *fx, const char *repo, const char *params,
			  const char *copy, const char *map, const char *log)
{
	return shell("nbdkit -U - '%s' url='file://%s' export=e1 %s "
		     "--run 'nbdcopy \"$uri\" %s && nbdinfo --map \"$uri\" >%s' >'%s' 2>&1",
		     fx->plugin, repo, params, copy, map, log);
}

static void test_plain_repository(void **state)
{
	struct fixture *fx = *state;
	char repo[PATH_LEN], copy[PATH_LEN], map[PATH_LEN], log[PATH_LEN];
	char want[65], got[65];

	if (!have("nbdkit") || !have("nbdcopy") || !have("nbdinfo"))
		skip();
	snprintf(repo, sizeof(repo), "%s/plain", fx->dir);
	snprintf(copy, sizeof(copy), "%s/plain.copy", fx->dir);
	snprintf(map, sizeof(map), "%s/plain.map", fx->dir);
	snprintf(log, sizeof(log), "%s/plain.log", fx->dir);
	export_image(fx, repo, NULL);
	/* a cache of two chunks: every chunk goes through it, read ahead or not */
	if (serve_and_copy(fx, repo, "cache=512K prefetch=3", copy, map, log))
		fail_msg("serving the plain export failed: %s", slurp(log));
	sha256_hex(fx->data, IMAGE_BYTES, want);
	if (!file_equals(copy, fx->data, IMAGE_BYTES)) {
		FILE *f = fopen(copy, "r");
		uint8_t *buf = calloc(1, IMAGE_BYTES);

		assert_non_null(f);
		assert_non_null(buf);
		sha256_hex(buf, fread(buf, 1, IMAGE_BYTES, f), got);
		fclose(f);
		free(buf);
		fail_msg("the served export reads %s, the image is %s", got, want);
	}
	/* slots 2 and 3 have no chunk: a hole of two chunks at 512K */
	if (!file_has(map, "524288      524288    3  hole,zero"))
		fail_msg("no hole for the zero slots in the map:\n%s", slurp(map));

	/* the defaults (256M, 4 ahead) and a plain path for the URL */
	if (shell("nbdkit -U - '%s' url='%s' export=e1 --run 'nbdcopy \"$uri\" %s' >'%s' 2>&1",
		  fx->plugin, repo, copy, log))
		fail_msg("serving with the defaults failed: %s", slurp(log));
	assert_true(file_equals(copy, fx->data, IMAGE_BYTES));

	/* no such export: the server says so and does not start */
	assert_int_not_equal(shell("nbdkit -U - '%s' url='%s' export=nope --run true >'%s' 2>&1",
				   fx->plugin, repo, log), 0);
	if (!file_has(log, "nope"))
		fail_msg("a missing export is not named: %s", slurp(log));
}

static void test_encrypted_repository(void **state)
{
	struct fixture *fx = *state;
	char repo[PATH_LEN], copy[PATH_LEN], map[PATH_LEN], log[PATH_LEN];
	char key[PATH_LEN], other[PATH_LEN], params[PATH_LEN + 32];

	if (!have("nbdkit") || !have("nbdcopy") || !have("nbdinfo"))
		skip();
	snprintf(repo, sizeof(repo), "%s/sealed", fx->dir);
	snprintf(copy, sizeof(copy), "%s/sealed.copy", fx->dir);
	snprintf(map, sizeof(map), "%s/sealed.map", fx->dir);
	snprintf(log, sizeof(log), "%s/sealed.log", fx->dir);
	snprintf(key, sizeof(key), "%s/key", fx->dir);
	snprintf(other, sizeof(other), "%s/other-key", fx->dir);
	write_file(key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 65);
	write_file(other, "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n", 65);
	export_image(fx, repo, key);

	snprintf(params, sizeof(params), "key-file='%s' cache=1M", key);
	if (serve_and_copy(fx, repo, params, copy, map, log))
		fail_msg("serving the encrypted export failed: %s", slurp(log));
	assert_true(file_equals(copy, fx->data, IMAGE_BYTES));

	/* without the key, or with another one: refused, said */
	assert_int_not_equal(serve_and_copy(fx, repo, "", copy, map, log), 0);
	if (!file_has(log, "key"))
		fail_msg("no word of the key missing: %s", slurp(log));
	snprintf(params, sizeof(params), "key-file='%s'", other);
	assert_int_not_equal(serve_and_copy(fx, repo, params, copy, map, log), 0);
	if (!file_has(log, "key"))
		fail_msg("no word of the wrong key: %s", slurp(log));
}

/* A server in the background, on its own socket. */
struct server {
	pid_t pid;
	char sock[PATH_LEN];
	char log[PATH_LEN];
};

/* Serve e1 of @repo, bytes @offset.. (@range of them, 0: to the end). */
static void server_start(struct fixture *fx, struct server *s, const char *name,
			 const char *repo, uint64_t offset, uint64_t range)
{
	char pidfile[PATH_LEN + 8], cmd[8192], range_arg[48] = "", buf[32] = "";
	int waited;
	FILE *f;

	snprintf(s->sock, sizeof(s->sock), "%s/%s.sock", fx->dir, name);
	snprintf(s->log, sizeof(s->log), "%s/%s.log", fx->dir, name);
	snprintf(pidfile, sizeof(pidfile), "%s/%s.pid", fx->dir, name);
	if (range)
		snprintf(range_arg, sizeof(range_arg), " range=%llu", (unsigned long long)range);
	snprintf(cmd, sizeof(cmd),
		 "exec nbdkit -f -U '%s' -P '%s' --filter=offset '%s' url='%s' export=e1 "
		 "offset=%llu%s >'%s' 2>&1",
		 s->sock, pidfile, fx->plugin, repo, (unsigned long long)offset, range_arg,
		 s->log);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (!s->pid) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (waited = 0; waited < 10000; waited += 10) {
		f = fopen(pidfile, "r");
		if (f) {
			bool ready = fgets(buf, sizeof(buf), f) != NULL;

			fclose(f);
			if (ready)
				return;
		}
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
			fail_msg("the server did not start: %s", slurp(s->log));
		usleep(10000);
	}
	fail_msg("the server did not start in 10 s: %s", slurp(s->log));
}

static void server_stop(struct server *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
}

/* Copy all the server serves into @copy, one request at a time: the exit status. */
static int server_read(struct fixture *fx, const struct server *s, const char *copy)
{
	char log[PATH_LEN];

	snprintf(log, sizeof(log), "%s/nbdcopy.log", fx->dir);
	return shell("nbdcopy --synchronous 'nbd+unix:///?socket=%s' '%s' >'%s' 2>&1", s->sock,
		     copy, log);
}

static void test_damaged_and_restored_chunk(void **state)
{
	struct fixture *fx = *state;
	char repo[PATH_LEN], copy[PATH_LEN], object[PATH_LEN + 96], saved[PATH_LEN + 104], id[65];
	struct server before, bad, after;
	uint8_t byte;
	FILE *f;

	if (!have("nbdkit") || !have("nbdcopy"))
		skip();
	snprintf(repo, sizeof(repo), "%s/damaged", fx->dir);
	snprintf(copy, sizeof(copy), "%s/damaged.copy", fx->dir);
	export_image(fx, repo, NULL);
	/* an unencrypted chunk's id is the SHA-256 of its data */
	sha256_hex(fx->data + BAD_SLOT * CHUNK, CHUNK, id);
	snprintf(object, sizeof(object), "%s/chunks/%.2s/%s", repo, id, id);
	snprintf(saved, sizeof(saved), "%s.saved", object);
	if (access(object, F_OK))
		fail_msg("no chunk object %s for slot %d", object, BAD_SLOT);
	assert_int_equal(shell("cp '%s' '%s'", object, saved), 0);

	/* one byte of the object's data changed */
	f = fopen(object, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, 100, SEEK_SET), 0);
	assert_int_equal(fread(&byte, 1, 1, f), 1);
	byte ^= 0x40;
	assert_int_equal(fseek(f, 100, SEEK_SET), 0);
	assert_int_equal(fwrite(&byte, 1, 1, f), 1);
	assert_int_equal(fclose(f), 0);

	server_start(fx, &before, "before", repo, 0, BAD_SLOT * CHUNK);
	server_start(fx, &bad, "bad", repo, BAD_SLOT * CHUNK, CHUNK);
	server_start(fx, &after, "after", repo, (BAD_SLOT + 1) * CHUNK, 0);

	assert_int_not_equal(server_read(fx, &bad, copy), 0);
	if (!file_has(bad.log, "is damaged"))
		fail_msg("the damaged chunk is not logged: %s", slurp(bad.log));
	assert_int_equal(server_read(fx, &before, copy), 0);
	assert_true(file_equals(copy, fx->data, BAD_SLOT * CHUNK));
	assert_int_equal(server_read(fx, &after, copy), 0);
	assert_true(file_equals(copy, fx->data + (BAD_SLOT + 1) * CHUNK,
				IMAGE_BYTES - (BAD_SLOT + 1) * CHUNK));
	/* failing again: nothing wrong was cached */
	assert_int_not_equal(server_read(fx, &bad, copy), 0);

	/* missing */
	assert_int_equal(unlink(object), 0);
	assert_int_not_equal(server_read(fx, &bad, copy), 0);
	if (!file_has(bad.log, "is missing"))
		fail_msg("the missing chunk is not logged: %s", slurp(bad.log));

	/* back: the same server reads it */
	assert_int_equal(rename(saved, object), 0);
	assert_int_equal(server_read(fx, &bad, copy), 0);
	assert_true(file_equals(copy, fx->data + BAD_SLOT * CHUNK, CHUNK));

	server_stop(&before);
	server_stop(&bad);
	server_stop(&after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_repository),
		cmocka_unit_test(test_encrypted_repository),
		cmocka_unit_test(test_damaged_and_restored_chunk),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
