#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapctl policy verbs and daemon: contract, validation, apply/cancel/replace, delete cancels, damaged store
#
# Every 'snapctl policy' verb and 'snapctl daemon' answer --help and refuse
# an unknown option and a missing argument with exit 2; bad hours, days,
# retention and names are usage errors; an unknown policy, pool or disk is
# exit 3; a taken name is exit 1.  'policy list --json' is checked field by
# field.  apply sets the disk's policy in the pool's metadata (the kernel's
# disk record), applying another one replaces it (one policy per disk),
# cancel clears it, delete cancels it on every disk.  The store is the
# documented text with a checksum: a damaged one (a changed byte, a cut)
# is refused with exit 7 by every verb and the daemon, naming the file; a
# stale temporary file of a writer that died changes nothing.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

snapctl_pool tank
log_must snapctl disk create tank vm1 --size 16M
log_must snapctl disk create tank vm2 --size 16M
clock_at 2026-03-02T10:30

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
for bad in 0 65537 always; do
	expect_exit 2 snapctl policy create p --hours 1 --retention-days "$bad"
	err_has "--retention-days takes 1..65536 or 'forever'"
done
for bad in 9am .x a/b 123456789012345678901234567890123; do
	expect_exit 2 snapctl policy create "$bad" --hours 1
	err_has "not a valid policy name"
done
expect_exit 2 snapctl policy create p q --hours 1
expect_exit 2 snapctl policy modify c
err_has "nothing to change"
expect_exit 2 snapctl policy modify
expect_exit 2 snapctl policy delete
expect_exit 2 snapctl policy apply c tank
expect_exit 2 snapctl policy cancel tank
expect_exit 2 snapctl daemon --once --until 2026-04-01
expect_exit 2 snapctl daemon --until tomorrow
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
expect_exit 3 snapctl policy cancel tank nodisk
assert_eq "$(disk_policy vm1)" 0 "a refused apply set a policy"
log_must snapctl policy delete c

# --- create, list, modify ----------------------------------------------------
expect_exit 0 snapctl --json policy create daily --hours 2,14
jq -e '.id == 2 and .name == "daily" and .hours == [2, 14] and
	.weekdays == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] and
	.retention_days == 30 and .forever == false' "$CMD_OUT" ||
	fail "defaults of a new policy: every day, 30 days (numbers are not reused: 2)"
expect_exit 0 snapctl policy create office --hours 8-18 --weekdays mon-fri --retention-days forever
out_has "^policy 3 created: office, hours 8-18 UTC, days mon-fri, kept forever$"
expect_exit 0 snapctl policy modify office --weekdays 1,3,7 --retention-days 65536 --name office2
expect_exit 0 snapctl --json policy list
jq -e 'length == 2 and .[1].name == "office2" and .[1].hours == [8,9,10,11,12,13,14,15,16,17,18] and
	.[1].weekdays == ["mon", "wed", "sun"] and .[1].retention_days == 65536 and
	.[1].created == 1772447400 and (.[0].disks | length) == 0' "$CMD_OUT" || fail "policy list --json after modify"
expect_exit 0 snapctl policy list
out_has "^ID +NAME +HOURS \(UTC\) +WEEKDAYS +RETENTION +DISKS$"
out_has "^ +3 +office2 +8-18 +mon,wed,sun +65536d +-$"

# --- apply, replace, cancel, delete ----------------------------------------------
expect_exit 0 snapctl policy apply daily tank vm1 vm2
out_has "^disk vm1: policy daily applied$"
assert_eq "$(disk_policy vm1)" 2 "policy of vm1 in the kernel's disk record"
assert_eq "$(disk_policy vm2)" 2 "policy of vm2"
expect_exit 0 snapctl policy apply daily tank vm1
out_has "applies already"
expect_exit 0 snapctl policy apply office2 tank vm2
out_has "^disk vm2: policy daily replaced by office2$"
assert_eq "$(disk_policy vm2)" 3 "one policy per disk: the new one replaces the old"
expect_exit 0 snapctl --json policy list
jq -e '(.[0].disks | map(.disk)) == ["vm1"] and (.[1].disks | map(.disk)) == ["vm2"] and
	.[1].disks[0].pool == "tank"' "$CMD_OUT" || fail "disks of each policy"
grep -Eq '^disk pool=tank uuid=[-0-9a-f]+ disk=1 policy=2 applied=1772447400 last_slot=0$' \
	"$SNAPCTL_STATE_DIR/policies" || fail "the store's record of vm1"
expect_exit 0 snapctl policy cancel tank vm2
assert_eq "$(disk_policy vm2)" 0 "cancel clears the disk's policy"
expect_exit 0 snapctl policy cancel tank vm2
out_has "has no policy"
log_must snapctl policy apply office2 tank vm2
expect_exit 0 snapctl policy delete daily
out_has "^cancelled on tank/vm1$"
out_has "^policy 2 deleted: daily \(cancelled on 1 disk\)$"
assert_eq "$(disk_policy vm1)" 0 "deleting a policy cancels it on its disks"
assert_eq "$(disk_policy vm2)" 3 "another policy's disk keeps it"
grep -q "policy=2" "$SNAPCTL_STATE_DIR/policies" && fail "the deleted policy's disk record stayed"

# A policy deleted while a pool was not active: the daemon cancels it there.
log_must snapctl policy create gone --hours 3
log_must pool_msg tank set_disk 1 policy=4
log_must snapctl policy delete gone
assert_eq "$(disk_policy vm1)" 4 "test setup: the disk still names the deleted policy"
expect_exit 0 snapctl daemon --once
err_has "tank/vm1: policy 4 no longer exists: cancelled"
assert_eq "$(disk_policy vm1)" 0 "the daemon cancels a deleted policy"

# --- the store: damage and crashes --------------------------------------------------
store=$SNAPCTL_STATE_DIR/policies
head -1 "$store" | grep -qx "dm-row-policies 1" || fail "store header"
tail -1 "$store" | grep -Eqx "crc32c=[0-9a-f]{8}" || fail "store checksum line"
cp "$store" "$TEST_TMP/good"
sed -i 's/hours=8-18/hours=8-19/' "$store"
for verb in "policy list" "policy create x --hours 1" "policy modify office2 --hours 1" \
	"policy delete office2" "policy apply office2 tank vm1" "policy cancel tank vm2"; do
	# shellcheck disable=SC2086
	expect_exit 7 snapctl $verb
	err_has "the policy store $store is damaged: checksum mismatch"
done
expect_exit 1 snapctl daemon --once
err_has "cannot read the policy store $store: checksum mismatch"
head -c 100 "$TEST_TMP/good" >"$store"
expect_exit 7 snapctl policy list
err_has "damaged: the file is cut short"
cmp "$store" <(head -c 100 "$TEST_TMP/good") || fail "a refused command rewrote the damaged store"
# A writer that died before its rename leaves a temporary file: ignored.
cp "$TEST_TMP/good" "$store"
printf 'dm-row-policies 1\nnext_id=99\n' >"$store.tmp.12345"
expect_exit 0 snapctl --json policy list
jq -e 'map(.name) == ["office2"]' "$CMD_OUT" || fail "the store after a stale temporary file"
log_must snapctl policy modify office2 --hours 9
cmp -s "$store" "$TEST_TMP/good" && fail "modify did not change the store"
grep -q "hours=9 " "$store" || fail "modify not in the store"
exit 0
