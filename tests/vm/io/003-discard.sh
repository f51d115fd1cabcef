#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: discards release blocks, the range reads zeroes, snapshots keep theirs
#
# blkdiscard on a range of written blocks unmaps them: the pool's data_used
# and the disk's mapped_blocks drop by exactly the number of blocks, the
# range reads zeroes and the data around it is intact.  A block a snapshot
# holds is not freed by a discard of the live disk (the snapshot still
# reads it) but the next snapshot does not contain it, and deleting the
# older snapshot frees it.  A discard that covers blocks only partly
# releases only the whole blocks inside it and keeps the partial ones' data.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd blkdiscard
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
disk_create pool 1 $((64 * 2048))
dev=/dev/mapper/pool-d1
MiB=$((1 << 20))
len=$((8 * MiB))			# 2048 blocks written
file_sha() { sha256sum <"$1" | cut -d' ' -f1; }
zero_sha() { head -c "$1" /dev/zero | sha256sum | cut -d' ' -f1; }

dm=$(dmsetup info -c --noheadings -o blkdevname pool-d1)
assert_eq "$(</sys/block/$dm/queue/discard_granularity)" 4096 "discard granularity"

log_must write_random $dev 0 $len 1
random_stream $len 1 >expect
assert_eq "$(pool_data_used pool)" 2048 "data blocks after 8 MiB"

# Discard 4 MiB in the middle: 1024 blocks.
log_must blkdiscard -o $((2 * MiB)) -l $((4 * MiB)) $dev
assert_eq "$(pool_space pool disk 1 mapped_blocks)" 1024 "mapped blocks after discarding 4 MiB"
assert_eq "$(pool_data_used pool)" 1024 "data blocks after discarding 4 MiB"
dd if=/dev/zero of=expect bs=1M seek=2 count=4 conv=notrunc status=none
assert_eq "$(sha256_of $dev 0 $len)" "$(file_sha expect)" "disk after discarding 4 MiB"

# A snapshot holds the first 2 MiB: discarding them frees nothing...
cp expect expect-s1
s1=$(snapshot pool 1)
log_must blkdiscard -o 0 -l $((2 * MiB)) $dev
assert_eq "$(pool_space pool disk 1 mapped_blocks)" 512 "live mapped blocks after discarding snapshotted blocks"
assert_eq "$(pool_data_used pool)" 1024 "data blocks still held by the snapshot"
dd if=/dev/zero of=expect bs=1M count=2 conv=notrunc status=none
assert_eq "$(sha256_of $dev 0 $len)" "$(file_sha expect)" "live disk after the discard"
snap_view pool 1 "$s1" $((64 * 2048))
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$s1 0 $len)" "$(file_sha expect-s1)" \
	"snapshot taken before the discard"

# ...the next snapshot does not hold them, and deleting the first frees them.
s2=$(snapshot pool 1)
assert_eq "$(pool_space pool snapshot "$s2" mapped_blocks)" 512 "blocks of the snapshot after the discard"
log_must dmsetup_remove pool-d1-s$s1
log_must pool_msg pool delete_snapshot "$s1"
assert_eq "$(pool_data_used pool)" 512 "data blocks after deleting the older snapshot"
log_must pool_msg pool delete_snapshot "$s2"

# Unaligned: [6 MiB + 2 KiB, 6 MiB + 10 KiB) covers one whole block.
log_must blkdiscard -o $((6 * MiB + 2048)) -l 8192 $dev
assert_eq "$(pool_space pool disk 1 mapped_blocks)" 511 "mapped blocks after a partial-block discard"
assert_eq "$(pool_data_used pool)" 511 "data blocks after a partial-block discard"
dd if=/dev/zero of=expect bs=4096 seek=$((6 * 256 + 1)) count=1 conv=notrunc status=none
assert_eq "$(sha256_of $dev 0 $len)" "$(file_sha expect)" "live disk after a partial-block discard"
