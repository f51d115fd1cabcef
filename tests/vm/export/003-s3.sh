#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: export to S3 (a local S3-protocol server): full and two incrementals restore checksum-equal, a wrong secret is refused, an export cut off by the server stopping resumes
# TIMEOUT: 400
#
# tests/s3/s3-server (s3rver, signatures checked) runs on the guest's
# loopback.  The pool's blocks are 1 MiB, bigger than the repository's
# 256 KiB chunks, so a diff names whole 1 MiB blocks: a full export of 2
# written blocks reads 8 slots and stores 5 chunks (3 slots are zero); a
# 4 KiB write into a block of data reads its 4 slots and uploads 1 chunk,
# finding the other 3 stored already; zeroing the only data of a block and
# writing a new one reads 8 and uploads 1.  All three exports restore
# checksum-equal with the snapshots' views.  With a wrong secret, export,
# list and import fail naming the signature error, and the server holds no
# new object.  An export of 16 MiB whose server is killed after some chunks
# are stored fails (SNAPCTL_S3_RETRIES=2) saying it is incomplete; with the
# server restarted on the same directory it is listed as interrupted, and
# the same command completes, uploading only the chunks that were missing,
# and restores checksum-equal.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/export/lib.sh"

require_disks 2
require_cmd jq python3 node ip
s3=$DMROW_SRC/tests/s3/s3-server
[[ -x $s3 && -d $DMROW_SRC/tests/s3/node_modules/@20minutes/s3rver ]] ||
	skip "no S3 test server: tests/s3/s3-server and its npm packages (make setup)"
load_module

# --- the server ---------------------------------------------------------------
log_must ip link set lo up		# down in the guest
s3dir=$TEST_TMP/s3
port=9555
bucket=dmrow
log_must "$s3" start "$s3dir" $port $bucket
on_exit "$s3" stop "$s3dir"
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER SNAPCTL_S3_CONFIG=/dev/null
unset AWS_DEFAULT_REGION SNAPCTL_S3_RETRIES
url=s3://$bucket/vm
bucketdir=$s3dir/data/$bucket

# server_chunks PREFIX: how many complete chunk objects the server holds
# under PREFIX, as PREFIX/chunks/<ab>/<id>: s3rver writes an object's
# metadata file after its data, so a PUT is complete once that file is
# written whole (the server drops an object whose PUT a kill cut short,
# its metadata missing or torn, when it starts again).
server_chunks() {
	python3 - "$bucketdir/$1/chunks" <<'EOF'
import glob, json, sys
n = 0
for f in glob.glob(sys.argv[1] + "/*/*._S3rver_metadata.json"):
    try:
        with open(f) as m:
            json.load(m)
        n += 1
    except ValueError:
        pass
print(n)
EOF
}

export SNAPCTL_CONFIG_DIR=$TEST_TMP/pools
log_must snapctl pool create tank --metadata "$(disk 0)" --data "$(disk 1)" --block-size 1M --force
on_exit snapctl_pool_remove tank
size=$((16 * MiB))
log_must snapctl disk create tank vm --size 16M
dev=/dev/mapper/tank-vm

# --- chain: full, incremental, incremental ---------------------------------------
write_random $dev $((5 * MiB)) $((1 * MiB)) 41 >/dev/null	# block 5: slots 20-23
write_random $dev $((12 * MiB + 8192)) 4096 42 >/dev/null	# block 12: slot 48
log_must snapctl snapshot create tank vm --name s1
expect_exit 0 snapctl --json export tank vm/s1 "$url" --chunk-size 256K
jq -e '.read_chunks == 8 and .stored_chunks == 5 and .transfer.uploaded_chunks == 5 and
	.transfer.zero_chunks == 3 and .transfer.already_stored_chunks == 0' "$CMD_OUT" ||
	fail "full export of two 1 MiB blocks"
e1=$(json_name)

write_random $dev $((5 * MiB + 4096)) 4096 43 >/dev/null	# block 5, slot 20
log_must snapctl snapshot create tank vm --name s2
expect_exit 0 snapctl --json export tank vm/s2 "$url" --base "$e1"
jq -e '.read_chunks == 4 and .stored_chunks == 5 and .transfer.uploaded_chunks == 1 and
	.transfer.already_stored_chunks == 3 and .transfer.zero_chunks == 0' "$CMD_OUT" ||
	fail "incremental export of a 4 KiB write in a 1 MiB block"
e2=$(json_name)

zero_range $dev $((12 * MiB + 8192)) 4096			# block 12: all zero
write_random $dev $((15 * MiB)) 4096 44 >/dev/null		# block 15: slot 60
log_must snapctl snapshot create tank vm --name s3
expect_exit 0 snapctl --json export tank vm/s3 "$url" --base "$e2"
jq -e '.read_chunks == 8 and .stored_chunks == 5 and .transfer.uploaded_chunks == 1 and
	.transfer.already_stored_chunks == 0 and .transfer.zero_chunks == 7' "$CMD_OUT" ||
	fail "incremental export of a zeroed and a new block"
e3=$(json_name)
# 7 chunks (5, 1, 1) and a chunk list per export.
assert_eq "$(server_chunks vm)" 10 "chunk objects on the server"

