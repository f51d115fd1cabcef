#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: metadata space low: ro with metadata_low, ENOSPC for new blocks and snapshots, deletes work from the reserve and bring rw back
# TIMEOUT: 400
#
# The smallest metadata device is probed first: 15 blocks are refused, 16
# format and are below the reserve at once.  Then a pool on a 1 MiB (256
# block) metadata device, whose reserve is 64 blocks, gets a 20 MiB disk,
# 16 MiB of it written, and rounds of a snapshot followed by 32 one-block
# writes 512 KiB apart: each round copies about 32 mapping leaves.  Once a
# commit leaves fewer than 64 blocks free (or too few above them for one
# more mapping at its worst) the pool must be "ro" with
# metadata_low in its status, log it and raise a dm event.  Then: writes
# needing a new block fail with ENOSPC, an overwrite of a block only the
# live head holds still works, reads of the disk and of every snapshot
# return what was written, snapshot, create_disk (and snapctl snapshot
# create) are refused with ENOSPC, and the pool comes back low after it is
# removed and loaded again.  Snapshots are then deleted (snapctl and the
# message), which must work from the reserve: the pool stays low until a
# commit leaves twice the reserve free, then is rw again, by itself.
# Writes and a snapshot work, every image still has its checksum, the
# metadata checks clean offline and the pool loads again.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3 snapctl
load_module

data=$(disk 1)

# --- the smallest metadata device --------------------------------------------
zero_dev "$(disk 0)" 2
dmsetup_create small "0 $((15 * 8)) linear $(disk 0) 0"
log_mustnot dmsetup create --noudevsync p0 --table "0 $(dev_sectors "$data") row-pool /dev/mapper/small $data 8 0"
kernel_log_has "row-pool: .*Cannot format metadata device" || fail "no reason logged for a 15-block metadata device"
log_must dmsetup_remove small
dmsetup_create small "0 $((16 * 8)) linear $(disk 0) 0"
pool_create p0 /dev/mapper/small "$data"
assert_eq "$(pool_status_field p0 2)" 4/16 "metadata of a 16-block pool"
assert_eq "$(pool_status_field p0 4)" ro "mode of a 16-block pool"
assert_eq "$(pool_status_field p0 7)" metadata_low "a 16-block pool is below the reserve"
log_must dmsetup_remove p0
log_must dmsetup_remove small

# --- a 1 MiB metadata device ---------------------------------------------------
zero_dev "$(disk 0)" 2
dmsetup_create meta "0 2048 linear $(disk 0) 0"
snapctl_pool tank /dev/mapper/meta "$data"
table=$(dmsetup table tank)
log_must snapctl disk create tank d1 --size 20M
dev=/dev/mapper/tank-d1
size=$((20 * 2048))
reserve=64

