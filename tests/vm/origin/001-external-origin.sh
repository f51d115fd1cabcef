#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a disk over an external origin: reads, writes, snapshots, clones, hydration, detach
#
# A 64 MiB origin of random data (a loop device behind a dm-linear device
# that can be turned into an error target) under a 96 MiB disk:
#  - the table line must name the origin exactly when the disk has one;
#  - the disk reads the origin where it maps nothing, zeroes past it;
#    whole-block and partial writes land on top (the rest of a partial
#    block is copied from the origin);
#  - a snapshot view and a clone read what the disk held, through the origin;
#  - a failing origin fails only the reads of blocks it serves, and a
#    hydration under way waits and resumes when the origin is back;
#  - hydration survives a pool reload (it resumes from its record);
#  - hydration does not copy the origin's 4 MiB of zeroes;
#  - once hydrated, the origin is taken away, and the disk, its snapshot and
#    (hydrated too) the clone read the same with the origin zeroed.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
load_module
require_module loop

MiB=$((1 << 20))
origin_bytes=$((64 * MiB))
size=$((96 * 2048))			# the disk, in sectors
origin_sectors=$((origin_bytes / 512))

log_must truncate -s $origin_bytes "$TEST_TMP/origin.img"
random_stream $origin_bytes 7 | dd of="$TEST_TMP/origin.img" bs=1M conv=notrunc status=none
# 4 MiB of zeroes at 40 MiB: hydration leaves them unmapped.
dd if=/dev/zero of="$TEST_TMP/origin.img" bs=1M seek=40 count=4 conv=notrunc status=none
loopdev=$(losetup --find --show "$TEST_TMP/origin.img")
on_exit losetup -d "$loopdev"
dmsetup_create origin "0 $origin_sectors linear $loopdev 0"
origin=/dev/mapper/origin

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"

# The expected image of the disk: the origin, then zeroes.
cp "$TEST_TMP/origin.img" "$TEST_TMP/expect.img"
truncate -s $((size * 512)) "$TEST_TMP/expect.img"
expect_sum() { sha256sum <"$TEST_TMP/expect.img" | cut -d' ' -f1; }

# Only a disk that holds nothing takes an origin; the table line must agree.
log_must pool_msg pool create_disk 1 $size
log_must pool_msg pool create_disk 9 $size
dmsetup_create pool-d9 "0 $size row /dev/mapper/pool 9"
write_random /dev/mapper/pool-d9 0 4096 1 >/dev/null
log_mustnot pool_msg pool set_disk 9 external_origin=$origin_sectors
log_mustnot pool_msg pool set_disk 1 external_origin=$((size + 8))
log_mustnot pool_msg pool set_disk 1 external_origin=none
log_must pool_msg pool set_disk 1 external_origin=$origin_sectors
pool_msg pool info disk 1 | grep -q "external_origin=$origin_sectors hydrated=0" ||
	fail "info disk does not show the origin: $(pool_msg pool info disk 1)"
log_mustnot dmsetup create --noudevsync pool-d1 --table "0 $size row /dev/mapper/pool 1"
log_mustnot dmsetup create --noudevsync pool-dx --table "0 $size row /dev/mapper/pool 9 external_origin=$origin"
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1 external_origin=$origin"
dev=/dev/mapper/pool-d1
log_mustnot pool_msg pool resize_disk 1 $((origin_sectors - 8))

assert_eq "$(sha256_of $dev)" "$(expect_sum)" "the disk reads its origin, zeroes past it"
assert_eq "$(pool_data_used pool)" 1 "data blocks used by reads (disk 9's one write)"

# A whole block, a partial block (the rest comes from the origin), and a
# write past the origin.
write_random $dev $((MiB + 4096)) 4096 11 >/dev/null
random_stream 4096 11 | dd of="$TEST_TMP/expect.img" bs=4096 seek=$(((MiB + 4096) / 4096)) conv=notrunc status=none
# (bs=512: dd writes a short last block of a bigger bs without O_DIRECT)
random_stream 512 12 | dd of=$dev bs=512 seek=$(((2 * MiB + 512) / 512)) oflag=direct status=none
random_stream 512 12 | dd of="$TEST_TMP/expect.img" bs=512 seek=$(((2 * MiB + 512) / 512)) conv=notrunc status=none
write_random $dev $((80 * MiB)) 8192 13 >/dev/null
random_stream 8192 13 | dd of="$TEST_TMP/expect.img" bs=4096 seek=$((80 * MiB / 4096)) conv=notrunc status=none
assert_eq "$(sha256_of $dev)" "$(expect_sum)" "the disk after writes over its origin"
status=$(dmsetup status pool-d1)
echo "status: $status"
set -- $status
assert_eq "$8" 1 "partial-block copies (from the origin)"
assert_eq "$9" 0 "partial-block zero fills"
assert_eq "${15}" "0/$((origin_bytes / 4096))" "hydrated before hydrating"
assert_eq "${16}" off "hydration state before hydrating"

# A snapshot, its view and a clone of it read the same, through the origin.
snap=$(snapshot pool 1)
snap_sum=$(expect_sum)
log_mustnot dmsetup create --noudevsync --readonly pool-d1-sx --table "0 $size row /dev/mapper/pool 1 $snap"
dmsetup_create pool-d1-s$snap "0 $size row /dev/mapper/pool 1 $snap external_origin=$origin" --readonly
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$snap)" "$snap_sum" "the snapshot's view"
log_must pool_msg pool clone $snap 2
pool_msg pool info disk 2 | grep -q "external_origin=$origin_sectors hydrated=0" ||
	fail "the clone did not inherit the origin: $(pool_msg pool info disk 2)"
