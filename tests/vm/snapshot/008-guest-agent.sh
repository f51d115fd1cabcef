#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapshot --guest-agent: the real qemu-ga freezes ext4 while the snapshot is taken and thaws it; a killed agent gives crash consistency and a warning
#
# qemu-ga runs in this VM, listening on a unix socket: what it freezes is
# this machine's filesystems, which stands for a guest.  It freezes every
# mounted filesystem on a block device; the VM's own are tmpfs and 9p
# (device major 0), which it passes over, so the ext4 on the dm-row disk is
# the only one it touches (checked first).  While snapctl is held by
# SNAPCTL_TEST_FROZEN_HOOK, a write into the ext4 waits: it is frozen; after
# the snapshot the write completes and the agent says "thawed".  The
# snapshot is recorded app, needs no journal recovery, fscks clean, holds
# the files written before it (checksums) and not the one written while
# frozen.  snapctl killed while the agent holds the guest frozen: the
# guardian thaws through the agent.  The agent killed before the snapshot:
# a warning, the snapshot made crash-consistent.  The agent killed while
# the guest is frozen: snapctl cannot vouch for the freeze any more, so a
# warning and crash consistency, and an error saying the guest could not be
# thawed, exit status 1 (the test thaws it).  --guest-agent without a
# socket, with an empty one or one too long is a usage error.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd qemu-ga python3 jq mkfs.ext4 e2fsck dumpe2fs fsfreeze pgrep
load_module

snapctl_pool tank
log_must snapctl disk create tank vm1 --size 64M
mnt=$TEST_TMP/mnt
mount_fs /dev/mapper/tank-vm1 "$mnt"
on_exit "fsfreeze --unfreeze '$mnt' 2>/dev/null || true"
on_exit "touch '$TEST_TMP/go'"

# What qemu-ga would freeze: mounts of block devices (major not 0).
dev=$(mountpoint -d "$mnt")
while read -r _ _ majmin _ point _; do
	[[ $majmin == 0:* || $majmin == "$dev" ]] && continue
	skip "qemu-ga would also freeze $point ($majmin), which this VM needs"
done </proc/self/mountinfo

sock=$TEST_TMP/qga.sock
QGA_PID=
qga_start() {
	rm -f "$sock"
	mkdir -p "$TEST_TMP/qga-state"
	qemu-ga -m unix-listen -p "$sock" -t "$TEST_TMP/qga-state" -l "$TEST_TMP/qga.log" &
	QGA_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -S $sock ]] && return 0
		sleep 0.1
	done
	fail "qemu-ga did not open $sock"
}
qga_stop() {
	[[ -n $QGA_PID ]] || return 0
	kill "$QGA_PID" 2>/dev/null || true
	wait "$QGA_PID" 2>/dev/null || true
	QGA_PID=
}
on_exit qga_stop

# qga COMMAND: run one guest agent command, print its "return" value.
qga() {
	python3 - "$sock" "$1" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(b'\xff' + json.dumps({"execute": "guest-sync-delimited", "arguments": {"id": 77}}).encode() + b'\n')
data = b''
while b'\xff{"return": 77}\n' not in data:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("the agent closed the connection")
    data += chunk
s.sendall(json.dumps({"execute": sys.argv[2]}).encode() + b'\n')
line = s.makefile('rb').readline()
print(json.loads(line)["return"])
EOF
}

