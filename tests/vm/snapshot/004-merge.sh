#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: merging snapshots 2..4 of a chain of 5 collapses them into the 4th, frees what only they held
#
# The chain of five epochs of 003-delete-middle.  Merging the second to the
# fourth snapshot is refused while a view of one that would go is active,
# and when the two are not in chain order; then it leaves snapshots 1, 4
# and 5 with their contents, the 4th's delta now counted against the 1st
# (512 blocks), frees the 256 blocks only the 2nd and 3rd held, and the
# chain reads 1, 4, 5.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((16 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
len=$((768 * 4096))
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
read -r s1 s2 s3 s4 s5 <<<"${snaps[*]}"
assert_eq "$(pool_data_used pool)" 1408 "data blocks before the merge"

log_mustnot pool_msg pool merge "$s4" "$s2"
snap_view pool 1 "$s3" $size
log_mustnot pool_msg pool merge "$s2" "$s4"
log_must dmsetup_remove pool-d1-s$s3
log_must pool_msg pool merge "$s2" "$s4"

log_mustnot pool_msg pool info snapshot "$s2"
log_mustnot pool_msg pool info snapshot "$s3"
assert_eq "$(pool_data_used pool)" 1152 "data blocks after the merge"
assert_eq "$(pool_msg pool space snapshot "$s1")" \
	"snapshot id=$s1 delta_blocks=256 exclusive_blocks=128 mapped_blocks=256" "space of snapshot 1"
assert_eq "$(pool_msg pool space snapshot "$s4")" \
	"snapshot id=$s4 delta_blocks=512 exclusive_blocks=128 mapped_blocks=640" "space of snapshot 4"
assert_eq "$(pool_msg pool space snapshot "$s5")" \
	"snapshot id=$s5 delta_blocks=256 exclusive_blocks=128 mapped_blocks=768" "space of snapshot 5"
assert_eq "$(pool_msg pool space disk 1)" \
	"disk id=1 chain_blocks=1024 live_delta_blocks=128 mapped_blocks=768" "space of the disk"
assert_eq "$(pool_field pool data_used)" 1152 "data_used of info pool"

chain=$(pool_msg pool list_snapshots 1)
echo "$chain"
got=$(sed -n 's/^snapshot id=\([0-9]*\) disk=1 prev=\([0-9]*\) next=\([0-9]*\) .*/\1:\2:\3/p' <<<"$chain" | tr '\n' ' ')
assert_eq "$got" "$s1:0:$s4 $s4:$s1:$s5 $s5:$s4:0 " "chain after the merge"

for s in "$s1" "$s4" "$s5"; do
	snap_view pool 1 "$s" $size
	assert_eq "$(io read /dev/mapper/pool-d1-s$s 0 $len)" "${sum[$s]}" "contents of snapshot $s"
done
