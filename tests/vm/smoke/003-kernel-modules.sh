#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: brd, null_blk and the dm targets tests build on load
#
# brd, null_blk, dm-thin, dm-snapshot, dm-log-writes and dm-flakey load; a
# table naming a target whose module is not loaded (zero) makes the kernel
# autoload it through its modprobe helper, which must work in the guest.

. "$DMROW_SRC/tests/vm/common.sh"

log_must modprobe dm-mod

log_must modprobe brd rd_nr=1 rd_size=65536
on_exit modprobe -r brd
[[ -b /dev/ram0 ]] || fail "brd did not create /dev/ram0"
assert_eq "$(dev_sectors /dev/ram0)" 131072 "size of /dev/ram0"

log_must modprobe null_blk nr_devices=1 gb=1
on_exit modprobe -r null_blk
[[ -b /dev/nullb0 ]] || fail "null_blk did not create /dev/nullb0"

for m in dm-thin-pool dm-snapshot dm-log-writes dm-flakey dm-bufio; do
	log_must modprobe "$m"
done
targets=$(dmsetup targets)
for t in thin-pool thin snapshot snapshot-origin log-writes flakey; do
	grep -qw "$t" <<<"$targets" || fail "target $t missing from dmsetup targets"
done

# dm-zero is not loaded: creating the table makes the kernel ask for it.
[[ ! -d /sys/module/dm_zero ]] || log_must modprobe -r dm-zero
dmsetup_create smoke-zero "0 2048 zero"
[[ -d /sys/module/dm_zero ]] || fail "dm-zero was not autoloaded"
assert_eq "$(sha256_of /dev/mapper/smoke-zero)" \
	"$(head -c $((2048 * 512)) /dev/zero | sha256sum | cut -d' ' -f1)" \
	"contents of the zero target"
