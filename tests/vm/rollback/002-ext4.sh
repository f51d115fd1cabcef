#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: rollback of an ext4 disk: files deleted, changed and added after the snapshot are undone
#
# A file tree on ext4, synced and unmounted cleanly, then snapshotted.  Files
# are then deleted, overwritten, appended to and created, and the file
# system unmounted.  With the disk's device removed, a rollback to the
# snapshot makes the disk the snapshot again: it fscks clean, every file
# has its old checksum and the new files are gone.  The file system is
# then changed again and snapshotted, and both snapshots stay readable.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd mkfs.ext4 e2fsck
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((64 * 2048))
disk_create pool 1 $size
mnt=$TEST_TMP/mnt
mount_fs /dev/mapper/pool-d1 "$mnt"

mkdir -p "$mnt"/tree/{a,b}
head -c $((30 * 4096)) /dev/urandom | split -b 4096 -a 2 - "$mnt/tree/a/f"
head -c $((6 * 200000)) /dev/urandom | split -b 200000 -a 2 - "$mnt/tree/b/f"
(cd "$mnt" && find tree -type f -print0 | xargs -0 sha256sum) >manifest
log_must umount "$mnt"
s1=$(snapshot pool 1)

log_must mount /dev/mapper/pool-d1 "$mnt"
rm -f "$mnt"/tree/a/fa*
head -c 100000 /dev/urandom >"$mnt/tree/b/faa"
head -c 5000 /dev/urandom >>"$mnt/tree/b/fab"
head -c 1000000 /dev/urandom >"$mnt/tree/new"
log_must umount "$mnt"

log_must dmsetup_remove pool-d1
log_must pool_msg pool rollback 1 "$s1"
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
log_must e2fsck -fn /dev/mapper/pool-d1
log_must mount /dev/mapper/pool-d1 "$mnt"
(cd "$mnt" && log_must sha256sum --quiet -c "$TEST_TMP/manifest")
[[ ! -e $mnt/tree/new ]] || fail "a file created after the snapshot survived the rollback"

# Change it again and snapshot: both snapshots readable.
head -c 300000 /dev/urandom >"$mnt/tree/after"
(cd "$mnt" && sha256sum tree/after) >manifest2
log_must umount "$mnt"
s2=$(snapshot pool 1)
for s in "$s1" "$s2"; do
	snap_view pool 1 "$s" $size
	log_must e2fsck -fn /dev/mapper/pool-d1-s$s
	mkdir -p "$TEST_TMP/s$s"
	log_must mount -o ro,noload /dev/mapper/pool-d1-s$s "$TEST_TMP/s$s"
	on_exit "! mountpoint -q '$TEST_TMP/s$s' || umount '$TEST_TMP/s$s'"
	(cd "$TEST_TMP/s$s" && log_must sha256sum --quiet -c "$TEST_TMP/manifest")
done
(cd "$TEST_TMP/s$s2" && log_must sha256sum --quiet -c "$TEST_TMP/manifest2")
[[ ! -e $TEST_TMP/s$s1/tree/after ]] || fail "the first snapshot has a file written after it"
