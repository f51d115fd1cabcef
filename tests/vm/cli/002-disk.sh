#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapctl disk verbs: contract, sizes, in-use refusals, resize, rename, remove, JSON
#
# Every 'snapctl disk' verb answers --help, refuses an unknown option and a
# missing argument with exit 2, and an unknown pool or disk with exit 3.
# Sizes are rounded up to whole blocks; a mounted disk cannot be removed,
# renamed or shrunk (exit 4); removal and shrinking need --yes without a
# TTY (exit 6); a removed disk with snapshots stays listed as removed.
# 'disk list --json' is checked field by field, with the space written.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq mkfs.ext4
load_module

snapctl_pool tank
MiB=$((1 << 20))

# --- contract ---------------------------------------------------------------
snapctl_contract "disk create" tank vm1 --size 1M
snapctl_contract "disk list" tank
snapctl_contract "disk remove" tank vm1 --yes
snapctl_contract "disk resize" tank vm1 --size 1M
snapctl_contract "disk set" tank vm1 --name other

expect_exit 2 snapctl disk create
expect_exit 2 snapctl disk create tank --size 1M
expect_exit 2 snapctl disk create tank vm1
err_has "--size"
expect_exit 2 snapctl disk create tank vm1 --size
err_has "option '--size' needs a value"
for bad in 0 12Q -5M 1.5G ""; do
	expect_exit 2 snapctl disk create tank vm1 --size "$bad"
done
for bad in 1abc a/b a@b "a b"; do
	expect_exit 2 snapctl disk create tank "$bad" --size 1M
	err_has "not a valid disk name"
done
expect_exit 2 snapctl disk list
expect_exit 2 snapctl disk remove tank
expect_exit 2 snapctl disk resize tank vm1
expect_exit 2 snapctl disk set tank vm1
expect_exit 2 snapctl disk set tank vm1 --delete-auto-snapshots maybe

expect_exit 3 snapctl disk create nosuch vm1 --size 1M
err_has "no pool 'nosuch'"
expect_exit 3 snapctl disk list nosuch
expect_exit 3 snapctl disk remove tank nosuch --yes
err_has "no disk 'nosuch'"
expect_exit 3 snapctl disk resize tank nosuch --size 1M
expect_exit 3 snapctl disk set tank nosuch --name other
expect_exit 3 snapctl disk remove nosuch vm1 --yes

# --- create and list ------------------------------------------------------------
expect_exit 0 snapctl disk create tank vm1 --size 100M
out_has "/dev/mapper/tank-vm1"
log_must snapctl disk create tank vm2 --size 10000 --id 7
expect_exit 2 snapctl disk create tank vm1 --size 1M
err_has "has a disk named 'vm1'"
assert_eq "$(dev_sectors /dev/mapper/tank-vm1)" $((100 << 11)) "vm1 size"
assert_eq "$(dev_sectors /dev/mapper/tank-vm2)" 24 "vm2 size, rounded up to 3 blocks"

sum=$(write_random /dev/mapper/tank-vm1 $((10 * MiB)) $((8 * MiB)) 5)
expect_exit 0 snapctl --json disk list tank
jq -e --argjson m $MiB '
	length == 2 and
	(.[0] | .id == 1 and .name == "vm1" and .size_bytes == 100 * $m and
		.removed == false and .manual_snapshots == 0 and .auto_snapshots == 0 and
		.since_last_snapshot_bytes == 8 * $m and .mapped_bytes == 8 * $m and
		.chain_bytes == 0 and .origin_snapshot == 0 and
		.delete_auto_snapshots == false and .device == "/dev/mapper/tank-vm1" and
		(.created | type) == "number" and .created > 0) and
	(.[1] | .id == 7 and .name == "vm2" and .size_bytes == 12288 and .mapped_bytes == 0)
	' "$CMD_OUT" || fail "disk list --json"
