#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: the data device fails reads, writes, or drops writes: I/O errors, no lost data, the pool stays rw
# TIMEOUT: 300
#
# The data device is a dm-linear device whose table is swapped for
# dm-flakey while the pool runs; data blocks are 64 KiB, so a 4 KiB write
# after a snapshot goes to a fresh block that is first filled from the old
# one.  With every data write failing: that write, a write to a block never
# written, an overwrite in place and writes of several whole blocks (which
# go to a run of new blocks as one bio) all fail with EIO, keep none of the
# blocks they took, leave no write pending on them, and reads still work.
# A failed redirected write must leave its block mapped as before: the
# other 60 KiB of the block, and the 4 KiB itself, read back as they were
# (undoing it by unmapping would lose them).  With every data I/O failing,
# reads of the disk and of a snapshot fail with EIO.  With writes dropped,
# the writes succeed.  Throughout, the pool stays rw without needs_check
# (its metadata is fine); a snapshot, which needs a commit and so a flush
# of the data device, is refused with EIO and changes nothing.  With the
# device working again, everything written before the faults reads back
# with its checksum on the disk and in the snapshot, new writes work, and
# after the pool is removed the metadata checks clean and the pool reopens
# with the same content.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd snapctl
require_module dm-flakey
load_module

MiB=$((1 << 20))
data_sectors=$((256 * 2048))
good="0 $data_sectors linear $(disk 1) 0"
zero_dev "$(disk 0)" 16
dmsetup_create data "$good"

# swap_data TABLE: give the data device a new table under the pool.
swap_data() {
	log_must dmsetup suspend --noudevsync data
	log_must dmsetup load --noudevsync data --table "$1"
	log_must dmsetup resume --noudevsync data
}

# dd_fails WHAT DD-ARGS...: dd must fail with an I/O error.
dd_fails() {
	local what=$1
	shift
	if dd "$@" status=none 2>"$TEST_TMP/dd.err"; then
		fail "$what succeeded on a failing data device"
	fi
	grep -q "Input/output error" "$TEST_TMP/dd.err" ||
		fail "$what: expected EIO, got: $(<"$TEST_TMP/dd.err")"
	log_note "$what: $(head -1 "$TEST_TMP/dd.err")"
}

# pool_healthy: rw, no needs_check.
pool_healthy() {
	assert_eq "$(pool_status_field pool 4)" rw "pool mode"
	assert_eq "$(pool_status_field pool 5)" - "needs_check"
}