dmsetup_create pool-d2 "0 $size row /dev/mapper/pool 2 external_origin=$origin"
assert_eq "$(sha256_of /dev/mapper/pool-d2)" "$snap_sum" "the clone"
write_random $dev $((3 * MiB)) 65536 14 >/dev/null
random_stream 65536 14 | dd of="$TEST_TMP/expect.img" bs=4096 seek=$((3 * MiB / 4096)) conv=notrunc status=none

# A failing origin fails the reads it serves, not the others; writes go on.
log_must dmsetup suspend origin
log_must dmsetup load origin --table "0 $origin_sectors error"
log_must dmsetup resume origin
log_mustnot dd if=$dev of=/dev/null bs=4096 skip=$((10 * MiB / 4096)) count=1 iflag=direct status=none
log_must dd if=$dev of=/dev/null bs=4096 skip=$(((MiB + 4096) / 4096)) count=1 iflag=direct status=none
log_must dd if=$dev of=/dev/null bs=4096 skip=$((90 * MiB / 4096)) count=1 iflag=direct status=none
write_random $dev $((4 * MiB)) 4096 15 >/dev/null
random_stream 4096 15 | dd of="$TEST_TMP/expect.img" bs=4096 seek=$((4 * MiB / 4096)) conv=notrunc status=none

# Hydration meets the failing origin: it counts errors and waits.
log_must pool_msg pool hydrate 1 0
for ((i = 0; i < 50; i++)); do
	set -- $(dmsetup status pool-d1)
	[[ ${17} -gt 0 ]] && break
	sleep 0.1
done
[[ ${17} -gt 0 ]] || fail "no copy error counted with a failing origin: $*"
log_must dmsetup suspend origin
log_must dmsetup load origin --table "0 $origin_sectors linear $loopdev 0"
log_must dmsetup resume origin

# It resumes and finishes on its own.
for ((i = 0; i < 600; i++)); do
	set -- $(dmsetup status pool-d1)
	[[ ${16} == done ]] && break
	sleep 0.1
done
assert_eq "${16}" done "hydration state after the origin came back"
assert_eq "${15}" "$((origin_bytes / 4096))/$((origin_bytes / 4096))" "hydrated blocks"
assert_eq "$(sha256_of $dev)" "$(expect_sum)" "the disk after hydration"
mapped=$(pool_space pool disk 1 mapped_blocks)
((mapped <= origin_bytes / 4096 - 1024 + 32)) ||
	fail "hydration mapped $mapped blocks: the origin's 1024 blocks of zeroes were copied"
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$snap)" "$snap_sum" "the snapshot after hydration"

# The clone hydrates on its own, at a rate, and resumes after a pool reload.
log_must pool_msg pool hydrate 2 $((4 * MiB))
sleep 2
log_must pool_msg pool commit
before=$(pool_msg pool info disk 2 | tr ' ' '\n' | sed -n 's/^hydrated=//p')
[[ $before -gt 0 && $before -lt $origin_sectors ]] ||
	fail "the clone's hydration at 4 MiB/s: $before of $origin_sectors sectors after 2 s"
dmsetup_remove pool-d2
dmsetup_remove pool-d1-s$snap
dmsetup_remove pool-d1
dmsetup_remove pool-d9
dmsetup_remove pool
pool_create pool "$(disk 0)" "$(disk 1)"
after=$(pool_msg pool info disk 2 | tr ' ' '\n' | sed -n 's/^hydrated=//p')
[[ $after -ge $before ]] || fail "the clone's hydration went back from $before to $after sectors"
dmsetup_create pool-d2 "0 $size row /dev/mapper/pool 2 external_origin=$origin"
log_must pool_msg pool hydrate 2 0
for ((i = 0; i < 600; i++)); do
	set -- $(dmsetup status pool-d2)
	[[ ${16} == done ]] && break
	sleep 0.1
done
assert_eq "${16}" done "the clone's hydration after the reload"

# Hydrated: the origin goes, and nothing reads it any more.
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1 external_origin=$origin"
dmsetup_create pool-d1-s$snap "0 $size row /dev/mapper/pool 1 $snap external_origin=$origin" --readonly
log_must pool_msg pool set_disk 1 external_origin=none
log_must pool_msg pool set_disk 2 external_origin=none
zero_dev $origin $((origin_bytes / MiB))
assert_eq "$(sha256_of /dev/mapper/pool-d1)" "$(expect_sum)" "the disk without its origin"
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$snap)" "$snap_sum" "the snapshot without the origin"
assert_eq "$(sha256_of /dev/mapper/pool-d2)" "$snap_sum" "the clone without the origin"
# A table line naming an origin the disk no longer has is refused.
dmsetup_remove pool-d1
log_mustnot dmsetup create --noudevsync pool-d1 --table "0 $size row /dev/mapper/pool 1 external_origin=$origin"
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
assert_eq "$(sha256_of /dev/mapper/pool-d1)" "$(expect_sum)" "the disk reloaded without its origin"
