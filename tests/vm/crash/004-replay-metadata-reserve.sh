#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a write burst after a snapshot that runs a 512 KiB metadata device down to its reserve, replayed to every flush: the pool loads clean and holds every flushed write and the snapshot
# TIMEOUT: 900
#
# The dm-log-writes set-up of crash/002 (tests/vm/crash/lib.sh), with 512
# KiB (128 blocks) of metadata, under the burst of pool/009: the I/O path
# keeps the metadata reserve between commits (dm-row-pool.c, "Metadata
# between commits").  It refuses to map a batch of written blocks that
# could take the reserve, commits (data flushed, then metadata), tries
# again, and when nothing fits right after a commit it fails the writes
# with ENOSPC and the pool goes read-only with metadata_low.  Those
# commits, in the middle of a write burst, are flush points like any
# other, and the pool must be whole at each.
#
# The workload (tests/vm/crash/rowload.py burst): one writer fills the
# first 127 blocks of each 512 KiB region of a 14 MiB disk (about 30
# half-full mapping leaves, which leave the metadata about 25 blocks above
# its reserve of 64) and fsyncs; a snapshot then shares every leaf; four
# writer threads write the last block of each region, one region after
# another, in batches of two each ended by fsync, so that each write
# copies a leaf, until the pool refuses one with ENOSPC (about half way).
# A writer refused stops after an fsync of what it had acknowledged.  The
# live run must end with a write refused with ENOSPC and the pool
# read-only with metadata_low, without needs_check: the refusal path was
# taken (with the metadata at or above its reserve, it was the I/O path
# that gave up, not a commit that found it low).  The log has about 30
# distinct states, checked in about 20 replays (states that differ only by
# metadata blocks outside the superblock slots share one: see
# tests/vm/crash/lib.sh; DMROW_TEST_SCALE=full replays each); the test
# takes one to two minutes under emulation on a busy host.
#
# At every FLUSH/FUA entry of the log the replayed pool must load
# read-write, or read-only with metadata_low (CRASH_METADATA_LOW_OK),
# never with needs_check, its metadata checking clean before; every block
# of the disk must hold its last write made durable by a completed fsync
# or a later write issued before that entry, zeroes only before its first
# write, never a refused write nor anything else (every block names its
# disk, block, writer and write, with a checksum of its random rest); the
# snapshot must exist once its message was answered and read exactly the
# fill.  The checks are those of crash/003 (rowload.py checker).

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/crash/lib.sh"

require_cmd python3
REGION=128				# blocks: 512 KiB, about a leaf once filled
REGIONS=28
DISK_BLOCKS=$((REGION * REGIONS))	# 14 MiB
DISK_SECTORS=$((DISK_BLOCKS * 8))
crash_init $((32 * 2048)) 1024		# 32 MiB of data, 512 KiB of metadata
ROWLOAD=$DMROW_SRC/tests/vm/crash/rowload.py
state=$TEST_TMP/state.json

cat >"$TEST_TMP/config.json" <<EOF
{
	"disk": 1, "region": $REGION, "regions": $REGIONS, "disk_blocks": $DISK_BLOCKS,
	"writers": 4, "batch": 2
}
EOF

# ---------------------------------------------------------------------------
# The logged workload

crash_log_start
pool_create pool /dev/mapper/lw-meta /dev/mapper/lw-data
disk_create pool 1 $DISK_SECTORS
crash_log_mark setup
log_must python3 "$ROWLOAD" burst "$state" "$TEST_TMP/config.json"

# The burst went the reserve's way: a write refused with ENOSPC, the pool
# read-only with metadata_low (not failed, not needing a check).
read -r acked refused < <(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(s["acked"], s["refused"])' "$state")
log_note "burst: $acked writes acknowledged, $refused writer(s) refused with ENOSPC"
((${refused:-0} > 0)) || fail "no write of the burst was refused with ENOSPC: the reserve was not reached"
((${acked:-0} > 0)) || fail "no write of the burst was acknowledged"
assert_eq "$(pool_status_field pool 4)" ro "mode after the burst"
assert_eq "$(pool_status_field pool 5)" - "needs_check after the burst"
assert_eq "$(pool_status_field pool 7)" metadata_low "metadata_low after the burst"
kernel_log_has "row-pool: .*metadata space low" || fail "the pool did not log that metadata ran low"
# A commit finds metadata_low only below the reserve (dmrow_metadata_reserve():
# 1/64 of the device, at least 64 blocks); at or above it, the I/O path
# gave up right after a commit.
IFS=/ read -r used total <<<"$(pool_status_field pool 2)"
reserve=$((total / 64 > 64 ? total / 64 : 64))
log_note "metadata: $((total - used)) of $total blocks free, reserve $reserve"
(((total - used) >= reserve)) ||
	fail "metadata_low below the reserve: the I/O path did not keep it, or did not give up first"

dmsetup_remove pool-d1
dmsetup_remove pool
crash_log_stop

# ---------------------------------------------------------------------------
# Which states to check, replay and check

crash_read_log

CRASH_METADATA_LOW_OK=1
crash_rowload_check "$state"
crash_finish
