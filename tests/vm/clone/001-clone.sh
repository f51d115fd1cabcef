#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a clone of a snapshot shares its blocks; clone and origin each see only their own writes
#
# A clone is made instantly (no data blocks used) and reads the snapshot.
# Writes to the clone and to the origin, some at the same offsets, stay
# apart, and the snapshot keeps its contents.  Deleting the snapshot frees
# only the blocks neither disk still maps.  A clone of a snapshot of the
# clone works too.  Existing ids and unknown snapshots are refused, and
# once everything is removed the pool's data_used is back to 0.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((4 * 2048))
len=$((1024 * 4096))
disk_create pool 1 $size
d1=/dev/mapper/pool-d1
io_start
io model $d1 $len

io write $d1 0 $((256 * 4096)); io write $d1 $((512 * 4096)) $((64 * 4096))	# A: 320
s1=$(snapshot pool 1)
io copy $d1 A

log_must pool_msg pool clone "$s1" 2 copy
pool_msg pool info disk 2 | grep -q " origin=$s1 .* name=copy$" ||
	fail "clone's record: $(pool_msg pool info disk 2)"
assert_eq "$(pool_data_used pool)" 320 "data blocks after cloning"
dmsetup_create pool-d2 "0 $size row /dev/mapper/pool 2"
d2=/dev/mapper/pool-d2
io copy A $d2
assert_eq "$(io read $d2 0 $len)" "$(io sha A)" "the clone reads the snapshot"

io write $d2 0 $((64 * 4096)); io write $d2 $((700 * 4096)) $((64 * 4096))	# X: 128
io write $d1 0 $((64 * 4096)); io write $d1 $((800 * 4096)) $((64 * 4096))	# Y: 128
assert_eq "$(io read $d1 0 $len)" "$(io sha $d1)" "origin: A + its own writes"
assert_eq "$(io read $d2 0 $len)" "$(io sha $d2)" "clone: A + its own writes"
snap_view pool 1 "$s1" $size
assert_eq "$(io read /dev/mapper/pool-d1-s$s1 0 $len)" "$(io sha A)" "the snapshot"
assert_eq "$(pool_data_used pool)" 576 "data blocks after writes to both"

# Only A's first 64 blocks, overwritten in both disks, go with the snapshot.
log_mustnot pool_msg pool delete_snapshot "$s1"
log_must dmsetup_remove pool-d1-s$s1
log_must pool_msg pool delete_snapshot "$s1"
assert_eq "$(pool_data_used pool)" 512 "data blocks after deleting the cloned snapshot"
assert_eq "$(io read $d1 0 $len)" "$(io sha $d1)" "origin after deleting the snapshot"
assert_eq "$(io read $d2 0 $len)" "$(io sha $d2)" "clone after deleting the snapshot"

# A clone of a snapshot of the clone.
s2=$(snapshot pool 2)
io copy $d2 AX
log_must pool_msg pool clone "$s2" 3
dmsetup_create pool-d3 "0 $size row /dev/mapper/pool 3"
d3=/dev/mapper/pool-d3
io copy AX $d3
io write $d3 $((64 * 4096)) $((64 * 4096))
assert_eq "$(io read $d3 0 $len)" "$(io sha $d3)" "clone of the clone"
assert_eq "$(io read $d2 0 $len)" "$(io sha AX)" "the clone after its clone's writes"
assert_eq "$(io read $d1 0 $len)" "$(io sha $d1)" "the origin after its clone's clone's writes"

log_mustnot pool_msg pool clone "$s2" 1 2>err
grep -q "File exists" err || fail "cloning onto an existing disk id not refused with EEXIST"
log_mustnot pool_msg pool clone "$s2" 4 copy 2>err
grep -q "File exists" err || fail "cloning with an existing disk name not refused with EEXIST"
log_mustnot pool_msg pool clone 999 4 2>err
grep -q "No data available" err || fail "cloning an unknown snapshot not refused with ENODATA"

# Remove everything: no block leaks.
for d in 3 2 1; do
	log_must dmsetup_remove pool-d$d
	log_must pool_msg pool remove_disk $d
done
log_must pool_msg pool delete_snapshot "$s2"
assert_eq "$(pool_msg pool list_disks)" "" "disks left"
assert_eq "$(pool_data_used pool)" 0 "data blocks once everything is removed"