pool_create pool "$(disk 0)" /dev/mapper/data 128
size=$((64 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1

sum_a=$(write_random $dev 0 $((16 * MiB)) 1)
snap=$(snapshot pool 1)
snap_view pool 1 "$snap" $size
sum_c=$(write_random $dev $((16 * MiB)) $((1 * MiB)) 3)
log_must blockdev --flushbufs $dev
used=$(pool_data_used pool)
pool_healthy

# --- every data write fails -------------------------------------------------
swap_data "0 $data_sectors flakey $(disk 1) 0 0 3600 1 error_writes"
dd_fails "a 4 KiB write into a shared 64 KiB block" \
	if=/dev/urandom of=$dev bs=4k count=1 seek=1 oflag=direct
dd_fails "a write to a block never written" \
	if=/dev/urandom of=$dev bs=4k count=1 seek=$((20 * MiB / 4096)) oflag=direct
dd_fails "an overwrite in place" \
	if=/dev/urandom of=$dev bs=4k count=1 seek=$((16 * MiB / 4096 + 1)) oflag=direct
# Writes of several whole blocks go down as one bio to a run of new blocks.
dd_fails "a 1 MiB write to blocks never written" \
	if=/dev/urandom of=$dev bs=1M count=1 seek=21 oflag=direct
dd_fails "a 256 KiB write over shared blocks" \
	if=/dev/urandom of=$dev bs=256k count=1 seek=8 oflag=direct
assert_eq "$(sha256_of $dev 0 $((16 * MiB)))" "$sum_a" "the disk's first 16 MiB after failed writes"
assert_eq "$(sha256_of $dev $((20 * MiB)) 4096)" "$(head -c 4096 /dev/zero | sha256sum | cut -d' ' -f1)" \
	"a block whose only write failed"
assert_eq "$(sha256_of $dev $((21 * MiB)) $MiB)" "$(head -c $MiB /dev/zero | sha256sum | cut -d' ' -f1)" \
	"blocks whose only write (1 MiB at once) failed"
pool_healthy
# A snapshot needs a commit, and a commit needs the data device to flush:
# refused with EIO, and nothing changes.
disk_before=$(pool_msg pool info disk 1)
if pool_msg pool snapshot 1 2>"$TEST_TMP/msg.err"; then
	fail "a snapshot succeeded while the data device fails writes"
fi
grep -q "Input/output error" "$TEST_TMP/msg.err" || fail "snapshot: $(<"$TEST_TMP/msg.err")"
assert_eq "$(pool_msg pool info disk 1)" "$disk_before" "the disk record after a refused snapshot"

# --- every data I/O fails ---------------------------------------------------
swap_data "0 $data_sectors flakey $(disk 1) 0 0 3600"
dd_fails "a read of the disk" if=$dev of=/dev/null bs=64k count=1 iflag=direct
dd_fails "a read of the snapshot" if=/dev/mapper/pool-d1-s$snap of=/dev/null bs=64k count=1 iflag=direct
pool_healthy

# --- writes dropped ----------------------------------------------------------
swap_data "0 $data_sectors flakey $(disk 1) 0 0 3600 1 drop_writes"
log_must dd if=/dev/urandom of=$dev bs=4k count=4 seek=$((24 * MiB / 4096)) oflag=direct status=none
pool_healthy

# --- the device works again ---------------------------------------------------
swap_data "$good"
s2=$(snapshot pool 1)
log_must pool_msg pool delete_snapshot "$s2"
assert_eq "$(sha256_of $dev 0 $((16 * MiB)))" "$sum_a" "the disk's first 16 MiB"
assert_eq "$(sha256_of $dev $((16 * MiB)) $((1 * MiB)))" "$sum_c" "the block written after the snapshot"
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$snap 0 $((16 * MiB)))" "$sum_a" "the snapshot"
# The failed writes freed what they allocated (the dropped ones hold blocks).
log_note "data blocks used: $used before the faults, $(pool_data_used pool) after"
[[ $(pool_data_used pool) -le $((used + 1)) ]] ||
	fail "failed writes kept blocks: $used before, $(pool_data_used pool) after"
sum_new=$(write_random $dev 4096 4096 4)
assert_eq "$(sha256_of $dev 4096 4096)" "$sum_new" "a new write into the shared block"
# The failed run left no write pending on its blocks.
sum_run=$(write_random $dev $((21 * MiB)) $MiB 5)
assert_eq "$(sha256_of $dev $((21 * MiB)) $MiB)" "$sum_run" "a 1 MiB write where one failed"
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$snap 0 $((16 * MiB)))" "$sum_a" "the snapshot after the new write"
sum_live=$(sha256_of $dev 0 $((22 * MiB)))
log_must blockdev --flushbufs $dev
log_must sync

# --- reopen -------------------------------------------------------------------
dmsetup_remove pool-d1-s$snap
dmsetup_remove pool-d1
dmsetup_remove pool
log_must snapctl check "$(disk 0)"
pool_create pool "$(disk 0)" /dev/mapper/data 128
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
snap_view pool 1 "$snap" $size
assert_eq "$(sha256_of $dev 0 $((22 * MiB)))" "$sum_live" "the disk after a reopen"
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$snap 0 $((16 * MiB)))" "$sum_a" "the snapshot after a reopen"
pool_healthy
