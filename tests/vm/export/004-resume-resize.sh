#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: an import killed half-way resumes into the same .importing disk checksum-equal; incrementals after a grow and after a shrink restore checksum-equal; export --image of a raw file imports checksum-equal
# TIMEOUT: 500
#
# (a) A 48 MiB export is imported with one job and killed once a third of
# its data is written: the pool keeps 'back.importing'.  A plain import of
# the same name is refused (exit 6) and names --resume; 'import --resume'
# continues into that disk, reports chunks already in place, and the disk
# renamed 'back' hashes like the snapshot.
# (b) A 10.x MiB disk is exported, grown to 13.x MiB with one write in the
# new tail, snapshotted and exported incrementally; shrunk to 7.x MiB,
# snapshotted and exported incrementally again.  Both incrementals restore
# into new disks whose contents hash like their snapshots.
# (c) A raw image file in the guest (data, zeroes, a hole, a short tail)
# goes out with 'export --image' and comes back into the pool through
# 'import' checksum-equal, and through 'import --image' into a file.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/export/lib.sh"

require_disks 2
require_cmd jq python3
load_module

snapctl_pool tank
repo=$TEST_TMP/repo
url=file://$repo

# --- (a) a killed import, resumed -------------------------------------------
size=$((48 * MiB))
log_must snapctl disk create tank big --size 48M
write_random /dev/mapper/tank-big 0 $size 31 >/dev/null
log_must snapctl snapshot create tank big --name s1
expect_exit 0 snapctl export tank big/s1 "$url" --name big --chunk-size 256K
log_must snapctl snapshot view tank big/s1
image_sums /dev/mapper/tank-big@s1 $size
sum=$IMAGE_SUM

snapctl import "$url" big tank back --jobs 1 >"$TEST_TMP/killed.out" 2>"$TEST_TMP/killed.err" &
pid=$!
# killed once a third of the image is written (wchar: bytes it wrote)
for ((i = 0; i < 20000; i++)); do
	wrote=
	while read -r key value; do
		[[ $key != wchar: ]] || wrote=$value
	done 2>/dev/null </proc/$pid/io || break
	[[ -n $wrote ]] || break
	((wrote < size / 3)) || break
	sleep 0.01
done
kill -KILL $pid 2>/dev/null || fail "the import ended before it was killed: $(<"$TEST_TMP/killed.err")"
rc=0
wait $pid || rc=$?
assert_eq "$rc" 137 "exit status of the killed import"
[[ " $(disk_names tank) " == *" back.importing "* ]] || fail "the killed import left no back.importing disk"

expect_exit 6 snapctl import "$url" big tank back
err_has "--resume"
expect_exit 0 snapctl --json import "$url" big tank back --resume
jq -e '.disk == "back" and .transfer.chunks == 192 and
	.transfer.already_stored_chunks > 0 and .transfer.already_stored_chunks < 192' "$CMD_OUT" ||
	fail "the resumed import did not reuse what the killed one wrote: $(<"$CMD_OUT")"
log_note "resumed with $(jq .transfer.already_stored_chunks "$CMD_OUT") of 192 chunks in place"
assert_eq "$(sha256_of /dev/mapper/tank-back 0 $size)" "$sum" "the resumed import"
[[ " $(disk_names tank) " != *" back.importing "* ]] || fail "back.importing is still there"
# nothing to resume: --resume is a plain import
expect_exit 0 snapctl import "$url" big tank back2 --resume
assert_eq "$(sha256_of /dev/mapper/tank-back2 0 $size)" "$sum" "import --resume with nothing to resume"

# --- (b) incrementals after a grow and a shrink ------------------------------
rsize=$((10 * MiB + 128 * 1024))
log_must snapctl disk create tank rs --size $((rsize / 1024))K
rdev=/dev/mapper/tank-rs
write_random $rdev 0 $rsize 41 >/dev/null
log_must snapctl snapshot create tank rs --name r1
expect_exit 0 snapctl --json export tank rs/r1 "$url" --name r1
gsize=$((13 * MiB + 64 * 1024))
log_must snapctl disk resize tank rs --size $((gsize / 1024))K
write_random $rdev $((12 * MiB)) 4096 42 >/dev/null
log_must snapctl snapshot create tank rs --name r2
expect_exit 0 snapctl --json export tank rs/r2 "$url" --name r2 --base r1
log_must snapctl snapshot view tank rs/r2
image_sums $rdev@r2 $gsize
restore_check "$url" r2 tank rs-grown "$IMAGE_SUM" $gsize

ssize=$((7 * MiB + 64 * 1024))
log_must snapctl disk resize tank rs --size $((ssize / 1024))K --yes
write_random $rdev $((2 * MiB)) 4096 43 >/dev/null
log_must snapctl snapshot create tank rs --name r3
expect_exit 0 snapctl --json export tank rs/r3 "$url" --name r3 --base r2
log_must snapctl snapshot view tank rs/r3
image_sums $rdev@r3 $ssize
restore_check "$url" r3 tank rs-shrunk "$IMAGE_SUM" $ssize

# --- (c) export --image of a raw file ----------------------------------------
img=$TEST_TMP/vm.raw
python3 - "$img" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.write(os.urandom(3 << 20))
    f.write(bytes(1 << 20))
    f.seek(6 << 20)
    f.write(os.urandom(777777))
PY
isize=$(stat -c %s "$img")
isum=$(sha256sum "$img" | cut -d' ' -f1)
expect_exit 0 snapctl --json export --image "$img" "$url" --name rawvm
jq -e '.disk == "vm.raw" and .image_bytes == '"$isize" "$CMD_OUT" >/dev/null || fail "export --image: $(<"$CMD_OUT")"
expect_exit 0 snapctl export verify "$url" rawvm
restore_check "$url" rawvm tank fromraw "$isum" "$isize"
expect_exit 0 snapctl import "$url" rawvm --image "$TEST_TMP/back.raw"
assert_eq "$(sha256sum "$TEST_TMP/back.raw" | cut -d' ' -f1)" "$isum" "import --image"
