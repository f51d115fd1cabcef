#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapshots taken every second under write load each hold exactly the writes acknowledged before them
#
# A writer (tests/vm/dmrow-io.py seqwrite) writes numbered 4 KiB blocks one
# at a time, round a ring of 1024 blocks, and publishes how many writes
# have completed; fio keeps writing and verifying another region at a
# queue depth of 8.  A snapshot is taken about every second, with the
# writer's count read just before (LO) and just after (HI) the snapshot
# message.  At the end every snapshot's view must hold exactly the first S
# writes of the ring for some LO <= S <= HI + 1 (all writes acknowledged
# before the snapshot, none issued after it; at most the one in flight may
# go either way), fio's verification must have passed, and the live disk
# must hold all the writes.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd fio python3
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((64 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
ring=1024
nsnaps=15

echo 0 >progress
dmrow_io seqwrite $dev 0 $ring "$TEST_TMP/progress" "$TEST_TMP/stop" &
writer=$!
on_exit "touch '$TEST_TMP/stop'; wait $writer 2>/dev/null || true"
(
	i=0
	while [[ ! -e stop ]]; do
		i=$((i + 1))
		fio --name=load$i --filename=$dev --direct=1 --ioengine=libaio --iodepth=8 \
			--rw=randwrite --bs=4k --offset=$((16 << 20)) --size=$((4 << 20)) \
			--randseed=$i --verify=crc32c --verify_fatal=1 --output=fio$i.log ||
			{ echo "fio run $i failed" >fio.failed; cat fio$i.log; exit 1; }
	done
	echo $i >fio.runs
) &
loader=$!
on_exit "touch '$TEST_TMP/stop'; wait $loader 2>/dev/null || true"

# Wait for the writer to get going (a bound, not a timing check).
for ((i = 0; i < 600; i++)); do
	read -r n <progress
	[[ $n -gt 0 ]] && break
	sleep 0.1
done
[[ $n -gt 0 ]] || fail "the ring writer never wrote"

snaps=()
for ((i = 0; i < nsnaps; i++)); do
	read -r lo <progress
	s=$(snapshot pool 1)
	read -r hi <progress
	echo "snapshot $s: ring writes acknowledged $lo before, $hi after"
	snaps+=("$s:$lo:$hi")
	sleep 1
done

touch stop
wait $writer || fail "the ring writer failed"
rc=0
wait $loader || rc=$?
[[ ! -e fio.failed && $rc -eq 0 ]] || fail "fio's verification failed under snapshots"
read -r total <progress
log_note "ring writes: $total; fio runs: $(<fio.runs)"
[[ $total -gt $ring ]] || log_note "the ring did not wrap around"

# The live disk holds every write; each snapshot its prefix of them.
specs=("$dev:0:$ring:$total:$total")
for sp in "${snaps[@]}"; do
	IFS=: read -r s lo hi <<<"$sp"
	snap_view pool 1 "$s" $size
	specs+=("/dev/mapper/pool-d1-s$s:0:$ring:$lo:$((hi + 1))")
done
log_must dmrow_io seqcheck "${specs[@]}"
