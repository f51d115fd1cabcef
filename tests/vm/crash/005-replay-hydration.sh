#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: hydration of an external origin, with a snapshot in the middle, replayed to every flush: the images read the origin and every block below the hydrated mark is in the pool
# TIMEOUT: 900
#
# The dm-log-writes set-up of crash/002 (tests/vm/crash/lib.sh).  A 16 MiB
# disk has an 8 MiB external origin of random data with a MiB of zeroes
# (a loop device behind dm-delay, 20 ms a read, not logged: it is never
# written).  Hydration copies the origin into the pool
# at 2 MiB/s, so that commits (about one a second) fall in the middle of
# it; a snapshot is taken half way; the workload also writes and fsyncs
# 64 KiB past the origin's end before and after the snapshot.
#
# dm-row-hydrate.c argues that a copy is mapped only once written and that
# the commit that maps it flushes the data device first, and that the
# hydrated mark moves in the same commit as the mappings below it.  At
# every FLUSH/FUA entry of the log the replayed pool must load clean (the
# offline check passes: every hydrated block counted once per image that
# maps it), and:
#  - the disk, and the snapshot once its message was answered, read the
#    origin over its whole length: a mapping committed before its copy's
#    data would read as something else;
#  - a second device of the disk made over a zeroed origin reads the
#    origin's data below the disk's recorded hydrated mark: every block
#    below it is in the pool;
#  - the writes past the origin read as written once their fsync returned.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/crash/lib.sh"

MiB=$((1 << 20))
ORIGIN_SECTORS=$((8 * 2048))
DISK_SECTORS=$((16 * 2048))
crash_init $((32 * 2048)) $((8 * 2048))	# 32 MiB of data, 8 MiB of metadata
require_module loop

log_must truncate -s $((ORIGIN_SECTORS * 512)) "$TEST_TMP/origin.img"
random_stream $((ORIGIN_SECTORS * 512)) 5 | dd of="$TEST_TMP/origin.img" bs=1M conv=notrunc status=none
# A MiB of zeroes, which hydration leaves unmapped.
dd if=/dev/zero of="$TEST_TMP/origin.img" bs=1M seek=3 count=1 conv=notrunc status=none
log_must truncate -s $((ORIGIN_SECTORS * 512)) "$TEST_TMP/zero.img"
origin_loop=$(losetup --find --show --read-only "$TEST_TMP/origin.img")
on_exit losetup -d "$origin_loop"
# Reads of the origin take 20 ms, as over a network: commits then fall
# while copies are in flight.
require_module dm-delay
dmsetup_create origin "0 $ORIGIN_SECTORS delay $origin_loop 0 20" --readonly
CRASH_ORIGIN=/dev/mapper/origin
zero_origin=$(losetup --find --show --read-only "$TEST_TMP/zero.img")
on_exit losetup -d "$zero_origin"
origin_sum=$(sha256_of "$TEST_TMP/origin.img")

# ---------------------------------------------------------------------------
# The logged workload

crash_log_start
pool_create pool /dev/mapper/lw-meta /dev/mapper/lw-data
log_must pool_msg pool create_disk 1 $DISK_SECTORS
log_must pool_msg pool set_disk 1 external_origin=$ORIGIN_SECTORS
dmsetup_create pool-d1 "0 $DISK_SECTORS row /dev/mapper/pool 1 external_origin=$CRASH_ORIGIN"
crash_log_mark setup
before_sum=$(write_random /dev/mapper/pool-d1 $((12 * MiB)) 65536 21)
log_must sync /dev/mapper/pool-d1
crash_log_mark written-before
log_must pool_msg pool hydrate 1 $((2 * MiB))
sleep 2
snap=$(snapshot pool 1)
crash_log_mark snapshot
after_sum=$(write_random /dev/mapper/pool-d1 $((13 * MiB)) 65536 22)
log_must sync /dev/mapper/pool-d1
crash_log_mark written-after
for ((i = 0; i < 300; i++)); do
	set -- $(dmsetup status pool-d1)
	[[ ${16} == done ]] && break
	sleep 0.1
done
assert_eq "${16}" done "hydration state at the end of the workload"
log_must pool_msg pool commit
dmsetup_remove pool-d1
dmsetup_remove pool
crash_log_stop

# ---------------------------------------------------------------------------
# Which states to check, replay and check

