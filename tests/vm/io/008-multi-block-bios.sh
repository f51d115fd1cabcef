#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: bios over many blocks read and write right across every kind of mapping, in one piece where they can
#
# A bio that covers several data blocks is remapped whole while its blocks
# are mapped alike (to consecutive data blocks, or all unmapped) and is cut
# where they are not.  The disk gets a sequential region (consecutive data
# blocks), a region written alongside a second disk (data blocks
# interleaved), isolated blocks among unmapped ones, and writes that start
# and end inside blocks; after a snapshot, overwrites that mix shared,
# unshared and unmapped blocks, and a discard.  A model of the disk and of
# the snapshot is kept in files, and both devices are read back with
# O_DIRECT at 4 KiB, 1 MiB at an odd sector, 3 MiB and 8 MiB (past the fast
# path's 4 MiB run), each compared with the model.  Reading the sequential
# region in 1 MiB bios must reach the data device as a few bios per MiB,
# not one per 4 KiB block (a count from its statistics, not a timing).
#
# The writes (in 1 MiB pieces, as dd bs=1M would), the models and the
# reads all go through one dmrow_io process: a process per write or read
# costs more than the I/O under emulation.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd blkdiscard
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((32 * 2048))			# 32 MiB
disk_create pool 1 $size
disk_create pool 2 $size
dev=/dev/mapper/pool-d1
other=/dev/mapper/pool-d2
KiB=1024
MiB=$((1 << 20))

io_start
io model $dev $((32 * MiB))

# put OFF LEN: random data to the disk, in writes of 1 MiB at most, and to
# its model.
put() {
	io write $dev "$1" "$2" $MiB
}

# check_reads DEV MODEL WHAT: DEV equals the model MODEL, read in bios of
# several sizes.
check_reads() {
	local dev=$1 model=$2 what=$3 want got bs
	io_get want sha "$model"
	blockdev --flushbufs "$dev"
	for bs in 4096 $MiB $((3 * MiB)) $((8 * MiB)); do
		io_get got read "$dev" 0 $((32 * MiB)) "$bs"
		assert_eq "$got" "$want" "$what read in $((bs >> 10)) KiB bios"
	done
	# 1 MiB bios from sector 7 on: every bio starts and ends inside a block.
	io_get want sha "$model" 3584 $((30 * MiB))
	io_get got read "$dev" 3584 $((30 * MiB)) $MiB
	assert_eq "$got" "$want" "$what read in 1 MiB bios from sector 7"
}

# Sequential: 0-8 MiB.  Interleaved with disk 2: 12-14 MiB in 64 KiB pieces.
put 0 $((8 * MiB))
for ((i = 0; i < 32; i++)); do
	put $((12 * MiB + i * 64 * KiB)) $((64 * KiB))
	io write $other $((i * 64 * KiB)) $((64 * KiB))
done
# Isolated blocks in 8-10 MiB; a MiB starting and ending inside blocks at 20 MiB.
for ((i = 0; i < 32; i++)); do
	put $((8 * MiB + i * 64 * KiB)) 4096
done
put $((20 * MiB + 512)) $MiB
check_reads $dev $dev "disk"

snap=$(snapshot pool 1)
snap_view pool 1 "$snap" $size
view=/dev/mapper/pool-d1-s$snap
io copy $dev snap

# Overwrites across shared blocks, from inside a block; across isolated
# shared blocks and unmapped ones; across the interleaved region's edge.
put $((3 * MiB + 1536)) $((2 * MiB))
put $((9 * MiB)) $MiB
put $((13 * MiB + 4096)) $((2 * MiB))
# Part of the sequential region newly written goes back to unshared, then
# a discard makes a hole in it.
put $((1 * MiB)) $MiB
log_must blkdiscard -o $((6 * MiB)) -l $MiB $dev
io zero $dev $((6 * MiB)) $MiB

check_reads $dev $dev "disk after the snapshot"
check_reads "$view" snap "snapshot"

# The sequential region's 1 MiB reads reach the data device in few bios.
data=$(basename "$(readlink -f "$(disk 1)")")
data_bios() { awk '{ print $1 + $2 }' "/sys/block/$data/stat"; }
before=$(data_bios)
dd if=$view of=/dev/null bs=1M count=6 skip=2 iflag=direct status=none
after=$(data_bios)
bios=$((after - before))
log_note "6 MiB of consecutive blocks read in 1 MiB bios: $bios bios on the data device"
[[ $bios -ge 6 && $bios -le 96 ]] ||
	fail "6 MiB of consecutive blocks took $bios data-device bios (1536 would be one per block)"
