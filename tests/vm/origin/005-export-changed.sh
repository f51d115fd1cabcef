#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: pool deactivate stops an instant import's server; an export deleted and made again under its name with other data is never served as the old disk's origin
# TIMEOUT: 300
#
# An 8 MiB disk "src" of random data is exported to a file:// repository
# as "img" and imported with 'import --instant' at 64 KiB/s, so that it is
# still hydrating throughout.
#  - 'pool deactivate' leaves no nbdkit and no served export behind;
#    'pool activate' serves the export again and the disk reads as src's
#    snapshot.
#  - src is overwritten and snapshotted again; with the pool inactive
#    'img' is deleted, and it is made again from the new snapshot (under
#    the same name, holding other data; in between, 'pool activate' says
#    the export is missing, exit 3).  'pool activate' then refuses to
#    serve it as the origin of the imported disk: it fails naming the
#    export and saying it is not the one the disk was made from, the disk
#    gets no device (it would read other data), no nbdkit is left, and the
#    pool's other disk comes up and reads as written.
#  - With the disk removed, 'pool deactivate' and 'pool activate' succeed.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/origin/lib.sh"

require_disks 2
require_cmd jq nbdkit nbd-client pgrep
load_module
snapctl_pool tank
on_exit unserve_all
URL=file://$TEST_TMP/repo
size=$((8 * MiB))

log_must snapctl disk create tank src --size 8M
s1=$(write_random /dev/mapper/tank-src 0 $size 51)
log_must snapctl snapshot create tank src --name s1
expect_exit 0 snapctl export tank src/s1 "$URL" --name img
expect_exit 0 snapctl import --instant "$URL" img tank vm --rate 64K/s
dev=/dev/mapper/tank-vm
expect_hydrating tank vm "after the import"

# deactivate stops the server; activate serves it again.
expect_exit 0 snapctl pool deactivate tank
[[ -z $(pgrep -x nbdkit || true) ]] || fail "pool deactivate left a server: $(pgrep -a nbdkit)"
compgen -G "$SNAPCTL_RUN_DIR/nbd/*.serve" >/dev/null &&
	fail "pool deactivate left a served export: $(ls "$SNAPCTL_RUN_DIR/nbd")"
expect_exit 0 snapctl pool activate tank
[[ -n $(pgrep -x nbdkit || true) ]] || fail "pool activate did not serve the export again"
assert_eq "$(sha256_of $dev)" "$s1" "the imported disk after deactivate and activate"
expect_hydrating tank vm "after activation"

# The export made again under its name, from other data.
s2=$(write_random /dev/mapper/tank-src 0 $size 52)
log_must snapctl snapshot create tank src --name s2
expect_exit 0 snapctl pool deactivate tank
expect_exit 0 snapctl export delete "$URL" img
# The old export is gone: vm cannot come up (exit 3, not found), src does.
expect_exit 3 snapctl pool activate tank
err_has "has no export 'img'"
err_has "disk vm of pool 'tank' stays inactive: its origin is not served"
# Not the hint for a command run outside activation: this is 'pool activate'.
! _lines_match "run 'snapctl pool activate" "${CMD_ERR_LINES[@]}" ||
	fail "pool activate tells the operator to run pool activate"
expect_exit 0 snapctl export tank src/s2 "$URL" --name img
expect_exit 0 snapctl pool deactivate tank

rc=0
snapctl pool activate tank >"$TEST_TMP/activate.out" 2>&1 || rc=$?
cat "$TEST_TMP/activate.out"
[[ $rc -ne 0 ]] || fail "pool activate served a changed export as the disk's origin"
grep -q "cannot serve export 'img'" "$TEST_TMP/activate.out" ||
	fail "pool activate does not name the export it refused"
grep -q "not the export asked for" "$TEST_TMP/activate.out" ||
	fail "pool activate does not say the export changed"
grep -q "stays inactive: its origin is not served" "$TEST_TMP/activate.out" ||
	fail "pool activate does not say which disk stays inactive"
! grep -q "run 'snapctl pool activate" "$TEST_TMP/activate.out" ||
	fail "pool activate tells the operator to run pool activate"
[[ ! -e $dev ]] || fail "the disk came up on a changed export (it reads $(sha256_of $dev))"
[[ -z $(pgrep -x nbdkit || true) ]] || fail "a refused export is still served: $(pgrep -a nbdkit)"
assert_eq "$(sha256_of /dev/mapper/tank-src)" "$s2" "the pool's other disk"

expect_exit 0 snapctl disk remove tank vm --yes
expect_exit 0 snapctl pool deactivate tank
expect_exit 0 snapctl pool activate tank
assert_eq "$(sha256_of /dev/mapper/tank-src)" "$s2" "src after the disk without its export is gone"
