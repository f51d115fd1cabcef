#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: export faults on file://: damaged and missing chunks, encryption keys, an export killed midway and resumed, bad arguments
# TIMEOUT: 400
#
# (a) One flipped byte in one chunk object: 'export verify' exits 7 naming
# the chunk, 'import' exits 7 and leaves no disk (nor "<name>.importing");
# likewise a missing chunk object and a damaged chunk list.  Put back, the
# export verifies and restores checksum-equal.
# (b) An encrypted repository (--key-file, 32 random bytes): its chunk
# objects are not named by the SHA-256 of any 256 KiB slot of the images
# (keyed ids), while a plain repository's are.  A full and an incremental
# export restore checksum-equal with the key; with a wrong key import,
# verify, export and delete fail saying "wrong key", and without a key
# import, verify and export fail too, creating no disk and writing nothing
# into the repository.  The repository is of format 2: no object's key or
# content names an export, the pool or the disk; listing it needs the key.
# (c) A 32 MiB export with --jobs 1 killed (SIGKILL) after some chunks are
# stored is listed as interrupted; 'export gc' refuses to run (exit 4) and
# deletes nothing; the same command run again completes, finding the
# chunks stored already (exactly those there, uploading the rest: uploaded
# + already stored + zero = read = 128), leaves exactly one object per
# chunk, and restores checksum-equal.
# (d) An unknown export (exit 3), an existing export name (exit 6), a base
# export of another disk (exit 2), bad chunk sizes (exit 2).

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/export/lib.sh"

require_disks 2
require_cmd jq python3
load_module

snapctl_pool tank
size=$((16 * MiB))
log_must snapctl disk create tank vm --size 16M
dev=/dev/mapper/tank-vm
plain=$TEST_TMP/plain
url=file://$plain

# flip_byte FILE: invert the byte in the middle of FILE.
flip_byte() {
	python3 - "$1" <<'EOF'
import os, sys
with open(sys.argv[1], "r+b") as f:
    off = os.fstat(f.fileno()).st_size // 2
    f.seek(off)
    b = f.read(1)[0]
    f.seek(off)
    f.write(bytes([b ^ 0xff]))
EOF
}

# chunk_path REPO_DIR ID: the file of a chunk object.
chunk_path() {
	echo "$1/chunks/${2:0:2}/$2"
}

write_random $dev 0 $((4 * MiB)) 1 >/dev/null			# slots 0-15
write_random $dev $((12 * MiB)) 4096 2 >/dev/null		# slot 48
log_must snapctl snapshot create tank vm --name s1
expect_exit 0 snapctl --json export tank vm/s1 "$url" --chunk-size 256K
jq -e '.read_chunks == 17 and .transfer.uploaded_chunks == 17' "$CMD_OUT" || fail "export of s1"
e1=$(json_name)
log_must snapctl snapshot view tank vm/s1
image_sums "$dev@s1" $size
assert_eq "${DATA_SLOTS[*]}" "$(echo {0..15} 48)" "non-zero slots of s1"
sum1=$IMAGE_SUM
all1=("${SLOT_SUM[@]}")
victim=${SLOT_SUM[3]}		# slot 3's chunk
# In a plain repository chunk objects are named by their data's SHA-256:
# the 17 chunks and a chunk list.
declare -A plain_files
for f in $(chunk_files "$plain"); do
	plain_files[$f]=1
done
assert_eq "${#plain_files[@]}" 18 "objects in the plain repository"
for s in "${DATA_SLOTS[@]}"; do
	[[ -n ${plain_files[${SLOT_SUM[s]}]:-} ]] || fail "no object named by the SHA-256 of slot $s"
done
disks=$(disk_names tank)

# --- (a) damaged and missing chunks ----------------------------------------------
file=$(chunk_path "$plain" "$victim")
cp "$file" "$TEST_TMP/victim"
flip_byte "$file"

expect_exit 7 snapctl export verify "$url" "$e1"
err_has "chunk $victim \(slot 3\) is damaged"
expect_exit 7 snapctl import "$url" "$e1" tank restored
err_has "chunk $victim \(slot 3\) is damaged"
err_has "the incomplete disk is removed"
no_disk tank restored
assert_eq "$(disk_names tank)" "$disks" "disks after a failed import"

rm "$file"
expect_exit 7 snapctl export verify "$url" "$e1"
err_has "chunk $victim \(slot 3\) is missing"
expect_exit 7 snapctl import "$url" "$e1" tank restored
err_has "$victim.*missing"
err_has "the incomplete disk is removed"
no_disk tank restored
assert_eq "$(disk_names tank)" "$disks" "disks after a failed import"

