#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: rollback after a grow keeps the grown size (tail reads zeroes); --shrink gives the snapshot's size
#
# A 16 MiB disk is written and snapshotted (S1), grown to 32 MiB and
# written across the old end and in the new tail.  'snapshot rollback'
# keeps 32 MiB: the first 16 MiB read as S1 did and the 16 MiB after them
# read zeroes, in the device, in 'disk list' and, after the pool is
# deactivated and activated again, in the pool's records.  Written again,
# then rolled back with --shrink, the disk is 16 MiB and reads S1.  A disk
# shrunk below a snapshot's size and rolled back to it takes the
# snapshot's size and content.  The pool's rollback message refuses an
# unknown size mode with EINVAL.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

MiB=$((1 << 20))
zero_sum() {
	head -c "$1" /dev/zero | sha256sum | cut -d' ' -f1
}
disk_bytes() {
	snapctl --json disk list tank | jq ".[] | select(.name == \"$1\") | .size_bytes"
}

snapctl_pool tank
dev=/dev/mapper/tank-vm1
log_must snapctl disk create tank vm1 --size 16M
write_random $dev 0 $((12 * MiB)) 1 >/dev/null
s1_sum=$(sha256_of $dev 0 $((16 * MiB)))
log_must snapctl snapshot create tank vm1 --name s1

# Grown, then written across the old end and in the new tail.
log_must snapctl disk resize tank vm1 --size 32M
assert_eq "$(dev_sectors $dev)" $((32 * 2048)) "size after growing"
write_random $dev $((14 * MiB)) $((4 * MiB)) 2 >/dev/null
write_random $dev $((28 * MiB)) $((2 * MiB)) 3 >/dev/null
write_random $dev 0 $((1 * MiB)) 4 >/dev/null
[[ $(sha256_of $dev 0 $((16 * MiB))) != "$s1_sum" ]] || fail "the writes changed nothing"

# --- the default keeps the size ------------------------------------------------
expect_exit 0 snapctl snapshot rollback tank vm1 s1 --yes
out_has "rolled back to snapshot s1 \\(33554432 bytes\\)"
assert_eq "$(dev_sectors $dev)" $((32 * 2048)) "device size after the rollback"
assert_eq "$(disk_bytes vm1)" $((32 * MiB)) "disk list size after the rollback"
assert_eq "$(sha256_of $dev 0 $((16 * MiB)))" "$s1_sum" "first 16 MiB after the rollback"
assert_eq "$(sha256_of $dev $((16 * MiB)) $((16 * MiB)))" "$(zero_sum $((16 * MiB)))" \
	"the grown part reads zeroes after the rollback"

# The size is the pool's, not the device's: it survives a re-activation.
log_must snapctl pool deactivate tank
log_must snapctl pool activate tank
assert_eq "$(dev_sectors $dev)" $((32 * 2048)) "size after re-activating the pool"
assert_eq "$(sha256_of $dev 0 $((16 * MiB)))" "$s1_sum" "first 16 MiB after re-activating"
assert_eq "$(sha256_of $dev $((16 * MiB)) $((16 * MiB)))" "$(zero_sum $((16 * MiB)))" \
	"the grown part after re-activating"

# --- --shrink gives the snapshot's size --------------------------------------------
write_random $dev $((20 * MiB)) $((4 * MiB)) 5 >/dev/null
write_random $dev $((2 * MiB)) $((1 * MiB)) 6 >/dev/null
expect_exit 0 snapctl snapshot rollback tank vm1 s1 --shrink --yes
assert_eq "$(dev_sectors $dev)" $((16 * 2048)) "device size after rollback --shrink"
assert_eq "$(disk_bytes vm1)" $((16 * MiB)) "disk list size after rollback --shrink"
assert_eq "$(sha256_of $dev)" "$s1_sum" "content after rollback --shrink"

# --- a disk smaller than the snapshot takes the snapshot's size -------------------
write_random $dev $((4 * MiB)) $((8 * MiB)) 7 >/dev/null
s2_sum=$(sha256_of $dev)
log_must snapctl snapshot create tank vm1 --name s2
log_must snapctl disk resize tank vm1 --size 8M --yes
assert_eq "$(dev_sectors $dev)" $((8 * 2048)) "size after shrinking"
expect_exit 0 snapctl snapshot rollback tank vm1 s2 --yes
assert_eq "$(dev_sectors $dev)" $((16 * 2048)) "size after rolling a shrunk disk back"
assert_eq "$(sha256_of $dev)" "$s2_sum" "content after rolling a shrunk disk back"

# --- the message ---------------------------------------------------------------
s2=$(snapctl --json snapshot info tank vm1/s2 | jq .id)
id=$(snapctl --json disk list tank | jq '.[] | select(.name == "vm1") | .id')
log_must dmsetup suspend --noudevsync tank-vm1
log_mustnot dmsetup message tank 0 rollback "$id" "$s2" bigger 2>"$TEST_TMP/err"
grep -q "Invalid argument" "$TEST_TMP/err" || fail "an unknown size mode not refused with EINVAL"
kernel_log_has "the size is keep_size or snapshot_size" || fail "no reason in the kernel log"
log_must dmsetup message tank 0 rollback "$id" "$s2" keep_size
log_must dmsetup resume --noudevsync tank-vm1
assert_eq "$(sha256_of $dev)" "$s2_sum" "content after the keep_size message"
