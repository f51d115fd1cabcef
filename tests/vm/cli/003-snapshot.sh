#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapctl snapshot verbs: contract, space in JSON, views, delete, merge and rollback refusals, freeze and hooks, instance groups
#
# Every 'snapctl snapshot' verb answers --help, refuses an unknown option and
# a missing argument with exit 2, and an unknown pool, disk or snapshot with
# exit 3.  After writing exactly 16 MiB the first snapshot's delta is 16 MiB
# (--json, checked with jq), and merging folds deltas.  Deleting and merging
# are refused without --yes and a TTY (exit 6).  A retention of 0 and one of
# 'forever' are both recorded as forever, and 'snapshot info' says forever
# where the pool's record says 0.  A snapshot with an active
# view is not deleted (exit 4).  Rollback of a mounted disk is refused
# (exit 4) without --force, and without --yes and a TTY (exit 6); after it
# the disk reads as the snapshot did.  --freeze on a mounted ext4 records an
# application-consistent snapshot; pre- and post-hooks run in order around
# it (the snapshot holds the pre-hook's file and not the post-hook's); a
# failing pre-hook cancels the snapshot; a hook over --hook-timeout is
# killed, with its children; hooks never write into --json output.  An
# instance snapshot of two disks gives both snapshots one group.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq mkfs.ext4 pgrep
load_module

snapctl_pool tank
MiB=$((1 << 20))
log_must snapctl disk create tank vm1 --size 64M
log_must snapctl disk create tank vm2 --size 16M

