#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: descriptions and tags of disks and snapshots: set at creation and later, filtered, refused when bad with nothing changed, exported and imported, dropped with what is deleted
#
# Disks (create, clone) and snapshots (one disk, and an instance snapshot of
# two) get a description and tags at creation; 'disk list --tag' and
# 'snapshot list --tag' keep only what has every tag given (a key alone:
# any value); text, info and --json show them.  'snapshot tag' and 'disk
# tag' add, replace and remove tags and change the description.  Bad keys,
# values, descriptions, a repeated key, a 21st tag and a bad filter are
# usage errors that name the problem and change nothing: the tag store is
# byte for byte the same, and no disk or snapshot is made.  An export's
# manifest records the snapshot's and the disk's tags; the disk imported
# from it has them, and the description.  A snapshot deleted by 'snapshot
# delete', by a merge, by the scheduler's retention, or behind snapctl's
# back by a dmsetup message, and a removed disk, leave no entry in the tag
# store; a disk made later with a removed disk's id has no tags.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq sha256sum
load_module

export TZ=UTC
clock_at 2026-03-02T00:30
snapctl_pool tank
store=$SNAPCTL_STATE_DIR/tags

# tags_of DISK|DISK/SNAP: the --json tags and description, compact.
disk_json() {
	snapctl --json disk list tank | jq -c --arg n "$1" '.[] | select(.name == $n) | {description, tags}'
}
snap_json() {
	snapctl --json snapshot info tank "$1" | jq -c '{description, tags}'
}
# names_of JSON-LIST-COMMAND...: the names it lists, space separated.
names_of() {
	"$@" | jq -r '[.[].name] | join(" ")'
}
# in_store KIND ID: does the tag store hold an entry of it?
in_store() {
	grep -Eq "^$1 uuid=[^ ]+ id=$2( |\$)" "$store"
}
snap_id() {
	snapctl --json snapshot info tank "$1" | jq -r .id
}
disk_id() {
	snapctl --json disk list tank | jq -r --arg n "$1" '.[] | select(.name == $n) | .id'
}

# --- disks: at creation, filters, shown ---------------------------------------------
log_must snapctl disk create tank vm1 --size 16M --description "web server, Berlin" \
	--tag env=prod --tag tier=web
