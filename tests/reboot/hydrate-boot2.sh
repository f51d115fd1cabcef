#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: second boot of the hydration test: pool activate resumes the server and the hydration, which completes
#
# After the reset of hydrate-boot1.sh, 'pool activate' serves the export
# again and hydration goes on from the mark it committed: at least as far
# as the first boot saw it, still under way.  While it runs, ext4 mounts
# and every file (and the one written before the reset) checksums as
# recorded.  'disk hydrate --wait' at full speed completes it: the origin
# leaves the table, the server stops, the disk reads as before the reset,
# and the pool's metadata checks clean.
. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/reboot/hydrate-env.sh"
require_cmd jq nbdkit nbd-client pgrep
load_module
on_exit unserve_all
log_must snapctl pool activate tank
read -r hstate done total <<<"$(hydration tank vm)"
before=$(<"$state/hydrated")
log_note "after activation: $hstate, $done of $total bytes hydrated (before the reset: $before)"
((done >= before)) ||
	fail "hydration went back from $before to $done bytes: it restarted instead of resuming"
expect_hydrating tank vm "after the reboot"
[[ -n $(pgrep -x nbdkit || true) ]] || fail "pool activate did not serve the export again"

mkdir -p "$TEST_TMP/vm"
log_must mount -o ro $dev "$TEST_TMP/vm"
on_exit "! mountpoint -q '$TEST_TMP/vm' || umount '$TEST_TMP/vm'"
while read -r f sum; do
	assert_eq "$(sha256sum <"$TEST_TMP/vm/$f" | cut -d' ' -f1)" "$sum" "$f, read while hydrating after the reboot"
done <"$state/files"
log_must umount "$TEST_TMP/vm"

expect_exit 0 snapctl disk hydrate tank vm --rate 0 --wait
dmsetup table tank-vm | grep -q "external_origin=" && fail "tank-vm still names the origin"
[[ -z $(pgrep -x nbdkit || true) ]] || fail "an nbdkit still runs: $(pgrep -a nbdkit)"
assert_eq "$(sha256_of $dev)" "$(<"$state/disk.sum")" "the disk after hydration"
log_must mount -o ro $dev "$TEST_TMP/vm"
while read -r f sum; do
	assert_eq "$(sha256sum <"$TEST_TMP/vm/$f" | cut -d' ' -f1)" "$sum" "$f after hydration"
done <"$state/files"
log_must umount "$TEST_TMP/vm"
log_must snapctl pool deactivate tank
expect_exit 0 snapctl check /dev/vda
echo "hydration test: verified"