expect_exit 0 snapctl --json export list "$url"
jq -e --arg e1 "$e1" --arg e2 "$e2" --arg e3 "$e3" '
	(map({(.name): .}) | add) as $by | length == 3 and all(.[]; .complete) and
	$by[$e1].base == null and $by[$e2].base == $e1 and $by[$e3].base == $e2' "$CMD_OUT" ||
	fail "export list --json of the chain"

exports=("$e1" "$e2" "$e3")
for i in 1 2 3; do
	log_must snapctl snapshot view tank vm/s$i
	image_sums "$dev@s$i" $size
	restore_check "$url" "${exports[i - 1]}" tank r$i "$IMAGE_SUM" $size
	jq -e '.transfer.chunks == 5' "$CMD_OUT" || fail "import of ${exports[i - 1]}"
done
expect_exit 0 snapctl export verify "$url" "$e3"

# --- a wrong secret ---------------------------------------------------------------
objects=$(server_chunks vm)
disks=$(disk_names tank)
AWS_SECRET_ACCESS_KEY=not-the-secret expect_exit 1 snapctl export tank vm/s3 "$url" --name wrong
err_has "SignatureDoesNotMatch"
AWS_SECRET_ACCESS_KEY=not-the-secret expect_exit 1 snapctl export list "$url"
err_has "HTTP 403 SignatureDoesNotMatch"
AWS_SECRET_ACCESS_KEY=not-the-secret expect_exit 1 snapctl import "$url" "$e3" tank wrong
err_has "SignatureDoesNotMatch"
no_disk tank wrong
assert_eq "$(disk_names tank)" "$disks" "disks after a refused import"
assert_eq "$(server_chunks vm)" "$objects" "chunk objects after refused requests"
[[ -z $(compgen -G "$bucketdir/vm/exports/wrong.*") ]] || fail "a refused export left an object"

# --- the server stops in the middle of an export ------------------------------------------
big=/dev/mapper/tank-big
bigsize=$((16 * MiB))
bigchunks=$((bigsize / CHUNK))
burl=s3://$bucket/big
log_must snapctl disk create tank big --size 16M
write_random $big 0 $bigsize 7 >/dev/null
log_must snapctl snapshot create tank big --name s1
export_big=(snapctl --json export tank big/s1 "$burl" --chunk-size 256K --name big-full)
SNAPCTL_S3_RETRIES=2 "${export_big[@]}" >"$TEST_TMP/cut.out" 2>"$TEST_TMP/cut.err" &
pid=$!
for ((i = 0; i < 1200; i++)); do
	[[ $(server_chunks big) -lt 8 ]] || break
	kill -0 $pid 2>/dev/null || break
	sleep 0.05
done
kill -0 $pid 2>/dev/null || fail "the export ended before the server stopped: $(<"$TEST_TMP/cut.err")"
# At once: a graceful stop lets open connections go on for a while.
log_must kill -KILL "$(<"$s3dir/pid")"
log_must "$s3" stop "$s3dir"
rc=0
wait $pid || rc=$?
mapfile -t CMD_ERR_LINES <"$TEST_TMP/cut.err"
printf '  2| %s\n' "${CMD_ERR_LINES[@]}"
assert_eq "$rc" 1 "exit status of the export cut off"
err_has "incomplete; run the same command again"
err_has "chunk [0-9a-f]{64} \(slot [0-9]+\)"
# s3rver writes an object's data file in place, then the data's MD5 to a
# file, then its metadata: an upload cut off can leave a data file without
# metadata, or a truncated metadata file (which it answers with HTTP 500).
# An S3 PUT is atomic: such objects never become visible, so remove them as
# the service would never have shown them.  An object is complete when its
# metadata parses and its data has the MD5 recorded for it.
for f in $(find "$bucketdir/big" -name '*._S3rver_object'); do
	meta=${f%object}metadata.json
	if ! jq -e 'type == "object"' "$meta" >/dev/null 2>&1 || [[ ! -s $f.md5 ]] ||
	   [[ $(md5sum <"$f") != "$(<"$f.md5")  -" ]]; then
		log_note "removing the cut-off upload ${f##*/}"
		rm -f "$f" "$f.md5" "$meta"
	fi
done
stored=$(server_chunks big)
log_note "the server held $stored complete chunks when it stopped"
[[ $stored -ge 1 && $stored -lt $bigchunks ]] || fail "$stored chunks stored when the server stopped"

log_must "$s3" start "$s3dir" $port $bucket
expect_exit 0 snapctl --json export list "$burl"
jq -e '. == [{"name": "big-full", "complete": false}]' "$CMD_OUT" || fail "export list of an interrupted export"
expect_exit 0 "${export_big[@]}"
jq -e --argjson n "$stored" --argjson all $bigchunks '
	.read_chunks == $all and .stored_chunks == $all and
	.transfer.already_stored_chunks == $n and .transfer.uploaded_chunks == $all - $n and
	.transfer.uploaded_chunks + .transfer.already_stored_chunks + .transfer.zero_chunks ==
		.read_chunks' "$CMD_OUT" || fail "the resumed export did not skip the stored chunks"
assert_eq "$(server_chunks big)" $((bigchunks + 1)) "chunk objects: $bigchunks chunks and a chunk list"
[[ -b $big@s1 ]] || log_must snapctl snapshot view tank big/s1
image_sums "$big@s1" $bigsize
restore_check "$burl" big-full tank big-restored "$IMAGE_SUM" $bigsize
