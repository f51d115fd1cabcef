#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: 512 snapshots of one disk: sampled views read right, accounting adds up, list_snapshots pages through all
#
# With the manual quota raised to 512, one disk takes 512 snapshots, each
# after writing two 4 KiB blocks (never the same block twice in an epoch,
# so every snapshot's delta is 2 blocks and the chain holds 1024), driven
# from one process (tests/vm/dmrow-io.py batch) that keeps an image of the
# disk and records the expected checksum at sampled snapshots.  The views of
# the first, middle and last snapshots and a few others read what they
# held; the 513th manual snapshot is refused; list_snapshots, followed
# through its next= lines, lists all 512 in order, correctly linked.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((8 * 2048))
nblocks=2048
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
log_must pool_msg pool set_quota 512 256

declare -A sample=([1]=1 [2]=1 [100]=1 [256]=1 [257]=1 [400]=1 [511]=1 [512]=1)
{
	echo "model $dev $((nblocks * 4096))"
	for ((i = 1; i <= 512; i++)); do
		echo "write $dev $((i * 3 % nblocks * 4096)) 4096"
		echo "write $dev $(((i * 7 + 1001) % nblocks * 4096)) 4096"
		echo "msg pool snapshot 1"
		[[ -z ${sample[$i]:-} ]] || echo "sha $dev"
	done
} >commands
echo "+ dmrow_io batch: 512 x (2 writes, snapshot)"
dmrow_io batch <commands >answers || { tail -3 answers; fail "dmrow_io batch failed"; }

ids=()
declare -A sum
while read -r a; do
	if [[ $a == ok ]]; then
		continue
	elif [[ $a =~ ^[0-9]+$ ]]; then
		ids+=("$a")
	elif [[ $a =~ ^[0-9a-f]{64}$ ]]; then
		sum[${ids[-1]}]=$a
	else
		fail "unexpected answer: $a"
	fi
done <answers
assert_eq "${#ids[@]}" 512 "snapshots taken"
assert_eq "${#sum[@]}" "${#sample[@]}" "sampled checksums"

log_mustnot snapshot pool 1 2>err
grep -q "Disk quota exceeded" err || fail "the 513th manual snapshot was not refused with EDQUOT"

assert_eq "$(pool_data_used pool)" 1024 "data blocks: 2 per epoch"
assert_eq "$(pool_space pool disk 1 chain_blocks)" 1024 "chain blocks"
assert_eq "$(pool_space pool disk 1 live_delta_blocks)" 0 "live delta"
assert_eq "$(pool_space pool snapshot "${ids[0]}" delta_blocks)" 2 "delta of the first snapshot"
assert_eq "$(pool_space pool snapshot "${ids[511]}" delta_blocks)" 2 "delta of the last snapshot"

# Page through the chain.
listed=()
links=()
pages=0
next=${ids[0]}
while [[ -n $next ]]; do
	out=$(pool_msg pool list_snapshots 1 "$next")
	pages=$((pages + 1))
	next=
	while read -r line; do
		if [[ $line =~ ^snapshot\ id=([0-9]+)\ disk=1\ prev=([0-9]+)\ next=([0-9]+)\  ]]; then
			listed+=("${BASH_REMATCH[1]}")
			links+=("${BASH_REMATCH[2]}:${BASH_REMATCH[3]}")
		elif [[ $line =~ ^next=([0-9]+)$ ]]; then
			next=${BASH_REMATCH[1]}
		else
			fail "unexpected line in list_snapshots: $line"
		fi
	done <<<"$out"
	[[ $pages -le 512 ]] || fail "list_snapshots does not end"
done
log_note "list_snapshots: ${#listed[@]} snapshots in $pages pages"
[[ $pages -ge 2 ]] || fail "512 snapshots fit in one reply: pagination not exercised"
assert_eq "${listed[*]}" "${ids[*]}" "snapshots listed, in chain order"
for ((i = 0; i < 512; i++)); do
	want="$((i ? ids[i - 1] : 0)):$((i < 511 ? ids[i + 1] : 0))"
	[[ ${links[i]} == "$want" ]] || fail "links of snapshot ${ids[i]}: ${links[i]}, expected $want"
done
# Without a starting id, the listing starts at the first snapshot.
out=$(pool_msg pool list_snapshots 1)
first=${out%%$'\n'*}
[[ $first == "snapshot id=${ids[0]} "* ]] || fail "list_snapshots without a start: $first"

io_start
for i in "${!sample[@]}"; do
	s=${ids[i - 1]}
	snap_view pool 1 "$s" $size
	assert_eq "$(io read /dev/mapper/pool-d1-s$s 0 $((nblocks * 4096)))" "${sum[$s]}" \
		"contents of snapshot $s (number $i)"
	log_must dmsetup_remove pool-d1-s$s
done
