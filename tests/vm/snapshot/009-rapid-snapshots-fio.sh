#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a snapshot of one disk every 200 ms while fio verifies another disk of the pool: both read back exactly, each snapshot a prefix of the writes
# TIMEOUT: 900
#
# Disk 1 takes a snapshot about every 200 ms for 20 s while two ring
# writers (tests/vm/dmrow-io.py seqwrite) write numbered blocks to it, each
# round its own ring, and publish how many writes completed.  Meanwhile disk
# 2 of the same pool runs fio in a loop: three jobs, each writing its own
# region at random with crc32c verification, reading back every 8 writes
# (written blocks are read while the worker may not have mapped them yet),
# then discards the disk so that the next run writes unmapped blocks again.
# A snapshot gates the in-place writes of its own disks only, while
# redirected writes are acknowledged once written and mapped after: none
# may lose, reorder or mix up a write.
#
# Each snapshot is taken from one process (no process start per snapshot)
# with each writer's count read just before (LO) and after (HI) it.
# Afterwards a sample of the snapshots (the first, the last and some in
# between) must each hold exactly the first S writes of each ring for some
# LO <= S <= HI + 1, disk 1 all the writes, every fio run must have
# verified, and the metadata must check clean once the pool is removed.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd fio python3
load_module

meta=$(disk 0)
zero_dev "$meta" 4
pool_create pool "$meta" "$(disk 1)"
size=$((16 * 2048))
disk_create pool 1 $size
disk_create pool 2 $size
a=/dev/mapper/pool-d1
b=/dev/mapper/pool-d2
ring=512
rings=(0 $((4 << 20)))		# byte offsets of the two rings on disk 1

writers=()
for r in 0 1; do
	echo 0 >"progress$r"
	dmrow_io seqwrite $a "${rings[r]}" $ring "$TEST_TMP/progress$r" "$TEST_TMP/stop" &
	writers+=($!)
	on_exit "touch '$TEST_TMP/stop'; wait ${writers[r]} 2>/dev/null || true"
done
(
	i=0
	while [[ ! -e stop ]]; do
		i=$((i + 1))
		fio --name=b$i --filename=$b --direct=1 --ioengine=libaio --iodepth=4 \
			--rw=randwrite --bs=4k --numjobs=3 --size=2M --offset_increment=4M \
			--randrepeat=0 --verify=crc32c --do_verify=1 --verify_fatal=1 \
			--verify_backlog=8 --group_reporting --output=fio$i.log ||
			{ echo "fio run $i failed" >fio.failed; cat fio$i.log; exit 1; }
		grep -q "err= 0" fio$i.log || { echo "fio run $i: errors" >fio.failed; exit 1; }
		# Unmapped again: the next run's writes are first writes too.
		blkdiscard $b || { echo "discard after run $i failed" >fio.failed; exit 1; }
	done
	echo $i >fio.runs
) &
loader=$!
on_exit "touch '$TEST_TMP/stop'; wait $loader 2>/dev/null || true"

# read -t on a pipe nobody writes: a sleep without a process start.
exec {pause}<> <(:)

# Wait for both writers to get going (a bound, not a timing check).
for ((i = 0; i < 600; i++)); do
	read -r n0 <progress0
	read -r n1 <progress1
	((n0 > 0 && n1 > 0)) && break
	read -rt 0.1 -u $pause _ || true
done
((n0 > 0 && n1 > 0)) || fail "the ring writers never wrote"

io_start
snaps=()
end=$((${EPOCHREALTIME/[.,]*/} + 20))
while ((${EPOCHREALTIME/[.,]*/} < end)); do
	read -r lo0 <progress0
	read -r lo1 <progress1
	s=$(io msg pool snapshot 1)
	read -r hi0 <progress0
	read -r hi1 <progress1
	[[ $s =~ ^[0-9]+$ ]] || fail "snapshot of disk 1 gave '$s'"
	snaps+=("$s:$lo0:$hi0:$lo1:$hi1")
	for w in "${writers[@]}"; do
		kill -0 "$w" 2>/dev/null || fail "a ring writer stopped"
	done
	[[ ! -e fio.failed ]] || fail "fio failed while snapshots were taken"
	read -rt 0.2 -u $pause _ || true
done
log_note "${#snaps[@]} snapshots of disk 1 in 20 s"
((${#snaps[@]} >= 10)) || fail "only ${#snaps[@]} snapshots were taken"

touch stop
for w in "${writers[@]}"; do
	wait "$w" || fail "a ring writer failed"
done
rc=0
wait $loader || rc=$?
[[ ! -e fio.failed && $rc -eq 0 ]] || { cat fio.failed 2>/dev/null; fail "fio's verification failed under snapshots"; }
[[ -s fio.runs ]] || fail "fio's loop did not finish"
read -r total0 <progress0
read -r total1 <progress1
log_note "ring writes: $total0 and $total1; fio runs: $(<fio.runs)"

# Disk 1 holds every write; a sample of snapshots each a prefix of them.
n=${#snaps[@]}
declare -A pick=([0]=1 [1]=1 [$((n / 4))]=1 [$((n / 3))]=1 [$((n / 2))]=1
	[$((2 * n / 3))]=1 [$((3 * n / 4))]=1 [$((n - 2))]=1 [$((n - 1))]=1)
specs=("$a:${rings[0]}:$ring:$total0:$total0" "$a:${rings[1]}:$ring:$total1:$total1")
for i in $(printf '%s\n' "${!pick[@]}" | sort -n); do
	IFS=: read -r s lo0 hi0 lo1 hi1 <<<"${snaps[i]}"
	snap_view pool 1 "$s" $size
	v=/dev/mapper/pool-d1-s$s
	specs+=("$v:${rings[0]}:$ring:$lo0:$((hi0 + 1))" "$v:${rings[1]}:$ring:$lo1:$((hi1 + 1))")
done
log_must dmrow_io seqcheck "${specs[@]}"

info=$(pool_msg pool info pool)
[[ $info == *" mode=rw "* && $info == *"needs_check=0"* ]] || fail "pool not healthy: $info"

# Delete every snapshot with the disks idle, then check the metadata.
for i in "${!pick[@]}"; do
	dmsetup_remove "pool-d1-s${snaps[i]%%:*}"
done
for sp in "${snaps[@]}"; do
	io msg pool delete_snapshot "${sp%%:*}" >/dev/null
done
dmsetup_remove pool-d2
dmsetup_remove pool-d1
dmsetup_remove pool
if command -v snapctl >/dev/null && snapctl check --help >/dev/null 2>&1; then
	log_must snapctl check "$meta"
fi
