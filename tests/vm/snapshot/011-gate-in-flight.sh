#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a snapshot waits for its disk's in-place writes in flight, and for nothing else: not another disk's writes, not reads
# TIMEOUT: 300
#
# The pool's data device is a dm-delay device that can hold writes for a
# minute and lets reads and flushes through at once; reloading it releases
# what it holds.  Each disk has its blocks written (so mapped and not
# shared) before the delay starts: later writes to them go in place.
#
# 1. A write in place to disk 1 is held in flight, then disk 1 is
#    snapshotted.  The snapshot must not return while the write is held
#    (it would otherwise share a block that the write lands in after, and
#    the snapshot's data would change under it); a read of disk 1 must
#    complete meanwhile.  Once the write is released the snapshot returns,
#    and a view of it reads the new data, the same twice.
# 2. A write in place to disk 2 is held in flight, then disk 1 is
#    snapshotted.  That snapshot must return while disk 2's write is still
#    held, and disk 2 then reads the write once it is released.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd openssl
require_module dm-delay
load_module

meta=$(disk 0)
data=$(disk 1)
sectors=$(dev_sectors "$data")
linear_table="0 $sectors linear $data 0"
# Reads and flushes at once, writes held for a minute.
delay_table="0 $sectors delay $data 0 0 $data 0 60000 $data 0 0"
zero_dev "$meta" 4
dmsetup_create slow "$linear_table"
pool_create pool "$meta" /dev/mapper/slow
size=$((4 * 2048))
disk_create pool 1 $size
disk_create pool 2 $size
d1=/dev/mapper/pool-d1
d2=/dev/mapper/pool-d2

write_random $d1 0 $((1 << 20)) 11 >/dev/null
write_random $d2 0 $((1 << 20)) 21 >/dev/null
rest=$(((1 << 20) - 4096))
read_before=$(sha256_of $d1 65536 4096)
rest2=$(sha256_of $d2 4096 $rest)

# The writes that the delay holds: block 0 of a disk, 4 KiB.
new_block() { head -c 4096 /dev/zero | openssl enc -aes-128-ctr -nosalt -pass "pass:$1" -pbkdf2; }
new_block 12 >new1
new_block 22 >new2
new1_sum=$(sha256sum <new1 | cut -d' ' -f1)
new2_sum=$(sha256sum <new2 | cut -d' ' -f1)

delay_on() {
	log_must dmsetup reload slow --table "$delay_table"
	log_must dmsetup resume slow
}
# Back to linear: the suspend that swaps the table issues what was held.
delay_off() {
	log_must dmsetup reload slow --table "$linear_table"
	log_must dmsetup resume slow
}
# Writes dm-delay holds now (its status: reads, writes, flushes held).
held_writes() { dmsetup status slow | awk '{print $5}'; }
wait_held() {
	local i
	for ((i = 0; i < 600; i++)); do
		[[ $(held_writes) == "$1" ]] && return 0
		sleep 0.1
	done
	fail "dm-delay holds $(held_writes) write(s), not $1"
}
on_exit "dmsetup resume slow 2>/dev/null; dmsetup reload slow --table '$linear_table' 2>/dev/null; dmsetup resume slow 2>/dev/null"

echo "1. disk 1's write in place held, then a snapshot of disk 1"
delay_on
dd if=new1 of=$d1 bs=4096 oflag=direct conv=notrunc status=none &
writer=$!
wait_held 1
(snapshot pool 1 >snap1.id; touch snap1.done) &
snapper=$!
on_exit "kill $snapper $writer 2>/dev/null || true"
# Time for the message to reach the gate: a read of disk 1 meanwhile must
# not wait for it, and it must still wait when the read is done.
sleep 2
assert_eq "$(sha256_of $d1 65536 4096)" "$read_before" "a read of disk 1 while its snapshot waits"
if [[ -e snap1.done ]]; then
	fail "the snapshot returned while a write in place to its disk was in flight"
fi
[[ $(held_writes) == 1 ]] || fail "the held write went down before it was released"
delay_off
wait $writer || fail "the held write to disk 1 failed"
wait $snapper || fail "the snapshot of disk 1 failed"
s1=$(cat snap1.id)
snap_view pool 1 "$s1" $size
view=/dev/mapper/pool-d1-s$s1
first=$(sha256_of $view 0 4096)
assert_eq "$first" "$new1_sum" "snapshot $s1 holds the write it waited for"
assert_eq "$(sha256_of $view 0 4096)" "$first" "snapshot $s1 read twice"
assert_eq "$(sha256_of $view 4096 $rest)" "$(sha256_of $d1 4096 $rest)" \
	"snapshot $s1 beyond block 0"
log_must dmsetup_remove pool-d1-s$s1

echo "2. disk 2's write in place held, then a snapshot of disk 1"
delay_on
dd if=new2 of=$d2 bs=4096 oflag=direct conv=notrunc status=none &
writer=$!
wait_held 1
s2=$(snapshot pool 1) || fail "the snapshot of disk 1 failed"
[[ $(held_writes) == 1 ]] ||
	fail "the snapshot of disk 1 waited for a write in flight to disk 2"
delay_off
wait $writer || fail "the held write to disk 2 failed"
assert_eq "$(sha256_of $d2 0 4096)" "$new2_sum" "disk 2 reads its released write"
assert_eq "$(sha256_of $d2 4096 $rest)" "$rest2" "disk 2 beyond block 0"
snap_view pool 1 "$s2" $size
assert_eq "$(sha256_of /dev/mapper/pool-d1-s$s2 0 4096)" "$new1_sum" "snapshot $s2 of disk 1"
log_must dmsetup_remove pool-d1-s$s2
echo "both snapshots waited for their disk's write and nothing else"
