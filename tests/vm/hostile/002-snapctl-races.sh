#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: hostile snapctl command lines change nothing; conflicting messages sent at once leave one winner and a consistent pool
# TIMEOUT: 400
#
# snapctl is given wrong argument counts, unknown commands and options,
# sizes that are zero, not sizes, past 2^64 bytes or past what a block
# device can be (the last ones used to wrap around to a tiny size, which
# 'disk resize' took for a shrink and removed the disk's device before the
# pool refused it), and names that are too long or hold characters a name
# cannot.  Each exits with the documented code (2: usage, 3: not found) and
# leaves the same 'snapctl --json' listings, the same devices and the same
# pool transaction id behind.
#
# Then conflicting messages race, sent by parallel dmsetup processes: one
# disk name created by six messages, one disk id by six, one clone name by
# four clones, one snapshot name by four snapshots, three removals of one
# disk, and rounds of delete_snapshot against a rollback to that snapshot.
# Exactly one of each conflicting set succeeds, the losers fail with the
# documented errno, the records say who won, a rollback that won left the
# disk holding the snapshot's data (and one that lost left it alone), and
# the metadata checks clean offline.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/hostile/lib.sh"

require_disks 2
require_cmd jq python3
load_module

snapctl_pool tank
log_must snapctl disk create tank vm1 --size 4M
log_must snapctl disk create tank vm2 --size 1M
log_must snapctl snapshot create tank vm1 --name s1
log_must snapctl snapshot create tank vm2 --name s2
N64=$(printf 'n%.0s' {1..64})

io_start

# state: set S to what a refused command must leave as it was: the pool's
# records, space and transaction id, and the devices.  The snapctl listings
# are compared at the end of the section.
state() {
	pool_state tank 1 2
	S+=$'\n'$(dmsetup ls)
}

listings() {
	snapctl --json disk list tank
	snapctl --json snapshot list tank
	dmsetup status tank
}

# The listings ask for the snapshots' deltas, which the pool computes once
# and keeps: commit that before taking the state.
listings >/dev/null
log_must pool_msg tank commit
LISTINGS=$(listings)
state
STATE=$S

