#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapctl pool verbs: contract, probing before format, deactivate/activate, quotas, JSON
#
# Every 'snapctl pool' verb answers --help, refuses an unknown option and a
# missing argument with exit 2, and an unknown pool with exit 3.  Creating a
# pool probes both devices: a filesystem or another pool's metadata is
# refused (exit 6, naming what was found) and nothing is written, unless
# --force.  Deactivating and activating a pool brings back its disks with
# their data unchanged; a disk in use keeps the pool active (exit 4).  A
# manual snapshot over the quota fails with exit 5 and says what to do.
# Deactivating pool "tank" leaves alone pool "tank-b", whose name and disk
# devices start with "tank-" too.  --json output is checked field by field.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq mkfs.ext4 blkid
load_module

meta=$(disk 0)
data=$(disk 1)
export SNAPCTL_CONFIG_DIR=$TEST_TMP/pools
GiB=$((1 << 30))

# --- contract ---------------------------------------------------------------
snapctl_contract "pool create" tank --metadata "$meta" --data "$data"
snapctl_contract "pool activate" tank
snapctl_contract "pool deactivate" tank
snapctl_contract "pool list"
snapctl_contract "pool status" tank
snapctl_contract "pool quota" tank
snapctl_contract "pool remove" tank --yes
# A short option that does not exist, and one that lacks its value.
expect_exit 2 snapctl pool create tank -Z
err_has "^snapctl: unknown option '-Z'"
expect_exit 2 snapctl pool create tank --data "$data" --metadata
err_has "^snapctl: option '--metadata' needs a value"

expect_exit 2 snapctl pool create
expect_exit 2 snapctl pool create tank --metadata "$meta"
err_has "--data"
expect_exit 2 snapctl pool create tank --metadata "$meta" --data "$data" --block-size 3K
expect_exit 2 snapctl pool activate
expect_exit 2 snapctl pool deactivate
expect_exit 2 snapctl pool status
expect_exit 2 snapctl pool quota
expect_exit 2 snapctl pool remove

for verb in activate deactivate status quota; do
	expect_exit 3 snapctl pool "$verb" nosuch
	err_has "no pool 'nosuch'"
done
expect_exit 3 snapctl pool remove nosuch --yes
err_has "no pool 'nosuch'"
expect_exit 3 snapctl pool create tank --metadata /dev/nosuch --data "$data"

