#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: data, then metadata, fill up while fio writes and snapshots are taken: documented errors, nothing acknowledged lost, deleting snapshots brings writes back without a reload
# TIMEOUT: 900
#
# Two pools, one after the other, each with two disks: disk a carries a
# ring writer (numbered 4 KiB writes; a write refused with ENOSPC is tried
# again until it succeeds, as an application waiting for space would), and
# disk b a loop of fio runs with verification.  Instance snapshots of a
# and b are taken every second, noting the ring writer's count just before
# (LO) and after (HI) each.
#
# (1) A 16 MiB data device fills: the pool goes out_of_data_space, logs
# "no data space for 3 seconds" (no_space_timeout 3), fio's runs fail with
# ENOSPC and nothing else, and a snapshot, which needs no data block, is
# still taken; the ring writer, whose next write then needs a block, is
# refused too.  (2) A 1 MiB metadata device fills (fio's random writes
# over 32 MiB of b touch every mapping leaf, and each snapshot makes them
# copy them again): the pool goes ro with metadata_low, fio's runs fail
# with ENOSPC, and the snapshots are refused with ENOSPC.
#
# Then, in both cases, without reloading anything: the fio loop and the
# snapshots stop, every snapshot of b and all but the newest of a are
# deleted, the pool comes back to rw by itself (for metadata after the
# commit that leaves twice the reserve free), a new snapshot of a is taken
# and the ring writer completes a whole lap of new blocks after it, and a
# fio run with verification passes on b.  Every surviving snapshot of a
# holds exactly the first S ring writes for some LO <= S <= HI + 1, the
# live disk all acknowledged ones, and the metadata checks clean offline.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd fio python3 snapctl
load_module

MiB=$((1 << 20))
ring=512			# blocks of the ring writer on disk a: 2 MiB
a_sectors=$((16 * 2048))

# wait_for WHAT CMD...: poll CMD every half second until it succeeds; a
# bound, not a timing check: fail after 240 s.
wait_for() {
	local what=$1 i
	shift
	for ((i = 0; i < 480; i++)); do
		"$@" && return 0
		sleep 0.5
	done
	fail "$what never happened: $(dmsetup status "$pool")"
}

progress() {
	cat "$dir/progress"
}

refusals() {
	cat "$dir/progress.refused" 2>/dev/null || echo 0
}

# pool_is MODE [METADATA_LOW]: the pool's mode (and metadata_low field).
pool_is() {
	[[ $(pool_status_field "$pool" 4) == "$1" ]] &&
		[[ -z ${2:-} || $(pool_status_field "$pool" 7) == "$2" ]]
}

fio_refused() {
	[[ -s $dir/fio.enospc ]]
}

ring_refused_after() {
	(($(refusals) > $1))
}

ring_past() {
	(($(progress) >= $1))
}

# fio_b NAME: one fio run with verification on disk b, its output in
# NAME.log: fio_io MiB of random 4 KiB writes over the first fio_span MiB.
# randrepeat=0: each run picks other blocks (fio's randseed alone does not
# change the offsets).
fio_b() {
	fio --name="$1" --filename="/dev/mapper/$pool-d2" --direct=1 --ioengine=libaio \
		--iodepth=8 --rw=randwrite --bs=4k --size=$((fio_span * MiB)) \
		--io_size=$((fio_io * MiB)) --randrepeat=0 --verify=crc32c --verify_fatal=1 \
		--output="$dir/$1.log" 2>>"$dir/$1.log"
}

