#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a clone and an import may be larger than their snapshot or image (--size): data kept, tail zero; smaller refused
#
# A 16 MiB disk written with 10 MiB of data is snapshotted (s1) and
# exported.  'clone --size 48M' makes a 48 MiB disk at once: its first
# 16 MiB hash like the snapshot, the rest reads zeroes and takes writes
# that read back without touching the snapshot; 'disk list' and the
# pool's record say 48 MiB, also after the pool is re-activated.  A size
# that is not a whole number of data blocks is rounded up.  'import
# --size 40M' restores the export into a 40 MiB disk (checksum of the
# image, zero tail), and 'import --image --size' into a larger file.  A
# --size smaller than the snapshot or the image is refused (exit 2) with
# a message that says so, and leaves no disk, device or file behind; so is
# --size for an existing block device.  The pool's clone message refuses a
# smaller size with EINVAL.

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
repo=$TEST_TMP/repo
url=file://$repo
log_must snapctl disk create tank vm1 --size 16M
write_random /dev/mapper/tank-vm1 0 $((10 * MiB)) 1 >/dev/null
s1_sum=$(sha256_of /dev/mapper/tank-vm1)
log_must snapctl snapshot create tank vm1 --name s1
expect_exit 0 snapctl export tank vm1/s1 "$url" --name vm1-s1
write_random /dev/mapper/tank-vm1 0 $((1 * MiB)) 2 >/dev/null

# --- clone ---------------------------------------------------------------------
expect_exit 2 snapctl clone tank vm1/s1 small --size 8M
err_has "smaller than the snapshot"
expect_exit 2 snapctl clone tank vm1/s1 small --size 16380K
err_has "smaller than the snapshot"
expect_exit 2 snapctl clone tank vm1/s1 small --size 0
expect_exit 2 snapctl clone tank vm1/s1 small --size lots
dmsetup info tank-small >/dev/null 2>&1 && fail "a refused clone made a device"
[[ $(disk_bytes small) == "" ]] || fail "a refused clone made a disk"

used=$(snapctl --json pool status tank | jq .data_used_bytes)
expect_exit 0 snapctl clone tank vm1/s1 big --size 48M
assert_eq "$(snapctl --json pool status tank | jq .data_used_bytes)" "$used" "data used after a larger clone"
dev=/dev/mapper/tank-big
assert_eq "$(dev_sectors $dev)" $((48 * 2048)) "larger clone's device size"
assert_eq "$(disk_bytes big)" $((48 * MiB)) "larger clone in disk list"
assert_eq "$(sha256_of $dev 0 $((16 * MiB)))" "$s1_sum" "larger clone's first 16 MiB"
assert_eq "$(sha256_of $dev $((16 * MiB)) $((32 * MiB)))" "$(zero_sum $((32 * MiB)))" "larger clone's tail"
tail_sum=$(write_random $dev $((40 * MiB)) $((2 * MiB)) 3)
edge_sum=$(write_random $dev $((15 * MiB)) $((2 * MiB)) 4)
log_must snapctl pool deactivate tank
log_must snapctl pool activate tank
assert_eq "$(dev_sectors $dev)" $((48 * 2048)) "larger clone's size after re-activating"
assert_eq "$(sha256_of $dev $((40 * MiB)) $((2 * MiB)))" "$tail_sum" "write in the clone's tail"
assert_eq "$(sha256_of $dev $((15 * MiB)) $((2 * MiB)))" "$edge_sum" "write across the snapshot's end"
log_must snapctl snapshot view tank vm1/s1
assert_eq "$(sha256_of /dev/mapper/tank-vm1@s1)" "$s1_sum" "the snapshot after writing the clone"
log_must snapctl snapshot unview tank vm1/s1

# Rounded up to whole data blocks; the snapshot's own size is fine.
log_must snapctl clone tank vm1/s1 odd --size $((20 * MiB + 1))
assert_eq "$(dev_sectors /dev/mapper/tank-odd)" $((20 * 2048 + 8)) "a size rounded up to a block"
log_must snapctl clone tank vm1/s1 same --size 16M
assert_eq "$(dev_sectors /dev/mapper/tank-same)" $((16 * 2048)) "a clone as large as its snapshot"

# The pool refuses a smaller clone itself.
s1=$(snapctl --json snapshot info tank vm1/s1 | jq .id)
log_mustnot dmsetup message tank 0 clone "$s1" 900 tiny 8192 2>"$TEST_TMP/err"
grep -q "Invalid argument" "$TEST_TMP/err" || fail "a smaller clone message not refused with EINVAL"
kernel_log_has "a clone cannot be smaller than its snapshot" || fail "no reason in the kernel log"

# --- import ----------------------------------------------------------------------
expect_exit 2 snapctl import "$url" vm1-s1 tank small --size 12M
err_has "smaller than the export's image"
[[ $(disk_bytes small.importing) == "" ]] || fail "a refused import made a disk"
expect_exit 0 snapctl import "$url" vm1-s1 tank back --size 40M
dev=/dev/mapper/tank-back
assert_eq "$(dev_sectors $dev)" $((40 * 2048)) "larger import's device size"
assert_eq "$(disk_bytes back)" $((40 * MiB)) "larger import in disk list"
assert_eq "$(sha256_of $dev 0 $((16 * MiB)))" "$s1_sum" "larger import's first 16 MiB"
assert_eq "$(sha256_of $dev $((16 * MiB)) $((24 * MiB)))" "$(zero_sum $((24 * MiB)))" "larger import's tail"

expect_exit 2 snapctl import "$url" vm1-s1 --image "$TEST_TMP/small.raw" --size 1M
err_has "smaller than the export's image"
[[ ! -e $TEST_TMP/small.raw ]] || fail "a refused import --image made a file"
expect_exit 2 snapctl import "$url" vm1-s1 --image "$(disk 0)" --size 32M
err_has "not to the device"
expect_exit 0 snapctl import "$url" vm1-s1 --image "$TEST_TMP/big.raw" --size 24M
assert_eq "$(stat -c %s "$TEST_TMP/big.raw")" $((24 * MiB)) "larger image file's size"
assert_eq "$(sha256_of "$TEST_TMP/big.raw" 0 $((16 * MiB)))" "$s1_sum" "larger image file's first 16 MiB"
assert_eq "$(sha256_of "$TEST_TMP/big.raw" $((16 * MiB)) $((8 * MiB)))" "$(zero_sum $((8 * MiB)))" \
	"larger image file's tail"
