#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: metadata writes fail during a commit: ro with needs_check, writes and flushes fail instead of hanging, flushed data survives the reload
# TIMEOUT: 300
#
# The metadata device is a dm-linear device whose table is swapped for
# dm-flakey with error_writes (reads work, every write fails) while a
# writer fills new blocks of a disk.  The commit that follows fails: the
# pool must drop the open transaction, go read-only and say needs_check
# in its status and 'info pool', log it and raise a dm event.  The writer
# must get an error, not hang.  Every flush after that fails (the dropped
# writes were acknowledged: a flush that succeeded would claim they are
# on disk), and keeps failing; writes needing a block fail with EIO;
# overwriting a block only the live head holds still works; messages that
# change metadata are refused with EROFS.  Reads return the last commit:
# data flushed before the failure, and of the writer's blocks a prefix
# (the ones committed) with nothing after it.  The pool device and its
# disks are removed cleanly.  With a working metadata device again, the
# metadata checks clean offline and the pool loads read-write (needs_check
# could not be written), with the same content, and takes writes.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3 snapctl
require_module dm-flakey
load_module

MiB=$((1 << 20))
data=$(disk 1)
meta_sectors=$((16 * 2048))
good="0 $meta_sectors linear $(disk 0) 0"
bad="0 $meta_sectors flakey $(disk 0) 0 0 3600 1 error_writes"
zero_dev "$(disk 0)" 16
dmsetup_create meta "$good"

# swap_meta TABLE: give the metadata device a new table under the pool.
swap_meta() {
	log_must dmsetup suspend --noudevsync meta
	log_must dmsetup load --noudevsync meta --table "$1"
	log_must dmsetup resume --noudevsync meta
}

