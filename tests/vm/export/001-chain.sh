#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: export chain on file://: full then two incrementals read and upload only the changed chunk slots, all restore checksum-equal; deleting the middle export frees exactly its own chunks
# TIMEOUT: 400
#
# A 16 MiB disk gets data in 9 of its 64 chunk slots (256 KiB); snapshot
# s1 and a full export into a new file:// repository read exactly those 9
# slots and upload 9 chunks.  Writes touching exactly 4 slots (two in one
# slot, one across a slot boundary), snapshot s2 and an incremental export
# from s1's export read and upload exactly 4.  Writes touching 5 slots, one
# of them zeroed again and one a copy of a stored chunk, snapshot s3 and an
# incremental from s2's export read 5, find 1 zero and 1 already stored and
# upload 3.  Chunk object names are the SHA-256 of the slots' data, and the
# repository holds exactly the chunks of the three images and their chunk
# lists.  Each export restores ('snapctl import') into a new disk that
# hashes like the snapshot's view.  Deleting the middle export removes
# exactly the chunks only it referenced (two data chunks and its chunk
# list); the other two still verify and restore checksum-equal, and
# 'export list' (text and --json) shows only them.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/export/lib.sh"

require_disks 2
require_cmd jq python3
load_module

snapctl_pool tank
size=$((16 * MiB))
log_must snapctl disk create tank vm --size 16M
dev=/dev/mapper/tank-vm
repo=$TEST_TMP/repo
url=file://$repo

# --- s1: full export --------------------------------------------------------
sa=$(write_random $dev $((1 * MiB)) $((1 * MiB)) 11)		# slots 4-7
sb=$(write_random $dev $((5 * MiB + (128 << 10))) $((512 << 10)) 12)	# 20-22
sc=$(write_random $dev $((30 * CHUNK)) $CHUNK 14)		# 30, whole
sd=$(write_random $dev $((15 * MiB + 4096)) 4096 13)		# 60
log_must snapctl snapshot create tank vm --name s1
expect_exit 0 snapctl --json export tank vm/s1 "$url" --chunk-size 256K
jq -e --argjson size $size --argjson c $CHUNK '
	.disk == "vm" and .snapshot == "s1" and .base == null and .pool == "tank" and
	.image_bytes == $size and .chunk_size == $c and
	.read_chunks == 9 and .stored_chunks == 9 and .new_chunks == 9 and
	.transfer.chunks == 9 and .transfer.bytes == 9 * $c and
	.transfer.uploaded_chunks == 9 and .transfer.already_stored_chunks == 0 and
	.transfer.zero_chunks == 0' "$CMD_OUT" ||
	fail "a full export of 9 written slots of 64 did not read and upload exactly 9"
e1=$(json_name)
[[ $e1 == vm.* ]] || fail "default export name '$e1' is not <disk>.<snapshot id>"
[[ ! -e "$dev@s1" ]] || fail "export left its view of s1 behind"

expect_exit 0 snapctl snapshot view tank vm/s1
v1=$dev@s1
assert_eq "$(sha256_of $v1 $((1 * MiB)) $((1 * MiB)))" "$sa" "s1 region a"
assert_eq "$(sha256_of $v1 $((5 * MiB + (128 << 10))) $((512 << 10)))" "$sb" "s1 region b"
assert_eq "$(sha256_of $v1 $((15 * MiB + 4096)) 4096)" "$sd" "s1 region d"
image_sums $v1 $size
assert_eq "${SLOT_SUM[30]}" "$sc" "s1 region c"
assert_eq "${DATA_SLOTS[*]}" "4 5 6 7 20 21 22 30 60" "non-zero slots of s1"
sum1=$IMAGE_SUM
data1=$(data_ids)

