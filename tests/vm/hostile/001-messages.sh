#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: malformed, out-of-range and impossible pool messages are refused with the documented errno and change nothing
# TIMEOUT: 300
#
# A pool with a live disk (its device active), a disk without a device, a
# removed disk that keeps a snapshot, snapshots, a view and a deleted
# snapshot receives messages that must all be refused: unknown verbs,
# wrong numbers of arguments, numbers that overflow, are negative, in hex
# or in exponent form, ids that do not exist, names too long, with blanks
# (escaped for dm_split_args), control or non-ASCII bytes, names and ids
# that are taken, attributes that are not key=value, a snapshot of 65 disks
# or of a disk twice, messages to the removed disk and the deleted
# snapshot, cross-chain requests, requests that need a device gone, and
# snapshots over quota.  Each must fail with the errno
# Documentation/dm-row.rst gives for it (as dmsetup prints it), and leave
# the pool exactly as it was: the same status (transaction id, space), the
# same 'info pool', 'list_disks' and 'list_snapshots' of every disk.  A few
# refusals are checked for their reason in the kernel log.  Well-formed
# versions of some of the messages then succeed, and the metadata checks
# clean offline.

. "$DMROW_SRC/tests/vm/common.sh"
. "$DMROW_SRC/tests/vm/hostile/lib.sh"

require_disks 2
require_cmd python3
load_module

meta=$(disk 0)
data=$(disk 1)
zero_dev "$meta" 4
pool_create pool "$meta" "$data"
P=/dev/mapper/pool
io_start

# --- the pool under attack ---------------------------------------------------
log_note "at ${SECONDS}s: the pool under attack"
disk_create pool 1 8192 web			# live, device active
log_must pool_msg pool create_disk 2 8192 db	# live, no device
log_must pool_msg pool create_disk 3 8192 gone	# removed, keeps a snapshot
io write /dev/mapper/pool-d1 0 $((64 * 4096))
s1=$(snapshot pool 1 name=before)
io write /dev/mapper/pool-d1 0 $((16 * 4096))
s1b=$(snapshot pool 1 name=after)
s2=$(snapshot pool 2 name=db-snap)
s3=$(snapshot pool 3 name=last)
sdel=$(snapshot pool 1 name=short-lived)
log_must pool_msg pool delete_snapshot "$sdel"
log_must pool_msg pool remove_disk 3
snap_view pool 1 "$s1" 8192
log_must pool_msg pool commit
DISKS="1 2 3"

N63=$(printf 'n%.0s' {1..63})
N64=${N63}x
HUGE=$(printf 'z%.0s' {1..5000})

# state: set S to what a refused message must leave as it was ('info pool'
# has the status's transaction id and space; the status line itself is
# compared at the end of each section: every process start costs).
state() {
	pool_state pool $DISKS
}

declare -A STRERROR=(
	[EINVAL]="Invalid argument" [ENODATA]="No data available" [EEXIST]="File exists"
	[EBUSY]="Device or resource busy" [EDQUOT]="Disk quota exceeded"
)
state
STATE=$S
REFUSED=0

unchanged() {
	state
	same_state "$STATE" "$S" "refused message '$*'"
	REFUSED=$((REFUSED + 1))
}

# refuse ERRNO WORD...: 'dmsetup message' fails with ERRNO, nothing changes.
refuse() {
	local errno=$1
	shift
	expect_exit 1 dmsetup message pool 0 -- "$@"
	err_has "^device-mapper: message ioctl on pool +failed: ${STRERROR[$errno]}\$"
	unchanged "$@"
}

# deny ERRNO WORD...: the same message sent from the io process (the same
# ioctl as dmsetup's, without a process start).
deny() {
	local errno=$1
	shift
	ask try $P "$@"
	[[ $REPLY == "refused $errno" ]] || fail "'$*': '$REPLY', expected refused $errno"
	unchanged "$@"
}