mkdir "$mnt/tree"
head -c $((3 << 20)) /dev/urandom >"$mnt/tree/big"
head -c 54321 /dev/urandom >"$mnt/tree/small"
(cd "$mnt" && sha256sum tree/*) >"$TEST_TMP/manifest"

HOOK="touch '$TEST_TMP/frozen'; while [ ! -e '$TEST_TMP/go' ]; do sleep 0.1; done"

wait_for_file() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	fail "no $1 after $2 s"
}

# start_probe NAME: a write into the filesystem that must still wait 1 s later.
start_probe() {
	(echo "$1" >"$mnt/$1") &
	_PROBE=$!
	sleep 1
	kill -0 "$_PROBE" 2>/dev/null || fail "a write went through while the guest was to be frozen"
	return 0
}

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

# --guest-agent takes socket paths.
expect_exit 2 snapctl snapshot create tank vm1 --guest-agent
err_has "needs a value"
expect_exit 2 snapctl snapshot create tank vm1 --guest-agent "$sock,,$sock"
err_has "--guest-agent takes the agents' unix socket paths"
expect_exit 2 snapctl snapshot create tank vm1 --guest-agent "/$(printf 'x%.0s' {1..300})"
err_has "a path is too long"

qga_start
assert_eq "$(qga guest-fsfreeze-status)" thawed "the agent's status before"

# --- frozen while the snapshot is taken, thawed after ----------------------------------
rm -f "$TEST_TMP/frozen" "$TEST_TMP/go"
SNAPCTL_TEST_FROZEN_HOOK=$HOOK snapctl --json snapshot create tank vm1 --name guest \
	--guest-agent "$sock" --freeze-timeout 60 >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
pid=$!
wait_for_file "$TEST_TMP/frozen" 60
start_probe probe-guest
touch "$TEST_TMP/go"
log_must wait "$pid"
cat "$TEST_TMP/err"
probe_done probe-guest 15
assert_eq "$(qga guest-fsfreeze-status)" thawed "the agent's status after the snapshot"
jq -e '.consistency == "application"' "$TEST_TMP/out" || fail "snapshot create: $(cat "$TEST_TMP/out")"
expect_exit 0 snapctl --json snapshot info tank vm1/guest
jq -e '.consistency == "app"' "$CMD_OUT" || fail "the record of a guest freeze is not app"
log_must snapctl snapshot view tank vm1/guest
on_exit "snapctl snapshot unview tank vm1/guest 2>/dev/null || true"
view=/dev/mapper/tank-vm1@guest
log_must dumpe2fs -h "$view" >"$TEST_TMP/sb" 2>&1
grep -q needs_recovery "$TEST_TMP/sb" && fail "the snapshot of the frozen guest needs journal recovery"
log_must e2fsck -fn "$view"
mkdir "$TEST_TMP/view"
log_must mount -o ro "$view" "$TEST_TMP/view"
on_exit "! mountpoint -q '$TEST_TMP/view' || umount '$TEST_TMP/view'"
(cd "$TEST_TMP/view" && log_must sha256sum --quiet -c "$TEST_TMP/manifest")
[[ -e $TEST_TMP/view/probe-guest ]] && fail "the write made while frozen is in the snapshot"
log_must umount "$TEST_TMP/view"
log_must snapctl snapshot unview tank vm1/guest

# --- snapctl killed while the guest is frozen: the guardian thaws it ---------------------
rm -f "$TEST_TMP/frozen" "$TEST_TMP/go"
SNAPCTL_TEST_FROZEN_HOOK=$HOOK snapctl snapshot create tank vm1 --name killed \
	--guest-agent "$sock" --freeze-timeout 60 >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
pid=$!
wait_for_file "$TEST_TMP/frozen" 60
start_probe probe-killed
kill -KILL "$pid"
wait "$pid" || true
probe_done probe-killed 15
touch "$TEST_TMP/go"
assert_eq "$(qga guest-fsfreeze-status)" thawed "the agent's status after snapctl was killed"

# --- the agent killed before the snapshot ---------------------------------------------
kill -KILL "$QGA_PID"
wait "$QGA_PID" || true
QGA_PID=
expect_exit 0 snapctl --json snapshot create tank vm1 --name noagent --guest-agent "$sock"
err_has "warning: guest agent $sock: cannot freeze the guest: cannot connect"
jq -e '.consistency == "crash"' "$CMD_OUT" || fail "no agent: not crash-consistent"
expect_exit 0 snapctl --json snapshot info tank vm1/noagent
jq -e '.consistency == "crash"' "$CMD_OUT" || fail "no agent: the record is not crash"

# --- the agent killed while the guest is frozen -----------------------------------------
qga_start
rm -f "$TEST_TMP/frozen" "$TEST_TMP/go"
SNAPCTL_TEST_FROZEN_HOOK=$HOOK snapctl --json snapshot create tank vm1 --name agentkilled \
	--guest-agent "$sock" --freeze-timeout 60 >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
pid=$!
wait_for_file "$TEST_TMP/frozen" 60
start_probe probe-agentkilled
kill -KILL "$QGA_PID"
wait "$QGA_PID" || true
QGA_PID=
touch "$TEST_TMP/go"
rc=0
wait "$pid" || rc=$?
cat "$TEST_TMP/err"
assert_eq "$rc" 1 "snapctl's exit status when the guest could not be thawed"
mapfile -t CMD_ERR_LINES <"$TEST_TMP/err"
err_has "warning: guest agent $sock: .*the snapshot will be crash-consistent"
err_has "cannot thaw the guest through $sock"
err_has "the snapshot was taken, but not everything frozen could be thawed"
jq -e '.consistency == "crash"' "$TEST_TMP/out" || fail "agent killed: $(cat "$TEST_TMP/out")"
expect_exit 0 snapctl --json snapshot info tank vm1/agentkilled
jq -e '.consistency == "crash"' "$CMD_OUT" || fail "agent killed: the record is not crash"
# Nobody is left to thaw the guest: the operator does (here, fsfreeze).
kill -0 "$_PROBE" 2>/dev/null || fail "the guest thawed without its agent?"
log_must fsfreeze --unfreeze "$mnt"
probe_done probe-agentkilled 15
