/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An export repository: the objects under one store URL
 * (Documentation/export-format.rst).
 *
 *   dmrow-repository              format version, chunk size, encryption, key check
 *   chunks/<ab>/<id>              chunk objects (chunk.h), shared by every export
 *   exports/<name>.manifest       one per completed export, written last
 *   exports/<name>.pending        an export under way (or interrupted)
 *
 * In an encrypted repository of format 2 (every new encrypted one) <name>
 * is the hex HMAC-SHA256 of the export name under a derived key, and
 * manifests (format 3) and pending markers are encrypted by the chunk
 * codec under a key of their own, with that hash authenticated alongside:
 * a listing of the store shows no name, and listing the exports needs the
 * key.  Older encrypted repositories keep format 1, described next.
 *
 * A manifest (format 2) of an encrypted repository ends with an HMAC of
 * its text under a key derived from the repository key: a manifest put
 * in place of another, or edited, by whoever can write to the store but
 * lacks the key is refused on import and verify.  Format 1 manifests
 * (no MAC) are still read in unencrypted repositories, and listed in
 * encrypted ones, but never restored from an encrypted one.
 *
 * A manifest lists every non-zero chunk of the image in chunk lists that
 * are themselves chunks, so it stays small for any disk size, and records
 * a root checksum: the SHA-256 of the whole chunk list.  A restore needs
 * only the manifest and the chunks it names; nothing refers to a base
 * export's objects except by sharing chunk ids.
 */
#ifndef DMROW_EXPORT_REPO_H
#define DMROW_EXPORT_REPO_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "chunk.h"
#include "store.h"
#include "tags.h"

#define REPO_DEFAULT_CHUNK_SIZE (4u << 20)
#define REPO_MIN_CHUNK_SIZE (64u << 10)
#define REPO_MAX_CHUNK_SIZE (64u << 20)
#define EXPORT_NAME_MAX 100
#define MANIFEST_FORMAT 2		/* written in format 1 repositories; 1 is still read */
#define MANIFEST_FORMAT_SEALED 3	/* written in format 2 (encrypted) repositories */
#define REPO_FORMAT 2			/* of new encrypted repositories; 1: plain ones, older */

struct repo {
	struct store *store;
	char url[PATH_MAX];
	uint32_t chunk_size;
	struct chunk_keys keys;
	bool encrypted;
	bool keyless;			/* encrypted, opened without the key */
	/*
	 * 1: manifests are plain text under exports/<name>.*, with a MAC if
	 * encrypted.  2 (encrypted only): manifests and pending markers are
	 * encrypted, under exports/<keyed hash of the name>.*.
	 */
	unsigned int format;
	char error[512];		/* the last failure, one line */
};

/* repo_open() flags */
#define REPO_CREATE	0x1	/* make a repository if the store has none */
#define REPO_KEYLESS	0x2	/* an encrypted one without its key: manifests only */
#define REPO_FORMAT1	0x4	/* create format 1 even if encrypted, as older versions did */

/*
 * Open the repository at @url.  With REPO_CREATE, a store with no
 * repository yet gets one with @chunk_size (0: the default), encrypted if
 * @key_file is given.  An encrypted repository needs @key_file (unless
 * REPO_KEYLESS), and the key must pass the key check (-EKEYREJECTED
 * otherwise).  -ENOENT if there is no repository and no REPO_CREATE.
 * repo->error explains every failure.
 */
int repo_open(struct repo *repo, const char *url, const char *key_file, uint32_t chunk_size,
	      unsigned int flags);
void repo_close(struct repo *repo);

/* Export names: 1..100 of [A-Za-z0-9._-], not starting with '.'. */
bool export_name_valid(const char *name);

struct chunk_entry {
	uint64_t index;			/* chunk_size-sized slot of the image */
	char id[CHUNK_ID_LEN + 1];
};

struct manifest {
	char name[EXPORT_NAME_MAX + 1];
	char pool[128];
	char pool_uuid[64];
	char disk[128];
	uint64_t disk_id;
	char snapshot[128];
	uint64_t snapshot_id;
	uint64_t snapshot_time;
	char base[EXPORT_NAME_MAX + 1];	/* "" for a full export */
	uint64_t image_bytes;
	uint32_t block_bytes;
	uint32_t chunk_size;
	uint64_t stored_chunks;		/* non-zero chunks */
	uint64_t new_chunks;		/* uploaded by this export */
	uint64_t new_bytes;
	uint64_t read_chunks;		/* read from the disk by this export */
	uint64_t created;
	char root[CHUNK_ID_LEN + 1];
	unsigned int format;		/* 1, 2 (MANIFEST_FORMAT) or 3 (..._SEALED) */
	bool authenticated;		/* its MAC or AEAD tag was checked with the key */
	/* Optional: the snapshot's and the disk's description and tags. */
	struct tag_set tags;
	struct tag_set disk_tags;