# status_unchanged: the pool's status line is still the one of the start.
STATUS=$(dmsetup status pool)
status_unchanged() {
	assert_eq "$(dmsetup status pool)" "$STATUS" "pool status after the refusals"
}

# klog_last REGEX: the last kernel log line matches.
klog_last() {
	local last
	last=$(dmesg | tail -n 1)
	[[ $last =~ $1 ]] || fail "kernel log: '$last', expected /$1/"
}

# --- verbs and arity -------------------------------------------------------------
log_note "at ${SECONDS}s: verbs and arity"
refuse EINVAL frobnicate
klog_last "unknown message 'frobnicate'"
refuse EINVAL ""
deny EINVAL "$HUGE"
refuse EINVAL create_disk
klog_last "message 'create_disk' takes 2 to 3 arguments, not 0"
deny EINVAL create_disk 9
deny EINVAL create_disk 9 8 name extra
deny EINVAL remove_disk
deny EINVAL remove_disk 2 2
deny EINVAL resize_disk 2
deny EINVAL resize_disk 2 8 8
deny EINVAL set_disk 2
deny EINVAL set_disk 2 name=a policy=1 delete_auto_snapshots=0 logical_block_size=512 external_origin=none name=b
deny EINVAL snapshot
deny EINVAL snapshot 2 a b c d e f g
deny EINVAL delete_snapshot
deny EINVAL delete_snapshot "$s2" "$s2"
deny EINVAL merge "$s1"
deny EINVAL rollback 2
deny EINVAL rollback 2 "$s2" keep_size extra
deny EINVAL clone "$s1"
deny EINVAL clone "$s1" 9 name 8 extra
deny EINVAL set_snapshot "$s1"
refuse EINVAL set_quota 1
deny EINVAL commit now
deny EINVAL info
refuse EINVAL info pool extra
deny EINVAL info disk
deny EINVAL info disk 1 2
deny EINVAL info nothing 1
deny EINVAL list_disks 0 1
deny EINVAL list_snapshots
deny EINVAL list_snapshots 1 "$s1" 1
deny EINVAL space disk
deny EINVAL space pool 1
deny EINVAL diff 1 0
deny EINVAL diff 1 0 0 0 0
deny EINVAL $(printf 'list_disks %.0s' {1..300})

# --- numbers ---------------------------------------------------------------------
log_note "at ${SECONDS}s: numbers"
for v in 18446744073709551616 99999999999999999999999 -1 1e99 0x10 1.5 abc 16777216 \
	18446744073709551615 "1,2"; do
	refuse EINVAL create_disk "$v" 8
done
klog_last "message 'create_disk' refused"
for v in 0 7 -8 18446744073709551616 1e99 0x1000 8K abc; do
	deny EINVAL create_disk 9 "$v"
	deny EINVAL resize_disk 2 "$v"
	deny EINVAL clone "$s1" 9 name "$v"
done
klog_last "size must be"
for v in 18446744073709551616 -1 1e99 0x1 abc; do
	deny EINVAL remove_disk "$v"
	deny EINVAL info disk "$v"
	deny EINVAL info snapshot "$v"
	deny EINVAL delete_snapshot "$v"
	deny EINVAL clone "$v" 9
	deny EINVAL clone "$s1" "$v"
	deny EINVAL rollback 2 "$v"
	deny EINVAL merge "$v" "$s1b"
	deny EINVAL list_snapshots "$v"
	deny EINVAL list_snapshots 1 "$v"
	deny EINVAL list_disks "$v"
	deny EINVAL space disk "$v"
	deny EINVAL diff 1 0 0 "$v"
	deny EINVAL diff 1 "$v" 0
	deny EINVAL snapshot "$v"
done
for v in 65537 -1 4294967296 1e9; do
	deny EINVAL set_quota "$v" 1
	deny EINVAL set_quota 1 "$v"
