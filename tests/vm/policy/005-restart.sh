#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: the daemon on a fake clock: one instance, SIGTERM and SIGHUP, restarts never take a slot twice, missed and late slots
#
# 'snapctl daemon' runs in the background on a fake clock file.  A second
# daemon is refused (exit 4, naming the first one's pid).  At 10:00 it
# takes auto_20260302_1000_h, holding the data written before (sha256).
# SIGHUP does not stop it; SIGTERM stops it with exit 0.  Started
# again in the same hour it takes nothing more; nor when the store is put
# back as it was before the slot was recorded (a crash between the
# snapshot and the store update): it finds the snapshot and says so.
# Stopped over 11:00 and started at 12:30, it reports the 11:00 slot as
# missed and takes nothing for it; started at 14:40, it still takes the
# 14:00 slot (late, within its hour).

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

snapctl_pool tank
MiB=$((1 << 20))
log_must snapctl disk create tank vm1 --size 16M
clock_at 2026-03-02T09:30
export TZ=UTC		# the zone of the policies made without --timezone
log_must snapctl policy create h --hours 10,11,14 --retention-days forever
log_must snapctl policy apply h tank vm1
store=$SNAPCTL_STATE_DIR/policies
cp "$store" "$TEST_TMP/store-before"

names() {
	snapctl --json snapshot list tank vm1 | jq -r '[.[].name] | join(" ")'
}

daemon_start
expect_exit 4 snapctl daemon --once
err_has "another snapctl daemon is running \(pid $DAEMON_PID\)"

sum=$(write_random /dev/mapper/tank-vm1 0 $MiB 10)
clock_at 2026-03-02T10:00
wait_log "tank/vm1: took auto_20260302_1000_h \(id [0-9]+, policy h, kept forever\)"
write_random /dev/mapper/tank-vm1 0 $MiB 11 >/dev/null
log_must snapctl snapshot view tank vm1/auto_20260302_1000_h
assert_eq "$(sha256_of /dev/mapper/tank-vm1@auto_20260302_1000_h 0 $MiB)" "$sum" "data of the 10:00 snapshot"
log_must snapctl snapshot unview tank vm1/auto_20260302_1000_h
clock_at 2026-03-02T10:20
kill -HUP "$DAEMON_PID"
wait_log "SIGHUP"
sleep 1
kill -0 "$DAEMON_PID" || fail "SIGHUP stopped the daemon"
daemon_stop
wait_log "stopped \(SIGTERM\)"

# Restart in the same hour: nothing more.
daemon_start
sleep 2
assert_eq "$(names)" "auto_20260302_1000_h" "a restarted daemon took the slot again"
daemon_stop

# The store as before the slot was recorded: the chain says it is taken.
cp "$TEST_TMP/store-before" "$store"
daemon_start
wait_log "tank/vm1: slot 2026-03-02 10:00:00 of policy h was taken already \(snapshot auto_20260302_1000_h"
sleep 1
assert_eq "$(names)" "auto_20260302_1000_h" "the slot was taken twice after a lost store update"
grep -Eq "disk=1 policy=1 applied=[0-9]+ last_slot=$(epoch 2026-03-02T10:00)( |\$)" "$store" ||
	fail "the slot found taken is not recorded in the store"
daemon_stop

# Stopped over 11:00: missed, not made up for; 14:00 is taken late.
clock_at 2026-03-02T12:30
daemon_start
wait_log "tank/vm1: missed slot 2026-03-02 11:00:00 of policy h"
sleep 1
daemon_stop
clock_at 2026-03-02T14:40
daemon_start
wait_log "took auto_20260302_1400_h"
daemon_stop
assert_eq "$(names)" "auto_20260302_1000_h auto_20260302_1400_h" "slots taken"
snapctl --json snapshot info tank vm1/auto_20260302_1400_h >"$TEST_TMP/late.json"
jq -e --argjson t "$(epoch 2026-03-02T14:40)" '.created == $t' "$TEST_TMP/late.json" ||
	fail "a late snapshot records when it was taken"
assert_eq "$(log_count "took auto_")" 2 "snapshots the daemons logged"
exit 0
