#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: dm-linear without udev: node, verified I/O, offsets, removal
#
# The /dev/mapper node appears without udev, fio's verified writes through it
# succeed, data written through it lands at the right offset of the disk and
# nothing in front of the mapping is touched, and the device goes away.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 1
log_must modprobe dm-mod

dev=$(disk 0)
offset_sectors=2048			# 1 MiB into the disk
size_sectors=$((64 * 2048))		# 64 MiB

zero_dev "$dev" 80
dmsetup_create smoke-linear "0 $size_sectors linear $dev $offset_sectors"
assert_eq "$(dev_sectors /dev/mapper/smoke-linear)" "$size_sectors" "size of linear device"

log_must fio --name=verify --filename=/dev/mapper/smoke-linear --rw=randwrite \
	--bs=16k --size=32M --direct=1 --ioengine=psync --verify=crc32c \
	--verify_fatal=1 --randseed=42 --output=/dev/null

sum=$(write_random /dev/mapper/smoke-linear $((40 << 20)) $((4 << 20)) 7)
assert_eq "$(sha256_of "$dev" $(((1 + 40) << 20)) $((4 << 20)))" "$sum" \
	"data written through the linear device, read from the disk"
assert_eq "$(sha256_of "$dev" 0 $((1 << 20)))" \
	"$(head -c $((1 << 20)) /dev/zero | sha256sum | cut -d' ' -f1)" \
	"the MiB in front of the linear mapping"

log_must dmsetup_remove smoke-linear
[[ ! -e /dev/mapper/smoke-linear ]] || fail "node still there after remove"
