#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: quota eviction of the oldest automatic snapshots, retention changes for new snapshots only, expiry, delete and modify, removal with the disk
#
# In virtual time (fake clock, 'snapctl daemon --until'):
# - with an automatic quota of 3, an hourly policy's 4th and 5th snapshots
#   evict the two oldest automatic ones (the daemon reports each, by name),
#   never the manual snapshot; a surviving one holds its data (sha256);
# - changing the policy's retention from 2 days to 1 applies to the next
#   snapshot only; snapshots expire the second their retention ends, a
#   manual one with --retention-days too, one without never;
# - a deleted policy takes no more snapshots, and the ones it took keep
#   their retention; new hours and a new name apply from the next slot;
# - a disk removed with --delete-auto-snapshots yes loses its automatic
#   snapshots, keeps its manual one, and its policy takes nothing more.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

snapctl_pool tank
MiB=$((1 << 20))
log_must snapctl disk create tank vm1 --size 16M
log_must snapctl disk create tank vm2 --size 16M
export TZ=UTC
clock_at 2026-03-02T00:30

# run_until TIME: the daemon in virtual time; its JSON in $CMD_OUT.
run_until() {
	expect_exit 0 snapctl daemon --until "$(epoch "$1")" --json
	jq -e '.errors == 0' "$CMD_OUT" >/dev/null || fail "daemon errors until $1"
}

# events ACTION: the snapshot names of the last run's events of ACTION.
events() {
	jq -r --arg a "$1" '[.events[] | select(.action == $a) | .snapshot] | join(" ")' "$CMD_OUT"
}

# names DISK: the disk's snapshots, oldest first.
names() {
	snapctl --json snapshot list tank "$1" | jq -r '[.[].name] | join(" ")'
}

# retention_days DISK NAME: its retention_until - created, in days (or "forever").
retention_days() {
	snapctl --json snapshot info tank "$1/$2" |
		jq -r 'if .retention_until == 0 then "forever" else (.retention_until - .created) / 86400 end'
}

# --- quota eviction --------------------------------------------------------------
log_must snapctl pool quota tank --auto 3
log_must snapctl snapshot create tank vm1 --name m0
log_must snapctl policy create hourly --hours all --retention-days 2
log_must snapctl policy apply hourly tank vm1
write_random /dev/mapper/tank-vm1 0 $MiB 1 >/dev/null
run_until 2026-03-02T02:30
assert_eq "$(events snapshot)" "auto_20260302_0100_hourly auto_20260302_0200_hourly" "first two hours"
sum_b=$(write_random /dev/mapper/tank-vm1 0 $MiB 2)
run_until 2026-03-02T05:30
assert_eq "$(events snapshot)" "auto_20260302_0300_hourly auto_20260302_0400_hourly auto_20260302_0500_hourly" \
	"hours 3 to 5"
assert_eq "$(events evict)" "auto_20260302_0100_hourly auto_20260302_0200_hourly" \
	"the oldest automatic snapshots are evicted, reported by name"
jq -e '[.events[] | select(.action == "evict")] | all(.message | test("automatic quota \\(3\\) reached"))' \
	"$CMD_OUT" >/dev/null || fail "eviction message"
assert_eq "$(names vm1)" "m0 auto_20260302_0300_hourly auto_20260302_0400_hourly auto_20260302_0500_hourly" \
	"the manual snapshot is never evicted"
log_must snapctl snapshot view tank vm1/auto_20260302_0300_hourly
assert_eq "$(sha256_of /dev/mapper/tank-vm1@auto_20260302_0300_hourly 0 $MiB)" "$sum_b" "data of an automatic snapshot"
log_must snapctl snapshot unview tank vm1/auto_20260302_0300_hourly

# --- a new retention applies to new snapshots only ------------------------------------
log_must snapctl pool quota tank --auto 256
log_must snapctl policy modify hourly --retention-days 1
run_until 2026-03-02T06:30
assert_eq "$(events snapshot)" "auto_20260302_0600_hourly" "hour 6"
assert_eq "$(retention_days vm1 auto_20260302_0500_hourly)" 2 "retention of a snapshot taken before the change"
assert_eq "$(retention_days vm1 auto_20260302_0600_hourly)" 1 "retention of a snapshot taken after the change"
log_must snapctl snapshot create tank vm1 --name mr --retention-days 1
log_must snapctl snapshot create tank vm1 --name mkeep
assert_eq "$(retention_days vm1 mkeep)" forever "a manual snapshot without retention"

# --- delete: no more snapshots; retention still applies --------------------------------
expect_exit 0 snapctl policy delete hourly
out_has "^cancelled on tank/vm1$"
run_until 2026-03-03T05:59
assert_eq "$(events snapshot)" "" "a deleted policy took a snapshot"
assert_eq "$(events expire)" "" "expired before its time"
run_until 2026-03-03T06:30
assert_eq "$(events expire)" "auto_20260302_0600_hourly mr" "expiry the second retention ends (automatic and manual)"
run_until 2026-03-04T04:30
assert_eq "$(events expire)" "auto_20260302_0300_hourly auto_20260302_0400_hourly" "the 2-day snapshots"
assert_eq "$(names vm1)" "m0 auto_20260302_0500_hourly mkeep" "what is left on vm1"

# --- modify hours and name: from the next slot ------------------------------------------
log_must snapctl policy create p2 --hours 1 --retention-days 5
log_must snapctl policy apply p2 tank vm2
log_must snapctl policy modify p2 --hours 3
run_until 2026-03-05T04:30
assert_eq "$(names vm2)" "auto_20260305_0300_p2" "new hours"
assert_eq "$(events expire)" "auto_20260302_0500_hourly" "the last 2-day snapshot"
assert_eq "$(names vm1)" "m0 mkeep" "what is left on vm1"
log_must snapctl policy modify p2 --name p3
run_until 2026-03-06T04:30
assert_eq "$(names vm2)" "auto_20260305_0300_p2 auto_20260306_0300_p3" "new name"

# --- removal with the disk ---------------------------------------------------------------
log_must snapctl snapshot create tank vm2 --name keepme
log_must snapctl disk set tank vm2 --delete-auto-snapshots yes
log_must snapctl disk remove tank vm2 --yes
assert_eq "$(names vm2)" "keepme" "automatic snapshots deleted with the disk, the manual one kept"
run_until 2026-03-07T04:30
assert_eq "$(events snapshot)" "" "a removed disk's policy took a snapshot"
assert_eq "$(names vm2)" "keepme" "the removed disk's snapshots"
exit 0
