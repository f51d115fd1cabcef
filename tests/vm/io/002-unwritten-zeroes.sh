#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: never-written blocks read as zeroes, in the live disk and in snapshots
#
# A 4 GiB disk in a pool whose data device is 1 GiB: reads anywhere in it,
# including past the data device's size, return zeroes and allocate
# nothing.  After a few scattered writes, the blocks around them (down to
# single sectors next to a written block) still read as zeroes, and so does
# a snapshot view of the same places.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((4 << 21))			# 4 GiB in sectors
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
MiB=$((1 << 20))
zero_mib=$(head -c $MiB /dev/zero | sha256sum | cut -d' ' -f1)

# First, middle and last MiB, and one beyond the data device's 1 GiB.
for off in 0 $((2048 * MiB)) $((4095 * MiB)) $((1500 * MiB)); do
	assert_eq "$(sha256_of $dev $off $MiB)" "$zero_mib" "never-written MiB at $off"
done
assert_eq "$(pool_data_used pool)" 0 "data blocks used by reads"
assert_eq "$(pool_space pool disk 1 mapped_blocks)" 0 "blocks mapped by reads"

# One 4 KiB block in the middle of a MiB, 64 KiB at 3 GiB.
a=$((MiB + 8192))
b=$((3072 * MiB + 4096))
sum_a=$(write_random $dev $a 4096 1)
sum_b=$(write_random $dev $b 65536 2)
assert_eq "$(pool_data_used pool)" 17 "data blocks after 4 KiB + 64 KiB"

# expect_mib OFF FILE: build the expected MiB at OFF in FILE.
head -c $MiB /dev/zero >expect_a
random_stream 4096 1 | dd of=expect_a bs=4096 seek=2 conv=notrunc status=none
head -c $MiB /dev/zero >expect_b
random_stream 65536 2 | dd of=expect_b bs=4096 seek=1 conv=notrunc status=none
exp_a=$(sha256sum <expect_a | cut -d' ' -f1)
exp_b=$(sha256sum <expect_b | cut -d' ' -f1)

assert_eq "$(sha256_of $dev $MiB $MiB)" "$exp_a" "the MiB around the 4 KiB write"
assert_eq "$(sha256_of $dev $((3072 * MiB)) $MiB)" "$exp_b" "the MiB around the 64 KiB write"

# Single sectors right next to the written block, read with O_DIRECT.
zero_sector=$(head -c 512 /dev/zero | sha256sum | cut -d' ' -f1)
for sector in $((a / 512 - 1)) $((a / 512 + 8)); do
	got=$(dd if=$dev bs=512 skip=$sector count=1 iflag=direct status=none | sha256sum | cut -d' ' -f1)
	assert_eq "$got" "$zero_sector" "sector $sector next to the written block"
done

# A snapshot sees the same, and so does a read of never-written space in it.
snap=$(snapshot pool 1)
snap_view pool 1 "$snap" $size
view=/dev/mapper/pool-d1-s$snap
assert_eq "$(sha256_of $view $MiB $MiB)" "$exp_a" "snapshot: the MiB around the 4 KiB write"
assert_eq "$(sha256_of $view $((3072 * MiB)) $MiB)" "$exp_b" "snapshot: the MiB around the 64 KiB write"
assert_eq "$(sha256_of $view $((4095 * MiB)) $MiB)" "$zero_mib" "snapshot: never-written last MiB"
assert_eq "$(pool_data_used pool)" 17 "data blocks after reading the snapshot"
