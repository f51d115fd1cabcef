#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: apply, replace, cancel and delete set the disks' policies; a damaged policy store is refused
#
# apply sets the disk's policy in the pool's metadata (the kernel's disk
# record) and the scheduler's record in the store; applying another one
# replaces it (one policy per disk), cancel clears it, delete cancels it on
# every disk that has it, and the daemon cancels a policy number that no
# longer exists.  The store is the documented text with a checksum: a
# damaged one (a changed byte, a cut) is refused with exit 7 by every verb
# and by the daemon, naming the file, and left as it is; a stale temporary
# file of a writer that died changes nothing.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

snapctl_pool tank
log_must snapctl disk create tank vm1 --size 16M
log_must snapctl disk create tank vm2 --size 16M
clock_at 2026-03-02T10:30
export TZ=UTC		# the zone of the policies made without --timezone

# disk_policy DISK: the policy number in the kernel's record of the disk.
disk_policy() {
	local id
	id=$(snapctl --json disk list tank | jq -r --arg n "$1" '.[] | select(.name == $n) | .id')
	pool_msg tank info disk "$id" | tr ' ' '\n' | sed -n 's/^policy=//p'
}

log_must snapctl policy create daily --hours 2,14
log_must snapctl policy create office2 --hours 8-18 --weekdays 1,3,7 --retention-days 65536

# --- apply, replace, cancel, delete ----------------------------------------------
expect_exit 0 snapctl policy apply daily tank vm1 vm2
out_has "^disk vm1: policy daily applied$"
assert_eq "$(disk_policy vm1)" 1 "policy of vm1 in the kernel's disk record"
assert_eq "$(disk_policy vm2)" 1 "policy of vm2"
expect_exit 0 snapctl policy apply daily tank vm1
out_has "applies already"
expect_exit 0 snapctl policy apply office2 tank vm2
out_has "^disk vm2: policy daily replaced by office2$"
assert_eq "$(disk_policy vm2)" 2 "one policy per disk: the new one replaces the old"
assert_eq "$(snapctl --json disk list tank | jq -c 'map(.policy)')" "[1,2]" "policies in disk list --json"
expect_exit 0 snapctl --json policy list
jq -e '(.[0].disks | map(.disk)) == ["vm1"] and (.[1].disks | map(.disk)) == ["vm2"] and
	.[1].disks[0].pool == "tank"' "$CMD_OUT" || fail "disks of each policy"
grep -Eq '^disk pool=tank uuid=[-0-9a-f]+ disk=1 policy=1 applied=1772447400 last_slot=0$' \
	"$SNAPCTL_STATE_DIR/policies" || fail "the store's record of vm1"
expect_exit 0 snapctl policy cancel tank vm2
assert_eq "$(disk_policy vm2)" 0 "cancel clears the disk's policy"
expect_exit 0 snapctl policy cancel tank vm2
out_has "has no policy"
log_must snapctl policy apply office2 tank vm2
expect_exit 0 snapctl policy delete daily
out_has "^cancelled on tank/vm1$"
out_has "^policy 1 deleted: daily \(cancelled on 1 disk\)$"
assert_eq "$(disk_policy vm1)" 0 "deleting a policy cancels it on its disks"
assert_eq "$(disk_policy vm2)" 2 "another policy's disk keeps it"
grep -q "policy=1 " "$SNAPCTL_STATE_DIR/policies" && fail "the deleted policy's disk record stayed"

# A disk naming a policy that is gone (deleted while its pool was not
# active): the daemon cancels it there.
log_must pool_msg tank set_disk 1 policy=99
expect_exit 0 snapctl daemon --once
err_has "tank/vm1: policy 99 no longer exists: cancelled"
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
