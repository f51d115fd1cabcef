#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a removed disk keeps its snapshot chain: its snapshots can still be viewed and cloned
#
# remove_disk drops the live disk but keeps its snapshots: the record says
# removed=1, the live device cannot be created again, a view of one of its
# snapshots stays active through the removal (an automatic one: without
# delete_auto_snapshots those stay too), and clones of either snapshot read
# what it held and take writes of their own.  Deleting the last snapshot
# takes the removed disk's record with it, and the clones still read right.
# With delete_auto_snapshots set, removing a disk deletes its automatic
# snapshots, and is refused while one of them has an active view.

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

io write $d1 0 $((256 * 4096))
s1=$(snapshot pool 1 kind=auto)
io copy $d1 A
io write $d1 $((128 * 4096)) $((256 * 4096))
s2=$(snapshot pool 1)
io copy $d1 AB
io write $d1 $((600 * 4096)) $((64 * 4096))		# live only: freed on removal

snap_view pool 1 "$s1" $size
log_mustnot pool_msg pool remove_disk 1			# the live device is active
log_must dmsetup_remove pool-d1
log_must pool_msg pool remove_disk 1
pool_msg pool info disk 1 | grep -q " removed=1 " || fail "record: $(pool_msg pool info disk 1)"
pool_msg pool list_disks | grep -q "^disk id=1 .* removed=1 " || fail "list_disks: $(pool_msg pool list_disks)"
assert_eq "$(pool_data_used pool)" 512 "data blocks after removing the disk"
log_mustnot dmsetup create --noudevsync pool-d1 --table "0 $size row /dev/mapper/pool 1"
assert_eq "$(io read /dev/mapper/pool-d1-s$s1 0 $len)" "$(io sha A)" "view kept through the removal"

log_must pool_msg pool clone "$s2" 3
log_must pool_msg pool clone "$s1" 4
dmsetup_create pool-d3 "0 $size row /dev/mapper/pool 3"
dmsetup_create pool-d4 "0 $size row /dev/mapper/pool 4"
d3=/dev/mapper/pool-d3 d4=/dev/mapper/pool-d4
io copy AB $d3
io copy A $d4
assert_eq "$(io read $d3 0 $len)" "$(io sha AB)" "clone of the later snapshot"
assert_eq "$(io read $d4 0 $len)" "$(io sha A)" "clone of the earlier snapshot"
io write $d3 0 $((32 * 4096))
io write $d4 0 $((32 * 4096))

log_must dmsetup_remove pool-d1-s$s1
log_must pool_msg pool delete_snapshot "$s1"
pool_msg pool info disk 1 | grep -q " removed=1 " || fail "record: $(pool_msg pool info disk 1)"
log_must pool_msg pool delete_snapshot "$s2"
log_mustnot pool_msg pool info disk 1 2>err
grep -q "No data available" err || fail "the removed disk's record outlived its last snapshot"
assert_eq "$(io read $d3 0 $len)" "$(io sha $d3)" "first clone after its snapshot went"
assert_eq "$(io read $d4 0 $len)" "$(io sha $d4)" "second clone after its snapshot went"

# delete_auto_snapshots: the automatic snapshots go with the disk.
log_must pool_msg pool set_disk 3 delete_auto_snapshots=1
a=$(snapshot pool 3 kind=auto)
m=$(snapshot pool 3)
snap_view pool 3 "$a" $size
log_must dmsetup_remove pool-d3
log_mustnot pool_msg pool remove_disk 3 2>err
grep -q "Device or resource busy" err || fail "removal deleting a viewed snapshot not refused"
log_must dmsetup_remove pool-d3-s$a
log_must pool_msg pool remove_disk 3
log_mustnot pool_msg pool info snapshot "$a"
log_must pool_msg pool info snapshot "$m"
log_must pool_msg pool delete_snapshot "$m"

log_must dmsetup_remove pool-d4
log_must pool_msg pool remove_disk 4
assert_eq "$(pool_msg pool list_disks)" "" "disks left"
assert_eq "$(pool_data_used pool)" 0 "data blocks once everything is removed"
