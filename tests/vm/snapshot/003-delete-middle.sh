#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: deleting the middle snapshot of a chain of 5 keeps the others' data and accounts space exactly
#
# Five epochs each write 256 distinct 4 KiB blocks, half of them over the
# previous epoch's, and end with a snapshot; the live disk then overwrites
# half of the last epoch.  So every snapshot's delta is 256 blocks, 128 of
# them exclusive (overwritten in the next epoch), and the chain holds 1280.
# Deleting the third snapshot (refused while a view of it is active) frees
# exactly its 128 exclusive blocks, folds the other 128 into the fourth
# snapshot's delta (384), leaves the other snapshots' contents, exclusive
# counts and mapped counts unchanged, and relinks the chain.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((16 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
len=$((768 * 4096))			# every epoch writes inside this
io_start
io model $dev $len

# epoch N FIRST COUNT: write COUNT blocks from block FIRST.
epoch() {
	echo "epoch $1: blocks $2..$(($2 + $3 - 1))"
	io write $dev $(($2 * 4096)) $(($3 * 4096))
}

declare -A sum
snaps=()
for e in 1 2 3 4 5; do
	epoch $e $(((e - 1) * 128)) 256
	s=$(snapshot pool 1)
	snaps+=("$s")
	sum[$s]=$(io sha $dev)
done
epoch 6 640 128
live_sum=$(io sha $dev)
read -r s1 s2 s3 s4 s5 <<<"${snaps[*]}"

# check_space SNAP DELTA EXCLUSIVE MAPPED
check_space() {
	local out
	out=$(pool_msg pool space snapshot "$1")
	assert_eq "$out" "snapshot id=$1 delta_blocks=$2 exclusive_blocks=$3 mapped_blocks=$4" \
		"space of snapshot $1"
}

check_space "$s1" 256 128 256
check_space "$s2" 256 128 384
check_space "$s3" 256 128 512
check_space "$s4" 256 128 640
check_space "$s5" 256 128 768
assert_eq "$(pool_msg pool space disk 1)" \
	"disk id=1 chain_blocks=1280 live_delta_blocks=128 mapped_blocks=768" "space of the disk"
assert_eq "$(pool_data_used pool)" 1408 "data blocks before the deletion"

# Not while a view of it is active.
snap_view pool 1 "$s3" $size
log_mustnot pool_msg pool delete_snapshot "$s3"
log_must dmsetup_remove pool-d1-s$s3

log_must pool_msg pool delete_snapshot "$s3"
log_mustnot pool_msg pool info snapshot "$s3"
log_mustnot dmsetup create --noudevsync gone --table "0 $size row /dev/mapper/pool 1 $s3"
assert_eq "$(pool_data_used pool)" 1280 "data blocks after the deletion"
check_space "$s1" 256 128 256
check_space "$s2" 256 128 384
check_space "$s4" 384 128 640
check_space "$s5" 256 128 768
assert_eq "$(pool_msg pool space disk 1)" \
	"disk id=1 chain_blocks=1152 live_delta_blocks=128 mapped_blocks=768" "space of the disk"

# The chain is relinked: s1 s2 s4 s5.
chain=$(pool_msg pool list_snapshots 1)
echo "$chain"
got=$(sed -n 's/^snapshot id=\([0-9]*\) disk=1 prev=\([0-9]*\) next=\([0-9]*\) .*/\1:\2:\3/p' <<<"$chain" | tr '\n' ' ')
assert_eq "$got" "$s1:0:$s2 $s2:$s1:$s4 $s4:$s2:$s5 $s5:$s4:0 " "chain after the deletion"

for s in "$s1" "$s2" "$s4" "$s5"; do
	snap_view pool 1 "$s" $size
	assert_eq "$(io read /dev/mapper/pool-d1-s$s 0 $len)" "${sum[$s]}" "contents of snapshot $s"
done
assert_eq "$(sha256_of $dev 0 $len)" "$live_sum" "contents of the live disk"
