// SPDX-License-Identifier: GPL-2.0
/*
 * A full export of an image file through the export library alone,
 * for bench/export/run to compare this tree's export with an older one's
 * (built from `git archive` of that commit): the same calls snapctl
 * export makes (repo_open, export_chunks over every slot, manifest_write),
 * which older trees have too.
 *
 *   harness IMAGE REPO-DIR JOBS     prints "<bytes> <seconds>"
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo.h"
#include "store.h"
#include "transfer.h"

int main(int argc, char **argv)
{
	struct manifest m = { 0 };
	struct transfer_stats stats;
	struct chunk_codec *codec;
	struct repo repo;
	uint64_t *slots, i, n;
	struct stat st;
	int fd, r;

	if (argc != 4) {
		fprintf(stderr, "usage: %s IMAGE REPO-DIR JOBS\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || store_global_init()) {
		perror(argv[1]);
		return 1;
	}
	r = repo_open(&repo, argv[2], NULL, 0, REPO_CREATE);
	if (r) {
		fprintf(stderr, "%s\n", repo.error);
		return 1;
	}
	strcpy(m.name, "bench");
	strcpy(m.disk, "image");
	m.image_bytes = st.st_size;
	m.block_bytes = 512;
	m.chunk_size = repo.chunk_size;
	n = manifest_slots(&m);
	slots = malloc(n * sizeof(*slots));
	codec = chunk_codec_new(&repo.keys, repo.chunk_size);
	for (i = 0; i < n; i++)
		slots[i] = i;
	r = export_chunks(&repo, fd, slots, n, NULL, &m, atoi(argv[3]), false, &stats);
	if (!r)
		r = manifest_write(&repo, codec, &m);
	if (r) {
		fprintf(stderr, "export: %s\n", repo.error);
		return 1;
	}
	printf("%" PRIu64 " %.3f\n", stats.bytes, stats.seconds);
	manifest_free(&m);
	chunk_codec_free(codec);
	free(slots);
	repo_close(&repo);
	store_global_exit();
	return 0;
}
