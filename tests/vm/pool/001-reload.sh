#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: remove every device, unload the module, load the pool again: disks, snapshots, clones, data, accounting all back
#
# A pool with a live disk and its chain of a manual and an automatic
# snapshot (with names, retention), a clone with writes of its own, a
# removed disk whose chain remains, custom quotas.  Everything the pool
# reports (info, list_disks, list_snapshots, space, diff) is recorded and
# every image checksummed.  Then every device is removed, the module
# unloaded, the metadata checked offline (snapctl check), and the pool
# loaded again on the same devices: the reports are the same to the byte,
# every image has its checksum, and the pool takes writes and snapshots.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3
load_module

meta=$(disk 0) data=$(disk 1)
zero_dev "$meta" 4
pool_create pool "$meta" "$data"
size=$((8 * 2048))
len=$((2048 * 4096))
disk_create pool 1 $size alpha
d1=/dev/mapper/pool-d1
io_start
io model $d1 $len

log_must pool_msg pool set_quota 100 50
io write $d1 0 $((512 * 4096))
s1=$(snapshot pool 1 name=first retention=4000000000)
io copy $d1 S1
io write $d1 $((256 * 4096)) $((512 * 4096))
s2=$(snapshot pool 1 kind=auto)
io copy $d1 S2
io write $d1 $((1000 * 4096)) $((100 * 4096))
log_must pool_msg pool clone "$s1" 2 beta
dmsetup_create pool-d2 "0 $size row /dev/mapper/pool 2"
d2=/dev/mapper/pool-d2
io copy S1 $d2
io write $d2 $((100 * 4096)) $((50 * 4096))
disk_create pool 3 $size gamma
io model /dev/mapper/pool-d3 $len
io write /dev/mapper/pool-d3 $((10 * 4096)) $((300 * 4096))
s3=$(snapshot pool 3)
io copy /dev/mapper/pool-d3 S3
log_must dmsetup_remove pool-d3
log_must pool_msg pool remove_disk 3

# report: everything the pool says about itself, but its transaction id.
report() {
	local s d
	pool_msg pool info pool | sed 's/ transaction=[0-9]*//'
	pool_msg pool list_disks
	for d in 1 2 3; do
		pool_msg pool list_snapshots $d
		pool_msg pool space disk $d
	done
	for s in "$s1" "$s2" "$s3"; do
		pool_msg pool space snapshot "$s"
	done
	pool_msg pool diff 1 "$s1" "$s2"
	pool_msg pool diff 1 "$s2" 0
	pool_msg pool diff 2 0 0
}
report >before
cat before

# images: the checksum of every image, as read from the pool.
images() {
	io read $d1 0 $len
	io read $d2 0 $len
	local s
	for s in "$s1" "$s2" "$s3"; do
		io read /dev/mapper/pool-d$(($s == $s3 ? 3 : 1))-s$s 0 $len
	done
}
snap_view pool 1 "$s1" $size
snap_view pool 1 "$s2" $size
snap_view pool 3 "$s3" $size
images >sums
for x in $d1 $d2 S1 S2 S3; do
	io sha $x
done >expected
assert_eq "$(<sums)" "$(<expected)" "images before the reload"

for dev in pool-d1-s$s1 pool-d1-s$s2 pool-d3-s$s3 pool-d1 pool-d2 pool; do
	log_must dmsetup_remove $dev
done
log_must unload_module
if command -v snapctl >/dev/null; then
	log_must snapctl check "$meta"
fi

load_module
pool_create pool "$meta" "$data"
report >after
diff -u before after || fail "the pool reports differently after the reload"
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
dmsetup_create pool-d2 "0 $size row /dev/mapper/pool 2"
snap_view pool 1 "$s1" $size
snap_view pool 1 "$s2" $size
snap_view pool 3 "$s3" $size
images >sums-after
assert_eq "$(<sums-after)" "$(<expected)" "images after the reload"

# And it goes on.
io write $d1 $((2000 * 4096)) $((48 * 4096))
s4=$(snapshot pool 1)
snap_view pool 1 "$s4" $size
assert_eq "$(io read /dev/mapper/pool-d1-s$s4 0 $len)" "$(io sha $d1)" "a snapshot after the reload"
