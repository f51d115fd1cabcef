#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: malformed row-pool and row table lines are refused with a clear reason
#
# Every malformed table line fails to load, the kernel log names the reason
# (ti->error), and no device or pool is left behind.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
load_module
meta=$(disk 0)
data=$(disk 1)
zero_dev "$meta" 4
size=$(dev_sectors "$data")

# refuse TABLE REASON: loading TABLE fails and the log says REASON.
refuse() {
	local table=$1 reason=$2
	dmesg -C
	log_mustnot dmsetup create --noudevsync bad --table "$table"
	dmsetup info bad >/dev/null 2>&1 && fail "device 'bad' left behind"
	dmesg | grep -F -- "$reason" >/dev/null || {
		dmesg | tail -5
		fail "no '$reason' in the kernel log for: $table"
	}
}

refuse "0 $size row-pool $meta $data 8" "Invalid argument count"
refuse "0 $size row-pool $meta $data 12 0" "Invalid data block size"
refuse "0 $size row-pool $meta $data 4 0" "Invalid data block size"
refuse "0 $size row-pool $meta $data 4096 0" "Invalid data block size"
refuse "0 $size row-pool $meta $data 8 x" "Invalid low water mark"
refuse "0 $size row-pool $meta $data 8 0 1 fast" "Unknown pool feature"
refuse "0 $size row-pool $meta $data 8 0 1 no_space_timeout" "no_space_timeout needs a number"
refuse "0 $size row-pool $meta $data 8 0 2 no_space_timeout soon" "no_space_timeout needs a number"
refuse "0 $size row-pool $meta $data 8 0 9 read_only" "Invalid number of pool feature arguments"
refuse "0 $size row-pool /dev/nonexistent $data 8 0" "Cannot open metadata device"
refuse "0 $size row-pool $meta /dev/nonexistent 8 0" "Cannot open data device"
refuse "0 $size row-pool $meta $data 8 0 1 read_only" "Metadata device is empty and the pool is read-only"

# A disk needs a live pool and a disk that exists.
refuse "0 1024 row" "Invalid argument count"
refuse "0 1024 row $data x" "Invalid disk id"
refuse "0 1024 row $data 99999999" "Invalid disk id"
refuse "0 1024 row $data 1 0" "Invalid snapshot id"
refuse "0 1024 row $data 1" "Pool device is not an active row-pool"

pool_create pool "$meta" "$data"
refuse "0 1024 row /dev/mapper/pool 7" "No such disk in the pool"
log_must pool_msg pool create_disk 7 2048
refuse "0 4096 row /dev/mapper/pool 7" "Target is longer than the disk"
refuse "0 1024 row /dev/mapper/pool 7 3" "No such snapshot of this disk"
dmsetup_create ok "0 2048 row /dev/mapper/pool 7"

# The logical block size feature: 512 or 4096, once, a whole number of blocks.
lbs=logical_block_size
refuse "0 2048 row /dev/mapper/pool 7 $lbs=1024" "Invalid logical_block_size: need 512 or 4096"
refuse "0 2048 row /dev/mapper/pool 7 $lbs=8192" "Invalid logical_block_size: need 512 or 4096"
refuse "0 2048 row /dev/mapper/pool 7 $lbs=" "Invalid logical_block_size: need 512 or 4096"
refuse "0 2048 row /dev/mapper/pool 7 $lbs=4k" "Invalid logical_block_size: need 512 or 4096"
refuse "0 2048 row /dev/mapper/pool 7 $lbs=-4096" "Invalid logical_block_size: need 512 or 4096"
refuse "0 2048 row /dev/mapper/pool 7 $lbs=4096 $lbs=4096" "logical_block_size given twice"
refuse "0 2048 row /dev/mapper/pool 7 fast" "Unknown feature"
refuse "0 2048 row /dev/mapper/pool 7 $lbs=4096 3" "Unknown feature"
refuse "0 2048 row /dev/mapper/pool 7 3 $lbs=4096 external_origin=/dev/null x" "Invalid argument count"
refuse "0 2044 row /dev/mapper/pool 7 $lbs=4096" "Target length is not a multiple of logical_block_size"
dmsetup_create ok4k "0 2048 row /dev/mapper/pool 7 $lbs=4096"
assert_eq "$(dmsetup table ok4k | cut -d' ' -f6)" "$lbs=4096" "the feature in the table"
assert_eq "$(blockdev --getss /dev/mapper/ok4k)" 4096 "logical block size with the feature"
assert_eq "$(blockdev --getss /dev/mapper/ok)" 512 "logical block size without it"
dmsetup_remove ok4k

# A second pool cannot take a metadata device already in use.
refuse "0 $size row-pool $meta $data 8 0" "already in use"