done
for a in policy=-1 policy=4294967296 policy=2147483648 policy= delete_auto_snapshots=2 \
	delete_auto_snapshots=yes delete_auto_snapshots= logical_block_size=1024 \
	logical_block_size=4k logical_block_size= logical_block_size=-512; do
	refuse EINVAL set_disk 2 "$a"
done
for a in shrink KEEP_SIZE keep_size= 1; do
	deny EINVAL rollback 2 "$s2" "$a"
done
for a in policy=-1 policy=4294967296 retention=1e99 retention=-5 time=-1 \
	time=18446744073709551616 retention= kind= consistency=; do
	deny EINVAL snapshot 2 "$a"
done
deny EINVAL set_snapshot "$s2" retention=-1
deny EINVAL set_snapshot "$s2" retention=0x10

# --- names -----------------------------------------------------------------------
log_note "at ${SECONDS}s: names"
for n in "$N64" "$HUGE" 'a\ b' $'tab\\\tx' $'ctl\x01' $'del\x7f' "caf$(printf '\xc3\xa9')"; do
	refuse EINVAL create_disk 9 8 "$n"
	deny EINVAL clone "$s1" 9 "$n"
	deny EINVAL set_disk 2 "name=$n"
	deny EINVAL set_snapshot "$s2" "name=$n"
	deny EINVAL snapshot 2 "name=$n"
done
klog_last "message 'snapshot' refused"
status_unchanged

# --- taken names and ids ---------------------------------------------------------------
log_note "at ${SECONDS}s: taken names and ids"
refuse EEXIST create_disk 9 8 web
deny EEXIST create_disk 1 8 other
deny EEXIST create_disk 3 8 other		# the removed disk keeps its id...
deny EEXIST create_disk 9 8 gone		# ...and its name
deny EEXIST clone "$s1" 2
deny EEXIST clone "$s1" 3
deny EEXIST clone "$s1" 9 web
deny EEXIST clone "$s1" 9 gone
deny EEXIST set_disk 2 name=web
deny EEXIST set_disk 2 name=gone
refuse EEXIST snapshot 1 name=before
deny EEXIST set_snapshot "$s1b" name=before
klog_last "the disk has a snapshot of this name"
# One snapshot message is all or nothing: disk 1's would be fine.
refuse EEXIST snapshot 1,2 name=fresh,db-snap

# --- attributes that are not key=value ---------------------------------------------------
log_note "at ${SECONDS}s: attributes that are not key=value"
for a in bogus name =web NAME=x name:x "policy 1" ' =' ==; do
	refuse EINVAL set_disk 2 "$a"
	deny EINVAL set_snapshot "$s2" "$a"
done
for a in bogus kind=weird kind=AUTO consistency=none name:x group=1; do
	deny EINVAL snapshot 2 "$a"
done
klog_last "unknown snapshot attribute|kind is manual or auto"

# --- lists of disks ----------------------------------------------------------------------
log_note "at ${SECONDS}s: lists of disks"
refuse EINVAL snapshot "$(seq -s, 1 65)"
klog_last "at most 64 disks in one snapshot"
deny EINVAL snapshot "$(seq -s, 100 164)"
refuse EINVAL snapshot 1,1
deny EINVAL snapshot 2,1,2
deny EINVAL snapshot 1,
deny EINVAL snapshot ,1
deny EINVAL snapshot 1,,2
deny EINVAL snapshot 1,2 name=a
deny EINVAL snapshot 2 name=a,b
deny EINVAL snapshot 1,2 "name=a,$N64"
deny ENODATA snapshot "$(seq -s, 100 163)"

