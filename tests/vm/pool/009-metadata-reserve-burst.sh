#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a write burst that runs a nearly full metadata device out within one commit period loses no acknowledged write: the pool stops at its reserve with metadata_low, not with a failed transaction
# TIMEOUT: 600
#
# A pool on a 1 MiB (256 block) metadata device gets an 80 MiB disk, 65
# MiB of it written in order: about 130 half-full mapping leaves, which
# leave the metadata about 40 blocks above its reserve of 64.  After a
# snapshot every leaf is shared, so the first write into each copies it.
# Sixteen threads then write a 4 KiB block into each leaf, as fast as they
# can, with no flush, and keep an image of every write the disk
# acknowledged, until a write fails: copying 130 leaves takes more
# metadata than is left, and the 40 blocks go within one commit period.
# With DMROW_TEST_SCALE=full the metadata device is 2 MiB (512 blocks)
# and 175 MiB of a 200 MiB disk are written: about 355 leaves, the same
# 40 blocks above the reserve, so the burst is the same, after a fill
# almost three times as long.
#
# The pool must stop at its metadata reserve (the I/O path refuses a
# mapping that could take it, commits, and only then gives up): the
# failed write is ENOSPC, the pool is ro with metadata_low and without
# needs_check, and the disk holds every acknowledged write, read live and
# after the pool is loaded again; the snapshot is intact, the metadata
# checks clean, and deleting the snapshot brings the pool back to rw.
# Before the reserve was kept on the I/O path, the last mapping failed
# half way, the transaction was aborted and up to a second of acknowledged
# writes read back as their old contents.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3 snapctl
load_module

data=$(disk 1)
zero_dev "$(disk 0)" 4
if full_scale; then
	meta_sectors=4096 fill_mib=175 size=$((200 * 2048))
else
	meta_sectors=2048 fill_mib=65 size=$((80 * 2048))
fi
dmsetup_create meta "0 $meta_sectors linear $(disk 0) 0"
meta=/dev/mapper/meta
MiB=$((1 << 20))

pool_create pool "$meta" "$data"
disk_create pool 1 $size
dev=/dev/mapper/pool-d1

image=$TEST_TMP/d1.img
truncate -s $((size * 512)) "$image"

# same_as DEV IMAGE WHAT: DEV holds exactly IMAGE, read with O_DIRECT and
# compared byte for byte (under emulation, hashing the disk would cost
# about as much again as reading it).
same_as() {
	dd if="$1" bs=1M iflag=direct status=none | cmp - "$2" || fail "$3: $1 is not $2"
}
log_must dd if=/dev/urandom of="$image" bs=1M count=$fill_mib conv=notrunc status=none
log_must dd if="$image" of=$dev bs=1M count=$fill_mib oflag=direct status=none
log_must pool_msg pool commit
log_note "after the fill: $(dmsetup status pool)"
assert_eq "$(pool_status_field pool 4)" rw "mode after the fill"
cp "$image" "$TEST_TMP/snap.img"
s=$(snapshot pool 1 name=full)

# One block in each 512 KiB (each leaf), from 16 threads at once, with no
# flush, until a write fails; every write the disk acknowledged goes into
# the image.  Prints the count and the first error.
cat >burst.py <<'EOF'
import mmap, os, sys, threading
dev, image, nblocks = sys.argv[1], sys.argv[2], int(sys.argv[3])
THREADS, STRIDE = 16, 128
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
done, errors, stop = [], [], threading.Event()

def writer(t):
    buf = mmap.mmap(-1, 4096)
    for b in range(t * STRIDE, nblocks, THREADS * STRIDE):
        if stop.is_set():
            return
        data = os.urandom(4096)
        buf.seek(0)
        buf.write(data)
        try:
            os.pwrite(fd, buf, b * 4096)
        except OSError as e:
            errors.append(e.strerror)
            stop.set()
            return
        done.append((b, data))

threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
img = os.open(image, os.O_WRONLY)
for b, data in done:
    os.pwrite(img, data, b * 4096)
print(len(done), errors[0] if errors else "none")
EOF
read -r written error <<<"$(python3 burst.py $dev "$image" $((fill_mib * 256)))"
log_note "burst: $written writes acknowledged, then: $error"
log_note "after the burst: $(dmsetup status pool)"
[[ $error == "No space left on device" ]] ||
	fail "the burst should end with ENOSPC, got '$error' after $written writes"
((written > 0)) || fail "no write of the burst was acknowledged"
assert_eq "$(pool_status_field pool 4)" ro "mode after the burst"
assert_eq "$(pool_status_field pool 5)" - "needs_check after the burst"
assert_eq "$(pool_status_field pool 7)" metadata_low "metadata_low after the burst"

same_as $dev "$image" "the disk after the burst (every acknowledged write)"
kernel_log_has "row-pool: .*metadata space low" || fail "the pool did not log that metadata ran low"
snap_view pool 1 "$s" $size
same_as /dev/mapper/pool-d1-s"$s" "$TEST_TMP/snap.img" "the snapshot after the burst"

# Loaded again, the same.
dmsetup_remove pool-d1-s"$s"
dmsetup_remove pool-d1
dmsetup_remove pool
expect_exit 0 snapctl check "$meta"
pool_create pool "$meta" "$data"
dmsetup_create pool-d1 "0 $size row /dev/mapper/pool 1"
same_as $dev "$image" "the disk after loading the pool again"

# Deleting the snapshot gives the copied leaves back: rw, and writes work.
log_must pool_msg pool delete_snapshot "$s"
log_must pool_msg pool commit
assert_eq "$(pool_status_field pool 4)" rw "mode after deleting the snapshot"
write_random $dev 0 $MiB 31 >/dev/null
dmsetup_remove pool-d1
dmsetup_remove pool
expect_exit 0 snapctl check "$meta"
