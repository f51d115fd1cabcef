#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: FUA and FLUSH: synchronous writes and fsyncs commit the pool, data verifies
#
# The disk advertises a write cache with FUA.  A FUA write that maps a new
# block completes only after the commit that records it, and a flush after
# such a write commits too, so N synchronous writes to fresh blocks
# (O_DIRECT|O_DSYNC, then fio with fsync after every write) advance the
# pool's transaction id by at least N, whatever the periodic commits add.
# The data verifies, and buffered writes followed by fsync do too.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd fio
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
disk_create pool 1 $((64 * 2048))
dev=/dev/mapper/pool-d1
MiB=$((1 << 20))

dm=$(dmsetup info -c --noheadings -o blkdevname pool-d1)
assert_eq "$(</sys/block/$dm/queue/write_cache)" "write back" "write cache of the disk"
assert_eq "$(</sys/block/$dm/queue/fua)" 1 "FUA support of the disk"

# 32 synchronous 4 KiB writes, each to a fresh block, from one dd.
tx0=$(pool_status_field pool 1)
random_stream $((128 * 1024)) 1 >data
log_must dd if=data of=$dev bs=4096 seek=256 oflag=direct,dsync status=none
tx1=$(pool_status_field pool 1)
log_note "transaction $tx0 -> $tx1 over 32 O_DSYNC writes"
[[ $tx1 -ge $((tx0 + 32)) ]] || fail "32 FUA writes to new blocks made only $((tx1 - tx0)) commits"
assert_eq "$(sha256_of $dev $((MiB)) $((128 * 1024)))" "$(sha256sum <data | cut -d' ' -f1)" \
	"data of the synchronous writes"

# fio: fsync after each of 128 writes to fresh blocks (fio syncs between
# writes; end_fsync adds the one after the last).
tx0=$(pool_status_field pool 1)
echo "+ fio --fsync=1"
fio --name=fsync --filename=$dev --direct=1 --ioengine=psync --fsync=1 --end_fsync=1 \
	--rw=randwrite --bs=4k --offset=$((8 * MiB)) --size=$((512 * 1024)) --randseed=3 \
	--verify=crc32c --verify_fatal=1 --output=fio.log ||
	{ cat fio.log; fail "fio failed"; }
grep -q "err= 0" fio.log || { cat fio.log; fail "fio reported errors"; }
tx1=$(pool_status_field pool 1)
log_note "transaction $tx0 -> $tx1 over 128 write+fsync"
[[ $tx1 -ge $((tx0 + 128)) ]] || fail "128 write+fsync made only $((tx1 - tx0)) commits"

# fio: FUA writes (O_SYNC) through libaio at a queue depth, with verify.
echo "+ fio --sync=1 iodepth 8"
fio --name=fua --filename=$dev --direct=1 --ioengine=libaio --iodepth=8 --sync=1 \
	--rw=randwrite --bs=16k --offset=$((16 * MiB)) --size=$((2 * MiB)) --randseed=4 \
	--verify=crc32c --verify_fatal=1 --output=fio2.log ||
	{ cat fio2.log; fail "fio failed"; }
grep -q "err= 0" fio2.log || { cat fio2.log; fail "fio reported errors"; }

# Buffered writes, then one fsync.
random_stream $((2 * MiB)) 2 >data2
log_must dd if=data2 of=$dev bs=1M seek=32 conv=fsync status=none
assert_eq "$(sha256_of $dev $((32 * MiB)) $((2 * MiB)))" "$(sha256sum <data2 | cut -d' ' -f1)" \
	"buffered writes after fsync"
