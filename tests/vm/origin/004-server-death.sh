#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: the export server of an instant import dies mid-hydration: only unhydrated reads fail; pool activate brings it back and hydration completes
# TIMEOUT: 600
#
# A 32 MiB export on the S3 test server is imported with 'import
# --instant' at 1 MiB/s.  Once a few MiB are hydrated, 1 MiB past them is
# written, and the nbdkit server is killed (SIGKILL):
#  - a read of a hydrated block still works, and so does a read of the
#    written MiB; a read of a block neither hydrated nor written fails
#    with an I/O error (never other data);
#  - a write still works;
#  - 'snapctl pool activate' serves the export again (on whatever NBD
#    device is free), loads the disk's table with it and restarts
#    hydration, which then completes ('disk hydrate --wait'): the origin
#    goes, and the disk reads as a plain import of the export with the
#    writes on top.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/origin/lib.sh"

instant_setup tank
make_export tank 32
size=$((32 * MiB))

# The image as a plain import restores it, to compare with at the end.
expect_exit 0 snapctl import "$URL" img tank plain
plain=/dev/mapper/tank-plain

expect_exit 0 snapctl import --instant "$URL" img tank vm --rate 1M/s
dev=/dev/mapper/tank-vm
for ((i = 0; i < 300; i++)); do
	read -r state done total <<<"$(hydration tank vm)"
	((done >= 3 * MiB)) && break
	sleep 0.1
done
((done >= 3 * MiB && done < 20 * MiB)) || fail "hydration at 1 MiB/s: $state, $done of $total bytes"
w1=$(write_random $dev $((28 * MiB)) $MiB 41)

log_must pkill -KILL -x nbdkit
sleep 1

# Hydrated and written blocks read; the others fail, and never read wrong.
log_must dd if=$dev of=/dev/null bs=4096 count=1 iflag=direct status=none
assert_eq "$(sha256_of $dev $((28 * MiB)) $MiB)" "$w1" "the MiB written before the server died"
log_mustnot dd if=$dev of=/dev/null bs=4096 skip=$((24 * MiB / 4096)) count=1 iflag=direct status=none
w2=$(write_random $dev $((30 * MiB)) $MiB 42)
assert_eq "$(sha256_of $dev $((30 * MiB)) $MiB)" "$w2" "a MiB written while the server is dead"

# pool activate brings the server back; hydration completes.
expect_exit 0 snapctl pool activate tank
[[ -n $(pgrep -x nbdkit || true) ]] || fail "pool activate did not serve the export again"
log_must dd if=$dev of=/dev/null bs=4096 skip=$((24 * MiB / 4096)) count=1 iflag=direct status=none
expect_exit 0 snapctl disk hydrate tank vm --rate 0 --wait
dmsetup table tank-vm | grep -q "external_origin=" && fail "tank-vm still names the origin"
[[ -z $(pgrep -x nbdkit || true) ]] || fail "an nbdkit still runs: $(pgrep -a nbdkit)"

# The export, with the two MiB written on top.
assert_eq "$(sha256_of $dev 0 $((28 * MiB)))" "$(sha256_of $plain 0 $((28 * MiB)))" "the first 28 MiB"
assert_eq "$(sha256_of $dev $((28 * MiB)) $MiB)" "$w1" "the MiB written before the server died"
assert_eq "$(sha256_of $dev $((29 * MiB)) $MiB)" "$(sha256_of $plain $((29 * MiB)) $MiB)" "MiB 29"
assert_eq "$(sha256_of $dev $((30 * MiB)) $MiB)" "$w2" "the MiB written while it was dead"
assert_eq "$(sha256_of $dev $((31 * MiB)) $MiB)" "$(sha256_of $plain $((31 * MiB)) $MiB)" "MiB 31"
