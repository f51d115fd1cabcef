#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: ext4 snapshot taken while a writer runs: its clone replays the journal, fscks clean, keeps the files
#
# A file tree is written to ext4 on a disk and synced, its checksums
# recorded.  Another writer keeps creating and overwriting files while a
# snapshot is taken: the snapshot is crash-consistent, not clean.  A
# writable clone of it (journal replay needs to write) mounts, which
# replays the journal, unmounts, and then e2fsck -fn finds nothing to fix,
# and every file recorded before the snapshot has its checksum.  The live
# file system is unharmed and fscks clean too.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd mkfs.ext4 e2fsck
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((128 * 2048))
disk_create pool 1 $size
live=$TEST_TMP/live
mount_fs /dev/mapper/pool-d1 "$live"

# The tree: 40 files of 4 KiB, 10 of 36 KiB, 5 of 260 KiB, 2 of 1 MiB and
# one of 3 MiB with a partial last block, in 4 directories.
mkdir -p "$live"/tree/{a,b,c,d}
head -c $((40 * 4096)) /dev/urandom | split -b 4096 -a 2 - "$live/tree/a/f"
head -c $((10 * 36864)) /dev/urandom | split -b 36864 -a 2 - "$live/tree/b/f"
head -c $((5 * 266240)) /dev/urandom | split -b 266240 -a 2 - "$live/tree/c/f"
head -c $((2 << 20)) /dev/urandom | split -b 1M -a 2 - "$live/tree/d/f"
head -c $((3 * 1048576 + 1000)) /dev/urandom >"$live/tree/big"
(cd "$live" && find tree -type f -print0 | xargs -0 sha256sum) >manifest
log_must sync

# Another writer keeps the file system busy across the snapshot.
(
	i=0
	mkdir -p "$live/busy"
	while [[ ! -e stop ]]; do
		i=$((i + 1))
		dd if=/dev/urandom of="$live/busy/f$((i % 20))" bs=64k count=$((i % 8 + 1)) status=none
		[[ $((i % 5)) -ne 0 ]] || rm -f "$live/busy/f$(((i + 7) % 20))"
	done
) &
writer=$!
on_exit "touch '$TEST_TMP/stop'; wait $writer 2>/dev/null || true"
sleep 2
snap=$(snapshot pool 1)
sleep 1
touch stop
wait $writer

# A writable clone of the snapshot; mounting it replays the journal.
log_must pool_msg pool clone "$snap" 2
dmsetup_create pool-d2 "0 $size row /dev/mapper/pool 2"
clone=$TEST_TMP/clone
mkdir -p "$clone"
dmesg -C
log_must mount /dev/mapper/pool-d2 "$clone"
kernel_log_has "recovery complete" || log_note "no journal recovery message on mount"
on_exit "! mountpoint -q '$clone' || umount '$clone'"
log_must umount "$clone"
log_must e2fsck -fn /dev/mapper/pool-d2

log_must mount -o ro /dev/mapper/pool-d2 "$clone"
(cd "$clone" && log_must sha256sum --quiet -c "$TEST_TMP/manifest")
log_must umount "$clone"

# The clone was replayed and is clean; the snapshot itself, read through a
# view, still has its journal to replay: the clone's writes did not reach it.
log_must dumpe2fs -h /dev/mapper/pool-d2 >clone.sb 2>&1
grep -q needs_recovery clone.sb && fail "the clone still needs recovery after a mount"
snap_view pool 1 "$snap" $size
log_must dumpe2fs -h /dev/mapper/pool-d1-s$snap >snap.sb 2>&1
grep -q needs_recovery snap.sb || fail "the snapshot's journal was replayed in place"

# The live file system is fine.
(cd "$live" && log_must sha256sum --quiet -c "$TEST_TMP/manifest")
log_must umount "$live"
log_must e2fsck -fn /dev/mapper/pool-d1
