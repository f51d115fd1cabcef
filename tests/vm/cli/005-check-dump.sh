#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapctl check, dump and version: contract, a clean pool, a damaged metadata block, JSON listing
#
# 'snapctl check' and 'snapctl dump' answer --help, refuse an unknown option
# and a missing argument with exit 2, and a device that does not exist with
# exit 3.  On the metadata device of a deactivated pool, check exits 0 and
# says clean; after a metadata block in use is overwritten with random
# bytes it exits 7 and lists the problems; once the block is back it is
# clean again.  'dump --json' lists the disks and snapshots that were made.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

meta=$(disk 0)
MiB=$((1 << 20))

# --- contract ---------------------------------------------------------------
snapctl_contract "check" "$meta"
snapctl_contract "dump" "$meta"
snapctl_contract "version"
expect_exit 2 snapctl check
expect_exit 2 snapctl dump
expect_exit 2 snapctl check "$meta" "$meta"
expect_exit 3 snapctl check /dev/nosuch
err_has "/dev/nosuch"
expect_exit 3 snapctl dump /dev/nosuch
expect_exit 0 snapctl --json version
jq -e '(.snapctl | test("^[0-9]+\\.[0-9]+\\.[0-9]+$")) and (.target_version | length == 3)' \
	"$CMD_OUT" || fail "version --json"
# Not a pool: all zeroes.
truncate -s 16M "$TEST_TMP/zero.img"
expect_exit 1 snapctl check "$TEST_TMP/zero.img"
err_has "holds no pool"

# --- a pool with two disks and their snapshots -------------------------------------
snapctl_pool tank
log_must snapctl disk create tank vm1 --size 64M
log_must snapctl disk create tank vm2 --size 32M
write_random /dev/mapper/tank-vm1 0 $((8 * MiB)) 1 >/dev/null
write_random /dev/mapper/tank-vm2 0 $((4 * MiB)) 2 >/dev/null
log_must snapctl snapshot create tank vm1 --name a
write_random /dev/mapper/tank-vm1 $((32 * MiB)) $((4 * MiB)) 3 >/dev/null
log_must snapctl snapshot create tank vm1 vm2 --name b,b2
uuid=$(snapctl --json pool status tank | jq -r .uuid)
log_must snapctl pool deactivate tank

expect_exit 0 snapctl check "$meta"
out_has "^$meta: 2 disks, 3 snapshots, "
out_has "^$meta: clean$"
_lines_match "^problem:" "${CMD_OUT_LINES[@]}" && fail "problems in a clean pool"
expect_exit 0 snapctl --json check "$meta"
jq -e '.clean == true and .complete == true and .problems == [] and .disks == 2 and
	.snapshots == 3 and .mappings > 0 and .needs_check_flag == false' "$CMD_OUT" ||
	fail "check --json of a clean pool"

expect_exit 0 snapctl --json dump "$meta"
jq -e --arg u "$uuid" '
	.pool.uuid == $u and .pool.block_sectors == 8 and .pool.data_used > 0 and
	(.disks | map(.name) == ["vm1", "vm2"]) and
	(.disks | map(.size_blocks) == [16384, 8192]) and
	(.disks | all(.removed == false)) and
	(.snapshots | map([.disk, .name]) == [[1, "a"], [1, "b"], [2, "b2"]]) and
	(.snapshots[0].delta_blocks == 2048 and .snapshots[1].delta_blocks == 1024 and
	 .snapshots[2].delta_blocks == 1024) and
	(.snapshots[1].group == .snapshots[2].group and .snapshots[1].group > 0) and
	(.snapshots[0].next == .snapshots[1].id)' "$CMD_OUT" || fail "dump --json"
expect_exit 0 snapctl dump "$meta"
out_has "^pool $uuid$"
out_has "^ +1 +vm1 +64\.0 MiB +2 "
out_has "^ +2 +vm2 +32\.0 MiB +1 "

# --- a damaged metadata block ------------------------------------------------------------
# Which blocks hold what is the core's business: try blocks of the used area
# until one makes check find problems, and put each one back after trying.
saved=$TEST_TMP/block
found=""
for blk in 20 12 30 8 16 24 28 36 5 6 7 9 10 11 13 14 15 17 18 19 21 22 23 25 26 27 29 \
	31 32 33 34 35 37 38 39 40; do
	dd if="$meta" of="$saved" bs=4096 skip="$blk" count=1 iflag=direct status=none
	head -c 4096 /dev/urandom |
		dd of="$meta" bs=4096 seek="$blk" count=1 oflag=direct conv=notrunc status=none
	rc=0
	snapctl check "$meta" >"$TEST_TMP/check.out" 2>&1 || rc=$?
	dd if="$saved" of="$meta" bs=4096 seek="$blk" count=1 oflag=direct conv=notrunc \
		status=none
	if [[ $rc -eq 7 ]] && grep -q "^problem: " "$TEST_TMP/check.out"; then
		found=$blk
		break
	fi
	log_note "block $blk: check exited $rc"
done
[[ -n $found ]] || fail "no block of 5..40 made check find a problem"
mapfile -t lines <"$TEST_TMP/check.out"
log_note "overwriting metadata block $found: ${#lines[@]} lines, the first and the last:"
printf '  | %s\n' "${lines[@]:0:5}" "${lines[@]: -2}"
[[ ${lines[-1]} == *" problems found" ]] || fail "no count of problems"

# The same damage again, through expect_exit: exit 7 and problem lines.
head -c 4096 /dev/urandom >"$TEST_TMP/garbage"
dd if="$meta" of="$saved" bs=4096 skip="$found" count=1 iflag=direct status=none
restore() {
	dd if="$saved" of="$meta" bs=4096 seek="$found" count=1 oflag=direct conv=notrunc \
		status=none
	damaged=""
}
damaged=1
on_exit '[[ -z $damaged ]] || restore'
dd if="$TEST_TMP/garbage" of="$meta" bs=4096 seek="$found" count=1 oflag=direct \
	conv=notrunc status=none
expect_exit 7 snapctl check "$meta"
out_has "^problem: "
expect_exit 7 snapctl --json check "$meta"
jq -e '.clean == false and (.problems | length) > 0 and (.problems | all(type == "string"))' \
	"$CMD_OUT" || fail "check --json of a damaged pool"

# Put back: clean again, and the pool comes back.
log_must restore
expect_exit 0 snapctl check "$meta"
out_has "clean$"
log_must snapctl pool activate tank
[[ -b /dev/mapper/tank-vm2 ]] || fail "the pool's disks did not come back"