# snap_count POOL DISK: how many snapshots the disk has (the table's rows).
snap_count() {
	local -a rows
	mapfile -t rows < <(snapctl snapshot list "$1" "$2")
	echo $((${#rows[@]} - 1))
}

# --- contract ---------------------------------------------------------------
log_must snapctl snapshot create tank vm1 --name c
snapctl_contract "snapshot create" tank vm1
snapctl_contract "snapshot list" tank
snapctl_contract "snapshot info" tank c
snapctl_contract "snapshot delete" tank c
snapctl_contract "snapshot rollback" tank vm1 c --yes
snapctl_contract "snapshot merge" tank c c
snapctl_contract "snapshot view" tank c
snapctl_contract "snapshot unview" tank c
expect_exit 2 snapctl snapshot create tank vm1 --hook-timeout
err_has "option '--hook-timeout' needs a value"

expect_exit 2 snapctl snapshot create
expect_exit 2 snapctl snapshot create tank
expect_exit 2 snapctl snapshot create tank vm1 --hook-timeout soon
expect_exit 2 snapctl snapshot create tank vm1 --name a,b
err_has "one name per disk"
expect_exit 2 snapctl snapshot create tank vm1 --name 9lives
expect_exit 2 snapctl snapshot list
expect_exit 2 snapctl snapshot info tank
expect_exit 2 snapctl snapshot delete tank
expect_exit 2 snapctl snapshot rollback tank vm1
expect_exit 2 snapctl snapshot merge tank c
expect_exit 2 snapctl snapshot view tank
expect_exit 2 snapctl snapshot unview tank

expect_exit 3 snapctl snapshot create nosuch vm1
err_has "no pool 'nosuch'"
expect_exit 3 snapctl snapshot create tank vm1 nosuch
err_has "no disk 'nosuch'"
expect_exit 3 snapctl snapshot list nosuch
expect_exit 3 snapctl snapshot list tank nosuch
expect_exit 3 snapctl snapshot info tank nosuch
err_has "no snapshot 'nosuch'"
expect_exit 3 snapctl snapshot info tank nodisk/c
expect_exit 3 snapctl snapshot info tank vm2/c
expect_exit 3 snapctl snapshot delete tank nosuch
expect_exit 3 snapctl snapshot rollback tank vm1 nosuch --yes
expect_exit 3 snapctl snapshot rollback tank nosuch c --yes
expect_exit 3 snapctl snapshot merge tank c nosuch
expect_exit 3 snapctl snapshot view tank nosuch
expect_exit 3 snapctl snapshot unview tank c
err_has "does not exist"
[[ $(snap_count tank vm1) == 1 ]] || fail "a refused command made a snapshot"
# Deleting destroys a snapshot: without --yes and a terminal, refused.
expect_exit 6 snapctl snapshot delete tank c
err_has "^snapctl: not deleted: .*; add --yes$"
[[ $(snap_count tank vm1) == 1 ]] || fail "a delete without --yes deleted"
log_must snapctl snapshot delete tank c --yes
[[ $(snap_count tank vm1) == 0 ]] || fail "snapshot c not deleted"

# --- space in --json ------------------------------------------------------------
sum1=$(write_random /dev/mapper/tank-vm1 0 $((16 * MiB)) 1)
expect_exit 0 snapctl --json snapshot create tank vm1 --name s1
jq -e '.snapshots | length == 1 and .[0].name == "s1" and .[0].disk == "vm1" and
	(.[0].id | type) == "number"' "$CMD_OUT" || fail "snapshot create --json"
jq -e '.consistency == "crash"' "$CMD_OUT" || fail "consistency of a plain snapshot"
s1=$(jq .snapshots[0].id "$CMD_OUT")
expect_exit 0 snapctl --json snapshot list tank
jq -e --argjson id "$s1" --argjson m $MiB '
	length == 1 and .[0].id == $id and .[0].disk == 1 and .[0].name == "s1" and
	.[0].delta_bytes == 16777216 and .[0].exclusive_bytes == 0 and
	.[0].size_bytes == 64 * $m and .[0].kind == "manual" and .[0].consistency == "crash" and
	.[0].group == 0 and .[0].prev == 0 and .[0].next == 0 and .[0].retention_until == 0 and
	(.[0].created | type) == "number"' "$CMD_OUT" || fail "snapshot list --json after 16 MiB"

write_random /dev/mapper/tank-vm1 0 $((4 * MiB)) 2 >/dev/null
log_must snapctl snapshot create tank vm1 --name s2 --retention-days 2
expect_exit 0 snapctl --json snapshot list tank vm1
jq -e --argjson m $MiB '
	map(.name) == ["s1", "s2"] and
	.[0].delta_bytes == 16 * $m and .[0].exclusive_bytes == 4 * $m and
	.[1].delta_bytes == 4 * $m and .[1].exclusive_bytes == 0 and
	.[0].next == .[1].id and .[1].prev == .[0].id and
	.[1].retention_until > .[1].created' "$CMD_OUT" || fail "deltas of two snapshots"
expect_exit 0 snapctl snapshot list tank
out_has "^ID +DISK +NAME +CREATED \(UTC\) +KIND +CONSISTENCY +DELTA +EXCLUSIVE +TAGS +DESCRIPTION$"
out_has "^ *$s1 +vm1 +s1 +[0-9-]+ [0-9:]+ +manual +crash +16\.0 MiB +4\.0 MiB +- +-$"
expect_exit 0 snapctl snapshot info tank vm1/s2
out_has "^name +s2$"

# --- views and delete ---------------------------------------------------------------
expect_exit 0 snapctl snapshot view tank vm1/s1
out_has "^/dev/mapper/tank-vm1@s1$"
assert_eq "$(sha256_of /dev/mapper/tank-vm1@s1 0 $((16 * MiB)))" "$sum1" "view of s1"
expect_exit 4 snapctl snapshot view tank vm1/s1
expect_exit 4 snapctl snapshot delete tank vm1/s1 --yes
err_has "active view"
err_has "snapctl snapshot unview"
[[ $(snap_count tank vm1) == 2 ]] || fail "a snapshot with a view was deleted"
log_must snapctl snapshot unview tank vm1/s1

# --- merge ------------------------------------------------------------------------------
expect_exit 2 snapctl snapshot merge tank vm1/s2 vm1/s1 --yes
err_has "must be older"
# Merging destroys the snapshots before the last: as deleting.
expect_exit 6 snapctl snapshot merge tank vm1/s1 vm1/s2
err_has "^snapctl: not merged: .*; add --yes$"
[[ $(snap_count tank vm1) == 2 ]] || fail "a merge without --yes merged"
log_must snapctl snapshot merge tank vm1/s1 vm1/s2 --yes
expect_exit 0 snapctl --json snapshot list tank vm1
jq -e '. | map(.name) == ["s2"] and .[0].delta_bytes == 16777216' "$CMD_OUT" ||
	fail "merged snapshot holds both deltas"

# --- retention ----------------------------------------------------------------------------
# 1..65536 days, or forever: 'forever' or 0, as for policies.
log_must snapctl snapshot create tank vm1 --name r0 --retention-days 0
log_must snapctl snapshot create tank vm1 --name rf --retention-days forever
expect_exit 2 snapctl snapshot create tank vm1 --name r9 --retention-days 65537
err_has "--retention-days takes 1..65536 or 'forever' \\(or 0\\), not '65537'"
expect_exit 0 snapctl --json snapshot list tank vm1
jq -e 'map({(.name): .retention_until}) | add | .r0 == 0 and .rf == 0 and .s2 > 0' "$CMD_OUT" ||
	fail "a retention of 0 or forever is not recorded as forever"
expect_exit 0 snapctl snapshot info tank vm1/r0
out_has "^retention +forever$"
expect_exit 0 snapctl snapshot info tank vm1/s2
out_has "^retention +[1-9][0-9]*$"
log_must snapctl snapshot delete tank vm1/r0 vm1/rf --yes
[[ $(snap_count tank vm1) == 1 ]] || fail "deleting two snapshots at once"

# --- application consistency and hooks -----------------------------------------------------
mnt=$TEST_TMP/mnt
mount_fs /dev/mapper/tank-vm2 "$mnt"
echo before >"$mnt/file"
order=$TEST_TMP/order
expect_exit 0 snapctl --json snapshot create tank vm2 --name fs0 --freeze \
	--pre-hook "echo pre >>$order; echo from-the-pre-hook; touch $mnt/pre" \
	--post-hook "echo post >>$order; touch $mnt/post"
jq -e '.consistency == "application" and .snapshots[0].name == "fs0"' "$CMD_OUT" ||
	fail "snapshot create --freeze --json"
err_has "^from-the-pre-hook$"
assert_eq "$(paste -sd, "$order")" "pre,post" "hooks ran in order"
expect_exit 0 snapctl --json snapshot info tank vm2/fs0
jq -e '.consistency == "app" and .kind == "manual"' "$CMD_OUT" ||
	fail "snapshot info: consistency app"
# The snapshot was taken between the hooks.
log_must snapctl snapshot view tank vm2/fs0
mkdir "$TEST_TMP/view"
log_must mount -o ro,noload /dev/mapper/tank-vm2@fs0 "$TEST_TMP/view"
on_exit "! mountpoint -q '$TEST_TMP/view' || umount '$TEST_TMP/view'"
[[ -e $TEST_TMP/view/pre ]] || fail "the pre-hook's file is not in the snapshot"
[[ -e $TEST_TMP/view/post ]] && fail "the post-hook's file is in the snapshot"
assert_eq "$(cat "$TEST_TMP/view/file")" before "file in the snapshot"
log_must umount "$TEST_TMP/view"
fs0_sum=$(sha256_of /dev/mapper/tank-vm2@fs0)
log_must snapctl snapshot unview tank vm2/fs0

# Nothing mounted: --freeze says so and the snapshot is crash-consistent.
expect_exit 0 snapctl snapshot create tank vm1 --name nofs --freeze
err_has "nothing to freeze"
expect_exit 0 snapctl --json snapshot info tank vm1/nofs
jq -e '.consistency == "crash"' "$CMD_OUT" || fail "consistency with nothing frozen"

# A failing pre-hook cancels the snapshot and skips the post-hook.
n=$(snap_count tank vm2)
expect_exit 1 snapctl snapshot create tank vm2 --name nope --freeze \
	--pre-hook "exit 3" --post-hook "touch $TEST_TMP/post-ran"
err_has "pre-hook 'exit 3' failed \(exit status 3\)"
err_has "snapshot cancelled"
assert_eq "$(snap_count tank vm2)" "$n" "snapshots after a failing pre-hook"
[[ -e $TEST_TMP/post-ran ]] && fail "the post-hook ran after a failing pre-hook"
touch "$mnt/still-writable" || fail "the filesystem stayed frozen"

# A hook over its timeout is killed, children too, and the snapshot cancelled.
expect_exit 1 snapctl snapshot create tank vm2 --name slow --hook-timeout 1 \
	--pre-hook "sleep 37; touch $TEST_TMP/late"
err_has "did not finish in 1 s and was killed"
assert_eq "$(snap_count tank vm2)" "$n" "snapshots after a hook timeout"
pgrep -f "sleep 37" && fail "the hook's child survived"
[[ -e $TEST_TMP/late ]] && fail "the hook went on after its timeout"
# A failing post-hook: the snapshot is made, the command fails.
expect_exit 1 snapctl snapshot create tank vm2 --name postfail --post-hook "exit 1"
err_has "post-hook 'exit 1' failed"
assert_eq "$(snap_count tank vm2)" $((n + 1)) "snapshots after a failing post-hook"

# --- rollback ---------------------------------------------------------------------------------
expect_exit 4 snapctl snapshot rollback tank vm2 fs0 --yes
err_has "in use"
err_has "--force"
mountpoint -q "$mnt" || fail "a refused rollback unmounted the disk"
echo after >"$mnt/file"
log_must umount "$mnt"
expect_exit 6 snapctl snapshot rollback tank vm2 fs0
err_has "add --yes"
[[ $(sha256_of /dev/mapper/tank-vm2) != "$fs0_sum" ]] || fail "vm2 unchanged since fs0?"
expect_exit 0 snapctl snapshot rollback tank vm2 fs0 --yes
assert_eq "$(sha256_of /dev/mapper/tank-vm2)" "$fs0_sum" "vm2 after rollback to fs0"
expect_exit 0 snapctl --json snapshot list tank vm2
jq -e 'map(.name) == ["fs0", "postfail"]' "$CMD_OUT" || fail "later snapshots kept"

# --- instance snapshot ----------------------------------------------------------------------------
expect_exit 0 snapctl --json snapshot create tank vm1 vm2 --name i1,i2
jq -e '.snapshots | length == 2 and .[0].disk == "vm1" and .[0].name == "i1" and
	.[1].disk == "vm2" and .[1].name == "i2"' "$CMD_OUT" || fail "instance snapshot --json"
expect_exit 0 snapctl --json snapshot list tank
jq -e 'map({(.name): .group}) | add | .i1 > 0 and .i2 == .i1 and .fs0 != .i1' "$CMD_OUT" ||
	fail "the instance snapshot's two snapshots share a group, and only they"

# The same name on two disks: ambiguous alone, fine with its disk.
log_must snapctl snapshot create tank vm1 vm2 --name same,same
expect_exit 2 snapctl snapshot info tank same
err_has "vm1/same|<disk>/same"
log_must snapctl snapshot info tank vm2/same
