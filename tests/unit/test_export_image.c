// SPDX-License-Identifier: GPL-2.0
/*
 * snapctl export --image and snapctl import --image, run as an operator
 * runs them (the built snapctl next to this binary), on raw image files:
 * what is restored has the checksum of what was exported, holes are not
 * read, an encrypted repository works the same, and the usual refusals
 * (an existing target file, a missing --name) are clear, and a manifest
 * swapped in an encrypted repository is refused by verify and import.
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
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "chunk.h"
#include "run_snapctl.h"

struct fixture {
	char dir[64];
	char snapctl[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	if (find_built_snapctl(fx->snapctl, sizeof(fx->snapctl)))
		goto fail;
	strcpy(fx->dir, "/tmp/dmrow-image-XXXXXX");
	if (!mkdtemp(fx->dir))
		goto fail;
	*state = fx;
	return 0;
fail:
	free(fx);
	return -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd))
		return -1;
	free(fx);
	return 0;
}

/* Run snapctl with @fmt's arguments; its output goes to @out (may be NULL). */
#define snapctl(fx, out, ...) run_snapctl((fx)->snapctl, (out), (out), __VA_ARGS__)

static void fill_random(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = seed >> 16;
	}
}

/* A repository key file: 32 bytes made from @seed. */
static void write_key_file(const char *path, unsigned int seed)
{
	uint8_t k[32];
	FILE *f = fopen(path, "w");

	fill_random(k, sizeof(k), seed);
	assert_non_null(f);
	assert_int_equal(fwrite(k, 1, sizeof(k), f), sizeof(k));
	fclose(f);
}

static void file_sha256(const char *path, char hex[65])
{
	unsigned char digest[EVP_MAX_MD_SIZE], buf[65536];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0, i;
	ssize_t got;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, got);
	assert_int_equal(got, 0);
	close(fd);
	EVP_DigestFinal_ex(ctx, digest, &n);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
}

static bool file_has(const char *path, const char *text)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, text) != NULL;
}

/*
 * A raw image of 33.2 MiB: random data, a run of zeroes written out, a
 * hole, and a short last chunk.
 */
static void make_image(const char *path, uint64_t *bytes)
{
	size_t len = 8u << 20;
	uint8_t *buf = malloc(len);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	fill_random(buf, len, 3);
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	memset(buf, 0, len);
	assert_int_equal(pwrite(fd, buf, len, 8u << 20), (ssize_t)len);	/* zeroes */
	fill_random(buf, len, 4);
	/* 16..32 MiB stays a hole */
	assert_int_equal(pwrite(fd, buf, 1234567, 32u << 20), 1234567);
	*bytes = (32u << 20) + 1234567;
	close(fd);
	free(buf);
}

