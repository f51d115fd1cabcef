#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: 64 KiB blocks: fio data written across snapshots and a live pool table reload verifies after a full reload
#
# A pool with 64 KiB blocks, a disk written by fio (4 KiB random writes,
# so most of them land inside shared blocks and copy the rest of the
# block) with snapshots taken between passes, and the pool's table
# reloaded (suspend, resume) while the disk is open.  After every device
# is removed and the pool is loaded again, fio's verify_only pass reads
# the last pass back from the disk, and a snapshot's view still holds the
# data recorded when it was taken.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd fio python3
load_module

meta=$(disk 0) data=$(disk 1)
zero_dev "$meta" 4
pool_create pool "$meta" "$data" 128
size=$((32 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
MiB=$((1 << 20))

fio_pass() {
	local seed=$1
	shift
	echo "+ fio pass $seed $*"
	fio --name=p$seed --filename=$dev --direct=1 --ioengine=libaio --iodepth=8 \
		--rw=randwrite --bs=4k --offset=0 --size=$((4 * MiB)) --randseed=$seed \
		--verify=crc32c --verify_fatal=1 --output=p$seed.log "$@" ||
		{ cat p$seed.log; fail "fio pass $seed failed"; }
	grep -q "err= 0" p$seed.log || { cat p$seed.log; fail "fio pass $seed reported errors"; }
}

fio_pass 1
s1=$(snapshot pool 1)
snap_view pool 1 "$s1" $size
sum1=$(sha256_of /dev/mapper/pool-d1-s$s1 0 $((4 * MiB)))
log_must dmsetup_remove pool-d1-s$s1

# Half the blocks again, then reload the pool's table while the disk is open.
fio_pass 2 --size=$((2 * MiB))
table=$(dmsetup table pool)
log_must dmsetup reload --noudevsync pool --table "$table"
log_must dmsetup suspend --noudevsync pool
log_must dmsetup resume --noudevsync pool
s2=$(snapshot pool 1)
fio_pass 3

for d in pool-d1 pool; do
	log_must dmsetup_remove $d
done
log_must unload_module
load_module
pool_create pool "$meta" "$data" 128
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
fio_pass 3 --verify_only
snap_view pool 1 "$s1" $size
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$s1 0 $((4 * MiB)))" "$sum1" "first snapshot after the reload"
log_must pool_msg pool info snapshot "$s2"