pool_create pool /dev/mapper/meta "$data"
size=$((256 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1

# The expected content of the disk's first 32 MiB: what was flushed.
image=$TEST_TMP/d1.img
truncate -s $((32 * MiB)) "$image"
image_sum() {
	sha256sum <"$image" | cut -d' ' -f1
}

# dio.py write DEV IMAGE OFF LEN [fsync]: LEN random bytes at OFF with
#   O_DIRECT, copied into IMAGE (- for none), then fsync if asked.  Exit 1
#   if the write failed, 2 if the fsync did, with the error on stdout.
# dio.py fsync DEV: fsync the device; exit 1 with the error if it failed.
# dio.py seq DEV FIRST COUNT: write block FIRST+j with pattern(j), one at
#   a time, stopping at the first error; print how many were written and
#   the error.
# dio.py seqcheck DEV FIRST COUNT: blocks FIRST+j hold pattern(j) for
#   j < k and zeroes from k to COUNT; print k, exit 1 if they hold
#   anything else.
cat >dio.py <<'EOF'
import hashlib, mmap, os, sys

BS = 4096


def pattern(j):
    return hashlib.sha256(b"dm-row seq %d" % j).digest() * (BS // 32)


def write(dev, image, off, length, sync):
    data = os.urandom(length)
    buf = mmap.mmap(-1, length)
    buf.write(data)
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    try:
        os.pwrite(fd, buf, off)
    except OSError as e:
        print("write:", e.strerror)
        return 1
    if image != "-":
        with open(image, "r+b") as f:
            f.seek(off)
            f.write(data)
    if sync:
        try:
            os.fsync(fd)
        except OSError as e:
            print("fsync:", e.strerror)
            return 2
    return 0


def fsync(dev):
    fd = os.open(dev, os.O_RDWR)
    try:
        os.fsync(fd)
    except OSError as e:
        print(e.strerror)
        return 1
    return 0


def seq(dev, first, count):
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, BS)
    for j in range(count):
        buf.seek(0)
        buf.write(pattern(j))
        try:
            os.pwrite(fd, buf, (first + j) * BS)
        except OSError as e:
            print(j, e.strerror)
            return 0
    print(count)
    return 0


def seqcheck(dev, first, count):
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    chunk = 256
    buf = mmap.mmap(-1, chunk * BS)
    zero = bytes(BS)
    k = None
    for c in range(0, count, chunk):
        n = min(chunk, count - c)
        got = os.preadv(fd, [memoryview(buf)[:n * BS]], (first + c) * BS)
        if got != n * BS:
            print("short read at block %d" % (first + c))
            return 1
        for i in range(n):
            j = c + i
            block = buf[i * BS:(i + 1) * BS]
            if k is None and block != pattern(j):
                k = j
            if k is not None and block != zero:
                print("block %d after a prefix of %d is neither zero nor its pattern" % (j, k))
                return 1
    print(count if k is None else k)
    return 0


op, args = sys.argv[1], sys.argv[2:]
if op == "write":
    sys.exit(write(args[0], args[1], int(args[2]), int(args[3]), len(args) > 4))
if op == "fsync":
    sys.exit(fsync(args[0]))
if op == "seq":
    sys.exit(seq(args[0], int(args[1]), int(args[2])))
if op == "seqcheck":
    sys.exit(seqcheck(args[0], int(args[1]), int(args[2])))
sys.exit(2)
EOF
dio() {
	python3 dio.py "$@"
}

# --- flushed data, a snapshot ----------------------------------------------------
log_must dio write $dev "$image" 0 $((8 * MiB)) fsync
s1=$(snapshot pool 1)
s1_sum=$(image_sum)
log_must dio write $dev "$image" $MiB $((2 * MiB)) fsync
log_must dio write $dev "$image" $((20 * MiB)) $((4 * MiB)) fsync
snap_view pool 1 "$s1" $size
assert_eq "$(sha256_of $dev 0 $((32 * MiB)))" "$(image_sum)" "disk before the failure"
assert_eq "$(pool_status_field pool 4)" rw "mode before the failure"
ev0=$(dmsetup info -c --noheadings -o events pool)

# --- metadata writes fail under a writer -------------------------------------------
# The writer fills new blocks from 32 MiB on, far more than it can write
# before it is stopped: once the metadata device fails writes, the next
# commit fails, and so do the writer's writes needing new blocks.
seq_first=$((32 * 256)) seq_count=$((224 * 256))
used0=$(pool_data_used pool)
timeout 240 python3 dio.py seq $dev $seq_first $seq_count >seq.out 2>&1 &
writer=$!
on_exit "kill $writer 2>/dev/null || true"
for ((i = 0; i < 600; i++)); do
	(($(pool_data_used pool) >= used0 + 256)) && break
	kill -0 $writer 2>/dev/null || break
	sleep 0.1
done
kill -0 $writer 2>/dev/null || fail "the writer stopped before the failure: $(<seq.out)"
dmesg -C
swap_meta "$bad"
rc=0
wait $writer || rc=$?
cat seq.out
assert_eq "$rc" 0 "writer exit status (124: it hung)"
read -r written err <seq.out
[[ $err == "Input/output error" ]] || fail "the writer did not stop on EIO: $(<seq.out)"
((written < seq_count)) || fail "the writer wrote everything"

# --- read-only, needs_check --------------------------------------------------------
log_note "after the failure: $(dmsetup status pool)"
assert_eq "$(pool_status_field pool 4)" ro "mode after the failure"
assert_eq "$(pool_status_field pool 5)" needs_check "needs_check after the failure"
assert_eq "$(pool_status_field pool 7)" - "metadata_low after the failure"
pool_msg pool info pool | grep -q " mode=ro needs_check=1$" ||
	fail "info pool: $(pool_msg pool info pool)"
kernel_log_has "row-pool: .*metadata operation '[a-z ]+' failed: error = -5" ||
	fail "no failed metadata operation in the kernel log"
kernel_log_has "row-pool: .*switching to ro mode" || fail "no mode change in the kernel log"
(($(dmsetup info -c --noheadings -o events pool) > ev0)) || fail "no dm event raised by the pool"

# Flushes fail, every time: writes acknowledged before them were dropped.
for i in 1 2 3; do
	expect_exit 1 dio fsync $dev
	out_has "Input/output error"
done
expect_exit 1 dmsetup message pool 0 commit
assert_eq "$(pool_status_field pool 5)" needs_check "needs_check after failed flushes"

# Writes needing a block fail at once; in place they work.
for off in $((30 * MiB)) $((5 * MiB)); do
	expect_exit 1 timeout 120 python3 dio.py write $dev - $off 4096
	out_has "Input/output error"
done
log_must dio write $dev "$image" $((21 * MiB)) 4096
expect_exit 1 dmsetup message pool 0 snapshot 1
err_has "Read-only file system"
expect_exit 1 dmsetup message pool 0 create_disk 2 8192
err_has "Read-only file system"

# Reads: the last commit.
assert_eq "$(sha256_of $dev 0 $((32 * MiB)))" "$(image_sum)" "disk after the failure"
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$s1 0 $((32 * MiB)))" "$s1_sum" "snapshot after the failure"
expect_exit 0 dio seqcheck $dev $seq_first $((written + 256))
committed=${CMD_OUT_LINES[0]}
# The commit that failed had at least one of the writer's blocks to commit.
((committed < written)) || fail "$committed blocks committed of $written written"

# --- removal, a working metadata device, reload ----------------------------------------
log_must dmsetup_remove pool-d1-s$s1
log_must dmsetup_remove pool-d1
log_must dmsetup_remove pool
swap_meta "$good"
expect_exit 0 snapctl check /dev/mapper/meta
out_has ": clean$"
pool_create pool /dev/mapper/meta "$data"
log_note "reloaded: $(dmsetup status pool)"
assert_eq "$(pool_status_field pool 4)" rw "mode after the reload"
assert_eq "$(pool_status_field pool 5)" - "needs_check after the reload"
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
snap_view pool 1 "$s1" $size
assert_eq "$(sha256_of $dev 0 $((32 * MiB)))" "$(image_sum)" "disk after the reload"
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$s1 0 $((32 * MiB)))" "$s1_sum" "snapshot after the reload"
expect_exit 0 dio seqcheck $dev $seq_first $((written + 256))
assert_eq "${CMD_OUT_LINES[0]}" "$committed" "committed blocks of the writer after the reload"

# And it works.
log_must dio write $dev "$image" $((30 * MiB)) $MiB fsync
log_must dio write $dev "$image" $((5 * MiB)) 4096 fsync
assert_eq "$(sha256_of $dev 0 $((32 * MiB)))" "$(image_sum)" "disk after new writes"