crash_read_log
# What each FLUSH/FUA entry may hold: the snapshot and the writes after
# their marks (a mark is logged once the message or the fsync returned).
MARK_SEEN=()
crash_on_mark() { MARK_SEEN+=("$1:${E_MARK[$1]}"); }
crash_find_states
has_mark() {	# has_mark ENTRY NAME: the mark NAME came before ENTRY
	local m
	for m in "${MARK_SEEN[@]}"; do
		[[ ${m#*:} == "$2" && ${m%%:*} -lt $1 ]] && return 0
	done
	return 1
}
crash_md_checkable() { has_mark "$1" setup; }

check_state() {
	local g=$1 i ok=0 hydrated dev="" view="" sum want
	for ((i = 0; i < ${#CR_NAMES[@]}; i++)); do
		[[ ${CR_NAMES[i]} == d1 ]] && dev=${CR_PATHS[i]}
		[[ ${CR_NAMES[i]} == s$snap ]] && view=${CR_PATHS[i]}
	done
	if ! has_mark "$g" setup; then
		return 0	# the disk may not exist yet
	fi
	[[ -n $dev ]] || { echo "entry $g: no device of disk 1"; return 1; }
	sum=$(sha256_of "$dev" 0 $((ORIGIN_SECTORS * 512)))
	[[ $sum == "$origin_sum" ]] || { echo "entry $g: the disk does not read its origin"; ok=1; }
	if has_mark "$g" snapshot; then
		if [[ -z $view ]]; then
			echo "entry $g: the snapshot is missing"
			ok=1
		elif [[ $(sha256_of "$view" 0 $((ORIGIN_SECTORS * 512))) != "$origin_sum" ]]; then
			echo "entry $g: the snapshot does not read the origin"
			ok=1
		fi
	fi
	if has_mark "$g" written-before &&
		[[ $(sha256_of "$dev" $((12 * MiB)) 65536) != "$before_sum" ]]; then
		echo "entry $g: the write fsynced before hydration is lost"
		ok=1
	fi
	if has_mark "$g" written-after &&
		[[ $(sha256_of "$dev" $((13 * MiB)) 65536) != "$after_sum" ]]; then
		echo "entry $g: the write fsynced after the snapshot is lost"
		ok=1
	fi

	# Below the hydrated mark the pool holds the origin's blocks itself.
	io_get reply try cr-pool info disk 1
	hydrated=$(tr ' ' '\n' <<<"$reply" | sed -n 's/^hydrated=//p')
	[[ -n $hydrated ]] || { echo "entry $g: no hydrated mark in: $reply"; return 1; }
	if ((hydrated > 0)); then
		# One live device per disk: the one over the real origin goes first.
		io_get reply remove cr-d1
		[[ $reply == ok ]] || { echo "entry $g: removing cr-d1: $reply"; return 1; }
		for ((i = 0; i < ${#CR_DEVS[@]}; i++)); do
			[[ ${CR_DEVS[i]} == cr-d1 ]] && unset 'CR_DEVS[i]'
		done
		CR_DEVS=("${CR_DEVS[@]}")
		cr_create cr-zero - ro 0 "$DISK_SECTORS" row "$POOL_DEV" 1 "external_origin=$zero_origin" ||
			return 1
		want=$(sha256_of "$TEST_TMP/origin.img" 0 $((hydrated * 512)))
		if [[ $(sha256_of "/dev/dm-$CR_MINOR" 0 $((hydrated * 512))) != "$want" ]]; then
			echo "entry $g: blocks below the hydrated mark ($hydrated sectors) are not in the pool"
			ok=1
		fi
	fi
	echo "entry $g: hydrated $hydrated of $ORIGIN_SECTORS sectors"
	HYDRATED_SEEN[hydrated]=1
	return $ok
}

HYDRATED_SEEN=()
POOL_DEV=$(sed -n 's/^ *\([0-9]*\) device-mapper$/\1/p' /proc/devices):243
crash_replay_states check_state
crash_finish
# The log caught hydration part way, not only before and after it.
partial=0
for h in "${!HYDRATED_SEEN[@]}"; do
	((h > 0 && h < ORIGIN_SECTORS)) && partial=1
done
((partial)) || fail "no replayed state had hydration part way: ${!HYDRATED_SEEN[*]}"
