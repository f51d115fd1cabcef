#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a pool formats empty metadata, reopens its own, refuses garbage
#
# A zeroed metadata device is formatted on first load; removing and loading
# the pool again reopens it (same uuid, disks kept); a block size differing
# from the pool's is refused; metadata that is neither zero nor a pool is
# refused with a clear error and left untouched.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
load_module
meta=$(disk 0)
data=$(disk 1)
zero_dev "$meta" 4

pool_create pool "$meta" "$data"
uuid=$(pool_field pool uuid)
[[ -n $uuid ]] || fail "no uuid"
log_must pool_msg pool create_disk 1 8192 first
log_must dmsetup_remove pool

pool_create pool "$meta" "$data"
assert_eq "$(pool_field pool uuid)" "$uuid" "uuid after reopen"
pool_msg pool info disk 1 | grep -q "name=first" || fail "disk lost on reopen"
log_must dmsetup_remove pool

dmesg -C
log_mustnot dmsetup create --noudevsync pool --table "0 $(dev_sectors "$data") row-pool $meta $data 128 0"
kernel_log_has "Data block size differs" || fail "no clear error for a block size mismatch"

# Garbage in both superblock slots: refused, and not overwritten.
head -c 8192 /dev/urandom | dd of="$meta" bs=4096 oflag=direct conv=notrunc status=none
before=$(sha256_of "$meta" 0 8192)
dmesg -C
log_mustnot dmsetup create --noudevsync pool --table "0 $(dev_sectors "$data") row-pool $meta $data 8 0"
kernel_log_has "holds no valid dm-row pool" || fail "no clear error for garbage metadata"
assert_eq "$(sha256_of "$meta" 0 8192)" "$before" "garbage metadata left untouched"
