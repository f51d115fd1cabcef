#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: first boot of the kill test: writes, snapshots and an export under way when the machine is reset
#
# A ring writer makes O_DSYNC writes to disk a, so each write is durable
# once counted; snapshots of a are taken while it runs, each recorded with
# the count before it was asked for and after it returned.  Meanwhile an
# export of a snapshot of disk b goes to a repository on ext4 on its own
# disk.  Once the export has stored some chunks, the count is recorded and
# the machine is reset at once (sysrq 'b': no sync, no unmount, no
# deactivation), with a snapshot of a taken every second until then.
# kill-boot2.sh checks what the second boot finds.
. "$DMROW_SRC/tests/vm/common.sh"

export SNAPCTL_CONFIG_DIR=$VM_OUTDIR/kill-pools
state=$VM_OUTDIR/kill-state
RING=8192
require_disks 3
require_cmd snapctl
require_cmd mkfs.ext4
rm -rf "$state" "$SNAPCTL_CONFIG_DIR"
mkdir -p "$state"
load_module
zero_dev /dev/vda 16
log_must snapctl pool create tank --metadata /dev/vda --data /dev/vdb --force
log_must snapctl disk create tank a --size 64M
log_must snapctl disk create tank b --size 32M
write_random /dev/mapper/tank-b 0 $((32 << 20)) b-full >"$state/b.sum"
log_must snapctl snapshot create tank b --name full

log_must mkfs.ext4 -q -F /dev/vdc
mkdir -p /tmp/repo
log_must mount /dev/vdc /tmp/repo

progress=$TEST_TMP/progress
echo 0 >"$progress"
dmrow_io seqwrite /dev/mapper/tank-a 0 $RING "$progress" "$TEST_TMP/stop" dsync &
writer=$!
snapctl --json export tank b/full file:///tmp/repo --name b-full --chunk-size 64K --jobs 1 \
	>"$TEST_TMP/export.out" 2>&1 &
exporter=$!

# The exporter is stopped (SIGSTOP) as soon as 32 chunks are stored, so
# that it cannot write its manifest before the reset: a fast export, or
# a slow kernel under the snapshots below (the debug kernel), would
# otherwise let it finish first now and then.  What the reset interrupts
# is the same: an exporter between two objects, its later chunks and its
# manifest never written.  The watcher starts with the exporter, so it
# does not matter how long the snapshots take.
(
	trap - ERR
	set +e
	for ((i = 0; i < 12000; i++)); do
		chunks=$(find /tmp/repo/chunks -type f 2>/dev/null | wc -l)
		if ((chunks >= 32)); then
			kill -STOP $exporter 2>/dev/null || exit 1
			exit 0
		fi
		kill -0 $exporter 2>/dev/null || exit 1
		sleep 0.05
	done
	exit 1
) &
stopper=$!

# Snapshots under the writer: k<i> holds between LO and HI+1 writes (the
# write in flight when HI was read may have been taken).  Besides these,
# a snapshot t<i> is taken every second until the reset, recorded the same
# way once it is made, so that the reset finds snapshots just committed
# and one maybe half made.
(
	t=0
	while :; do
		t=$((t + 1))
		lo=$(<"$progress")
		snapctl snapshot create tank a --name "t$t" >/dev/null || exit 1
		hi=$(<"$progress")
		echo "t$t $lo $((hi + 1))" >>"$state/snapshots"
		sleep 1
	done
) &
ticker=$!
for i in 1 2 3 4 5 6; do
	lo=$(<"$progress")
	log_must snapctl snapshot create tank a --name "k$i"
	hi=$(<"$progress")
	echo "k$i $lo $((hi + 1))" >>"$state/snapshots"
	kill -0 $writer 2>/dev/null || fail "the ring writer stopped"
done

# Reset once the export is well under way (stopped by the watcher above),
# and not finished.
wait $stopper || fail "the export ended before it stored 32 chunks: $(<"$TEST_TMP/export.out")"
kill -0 $exporter 2>/dev/null || fail "the export ended before the reset: $(<"$TEST_TMP/export.out")"
[[ ! -e /tmp/repo/exports/b-full.manifest ]] ||
	fail "the export wrote its manifest before the reset: $(<"$TEST_TMP/export.out")"
chunks=$(find /tmp/repo/chunks -type f 2>/dev/null | wc -l)
kill -0 $writer 2>/dev/null || fail "the ring writer stopped"
kill -0 $ticker 2>/dev/null || fail "the snapshot every second failed"
grep -q '^t' "$state/snapshots" || fail "no snapshot every second was made"
((chunks >= 32)) || fail "the export stored only $chunks chunk files"
echo "$(<"$progress")" >"$state/live-lo"
echo "reset during O_DSYNC writes to a, after $(wc -l <"$state/snapshots") snapshots, with $chunks of 512 chunks exported" \
	>"$VM_OUTDIR/cmd-reset"
log_note "resetting: $(<"$VM_OUTDIR/cmd-reset"); $(<"$state/live-lo") writes counted"
echo b >/proc/sysrq-trigger
sleep 60
fail "the machine did not reset"
