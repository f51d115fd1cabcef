#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a pool replayed to every flush of a logged workload opens and holds every flushed write and snapshot
# TIMEOUT: 1500
#
# One backing device (disk 1) under one dm-log-writes device (log on disk
# 0), split by dm-linear into the pool's metadata and data devices, so the
# log keeps the order of all the pool's writes and flushes.  A workload of
# known writes (whole blocks, partial blocks that copy or zero the rest of
# their block, FUA writes, writes left unflushed, writes flushed by the
# process that wrote them right after), flushes, snapshot
# create, delete and merge, rollback, clone and discard runs on it; the test keeps
# a model: after each step, the sha256 of every 4 KiB block of every disk
# and snapshot, and whether the step ended with everything durable.  A
# dmsetup mark after each step places it in the log.
#
# Then, for every FLUSH/FUA entry of the log (entries with no write between
# them leave the same state and are checked together), the log is replayed
# up to and including that entry onto a zeroed ramdisk, which is split the
# same way (through a throw-away dm-snapshot, so the replay can go on
# incrementally), and the pool is loaded read-write on it, as after a power
# failure right after that flush.  It must load, be in write mode without
# needs_check, and hold exactly the disks and snapshots of the last step
# made durable, each block as that step left it; a step in flight at that
# entry, and writes not flushed yet, may each be there or not, block by
# block.  At the last flush before a step's mark, a step that ends durable
# must be there in full.  The metadata is also given to `snapctl check`
# (when snapctl has it) before the pool loads.  By default a state followed
# by one that only adds metadata blocks outside the superblock slots (the
# data flush that starts a commit) is checked on the later state's replay,
# each entry with its own window: the same superblock over the same data
# (tests/vm/crash/lib.sh, crash_find_states; DMROW_TEST_SCALE=full replays
# every state).  A step marked durable that was not flushed fails the test
# at the last flush before its mark, naming the block and the steps that
# could have left it.
#
# dm-log-writes logs a FUA write when it completes, but a plain write that
# completed before it only at the next flush, after it: where the two
# overlap, a replay puts the older data over the FUA data, a state no disk
# can be in.  dm-row does exactly that when a partial FUA write lands in a
# block kcopyd has just filled, so the partial writes here that need a copy
# are not FUA, and replay-log's "ambiguous order" warning fails the test.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/crash/lib.sh"

crash_init $((64 * 2048))		# 64 MiB of data
BS=4096					# pool block and model block
DISK_BLOCKS=512				# 2 MiB disks
DISK_SECTORS=$((DISK_BLOCKS * BS / 512))
ZERO_SUM=$(head -c $BS /dev/zero | sha256sum | cut -d' ' -f1)

# ---------------------------------------------------------------------------
# The model.  CUR[dev] is the current content of a device, MODEL[step:dev]
# the content after a step: 512 block checksums, space separated.  dev is
# d<disk id> or s<snapshot id>.  DEVS[step] lists the devices that exist
# after the step, SYNC[step] is 1 when the step ended with everything
# before it durable (a flush, a FUA write, or a message, which commits).

declare -A CUR=() MODEL=()
declare -a DEVS=("") SYNC=(1) DESC=("start: no pool")
step=0

# end_step SYNC DESCRIPTION: record the model after a step; mark the log.
end_step() {
	local d
	step=$((step + 1))
	SYNC[step]=$1
	DESC[step]=$2
	DEVS[step]="${!CUR[*]}"
	for d in "${!CUR[@]}"; do
		MODEL[$step:$d]=${CUR[$d]}
	done
	if (($1)); then
		log_note "step $step (durable): $2"
	else
		log_note "step $step (not flushed): $2"
	fi
	crash_log_mark "step-$step"
}