static void roundtrip(struct fixture *fx, const char *repo, const char *key_opt)
{
	char img[128], out[128], log[128], a[65], b[65];
	uint64_t bytes;

	snprintf(img, sizeof(img), "%s/disk.raw", fx->dir);
	snprintf(out, sizeof(out), "%s/restored-%s.raw", fx->dir, key_opt[0] ? "enc" : "plain");
	snprintf(log, sizeof(log), "%s/log", fx->dir);
	make_image(img, &bytes);

	assert_int_equal(snapctl(fx, log, "export --image %s %s --name vm1 --chunk-size 1M %s --json",
				 img, repo, key_opt), 0);
	/* 34 slots: 10 of data, 8 of zeroes read and dropped, 16 in a hole never read */
	assert_true(file_has(log, "\"read_chunks\":18,"));
	assert_true(file_has(log, "\"zero_chunks\":8,"));
	assert_true(file_has(log, "\"stored_chunks\":10,"));
	assert_int_equal(snapctl(fx, log, "export verify %s vm1 %s", repo, key_opt), 0);
	assert_true(file_has(log, "verified"));
	assert_int_equal(snapctl(fx, log, "import %s vm1 --image %s %s", repo, out, key_opt), 0);
	file_sha256(img, a);
	file_sha256(out, b);
	assert_string_equal(a, b);
	{
		struct stat st;

		assert_int_equal(stat(out, &st), 0);
		assert_int_equal(st.st_size, bytes);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	/* never over an existing file; a second export of the name is refused */
	assert_int_not_equal(snapctl(fx, log, "import %s vm1 --image %s %s", repo, out, key_opt), 0);
	assert_true(file_has(log, "new file"));
	assert_int_not_equal(snapctl(fx, log, "export --image %s %s --name vm1 %s", img, repo,
				     key_opt), 0);
	assert_true(file_has(log, "already"));
	/* the same image again under another name: nothing is uploaded */
	assert_int_equal(snapctl(fx, log, "export --image %s %s --name vm1-again %s --json", img,
				 repo, key_opt), 0);
	assert_true(file_has(log, "\"uploaded_chunks\":0,"));
}

static void test_image_roundtrip(void **state)
{
	struct fixture *fx = *state;
	char repo[128];

	snprintf(repo, sizeof(repo), "file://%s/repo", fx->dir);
	roundtrip(fx, repo, "");
}

static void test_image_roundtrip_encrypted(void **state)
{
	struct fixture *fx = *state;
	char repo[128], key[128], opt[160];

	snprintf(repo, sizeof(repo), "file://%s/enc-repo", fx->dir);
	snprintf(key, sizeof(key), "%s/key", fx->dir);
	write_key_file(key, 99);
	snprintf(opt, sizeof(opt), "--key-file %s", key);
	roundtrip(fx, repo, opt);
}

/* A raw image of @mib MiB of data from @seed. */
static void make_seeded(const char *path, size_t mib, unsigned int seed)
{
	size_t len = mib << 20;
	uint8_t *buf = malloc(len);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	fill_random(buf, len, seed);
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	close(fd);
	free(buf);
}

/* Copy the file @from over @to with the first @old replaced by @new. */
static void copy_edited(const char *from, const char *to, const char *old, const char *new)
{
	char buf[16384], *at;
	FILE *f = fopen(from, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	at = strstr(buf, old);
	assert_non_null(at);
	assert_int_equal(strlen(old), strlen(new));
	memcpy(at, new, strlen(new));
	f = fopen(to, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
}

/*
 * In an encrypted repository, one export's manifest put in place of
 * another's is refused by export verify and by import, which creates
 * nothing; put back, the export verifies and restores with the checksum
 * of its own image, not the other's.  The manifests are stored under
 * keyed hashes of the names, so listing needs the key.
 */
static void test_swapped_manifest(void **state)
{
	struct fixture *fx = *state;
	char repo[128], key[128], log[128], a[128], b[128], out[128], path[2][256];
	char sum_b[65], sum_out[65];
	struct stat st;

	snprintf(repo, sizeof(repo), "%s/repo", fx->dir);
	snprintf(key, sizeof(key), "%s/key", fx->dir);
	snprintf(log, sizeof(log), "%s/log", fx->dir);
	snprintf(a, sizeof(a), "%s/a.raw", fx->dir);
	snprintf(b, sizeof(b), "%s/b.raw", fx->dir);
	snprintf(out, sizeof(out), "%s/out.raw", fx->dir);
	write_key_file(key, 41);
	{
		struct chunk_keys keys;
		const char *why;
		char id[CHUNK_ID_LEN + 1];

		assert_int_equal(chunk_keys_load(key, &keys, &why), 0);
		chunk_keys_name_id(&keys, "a", id);
		snprintf(path[0], sizeof(path[0]), "%s/exports/%s.manifest", repo, id);
		chunk_keys_name_id(&keys, "b", id);
		snprintf(path[1], sizeof(path[1]), "%s/exports/%s.manifest", repo, id);
	}
	make_seeded(a, 3, 51);
	make_seeded(b, 3, 52);
	assert_int_equal(snapctl(fx, log, "export --image %s %s --name a --key-file %s", a, repo,
				 key), 0);
	assert_int_equal(snapctl(fx, log, "export --image %s %s --name b --key-file %s", b, repo,
				 key), 0);
	{
		char saved[160];

		snprintf(saved, sizeof(saved), "%s/b.manifest.saved", fx->dir);
		assert_int_equal(rename(path[1], saved), 0);
		copy_edited(path[0], path[1], "", "");
		assert_int_equal(snapctl(fx, log, "export verify %s b --key-file %s", repo, key), 7);
		assert_true(file_has(log, "not authenticated"));
		assert_int_equal(snapctl(fx, log, "import %s b --image %s --key-file %s", repo, out,
					 key), 7);
		assert_true(file_has(log, "not authenticated"));
		assert_int_equal(stat(out, &st), -1);
		/* listing needs the key, and refuses the swapped one */
		assert_int_equal(snapctl(fx, log, "export list %s", repo), 1);
		assert_true(file_has(log, "--key-file"));
		assert_int_equal(snapctl(fx, log, "export list %s --key-file %s", repo, key), 7);
		assert_true(file_has(log, "not authenticated"));
		assert_int_equal(rename(saved, path[1]), 0);
	}
	assert_int_equal(snapctl(fx, log, "export list %s --key-file %s", repo, key), 0);
	assert_true(file_has(log, "\na "));
	assert_true(file_has(log, "\nb "));
	assert_int_equal(snapctl(fx, log, "export verify %s b --key-file %s", repo, key), 0);
	assert_int_equal(snapctl(fx, log, "import %s b --image %s --key-file %s", repo, out, key), 0);
	file_sha256(b, sum_b);
	file_sha256(out, sum_out);
	assert_string_equal(sum_b, sum_out);
}

/* Start snapctl with @args (NULL-terminated) in the background, output to /dev/null. */
static pid_t spawn_snapctl(struct fixture *fx, const char *const *args)
{
	const char *argv[16] = { "snapctl" };
	pid_t pid;
	int i;

	for (i = 0; i < 14 && args[i]; i++)
		argv[i + 1] = args[i];
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execv(fx->snapctl, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/*
 * import --image killed once a quarter of the image is written leaves
 * only "<file>.importing"; a plain import to the same file is refused and
 * names --resume; import --resume continues into it, keeps the chunks in
 * place (one of them damaged meanwhile is fetched again) and ends with
 * the file renamed, with the checksum of the exported image.
 */
static void test_image_resume(void **state)
{
	struct fixture *fx = *state;
	char repo[128], img[128], out[128], temp[160], log[128], a[65], b[65];
	const char *at;
	struct stat st;
	unsigned long in_place;
	int i, status, fd;
	pid_t pid;

	snprintf(repo, sizeof(repo), "%s/repo", fx->dir);
	snprintf(img, sizeof(img), "%s/big.raw", fx->dir);
	snprintf(out, sizeof(out), "%s/out.raw", fx->dir);
	snprintf(temp, sizeof(temp), "%s.importing", out);
	snprintf(log, sizeof(log), "%s/log", fx->dir);
	make_seeded(img, 96, 61);
	assert_int_equal(snapctl(fx, log, "export --image %s %s --name big --chunk-size 1M", img,
				 repo), 0);

	/* nothing to resume */
	assert_int_equal(snapctl(fx, log, "import %s big --image %s --resume", repo, out), 3);
	assert_true(file_has(log, "to resume"));
	assert_int_equal(stat(out, &st), -1);

	pid = spawn_snapctl(fx, (const char *[]){ "import", repo, "big", "--image", out,
						 "--jobs", "1", NULL });
	for (i = 0; i < 60000; i++) {
		if (!stat(temp, &st) && st.st_blocks * 512 >= (24 << 20))
			break;
		if (waitpid(pid, &status, WNOHANG) == pid)
			fail_msg("the import ended before it was killed (status %d)", status);
		usleep(500);
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(stat(out, &st), -1);
	assert_int_equal(stat(temp, &st), 0);
	/* a slot written already is damaged meanwhile */
	fd = open(temp, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "junk", 4, (2 << 20) + 100), 4);
	close(fd);

	assert_int_equal(snapctl(fx, log, "import %s big --image %s", repo, out), 6);
	assert_true(file_has(log, "--resume"));
	assert_int_equal(snapctl(fx, log, "import %s big --image %s --resume --json", repo, out), 0);
	{
		char text[4096] = "";
		FILE *f = fopen(log, "r");

		assert_non_null(f);
		text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
		fclose(f);
		at = strstr(text, "\"already_stored_chunks\":");
		assert_non_null(at);
		in_place = strtoul(at + strlen("\"already_stored_chunks\":"), NULL, 10);
	}
	print_message("%lu of 96 chunks were in place\n", in_place);
	assert_true(in_place >= 20 && in_place < 96);
	assert_int_equal(stat(temp, &st), -1);
	file_sha256(img, a);
	file_sha256(out, b);
	assert_string_equal(a, b);
}

static int wait_exit(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * export delete racing an export, as separate processes, many times:
 * each round exports an image as "old-<n>", then at once exports the same
 * image as "new-<n>" (every chunk stored already: none is sent) and runs
 * 'export delete old-<n> --wait', which collects.  Both succeed, and
 * "new-<n>" verifies: the leases keep the collector from deleting the
 * chunks the new export counted as stored.
 */
static void test_delete_races_export(void **state)
{
	struct fixture *fx = *state;
	char repo[128], img[128], log[128], old[32], new[32];
	int round, rounds = 15;

	snprintf(repo, sizeof(repo), "%s/repo", fx->dir);
	snprintf(img, sizeof(img), "%s/race.raw", fx->dir);
	snprintf(log, sizeof(log), "%s/log", fx->dir);
	for (round = 0; round < rounds; round++) {
		const char *exp[] = { "export", "--image", img, repo, "--name", new, NULL };
		const char *del[] = { "export", "delete", repo, old, "--wait", NULL };
		pid_t e, d;
		int re, rd;

		make_seeded(img, 6, 700 + round);
		snprintf(old, sizeof(old), "old-%d", round);
		snprintf(new, sizeof(new), "new-%d", round);
		assert_int_equal(snapctl(fx, log, "export --image %s %s --name %s --chunk-size 256K",
					 img, repo, old), 0);
		if (round % 2) {
			d = spawn_snapctl(fx, del);
			e = spawn_snapctl(fx, exp);
		} else {
			e = spawn_snapctl(fx, exp);
			d = spawn_snapctl(fx, del);
		}
		re = wait_exit(e);
		rd = wait_exit(d);
		if (re || rd)
			fail_msg("round %d: export exited %d, delete %d", round, re, rd);
		if (snapctl(fx, log, "export verify %s %s", repo, new))
			fail_msg("round %d: %s does not verify", round, new);
	}
}

static void test_image_usage(void **state)
{
	struct fixture *fx = *state;
	char log[128], img[128];

	snprintf(log, sizeof(log), "%s/log", fx->dir);
	snprintf(img, sizeof(img), "%s/empty.raw", fx->dir);
	assert_int_equal(snapctl(fx, log, "export --image %s/none %s/repo --name x", fx->dir,
				 fx->dir), 3);
	assert_int_equal(snapctl(fx, log, "export --image %s/none %s/repo", fx->dir, fx->dir), 2);
	assert_true(file_has(log, "--name"));
	close(open(img, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(snapctl(fx, log, "export --image %s %s/repo --name x", img, fx->dir), 2);
	assert_true(file_has(log, "empty"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_image_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_roundtrip_encrypted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swapped_manifest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_races_export, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