# meta_free: free metadata blocks, from the pool's status.
meta_free() {
	local f
	f=$(pool_status_field tank 2)
	echo $((${f#*/} - ${f%/*}))
}

# events: the pool device's dm event counter.
events() {
	dmsetup info -c --noheadings -o events tank | tr -d ' '
}

# An image of the disk in a file, kept up to date by wblocks.
image=$TEST_TMP/d1.img
truncate -s $((size * 512)) "$image"

# wblocks BLOCK...: write each 4 KiB block with random data (O_DIRECT), in
# order, stopping at the first error; copy what was written into the image.
# Prints the number of blocks written, then the error if there was one.
cat >wblocks.py <<'EOF'
import mmap, os, sys
dev, image, blocks = sys.argv[1], sys.argv[2], sys.argv[3:]
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
img = os.open(image, os.O_WRONLY)
buf = mmap.mmap(-1, 4096)
done = 0
for b in blocks:
    data = os.urandom(4096)
    buf.seek(0)
    buf.write(data)
    try:
        os.pwrite(fd, buf, int(b) * 4096)
    except OSError as e:
        print(done, e.strerror)
        sys.exit(0)
    os.pwrite(img, data, int(b) * 4096)
    done += 1
print(done)
EOF
wblocks() {
	python3 wblocks.py $dev "$image" "$@"
}

image_sum() {
	sha256sum <"$image" | cut -d' ' -f1
}

# 16 MiB, sequentially: about 33 mapping leaves.
log_must dd if=/dev/urandom of="$image" bs=1M count=16 conv=notrunc status=none
log_must dd if="$image" of=$dev bs=1M count=16 oflag=direct status=none
log_must pool_msg tank commit
assert_eq "$(pool_status_field tank 4)" rw "mode after the first writes"

# Rounds: a snapshot, then one block in each of 32 leaves, then a commit.
declare -A snap_sum
snaps=()
ev0=$(events)
for ((round = 1; ; round++)); do
	((round <= 12)) || fail "metadata never ran low: $(dmsetup status tank)"
	free=$(meta_free)
	((free >= reserve)) || fail "$free blocks free but not metadata_low: $(dmsetup status tank)"
	s=$(snapshot tank 1)
	snaps+=("$s")
	snap_sum[$s]=$(image_sum)
	blocks=()
	for ((k = 0; k < 32; k++)); do
		blocks+=($((k * 128 + round)))
	done
	out=$(wblocks "${blocks[@]}")
	log_note "round $round, snapshot $s: $out blocks written; $(dmsetup status tank)"
	log_must pool_msg tank commit
	if [[ $(pool_status_field tank 7) == metadata_low ]]; then
		break
	fi
	[[ $out == 32 ]] || fail "a write failed in round $round on a pool not low: $out"
done
last_blocks=("${blocks[@]}")

# --- metadata low ----------------------------------------------------------------
free=$(meta_free)
log_note "low after $round rounds, $free blocks free: $(dmsetup status tank)"
# Low below the reserve after a commit, or when right after a commit not
# one more mapping fits above it at its worst (a few dozen blocks here).
((free < reserve + 32)) || fail "metadata_low with $free blocks free (reserve $reserve)"
assert_eq "$(pool_status_field tank 4)" ro "mode when metadata is low"
assert_eq "$(pool_status_field tank 5)" - "needs_check when metadata is low"
kernel_log_has "row-pool: .*metadata space low \([0-9]+ blocks free\): no new blocks until space is freed" ||
	fail "no 'metadata space low' in the kernel log"
kernel_log_has "row-pool: .*switching to ro mode" || fail "no mode change in the kernel log"
(($(events) > ev0)) || fail "no dm event raised by the pool (events $ev0 -> $(events))"

# Writes that need a new block: an unwritten block, a block a snapshot shares.
head -c 4096 /dev/urandom >block
for b in $((18 * 256)) $((3 * 128 + 100)); do
	log_mustnot dd if=block of=$dev bs=4096 seek=$b count=1 oflag=direct status=none 2>dd.err
	cat dd.err
	grep -q "No space left on device" dd.err || fail "write to block $b did not fail with ENOSPC"
done
# A block written after the last snapshot is the live head's alone: in place.
if ((${out%% *} > 0)); then
	assert_eq "$(wblocks "${last_blocks[0]}")" 1 "overwrite in place with metadata low"
fi

# Reads: the disk and every snapshot.
assert_eq "$(sha256_of $dev)" "$(image_sum)" "disk with metadata low"
check_snapshots() {
	local s
	for s in "${snaps[@]}"; do
		snap_view tank 1 "$s" $size
		assert_eq "$(sha256_of /dev/mapper/tank-d1-s$s)" "${snap_sum[$s]}" "snapshot $s $1"
		log_must dmsetup_remove tank-d1-s$s
	done
}
check_snapshots "with metadata low"

# No snapshots, no disks: ENOSPC, with the reason in the kernel log.
dmesg -C
expect_exit 1 dmsetup message tank 0 snapshot 1
err_has "No space left on device"
kernel_log_has "message 'snapshot' refused: the pool is read-only for lack of metadata space: delete snapshots" ||
	fail "no reason logged for the refused snapshot"
expect_exit 5 snapctl snapshot create tank d1
err_has "^snapctl: .*No space left on device"
expect_exit 1 dmsetup message tank 0 create_disk 2 $((8 * 2048))
err_has "No space left on device"
assert_eq "$(pool_msg tank list_snapshots 1 | wc -l)" ${#snaps[@]} "snapshots after the refusals"

# Loaded again, the pool is still low: remove it and create it again.
log_must dmsetup_remove tank-d1
log_must dmsetup_remove tank
log_must dmsetup create --noudevsync tank --table "$table"
log_note "reloaded: $(dmsetup status tank)"
dmsetup_create tank-d1 "0 $size row /dev/mapper/tank 1"
assert_eq "$(sha256_of $dev)" "$(image_sum)" "disk after reloading the low pool"
log_mustnot dd if=block of=$dev bs=4096 seek=$((18 * 256 + 1)) count=1 oflag=direct status=none
expect_exit 1 dmsetup message tank 0 snapshot 1
assert_eq "$(pool_status_field tank 7)" metadata_low "metadata_low after the reload"
assert_eq "$(pool_status_field tank 4)" ro "mode after the reload"

# --- deletes work from the reserve --------------------------------------------------
dmesg -C
for ((i = 0; i < ${#snaps[@]} - 1; i++)); do
	s=${snaps[i]}
	if ((i == 0)); then
		log_must snapctl snapshot delete tank "$s" --yes
	else
		log_must pool_msg tank delete_snapshot "$s"
	fi
	unset "snap_sum[$s]"
	free=$(meta_free)
	log_note "snapshot $s deleted, $free blocks free: $(dmsetup status tank)"
	if ((free >= 2 * reserve)); then
		assert_eq "$(pool_status_field tank 4)" rw "mode with $free blocks free"
		assert_eq "$(pool_status_field tank 7)" - "metadata_low with $free blocks free"
		break
	fi
	assert_eq "$(pool_status_field tank 4)" ro "mode with $free blocks free"
	assert_eq "$(pool_status_field tank 7)" metadata_low "metadata_low with $free blocks free"
done
[[ $(pool_status_field tank 4) == rw ]] || fail "still low after deleting all snapshots but one"
kernel_log_has "row-pool: .*metadata space recovered" || fail "no 'metadata space recovered' in the kernel log"
snaps=("${snaps[@]:i+1}")

# Writes needing new blocks work again, and so do snapshots.
assert_eq "$(wblocks $((18 * 256)) $((3 * 128 + 100)))" 2 "writes after recovery"
s=$(snapshot tank 1)
snaps+=("$s")
snap_sum[$s]=$(image_sum)
assert_eq "$(wblocks $((18 * 256 + 2)) 5)" 2 "writes after a new snapshot"
assert_eq "$(sha256_of $dev)" "$(image_sum)" "disk after recovery"

# Offline check, then load the pool again.
log_must dmsetup_remove tank-d1
log_must dmsetup_remove tank
log_must snapctl check /dev/mapper/meta
log_must dmsetup create --noudevsync tank --table "$table"
assert_eq "$(pool_status_field tank 4)" rw "mode after the last reload"
assert_eq "$(pool_status_field tank 7)" - "metadata_low after the last reload"
dmsetup_create tank-d1 "0 $size row /dev/mapper/tank 1"
assert_eq "$(sha256_of $dev)" "$(image_sum)" "disk after the last reload"
check_snapshots "after the last reload"