expect_exit 0 snapctl disk list tank
out_has "^ID +NAME +SIZE +SNAPSHOTS +CHAIN +SINCE LAST +STATE +DEVICE +ORIGIN +HYDRATED +TAGS +DESCRIPTION$"
out_has "^ +1 +vm1 +100\.0 MiB +0 +0 B +8\.0 MiB +live +tank-vm1 +- +- +- +-$"
out_has "^ +7 +vm2 +12\.0 KiB +0 +0 B +0 B +live +tank-vm2 +- +- +- +-$"

# --- a mounted disk -----------------------------------------------------------------
mnt=$TEST_TMP/mnt
mount_fs /dev/mapper/tank-vm1 "$mnt"
expect_exit 0 snapctl disk list tank
out_has "^ +1 +vm1 .* in use +tank-vm1 +- +- +- +-$"
expect_exit 4 snapctl disk remove tank vm1 --yes
err_has "tank-vm1 is in use"
expect_exit 4 snapctl disk set tank vm1 --name other
expect_exit 4 snapctl disk resize tank vm1 --size 50M --yes
mountpoint -q "$mnt" || fail "a refused command unmounted the disk"
# Growing a disk in use is fine.
log_must snapctl disk resize tank vm1 --size 120M
assert_eq "$(dev_sectors /dev/mapper/tank-vm1)" $((120 << 11)) "vm1 grown while mounted"
echo data >"$mnt/file"
log_must umount "$mnt"

# --- without a TTY, destruction needs --yes ------------------------------------------
expect_exit 6 snapctl disk remove tank vm1
err_has "add --yes"
expect_exit 6 snapctl disk resize tank vm2 --size 4096
err_has "add --yes"
[[ -b /dev/mapper/tank-vm1 ]] || fail "a refused removal removed the device"

# --- resize, rename, set --------------------------------------------------------------
log_must snapctl disk resize tank vm2 --size 1M
assert_eq "$(dev_sectors /dev/mapper/tank-vm2)" 2048 "vm2 grown"
sum2=$(write_random /dev/mapper/tank-vm2 0 4096 9)
log_must snapctl disk resize tank vm2 --size 8K --yes
assert_eq "$(dev_sectors /dev/mapper/tank-vm2)" 16 "vm2 shrunk"
assert_eq "$(sha256_of /dev/mapper/tank-vm2 0 4096)" "$sum2" "vm2 data kept by shrinking"

log_must snapctl disk set tank vm2 --name data2 --delete-auto-snapshots yes
[[ -b /dev/mapper/tank-data2 ]] || fail "no device under the new name"
dmsetup info tank-vm2 >/dev/null 2>&1 && fail "device under the old name left"
expect_exit 0 snapctl --json disk list tank
jq -e '.[1].name == "data2" and .[1].delete_auto_snapshots == true and .[1].id == 7' \
	"$CMD_OUT" || fail "disk list after set"
expect_exit 3 snapctl disk set tank vm2 --name again
log_must snapctl disk set tank 7 --name vm2		# a disk by its id

# --- remove -------------------------------------------------------------------------------
log_must snapctl snapshot create tank vm1 --name keep
log_must snapctl disk remove tank vm1 --yes
dmsetup info tank-vm1 >/dev/null 2>&1 && fail "device left after remove"
expect_exit 3 snapctl disk remove tank vm1 --yes
err_has "removed already"
log_must snapctl disk remove tank vm2 --yes
expect_exit 0 snapctl --json disk list tank
# vm1 keeps its snapshot, so it is listed as removed; vm2 had none and is gone.
jq -e 'length == 1 and .[0].name == "vm1" and .[0].removed == true and
	.[0].manual_snapshots == 1 and (.[0] | has("device") | not)' "$CMD_OUT" ||
	fail "disk list after remove"
expect_exit 0 snapctl disk list tank
out_has "^ +1 +vm1 .* removed +- +- +- +- +-$"