# set_blocks DEV FIRST SUMS...: blocks FIRST.. of DEV now hold SUMS.
set_blocks() {
	local dev=$1 first=$2 i
	local -a v
	shift 2
	read -r -a v <<<"${CUR[$dev]}"
	for ((i = 0; i < $#; i++)); do
		v[first + i]=${@:i+1:1}
	done
	CUR[$dev]="${v[*]}"
}

# block_sums COUNT FILE...: set SUMS to the sha256 of each 4 KiB block of
# the FILEs, which must have COUNT blocks in all.
block_sums() {
	local count=$1
	shift
	mapfile -t SUMS < <("$BLOCKSUM" --direct "$@")
	((${#SUMS[@]} == count)) || fail "block_sums: $count blocks expected, ${#SUMS[@]} read"
}

# write_blocks DISK FIRST COUNT [DD-OFLAG]: random data over whole blocks.
write_blocks() {
	local disk=$1 first=$2 count=$3 flag=${4:-}
	head -c $((count * BS)) /dev/urandom >"$TEST_TMP/w"
	block_sums "$count" "$TEST_TMP/w"
	dd if="$TEST_TMP/w" of="/dev/mapper/pool-d$disk" bs=64K seek=$((first * BS)) \
		oflag=seek_bytes,direct${flag:+,$flag} conv=notrunc status=none
	set_blocks "d$disk" "$first" "${SUMS[@]}"
}

# write_blocks_synced DISK FIRST COUNT: whole blocks, written and flushed by
# one process (dd conv=fsync), so the flush follows the acknowledgement of
# the last write at once, perhaps before the pool's worker has mapped it.
write_blocks_synced() {
	local disk=$1 first=$2 count=$3
	head -c $((count * BS)) /dev/urandom >"$TEST_TMP/w"
	block_sums "$count" "$TEST_TMP/w"
	dd if="$TEST_TMP/w" of="/dev/mapper/pool-d$disk" bs=$BS seek=$((first * BS)) \
		oflag=seek_bytes,direct conv=notrunc,fsync status=none
	set_blocks "d$disk" "$first" "${SUMS[@]}"
}

# write_partial DISK BLOCK OFFSET LEN [DD-OFLAG]: random data inside a block.
write_partial() {
	local disk=$1 block=$2 off=$3 len=$4 flag=${5:-}
	local -a v
	read -r -a v <<<"${CUR[d$disk]}"
	dd if="/dev/mapper/pool-d$disk" of="$TEST_TMP/blk" bs=$BS skip="$block" count=1 \
		iflag=direct status=none
	assert_eq "$(sha256sum <"$TEST_TMP/blk" | cut -d' ' -f1)" "${v[block]}" \
		"disk $disk block $block before a partial write"
	head -c "$len" /dev/urandom >"$TEST_TMP/part"
	dd if="$TEST_TMP/part" of="$TEST_TMP/blk" bs="$len" seek="$off" oflag=seek_bytes \
		conv=notrunc status=none
	dd if="$TEST_TMP/part" of="/dev/mapper/pool-d$disk" bs="$len" \
		seek=$((block * BS + off)) oflag=seek_bytes,direct${flag:+,$flag} conv=notrunc \
		status=none
	set_blocks "d$disk" "$block" "$(sha256sum <"$TEST_TMP/blk" | cut -d' ' -f1)"
}

# discard_blocks DISK FIRST COUNT: whole blocks, which then read as zeroes.
discard_blocks() {
	local disk=$1 first=$2 count=$3 i
	local -a sums=()
	log_must blkdiscard -o $((first * BS)) -l $((count * BS)) "/dev/mapper/pool-d$disk"
	for ((i = 0; i < count; i++)); do
		sums+=("$ZERO_SUM")
	done
	set_blocks "d$disk" "$first" "${sums[@]}"
}

flush() {
	log_must sync "/dev/mapper/pool-d$1"
}

new_disk() {
	local i
	local -a sums=()
	disk_create pool "$1" $DISK_SECTORS
	for ((i = 0; i < DISK_BLOCKS; i++)); do
		sums+=("$ZERO_SUM")
	done
	CUR[d$1]="${sums[*]}"
}

# take_snapshot DISK: sets $snap to the new snapshot's id.
take_snapshot() {
	snap=$(snapshot pool "$1")
	[[ $snap =~ ^[0-9]+$ ]] || fail "snapshot of disk $1 gave '$snap'"
	CUR[s$snap]=${CUR[d$1]}
}

delete_snapshot() {
	log_must pool_msg pool delete_snapshot "$1"
	unset "CUR[s$1]"
}

rollback() {
	log_must dmsetup suspend --noudevsync "pool-d$1"
	log_must pool_msg pool rollback "$1" "$2"
	log_must dmsetup resume --noudevsync "pool-d$1"
	CUR[d$1]=${CUR[s$2]}
}

# merge FIRST LAST: the snapshots from FIRST to LAST become LAST.
merge() {
	log_must pool_msg pool merge "$1" "$2"
	unset "CUR[s$1]"
}

clone() {
	log_must pool_msg pool clone "$1" "$2"
	dmsetup_create "pool-d$2" "0 $DISK_SECTORS row /dev/mapper/pool $2"
	CUR[d$2]=${CUR[s$1]}
}

# ---------------------------------------------------------------------------
# The logged workload

crash_log_start

pool_create pool /dev/mapper/lw-meta /dev/mapper/lw-data
end_step 1 "format the pool"
new_disk 1
end_step 1 "create disk 1"
write_blocks 1 0 256
flush 1
end_step 1 "write disk 1 blocks 0-255, flush"
take_snapshot 1; sA=$snap
end_step 1 "snapshot $sA of disk 1"
write_blocks 1 16 32
flush 1
end_step 1 "write blocks 16-47 (shared with $sA: redirected), flush"
# Partial writes that need the rest of their block copied or zeroed are
# not FUA: see "ambiguous order" below.
write_partial 1 100 1024 1024
flush 1
end_step 1 "1 KiB into shared block 100 (copies the rest), flush"
write_partial 1 30 2048 512 dsync
end_step 1 "FUA write of 512 bytes into block 30 (exclusive: in place)"
write_partial 1 300 512 512
end_step 0 "512 bytes into unmapped block 300 (zeroes the rest), not flushed"
write_blocks 1 256 128
end_step 0 "write blocks 256-383 (new), not flushed"
write_blocks 1 20 4
end_step 0 "overwrite blocks 20-23 in place, not flushed"
take_snapshot 1; sB=$snap
end_step 1 "snapshot $sB of disk 1"
discard_blocks 1 0 64
flush 1
end_step 1 "discard blocks 0-63, flush"
write_blocks 1 400 2 dsync
end_step 1 "FUA write of blocks 400-401"
take_snapshot 1; sC=$snap
end_step 1 "snapshot $sC of disk 1"
delete_snapshot "$sA"
end_step 1 "delete snapshot $sA"
rollback 1 "$sB"
end_step 1 "roll disk 1 back to snapshot $sB"
write_blocks 1 0 8
flush 1
end_step 1 "write blocks 0-7 after the rollback, flush"
clone "$sC" 2
end_step 1 "clone snapshot $sC as disk 2"
write_blocks 2 64 32
flush 2
end_step 1 "write disk 2 blocks 64-95, flush"
write_blocks 1 200 4
sleep 2
end_step 0 "write disk 1 blocks 200-203, not flushed (the periodic commit may take them)"
delete_snapshot "$sB"
end_step 1 "delete snapshot $sB (the rollback's source)"
take_snapshot 1; sD=$snap
end_step 1 "snapshot $sD of disk 1"
write_blocks 1 210 8
flush 1
end_step 1 "write blocks 210-217, flush"
take_snapshot 1; sE=$snap
end_step 1 "snapshot $sE of disk 1"
write_blocks 1 0 4
flush 1
end_step 1 "write blocks 0-3 after $sE, flush"
for first in 96 104; do
	write_blocks_synced 1 $first 8
	end_step 1 "write blocks $first-$((first + 7)) (shared with $sE) and flush, one process"
done
merge "$sD" "$sE"
end_step 1 "merge snapshot $sD into $sE"
write_blocks 1 8 8
write_blocks 2 8 8
end_step 0 "write blocks 8-15 of both disks, not flushed"
dmsetup_remove pool-d2
dmsetup_remove pool-d1
dmsetup_remove pool
end_step 1 "remove the disks and the pool"
last_step=$step
crash_log_stop

# ---------------------------------------------------------------------------
# Which states to check

crash_read_log

# For each FLUSH/FUA entry: the steps whose result may be found there
# (WIN_LO..WIN_HI).  At the last flush before a step's mark, a step that
# ends durable must be there in full.
declare -a WIN_LO=() WIN_HI=()
done_steps=0
last_sync=0

crash_on_mark() {
	if [[ ${E_MARK[$1]} =~ ^step-([0-9]+)$ ]]; then
		done_steps=${BASH_REMATCH[1]}
		((SYNC[done_steps])) && last_sync=$done_steps
	fi
	return 0
}

crash_on_flush() {
	local n=$1 m next

	next=$((done_steps < last_step ? done_steps + 1 : last_step))
	WIN_LO[n]=$last_sync
	WIN_HI[n]=$next
	# The last flush before the next step's mark?
	for ((m = n + 1; m < nr_entries; m++)); do
		[[ ${E_FLAGS[m]} == MARK ]] || break
		[[ ${E_MARK[m]} == step-* ]] && break
	done
	if ((m < nr_entries)) && [[ ${E_MARK[m]} == "step-$next" ]] && ((SYNC[next])); then
		WIN_LO[n]=$next
	fi
	return 0
}

crash_find_states

# ---------------------------------------------------------------------------
# Replay and check

# Before step 1 the metadata may not be formatted yet.
crash_md_checkable() {
	((WIN_LO[$1] >= 1))
}

crash_describe() {
	describe_window "$1"
}

# describe_window N: the steps whose result entry N may show.
describe_window() {
	local t
	for ((t = WIN_LO[$1]; t <= WIN_HI[$1]; t++)); do
		echo "      step $t: ${DESC[t]}"
	done
}

# check_entry N: check what was read from the replay (ACTUAL[dev]) against
# the steps entry N may show.
check_entry() {
	local n=$1 d t lo=${WIN_LO[$1]} hi=${WIN_HI[$1]} present absent b
	local -a a e ok
	local -A cand=()

	for ((t = lo; t <= hi; t++)); do
		for d in ${DEVS[t]}; do
			cand[$d]=1
		done
	done
	for d in "${!cand[@]}" "${!ACTUAL[@]}"; do
		present=0 absent=0
		for ((t = lo; t <= hi; t++)); do
			if [[ " ${DEVS[t]} " == *" $d "* ]]; then present=1; else absent=1; fi
		done
		if [[ -z ${ACTUAL[$d]+x} ]]; then
			((absent)) && continue
			echo "entry $n: $d is missing; the state must be one of:"
			describe_window "$n"
			return 1
		fi
		if ((!present)); then
			echo "entry $n: $d exists but should not; the state must be one of:"
			describe_window "$n"
			return 1
		fi
		# Fast path: the whole device as one step left it.
		for ((t = lo; t <= hi; t++)); do
			[[ ${MODEL[$t:$d]:-} == "${ACTUAL[$d]}" ]] && continue 2
		done
		# Else block by block, each as one of the steps left it: the blocks
		# that one of them holds, candidate by candidate (in order, which is
		# what bash arrays are fast at; a substring of a 33 KB string
		# costs its length), then the first block that none holds.
		read -r -a a <<<"${ACTUAL[$d]}"
		ok=()
		for ((t = lo; t <= hi; t++)); do
			[[ -n ${MODEL[$t:$d]:-} ]] || continue
			read -r -a e <<<"${MODEL[$t:$d]}"
			for ((b = 0; b < DISK_BLOCKS; b++)); do
				[[ ${e[b]} == "${a[b]}" ]] && ok[b]=1
			done
		done
		for ((b = 0; b < DISK_BLOCKS; b++)); do
			[[ -n ${ok[b]:-} ]] && continue
			echo "entry $n: $d block $b holds ${a[b]:0:16}..., which no step that may show there left:"
			for ((t = lo; t <= hi; t++)); do
				[[ -n ${MODEL[$t:$d]:-} ]] || continue
				echo "      step $t (${MODEL[$t:$d]:b*65:16}...): ${DESC[t]}"
			done
			return 1
		done
	done
	return 0
}

# check_state G: the devices of state G hold what its entries allow.
check_state() {
	local g=$1 i n rc=0

	declare -A ACTUAL=()
	if ((${#CR_NAMES[@]})); then
		block_sums $((${#CR_NAMES[@]} * DISK_BLOCKS)) "${CR_PATHS[@]}"
		for ((i = 0; i < ${#CR_NAMES[@]}; i++)); do
			ACTUAL[${CR_NAMES[i]}]="${SUMS[*]:i*DISK_BLOCKS:DISK_BLOCKS}"
		done
	fi
	for n in "${FLUSHES[@]}"; do
		[[ ${GROUP[n]} == "$g" ]] || continue
		if ! check_entry "$n"; then
			rc=1
			break
		fi
	done
	echo "entry $g: ${CR_NAMES[*]:-no disks} as steps ${WIN_LO[g]}..${WIN_HI[g]} allow"
	return $rc
}

crash_replay_states check_state
crash_finish
