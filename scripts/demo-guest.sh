#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo, inside the VM (see scripts/demo).  Uses the real module, dmsetup
# and snapctl on the VM's two virtio disks: /dev/vda for metadata, /dev/vdb
# for data.
. "$DMROW_SRC/tests/vm/common.sh"

step() { printf '\n=== %s\n' "$*"; }
show() { echo "\$ $*"; "$@"; }
same() { [[ "$1" == "$2" ]] || fail "$3: checksum $1, expected $2"; echo "verified: $3"; }

export SNAPCTL_CONFIG_DIR=$TEST_TMP/pools
load_module
zero_dev /dev/vda 16

step "A pool on a metadata device and a data device"
show snapctl pool create tank --metadata /dev/vda --data /dev/vdb --force
show snapctl pool status tank

step "A 512 MiB disk with ext4 and some files"
show snapctl disk create tank vm1 --size 512M
log_must mkfs.ext4 -q /dev/mapper/tank-vm1
mkdir -p "$TEST_TMP/mnt"
log_must mount /dev/mapper/tank-vm1 "$TEST_TMP/mnt"
on_exit "umount $TEST_TMP/mnt 2>/dev/null; true"
head -c $((32 << 20)) /dev/urandom >"$TEST_TMP/mnt/monday.bin"
v1=$(sha256sum <"$TEST_TMP/mnt/monday.bin")

step "Snapshot 'monday', application-consistent (filesystem frozen)"
show snapctl snapshot create tank vm1 --name monday --freeze

step "More writes, then snapshot 'tuesday'"
head -c $((16 << 20)) /dev/urandom >"$TEST_TMP/mnt/monday.bin"
head -c $((8 << 20)) /dev/urandom >"$TEST_TMP/mnt/tuesday.bin"
v2=$(sha256sum <"$TEST_TMP/mnt/monday.bin")
t2=$(sha256sum <"$TEST_TMP/mnt/tuesday.bin")
show snapctl snapshot create tank vm1 --name tuesday --freeze --tag reason=upgrade \
	--description "before the 2.4 upgrade"
show snapctl snapshot list tank
show snapctl snapshot list tank --tag reason=upgrade
tagged=$(snapctl --json snapshot list tank --tag reason=upgrade | jq -r '[.[].name] | join(" ")')
[[ $tagged == tuesday ]] || fail "the snapshots tagged reason=upgrade are '$tagged', not tuesday"
echo "verified: the tag filter finds tuesday only"

step "A clone of 'monday' is a new disk at once, sharing blocks"
show snapctl clone tank monday vm1-monday
mkdir -p "$TEST_TMP/clone"
log_must mount -o ro,noload /dev/mapper/tank-vm1-monday "$TEST_TMP/clone"
same "$(sha256sum <"$TEST_TMP/clone/monday.bin")" "$v1" "the clone holds Monday's file"
[[ ! -e $TEST_TMP/clone/tuesday.bin ]] || fail "the clone has Tuesday's file"
log_must umount "$TEST_TMP/clone"

step "The disk grows to 768 MiB; disaster: it is overwritten; roll back to 'tuesday'"
log_must umount "$TEST_TMP/mnt"
show snapctl disk resize tank vm1 --size 768M
head -c $((64 << 20)) /dev/zero | dd of=/dev/mapper/tank-vm1 bs=1M oflag=direct status=none
show snapctl snapshot rollback tank vm1 tuesday --yes
size=$(blockdev --getsize64 /dev/mapper/tank-vm1)
[[ $size == $((768 << 20)) ]] || fail "the rolled back disk is $size bytes, not the 768 MiB it grew to"
echo "verified: the rollback kept the grown size (768 MiB)"
log_must mount /dev/mapper/tank-vm1 "$TEST_TMP/mnt"
show resize2fs -f /dev/mapper/tank-vm1
fs_mib=$(df -BM --output=size "$TEST_TMP/mnt" | tail -n 1 | tr -dc 0-9)
((fs_mib > 600)) || fail "the filesystem is $fs_mib MiB after resize2fs"
echo "verified: ext4 grown online to $fs_mib MiB"
same "$(sha256sum <"$TEST_TMP/mnt/monday.bin")" "$v2" "monday.bin as of Tuesday"
same "$(sha256sum <"$TEST_TMP/mnt/tuesday.bin")" "$t2" "tuesday.bin as of Tuesday"
log_must umount "$TEST_TMP/mnt"

step "Export 'monday' in full and 'tuesday' incrementally, to a local repository"
repo=file://$TEST_TMP/exports
show snapctl export tank vm1/monday "$repo" --name vm1-monday
show snapctl export tank vm1/tuesday "$repo" --name vm1-tuesday --base vm1-monday
show snapctl export list "$repo"

step "Restore 'tuesday' from its export into a new disk, verified"
show snapctl import "$repo" vm1-tuesday tank vm1-restored
log_must mount -o ro,noload /dev/mapper/tank-vm1-restored "$TEST_TMP/clone"
same "$(sha256sum <"$TEST_TMP/clone/monday.bin")" "$v2" "restored monday.bin as of Tuesday"
same "$(sha256sum <"$TEST_TMP/clone/tuesday.bin")" "$t2" "restored tuesday.bin as of Tuesday"
log_must umount "$TEST_TMP/clone"

step "Instant restore of 'monday': the disk is usable at once, filled in the background"
show snapctl import --instant "$repo" vm1-monday tank vm1-instant --rate 32M/s
log_must mount -o ro,noload /dev/mapper/tank-vm1-instant "$TEST_TMP/clone"
same "$(sha256sum <"$TEST_TMP/clone/monday.bin")" "$v1" "monday.bin, read while the disk hydrates"
log_must umount "$TEST_TMP/clone"
show snapctl disk list tank
show snapctl disk hydrate tank vm1-instant --rate 0 --wait
log_must mount -o ro,noload /dev/mapper/tank-vm1-instant "$TEST_TMP/clone"
same "$(sha256sum <"$TEST_TMP/clone/monday.bin")" "$v1" "monday.bin once hydrated, the export no longer served"
log_must umount "$TEST_TMP/clone"

step "Space: what each snapshot holds, what deleting it would free"
show snapctl snapshot list tank
show snapctl disk list tank
show snapctl snapshot delete tank monday --yes
show snapctl pool status tank

step "Deactivate, check the metadata offline, activate again"
show snapctl pool deactivate tank
show snapctl check /dev/vda
show snapctl pool activate tank
log_must mount -o ro /dev/mapper/tank-vm1 "$TEST_TMP/mnt"
same "$(sha256sum <"$TEST_TMP/mnt/tuesday.bin")" "$t2" "tuesday.bin after reactivation"
log_must umount "$TEST_TMP/mnt"
show snapctl pool deactivate tank

step "Demo complete: every check passed"
