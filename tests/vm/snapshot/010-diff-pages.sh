#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: a diff too long for one message answer, taken in pages from where each ended, lists every changed block once
# TIMEOUT: 300
#
# After a snapshot, every third block of the first 16000 is overwritten and
# a run of 100 blocks further on, then part of it discarded: thousands of
# runs, more than one 'diff' answer holds.  Paging with the block each
# answer's "next=" gives, the runs must add up to exactly the blocks
# written (each once, in order, no run crossing a page boundary twice),
# the first page must end with "next=" and the last with "end"; a diff
# started part way lists exactly the tail; the snapshot against the empty
# disk lists every block it maps.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd python3
load_module

zero_dev "$(disk 0)" 4
pool_create pool "$(disk 0)" "$(disk 1)"
size=$((64 * 2048))
disk_create pool 1 $size
dev=/dev/mapper/pool-d1
write_random $dev 0 $((64 << 20)) 1 >/dev/null
snap=$(snapshot pool 1)

python3 - "$dev" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
data = os.urandom(4096)
for b in list(range(0, 16000, 3)) + list(range(16200, 16300)):
    os.pwrite(fd, data, b * 4096)
os.fsync(fd)
os.close(fd)
EOF
log_must blkdiscard -o $((16250 * 4096)) -l $((10 * 4096)) $dev

# The expected blocks, one per line.
{ seq 0 3 15999; seq 16200 16299; } >"$TEST_TMP/expect"

# diff_pages FROM TO START: page through the diff, one block per line in
# blocks.out, the number of answers in $pages.
diff_pages() {
	local from=$1 to=$2 start=$3 answer last
	pages=0
	: >"$TEST_TMP/blocks.out"
	while :; do
		answer=$(pool_msg pool diff 1 "$from" "$to" "$start")
		pages=$((pages + 1))
		last=$(tail -n 1 <<<"$answer")
		sed -n 's/^\([0-9]*\)+\([0-9]*\)$/\1 \2/p' <<<"$answer" |
			awk -v s="$start" '$1 < s { print "before start: " $0 > "/dev/stderr"; exit 1 }
				{ for (i = 0; i < $2; i++) print $1 + i }' >>"$TEST_TMP/blocks.out" ||
			fail "page $pages from $start listed a block before it"
		case $last in
		end) break ;;
		next=*) start=${last#next=} ;;
		*) fail "page $pages ends with '$last'" ;;
		esac
		((pages < 1000)) || fail "more than 1000 pages"
	done
}

diff_pages "$snap" 0 0
log_note "$(wc -l <"$TEST_TMP/blocks.out") blocks in $pages answers"
((pages >= 2)) || fail "the diff fit one answer ($pages): nothing was paged"
cmp "$TEST_TMP/blocks.out" "$TEST_TMP/expect" || fail "the paged diff is not the blocks written"

# The snapshot against the empty disk: all 16384 blocks.
diff_pages 0 "$snap" 0
seq 0 16383 | cmp - "$TEST_TMP/blocks.out" || fail "the snapshot against the empty disk"

# Started in the middle of a page's worth, at its last block, past the end.
diff_pages "$snap" 0 9500
awk '$1 >= 9500' "$TEST_TMP/expect" | cmp - "$TEST_TMP/blocks.out" ||
	fail "the diff from block 9500 is not the tail of the blocks written"
diff_pages "$snap" 0 16299
assert_eq "$(cat "$TEST_TMP/blocks.out")" 16299 "the diff from the last block written"
diff_pages "$snap" 0 100000
[[ ! -s $TEST_TMP/blocks.out ]] || fail "the diff past the disk's end listed blocks"