	size_t nr_lists;
	char (*lists)[CHUNK_ID_LEN + 1];
	size_t nr_entries;		/* sorted by index */
	struct chunk_entry *entries;
};

void manifest_free(struct manifest *m);
/* Number of chunk_size slots the image has. */
uint64_t manifest_slots(const struct manifest *m);
/* Image bytes of chunk slot @slot: chunk_size, less for the last slot. */
uint64_t manifest_slot_bytes(const struct manifest *m, uint64_t slot);
/*
 * The index in m->entries of the first entry whose slot is @slot or
 * above (m->nr_entries if none): a binary search of the sorted entries.
 */
size_t manifest_lower_bound(const struct manifest *m, uint64_t slot);
/* The entry of chunk slot @slot, or NULL if the slot is all zero. */
const struct chunk_entry *manifest_find(const struct manifest *m, uint64_t slot);

/*
 * Read the manifest of export @name (not the chunk lists): -ENOENT if none.
 * In an encrypted repository opened with its key the manifest's MAC (format
 * 1 repository) or AEAD tag (format 2) must verify (-EBADMSG otherwise);
 * opened REPO_KEYLESS, a format 1 repository's is read unchecked and a
 * format 2 repository's cannot be read (-EKEYREJECTED).
 */
int manifest_read(struct repo *repo, const char *name, struct manifest *m);
/* Fetch and check the chunk lists of @m into m->entries. -EBADMSG if damaged. */
int manifest_load_entries(struct repo *repo, struct chunk_codec *codec, struct manifest *m);
/*
 * Store @m->entries as chunk lists, compute the root and write the manifest:
 * the export becomes visible only now.
 */
int manifest_write(struct repo *repo, struct chunk_codec *codec, struct manifest *m);

/* exports/<name>.pending: set before the first chunk, cleared after the manifest. */
int repo_mark_pending(struct repo *repo, const char *name);
int repo_clear_pending(struct repo *repo, const char *name);

struct export_list {
	size_t nr;
	struct export_list_entry {
		char name[EXPORT_NAME_MAX + 1];
		bool complete;		/* has a manifest */
		bool pending;		/* has a pending marker */
	} *entries;
};
/*
 * The exports, by name.  A format 2 repository names them only by keyed
 * hashes: each manifest or pending marker is decrypted to find its name,
 * so listing one needs the key (-EKEYREJECTED opened REPO_KEYLESS).
 */
int repo_list_exports(struct repo *repo, struct export_list *list);
void export_list_free(struct export_list *list);

/* Delete an export's manifest and pending marker (not its chunks). */
int repo_delete_export(struct repo *repo, const char *name);

/*
 * Leases (leases/<kind>-<random>): who works on the repository, until when.
 *
 * An export takes an "export" lease before it learns which chunks are
 * stored and holds it until its manifest is written; gc and delete take a
 * "gc" lease before they read the manifests and hold it until their last
 * deletion.  Each side writes its lease first and then lists the others',
 * so of two that start together at least one sees the other: gc gives way
 * to an export (it refuses, -EBUSY, or waits), an export waits for a gc to
 * end.  A lease lasts SNAPCTL_LEASE_SECONDS (default 60) and a thread
 * renews it every third of that; gc deletes nothing once its lease could
 * have run out, and lists the leases again before it deletes.  A lease of
 * a killed process simply expires.  Hosts sharing a repository need
 * clocks that agree to well under the lease time.
 */
struct repo_lease;

/* repo_lease_take() @flags */
#define LEASE_WAIT	0x1	/* gc: wait for exports to end instead of -EBUSY */

/*
 * Take a lease of @kind ("export" or "gc").  Returns 0 with *lease set,
 * -EBUSY (gc, without LEASE_WAIT) naming the export in repo->error, or
 * another negative errno.
 */
int repo_lease_take(struct repo *repo, const char *kind, unsigned int flags,
		    struct repo_lease **lease);
/* Is the lease certainly still ours (renewed, not about to run out)? */
bool repo_lease_valid(struct repo_lease *lease);
/* Stop renewing and delete the lease object.  NULL is fine. */
void repo_lease_release(struct repo_lease *lease);

struct gc_result {
	uint64_t referenced;		/* chunks some export needs */
	uint64_t deleted;
	uint64_t deleted_bytes;
	uint64_t kept;
};
/*
 * Delete every chunk no manifest references.  Refused with -EBUSY while an
 * export is pending (its chunks are not referenced yet) unless @force, and
 * while an export holds a lease (whatever @force) unless LEASE_WAIT is in
 * @lease_flags.  @held: a gc lease the caller took already, or NULL.
 */
int repo_gc(struct repo *repo, struct chunk_codec *codec, bool force, struct gc_result *res);
int repo_gc_leased(struct repo *repo, struct chunk_codec *codec, bool force,
		   unsigned int lease_flags, struct repo_lease *held, struct gc_result *res);

#endif /* DMROW_EXPORT_REPO_H */
