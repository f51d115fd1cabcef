#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: import --instant from S3: ext4 mounted, a file read and one written, a snapshot and a clone taken while hydration runs; after hydrate --wait the origin and the NBD server are gone and everything reads the same
# TIMEOUT: 600
#
# A 64 MiB disk (256 MiB with DMROW_TEST_SCALE=full) with ext4 and
# three files is exported to the S3 test server and imported with
# 'import --instant' at a rate that would take 32 s (2M/s, or 8M/s): the
# command prints the device at once.  The smaller disk covers every step;
# the full one is the size the issue names.  While hydration is provably under way (disk
# list says running, fewer bytes hydrated than the origin has) the file
# system is mounted, its files checksum as exported, a new file is
# written; a snapshot and a clone of it are taken.  'disk hydrate --wait'
# (at full speed) completes: the disk's table and its snapshot view's no
# longer name the origin, and the NBD server stays for the clone, until
# the clone is hydrated too: then no server, no NBD device in use.  The
# disk, the view and the clone read the same as the disk did before the
# origin went (nothing was written after the snapshot), and the files too.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/origin/lib.sh"

instant_setup tank

if full_scale; then
	mib=256
else
	mib=64
fi
make_export tank $mib

expect_exit 0 snapctl import --instant "$URL" img tank vm --rate $((mib / 32))M/s
assert_eq "${CMD_OUT_LINES[0]}" /dev/mapper/tank-vm "import --instant prints the device"
dev=/dev/mapper/tank-vm
dmsetup table tank-vm | grep -q "external_origin=" || fail "tank-vm's table names no origin"
expect_hydrating tank vm "after the import"

mkdir -p "$TEST_TMP/vm"
log_must mount $dev "$TEST_TMP/vm"
on_exit "! mountpoint -q '$TEST_TMP/vm' || umount '$TEST_TMP/vm'"
assert_eq "$(sha256sum <"$TEST_TMP/vm/file3" | cut -d' ' -f1)" "${FILE_SUM[file3]}" "file3, read while hydrating"
random_stream $((2 * MiB)) new >"$TEST_TMP/vm/new"
new_sum=$(sha256sum <"$TEST_TMP/vm/new" | cut -d' ' -f1)
log_must umount "$TEST_TMP/vm"
expect_hydrating tank vm "after the file system was used"

expect_exit 0 snapctl snapshot create tank vm --name mid
expect_exit 0 snapctl snapshot view tank vm/mid
expect_exit 0 snapctl clone tank vm/mid vmc
expect_hydrating tank vm "after the snapshot and the clone"
# Nothing was written since the snapshot: the view and the clone read as the disk.
disk_sum=$(sha256_of $dev)
view_sum=$disk_sum
clone_sum=$disk_sum

expect_exit 0 snapctl disk hydrate tank vm --rate 0 --wait
out_has "origin is taken away"
for d in tank-vm tank-vm@mid; do
	dmsetup table $d | grep -q "external_origin=" && fail "$d still names the origin"
done
[[ -n $(pgrep -x nbdkit || true) ]] || fail "the server stopped while the clone uses it"
expect_exit 0 snapctl disk hydrate tank vmc --wait
dmsetup table tank-vmc | grep -q "external_origin=" && fail "tank-vmc still names the origin"
[[ -z $(pgrep -x nbdkit || true) ]] || fail "an nbdkit still runs: $(pgrep -a nbdkit)"
compgen -G "$SNAPCTL_RUN_DIR/nbd/*.serve" >/dev/null && fail "a served export is left: $(ls "$SNAPCTL_RUN_DIR/nbd")"

assert_eq "$(sha256_of $dev)" "$disk_sum" "the disk without its origin"
assert_eq "$(sha256_of $dev@mid)" "$view_sum" "the view without the origin"
assert_eq "$(sha256_of /dev/mapper/tank-vmc)" "$clone_sum" "the clone without its origin"
log_must mount -o ro $dev "$TEST_TMP/vm"
for f in file1 file2 file3; do
	assert_eq "$(sha256sum <"$TEST_TMP/vm/$f" | cut -d' ' -f1)" "${FILE_SUM[$f]}" "$f after hydration"
done
assert_eq "$(sha256sum <"$TEST_TMP/vm/new" | cut -d' ' -f1)" "$new_sum" "the new file after hydration"
log_must umount "$TEST_TMP/vm"
