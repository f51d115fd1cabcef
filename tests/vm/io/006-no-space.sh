#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a full data device: writes queue, fail after no_space_timeout, resume when a snapshot is deleted
#
# The pool's data device (4 MiB, 1024 blocks) is smaller than its disk.
# Once every block is used, overwriting a block only the live disk holds
# still works (in place), but a write needing a new block waits, the pool
# reports out_of_data_space, and after no_space_timeout (5 s) the write
# fails with ENOSPC.  Deleting a snapshot frees blocks: the pool goes back
# to rw and writes succeed, without reloading anything.  Then, with the
# table reloaded for no_space_timeout 0 (wait forever), a write that finds
# no space waits until a snapshot deletion frees some, and then completes.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
load_module

meta=$(disk 0)
zero_dev "$meta" 4
dmsetup_create data "0 $((4 * 2048)) linear $(disk 1) 0"
pool_create pool "$meta" /dev/mapper/data 8 0 no_space_timeout 5
disk_create pool 1 $((64 * 2048))
dev=/dev/mapper/pool-d1
MiB=$((1 << 20))

# wait_mode MODE: poll the pool's status until it shows MODE.  A bound, not
# a timing check: a pool that never gets there fails the test.
wait_mode() {
	local i
	for ((i = 0; i < 240; i++)); do
		[[ $(pool_status_field pool 4) == "$1" ]] && return 0
		sleep 0.5
	done
	fail "pool never reached mode $1: $(dmsetup status pool)"
}

# 2 MiB held by a snapshot, 2 MiB more by the live disk: full.
log_must write_random $dev 0 $((2 * MiB)) 1
s1=$(snapshot pool 1)
log_must write_random $dev 0 $((2 * MiB)) 2
assert_eq "$(pool_status_field pool 3)" "1024/1024" "data space"
assert_eq "$(pool_status_field pool 4)" rw "mode when just full"

# In place: no new block needed.
sum=$(write_random $dev 0 $((256 * 1024)) 3)
random_stream $((256 * 1024)) 3 >expect
assert_eq "$sum" "$(sha256sum <expect | cut -d' ' -f1)" "in-place overwrite on a full pool"

# A write to a new block waits, then fails after the timeout.
dmesg -C
log_mustnot dd if=expect of=$dev bs=4096 count=1 seek=512 oflag=direct status=none 2>dd.err
cat dd.err
grep -q "No space left on device" dd.err || fail "the write did not fail with ENOSPC"
assert_eq "$(pool_status_field pool 4)" out_of_data_space "mode after the timeout"
kernel_log_has "no data space for 5 seconds" || fail "no timeout message in the kernel log"
log_mustnot dd if=expect of=$dev bs=4096 count=1 seek=513 oflag=direct status=none

# Deleting the snapshot frees its 512 blocks; writes work again.
log_must pool_msg pool delete_snapshot "$s1"
assert_eq "$(pool_status_field pool 4)" rw "mode after freeing space"
assert_eq "$(pool_data_used pool)" 512 "data blocks after deleting the snapshot"
sum=$(write_random $dev $((2 * MiB)) 4096 4)
assert_eq "$sum" "$(random_stream 4096 4 | sha256sum | cut -d' ' -f1)" "write after freeing space"
assert_eq "$(pool_data_used pool)" 513 "data blocks after the write"

# Wait forever: reload the table without a timeout.
table="0 $(dev_sectors /dev/mapper/data) row-pool $meta /dev/mapper/data 8 0 2 no_space_timeout 0"
log_must dmsetup reload --noudevsync pool --table "$table"
log_must dmsetup suspend --noudevsync pool
log_must dmsetup resume --noudevsync pool
dmsetup table pool | grep -q " 2 no_space_timeout 0$" || fail "table not reloaded: $(dmsetup table pool)"

# Everything shared with a snapshot; overwrite 511 blocks: full again.
s2=$(snapshot pool 1)
log_must write_random $dev 0 $((2 * MiB - 4096)) 5
assert_eq "$(pool_data_used pool)" 1024 "data blocks when full again"
random_stream 4096 6 >expect2
dd if=expect2 of=$dev bs=4096 count=1 seek=511 oflag=direct status=none 2>dd2.err &
pid=$!
on_exit "kill $pid 2>/dev/null || true"
wait_mode out_of_data_space
kill -0 $pid 2>/dev/null || { cat dd2.err; fail "the write did not wait for space"; }
log_must pool_msg pool delete_snapshot "$s2"
rc=0
wait $pid || rc=$?
cat dd2.err
assert_eq "$rc" 0 "exit status of the write that waited for space"
assert_eq "$(pool_status_field pool 4)" rw "mode after freeing space again"
assert_eq "$(sha256_of $dev $((511 * 4096)) 4096)" "$(sha256sum <expect2 | cut -d' ' -f1)" \
	"data of the write that waited"
