#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: guest basics: dmsetup, the linear target, fio, ext4 on a disk
#
# dmsetup talks to the kernel, "dmsetup targets" lists linear, fio runs, and
# a file on ext4 on a virtio disk reads back the same after a remount with
# the page cache dropped; fsck finds the file system clean.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 1

log_must modprobe dm-mod
log_must dmsetup version
dmsetup targets | grep -qw linear || fail "dmsetup targets does not list linear"
log_must fio --version

dev=$(disk 0)
mnt=$TEST_TMP/mnt
mkdir -p "$mnt"

log_must mkfs.ext4 -q -F "$dev"
log_must mount "$dev" "$mnt"
on_exit "! mountpoint -q '$mnt' || umount '$mnt'"

log_must dd if=/dev/urandom of="$mnt/data" bs=1M count=8 status=none
before=$(sha256sum <"$mnt/data")
log_must umount "$mnt"
echo 3 >/proc/sys/vm/drop_caches
log_must mount "$dev" "$mnt"
after=$(sha256sum <"$mnt/data")
assert_eq "$after" "$before" "checksum of data after remount"
log_must umount "$mnt"
log_must fsck.ext4 -f -n "$dev"
