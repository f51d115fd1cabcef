#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: first boot of the hydration test: an instant import reset part way through its hydration
#
# A 64 MiB disk with ext4 and three files is exported to a file://
# repository in the host's work directory and removed; 'import --instant'
# makes a disk of the export that hydrates at 512 KiB/s.  A file is
# written through ext4 and the file system unmounted; the sums of every
# file and of the whole disk are recorded, and so is how far hydration got
# (the status, read before a timer commit that records at least that
# much).  The machine is then reset (sysrq 'b': no deactivation, the NBD
# server killed with everything else) while hydration is provably under
# way.  hydrate-boot2.sh checks that 'pool activate' brings the server and
# the hydration back, from where it was, and that it completes.
. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/reboot/hydrate-env.sh"
require_disks 2
require_cmd jq nbdkit nbd-client pgrep mkfs.ext4
rm -rf "$state" "$SNAPCTL_CONFIG_DIR" "$SNAPCTL_STATE_DIR" "${URL#file://}"
mkdir -p "$state"
load_module
zero_dev /dev/vda 16
log_must snapctl pool create tank --metadata /dev/vda --data /dev/vdb --force
make_export tank 64
for f in "${!FILE_SUM[@]}"; do
	echo "$f ${FILE_SUM[$f]}" >>"$state/files"
done

expect_exit 0 snapctl import --instant "$URL" img tank vm --rate 512K/s
mkdir -p "$TEST_TMP/vm"
log_must mount $dev "$TEST_TMP/vm"
random_stream $((1 * MiB)) new >"$TEST_TMP/vm/new"
echo "new $(sha256sum <"$TEST_TMP/vm/new" | cut -d' ' -f1)" >>"$state/files"
log_must umount "$TEST_TMP/vm"
sha256_of $dev >"$state/disk.sum"

sleep 2
read -r _ done total <<<"$(hydration tank vm)"
((done > 0)) || fail "hydration copied nothing in the first seconds"
echo "$done" >"$state/hydrated"
sleep 2		# the timer's commit records the hydrated mark at least that far
expect_hydrating tank vm "before the reset"
echo "reset while hydrating, $done of $total bytes hydrated" >"$VM_OUTDIR/cmd-reset"
log_note "resetting: $(<"$VM_OUTDIR/cmd-reset")"
echo b >/proc/sysrq-trigger
sleep 60
fail "the machine did not reset"
