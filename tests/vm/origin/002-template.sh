#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: template disks: one golden image shared by three disks made with disk create --origin, each reading it plus its own writes, a snapshot and a clone of one, all back after pool deactivate/activate
# TIMEOUT: 240
#
# An 8 MiB golden image of random data on a loop device is the origin of
# three 12 MiB disks made with 'snapctl disk create --origin' (an origin
# whose size is not a whole number of pool blocks is refused, exit 2, and
# no disk is made).  Each disk writes its own blocks (one a partial block,
# whose rest comes from the origin) and reads the image with its writes on
# top, zeroes past it; the image itself is never written.  A snapshot of
# one, its view and a clone read what it held.  'disk list' names the
# origin.  After 'pool deactivate' and 'pool activate' every device is back
# with its origin (the table names it) and reads the same.  Hydrating the
# clone with --wait takes its origin away: its table no longer names it,
# and it reads the same.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
require_module loop
load_module

MiB=$((1 << 20))
image_bytes=$((8 * MiB))
disk_bytes=$((12 * MiB))

log_must truncate -s $image_bytes "$TEST_TMP/golden.img"
random_stream $image_bytes 7 | dd of="$TEST_TMP/golden.img" bs=1M conv=notrunc status=none
golden_sum=$(sha256sum <"$TEST_TMP/golden.img" | cut -d' ' -f1)
loopdev=$(losetup --find --show --read-only "$TEST_TMP/golden.img")
on_exit losetup -d "$loopdev"

snapctl_pool tank

# An origin that is not whole pool blocks: refused, nothing made.
log_must truncate -s $((MiB + 512)) "$TEST_TMP/odd.img"
oddloop=$(losetup --find --show "$TEST_TMP/odd.img")
on_exit losetup -d "$oddloop"
expect_exit 2 snapctl disk create tank odd --origin "$oddloop"
err_has "not a multiple of the pool's block size"
expect_exit 0 snapctl disk list tank --json
[[ $(jq length "$CMD_OUT") == 0 ]] || fail "a disk was left behind: $(cat "$CMD_OUT")"

# expect_file NAME: the golden image, zeroes to 12 MiB, then each write of NAME.
cp "$TEST_TMP/golden.img" "$TEST_TMP/a.img"
truncate -s $disk_bytes "$TEST_TMP/a.img"
cp "$TEST_TMP/a.img" "$TEST_TMP/b.img"
cp "$TEST_TMP/a.img" "$TEST_TMP/c.img"

# put NAME OFFSET BYTES SEED: write to disk NAME and its expected image.
put() {
	local bs=512
	(($3 % 65536)) || bs=65536
	random_stream "$3" "$4" | dd of=/dev/mapper/tank-"$1" bs=$bs iflag=fullblock oflag=direct,seek_bytes \
		seek="$2" conv=notrunc status=none
	random_stream "$3" "$4" | dd of="$TEST_TMP/$1.img" bs=512 oflag=seek_bytes \
		seek="$2" conv=notrunc status=none
}
file_sum() { sha256sum <"$TEST_TMP/$1.img" | cut -d' ' -f1; }

for d in a b c; do
	expect_exit 0 snapctl disk create tank $d --origin "$loopdev" --size 12M
done
expect_exit 0 snapctl disk list tank --json
assert_eq "$(jq -r '.[0].external_origin.device' "$CMD_OUT")" "$loopdev" "disk list: the origin"
assert_eq "$(jq -r '.[0].external_origin.bytes' "$CMD_OUT")" $image_bytes "disk list: its size"
assert_eq "$(jq -r '.[0].size_bytes' "$CMD_OUT")" $disk_bytes "disk list: the disk's size"
expect_exit 0 snapctl disk create tank d --origin "$loopdev"
expect_exit 0 snapctl disk list tank --json
assert_eq "$(jq -r '.[] | select(.name == "d") | .size_bytes' "$CMD_OUT")" $image_bytes \
	"a template's size defaults to its origin's"

put a 0 65536 11
put a $((5 * MiB)) 4096 12
put b $((5 * MiB + 512)) 1024 21		# a partial block: its rest is the origin's
put b $((10 * MiB)) 8192 22			# past the origin
put c $((7 * MiB)) $((2 * MiB)) 31		# across the origin's end
for d in a b c; do
	assert_eq "$(sha256_of /dev/mapper/tank-$d)" "$(file_sum $d)" "disk $d reads its origin and its writes"
	dmsetup table tank-$d | grep -q "external_origin=" || fail "tank-$d's table names no origin"
done
assert_eq "$(sha256sum <"$TEST_TMP/golden.img" | cut -d' ' -f1)" "$golden_sum" "the golden image is untouched"

# A snapshot of b, its view, and a clone of it.
expect_exit 0 snapctl snapshot create tank b --name s1
expect_exit 0 snapctl snapshot view tank b/s1
cp "$TEST_TMP/b.img" "$TEST_TMP/s1.img"
put b $((3 * MiB)) 65536 23
assert_eq "$(sha256_of /dev/mapper/tank-b@s1)" "$(file_sum s1)" "the snapshot's view"
expect_exit 0 snapctl clone tank b/s1 e
cp "$TEST_TMP/s1.img" "$TEST_TMP/e.img"
put e $((6 * MiB)) 4096 51
assert_eq "$(sha256_of /dev/mapper/tank-e)" "$(file_sum e)" "the clone"
expect_exit 0 snapctl disk list tank --json
assert_eq "$(jq -r '.[] | select(.name == "e") | .external_origin.device' "$CMD_OUT")" "$loopdev" \
	"the clone's origin"

# Back after a deactivation.
expect_exit 0 snapctl pool deactivate tank
[[ ! -e /dev/mapper/tank-a ]] || fail "tank-a is still there"
expect_exit 0 snapctl pool activate tank
expect_exit 0 snapctl snapshot view tank b/s1
for d in a b c e; do
	dmsetup table tank-$d | grep -q "external_origin=" || fail "tank-$d came back without its origin"
	assert_eq "$(sha256_of /dev/mapper/tank-$d)" "$(file_sum $d)" "disk $d after pool activate"
done
assert_eq "$(sha256_of /dev/mapper/tank-b@s1)" "$(file_sum s1)" "the view after pool activate"

# The clone hydrated: its origin goes, its data stays.
expect_exit 0 snapctl disk hydrate tank e --wait
out_has "origin is taken away"
dmsetup table tank-e | grep -q "external_origin=" && fail "tank-e still names its origin"
assert_eq "$(sha256_of /dev/mapper/tank-e)" "$(file_sum e)" "the clone after hydration"
expect_exit 0 snapctl disk list tank --json
assert_eq "$(jq -r '.[] | select(.name == "e") | .external_origin' "$CMD_OUT")" null \
	"the hydrated clone has no origin"
expect_exit 2 snapctl disk hydrate tank e
dmsetup table tank-a | grep -q "external_origin=" || fail "tank-a lost its origin"
