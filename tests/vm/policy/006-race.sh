#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: manual and automatic snapshots of one disk never run at once: the shared per-disk lock, both ways, and under a race
#
# The per-disk lock (SNAPCTL_RUN_DIR/locks/<pool>.<disk>.lock) is shared by
# 'snapctl snapshot create' and the daemon:
# - held as during an automatic snapshot (flock(1), with the holder's line),
#   a manual snapshot fails at once with --wait 0 (exit 4, naming the
#   holder) and, given time, waits (saying for whom), takes nothing while
#   the lock is held, and succeeds once it is released;
# - held, 'daemon --once' takes no automatic snapshot (exit 4, a busy
#   event), and takes it at the next pass once released;
# - a manual snapshot whose pre-hook waits holds the lock: the running
#   daemon, at its slot, waits for it (and says for whom) and snapshots
#   after it;
# - manual snapshots started together with the clock's move to each of
#   three slots all succeed, every slot is taken once, and both snapshots
#   of each round hold the data written before it (sha256).

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq flock
load_module

snapctl_pool tank
MiB=$((1 << 20))
log_must snapctl disk create tank vm1 --size 16M
clock_at 2026-03-02T09:30
export TZ=UTC		# the zone of the policies made without --timezone
log_must snapctl policy create h --hours all --retention-days forever
log_must snapctl policy apply h tank vm1
lock=$SNAPCTL_RUN_DIR/locks/tank.1.lock
mkdir -p "$SNAPCTL_RUN_DIR/locks"

names() {
	snapctl --json snapshot list tank vm1 | jq -r '[.[].name] | join(" ")'
}

# hold_lock: hold vm1's lock in the background, as a snapshot would, until
# release_lock.  (No fixed sleeps: under emulation a command may take seconds.)
hold_lock() {
	rm -f "$TEST_TMP/held" "$TEST_TMP/release"
	(
		exec 9<>"$lock"
		flock 9
		echo "pid $BASHPID: automatic snapshot auto_test" >"$lock"
		touch "$TEST_TMP/held"
		while [[ ! -e $TEST_TMP/release ]]; do sleep 0.05; done
	) &
	HOLDER=$!
	while [[ ! -e $TEST_TMP/held ]]; do sleep 0.05; done
}

release_lock() {
	touch "$TEST_TMP/release"
	wait "$HOLDER"
}

# wait_file_has FILE REGEX PID: wait for a line in FILE while PID lives.
wait_file_has() {
	until grep -Eq -- "$2" "$1"; do
		kill -0 "$3" 2>/dev/null || fail "gone before '$2' in $1: $(cat "$1")"
		sleep 0.1
	done
}

# --- a manual snapshot while the lock is held --------------------------------------
hold_lock
expect_exit 4 snapctl snapshot create tank vm1 --name m1 --wait 0
err_has "^snapctl: disk vm1 is busy with another snapshot operation \(pid $HOLDER: automatic snapshot auto_test\); try again when it is done$"
snapctl snapshot create tank vm1 --name m2 --wait 120 >"$TEST_TMP/m2.out" 2>"$TEST_TMP/m2.err" &
manual=$!
wait_file_has "$TEST_TMP/m2.err" "^snapctl: disk vm1 is busy \(pid $HOLDER: automatic snapshot auto_test\); waiting up to 120 s$" "$manual"
assert_eq "$(names)" "" "a manual snapshot went ahead on a locked disk"
release_lock
wait "$manual" || fail "the waiting manual snapshot failed: $(cat "$TEST_TMP/m2.err")"
assert_eq "$(names)" "m2" "snapshots after the refused and the waiting manual snapshot"

# --- the daemon while the lock is held --------------------------------------------------
hold_lock
clock_at 2026-03-02T10:00
expect_exit 4 snapctl daemon --once --lock-timeout 0.5 --json
jq -e '.busy == 1 and .errors == 0 and ([.events[] | select(.action == "snapshot")] | length) == 0 and
	([.events[] | select(.action == "busy")][0].message | test("pid [0-9]+: automatic snapshot auto_test"))' \
	"$CMD_OUT" || fail "a busy disk in daemon --once"
assert_eq "$(names)" "m2" "the daemon snapshotted a locked disk"
release_lock
clock_at 2026-03-02T10:10
expect_exit 0 snapctl daemon --once
err_has "tank/vm1: took auto_20260302_1000_h"

# --- a slow manual snapshot holds the lock; the daemon waits for it ------------------------
daemon_start --lock-timeout 120
rm -f "$TEST_TMP/in-hook" "$TEST_TMP/go"
snapctl snapshot create tank vm1 --name slow \
	--pre-hook "touch $TEST_TMP/in-hook; while [ ! -e $TEST_TMP/go ]; do sleep 0.05; done" \
	>"$TEST_TMP/slow.out" 2>&1 &
manual=$!
while [[ ! -e $TEST_TMP/in-hook ]]; do sleep 0.05; done
clock_at 2026-03-02T11:00
wait_log "tank/vm1: busy \(pid $manual: manual snapshot of vm1\); waiting"
assert_eq "$(names)" "m2 auto_20260302_1000_h" "the daemon snapshotted a disk a manual snapshot holds"
touch "$TEST_TMP/go"
wait "$manual" || fail "the slow manual snapshot failed: $(cat "$TEST_TMP/slow.out")"
wait_log "took auto_20260302_1100_h"
assert_eq "$(names)" "m2 auto_20260302_1000_h slow auto_20260302_1100_h" \
	"the automatic snapshot came after the manual one it waited for"

# --- racing at each slot ------------------------------------------------------------------
declare -a sums
for round in 1 2 3; do
	hour=$((11 + round))
	sums[round]=$(write_random /dev/mapper/tank-vm1 0 $MiB "race$round")
	snapctl snapshot create tank vm1 --name "r$round" >"$TEST_TMP/r$round.out" 2>&1 &
	manual=$!
	clock_at "2026-03-02T$hour:00"
	wait "$manual" || fail "manual snapshot r$round failed: $(cat "$TEST_TMP/r$round.out")"
	wait_log "took auto_20260302_${hour}00_h"
done
daemon_stop
assert_eq "$(log_count "took auto_")" 4 "automatic snapshots the daemon took"
assert_eq "$(log_count "error|failed")" 0 "errors in the daemon's log"
for round in 1 2 3; do
	hour=$((11 + round))
	for snap in "r$round" "auto_20260302_${hour}00_h"; do
		log_must snapctl snapshot view tank "vm1/$snap"
		assert_eq "$(sha256_of "/dev/mapper/tank-vm1@$snap" 0 $MiB)" "${sums[round]}" "data of $snap"
		log_must snapctl snapshot unview tank "vm1/$snap"
	done
done
assert_eq "$(snapctl --json snapshot list tank vm1 | jq '[.[] | select(.kind == "auto")] | length')" 5 \
	"each slot taken once"
exit 0
