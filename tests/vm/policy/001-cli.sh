#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapctl policy verbs and daemon: contract, validation, create, list and modify
#
# Every 'snapctl policy' verb and 'snapctl daemon' answer --help and refuse
# an unknown option and a missing argument with exit 2; bad hours, days,
# retention and names are usage errors; an unknown policy, pool or disk is
# exit 3; a taken name is exit 1; nothing refused changes a disk.  A new
# policy defaults to every day and 30 days, numbers are not reused, and
# 'policy list' (table and --json, field by field) shows what create and
# modify made.  A retention of 0 is forever, and shown as forever.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

snapctl_pool tank
log_must snapctl disk create tank vm1 --size 16M
clock_at 2026-03-02T10:30
export TZ=UTC		# the zone of the policies made without --timezone

# disk_policy DISK: the policy number in the kernel's record of the disk.
disk_policy() {
	local id
	id=$(snapctl --json disk list tank | jq -r --arg n "$1" '.[] | select(.name == $n) | .id')
	pool_msg tank info disk "$id" | tr ' ' '\n' | sed -n 's/^policy=//p'
}

# --- contract -----------------------------------------------------------------
log_must snapctl policy create c --hours 1
snapctl_contract "policy create" d --hours 1
snapctl_contract "policy list"
snapctl_contract "policy modify" c --hours 2
snapctl_contract "policy delete" c
snapctl_contract "policy apply" c tank vm1
snapctl_contract "policy cancel" tank vm1
snapctl_contract "daemon" --once

expect_exit 2 snapctl policy create
expect_exit 2 snapctl policy create p
err_has "--hours is needed"
expect_exit 2 snapctl policy create p --hours
err_has "option '--hours' needs a value"
for bad in 24 "1," 5-3; do
	expect_exit 2 snapctl policy create p --hours "$bad"
	err_has "--hours takes hours of 0..23"
done
for bad in 0 mo 1-8; do
	expect_exit 2 snapctl policy create p --hours 1 --weekdays "$bad"
	err_has "--weekdays takes days"
done
for bad in 65537 -1 always 7d; do
	expect_exit 2 snapctl policy create p --hours 1 --retention-days "$bad"
	err_has "--retention-days takes 1..65536 or 'forever' \(or 0\), not '$bad'"
done
for bad in 9am .x 123456789012345678901234567890123; do
	expect_exit 2 snapctl policy create "$bad" --hours 1
	err_has "not a valid policy name"
done
expect_exit 2 snapctl policy create p q --hours 1
expect_exit 2 snapctl policy modify c
err_has "nothing to change"
expect_exit 2 snapctl policy apply c tank
expect_exit 2 snapctl policy cancel tank
expect_exit 2 snapctl daemon --once --until 2026-04-01
expect_exit 2 snapctl daemon --interval 0
expect_exit 2 snapctl daemon --json
err_has "--json needs --once or --until"
expect_exit 1 snapctl policy create c --hours 5
err_has "a policy named 'c' exists already"
expect_exit 3 snapctl policy modify nosuch --hours 1
err_has "no policy 'nosuch'"
expect_exit 3 snapctl policy delete nosuch
expect_exit 3 snapctl policy apply nosuch tank vm1
expect_exit 3 snapctl policy apply c nopool vm1
expect_exit 3 snapctl policy apply c tank nodisk
err_has "no disk 'nodisk'"
assert_eq "$(disk_policy vm1)" 0 "a refused apply set a policy"
log_must snapctl policy delete c

# --- create, list, modify ----------------------------------------------------
expect_exit 0 snapctl --json policy create daily --hours 2,14
jq -e '.id == 2 and .name == "daily" and .hours == [2, 14] and
	.weekdays == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] and
	.timezone == "UTC" and .retention_days == 30 and .forever == false' "$CMD_OUT" ||
	fail "defaults of a new policy: every day, the system's zone, 30 days (numbers are not reused: 2)"
expect_exit 0 snapctl policy create office --hours 8-18 --weekdays mon-fri --retention-days forever
out_has "^policy 3 created: office, hours 8-18 UTC, days mon-fri, kept forever$"
expect_exit 0 snapctl policy modify office --weekdays 1,3,7 --retention-days 65536 --name office2
expect_exit 0 snapctl --json policy list
jq -e 'length == 2 and .[1].name == "office2" and .[1].hours == [8,9,10,11,12,13,14,15,16,17,18] and
	.[1].weekdays == ["mon", "wed", "sun"] and .[1].retention_days == 65536 and
	.[1].created == 1772447400 and (.[0].disks | length) == 0' "$CMD_OUT" || fail "policy list --json after modify"
expect_exit 0 snapctl policy list
out_has "^ID +NAME +HOURS +WEEKDAYS +TIME ZONE +RETENTION +DISKS$"
out_has "^ +3 +office2 +8-18 +mon,wed,sun +UTC +65536d +-$"
# 0 is forever, as for 'snapshot create'; it is shown as forever.
expect_exit 0 snapctl policy modify daily --retention-days 0
out_has "^policy 2 modified: daily, .*, kept forever$"
expect_exit 0 snapctl policy list
out_has "^ +2 +daily +2,14 +mon-sun +UTC +forever +-$"

exit 0
