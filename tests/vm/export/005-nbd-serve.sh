#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: export serve: an export read-only on /dev/nbdN through nbdkit and the dmrow plugin, checksum-equal to the snapshot, plain and encrypted; unserve leaves no server, no connection, no file
# TIMEOUT: 300
#
# A 24 MiB disk with data in three regions (the rest never written) is
# snapshotted and exported with 256 KiB chunks into a plain and an
# encrypted file:// repository.  'snapctl export serve' of each (the first
# with a cache of four chunks, so that reads go through evictions and
# read-ahead) prints a free /dev/nbdN, two different ones; each is
# read-only, as large as the image, and reads checksum-equal to the
# snapshot's view, whole and in a few O_DIRECT reads out of order.  The
# server is a running nbdkit whose pid 'serve' recorded.  Serving on a
# device in use is refused (exit 4); serving an export the repository
# lacks fails naming it and leaves no server, connection or file behind.
# While a device-mapper table holds the device, 'unserve' refuses (exit 4).
# 'unserve' disconnects each device (no pid attribute, size 0) and stops
# its server, its files gone; a second 'unserve' exits 3.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/export/lib.sh"

require_disks 2
require_cmd jq nbdkit nbd-client pgrep
load_module

snapctl_pool tank
size=$((24 * MiB))
log_must snapctl disk create tank vm --size 24M
dev=/dev/mapper/tank-vm
write_random $dev 0 $((4 * MiB)) 1 >/dev/null
write_random $dev $((9 * MiB + 4096)) $((3 * MiB)) 2 >/dev/null
write_random $dev $((20 * MiB)) $((4 * MiB)) 3 >/dev/null
log_must snapctl snapshot create tank vm --name s1
expect_exit 0 snapctl snapshot view tank vm/s1
view=$dev@s1
sum=$(sha256_of $view 0 $size)

plain=file://$TEST_TMP/plain
sealed=file://$TEST_TMP/sealed
key=$TEST_TMP/key
head -c 32 /dev/urandom >"$key"
expect_exit 0 snapctl export tank vm/s1 "$plain" --name e1 --chunk-size 256K
expect_exit 0 snapctl export tank vm/s1 "$sealed" --name e1 --chunk-size 256K --key-file "$key"

nbd_dir=$SNAPCTL_RUN_DIR/nbd
[[ -z $(pgrep -x nbdkit || true) ]] || fail "an nbdkit runs before the test"

# served_pid DEVICE: the server pid 'serve' recorded for DEVICE.
served_pid() {
	local line
	while read -r line; do
		if [[ $line == pid=* ]]; then
			echo "${line#pid=}"
		fi
	done <"$nbd_dir/${1#/dev/}.serve"
}

# direct_sum DEV OFFSET: the SHA-256 of 128 KiB of DEV at OFFSET, read with O_DIRECT.
direct_sum() {
	local sum
	sum=$(dd if="$1" bs=64K count=2 skip="$2" iflag=direct,skip_bytes status=none | sha256sum)
	echo "${sum%% *}"
}

# check_served DEVICE: read-only, the image's size, the snapshot's data.
check_served() {
	local nbd=$1 off got want
	assert_eq "$(blockdev --getsize64 "$nbd")" $size "size of $nbd"
	assert_eq "$(blockdev --getro "$nbd")" 1 "$nbd read-only"
	assert_eq "$(sha256_of "$nbd" 0 $size)" "$sum" "the export served on $nbd"
	for off in $((21 * MiB + 8192)) $((4 * MiB)) $((10 * MiB)) 0; do
		got=$(direct_sum "$nbd" $off)
		want=$(direct_sum "$view" $off)
		[[ ${#want} -eq 64 ]] || fail "no checksum of $view at $off"
		assert_eq "$got" "$want" "O_DIRECT read at $off of $nbd"
	done
}

# --- serve both ----------------------------------------------------------------
expect_exit 0 snapctl --json export serve "$plain" e1 --cache 1M --prefetch 4
nbd1=$(jq -r .device "$CMD_OUT")
on_exit "snapctl export unserve --force '$nbd1' >/dev/null 2>&1 || true"
jq -e --arg url "$plain" '.url == $url and .export == "e1"' "$CMD_OUT" >/dev/null ||
	fail "serve --json"
[[ $nbd1 == /dev/nbd[0-9]* && -b $nbd1 ]] || fail "serve printed '$nbd1', not an NBD device"
pid1=$(served_pid "$nbd1")
[[ $(cat /proc/"$pid1"/comm) == nbdkit ]] || fail "no nbdkit with the recorded pid $pid1"
check_served "$nbd1"
log_mustnot dd if=/dev/zero of="$nbd1" bs=4096 count=1 oflag=direct status=none

expect_exit 0 snapctl export serve "$sealed" e1 --key-file "$key"
nbd2=${CMD_OUT_LINES[0]}
on_exit "snapctl export unserve --force '$nbd2' >/dev/null 2>&1 || true"
[[ $nbd2 == /dev/nbd[0-9]* && $nbd2 != "$nbd1" ]] || fail "second serve printed '$nbd2'"
pid2=$(served_pid "$nbd2")
check_served "$nbd2"

# --- refusals ---------------------------------------------------------------------
expect_exit 4 snapctl export serve "$plain" e1 --device "$nbd1"
err_has "$nbd1 is in use"
before=$(ls "$nbd_dir")
expect_exit 1 snapctl export serve "$plain" nope
err_has "nope"
assert_eq "$(pgrep -x nbdkit | sort | tr '\n' ' ')" "$(printf '%s\n' "$pid1" "$pid2" | sort | tr '\n' ' ')" \
	"nbdkit processes after a refused serve"
assert_eq "$(ls "$nbd_dir")" "$before" "files after a refused serve"
expect_exit 1 snapctl export serve "$sealed" e1
err_has "key"
assert_eq "$(ls "$nbd_dir")" "$before" "files after a serve without the key"

dmsetup_create nbdhold "0 8 linear $nbd1 0"
expect_exit 4 snapctl export unserve "$nbd1"
err_has "in use"
[[ -e /sys/block/${nbd1#/dev/}/pid ]] || fail "a refused unserve disconnected $nbd1"
log_must dmsetup_remove nbdhold

# --- unserve ------------------------------------------------------------------------
for nbd in "$nbd1" "$nbd2"; do
	expect_exit 0 snapctl export unserve "$nbd"
	name=${nbd#/dev/}
	[[ ! -e /sys/block/$name/pid ]] || fail "$nbd is still connected"
	assert_eq "$(cat /sys/block/"$name"/size)" 0 "size of $nbd after unserve"
	[[ -z $(compgen -G "$nbd_dir/$name.*" || true) ]] || fail "files of $nbd left: $(ls "$nbd_dir")"
	expect_exit 3 snapctl export unserve "$nbd"
done
for pid in "$pid1" "$pid2"; do
	[[ ! -e /proc/$pid || $(cut -d' ' -f3 /proc/"$pid"/stat) == Z ]] ||
		fail "the server $pid still runs"
done
[[ -z $(pgrep -x nbdkit || true) ]] || fail "an nbdkit is left: $(pgrep -a nbdkit)"
