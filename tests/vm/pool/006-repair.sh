#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: the recovery path: a pool marked needs_check with leaked and miscounted blocks loads read-only, snapctl repair sets it right and it loads read-write with every image intact; damage beyond counts is refused, unchanged
# TIMEOUT: 600
#
# A pool holds a disk, a snapshot of it and a clone with writes of its
# own, each checksummed.  With its devices removed, its metadata is
# damaged offline the way failures leave it (build/md-damage, through the
# metadata core): needs_check set, five data blocks leaked, one count too
# high.  `snapctl check` lists the six problems (exit 7); the pool loads
# read-only with needs_check.  `snapctl repair` refuses the device while a
# pool holds it (exit 4), then, with the pool removed, repairs the six
# counts and clears the flag (exit 0), and `snapctl check` is clean: the
# pool loads read-write, uses the blocks it used before the damage, and
# every image has its checksum; it takes writes and a snapshot.  Last, a
# damaged node of the disk-record tree: check and repair both exit 7 and
# repair leaves the metadata device byte for byte as it was.

. "$DMROW_SRC/tests/vm/common.sh"

DAMAGE=$DMROW_SRC/build/md-damage
[[ -x $DAMAGE ]] || skip "build/md-damage not built (make userspace)"
require_disks 2
require_cmd snapctl
load_module

data=$(disk 1)
MiB=$((1 << 20))
size=$((8 * 2048))
# 16 MiB of metadata: checksumming it whole (below) stays quick.
zero_dev "$(disk 0)" 16
dmsetup_create meta "0 $((16 * 2048)) linear $(disk 0) 0"
meta=/dev/mapper/meta

pool_create pool "$meta" "$data"
disk_create pool 1 $size vm
write_random /dev/mapper/pool-d1 0 $((4 * MiB)) 11 >/dev/null
s1=$(snapshot pool 1 name=base)
write_random /dev/mapper/pool-d1 $((3 * MiB)) $((2 * MiB)) 12 >/dev/null
log_must pool_msg pool clone "$s1" 2 copy
dmsetup_create pool-d2 "0 $size row /dev/mapper/pool 2"
write_random /dev/mapper/pool-d2 $((6 * MiB)) $MiB 13 >/dev/null
snap_view pool 1 "$s1" $size

sum_all() {
	echo "d1=$(sha256_of /dev/mapper/pool-d1) d2=$(sha256_of /dev/mapper/pool-d2)" \
		"s1=$(sha256_of /dev/mapper/pool-d1-s"$s1")"
}
sums=$(sum_all)
used=$(pool_data_used pool)
log_note "images: $sums; data blocks used: $used"

remove_all() {
	dmsetup_remove pool-d1-s"$s1"
	dmsetup_remove pool-d2
	dmsetup_remove pool-d1
	dmsetup_remove pool
}
load_all() {
	pool_create pool "$meta" "$data"
	dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
	dmsetup_create pool-d2 "0 $size row /dev/mapper/pool 2"
	snap_view pool 1 "$s1" $size
}
remove_all
expect_exit 0 snapctl check "$meta"

# --- Damage that a repair can undo -------------------------------------
log_must "$DAMAGE" "$meta" needs-check
log_must "$DAMAGE" "$meta" leak-data 5
log_must "$DAMAGE" "$meta" miscount-data 1 0
expect_exit 7 snapctl check "$meta"
out_has "marked as needing a check"
out_has "6 problems found"
[[ $(grep -c '^problem: data block' "$CMD_OUT") -eq 6 ]] || fail "expected six data-count problems"

# The pool refuses to go on writing on metadata that needs a check.
pool_create pool "$meta" "$data"
assert_eq "$(pool_status_field pool 4)" ro "mode of a pool marked needs_check"
assert_eq "$(pool_status_field pool 5)" needs_check "needs_check in the status"
expect_exit 4 snapctl repair "$meta"
err_has "in use"
dmsetup_remove pool
expect_exit 7 snapctl check "$meta"

expect_exit 0 snapctl repair "$meta"
out_has "6 wrong reference counts repaired"
out_has "needs_check cleared"
out_has ": clean"
expect_exit 0 snapctl check "$meta" --json
[[ $(jq -r '.clean and (.needs_check_flag | not)' "$CMD_OUT") == true ]] ||
	fail "check after the repair is not clean"
assert_eq "$(jq -r .data_used "$CMD_OUT")" "$used" "data blocks used after the repair"
expect_exit 0 snapctl repair "$meta"
out_has "clean, nothing to repair"

load_all
assert_eq "$(pool_status_field pool 4)" rw "mode after the repair"
assert_eq "$(pool_status_field pool 5)" - "needs_check after the repair"
assert_eq "$(pool_data_used pool)" "$used" "data blocks used after the repair"
assert_eq "$(sum_all)" "$sums" "images after the repair"
write_random /dev/mapper/pool-d1 0 $MiB 14 >/dev/null
s2=$(snapshot pool 1 name=after)
[[ $s2 =~ ^[0-9]+$ ]] || fail "snapshot after the repair gave '$s2'"
remove_all
expect_exit 0 snapctl check "$meta"

# --- Damage that no repair can undo ------------------------------------
log_must "$DAMAGE" "$meta" corrupt-disk-tree
expect_exit 7 snapctl check "$meta"
before=$(sha256_of "$meta")
expect_exit 7 snapctl repair "$meta"
out_has "nothing was changed"
err_has "cannot be repaired"
assert_eq "$(sha256_of "$meta")" "$before" "metadata after a refused repair"
