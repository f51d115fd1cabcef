#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: concurrent writers, snapshots, deletes, discards, reads and an online grow, replayed to every flush: each flushed write and snapshot is there
# TIMEOUT: 3000
#
# The dm-log-writes set-up of crash/002 (tests/vm/crash/lib.sh), under a
# workload that runs everything at once (tests/vm/crash/rowload.py): three
# writer threads, two on disk 1 and one on disk 2, each owning its own
# blocks, overwrite and discard them in batches, most ended with fsync; a
# reader per disk loops over its blocks with O_DIRECT, so that reads are
# in flight when an overwrite or a discard frees a block, or a snapshot
# delete does; the main thread takes a snapshot every few writes (writes
# in flight), reads every third at once through a view, keeps three per
# disk by deleting the oldest or a middle one (after which the overwrites
# go in place or free the block they replace), and once grows the data
# device: the dm-linear under the pool, then the pool's table, while the
# writers go on.  The pool's data device starts small enough that the
# blocks past its first end are used: the log must show writes there.
#
# Every block written names its disk, block, writer and operation, with a
# checksum of its random contents.  Marks in the log say, per writer, which
# operations may have been issued ("W<w>:I<k>", before a batch) and which
# are durable ("W<w>:D<k>", after its fsync), and when each snapshot,
# delete and the grow were asked for and done.  At every FLUSH/FUA entry
# the replayed pool must load read-write without needs_check (its metadata
# checking clean before), each block of each disk must hold one of the
# operations from the last durable one to the last issuable one (or zeroes
# where that range allows), each snapshot must exist once durable and
# until its deletion was asked for, not before it was asked for nor after
# its deletion, and read exactly what it held when taken.  Under load, the
# reader's blocks and each snapshot's must be consistent with what was
# acknowledged before and issued after the read or snapshot.
#
# The writers make no FUA writes (fsync is an empty flush), so the log has
# no "ambiguous order" overlap (crash/002 explains it).
#
# By default the workload is half as long (below) and states that differ
# only by metadata blocks outside the superblock slots are checked on one
# replay (tests/vm/crash/lib.sh, crash_find_states); every FLUSH/FUA entry
# is still checked, and every kind of step still happens: snapshots read
# and not read at once, deletes of the oldest and of middle ones, discards,
# unflushed batches, the grow and writes past it.  The check can fail:
# with "skip_fsync": true in the configuration the writers mark batches
# durable without fsync, and the test fails naming blocks that lost such a
# write, at either scale.  DMROW_TEST_SCALE=full runs the longer workload
# and replays every state.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/crash/lib.sh"

require_cmd python3
# Full strength (DMROW_TEST_SCALE=full): 240 operations, 14 snapshots, 8
# deleted, about 130 states, on 160 data blocks at first.  By default half
# the operations and a snapshot every 12: about 10 snapshots, oldest and
# middle ones of disk 1 deleted, about 70 states.  Its data device starts
# at 64 blocks: before the grow the writers do at most about 50
# operations (they wait for the snapshots), and after it the pool's
# reserved run of 128 blocks starts where the allocator stood, so that the
# fewer writes after the grow still go past the first end.
if full_scale; then
	batches=10 snap_every=16 data0_blocks=160
else
	batches=5 snap_every=12 data0_blocks=64
fi
DATA0_SECTORS=$((data0_blocks * 8))	# the data device at first
crash_init $((2048 * 8))		# 2048 blocks (8 MiB) once grown
DISK_BLOCKS=256				# 1 MiB disks
DISK_SECTORS=$((DISK_BLOCKS * 8))
ROWLOAD=$DMROW_SRC/tests/vm/crash/rowload.py
state=$TEST_TMP/state.json

seed=$RANDOM
cat >"$TEST_TMP/config.json" <<EOF
{
	"seed": $seed,
	"writers": [[1, 0, 96], [1, 96, 96], [2, 0, 96]],
	"batches": $batches, "batch": 8, "discard_ratio": 0.08, "fsync_ratio": 0.6,
	"snap_every": $snap_every, "snap_disks": [2, 1, 1], "keep": 3, "read_disks": [1, 2],
	"view_every": 3,
	"grow_at": 0.25, "disk_blocks": $DISK_BLOCKS,
	"data_sectors": $DATA_SECTORS, "meta_sectors": $META_SECTORS
}
EOF
log_note "workload seed $seed, $batches batches, a snapshot every $snap_every operations"

# ---------------------------------------------------------------------------
# The logged workload

crash_log_start $DATA0_SECTORS
pool_create pool /dev/mapper/lw-meta /dev/mapper/lw-data
disk_create pool 1 $DISK_SECTORS
disk_create pool 2 $DISK_SECTORS
crash_log_mark setup
log_must python3 "$ROWLOAD" run "$state" "$TEST_TMP/config.json"
dmsetup_remove pool-d2
dmsetup_remove pool-d1
dmsetup_remove pool
crash_log_stop

# ---------------------------------------------------------------------------
# Which states to check

crash_read_log

# The grown part of the data device was written (the grow was exercised).
past=$(awk -v from=$((META_SECTORS + DATA0_SECTORS)) \
	'$1 != "#" && $2 != "MARK" && $4 > 0 && $3 >= from { n++ } END { print n + 0 }' \
	"$TEST_TMP/list")
log_note "$past log entries past the data device's first end"
((past > 0)) || fail "nothing was written past the data device's first end: the grow went unused"

crash_rowload_check "$state"
crash_finish