# start_load: the ring writer on a and the fio loop on b, each in the
# background.  A fio run that fails with ENOSPC is counted in fio.enospc;
# one that fails any other way (verification included) ends the loop with
# fio.failed.
start_load() {
	echo 0 >"$dir/progress"
	dmrow_io seqwrite "/dev/mapper/$pool-d1" 0 $ring "$dir/progress" "$dir/stop.ring" retry &
	ring_pid=$!
	(
		i=0
		while [[ ! -e $dir/stop.fill ]]; do
			i=$((i + 1))
			if fio_b "fio.$i"; then
				echo "$i" >>"$dir/fio.ok"
			elif grep -q "error=No space left on device" "$dir/fio.$i.log"; then
				echo "$i" >>"$dir/fio.enospc"
				sleep 0.5
			else
				echo "$i" >"$dir/fio.failed"
				exit 1
			fi
		done
	) &
	fio_pid=$!
	on_exit "touch '$dir/stop.fill' '$dir/stop.ring'; wait $ring_pid $fio_pid 2>/dev/null || true"
	wait_for "the first ring write" ring_past 1
}

# snapshot_round: an instance snapshot of a and b, recorded with the ring
# writer's window; a refusal must be ENOSPC.
snapshot_round() {
	local lo hi ids
	lo=$(progress)
	if ids=$(pool_msg "$pool" snapshot 1,2 2>"$dir/snapshot.err"); then
		hi=$(progress)
		a_snaps+=("${ids% *}:$lo:$hi")
		b_snaps+=("${ids#* }")
	else
		grep -q "No space left on device" "$dir/snapshot.err" ||
			fail "a snapshot was refused other than with ENOSPC: $(<"$dir/snapshot.err")"
		snapshots_refused=$((snapshots_refused + 1))
	fi
}

# fill MODE [METADATA_LOW]: snapshots every second under the load until the
# pool is in MODE and fio has been refused.
fill() {
	local round
	for ((round = 1; ; round++)); do
		((round <= 300)) || fail "the pool never filled: $(dmsetup status "$pool")"
		[[ ! -e $dir/fio.failed ]] ||
			fail "fio run $(<"$dir/fio.failed") failed other than with ENOSPC: $(<"$dir/fio.$(<"$dir/fio.failed").log")"
		snapshot_round
		pool_is "$@" && fio_refused && break
		sleep 1
	done
	log_note "full after $round rounds, ${#a_snaps[@]} snapshots taken, $snapshots_refused refused, $(progress) ring writes: $(dmsetup status "$pool")"
}

# recover: stop the fio loop and the snapshots, delete every snapshot of b
# and all but the newest of a, and wait for the pool to be rw again.
recover() {
	local s
	touch "$dir/stop.fill"
	wait "$fio_pid" || fail "fio run $(<"$dir/fio.failed") failed: $(<"$dir/fio.$(<"$dir/fio.failed").log")"
	log_note "fio: $(wc -l <"$dir/fio.enospc") runs refused with ENOSPC, $(cat "$dir/fio.ok" 2>/dev/null | wc -l) passed"
	b_sum=$(sha256_of "/dev/mapper/$pool-d2")
	log_note "b before the deletes: $(pool_msg "$pool" space disk 2)"
	for s in "${b_snaps[@]}"; do
		log_must pool_msg "$pool" delete_snapshot "$s"
	done
	for s in "${a_snaps[@]:0:${#a_snaps[@]}-1}"; do
		log_must pool_msg "$pool" delete_snapshot "${s%%:*}"
	done
	a_snaps=("${a_snaps[@]: -1}")
	log_must pool_msg "$pool" commit
	wait_for "mode rw after the deletes" pool_is rw -
	log_note "after the deletes: $(dmsetup status "$pool")"
	log_note "b after the deletes: $(pool_msg "$pool" space disk 2)"
	assert_eq "$(sha256_of "/dev/mapper/$pool-d2")" "$b_sum" "disk b after the deletes"
}

# resume: writes work again: a lap of the ring after a new snapshot of a
# (every write needs a new block), and a fio run with verification on b.
resume() {
	local lo hi s p
	lo=$(progress)
	s=$(snapshot "$pool" 1)
	hi=$(progress)
	a_snaps+=("$s:$lo:$hi")
	wait_for "a lap of the ring writer after the deletes" ring_past $((hi + ring + 1))
	log_must fio_b fio.after
	touch "$dir/stop.ring"
	wait "$ring_pid" || fail "the ring writer failed"
	p=$(progress)
	log_note "ring writer: $p writes, $(refusals) refused with ENOSPC"
	check_ring "$p"
}

