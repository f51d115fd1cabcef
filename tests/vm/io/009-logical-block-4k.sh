#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: 4 KiB logical blocks: advertised, 512-byte writes refused by the block layer, 4 KiB writes after a snapshot copy nothing
#
# 'disk create --logical-block-size 4096' makes a device whose table has
# logical_block_size=4096 and that reports 4096-byte sectors (blockdev
# --getss), as do its snapshot views and its clones; the choice lives in
# the pool's disk record, so the tables are the same after the pool is
# deactivated and activated again.  A 512-byte O_DIRECT write is refused
# by the block layer (EINVAL) and changes nothing.  After a snapshot,
# 4 KiB writes to shared blocks all go to new blocks and the disk's status
# counts no partial-block copy; on a 512-byte disk the same snapshot and a
# 512-byte write counts one copy.  Data is checked by checksums throughout.
# A bad --logical-block-size is refused (exit 2).

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq python3
load_module

MiB=$((1 << 20))
# disk_status DEV N: the N-th word of a disk's status after "row": 1 disk
# id, 2 snapshot id, 3 pool mode, 4 new block writes, 5 partial block
# copies, 6 partial block zero fills.
disk_status() {
	local -a w
	read -r -a w <<<"$(dmsetup status "$1")"
	echo "${w[$(($2 + 2))]}"
}
# odirect_write DEV OFFSET LEN: one O_DIRECT pwrite; prints "ok" or the errno name.
odirect_write() {
	python3 - "$@" <<'PY'
import errno, mmap, os, sys
dev, off, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = mmap.mmap(-1, 4096)
buf.write(b"\xa5" * 4096)
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
try:
    os.pwrite(fd, memoryview(buf)[:n], off)
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
}

snapctl_pool tank

# --- contract ---------------------------------------------------------------
expect_exit 2 snapctl disk create tank bad --size 16M --logical-block-size 1024
err_has "logical block size must be 512 or 4096"
expect_exit 2 snapctl disk create tank bad --size 16M --logical-block-size 4k5
dmsetup info tank-bad >/dev/null 2>&1 && fail "a refused disk create made a device"

# --- advertised -----------------------------------------------------------------
log_must snapctl disk create tank g4k --size 32M --logical-block-size 4096
log_must snapctl disk create tank g512 --size 32M
dev=/dev/mapper/tank-g4k
assert_eq "$(blockdev --getss $dev)" 4096 "logical block size of the 4K disk"
assert_eq "$(blockdev --getss /dev/mapper/tank-g512)" 512 "logical block size of the default disk"
[[ $(dmsetup table tank-g4k) == *" logical_block_size=4096" ]] || fail "table: $(dmsetup table tank-g4k)"
[[ $(dmsetup table tank-g512) != *logical_block_size* ]] || fail "a default disk has the feature"
snapctl --json disk list tank | jq -e '.[] | select(.name == "g4k") | .logical_block_size == 4096' ||
	fail "disk list --json: the logical block size"

sum=$(write_random $dev 0 $((8 * MiB)) 1)
write_random /dev/mapper/tank-g512 0 $((8 * MiB)) 1 >/dev/null

# --- 512-byte writes refused by the block layer ---------------------------------
assert_eq "$(odirect_write $dev 0 512)" EINVAL "a 512-byte O_DIRECT write"
assert_eq "$(odirect_write $dev 4096 512)" EINVAL "a 512-byte O_DIRECT write at 4 KiB"
assert_eq "$(odirect_write $dev 512 4096)" EINVAL "a 4 KiB O_DIRECT write at 512 bytes"
assert_eq "$(sha256_of $dev 0 $((8 * MiB)))" "$sum" "the disk after refused writes"

# --- 4 KiB writes after a snapshot copy nothing --------------------------------------
log_must snapctl snapshot create tank g4k --name s1
log_must snapctl snapshot create tank g512 --name s1
new0=$(disk_status tank-g4k 4)
assert_eq "$(disk_status tank-g4k 5)" 0 "copies before the writes"
# 256 shared blocks rewritten, 4 KiB at a time, and 64 in one 256 KiB write.
dd if=/dev/urandom of=$dev bs=4096 count=256 seek=256 oflag=direct status=none ||
	fail "4 KiB writes"
dd if=/dev/urandom of=$dev bs=256K count=1 seek=16 oflag=direct status=none ||
	fail "a 256 KiB write"
assert_eq "$(disk_status tank-g4k 5)" 0 "partial block copies after 4 KiB writes"
assert_eq "$(disk_status tank-g4k 6)" 0 "partial block zero fills after 4 KiB writes"
assert_eq "$(($(disk_status tank-g4k 4) - new0))" 320 "new block writes after 4 KiB writes"
live_sum=$(sha256_of $dev 0 $((8 * MiB)))
[[ $live_sum != "$sum" ]] || fail "the writes changed nothing"

# The same on a 512-byte disk, with one 512-byte write: one copy.
assert_eq "$(disk_status tank-g512 5)" 0 "copies on the 512-byte disk before"
assert_eq "$(odirect_write /dev/mapper/tank-g512 $((1 * MiB + 512)) 512)" ok "a 512-byte write"
assert_eq "$(disk_status tank-g512 5)" 1 "a 512-byte write to a shared block copies"

# The snapshot and its view: 4 KiB sectors, the data of before.
log_must snapctl snapshot view tank g4k/s1
assert_eq "$(blockdev --getss /dev/mapper/tank-g4k@s1)" 4096 "logical block size of the view"
assert_eq "$(sha256_of /dev/mapper/tank-g4k@s1 0 $((8 * MiB)))" "$sum" "the snapshot after the writes"
log_must snapctl snapshot unview tank g4k/s1

# --- kept by the pool: re-activation, clones -------------------------------------
log_must snapctl pool deactivate tank
log_must snapctl pool activate tank
assert_eq "$(blockdev --getss $dev)" 4096 "logical block size after re-activating"
assert_eq "$(blockdev --getss /dev/mapper/tank-g512)" 512 "default disk after re-activating"
assert_eq "$(sha256_of $dev 0 $((8 * MiB)))" "$live_sum" "the disk after re-activating"
log_must snapctl clone tank g4k/s1 c4k
assert_eq "$(blockdev --getss /dev/mapper/tank-c4k)" 4096 "logical block size of a clone"
assert_eq "$(sha256_of /dev/mapper/tank-c4k 0 $((8 * MiB)))" "$sum" "the clone"