# --- s2: incremental, exactly K=4 slots changed ----------------------------
write_random $dev $((1 * MiB + 8192)) 4096 21 >/dev/null	# slot 4
write_random $dev $((1 * MiB + (200 << 10))) 4096 22 >/dev/null	# slot 4 again
write_random $dev $((2 * MiB - 4096)) 8192 23 >/dev/null	# slots 7 and 8
write_random $dev $((10 * MiB)) $((64 << 10)) 24 >/dev/null	# slot 40
log_must snapctl snapshot create tank vm --name s2
expect_exit 0 snapctl --json export tank vm/s2 "$url" --base "$e1"
jq -e --arg base "$e1" '
	.snapshot == "s2" and .base == $base and
	.read_chunks == 4 and .new_chunks == 4 and .stored_chunks == 11 and
	.transfer.chunks == 4 and .transfer.uploaded_chunks == 4 and
	.transfer.already_stored_chunks == 0 and .transfer.zero_chunks == 0' "$CMD_OUT" ||
	fail "an incremental export after changing 4 slots did not read and upload exactly 4"
e2=$(json_name)

expect_exit 0 snapctl snapshot view tank vm/s2
v2=$dev@s2
image_sums $v2 $size
assert_eq "${DATA_SLOTS[*]}" "4 5 6 7 8 20 21 22 30 40 60" "non-zero slots of s2"
sum2=$IMAGE_SUM
data2=$(data_ids)

# --- s3: incremental with a zeroed slot and a duplicate ---------------------
write_random $dev $((21 * CHUNK)) $CHUNK 31 >/dev/null		# slot 21, whole
write_random $dev $((10 * MiB)) 4096 32 >/dev/null		# slot 40 (s2's)
write_random $dev $((2 * MiB)) 4096 33 >/dev/null		# slot 8 (s2's)
zero_range $dev $((15 * MiB + 4096)) 4096			# slot 60: zero again
write_random $dev $((50 * CHUNK)) $CHUNK 14 >/dev/null		# slot 50 = slot 30
log_must snapctl snapshot create tank vm --name s3
expect_exit 0 snapctl --json export tank vm/s3 "$url" --base "$e2"
jq -e --arg base "$e2" '
	.snapshot == "s3" and .base == $base and
	.read_chunks == 5 and .new_chunks == 3 and .stored_chunks == 11 and
	.transfer.chunks == 5 and .transfer.uploaded_chunks == 3 and
	.transfer.already_stored_chunks == 1 and .transfer.zero_chunks == 1' "$CMD_OUT" ||
	fail "incremental export of 5 changed slots (1 zero, 1 duplicate) miscounted"
e3=$(json_name)

expect_exit 0 snapctl snapshot view tank vm/s3
v3=$dev@s3
image_sums $v3 $size
assert_eq "${DATA_SLOTS[*]}" "4 5 6 7 8 20 21 22 30 40 50" "non-zero slots of s3"
assert_eq "${SLOT_SUM[50]}" "${SLOT_SUM[30]}" "slot 50 copies slot 30"
sum3=$IMAGE_SUM
data3=$(data_ids)
[[ $sum1 != "$sum2" && $sum2 != "$sum3" && $sum1 != "$sum3" ]] || fail "the snapshots do not differ"

# --- what the repository holds ----------------------------------------------
# ids_of DATA_IDS EXPORT: the chunks an export references, sorted: its
# slots' SHA-256 (the repository is not encrypted) and its chunk lists.
ids_of() {
	{ echo "$1"; list_ids "$repo" "$2"; } | sort -u
}
ids1=$(ids_of "$data1" "$e1")
ids2=$(ids_of "$data2" "$e2")
ids3=$(ids_of "$data3" "$e3")
for e in "$e1" "$e2" "$e3"; do
	mapfile -t lists < <(list_ids "$repo" "$e")
	assert_eq "${#lists[@]}" 1 "chunk lists of $e"
	[[ ! -e $repo/exports/$e.pending ]] || fail "$e is complete but still marked pending"
done
before=$(chunk_files "$repo")
assert_eq "$before" "$(sort -u <<<"$ids1"$'\n'"$ids2"$'\n'"$ids3")" \
	"chunk objects vs. the slots' SHA-256 and the chunk lists"

