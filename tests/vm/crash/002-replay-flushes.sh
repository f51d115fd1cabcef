#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a pool replayed to every flush of a logged workload opens and holds every flushed write and snapshot
# TIMEOUT: 1500
#
# One backing device (disk 1) under one dm-log-writes device (log on disk
# 0), split by dm-linear into the pool's metadata and data devices, so the
# log keeps the order of all the pool's writes and flushes.  A workload of
# known writes (whole blocks, partial blocks that copy or zero the rest of
# their block, FUA writes, writes left unflushed), flushes, snapshot
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
# (when snapctl has it) before the pool loads.
#
# dm-log-writes logs a FUA write when it completes, but a plain write that
# completed before it only at the next flush, after it: where the two
# overlap, a replay puts the older data over the FUA data, a state no disk
# can be in.  dm-row does exactly that when a partial FUA write lands in a
# block kcopyd has just filled, so the partial writes here that need a copy
# are not FUA, and replay-log's "ambiguous order" warning fails the test.

. "$DMROW_SRC/tests/vm/common.sh"

REPLAY=$DMROW_SRC/build/replay-log
BLOCKSUM=$DMROW_SRC/build/blocksum
[[ -x $REPLAY && -x $BLOCKSUM ]] || skip "build/replay-log or build/blocksum not built (make userspace)"
require_disks 2
load_module
require_module dm-log-writes
require_module dm-snapshot
[[ -d /sys/module/brd ]] && skip "brd is loaded already; its size cannot be set"

logdev=$(disk 0)
backing=$(disk 1)

META_SECTORS=$((16 * 2048))		# 16 MiB of metadata
DATA_SECTORS=$((64 * 2048))		# 64 MiB of data
TOTAL_SECTORS=$((META_SECTORS + DATA_SECTORS))
BS=4096					# pool block and model block
DISK_BLOCKS=512				# 2 MiB disks
DISK_SECTORS=$((DISK_BLOCKS * BS / 512))
ZERO_SUM=$(head -c $BS /dev/zero | sha256sum | cut -d' ' -f1)

require_module brd rd_nr=2 rd_size=$((TOTAL_SECTORS / 2))
on_exit 'rmmod brd'
replay=/dev/ram0
cow=/dev/ram1

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
	dmsetup message lw 0 mark "step-$step"
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

zero_dev "$logdev" 1
blkdiscard -z -l $((TOTAL_SECTORS * 512)) "$backing" 2>/dev/null ||
	dd if=/dev/zero of="$backing" bs=1M count=$((TOTAL_SECTORS / 2048)) oflag=direct status=none
dmsetup_create lw "0 $TOTAL_SECTORS log-writes $backing $logdev"
dmsetup_create lw-meta "0 $META_SECTORS linear /dev/mapper/lw 0"
dmsetup_create lw-data "0 $DATA_SECTORS linear /dev/mapper/lw $META_SECTORS"

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
dmsetup_remove lw-data
dmsetup_remove lw-meta
log_must dmsetup_remove lw

# ---------------------------------------------------------------------------
# Which states to check

declare -a E_FLAGS=() E_MARK=()
"$REPLAY" --log "$logdev" --list >"$TEST_TMP/list" 2>"$TEST_TMP/list.err"
cat "$TEST_TMP/list.err"
# A FUA write is logged at once, a plain write that completed before it
# only at the next flush: when they overlap, a replay puts the older data
# over the FUA data, which no device does.  dm-row does that pattern on
# purpose (a partial FUA write into a block kcopyd has just filled), so
# the workload avoids it and the log must not show it.
if grep -q "ambiguous order" "$TEST_TMP/list.err"; then
	fail "the workload made overlapping FUA and plain writes, which the log cannot order"
