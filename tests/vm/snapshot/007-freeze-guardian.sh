#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapshot --freeze: thawed when snapctl is killed (SIGTERM, SIGKILL), a timed-out freeze recorded crash, bind mounts frozen once
#
# snapctl freezes through a guardian process that thaws whatever happens to
# snapctl.  SNAPCTL_TEST_FROZEN_HOOK holds snapctl while the ext4 on the
# disk is frozen: a write into it then waits, and the guardian is there.
# snapctl killed there with SIGTERM, then with SIGKILL: the waiting write
# completes within seconds, far inside the 60 s freeze timeout, no snapshot
# is made and no guardian is left.  Let through, the snapshot is recorded
# app, its filesystem needs no journal recovery (it was frozen), fscks clean
# and holds the files written before it (checksums), not the one written
# while frozen.  A freeze held past --freeze-timeout is thawed (a write
# during the hook completes) and the snapshot is recorded crash, in
# snapctl's output and in the pool.  With a bind mount of the filesystem,
# and then with another filesystem mounted over the original mount point,
# --freeze freezes it once, through a mount that is really it, and records
# app.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq mkfs.ext4 e2fsck dumpe2fs fsfreeze pgrep
load_module

snapctl_pool tank
log_must snapctl disk create tank vm1 --size 64M
mnt=$TEST_TMP/mnt
mount_fs /dev/mapper/tank-vm1 "$mnt"
# Whatever goes wrong, the VM is not left with a frozen filesystem.
on_exit "fsfreeze --unfreeze '$mnt' 2>/dev/null || true"
on_exit "touch '$TEST_TMP/go'"

