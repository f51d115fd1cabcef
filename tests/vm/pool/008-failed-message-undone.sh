#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a message that fails half way leaves the metadata as it was: remove_disk meets a damaged snapshot chain after deleting an automatic snapshot, is undone, and the next commit saves nothing of it
# TIMEOUT: 240
#
# Disk 1 deletes its automatic snapshots when removed.  Its chain is
# auto (A) -> manual (B) -> manual (C); offline, B's record is made to
# name a snapshot that is not there (build/md-damage break-chain).  remove_disk walks the
# chain: it deletes A, then finds the next snapshot missing.  The message
# must fail with EILSEQ and leave nothing behind: after a commit message
# the listing, the pool's counters and the data are what they were, the
# pool is still writable, and `snapctl check` reports exactly the damage
# it reported before (no count or record problem of the half removal).
# The chain repaired by hand, remove_disk then works.

. "$DMROW_SRC/tests/vm/common.sh"

DAMAGE=$DMROW_SRC/build/md-damage
[[ -x $DAMAGE ]] || skip "build/md-damage not built (make userspace)"
require_disks 2
require_cmd snapctl
load_module

meta=$(disk 0) data=$(disk 1)
MiB=$((1 << 20))
size=$((8 * 2048))
zero_dev "$meta" 16

pool_create pool "$meta" "$data"
disk_create pool 1 $size web
disk_create pool 2 $size db
log_must pool_msg pool set_disk 1 delete_auto_snapshots=1
write_random /dev/mapper/pool-d1 0 $((2 * MiB)) 21 >/dev/null
write_random /dev/mapper/pool-d2 0 $((2 * MiB)) 22 >/dev/null
a=$(snapshot pool 1 name=hourly kind=auto)
write_random /dev/mapper/pool-d1 $MiB $((2 * MiB)) 23 >/dev/null
b=$(snapshot pool 1 name=keep)
write_random /dev/mapper/pool-d1 $((3 * MiB)) $MiB 24 >/dev/null
c=$(snapshot pool 1 name=last)
write_random /dev/mapper/pool-d1 $((5 * MiB)) $MiB 26 >/dev/null
log_note "snapshots: auto $a, manual $b and $c"
d1_sum=$(sha256_of /dev/mapper/pool-d1)
d2_sum=$(sha256_of /dev/mapper/pool-d2)

dmsetup_remove pool-d1
dmsetup_remove pool-d2
dmsetup_remove pool
expect_exit 0 snapctl check "$meta"

# --- The damage: B names a next snapshot that does not exist --------------
log_must "$DAMAGE" "$meta" break-chain "$b" 999999
expect_exit 7 snapctl check "$meta"
check_before=$(grep '^problem:' "$CMD_OUT")
[[ -n $check_before ]] || fail "snapctl check names no problem in the damaged chain"

pool_create pool "$meta" "$data"
assert_eq "$(pool_status_field pool 4)" rw "mode after loading the damaged pool"
# (list_snapshots stops at the damage: each record by itself.)
listing() {
	pool_msg pool info snapshot "$a"
	pool_msg pool info snapshot "$b"
	pool_msg pool info snapshot "$c"
	pool_msg pool info disk 1
	pool_msg pool list_disks
	pool_msg pool info pool | tr ' ' '\n' | grep -E '^(data_used|metadata_used|next_snapshot_id|time)='
}
before=$(listing)
log_note "before: $before"

# --- remove_disk fails half way and is undone ---------------------------
expect_exit 1 dmsetup message pool 0 remove_disk 1
log_must pool_msg pool commit
after=$(listing)
log_note "after: $after"
assert_eq "$after" "$before" "snapshots, disks and counters after the failed remove_disk"
assert_eq "$(pool_status_field pool 4)" rw "mode after the failed remove_disk"
kernel_log_has "message 'remove_disk' failed part way .*: undone" ||
	fail "the kernel log does not say the failed remove_disk was undone"
assert_eq "$(pool_status_field pool 5)" - "needs_check after the failed remove_disk"

# The pool still works: the disks read back, take writes and snapshots.
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
dmsetup_create pool-d2 "0 $size row /dev/mapper/pool 2"
assert_eq "$(sha256_of /dev/mapper/pool-d1)" "$d1_sum" "disk 1 after the failed remove_disk"
assert_eq "$(sha256_of /dev/mapper/pool-d2)" "$d2_sum" "disk 2 after the failed remove_disk"
write_random /dev/mapper/pool-d2 0 $MiB 25 >/dev/null
log_must snapshot pool 2 name=after
dmsetup_remove pool-d1
dmsetup_remove pool-d2
dmsetup_remove pool

# The committed metadata shows the same damage and nothing more.
expect_exit 7 snapctl check "$meta"
assert_eq "$(grep '^problem:' "$CMD_OUT")" "$check_before" "snapctl check after the failed remove_disk"

# --- Repaired by hand, the removal goes through -------------------------
log_must "$DAMAGE" "$meta" break-chain "$b" "$c"
expect_exit 0 snapctl check "$meta"
pool_create pool "$meta" "$data"
log_must pool_msg pool remove_disk 1
out=$(pool_msg pool list_snapshots 1 || true)
log_note "disk 1's snapshots after remove_disk: $out"
[[ $out == *"id=$b "* && $out == *"id=$c "* ]] ||
	fail "the manual snapshots $b and $c should stay with the removed disk"
[[ $out != *"id=$a "* ]] || fail "the automatic snapshot $a should go with the disk"
dmsetup_remove pool
expect_exit 0 snapctl check "$meta"
