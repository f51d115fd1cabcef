#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a policy in Europe/Berlin across both changes of the clock: hours, names and counts in local time, the zone kept with the policy, unknown zones refused
#
# 'berlin' (02:00 and 14:00, kept forever) is created with TZ=Europe/Berlin
# and no --timezone: it keeps that zone by name (policy list, the store,
# version 2), and the daemon, run with other zones in its TZ, schedules in
# Berlin's.  An unknown zone is refused with exit 2 by create and modify,
# changing nothing.
#
# Spring: from Saturday 2026-03-28 13:00 CET the daemon runs in virtual
# time to Monday 14:00 CEST.  On Sunday the clock goes from 02:00 CET to
# 03:00 CEST (01:00 UTC): the 02:00 slot is taken once, at the jump, named
# auto_20260329_0300_berlin, holding the data written before it (sha256).
# Five snapshots in all, named and created as Berlin's clock says.
#
# Autumn: from Saturday 2026-10-24 13:30 CEST on vm2.  On Sunday the clock
# goes back from 03:00 CEST to 02:00 CET (01:00 UTC): the 02:00 slot is
# taken once, at its first occurrence (00:00 UTC), not again an hour later.
# Five snapshots again, 14:00 now at 13:00 UTC.
#
# A zone gone from the tz database (TZDIR pointing to a directory without
# it) is an error for the daemon, which takes no snapshot rather than
# UTC's; put back, the slot is taken within its hour.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

snapctl_pool tank
MiB=$((1 << 20))
log_must snapctl disk create tank vm1 --size 16M
log_must snapctl disk create tank vm2 --size 16M
clock_at 2026-03-28T12:00

# --- creation: the system's zone by default, kept by name; unknown zones refused ---
expect_exit 0 env TZ=Europe/Berlin snapctl policy create berlin --hours 2,14 --retention-days forever
out_has "^policy 1 created: berlin, hours 2,14 Europe/Berlin, days mon-sun, kept forever$"
expect_exit 0 snapctl policy create ny --hours 9 --timezone America/New_York
out_has "^policy 2 created: ny, hours 9 America/New_York, "
expect_exit 2 snapctl policy create bad --hours 1 --timezone Europe/Berln
err_has "unknown time zone 'Europe/Berln'"
expect_exit 2 snapctl policy create bad --hours 1 --timezone ../../etc/passwd
err_has "is not a time zone name"
expect_exit 2 env TZ=CET-1CEST,M3.5.0,M10.5.0/3 snapctl policy create bad --hours 1
err_has "the system's time zone has no name in the tz database .*give --timezone"
expect_exit 2 snapctl policy modify ny --timezone America/New_Yrok
err_has "unknown time zone 'America/New_Yrok'"
log_must snapctl policy delete ny
expect_exit 0 snapctl --json policy list
jq -e 'map(.name) == ["berlin"] and .[0].timezone == "Europe/Berlin" and .[0].hours == [2, 14]' \
	"$CMD_OUT" >/dev/null || fail "policies after the refused ones"
store=$SNAPCTL_STATE_DIR/policies
head -1 "$store" | grep -qx "dm-row-policies 2" || fail "a store with a zone is version 2"
grep -q "^policy id=1 name=berlin .* tz=Europe/Berlin$" "$store" || fail "the zone in the store"

log_must snapctl policy apply berlin tank vm1
expect_exit 0 snapctl policy list
out_has "^ +1 +berlin +2,14 +mon-sun +Europe/Berlin +forever +tank/vm1$"

# run_until TIME: the daemon in virtual time, in the zone of the host's TZ
# given (not the policy's); its JSON in $CMD_OUT, no error.
run_until() {
	expect_exit 0 env TZ="$2" snapctl daemon --until "$(epoch "$1")" --json
	jq -e '.errors == 0 and .busy == 0' "$CMD_OUT" >/dev/null || fail "daemon errors until $1"
}

# taken: "name@created" of the last run's snapshots, created as UTC time.
taken() {
	jq -r '[.events[] | select(.action == "snapshot") |
		"\(.snapshot)@\(.time | strftime("%Y-%m-%dT%H:%M"))"] | join(" ")' "$CMD_OUT"
}

# snapshots DISK: "name@created" of the disk's snapshots, oldest first.
snapshots() {
	snapctl --json snapshot list tank "$1" |
		jq -r '[.[] | "\(.name)@\(.created | strftime("%Y-%m-%dT%H:%M"))"] | join(" ")'
}