# rejects CODE ARGS...: snapctl ARGS exits CODE with an error naming the
# problem, and changes nothing.
rejects() {
	local code=$1
	shift
	expect_exit "$code" snapctl "$@"
	[[ ${#CMD_ERR_LINES[@]} -ge 1 && ${CMD_ERR_LINES[0]} == snapctl:* ]] ||
		fail "no 'snapctl:' error line from '$*'"
	state
	same_state "$STATE" "$S" "'snapctl $*'"
}

# --- command lines -------------------------------------------------------------------
log_note "at ${SECONDS}s: snapctl"
rejects 2 frobnicate
rejects 2 disk frobnicate
rejects 2 disk create tank
rejects 2 disk create tank vm9 extra --size 1M
rejects 2 disk create tank vm9 --size 1M --frobnicate
rejects 2 disk create tank vm9 --size 1M --size
rejects 2 disk resize tank
rejects 2 disk resize tank vm1 vm2 --size 1M
rejects 2 snapshot create tank vm1 1		# one disk twice, by name and id
err_has "given twice"
rejects 2 snapshot delete tank
rejects 3 snapshot delete tank s1 nosuch --yes	# all or nothing
rejects 2 snapshot rollback tank vm1 --yes
rejects 2 clone tank s1
rejects 2 clone tank s1 c1 extra
for size in 0 1Q 99999999T 16384P 18446744073709551615 9223372036854775808 -1 0x10 ""; do
	rejects 2 disk create tank vm9 --size "$size"
	err_has "size must be"
	rejects 2 disk resize tank vm1 --size "$size" --yes
done
[[ -b /dev/mapper/tank-vm1 ]] || fail "a refused resize removed the disk's device"
for name in "$N64" 'a b' a@b "$(printf 'ctl\x01')" "caf$(printf '\xc3\xa9')" ""; do
	rejects 2 disk create tank "$name" --size 1M
	rejects 2 snapshot create tank vm1 --name "$name"
done
rejects 2 disk set tank vm1 --name "$N64"
rejects 2 clone tank s1 "$N64"
rejects 2 disk create tank vm1 --size 1M		# taken
err_has "has a disk named 'vm1'"
rejects 2 snapshot create tank vm1 --name s1		# taken in the chain
err_has "name is taken"
rejects 3 disk create nosuch vm9 --size 1M
rejects 3 disk resize tank nosuch --size 1M
rejects 3 snapshot delete tank nosuch --yes
rejects 3 snapshot rollback tank vm1 nosuch --yes
rejects 3 clone tank nosuch c1
same_state "$LISTINGS" "$(listings)" "a refused snapctl command"
# A size that fits: rounded up to whole blocks, the disk is made.
log_must snapctl disk create tank vm3 --size 1
assert_eq "$(dev_sectors /dev/mapper/tank-vm3)" 8 "a 1-byte disk is one block"
log_must snapctl disk remove tank vm3 --yes

# --- races -----------------------------------------------------------------------------
log_note "at ${SECONDS}s: races"

# race N WORDS...: send the message N times at once ('%' in WORDS becomes
# the sender's number); print how many succeeded; each sender's errors go
# to $TEST_TMP/race.err.<number> (one file each: their lines would mix).
race() {
	local n=$1 i ok=0
	local -a pids
	shift
	rm -f "$TEST_TMP"/race.err.*
	for ((i = 0; i < n; i++)); do
		dmsetup message tank 0 "${@//%/$i}" >/dev/null 2>"$TEST_TMP/race.err.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		! wait "$i" || ok=$((ok + 1))
	done
	echo $ok
}

# losers_say STRERROR: every failure in the last race was that error.
losers_say() {
	local line
	while read -r line; do
		[[ $line == "Command failed." || $line == *"failed: $1" ]] ||
			fail "a losing message said: $line"
	done < <(cat "$TEST_TMP"/race.err.*)
}

s1=$(pool_msg tank list_snapshots 1 | sed -n 's/^snapshot id=\([0-9]*\) .*/\1/p')
assert_eq "$(race 6 create_disk 1% 8 same)" 1 "winners creating one name"
losers_say "File exists"
assert_eq "$(pool_msg tank list_disks | grep -c ' name=same$')" 1 "disks named 'same'"
assert_eq "$(race 6 create_disk 20 8 id20-%)" 1 "winners creating one id"
losers_say "File exists"
assert_eq "$(race 4 clone "$s1" 3% twin)" 1 "winners cloning to one name"
losers_say "File exists"
assert_eq "$(pool_msg tank list_disks | grep -c ' name=twin$')" 1 "disks named 'twin'"
assert_eq "$(race 4 snapshot 1 name=dup)" 1 "winners taking one snapshot name"
losers_say "File exists"
assert_eq "$(pool_msg tank list_snapshots 1 | grep -c ' name=dup$')" 1 "snapshots named 'dup'"
assert_eq "$(race 3 remove_disk 20)" 1 "winners removing one disk"
losers_say "No data available"

# send_bg TAG WORDS...: send a message in the background; its exit status
# goes to $TEST_TMP/TAG.rc and its error to $TEST_TMP/TAG.err.
send_bg() {
	local tag=$1
	shift
	(
		rc=0
		dmsetup message tank 0 "$@" 2>"$TEST_TMP/$tag.err" || rc=$?
		echo $rc >"$TEST_TMP/$tag.rc"
	) &
}

# delete_snapshot against rollback to it, on a disk whose device is gone
# (written through a plain dmsetup device between the rounds).
log_must dmsetup_remove tank-vm2
dev=/dev/mapper/race
for round in 1 2 3 4; do
	dmsetup_create race "0 2048 row /dev/mapper/tank 2"
	old=$(write_random $dev 0 65536 $round)
	snap=$(pool_msg tank snapshot 2)
	new=$(write_random $dev 0 65536 $((round + 100)))
	log_must dmsetup_remove race
	send_bg rb rollback 2 "$snap"
	rb=$!
	send_bg del delete_snapshot "$snap"
	wait $rb $!
	assert_eq "$(<"$TEST_TMP/del.rc")" 0 "delete_snapshot, round $round"
	log_mustnot pool_msg tank info snapshot "$snap"
	dmsetup_create race "0 2048 row /dev/mapper/tank 2"
	got=$(sha256_of $dev 0 65536)
	log_must dmsetup_remove race
	if [[ $(<"$TEST_TMP/rb.rc") == 0 ]]; then
		log_note "round $round: the rollback went first"
		assert_eq "$got" "$old" "disk after its rollback, round $round"
	else
		log_note "round $round: the delete went first"
		grep -q "failed: No data available" "$TEST_TMP/rb.err" ||
			fail "the losing rollback said: $(<"$TEST_TMP/rb.err")"
		assert_eq "$got" "$new" "disk after a refused rollback, round $round"
	fi
done
assert_eq "$(pool_status_field tank 4) $(pool_status_field tank 5)" "rw -" "pool mode after the races"

# --- offline check -----------------------------------------------------------------------
log_note "at ${SECONDS}s: check"
log_must snapctl pool deactivate tank
expect_exit 0 snapctl check "$(disk 0)"
out_has ": clean$"