log_must snapctl disk create tank vm2 --size 16M --tag env=test
log_must snapctl disk create tank vm3 --size 16M
snapctl_contract "disk tag" tank vm1
assert_eq "$(disk_json vm1)" '{"description":"web server, Berlin","tags":{"env":"prod","tier":"web"}}' "vm1 tags"
assert_eq "$(disk_json vm3)" '{"description":"","tags":{}}' "vm3 untagged"
assert_eq "$(names_of snapctl --json disk list tank --tag env=prod)" "vm1" "disks env=prod"
assert_eq "$(names_of snapctl --json disk list tank --tag env)" "vm1 vm2" "disks with env"
assert_eq "$(names_of snapctl --json disk list tank --tag env=prod --tag tier=db)" "" "no disk has both"
expect_exit 0 snapctl disk list tank --tag tier=web
out_has "^ID +NAME +SIZE +SNAPSHOTS +CHAIN +SINCE LAST +STATE +DEVICE +ORIGIN +HYDRATED +TAGS +DESCRIPTION$"
out_has "^ +1 +vm1 .* tank-vm1 +- +- +env=prod,tier=web +web server, Berlin$"
[[ ${#CMD_OUT_LINES[@]} -eq 2 ]] || fail "the filter let other disks through"

# --- snapshots: at creation, instance snapshots, filters, shown ----------------------
write_random /dev/mapper/tank-vm1 0 $((1 << 20)) 1 >/dev/null
expect_exit 0 snapctl --json snapshot create tank vm1 --name s1 --description "before the upgrade" \
	--tag reason=upgrade --tag env=prod
jq -e '.snapshots[0].tags == {"reason": "upgrade", "env": "prod"} and
	.snapshots[0].description == "before the upgrade"' "$CMD_OUT" || fail "create --json"
log_must snapctl snapshot create tank vm1 --name s2 --tag reason=nightly
log_must snapctl snapshot create tank vm2 --name t1 --tag reason=upgrade
log_must snapctl snapshot create tank vm1 vm2 --name g1,g2 --tag group=both
log_must snapctl snapshot create tank vm2 --name plain
snapctl_contract "snapshot tag" tank s1
assert_eq "$(names_of snapctl --json snapshot list tank --tag reason=upgrade)" "s1 t1" "reason=upgrade"
assert_eq "$(names_of snapctl --json snapshot list tank --tag reason=upgrade --tag env=prod)" "s1" "both tags"
assert_eq "$(names_of snapctl --json snapshot list tank vm2 --tag reason)" "t1" "vm2 with reason"
assert_eq "$(names_of snapctl --json snapshot list tank --tag group=both)" "g1 g2" "instance snapshot tagged"
assert_eq "$(names_of snapctl --json snapshot list tank --tag reason=Upgrade)" "" "values are case-sensitive"
expect_exit 0 snapctl snapshot list tank --tag env=prod
out_has "^ID +DISK +NAME +CREATED \(UTC\) +KIND +CONSISTENCY +DELTA +EXCLUSIVE +TAGS +DESCRIPTION$"
out_has " s1 .* env=prod,reason=upgrade +before the upgrade$"
[[ ${#CMD_OUT_LINES[@]} -eq 2 ]] || fail "the filter let other snapshots through"
expect_exit 0 snapctl snapshot info tank vm1/s1
out_has "^description +before the upgrade$"
out_has "^tag +env=prod$"
out_has "^tag +reason=upgrade$"
expect_exit 0 snapctl snapshot info tank plain
out_has "^description +-$"

# --- changed later ----------------------------------------------------------------
log_must snapctl snapshot tag tank vm1/s2 owner=ops --untag reason --description "kept for audit"
assert_eq "$(snap_json vm1/s2)" '{"description":"kept for audit","tags":{"owner":"ops"}}' "s2 retagged"
log_must snapctl snapshot tag tank vm1/s2 owner=dba
assert_eq "$(snap_json vm1/s2)" '{"description":"kept for audit","tags":{"owner":"dba"}}' "value replaced, description kept"
log_must snapctl disk tag tank vm2 --tag env=staging --description "batch jobs"
log_must snapctl disk tag tank vm3 keep=me
assert_eq "$(disk_json vm2)" '{"description":"batch jobs","tags":{"env":"staging"}}' "vm2 retagged"
log_must snapctl disk tag tank vm2 --description ""
assert_eq "$(disk_json vm2)" '{"description":"","tags":{"env":"staging"}}' "description cleared"
expect_exit 3 snapctl snapshot tag tank nosuch a=1
expect_exit 3 snapctl disk tag tank nosuch a=1

# --- bad input: clear errors, nothing changed -------------------------------------
for i in $(seq 1 19); do
	tags19+=(--tag "k$i=v")
done
log_must snapctl snapshot tag tank vm1/s2 "${tags19[@]}"	# 20 tags now
before=$(sha256sum <"$store")
expect_exit 2 snapctl snapshot tag tank vm1/s2 "bad key=1"
err_has "'bad key' is not a valid tag key"
expect_exit 2 snapctl snapshot tag tank vm1/s2 ok=1 "v=a,b"
err_has "the value of tag 'v' is not valid"
expect_exit 2 snapctl snapshot tag tank vm1/s2 "$(printf 'k%.0s' $(seq 129))=1"
err_has "not a valid tag key \(1-128 "
expect_exit 2 snapctl snapshot tag tank vm1/s2 "v=$(printf 'v%.0s' $(seq 257))"
expect_exit 2 snapctl snapshot tag tank vm1/s2 --description "$(printf 'two\nlines')"
err_has "description must be at most 256 bytes"
expect_exit 2 snapctl snapshot tag tank vm1/s2 a=1 a=2
err_has "tag 'a' is given twice"
expect_exit 2 snapctl snapshot tag tank vm1/s2 novalue
err_has "write it key=value"
expect_exit 2 snapctl snapshot tag tank vm1/s2
err_has "nothing to change"
expect_exit 2 snapctl snapshot tag tank vm1/s2 owner=x extra=1
err_has "at most 20 tags.*nothing was changed"
expect_exit 2 snapctl disk tag tank vm1 --untag "no such key!"
expect_exit 2 snapctl snapshot list tank --tag "bad key"
expect_exit 2 snapctl disk list tank --tag "=v"
expect_exit 2 snapctl snapshot create tank vm1 --name refused --tag "x y=1"
expect_exit 2 snapctl disk create tank refused --size 16M --description "$(printf 'a\tb')"
expect_exit 2 snapctl clone tank vm1/s1 refused --tag ",=1"
assert_eq "$(sha256sum <"$store")" "$before" "the tag store after refused changes"
assert_eq "$(snap_json vm1/s2 | jq -r '.tags.owner + " " + (.tags | length | tostring)')" "dba 20" "s2 unchanged"
assert_eq "$(names_of snapctl --json snapshot list tank --tag x)" "" "no snapshot from a refused create"
snapctl --json snapshot list tank | jq -e 'all(.name != "refused")' >/dev/null || fail "a refused snapshot was taken"
snapctl --json disk list tank | jq -e 'all(.name != "refused")' >/dev/null || fail "a refused disk was made"

# --- clone ----------------------------------------------------------------------
log_must snapctl clone tank vm1/s1 c1 --tag env=dev --description "a copy of s1"
assert_eq "$(disk_json c1)" '{"description":"a copy of s1","tags":{"env":"dev"}}' "clone tags"

# --- export and import --------------------------------------------------------------
url=file://$TEST_TMP/repo
log_must snapctl export tank vm1/s1 "$url" --name s1exp
manifest=$TEST_TMP/repo/exports/s1exp.manifest
for line in "description=before the upgrade" "tag=env=prod" "tag=reason=upgrade" \
	"disk_description=web server, Berlin" "disk_tag=env=prod" "disk_tag=tier=web"; do
	grep -qxF "$line" "$manifest" || fail "the manifest lacks '$line'"
done
expect_exit 0 snapctl --json export list "$url"
jq -e '.[0].tags == {"env": "prod", "reason": "upgrade"} and
	.[0].source_disk.tags == {"env": "prod", "tier": "web"}' "$CMD_OUT" || fail "export list --json"
expect_exit 0 snapctl --json import "$url" s1exp tank restored
jq -e '.description == "before the upgrade" and .tags.reason == "upgrade"' "$CMD_OUT" ||
	fail "import --json"
# The disk's tags, the snapshot's on top, and the snapshot's description.
assert_eq "$(disk_json restored)" \
	'{"description":"before the upgrade","tags":{"env":"prod","reason":"upgrade","tier":"web"}}' \
	"imported disk"
assert_eq "$(names_of snapctl --json disk list tank --tag reason=upgrade)" "restored" "imported disk found by tag"
assert_eq "$(sha256_of /dev/mapper/tank-restored 0 $((1 << 20)))" \
	"$(snapctl snapshot view tank vm1/s1 >/dev/null && sha256_of /dev/mapper/tank-vm1@s1 0 $((1 << 20)))" \
	"imported data"
log_must snapctl snapshot unview tank vm1/s1

# --- nothing stale ------------------------------------------------------------------
t1=$(snap_id vm2/t1)
s1=$(snap_id vm1/s1)
s2=$(snap_id vm1/s2)
in_store snapshot "$t1" || fail "t1 has no entry to start with"
log_must snapctl snapshot delete tank vm2/t1 --yes
in_store snapshot "$t1" && fail "snapshot delete left t1's tags"

in_store snapshot "$s1" || fail "s1 has no entry to start with"
log_must snapctl snapshot merge tank vm1/s1 vm1/s2 --yes
in_store snapshot "$s1" && fail "merge left s1's tags"
assert_eq "$(snap_json vm1/s2 | jq -r .tags.owner)" "dba" "the merge target keeps its own tags"

# Retention: the scheduler deletes the snapshot, and its tags go with it.
log_must snapctl snapshot create tank vm2 --name short --retention-days 1 --tag temp=yes
short=$(snap_id vm2/short)
in_store snapshot "$short" || fail "short has no entry to start with"
expect_exit 0 snapctl daemon --until "$(epoch 2026-03-03T01:00)" --json
jq -e '[.events[] | select(.action == "expire" or .action == "delete")] | length >= 1' "$CMD_OUT" >/dev/null ||
	fail "the scheduler deleted nothing"
snapctl --json snapshot list tank vm2 | jq -e 'all(.name != "short")' >/dev/null || fail "short not expired"
in_store snapshot "$short" && fail "retention left short's tags"

# Behind snapctl's back: swept by the next change to the pool's tags.
g2=$(snap_id vm2/g2)
in_store snapshot "$g2" || fail "g2 has no entry to start with"
log_must dmsetup message tank 0 delete_snapshot "$g2"
log_must snapctl disk tag tank vm1 swept=yes
in_store snapshot "$g2" && fail "a snapshot deleted by a message left its tags"

# A removed disk's tags go, and its id used again starts bare.
vm3=$(disk_id vm3)
in_store disk "$vm3" || fail "vm3 has no entry to start with"
log_must snapctl disk remove tank vm3 --yes
in_store disk "$vm3" && fail "disk remove left vm3's tags"
log_must snapctl disk create tank again --size 16M --id "$vm3"
assert_eq "$(disk_json again)" '{"description":"","tags":{}}' "a reused disk id"
log_note "tags set, filtered, refused, exported, imported and dropped"