fi
while read -r n flags sector nr mark; do
	[[ $n == "#" ]] && continue
	E_FLAGS[n]=$flags
	E_MARK[n]=${mark:-}
	[[ $flags == *FUA* || $flags == *FLUSH* ]] && ((nr > 0)) && E_FLAGS[n]+=",DATA"
	[[ $flags != MARK ]] && ((nr > 0 && sector < META_SECTORS)) && E_FLAGS[n]+=",META"
done <"$TEST_TMP/list"
nr_entries=${#E_FLAGS[@]}

# For each FLUSH/FUA entry: the steps whose result may be found there
# (WIN_LO..WIN_HI).  Entries with no write between them share a state:
# GROUP[entry] is the first entry of its group.  At the last flush before
# a step's mark, a step that ends durable must be there in full.
# META_CHANGED[group] is set when the metadata device was written since the
# previous state.
declare -a FLUSHES=() WIN_LO=() WIN_HI=() GROUP=() STATES=() META_CHANGED=()
done_steps=0
last_sync=0
dirty=1
meta_dirty=1
group=-1
for ((n = 0; n < nr_entries; n++)); do
	f=${E_FLAGS[n]}
	case $f in
	MARK)
		if [[ ${E_MARK[n]} =~ ^step-([0-9]+)$ ]]; then
			done_steps=${BASH_REMATCH[1]}
			((SYNC[done_steps])) && last_sync=$done_steps
		fi
		continue ;;
	*FLUSH* | *FUA*)
		;;
	*)
		dirty=1
		[[ $f == *META* ]] && meta_dirty=1
		continue ;;
	esac
	[[ $f == *DATA* ]] && dirty=1
	[[ $f == *META* ]] && meta_dirty=1
	if ((dirty)); then
		group=$n
		dirty=0
		STATES+=("$n")
		META_CHANGED[n]=$meta_dirty
		meta_dirty=0
	fi
	FLUSHES+=("$n")
	GROUP[n]=$group
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
done
((${#STATES[@]} > 0)) || fail "no flush in the log"
log_note "log: $nr_entries entries, ${#FLUSHES[@]} FLUSH/FUA, ${#STATES[@]} distinct states (workload took ${SECONDS}s)"

# ---------------------------------------------------------------------------
# Replay and check

have_check=0
if command -v snapctl >/dev/null && snapctl check --help >/dev/null 2>&1; then
	have_check=1
fi

# The devices of one check get fixed minors, so that one dmsetup call can
# stack them (by major:minor) and one can remove them.
dm_major=$(sed -n 's/^ *\([0-9]*\) device-mapper$/\1/p' /proc/devices)
MINOR=240
for ((i = MINOR; i < MINOR + 4; i++)); do
	[[ -e /sys/dev/block/$dm_major:$i ]] && skip "device-mapper minor $i is taken"
done
OVL=$dm_major:$MINOR META=$dm_major:$((MINOR + 1)) DATA=$dm_major:$((MINOR + 2))
POOL=$dm_major:$((MINOR + 3))

CR_DEVS=()
cr_remove_all() {
	local i
	local -a rev=()
	for ((i = ${#CR_DEVS[@]} - 1; i >= 0; i--)); do
		rev+=("${CR_DEVS[i]}")
	done
	CR_DEVS=()
	((${#rev[@]})) || return 0
	dmsetup remove --noudevsync "${rev[@]}" && return 0
	for i in "${rev[@]}"; do
		dmsetup_remove "$i"
	done
}
on_exit cr_remove_all

# cr_create NAME,MINOR,FLAGS,TABLE;...: create devices with one dmsetup.
cr_create() {
	local spec=$1 d concise=""
	local -a f
	while IFS=, read -r -d ';' -a f; do
		concise+="${f[0]},,${f[1]},${f[2]},${f[*]:3};"
		CR_DEVS+=("${f[0]}")
	done <<<"$spec;"
	dmsetup create --noudevsync --concise "${concise%;}"
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
	local n=$1 d t lo=${WIN_LO[$1]} hi=${WIN_HI[$1]} present absent b ok
	local -a a e
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
		# Else block by block, each as one of the steps left it.
		read -r -a a <<<"${ACTUAL[$d]}"
		e=()
		for ((t = lo; t <= hi; t++)); do
			[[ -n ${MODEL[$t:$d]:-} ]] && e+=("${MODEL[$t:$d]}")
		done
		for ((b = 0; b < DISK_BLOCKS; b++)); do
			ok=0
			for ((t = 0; t < ${#e[@]}; t++)); do
				[[ ${e[t]:b*65:64} == "${a[b]}" ]] && { ok=1; break; }
			done
			((ok)) && continue
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

replayed=-1
failures=0
checked=0
for g in "${STATES[@]}"; do
	log_must "$REPLAY" --log "$logdev" --replay "$replay" --start $((replayed + 1)) --limit "$g"
	replayed=$g

	cr_create "cr-ovl,$MINOR,rw,0 $TOTAL_SECTORS snapshot $replay $cow N 8;cr-meta,$((MINOR + 1)),rw,0 $META_SECTORS linear $OVL 0;cr-data,$((MINOR + 2)),rw,0 $DATA_SECTORS linear $OVL $META_SECTORS"
	# The checker reads the metadata as the crash left it, before the pool.
	if ((have_check && WIN_LO[g] >= 1 && META_CHANGED[g])); then
		log_must snapctl check /dev/mapper/cr-meta
	fi
	if ! cr_create "cr-pool,$((MINOR + 3)),rw,0 $DATA_SECTORS row-pool $META $DATA 8 0"; then
		echo "entry $g: the replayed pool does not load:"
		dmesg | tail -5
		describe_window "$g"
		failures=$((failures + 1))
		cr_remove_all
		continue
	fi

	# What the pool holds, read through row devices.
	declare -A ACTUAL=()
	spec=""
	names=()
	while read -r _ id line; do
		[[ $id =~ ^id=([0-9]+)$ && $line != *removed=1* ]] || continue
		d=${BASH_REMATCH[1]}
		spec+="cr-d$d,,rw,0 $DISK_SECTORS row $POOL $d;"
		names+=("d$d")
		while read -r _ sid _; do
			[[ $sid =~ ^id=([0-9]+)$ ]] || continue
			s=${BASH_REMATCH[1]}
			spec+="cr-s$s,,ro,0 $DISK_SECTORS row $POOL $d $s;"
			names+=("s$s")
		done < <(dmsetup message cr-pool 0 list_snapshots "$d")
	done < <(dmsetup message cr-pool 0 list_disks)
	if [[ -n $spec ]]; then
		log_must cr_create "${spec%;}"
		paths=()
		for d in "${names[@]}"; do
			paths+=("/dev/mapper/cr-$d")
		done
		block_sums $((${#names[@]} * DISK_BLOCKS)) "${paths[@]}"
		for ((i = 0; i < ${#names[@]}; i++)); do
			ACTUAL[${names[i]}]="${SUMS[*]:i*DISK_BLOCKS:DISK_BLOCKS}"
		done
	fi
	info=$(dmsetup message cr-pool 0 info pool)
	if [[ $info != *" mode=rw "* || $info != *"needs_check=0"* ]]; then
		echo "entry $g: the replayed pool is not healthy: $info"
		failures=$((failures + 1))
	fi
	for n in "${FLUSHES[@]}"; do
		[[ ${GROUP[n]} == "$g" ]] || continue
		if ! check_entry "$n"; then
			failures=$((failures + 1))
			break
		fi
	done
	checked=$((checked + 1))
	echo "entry $g: ${names[*]:-no disks} as steps ${WIN_LO[g]}..${WIN_HI[g]} allow"
	unset ACTUAL
	cr_remove_all
done

log_note "checked $checked states in ${SECONDS}s"
((failures == 0)) || fail "$failures replayed state(s) wrong (the log is on $logdev: disk0.img)"