expect_exit 0 snapctl --json export list "$url"
jq -e --arg e1 "$e1" --arg e2 "$e2" --arg e3 "$e3" '
	(map(.name) | sort) == ([$e1, $e2, $e3] | sort) and all(.[]; .complete) and
	(map({(.name): .}) | add) as $by |
	$by[$e1].base == null and $by[$e2].base == $e1 and $by[$e3].base == $e2 and
	$by[$e1].read_chunks == 9 and $by[$e2].read_chunks == 4 and $by[$e3].read_chunks == 5 and
	$by[$e1].new_chunks == 9 and $by[$e2].new_chunks == 4 and $by[$e3].new_chunks == 3' \
	"$CMD_OUT" || fail "export list --json of the chain"

# --- restore each ---------------------------------------------------------------
restore_check "$url" "$e1" tank r1 "$sum1" $size
jq -e '.transfer.chunks == 9 and .image_bytes == 16777216' "$CMD_OUT" || fail "import of $e1"
restore_check "$url" "$e2" tank r2 "$sum2" $size
jq -e '.transfer.chunks == 11' "$CMD_OUT" || fail "import of $e2"
restore_check "$url" "$e3" tank r3 "$sum3" $size
jq -e '.transfer.chunks == 11' "$CMD_OUT" || fail "import of $e3"
snapctl --json disk list tank | jq -e --argjson size $size '
	[.[] | select(.name | test("^r[123]$")) | .size_bytes] == [$size, $size, $size]' ||
	fail "restored disks are not the snapshots' size"

# --- delete the middle export -------------------------------------------------
only2=$(comm -23 <(echo "$ids2") <(sort -u <<<"$ids1"$'\n'"$ids3"))
assert_eq "$(wc -l <<<"$only2")" 3 "chunks only $e2 references (slots 8 and 40, its list)"
kept=$(sort -u <<<"$ids1"$'\n'"$ids3" | wc -l)
expect_exit 0 snapctl --json export delete "$url" "$e2"
jq -e --arg e "$e2" --argjson kept "$kept" '
	.deleted == $e and .deleted_chunks == 3 and .referenced_chunks == $kept and
	.kept_chunks == $kept' "$CMD_OUT" || fail "export delete --json"
after=$(chunk_files "$repo")
assert_eq "$after" "$(comm -23 <(echo "$before") <(echo "$only2"))" \
	"chunk objects after deleting $e2: exactly those only it referenced are gone"
[[ ! -e $repo/exports/$e2.manifest ]] || fail "the manifest of $e2 is still there"

expect_exit 3 snapctl export verify "$url" "$e2"
err_has "no export '$e2'"
for e in "$e1" "$e3"; do
	expect_exit 0 snapctl --json export verify "$url" "$e"
	jq -e '.verified == true and .transfer.chunks == .stored_chunks' "$CMD_OUT" ||
		fail "verify of $e after deleting $e2"
done
restore_check "$url" "$e1" tank r1b "$sum1" $size
restore_check "$url" "$e3" tank r3b "$sum3" $size

expect_exit 0 snapctl export list "$url"
out_has "^EXPORT +DISK +SNAPSHOT +BASE +SIZE +CHUNKS +NEW +CREATED$"
out_has "^${e1//./\\.} +vm +s1 \([0-9]+\) +- +16\.0M +9 +9  "
out_has "^${e3//./\\.} +vm +s3 \([0-9]+\) +${e2//./\\.} +16\.0M +11 +3  "
! _lines_match "^${e2//./\\.} " "${CMD_OUT_LINES[@]}" || fail "export list still shows $e2"
assert_eq "${#CMD_OUT_LINES[@]}" 3 "lines of export list"
expect_exit 0 snapctl --json export list "$url"
jq -e --arg e1 "$e1" --arg e3 "$e3" --argjson size $size '
	length == 2 and (map(.name) | sort) == ([$e1, $e3] | sort) and
	all(.[]; .complete and .disk == "vm" and .image_bytes == $size and .chunk_size == 262144) and
	(map(.snapshot) | sort) == ["s1", "s3"]' "$CMD_OUT" || fail "export list --json after delete"

# A second gc finds nothing more to delete.
expect_exit 0 snapctl --json export gc "$url"
jq -e --argjson kept "$kept" '.deleted_chunks == 0 and .kept_chunks == $kept' "$CMD_OUT" ||
	fail "gc after delete"
assert_eq "$(chunk_files "$repo")" "$after" "chunk objects after a second gc"
