#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: second boot of the kill test: the pool reopens clean with every durable write and snapshot, and the export resumes
#
# The metadata checks clean as the reset left it.  Disk a holds exactly
# the first S ring writes, S at least the count recorded before the reset
# (every counted write was O_DSYNC); each recorded snapshot exists and
# holds a prefix within its window.  The interrupted export is listed as
# such, completes when run again without sending what the first boot
# stored, verifies, and restores into a new disk equal to its source.
. "$DMROW_SRC/tests/vm/common.sh"

export SNAPCTL_CONFIG_DIR=$VM_OUTDIR/kill-pools
state=$VM_OUTDIR/kill-state
RING=8192
[[ -s $state/live-lo ]] || fail "the first boot left no record"
load_module
expect_exit 0 snapctl check /dev/vda
log_must snapctl pool activate tank

live_lo=$(<"$state/live-lo")
expect_exit 0 dmrow_io seqcheck "/dev/mapper/tank-a:0:$RING:$live_lo:$((live_lo + RING))"
log_note "$(<"$CMD_OUT")"
while read -r name lo hi; do
	log_must snapctl snapshot view tank "a/$name"
	expect_exit 0 dmrow_io seqcheck "/dev/mapper/tank-a@$name:0:$RING:$lo:$hi"
	log_note "$(<"$CMD_OUT")"
	log_must snapctl snapshot unview tank "a/$name"
done <"$state/snapshots"

# ext4 replays its journal; the export left no manifest and is interrupted.
mkdir -p /tmp/repo
log_must mount /dev/vdc /tmp/repo
on_exit "umount /tmp/repo"
expect_exit 0 snapctl --json export list file:///tmp/repo
jq -e '. == [{"name": "b-full", "complete": false}]' "$CMD_OUT" ||
	fail "the interrupted export is not listed as such: $(<"$CMD_OUT")"
expect_exit 0 snapctl --json export tank b/full file:///tmp/repo --name b-full --chunk-size 64K --jobs 2
jq -e '.read_chunks == 512 and .transfer.already_stored_chunks >= 1 and
	.transfer.uploaded_chunks + .transfer.already_stored_chunks + .transfer.zero_chunks ==
		.read_chunks' "$CMD_OUT" || fail "the resumed export: $(<"$CMD_OUT")"
log_note "resumed export: $(jq -c .transfer "$CMD_OUT")"
expect_exit 0 snapctl export verify file:///tmp/repo b-full
expect_exit 0 snapctl import file:///tmp/repo b-full tank restored
assert_eq "$(sha256_of /dev/mapper/tank-restored 0 $((32 << 20)))" "$(<"$state/b.sum")" \
	"the restored export"

log_must snapctl pool deactivate tank
expect_exit 0 snapctl check /dev/vda
echo "kill test: verified"