# --- spring forward: 02:00 does not exist on 2026-03-29 ------------------------------
write_random /dev/mapper/tank-vm1 0 $MiB sat >/dev/null
run_until 2026-03-28T23:30 Asia/Tokyo
assert_eq "$(taken)" "auto_20260328_1400_berlin@2026-03-28T13:00" "Saturday 14:00 CET"
sum=$(write_random /dev/mapper/tank-vm1 0 $MiB sun)
run_until 2026-03-29T01:30 America/Los_Angeles
assert_eq "$(taken)" "auto_20260329_0300_berlin@2026-03-29T01:00" \
	"the 02:00 slot the clock jumps over: once, at the jump, named 03:00"
write_random /dev/mapper/tank-vm1 0 $MiB after >/dev/null
run_until 2026-03-30T12:30 UTC
assert_eq "$(taken)" "auto_20260329_1400_berlin@2026-03-29T12:00 auto_20260330_0200_berlin@2026-03-30T00:00 auto_20260330_1400_berlin@2026-03-30T12:00" \
	"summer time: 02:00 and 14:00 CEST"
assert_eq "$(snapshots vm1)" "auto_20260328_1400_berlin@2026-03-28T13:00 auto_20260329_0300_berlin@2026-03-29T01:00 auto_20260329_1400_berlin@2026-03-29T12:00 auto_20260330_0200_berlin@2026-03-30T00:00 auto_20260330_1400_berlin@2026-03-30T12:00" \
	"vm1 across the spring change: five snapshots"
log_must snapctl snapshot view tank vm1/auto_20260329_0300_berlin
assert_eq "$(sha256_of /dev/mapper/tank-vm1@auto_20260329_0300_berlin 0 $MiB)" "$sum" \
	"data of the snapshot taken at the jump"
log_must snapctl snapshot unview tank vm1/auto_20260329_0300_berlin

# --- fall back: 02:00 comes twice on 2026-10-25 -----------------------------------
log_must snapctl policy cancel tank vm1
clock_at 2026-10-24T11:30
log_must snapctl policy apply berlin tank vm2
run_until 2026-10-25T00:30 Asia/Tokyo
assert_eq "$(taken)" "auto_20261024_1400_berlin@2026-10-24T12:00 auto_20261025_0200_berlin@2026-10-25T00:00" \
	"14:00 CEST, then the first 02:00"
zero=$(sha256_of /dev/mapper/tank-vm2 0 $MiB)
sum=$(write_random /dev/mapper/tank-vm2 0 $MiB between)
run_until 2026-10-25T01:59 America/New_York
assert_eq "$(taken)" "" "the second 02:00 (01:00 UTC) is not taken again"
run_until 2026-10-26T13:30 UTC
assert_eq "$(taken)" "auto_20261025_1400_berlin@2026-10-25T13:00 auto_20261026_0200_berlin@2026-10-26T01:00 auto_20261026_1400_berlin@2026-10-26T13:00" \
	"winter time: 02:00 and 14:00 CET"
assert_eq "$(snapshots vm2)" "auto_20261024_1400_berlin@2026-10-24T12:00 auto_20261025_0200_berlin@2026-10-25T00:00 auto_20261025_1400_berlin@2026-10-25T13:00 auto_20261026_0200_berlin@2026-10-26T01:00 auto_20261026_1400_berlin@2026-10-26T13:00" \
	"vm2 across the autumn change: five snapshots"
for name in auto_20261025_0200_berlin auto_20261025_1400_berlin; do
	log_must snapctl snapshot view tank "vm2/$name"
done
assert_eq "$(sha256_of /dev/mapper/tank-vm2@auto_20261025_0200_berlin 0 $MiB)" "$zero" \
	"data of the 02:00 snapshot: none written yet"
assert_eq "$(sha256_of /dev/mapper/tank-vm2@auto_20261025_1400_berlin 0 $MiB)" "$sum" \
	"data of the 14:00 snapshot: what was written during the repeated hour"
for name in auto_20261025_0200_berlin auto_20261025_1400_berlin; do
	log_must snapctl snapshot unview tank "vm2/$name"
done
assert_eq "$(snapshots vm1 | wc -w)" 5 "vm1, cancelled, took nothing more"

# --- the zone gone from the database: an error, not UTC ------------------------------
export TZDIR=$TEST_TMP/zoneinfo
mkdir -p "$TZDIR/Europe"
clock_at 2026-10-27T01:10
expect_exit 1 snapctl daemon --once
err_has "tank/vm2: policy berlin: unknown time zone Europe/Berlin \(not in $TZDIR\)"
assert_eq "$(snapshots vm2 | wc -w)" 5 "a snapshot taken without the zone"
cp /usr/share/zoneinfo/Europe/Berlin "$TZDIR/Europe/Berlin"
clock_at 2026-10-27T01:20
expect_exit 0 snapctl daemon --once
err_has "took auto_20261027_0200_berlin "
unset TZDIR
exit 0
