#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: the mapping cache of a sparse 1 TiB disk stays within its budget while fio verifies data spread over the whole disk
#
# The mapping cache of a live disk holds one segment (64 blocks) per slot,
# and its slots are fixed when the table is loaded: the module parameter
# map_cache_mb bounds them.  With a 1 MiB budget (1024 slots of 64 blocks,
# 256 MiB of the disk), fio writes 4 KiB blocks at random over a sparse
# 1 TiB disk, far more windows than slots, and reads them back verified
# (crc32c), while reads of never-written blocks must return zeroes.  The
# disk's status reports the cache's bytes within its budget, the slab of
# segments (where the kernel keeps it apart) holds no more than the slots,
# and reads are served from the cache (a block read again hits) as well as
# the tree (misses, windows taking each other's slots).  A table loaded
# with map_cache_mb=0 has no cache (budget 0) and
# reads the same data.  Under memory pressure the cache gives its segments
# back (the pool's shrinker), and reads still verify.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd fio
load_module

MiB=$((1 << 20))
param=/sys/module/$(_dmrow_modname)/parameters/map_cache_mb
[[ -w $param ]] || fail "no writable module parameter $param"
old_budget=$(<"$param")
on_exit "echo $old_budget >$param"

# disk_status DEV N: the N-th word of a disk's status after "row": 7 cache
# bytes, 8 cache budget bytes, 9 cache hits, 10 cache misses.
disk_status() {
	local -a w
	read -r -a w <<<"$(dmsetup status "$1")"
	echo "${w[$(($2 + 2))]}"
}

# segments: the mapping cache's segments allocated in the kernel.
segments() {
	awk '$1 == "dm_row_map_segment" { print $2 }' /proc/slabinfo
}

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
TiB_sectors=$((1 << 31))
echo 1 >"$param"
disk_create pool 1 $TiB_sectors
dev=/dev/mapper/pool-d1

# A segment: 16 bytes of header, an rcu_head and 64 entries of 8 bytes;
# each slot one pointer.  1 MiB buys 1024 slots.
budget=$(disk_status pool-d1 8)
[[ $budget -gt 0 && $budget -le $MiB ]] || fail "cache budget $budget: not within 1 MiB"
slots=$((budget / (16 + 16 + 64 * 8 + 8)))
assert_eq "$slots" 1024 "cache slots for a 1 MiB budget"

# 8192 blocks of 4 KiB written at random over 1 TiB: about 8192 windows.
fio --name=spread --filename="$dev" --direct=1 --ioengine=libaio --iodepth=16 \
	--rw=randwrite --bs=4k --size=$((TiB_sectors * 512)) --io_size=$((32 * MiB)) \
	--randrepeat=1 --randseed=7 --verify=crc32c --verify_fatal=1 \
	--output=spread.log || { cat spread.log; fail "fio with verification failed"; }
grep -q "err= 0" spread.log || { cat spread.log; fail "fio reported errors"; }

# Never-written blocks between them read as zeroes, from all over the
# disk; read twice, each is a hit the second time (its window's segment was
# just filled by the first read's miss).
hits0=$(disk_status pool-d1 9)
for ((k = 1; k <= 50; k++)); do
	off=$((k * 5242877))
	for again in 1 2; do
		sum=$(dd if="$dev" bs=4096 skip=$off count=1 iflag=direct status=none |
			tr -d '\0' | wc -c)
		[[ $sum -eq 0 ]] || fail "block $off was never written but reads $sum nonzero bytes"
	done
done
hits=$(disk_status pool-d1 9)
misses=$(disk_status pool-d1 10)
log_note "cache: $(disk_status pool-d1 7) of $budget bytes, $hits hits, $misses misses"
# fio's verifying reads go in offset order, each evicting the window before
# it in its slot: they miss, windows outnumbering slots eightfold.
[[ $misses -gt $slots ]] || fail "only $misses misses: the windows should outnumber the slots"
[[ $((hits - hits0)) -ge 50 ]] || fail "$((hits - hits0)) hits for 50 blocks read twice"
bytes=$(disk_status pool-d1 7)
[[ $bytes -le $budget ]] || fail "cache uses $bytes bytes, over its budget of $budget"
# Segments replaced by others are freed after an RCU grace period.  (A
# kernel that merges slab caches of one size shows no slab of our own.)
sleep 1
if [[ -n $(segments) ]]; then
	# (SLUB counts the free objects of its per-CPU slabs as active.)
	[[ $(segments) -le $((slots + 256)) ]] || fail "$(segments) segments allocated for $slots slots"
else
	log_note "no slab of its own for the cache's segments (merged): not counted"
fi

# Memory pressure: reclaiming slab objects (drop_caches 2 runs every
# shrinker) gives the cache's segments back; the data reads the same, from
# the tree, and a block read twice hits again.
[[ $bytes -gt $((budget / 2)) ]] || fail "cache holds only $bytes of $budget bytes before reclaim"
sync
echo 2 >/proc/sys/vm/drop_caches
sleep 1
shrunk=$(disk_status pool-d1 7)
log_note "cache after reclaim: $shrunk bytes (was $bytes)"
[[ $shrunk -lt $((bytes / 4)) ]] || fail "reclaim left $shrunk of $bytes cache bytes"
fio --name=spread --filename="$dev" --direct=1 --ioengine=libaio --iodepth=16 \
	--rw=randwrite --bs=4k --size=$((TiB_sectors * 512)) --io_size=$((32 * MiB)) \
	--randrepeat=1 --randseed=7 --verify=crc32c --verify_only \
	--output=reclaimed.log || { cat reclaimed.log; fail "fio verification after reclaim failed"; }
grep -q "err= 0" reclaimed.log || { cat reclaimed.log; fail "fio reported errors after reclaim"; }
hits0=$(disk_status pool-d1 9)
for again in 1 2; do
	dd if="$dev" of=/dev/null bs=4096 skip=5242877 count=1 iflag=direct status=none
done
[[ $(disk_status pool-d1 9) -gt $hits0 ]] || fail "no hit after reclaim for a block read twice"

# Without a cache: budget 0, no hits, the same data.
log_must dmsetup_remove pool-d1
echo 0 >"$param"
dmsetup_create pool-d1 "0 $TiB_sectors row /dev/mapper/pool 1"
assert_eq "$(disk_status pool-d1 8)" 0 "cache budget with map_cache_mb=0"
fio --name=spread --filename="$dev" --direct=1 --ioengine=libaio --iodepth=16 \
	--rw=randwrite --bs=4k --size=$((TiB_sectors * 512)) --io_size=$((32 * MiB)) \
	--randrepeat=1 --randseed=7 --verify=crc32c --verify_only \
	--output=again.log || { cat again.log; fail "fio verification without a cache failed"; }
assert_eq "$(disk_status pool-d1 9)" 0 "cache hits without a cache"
log_must dmsetup_remove pool-d1
