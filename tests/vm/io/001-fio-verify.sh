#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: fio verified I/O on a live disk: 4k random, 1M sequential, in-place overwrites
#
# fio writes blocks carrying crc32c verification headers and reads them all
# back (verify_fatal): 4 KiB random writes, each to a never-written block
# (a fresh data block each), then 1 MiB sequential writes (split into pool
# blocks), then random overwrites of blocks only the live head holds, which
# go to the same data blocks (data_used must not move).  The random writes
# are mostly acknowledged before they are mapped (early acks).  Finally the
# disk's device is removed and created again, after the pool committed, and
# fio's verify_only pass reads the same data back.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd fio
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
disk_create pool 1 $((256 * 2048))
dev=/dev/mapper/pool-d1

# fio_job NAME ARGS...: one verified fio job on the disk.
fio_job() {
	local name=$1
	shift
	echo "+ fio $name $*"
	fio --name="$name" --filename="$dev" --direct=1 --ioengine=libaio \
		--verify=crc32c --verify_fatal=1 --output="$name.log" "$@" ||
		{ cat "$name.log"; fail "fio job $name failed"; }
	grep -q "err= 0" "$name.log" || { cat "$name.log"; fail "fio job $name reported errors"; }
}

MiB=$((1 << 20))
random4k=(--rw=randwrite --bs=4k --offset=0 --size=$((4 * MiB)) --iodepth=16 --randseed=11)
seq1m=(--rw=write --bs=1M --offset=$((64 * MiB)) --size=$((16 * MiB)) --iodepth=4)
overwrite=(--rw=randwrite --bs=4k --offset=0 --size=$((4 * MiB)) --iodepth=16 --randseed=12)

fio_job random4k "${random4k[@]}"
assert_eq "$(pool_data_used pool)" 1024 "data blocks after 4 MiB of 4 KiB random writes"
assert_eq "$(pool_space pool disk 1 mapped_blocks)" 1024 "mapped blocks after 4 KiB random writes"
# Most of them were acknowledged once written, before the worker mapped
# them (disk status after "row": 4 new block writes, 11 early acks).
read -r -a status <<<"$(dmsetup status pool-d1)"
assert_eq "${status[6]}" 1024 "new block writes after 4 KiB random writes"
(( status[13] > 0 && status[13] <= status[6] )) ||
	fail "early acks: ${status[13]} of ${status[6]} new block writes"

fio_job seq1m "${seq1m[@]}"
assert_eq "$(pool_data_used pool)" $((1024 + 4096)) "data blocks after 16 MiB of 1 MiB writes"

# Nothing shares these blocks: overwrites stay in place.
fio_job overwrite "${overwrite[@]}"
assert_eq "$(pool_data_used pool)" $((1024 + 4096)) "data blocks after in-place overwrites"
assert_eq "$(pool_space pool disk 1 mapped_blocks)" $((1024 + 4096)) "mapped blocks after overwrites"

# A burst shorter than the worker's batch: endio leaves its mappings to
# the worker's next pass, and the pool's status maps them before it counts
# (--noflush counts what is mapped now, never more).
read -r -a status <<<"$(dmsetup status pool-d1)"
acks_before=${status[13]}
for i in 0 1 2 3 4; do
	log_must dd if=/dev/urandom of="$dev" bs=4k count=1 seek=$((8192 + 7 * i)) \
		oflag=direct status=none
done
noflush=$(pool_data_used pool --noflush)
(( noflush <= 1024 + 4096 + 5 )) || fail "status --noflush: $noflush data blocks used"
assert_eq "$(pool_data_used pool)" $((1024 + 4096 + 5)) "data blocks right after a 5-block burst"
read -r -a status <<<"$(dmsetup status pool-d1)"
echo "early acks in the burst: $((status[13] - acks_before)) of 5;" \
	"--noflush counted $((noflush - 1024 - 4096)) of them"

# A new device of the same disk reads what was written, from the pool.
log_must dmsetup_remove pool-d1
dmsetup_create pool-d1 "0 $((256 * 2048)) row /dev/mapper/pool 1"
fio_job seq1m-again --verify_only "${seq1m[@]}"
fio_job overwrite-again --verify_only "${overwrite[@]}"