# A damaged chunk list: nothing can be restored either.
list=$(list_ids "$plain" "$e1")
cp "$TEST_TMP/victim" "$file"
cp "$(chunk_path "$plain" "$list")" "$TEST_TMP/list"
flip_byte "$(chunk_path "$plain" "$list")"
expect_exit 7 snapctl export verify "$url" "$e1"
err_has "chunk list $list is damaged"
expect_exit 7 snapctl import "$url" "$e1" tank restored
err_has "chunk list $list"
no_disk tank restored
assert_eq "$(disk_names tank)" "$disks" "disks after a failed import"

cp "$TEST_TMP/list" "$(chunk_path "$plain" "$list")"
expect_exit 0 snapctl export verify "$url" "$e1"
out_has "17 chunks and the root checksum verified"
restore_check "$url" "$e1" tank restored "$sum1" $size

# --- (b) encryption ----------------------------------------------------------------
enc=$TEST_TMP/enc
eurl=file://$enc
head -c 32 /dev/urandom >"$TEST_TMP/key"
head -c 32 /dev/urandom >"$TEST_TMP/wrong"
key=$TEST_TMP/key
wrong=$TEST_TMP/wrong

expect_exit 0 snapctl --json export tank vm/s1 "$eurl" --chunk-size 256K --key-file "$key"
jq -e '.read_chunks == 17 and .transfer.uploaded_chunks == 17' "$CMD_OUT" || fail "encrypted export of s1"
grep -qx "encryption=aes-256-gcm" "$enc/dmrow-repository" || fail "the repository is not marked encrypted"
grep -qx "dm-row-repository 2" "$enc/dmrow-repository" || fail "a new encrypted repository is not of format 2"
write_random $dev $((12 * MiB + 4096)) 8192 3 >/dev/null	# slot 48
write_random $dev $((60 * CHUNK)) $CHUNK 4 >/dev/null		# slot 60
log_must snapctl snapshot create tank vm --name s2
expect_exit 0 snapctl --json export tank vm/s2 "$eurl" --base "$e1" --key-file "$key"
jq -e '.read_chunks == 2 and .transfer.uploaded_chunks == 2 and .stored_chunks == 18' "$CMD_OUT" ||
	fail "encrypted incremental export of s2"
e2=$(json_name)
log_must snapctl snapshot view tank vm/s2
image_sums "$dev@s2" $size
sum2=$IMAGE_SUM

# Keyed ids: no object is named by the SHA-256 of any slot of either image.
encfiles=$(chunk_files "$enc")
mapfile -t f <<<"$encfiles"
assert_eq "${#f[@]}" $((17 + 2 + 2)) "encrypted objects (19 chunks, 2 chunk lists)"
declare -A slot_sums
for s in "${all1[@]}" "${SLOT_SUM[@]}"; do
	slot_sums[$s]=1
done
assert_eq "${#slot_sums[@]}" 20 "distinct slot sums of s1 and s2 (18 of s1 with zero, 2 new)"
for f in $encfiles; do
	[[ -z ${slot_sums[$f]:-} ]] || fail "encrypted chunk object $f is named by its data's SHA-256"
done

restore_check "$eurl" "$e1" tank enc1 "$sum1" $size --key-file "$key"
restore_check "$eurl" "$e2" tank enc2 "$sum2" $size --key-file "$key"
disks=$(disk_names tank)
exports=$(ls "$enc/exports")

expect_exit 1 snapctl import "$eurl" "$e2" tank bad --key-file "$wrong"
err_has "wrong key"
no_disk tank bad
expect_exit 1 snapctl export verify "$eurl" "$e2" --key-file "$wrong"
err_has "wrong key"
expect_exit 1 snapctl export tank vm/s2 "$eurl" --name again --key-file "$wrong"
err_has "wrong key"
expect_exit 1 snapctl export delete "$eurl" "$e1" --key-file "$wrong"
err_has "wrong key"

expect_exit 1 snapctl import "$eurl" "$e2" tank bad
err_has "encrypted: a key file is needed"
no_disk tank bad
expect_exit 1 snapctl export verify "$eurl" "$e2"
err_has "key file is needed"
expect_exit 1 snapctl export tank vm/s2 "$eurl" --name again
err_has "key file is needed"
# A key for a plain repository is a usage error.
expect_exit 2 snapctl export verify "$url" "$e1" --key-file "$key"
err_has "not encrypted"

assert_eq "$(disk_names tank)" "$disks" "disks after refused imports"
assert_eq "$(ls "$enc/exports")" "$exports" "exports after refused commands"
assert_eq "$(chunk_files "$enc")" "$encfiles" "chunk objects after refused commands"
# Names hidden: in no object's key or content.
! grep -rlF -e "$e1" -e "$e2" -e tank "$enc/exports" "$enc/dmrow-repository" ||
	fail "the encrypted repository names an export or the pool"
[[ -z $(compgen -G "$enc/exports/$e1.*") ]] || fail "an export name is in an object key"
# Listing needs the key; the exports are intact.
expect_exit 1 snapctl export list "$eurl"
err_has "--key-file"
expect_exit 0 snapctl --json export list "$eurl" --key-file "$key"
jq -e --arg e1 "$e1" --arg e2 "$e2" '(map(.name) | sort) == ([$e1, $e2] | sort) and
	all(.[]; .complete)' "$CMD_OUT" || fail "export list of the encrypted repository"