mkdir "$mnt/tree"
head -c $((3 << 20)) /dev/urandom >"$mnt/tree/big"
head -c 12345 /dev/urandom >"$mnt/tree/small"
(cd "$mnt" && sha256sum tree/*) >"$TEST_TMP/manifest"

# The test hook: says it runs, then waits for $TEST_TMP/go.
HOOK="touch '$TEST_TMP/frozen'; while [ ! -e '$TEST_TMP/go' ]; do sleep 0.1; done"

# wait_for_file FILE SECONDS
wait_for_file() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	fail "no $1 after $2 s"
}

# start_probe NAME: a write of NAME into the filesystem, in the background
# (_PROBE); it must still be waiting a second later: the filesystem is frozen.
start_probe() {
	(echo "$1" >"$mnt/$1") &
	_PROBE=$!
	sleep 1
	kill -0 "$_PROBE" 2>/dev/null || fail "a write went through while the filesystem was to be frozen"
	[[ -e $mnt/$1 ]] && fail "$1 was created while the filesystem was to be frozen"
	return 0
}

# probe_done NAME SECONDS: the probe's write completes within SECONDS.
probe_done() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if ! kill -0 "$_PROBE" 2>/dev/null; then
			log_must wait "$_PROBE"
			assert_eq "$(cat "$mnt/$1")" "$1" "the probe's file"
			return 0
		fi
		sleep 0.1
	done
	fail "the filesystem is still frozen $2 s later"
}

snap_names() {
	snapctl --json snapshot list tank vm1 | jq -r 'map(.name) | join(",")'
}

# --- snapctl killed while frozen: the guardian thaws ------------------------------
for sig in TERM KILL; do
	rm -f "$TEST_TMP/frozen" "$TEST_TMP/go"
	SNAPCTL_TEST_FROZEN_HOOK=$HOOK snapctl snapshot create tank vm1 --name "killed$sig" \
		--freeze --freeze-timeout 60 >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
	pid=$!
	wait_for_file "$TEST_TMP/frozen" 60
	start_probe "probe-$sig"
	pgrep -x snapctl-guard >/dev/null || fail "no guardian while frozen"
	log_note "SIG$sig to snapctl ($pid) while frozen"
	kill -s "$sig" "$pid"
	rc=0
	wait "$pid" || rc=$?
	[[ $rc -ge 128 ]] || fail "snapctl exited $rc after SIG$sig"
	probe_done "probe-$sig" 15
	touch "$TEST_TMP/go"
	for ((i = 0; i < 50; i++)); do
		pgrep -x snapctl-guard >/dev/null || break
		sleep 0.1
	done
	pgrep -x snapctl-guard >/dev/null && fail "the guardian is still there after thawing"
	[[ ",$(snap_names)," == *",killed$sig,"* ]] && fail "a snapshot was made by the killed snapctl"
done

# --- let through: recorded app, frozen image ----------------------------------------
rm -f "$TEST_TMP/frozen" "$TEST_TMP/go"
SNAPCTL_TEST_FROZEN_HOOK=$HOOK snapctl --json snapshot create tank vm1 --name held \
	--freeze >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
pid=$!
wait_for_file "$TEST_TMP/frozen" 60
start_probe probe-held
touch "$TEST_TMP/go"
log_must wait "$pid"
cat "$TEST_TMP/err"
probe_done probe-held 15
jq -e '.consistency == "application"' "$TEST_TMP/out" || fail "snapshot create: $(cat "$TEST_TMP/out")"
expect_exit 0 snapctl --json snapshot info tank vm1/held
jq -e '.consistency == "app"' "$CMD_OUT" || fail "the record of a held freeze is not app"
log_must snapctl snapshot view tank vm1/held
on_exit "snapctl snapshot unview tank vm1/held 2>/dev/null || true"
view=/dev/mapper/tank-vm1@held
log_must dumpe2fs -h "$view" >"$TEST_TMP/sb" 2>&1
grep -q needs_recovery "$TEST_TMP/sb" && fail "the snapshot of a frozen ext4 needs journal recovery"
log_must e2fsck -fn "$view"
mkdir "$TEST_TMP/view"
log_must mount -o ro "$view" "$TEST_TMP/view"
on_exit "! mountpoint -q '$TEST_TMP/view' || umount '$TEST_TMP/view'"
(cd "$TEST_TMP/view" && log_must sha256sum --quiet -c "$TEST_TMP/manifest")
[[ -e $TEST_TMP/view/probe-held ]] && fail "the write made while frozen is in the snapshot"
log_must umount "$TEST_TMP/view"
log_must snapctl snapshot unview tank vm1/held

# --- a freeze past its timeout: thawed, recorded crash ---------------------------------
expect_exit 0 env SNAPCTL_TEST_FROZEN_HOOK="sleep 3; echo late >'$mnt/late'" \
	snapctl --json snapshot create tank vm1 --name late --freeze --freeze-timeout 1
err_has "hit its 1 s timeout"
jq -e '.consistency == "crash"' "$CMD_OUT" || fail "a timed-out freeze printed as application-consistent"
assert_eq "$(cat "$mnt/late")" late "written after the timeout, before the snapshot"
expect_exit 0 snapctl --json snapshot info tank vm1/late
jq -e '.consistency == "crash"' "$CMD_OUT" || fail "a timed-out freeze recorded as app"

# --- a bind mount: the filesystem is frozen once ------------------------------------
bind=$TEST_TMP/bind
mkdir "$bind"
log_must mount --bind "$mnt/tree" "$bind"
on_exit "! mountpoint -q '$bind' || umount '$bind'"
expect_exit 0 snapctl --json snapshot create tank vm1 --name bound --freeze
jq -e '.consistency == "application"' "$CMD_OUT" || fail "a bind-mounted filesystem: not application-consistent"
expect_exit 0 snapctl --json snapshot info tank vm1/bound
jq -e '.consistency == "app"' "$CMD_OUT" || fail "bind mount: the record is not app"

# The original mount point covered by another filesystem: frozen through the bind mount.
log_must mount -t tmpfs cover "$mnt"
on_exit "! mountpoint -q '$mnt' || [[ -e '$mnt/tree' ]] || umount '$mnt'"
rm -f "$TEST_TMP/frozen" "$TEST_TMP/go"
SNAPCTL_TEST_FROZEN_HOOK=$HOOK snapctl --json snapshot create tank vm1 --name covered \
	--freeze >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
pid=$!
wait_for_file "$TEST_TMP/frozen" 60
(echo covered >"$bind/covered") &
_PROBE=$!
sleep 1
kill -0 "$_PROBE" 2>/dev/null || fail "the covered filesystem was not frozen"
touch "$TEST_TMP/go"
log_must wait "$pid"
cat "$TEST_TMP/err"
jq -e '.consistency == "application"' "$TEST_TMP/out" || fail "covered mount: $(cat "$TEST_TMP/out")"
log_must wait "$_PROBE"
log_must umount "$mnt"
assert_eq "$(cat "$mnt/tree/covered")" covered "written through the bind mount"
log_must umount "$bind"

assert_eq "$(snap_names)" "held,late,bound,covered" "the snapshots"
