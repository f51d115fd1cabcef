#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: swap and a dirty filesystem on dm-row disks under a cgroup memory limit, snapshotted every second: progress, no hung task, every byte back
# TIMEOUT: 600
#
# Memory reclaim that writes to a dm-row disk must never wait on the pool's
# worker while the worker waits on reclaim: the worker allocates without
# I/O (GFP_NOIO, memalloc_noio_save()).  Here reclaim has to write to
# dm-row to make progress: a process in a cgroup held to 48 MiB
# (memory.high) fills 96 MiB of memory with a pattern, so half of it or
# more is swapped out to a dm-row disk, and writes a 64 MiB file on ext4
# on another dm-row disk, so dirty pages are written back under the same
# limit (with DMROW_TEST_SCALE=full, 128 MiB and a 96 MiB file: more of
# the same churn, in a run half as long again).  Both disks are
# snapshotted every second meanwhile, so that every swap-out and writeback
# is a first write after a snapshot: redirected, mapped by the worker,
# which also runs the snapshot messages.  The hung-task detector is set to
# 20 s (any report fails the run).  The process must check its whole
# pattern twice over (every page back from swap intact), the file must read
# back with its checksum after the page cache is dropped, the swap must
# have been used, and no process of the cgroup may be OOM-killed.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3 mkswap swapon swapoff mkfs.ext4
load_module

MiB=$((1 << 20))
cg=/sys/fs/cgroup
if [[ ! -e $cg/cgroup.controllers ]]; then
	mkdir -p $cg
	mount -t cgroup2 none $cg || skip "cannot mount cgroup2"
	on_exit "umount $cg"
fi
grep -qw memory $cg/cgroup.controllers || skip "no memory controller"
grep -q . /proc/swaps 2>/dev/null && [[ $(wc -l </proc/swaps) -gt 1 ]] &&
	skip "a swap device is active already"

old_hung=$(cat /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null || echo)
if [[ -n $old_hung ]]; then
	echo 20 >/proc/sys/kernel/hung_task_timeout_secs
	on_exit "echo $old_hung >/proc/sys/kernel/hung_task_timeout_secs"
fi

export SNAPCTL_CONFIG_DIR=$TEST_TMP/pools
snapctl_pool tank
log_must snapctl disk create tank swap --size 256M
log_must snapctl disk create tank fs --size 128M
log_must mkswap -q /dev/mapper/tank-swap
log_must swapon /dev/mapper/tank-swap
on_exit "swapoff /dev/mapper/tank-swap"
log_must mkfs.ext4 -q -F /dev/mapper/tank-fs
mkdir -p "$TEST_TMP/mnt"
log_must mount /dev/mapper/tank-fs "$TEST_TMP/mnt"
on_exit "umount '$TEST_TMP/mnt'"

# The limited group: processes moved in by writing their pid.
echo +memory >$cg/cgroup.subtree_control 2>/dev/null || true
group=$cg/dmrow-pressure
mkdir -p $group
on_exit "rmdir $group"
# memory.high: reclaim and throttle above it, never OOM-kill (with
# memory.max the group was OOM-killed once most of its 48 MiB was under
# writeback to swap: that is the memory controller giving up, not a hang).
echo $((48 * MiB)) >$group/memory.high
[[ -e $group/memory.swap.max ]] && echo max >$group/memory.swap.max
swapped_before=$(awk '$1 == "pswpout" { print $2 }' /proc/vmstat)

if full_scale; then
	hog_mib=128 file_mib=96
else
	hog_mib=96 file_mib=64
fi

# The hog: hog_mib MiB, each 4 KiB page named by its index and the pass,
# every page checked on the next pass.
cat >"$TEST_TMP/hog.py" <<'EOF'
import struct, sys
pages = int(sys.argv[1]) * 256
buf = bytearray(pages * 4096)
def fill(p):
    for i in range(pages):
        buf[i * 4096:i * 4096 + 16] = struct.pack("<QQ", i, p)
        buf[i * 4096 + 4080:i * 4096 + 4096] = struct.pack("<QQ", p, i)
def check(p):
    for i in range(pages):
        if struct.unpack_from("<QQ", buf, i * 4096) != (i, p) or \
           struct.unpack_from("<QQ", buf, i * 4096 + 4080) != (p, i):
            sys.exit("page %d of pass %d came back wrong" % (i, p))
fill(1)
check(1)
fill(2)
check(2)
print("hog: %d pages checked twice" % pages)
EOF
stop=$TEST_TMP/stop
on_exit "touch '$stop'"
(
	echo $BASHPID >$group/cgroup.procs
	exec python3 "$TEST_TMP/hog.py" $hog_mib
) >"$TEST_TMP/hog.out" 2>&1 &
hog=$!
(
	echo $BASHPID >$group/cgroup.procs
	random_stream $((file_mib * MiB)) 7 >"$TEST_TMP/mnt/file"
	sync -f "$TEST_TMP/mnt/file"
) >"$TEST_TMP/writer.out" 2>&1 &
writer=$!
on_exit "kill $hog $writer 2>/dev/null; wait $hog $writer 2>/dev/null; true"
random_stream $((file_mib * MiB)) 7 | sha256sum | cut -d' ' -f1 >"$TEST_TMP/file.sum"

# A snapshot of each disk every second while they run.
snaps=0
while kill -0 $hog 2>/dev/null || kill -0 $writer 2>/dev/null; do
	log_must snapctl snapshot create tank swap fs --name "p$snaps,p$snaps" >/dev/null
	snaps=$((snaps + 1))
	sleep 1
done
wait $hog || fail "the process under pressure failed: $(<"$TEST_TMP/hog.out")"
grep -q "checked twice" "$TEST_TMP/hog.out" || fail "hog: $(<"$TEST_TMP/hog.out")"
wait $writer || fail "the file writer failed: $(<"$TEST_TMP/writer.out")"
log_note "$(<"$TEST_TMP/hog.out"); $snaps instance snapshots taken meanwhile"

swapped=$(( $(awk '$1 == "pswpout" { print $2 }' /proc/vmstat) - swapped_before ))
log_note "$swapped pages swapped out; memory.events: $(tr '\n' ' ' <$group/memory.events)"
((swapped * 4096 >= 32 * MiB)) || fail "only $swapped pages were swapped out: no pressure"
((snaps >= 2)) || fail "only $snaps snapshots were taken during the run"
oom=$(awk '$1 == "oom_kill" { print $2 }' $group/memory.events)
[[ ${oom:-0} == 0 ]] || fail "$oom processes of the group were OOM-killed"

echo 3 >/proc/sys/vm/drop_caches
assert_eq "$(sha256sum <"$TEST_TMP/mnt/file" | cut -d' ' -f1)" "$(<"$TEST_TMP/file.sum")" \
	"the file written under pressure"
# The pool stayed writable and clean.
assert_eq "$(pool_status_field tank 4)" rw "the pool's mode after the run"
assert_eq "$(pool_status_field tank 5)" - "needs_check after the run"
