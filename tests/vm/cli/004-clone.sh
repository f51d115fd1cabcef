#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapctl clone: contract, a new disk with the snapshot's data, independent of its origin
#
# 'snapctl clone' answers --help, refuses an unknown option and a missing
# argument with exit 2, and an unknown pool or snapshot with exit 3.  A
# clone reads as its snapshot did, whatever the origin disk wrote after it;
# writes to the clone change neither the origin nor the snapshot; it is
# listed with its origin snapshot; a snapshot of a removed disk can still be
# cloned; a taken name is refused.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

snapctl_pool tank
MiB=$((1 << 20))
log_must snapctl disk create tank vm1 --size 32M
sum=$(write_random /dev/mapper/tank-vm1 0 $((2 * MiB)) 1)
log_must snapctl snapshot create tank vm1 --name s1

# --- contract ---------------------------------------------------------------
snapctl_contract "clone" tank s1 c0
expect_exit 2 snapctl clone
expect_exit 2 snapctl clone tank s1
expect_exit 2 snapctl clone tank s1 c0 extra
expect_exit 2 snapctl clone tank s1 1c
err_has "not a valid disk name"
expect_exit 3 snapctl clone nosuch s1 c0
err_has "no pool 'nosuch'"
expect_exit 3 snapctl clone tank nosuch c0
err_has "no snapshot 'nosuch'"
expect_exit 3 snapctl clone tank nodisk/s1 c0
expect_exit 3 snapctl clone tank 999 c0
dmsetup info tank-c0 >/dev/null 2>&1 && fail "a refused clone made a device"

# --- behaviour ------------------------------------------------------------------
# The origin moves on after the snapshot.
write_random /dev/mapper/tank-vm1 $((1 * MiB)) $((2 * MiB)) 2 >/dev/null
vm1_sum=$(sha256_of /dev/mapper/tank-vm1 0 $((2 * MiB)))
[[ $vm1_sum != "$sum" ]] || fail "the origin did not change"

used=$(snapctl --json pool status tank | jq .data_used_bytes)
expect_exit 0 snapctl clone tank vm1/s1 c1
out_has "/dev/mapper/tank-c1"
assert_eq "$(dev_sectors /dev/mapper/tank-c1)" $((32 << 11)) "clone size"
assert_eq "$(sha256_of /dev/mapper/tank-c1 0 $((2 * MiB)))" "$sum" "clone reads as the snapshot"
s1=$(snapctl --json snapshot info tank vm1/s1 | jq .id)
expect_exit 0 snapctl --json disk list tank
jq -e --argjson s "$s1" '.[] | select(.name == "c1") |
	.origin_snapshot == $s and .removed == false and .device == "/dev/mapper/tank-c1" and
	.mapped_bytes == 2097152 and .manual_snapshots == 0' "$CMD_OUT" ||
	fail "clone in disk list --json"
# Made at once: it shares the snapshot's blocks.
assert_eq "$(snapctl --json pool status tank | jq .data_used_bytes)" "$used" "data used after cloning"

# Writes to the clone stay in the clone.
write_random /dev/mapper/tank-c1 0 $((1 * MiB)) 3 >/dev/null
assert_eq "$(sha256_of /dev/mapper/tank-vm1 0 $((2 * MiB)))" "$vm1_sum" "origin after writing the clone"
log_must snapctl snapshot view tank vm1/s1
assert_eq "$(sha256_of /dev/mapper/tank-vm1@s1 0 $((2 * MiB)))" "$sum" "snapshot after writing the clone"
log_must snapctl snapshot unview tank vm1/s1
assert_eq "$(snapctl --json pool status tank | jq .data_used_bytes)" $((used + MiB)) \
	"data used after writing 1 MiB to the clone"

# A taken name; a snapshot by id; a snapshot of a removed disk.
expect_exit 2 snapctl clone tank vm1/s1 c1
err_has "has a disk named 'c1'"
log_must snapctl clone tank "$s1" c2
log_must snapctl disk remove tank vm1 --yes
log_must snapctl clone tank vm1/s1 c3
assert_eq "$(sha256_of /dev/mapper/tank-c3 0 $((2 * MiB)))" "$sum" "clone of a removed disk's snapshot"
