#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: 4 KiB writes into 64 KiB pool blocks keep the rest of each block, live and in snapshots
#
# With a 64 KiB data block, a write smaller than a block to a block a
# snapshot shares goes to a fresh block whose other 60 KiB are first copied
# from the old one (or zeroed, for a never-written block).  4 KiB writes at
# the start, middle and end of blocks, two into one block, one into a
# never-written block and 8 KiB ones straddling two blocks: the live disk
# holds exactly the old data plus the writes, the snapshot the old data
# only, and each touched block costs exactly one new data block.  Then fio
# hammers 4 KiB writes at a queue depth of 16 into blocks shared with a
# second snapshot, so writes to a block wait for its copy, and verifies;
# both snapshots still read as before.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd fio python3
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)" 128
size=$((32 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
MiB=$((1 << 20))
KiB=1024
len=$((4 * MiB))			# the range checked
io_start
io model $dev $len

# 2 MiB of data in 32 blocks.
io write $dev 0 $((2 * MiB))
assert_eq "$(pool_data_used pool)" 32 "data blocks after 2 MiB"
s1=$(snapshot pool 1)
io copy $dev s1

# offset:length of each write, and the 64 KiB blocks they touch.
writes=(
	0:4096				# start of block 0
	$((64 * KiB + 28 * KiB)):4096	# middle of block 1
	$((128 * KiB + 60 * KiB)):4096	# end of block 2
	$((192 * KiB + 4 * KiB)):4096	# block 3, twice
	$((192 * KiB + 40 * KiB)):4096
	$((MiB + 60 * KiB)):8192	# blocks 16 and 17
	$((2 * MiB + 12 * KiB)):4096	# block 32, never written
	$((3 * MiB + 60 * KiB)):8192	# blocks 48 and 49, never written
)
touched=9
for w in "${writes[@]}"; do
	echo "write ${w%:*} +${w#*:}"
	io write $dev "${w%:*}" "${w#*:}"
done
assert_eq "$(pool_data_used pool)" $((32 + touched)) "data blocks: one new block per touched block"
assert_eq "$(sha256_of $dev 0 $len)" "$(io sha $dev)" "live disk after sub-block writes"

snap_view pool 1 "$s1" $size
assert_eq "$(io read /dev/mapper/pool-d1-s$s1 0 $len)" "$(io sha s1)" "snapshot after sub-block writes"

# Concurrent 4 KiB writes into 8 blocks (512 KiB..1 MiB) shared with a snapshot.
s2=$(snapshot pool 1)
io copy $dev s2
echo "+ fio randwrite 4k iodepth 16 into shared 64 KiB blocks"
fio --name=sub --filename=$dev --direct=1 --ioengine=libaio --iodepth=16 \
	--rw=randwrite --bs=4k --offset=$((512 * KiB)) --size=$((512 * KiB)) --randseed=5 \
	--verify=crc32c --verify_fatal=1 --output=fio.log ||
	{ cat fio.log; fail "fio failed"; }
grep -q "err= 0" fio.log || { cat fio.log; fail "fio reported errors"; }
assert_eq "$(pool_data_used pool)" $((32 + touched + 8)) "data blocks after fio: one per block"

snap_view pool 1 "$s2" $size
assert_eq "$(io read /dev/mapper/pool-d1-s$s2 0 $len)" "$(io sha s2)" "second snapshot after fio"
assert_eq "$(io read /dev/mapper/pool-d1-s$s1 0 $len)" "$(io sha s1)" "first snapshot after fio"
assert_eq "$(io read $dev 0 $((512 * KiB)))" "$(io sha $dev 0 $((512 * KiB)))" \
	"live disk in front of fio's range"
assert_eq "$(io read $dev $MiB $((3 * MiB)))" "$(io sha $dev $MiB $((3 * MiB)))" \
	"live disk after fio's range"
