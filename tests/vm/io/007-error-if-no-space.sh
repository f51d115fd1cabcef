#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: error_if_no_space: on a full pool, writes needing a block fail at once
#
# With error_if_no_space (and no_space_timeout 0, so that a write that
# queued instead would wait forever) a write needing a new block on a full
# pool fails with ENOSPC right away, the status says error_if_no_space and
# out_of_data_space, in-place overwrites still work, and a discard that
# frees blocks makes writes succeed again.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd blkdiscard
load_module

meta=$(disk 0)
zero_dev "$meta" 4
dmsetup_create data "0 $((4 * 2048)) linear $(disk 1) 0"
pool_create pool "$meta" /dev/mapper/data 8 0 error_if_no_space no_space_timeout 0
disk_create pool 1 $((64 * 2048))
dev=/dev/mapper/pool-d1
MiB=$((1 << 20))

assert_eq "$(pool_status_field pool 6)" error_if_no_space "no-space policy in the status"
log_must write_random $dev 0 $((4 * MiB)) 1
assert_eq "$(pool_data_used pool)" 1024 "data blocks when full"

random_stream 4096 2 >block
# timeout: a write that queued would wait forever; that is the failure.
log_mustnot timeout 120 dd if=block of=$dev bs=4096 seek=$((4 * 256)) oflag=direct status=none 2>dd.err
cat dd.err
grep -q "No space left on device" dd.err || fail "the write did not fail with ENOSPC"
assert_eq "$(pool_status_field pool 4)" out_of_data_space "mode after a failed write"

sum=$(write_random $dev $((2 * MiB)) 4096 3)
assert_eq "$sum" "$(random_stream 4096 3 | sha256sum | cut -d' ' -f1)" "in-place overwrite on a full pool"

log_must blkdiscard -o 0 -l $MiB $dev
assert_eq "$(pool_data_used pool)" 768 "data blocks after a discard"
assert_eq "$(pool_status_field pool 4)" rw "mode after a discard freed space"
log_must dd if=block of=$dev bs=4096 seek=$((4 * 256)) oflag=direct status=none
assert_eq "$(sha256_of $dev $((4 * MiB)) 4096)" "$(sha256sum <block | cut -d' ' -f1)" \
	"write after the discard"