expect_exit 0 snapctl export verify "$eurl" "$e2" --key-file "$key"

# --- (c) an interrupted export -------------------------------------------------------
big=/dev/mapper/tank-big
bigsize=$((32 * MiB))
irepo=$TEST_TMP/interrupted
iurl=file://$irepo
log_must snapctl disk create tank big --size 32M
write_random $big 0 $bigsize 7 >/dev/null
log_must snapctl snapshot create tank big --name s1
export_big=(snapctl --json export tank big/s1 "$iurl" --name big-full --chunk-size 256K --jobs 1)
"${export_big[@]}" >"$TEST_TMP/killed.out" 2>"$TEST_TMP/killed.err" &
pid=$!
for ((i = 0; i < 1200; i++)); do
	[[ $(chunk_count "$irepo") -lt 8 ]] || break
	kill -0 $pid 2>/dev/null || break
	sleep 0.05
done
kill -KILL $pid 2>/dev/null || fail "the export ended before it was killed: $(<"$TEST_TMP/killed.err")"
rc=0
wait $pid || rc=$?
assert_eq "$rc" 137 "exit status of the killed export"
stored=$(chunk_count "$irepo")
log_note "killed with $stored chunk objects stored"
[[ $stored -ge 8 && $stored -lt 128 ]] || fail "$stored chunks stored when killed"
[[ -e $irepo/exports/big-full.pending && ! -e $irepo/exports/big-full.manifest ]] ||
	fail "the killed export is not pending, or has a manifest"

expect_exit 0 snapctl export list "$iurl"
out_has "^big-full +\(interrupted"
expect_exit 0 snapctl --json export list "$iurl"
jq -e '. == [{"name": "big-full", "complete": false}]' "$CMD_OUT" || fail "export list --json of an interrupted export"
expect_exit 4 snapctl export gc "$iurl"
err_has "export 'big-full' is under way or was interrupted"
assert_eq "$(chunk_count "$irepo")" "$stored" "chunk objects after a refused gc"

expect_exit 0 "${export_big[@]}"
jq -e --argjson n "$stored" '
	.name == "big-full" and .read_chunks == 128 and .stored_chunks == 128 and
	.transfer.chunks == 128 and .transfer.already_stored_chunks == $n and
	.transfer.uploaded_chunks == 128 - $n and .new_chunks == .transfer.uploaded_chunks and
	.transfer.uploaded_chunks + .transfer.already_stored_chunks + .transfer.zero_chunks ==
		.read_chunks' "$CMD_OUT" || fail "the resumed export did not skip the stored chunks"
assert_eq "$(chunk_count "$irepo")" 129 "chunk objects: 128 chunks and a chunk list"
[[ ! -e $irepo/exports/big-full.pending ]] || fail "the completed export is still pending"
expect_exit 0 snapctl --json export list "$iurl"
jq -e '.[0].name == "big-full" and .[0].complete and length == 1' "$CMD_OUT" || fail "export list after resume"

[[ -b $big@s1 ]] || log_must snapctl snapshot view tank big/s1
image_sums "$big@s1" $bigsize
assert_eq "${#DATA_SLOTS[@]}" 128 "non-zero slots of big"
sumbig=$IMAGE_SUM
restore_check "$iurl" big-full tank big-restored "$sumbig" $bigsize
jq -e '.transfer.chunks == 128' "$CMD_OUT" || fail "import of big-full"

# --- (d) bad arguments -----------------------------------------------------------------
disks=$(disk_names tank)
expect_exit 3 snapctl import "$url" nosuch tank x
err_has "no export 'nosuch'"
no_disk tank x
expect_exit 3 snapctl export delete "$url" nosuch
expect_exit 3 snapctl export tank vm/s2 "$url" --base nosuch

expect_exit 6 snapctl export tank vm/s1 "$url"
err_has "has an export named '$e1' already"
expect_exit 6 snapctl export tank vm/s2 "$url" --name "$e1"
expect_exit 2 snapctl export tank vm/s2 "$iurl" --base big-full
err_has "not of this disk's chain"
for cs in 100000 32K 128M; do
	expect_exit 2 snapctl export tank vm/s2 "file://$TEST_TMP/new" --chunk-size $cs
	err_has "chunk size"
done
[[ ! -e $TEST_TMP/new ]] || fail "a refused export created a repository"
expect_exit 2 snapctl export tank vm/s2 "$url" --chunk-size 1M
err_has "uses 262144-byte chunks"

assert_eq "$(ls "$plain/exports")" "$e1.manifest" "exports of the plain repository"
assert_eq "$(ls "$irepo/exports")" "big-full.manifest" "exports of the resumed repository"
assert_eq "$(disk_names tank)" "$disks" "disks after refused commands"