# check_ring COUNT: the live disk holds the first COUNT ring writes, each
# surviving snapshot of a a prefix within its window.
check_ring() {
	local spec s lo hi specs=("/dev/mapper/$pool-d1:0:$ring:$1:$1")
	for spec in "${a_snaps[@]}"; do
		IFS=: read -r s lo hi <<<"$spec"
		snap_view "$pool" 1 "$s" $a_sectors
		specs+=("/dev/mapper/$pool-d1-s$s:0:$ring:$lo:$((hi + 1))")
	done
	log_must dmrow_io seqcheck "${specs[@]}"
	for spec in "${a_snaps[@]}"; do
		log_must dmsetup_remove "$pool-d1-s${spec%%:*}"
	done
}

# offline_check META: remove the pool's devices; its metadata checks clean.
offline_check() {
	log_must dmsetup_remove "$pool-d2"
	log_must dmsetup_remove "$pool-d1"
	log_must dmsetup_remove "$pool"
	log_must snapctl check "$1"
}

# new_pool NAME METADEV DATADEV B_SECTORS FEATURES...: the pool, disks a (1)
# and b (2), and fresh state for one case.
new_pool() {
	pool=$1
	dir=$TEST_TMP/$1
	mkdir -p "$dir"
	pool_create "$pool" "$2" "$3" 8 0 "${@:5}"
	disk_create "$pool" 1 $a_sectors
	disk_create "$pool" 2 "$4"
	a_snaps=() b_snaps=()
	snapshots_refused=0
}

# --- (1) the data device fills -------------------------------------------------
# 4096 data blocks; the live disks hold at most 512 + 2048 of them, so
# deleting the snapshots leaves room for a lap of the ring.
zero_dev "$(disk 0)" 16
dmsetup_create data "0 $((16 * 2048)) linear $(disk 1) 0"
fio_span=8 fio_io=8
new_pool dfull "$(disk 0)" /dev/mapper/data $((fio_span * 2048)) no_space_timeout 3
dmesg -C
start_load
fill out_of_data_space
kernel_log_has "row-pool: .*no data space for 3 seconds: failing writes that need it" ||
	fail "no 'no data space' in the kernel log"
kernel_log_has "row-pool: .*switching to out_of_data_space mode" ||
	fail "no mode change in the kernel log"
# A snapshot needs no data block: it is taken, and the ring writer's next
# write needs a block that is not there.
before=$(refusals)
snapshot_round
assert_eq "$snapshots_refused" 0 "snapshots refused on a full data device"
wait_for "a refused ring write after the snapshot" ring_refused_after "$before"
log_note "ring writer refused $(refusals) times (before the last snapshot: $before)"
assert_eq "$(pool_status_field "$pool" 5)" - "needs_check on a full data device"
recover
resume
offline_check "$(disk 0)"
dmsetup_remove data

# --- (2) the metadata device fills ---------------------------------------------
# 256 metadata blocks, 64 of them the reserve; the data device is large.
zero_dev "$(disk 0)" 2
dmsetup_create meta "0 2048 linear $(disk 0) 0"
fio_span=32 fio_io=2
new_pool mfull /dev/mapper/meta "$(disk 1)" $((fio_span * 2048))
dmesg -C
start_load
fill ro metadata_low
kernel_log_has "row-pool: .*metadata space low \([0-9]+ blocks free\): no new blocks until space is freed" ||
	fail "no 'metadata space low' in the kernel log"
assert_eq "$(pool_status_field "$pool" 5)" - "needs_check with metadata low"
expect_exit 1 dmsetup message "$pool" 0 snapshot 1
err_has "No space left on device"
recover
kernel_log_has "row-pool: .*metadata space recovered" || fail "no 'metadata space recovered' in the kernel log"
resume
offline_check /dev/mapper/meta