# --- probing before format --------------------------------------------------
zero_dev "$meta" 1
log_must mkfs.ext4 -q -F -E nodiscard "$data" 64M
expect_exit 6 snapctl pool create tank --metadata "$meta" --data "$data"
err_has "^snapctl: $data .*ext4 filesystem.*--force"
[[ ${#CMD_ERR_LINES[@]} -eq 1 ]] || fail "more than one line of error"
assert_eq "$(blkid -p -o value -s TYPE "$data")" ext4 "filesystem after the refusal"
[[ ! -e $SNAPCTL_CONFIG_DIR/tank.conf ]] || fail "a refused pool was defined"
dmsetup info tank >/dev/null 2>&1 && fail "a refused pool was activated"

log_must snapctl pool create tank --metadata "$meta" --data "$data" --force
on_exit snapctl_pool_remove tank
[[ -b /dev/mapper/tank ]] || fail "no pool device"
[[ -f $SNAPCTL_CONFIG_DIR/tank.conf ]] || fail "no pool definition"
# A second pool over the first's metadata: refused, it names the pool.
expect_exit 6 snapctl pool create other --metadata "$meta" --data "$data"
err_has "dm-row pool metadata"
expect_exit 2 snapctl pool create tank --metadata "$meta" --data "$data" --force
err_has "exists already"

# --- JSON ---------------------------------------------------------------------
expect_exit 0 snapctl --json pool status tank
jq -e --arg m "$meta" --arg d "$data" --argjson g $GiB '
	.name == "tank" and .active == true and .mode == "rw" and
	.metadata_device == $m and .data_device == $d and
	.needs_check == false and .block_size == 4096 and
	.data_bytes == $g and .data_blocks == ($g / 4096) and .data_used_bytes == 0 and
	.manual_quota == 256 and .auto_quota == 256 and
	(.uuid | test("^[0-9a-f-]{36}$")) and (.transaction | type) == "number" and
	.metadata_used_blocks > 0' "$CMD_OUT" || fail "pool status --json"
uuid=$(jq -r .uuid "$CMD_OUT")
expect_exit 0 snapctl pool status tank
out_has "^pool +tank \($uuid\)"
out_has "^mode +rw$"
expect_exit 0 snapctl pool list --json
jq -e 'length == 1 and .[0].name == "tank" and .[0].active == true' "$CMD_OUT" ||
	fail "pool list --json"
expect_exit 0 snapctl pool list
out_has "^NAME +MODE +USED +SIZE +METADATA +DATA DEVICE$"
out_has "^tank +rw +0 B +1\.0 GiB +[0-9]+% +$data$"

# --- deactivate and activate keep the disks and their data ----------------------
log_must snapctl disk create tank vm1 --size 64M
log_must snapctl disk create tank vm2 --size 32M
sum1=$(write_random /dev/mapper/tank-vm1 0 $((4 << 20)) 1)
sum2=$(write_random /dev/mapper/tank-vm2 $((4 << 20)) $((2 << 20)) 2)
log_must snapctl snapshot create tank vm1 --name s1

exec {fd}</dev/mapper/tank-vm2
expect_exit 4 snapctl pool deactivate tank
err_has "tank-vm2 is in use"
exec {fd}<&-
[[ -b /dev/mapper/tank-vm1 ]] || fail "a refused deactivation removed a disk"

log_must snapctl pool deactivate tank
for dev in tank tank-vm1 tank-vm2; do
	dmsetup info "$dev" >/dev/null 2>&1 && fail "$dev still active after deactivate"
done
expect_exit 3 snapctl pool status tank
err_has "not active.*snapctl pool activate tank"
expect_exit 0 snapctl --json pool list
jq -e '.[0].name == "tank" and .[0].active == false and (.[0] | has("uuid") | not)' \
	"$CMD_OUT" || fail "inactive pool in pool list --json"

log_must snapctl pool activate tank
assert_eq "$(sha256_of /dev/mapper/tank-vm1 0 $((4 << 20)))" "$sum1" "vm1 after activate"
assert_eq "$(sha256_of /dev/mapper/tank-vm2 $((4 << 20)) $((2 << 20)))" "$sum2" "vm2 after activate"
assert_eq "$(dev_sectors /dev/mapper/tank-vm2)" $((32 << 11)) "vm2 size after activate"
expect_exit 0 snapctl --json pool status tank
jq -e --arg u "$uuid" '.uuid == $u' "$CMD_OUT" || fail "uuid changed"

log_must snapctl pool deactivate tank
log_must snapctl pool activate --all
assert_eq "$(sha256_of /dev/mapper/tank-vm1 0 $((4 << 20)))" "$sum1" "vm1 after activate --all"
log_must snapctl pool activate tank		# active already: nothing to do

# --- quotas ---------------------------------------------------------------------
expect_exit 0 snapctl pool quota tank --json
jq -e '.manual == 256 and .auto == 256' "$CMD_OUT" || fail "default quotas"
expect_exit 2 snapctl pool quota tank --manual 65537
expect_exit 2 snapctl pool quota tank --auto -1
expect_exit 0 snapctl pool quota tank --manual 2 --json
jq -e '.manual == 2 and .auto == 256' "$CMD_OUT" || fail "quota after setting it"
log_must snapctl snapshot create tank vm1 --name s2
expect_exit 5 snapctl snapshot create tank vm1 --name s3
err_has "quota"
err_has "snapctl pool quota"
[[ ${#CMD_ERR_LINES[@]} -eq 1 ]] || fail "more than one line of error"
expect_exit 0 snapctl --json snapshot list tank vm1
jq -e 'map(.name) == ["s1", "s2"]' "$CMD_OUT" || fail "snapshots after the refusal"
log_must snapctl pool quota tank --manual 3
log_must snapctl snapshot create tank vm1 --name s3
expect_exit 0 snapctl --json pool status tank
jq -e '.manual_quota == 3' "$CMD_OUT" || fail "quota in pool status"

# --- remove ------------------------------------------------------------------------
expect_exit 6 snapctl pool remove tank
err_has "add --yes"
[[ -b /dev/mapper/tank-vm1 ]] || fail "a refused removal removed a disk"
log_must snapctl pool remove tank --yes
[[ ! -e $SNAPCTL_CONFIG_DIR/tank.conf ]] || fail "definition left after remove"
dmsetup info tank >/dev/null 2>&1 && fail "pool device left after remove"
expect_exit 3 snapctl pool status tank

# --- pools whose names share a prefix ---------------------------------------------
# Four devices from two: tank and tank-b, each with a disk.
dmsetup_create m1 "0 $((64 << 11)) linear $meta 0"
dmsetup_create m2 "0 $((64 << 11)) linear $meta $((64 << 11))"
dmsetup_create d1 "0 $((256 << 11)) linear $data 0"
dmsetup_create d2 "0 $((256 << 11)) linear $data $((256 << 11))"
snapctl_pool tank /dev/mapper/m1 /dev/mapper/d1
snapctl_pool tank-b /dev/mapper/m2 /dev/mapper/d2
log_must snapctl disk create tank x --size 8M
log_must snapctl disk create tank-b y --size 8M
sumy=$(write_random /dev/mapper/tank-b-y 0 $((1 << 20)) 3)
log_must snapctl pool deactivate tank
dmsetup info tank-x >/dev/null 2>&1 && fail "tank-x still active"
for dev in tank-b tank-b-y; do
	dmsetup info "$dev" >/dev/null 2>&1 || fail "deactivating tank removed $dev"
done
assert_eq "$(sha256_of /dev/mapper/tank-b-y 0 $((1 << 20)))" "$sumy" "tank-b's disk"
log_must snapctl pool activate tank
[[ -b /dev/mapper/tank-x ]] || fail "tank-x not back"