# --- ids that do not exist, a removed disk, a deleted snapshot ----------------------------
log_note "at ${SECONDS}s: ids that do not exist, a removed disk, a deleted snapshot"
refuse ENODATA remove_disk 99
deny ENODATA resize_disk 99 8
deny ENODATA set_disk 99 name=x
deny ENODATA snapshot 99
refuse ENODATA snapshot 2,99			# disk 2's would be fine
deny ENODATA info disk 99
deny ENODATA list_snapshots 99
deny ENODATA space disk 99
deny ENODATA diff 99 0 0
deny ENODATA rollback 99 "$s2"
for s in 0 999 18446744073709551615 "$sdel"; do
	deny ENODATA delete_snapshot "$s"
	deny ENODATA rollback 2 "$s"
	deny ENODATA clone "$s" 9
	deny ENODATA info snapshot "$s"
	deny ENODATA set_snapshot "$s" name=x
	deny ENODATA space snapshot "$s"
	deny ENODATA merge "$s" "$s1b"
	[[ $s == 0 ]] || deny ENODATA diff 1 "$s" 0	# 0 is the empty disk there
done
deny ENODATA list_snapshots 1 "$sdel"
refuse ENODATA remove_disk 3
deny ENODATA resize_disk 3 16
deny ENODATA set_disk 3 name=back
deny ENODATA set_disk 3 policy=1
deny ENODATA snapshot 3
deny ENODATA rollback 3 "$s3"
deny ENODATA diff 3 0 0
log_mustnot dmsetup create --noudevsync pool-d3 --table "0 8192 row $P 3"

# --- across chains -----------------------------------------------------------------------
log_note "at ${SECONDS}s: across chains"
refuse EINVAL rollback 2 "$s1"
klog_last "the snapshot belongs to another disk"
deny EINVAL merge "$s1b" "$s2"		# $s1's view would make it EBUSY
deny EINVAL merge "$s1b" "$s1"		# last before first
deny EINVAL list_snapshots 2 "$s1"
deny ENODATA diff 2 "$s1" 0
deny ENODATA diff 2 0 "$s1"

# --- devices in the way ------------------------------------------------------------------
log_note "at ${SECONDS}s: devices in the way"
refuse EBUSY rollback 1 "$s1"
klog_last "rollback needs the disk's device suspended or removed"
deny EBUSY remove_disk 1
deny EBUSY resize_disk 1 8
refuse EBUSY delete_snapshot "$s1"
deny EBUSY merge "$s1" "$s1b"
# A suspended view is still a view.
log_must dmsetup suspend --noudevsync "pool-d1-s$s1"
refuse EBUSY delete_snapshot "$s1"
log_must dmsetup resume --noudevsync "pool-d1-s$s1"

status_unchanged

# --- quotas ------------------------------------------------------------------------------
log_note "at ${SECONDS}s: quotas"
log_must pool_msg pool set_quota 1 0
state
STATE=$S
STATUS=$(dmsetup status pool)
refuse EDQUOT snapshot 1			# two manual snapshots already
deny EDQUOT snapshot 2 kind=auto		# no automatic ones at all
deny EDQUOT snapshot 1,2 kind=auto
status_unchanged
log_must pool_msg pool set_quota 256 256

# --- well-formed versions succeed --------------------------------------------------------
log_note "at ${SECONDS}s: well-formed versions succeed"
log_must pool_msg pool create_disk 9 8 "$N63"
log_must pool_msg pool create_disk 0 8
ids=$(snapshot pool 1,2 name=fresh,db-fresh)
[[ $ids =~ ^[0-9]+\ [0-9]+$ ]] || fail "snapshot of two disks printed '$ids'"
log_must pool_msg pool set_disk 2 name=db2 policy=2147483647 delete_auto_snapshots=1
log_must pool_msg pool clone "$s1" 16777215 clone-max
pool_msg pool info disk 9 | grep -q " name=$N63\$" || fail "63-byte name not kept"
log_note "$REFUSED messages refused, none changed anything"

# --- offline check -------------------------------------------------------------------------
log_note "at ${SECONDS}s: offline check"
log_must dmsetup_remove "pool-d1-s$s1"
log_must dmsetup_remove pool-d1
log_must dmsetup_remove pool
expect_exit 0 snapctl check "$meta"
out_has ": clean$"
