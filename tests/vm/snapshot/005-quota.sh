#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapshot quotas: a manual snapshot over quota fails with EDQUOT, an automatic one evicts the oldest automatic
#
# With 'set_quota 3 2', a disk takes 3 manual snapshots and the 4th fails
# ("Disk quota exceeded") without changing anything; automatic snapshots
# (kind=auto) past 2 evict the oldest automatic one, never a manual one.
# Every epoch writes 64 blocks of its own and overwrites 64 shared ones,
# so an evicted snapshot frees exactly its 64 exclusive blocks while the
# snapshots after it keep reading what they held.  Lowering the automatic
# quota below the count evicts as many as needed on the next automatic
# snapshot, unless one of those has an active view; a quota of 0 refuses
# automatic snapshots (EDQUOT); quotas count per disk.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((16 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
len=$((1024 * 4096))
io_start
io model $dev $len

log_must pool_msg pool set_quota 3 2
assert_eq "$(pool_field pool manual_quota):$(pool_field pool auto_quota)" "3:2" "quotas"

declare -A sum
# take KIND: an epoch (64 blocks of its own, 64 shared ones at 0), then a
# snapshot of that kind.
e=0
take() {
	local s
	e=$((e + 1))
	io write $dev $((64 * e * 4096)) $((64 * 4096))
	io write $dev 0 $((64 * 4096))
	s=$(snapshot pool 1 kind=$1)
	echo "epoch $e, $1 snapshot $s"
	sum[$s]=$(io sha $dev)
	last=$s
}
# check_contents SNAP...: each snapshot's view reads what it held.
check_contents() {
	local s
	for s in "$@"; do
		snap_view pool 1 "$s" $size
		assert_eq "$(io read /dev/mapper/pool-d1-s$s 0 $len)" "${sum[$s]}" "contents of snapshot $s"
		log_must dmsetup_remove pool-d1-s$s
	done
}

take manual; m1=$last
take auto; a1=$last
take manual; m2=$last
take auto; a2=$last
take manual; m3=$last
assert_eq "$(pool_data_used pool)" $((5 * 128)) "data blocks after 5 epochs"

# A 4th manual snapshot: refused, nothing changes.
log_mustnot snapshot pool 1 2>err
cat err
grep -q "Disk quota exceeded" err || fail "no EDQUOT for a manual snapshot over quota"
pool_msg pool info disk 1 | grep -q " manual=3 auto=2 " || fail "counts changed: $(pool_msg pool info disk 1)"

# Automatic snapshots past 2 evict the oldest automatic one.
take auto; a3=$last
log_mustnot pool_msg pool info snapshot "$a1"
take auto; a4=$last
log_mustnot pool_msg pool info snapshot "$a2"
pool_msg pool info disk 1 | grep -q " manual=3 auto=2 " || fail "counts: $(pool_msg pool info disk 1)"
# 7 epochs of 128 blocks; the two evicted snapshots each held 64 blocks alone.
assert_eq "$(pool_data_used pool)" $((7 * 128 - 2 * 64)) "data blocks after two evictions"

chain=$(pool_msg pool list_snapshots 1)
echo "$chain"
got=$(sed -n 's/^snapshot id=\([0-9]*\) .* kind=\([a-z]*\) .*/\1:\2/p' <<<"$chain" | tr '\n' ' ')
assert_eq "$got" "$m1:manual $m2:manual $m3:manual $a3:auto $a4:auto " "the chain after evictions"
check_contents "$m1" "$m2" "$m3" "$a3" "$a4"

# Room for a manual one after deleting one.
log_must pool_msg pool delete_snapshot "$m1"
take manual; m4=$last

# Lower the automatic quota below the count: the next one evicts two, and
# is refused while either has an active view.
log_must pool_msg pool set_quota 3 1
snap_view pool 1 "$a4" $size
log_mustnot snapshot pool 1 kind=auto 2>err
cat err
grep -q "Device or resource busy" err || fail "evicting a snapshot with an active view was not refused"
log_must pool_msg pool info snapshot "$a3"
log_must dmsetup_remove pool-d1-s$a4
take auto; a5=$last
log_mustnot pool_msg pool info snapshot "$a3"
log_mustnot pool_msg pool info snapshot "$a4"
pool_msg pool info disk 1 | grep -q " manual=3 auto=1 " || fail "counts: $(pool_msg pool info disk 1)"
check_contents "$m2" "$m3" "$m4" "$a5"

# No automatic snapshots at all (even with a view of one active: nothing
# would be evicted).
log_must pool_msg pool set_quota 3 0
snap_view pool 1 "$a5" $size
log_mustnot snapshot pool 1 kind=auto 2>err
cat err
grep -q "Disk quota exceeded" err || fail "no EDQUOT for an automatic snapshot with quota 0"

# Quotas count per disk.
log_must pool_msg pool create_disk 2 $size
for i in 1 2 3; do
	log_must snapshot pool 2
done
log_mustnot snapshot pool 2
