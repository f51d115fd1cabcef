#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: rollback: refused on an active disk, then the disk reads the snapshot again, later snapshots kept
#
# Write A, snapshot S1, write B, snapshot S2, write C.  Rolling back to S1
# is refused (EBUSY) while the disk's device is active and not suspended;
# with the device suspended it succeeds: the disk reads A again, C's blocks
# (only the live disk held them) are freed, S1 and S2 still read A and A+B.
# Writing D and snapshotting again appends S3 (A+D) to the chain.  With the
# device removed, rolling back to S2 works too and the disk reads A+B.  A
# snapshot of another disk is refused (EINVAL).

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((16 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
len=$((1024 * 4096))
io_start
io model $dev $len

# blocks FIRST COUNT: write COUNT 4 KiB blocks from block FIRST.
blocks() {
	io write $dev $(($1 * 4096)) $(($2 * 4096))
}

blocks 0 256; blocks 512 64			# A: 320 blocks
s1=$(snapshot pool 1)
io copy $dev A
blocks 128 256; blocks 640 64			# B: 320 blocks
s2=$(snapshot pool 1)
io copy $dev AB
blocks 384 128; blocks 0 64; blocks 768 128	# C: 320 blocks, live only
assert_eq "$(pool_data_used pool)" 960 "data blocks before the rollback"

log_mustnot pool_msg pool rollback 1 "$s1" 2>err
cat err
grep -q "Device or resource busy" err || fail "rollback of an active disk not refused with EBUSY"

log_must dmsetup suspend --noudevsync pool-d1
log_must pool_msg pool rollback 1 "$s1"
log_must dmsetup resume --noudevsync pool-d1
io copy A $dev
assert_eq "$(io read $dev 0 $len)" "$(io sha $dev)" "disk after rolling back to S1"
assert_eq "$(sha256_of $dev 0 $len)" "$(io sha $dev)" "disk after rolling back to S1 (buffered read)"
assert_eq "$(pool_data_used pool)" 640 "data blocks after the rollback freed C"

snap_view pool 1 "$s1" $size
snap_view pool 1 "$s2" $size
assert_eq "$(io read /dev/mapper/pool-d1-s$s1 0 $len)" "$(io sha A)" "S1 after the rollback"
assert_eq "$(io read /dev/mapper/pool-d1-s$s2 0 $len)" "$(io sha AB)" "S2 after the rollback"

# Write after the rollback, and snapshot again.
blocks 128 64; blocks 960 64			# D: 128 blocks
s3=$(snapshot pool 1)
io copy $dev AD
assert_eq "$(pool_data_used pool)" 768 "data blocks after D"
snap_view pool 1 "$s3" $size
assert_eq "$(io read /dev/mapper/pool-d1-s$s3 0 $len)" "$(io sha AD)" "S3"
assert_eq "$(io read $dev 0 $len)" "$(io sha AD)" "disk after D"
chain=$(pool_msg pool list_snapshots 1)
got=$(sed -n 's/^snapshot id=\([0-9]*\) disk=1 .*/\1/p' <<<"$chain" | tr '\n' ' ')
assert_eq "$got" "$s1 $s2 $s3 " "chain after the rollback and a new snapshot"

# Rollback with the device removed, to the later snapshot.
log_must dmsetup_remove pool-d1
log_must pool_msg pool rollback 1 "$s2"
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
assert_eq "$(io read $dev 0 $len)" "$(io sha AB)" "disk after rolling back to S2"
assert_eq "$(io read /dev/mapper/pool-d1-s$s3 0 $len)" "$(io sha AD)" "S3 after rolling back to S2"
assert_eq "$(pool_data_used pool)" 768 "data blocks: D is still in S3"

# Only the disk's own snapshots.
log_must pool_msg pool create_disk 2 $size
s4=$(snapshot pool 2)
log_must dmsetup suspend --noudevsync pool-d1
log_mustnot pool_msg pool rollback 1 "$s4" 2>err
log_must dmsetup resume --noudevsync pool-d1
grep -q "Invalid argument" err || fail "rollback to another disk's snapshot not refused with EINVAL"
assert_eq "$(io read $dev 0 $len)" "$(io sha AB)" "disk after a refused rollback"
