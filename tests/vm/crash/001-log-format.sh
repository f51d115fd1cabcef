#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replay-log reads what dm-log-writes really writes and replays prefixes exactly
#
# Known writes (plain, FUA, flushes, a discard, a mark, a single 512-byte
# sector) go through a dm-log-writes device; replay-log must list them as
# entries with the right sectors, sizes and flags, in the order the target
# documents (writes logged at the flush after their completion, FUA writes
# and marks at once), and replaying up to a flush must give exactly the
# data written before it: what was written later is absent, discarded
# ranges read as zeroes.  The same is done on a device with 4 KiB logical
# sectors, where the log counts in 4 KiB units.  This pins the log format
# that the crash-consistency tests rely on.

. "$DMROW_SRC/tests/vm/common.sh"

REPLAY=$DMROW_SRC/build/replay-log
[[ -x $REPLAY ]] || skip "build/replay-log not built (make userspace)"
require_disks 2
require_module dm-log-writes
[[ -d /sys/module/brd ]] && skip "brd is loaded already; its size cannot be set"
require_module brd rd_nr=1 rd_size=16384
on_exit 'rmmod brd'

logdev=$(disk 0)
dev=$(disk 1)
replay=/dev/ram0
MiB=$((1 << 20))

# gen FILE BYTES: a file of random data.
gen() {
	head -c "$2" /dev/urandom >"$1"
}

# put FILE DEV BYTE_OFFSET [DD-OFLAGS]: write FILE there in one O_DIRECT write.
put() {
	dd if="$1" of="$2" bs="$(stat -c %s "$1")" oflag="direct${4:+,$4},seek_bytes" seek="$3" \
		conv=notrunc status=none
}

# sum_file FILE: its sha256.
sum_file() {
	sha256sum <"$1" | cut -d' ' -f1
}

# zero_sum BYTES: sha256 of that many zero bytes.
zero_sum() {
	head -c "$1" /dev/zero | sha256sum | cut -d' ' -f1
}

# check_list EXPECTED: the log's entries (--list, without the header line)
# are EXPECTED, one "number flags sector sectors [mark]" per line.
check_list() {
	local got
	got=$("$REPLAY" --log "$logdev" --list | grep -v '^#')
	if [[ $got != "$1" ]]; then
		echo "expected:"; echo "$1"; echo "got:"; echo "$got"
		fail "log entries differ from the writes made"
	fi
}

# replay_to LIMIT: zero the replay device and replay entries 0..LIMIT.
replay_to() {
	zero_dev "$replay"
	log_must "$REPLAY" --log "$logdev" --replay "$replay" --limit "$1"
}

# ---------------------------------------------------------------------------
# 512-byte sectors

zero_dev "$logdev" 1
zero_dev "$dev" 16
dmsetup_create lw "0 $((16 * 2048)) log-writes $dev $logdev"

gen a 4096; gen b 8192; gen d 65536; gen c 512
put a /dev/mapper/lw $((1 * MiB))
log_must sync /dev/mapper/lw
# O_DIRECT|O_DSYNC: a FUA write, then the block layer's fsync flush.
put b /dev/mapper/lw $((2 * MiB)) dsync
put d /dev/mapper/lw $((4 * MiB))
log_must sync /dev/mapper/lw
log_must blkdiscard -o $((4 * MiB)) -l 65536 /dev/mapper/lw
log_must dmsetup message lw 0 mark m1
put c /dev/mapper/lw 3584
log_must sync /dev/mapper/lw
log_must dmsetup_remove lw

"$REPLAY" --log "$logdev" --list
# The discard and the last write completed before the mark was sent but
# are logged only at the flush that follows it.
check_list "0 WRITE 2048 8
1 FLUSH 0 0
2 FUA 4096 16
3 FLUSH 0 0
4 WRITE 8192 128
5 FLUSH 0 0
6 MARK 0 0 m1
7 DISCARD 8192 128
8 WRITE 7 1
9 FLUSH 0 0
10 MARK 0 0 dm-log-writes-end"
assert_eq "$("$REPLAY" --log "$logdev" --find-flushes | tr '\n' ' ')" "1 2 3 5 9 " \
	"flush entries"

# Up to the first flush: a only.
replay_to 1
assert_eq "$(sha256_of $replay $((1 * MiB)) 4096)" "$(sum_file a)" "a after entry 1"
assert_eq "$(sha256_of $replay $((2 * MiB)) 8192)" "$(zero_sum 8192)" "no b after entry 1"
# Up to the FUA write: b too, d not yet.
replay_to 2
assert_eq "$(sha256_of $replay $((2 * MiB)) 8192)" "$(sum_file b)" "b after entry 2"
assert_eq "$(sha256_of $replay $((4 * MiB)) 65536)" "$(zero_sum 65536)" "no d after entry 2"
# Up to the flush after d.
replay_to 5
assert_eq "$(sha256_of $replay $((4 * MiB)) 65536)" "$(sum_file d)" "d after entry 5"
assert_eq "$(sha256_of $replay 3584 512)" "$(zero_sum 512)" "no c after entry 5"
# Everything, in two steps (incremental replay): d discarded, c written,
# and the rest identical to the logged device.
replay_to 5
log_must "$REPLAY" --log "$logdev" --replay "$replay" --start 6
assert_eq "$(sha256_of $replay $((4 * MiB)) 65536)" "$(zero_sum 65536)" "d discarded"
assert_eq "$(sha256_of $replay 3584 512)" "$(sum_file c)" "c at the end"
assert_eq "$(sha256_of $replay 0 $((4 * MiB)))" "$(sha256_of "$dev" 0 $((4 * MiB)))" \
	"replay and device, first 4 MiB"
assert_eq "$(sha256_of $replay $((5 * MiB)) $((11 * MiB)))" \
	"$(sha256_of "$dev" $((5 * MiB)) $((11 * MiB)))" "replay and device, last 11 MiB"

# Bad requests are refused.
log_mustnot "$REPLAY" --log "$logdev" --replay "$replay" --limit 11
log_mustnot "$REPLAY" --log "$logdev" --replay "$replay" --start 7 --limit 6
log_mustnot "$REPLAY" --log "$dev" --list
log_mustnot "$REPLAY" --log "$logdev"

# ---------------------------------------------------------------------------
# 4 KiB sectors: the log counts in units of the logged device's sector size.

require_module loop
truncate -s 16M "$TEST_TMP/4k.img"
loopdev=$(losetup --find --show --sector-size 4096 "$TEST_TMP/4k.img")
on_exit losetup -d "$loopdev"
zero_dev "$logdev" 1
dmsetup_create lw4k "0 $((16 * 2048)) log-writes $loopdev $logdev"
gen e 8192
put e /dev/mapper/lw4k $((3 * MiB))
log_must sync /dev/mapper/lw4k
log_must dmsetup_remove lw4k
"$REPLAY" --log "$logdev" --list
check_list "0 WRITE 768 2
1 FLUSH 0 0
2 MARK 0 0 dm-log-writes-end"
replay_to 1
assert_eq "$(sha256_of $replay $((3 * MiB)) 8192)" "$(sum_file e)" "e replayed from a 4 KiB log"
assert_eq "$(sha256_of $replay 0 $((3 * MiB)))" "$(zero_sum $((3 * MiB)))" "nothing before e"
