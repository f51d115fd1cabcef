# SPDX-License-Identifier: GPL-2.0
#
# Helpers for tests/vm scenario tests.  Source it first thing:
#
#	. "$DMROW_SRC/tests/vm/common.sh"
#
# A test passes when it exits 0, is skipped when it exits 77 (skip) and fails
# otherwise.  The shell runs with errexit, nounset and pipefail: an unchecked
# failing command fails the test, and the location is printed.  Cleanups
# registered with on_exit run last-in first-out however the test ends,
# including on the runner's timeout.
#
# Environment provided by the runner:
#   DMROW_SRC      source tree (read-only)
#   DMROW_KO       dm-row.ko built for the running kernel, or empty
#   DMROW_DISKS    virtio disks, space separated (/dev/vda /dev/vdb ...)
#   TEST_TMP       scratch directory, emptied after the test
#   TEST_NAME      group/NNN-name
#   VM_OUTDIR      host work directory, writable (for artifacts)
#   DMROW_TEST_SCALE  "full" for the long tests at full strength, else empty
#                  (Documentation/testing.rst, "Test scale"); see full_scale
#   DM_DISABLE_UDEV=1 (there is no udev: libdevmapper creates the nodes)

set -eEuo pipefail
shopt -s inherit_errexit

_ON_EXIT=()

log_note() {
	echo "NOTE: $*"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# full_scale: whether the run asks for the long tests at full strength
# (DMROW_TEST_SCALE=full).  A test that scales its workload down by default
# says in its header what the smaller run still covers.
full_scale() {
	[[ ${DMROW_TEST_SCALE:-} == full ]]
}

# log_must CMD [ARGS...]: run CMD, fail the test if it exits nonzero.
log_must() {
	local rc=0
	echo "+ $*"
	"$@" || rc=$?
	[[ $rc -eq 0 ]] || fail "'$*' exited $rc"
}

# log_mustnot CMD [ARGS...]: run CMD, fail the test if it succeeds.
log_mustnot() {
	local rc=0
	echo "+ ! $*"
	"$@" || rc=$?
	[[ $rc -ne 0 ]] || fail "'$*' succeeded but should have failed"
	[[ $rc -lt 124 ]] || fail "'$*' died (exit $rc) instead of failing"
}

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
	[[ "$1" == "$2" ]] || fail "${3:-assert_eq}: expected '$2', got '$1'"
}

# on_exit CMD [ARGS...]: register a cleanup.  One argument is run as a shell
# string; several are run as a command with those exact arguments.
on_exit() {
	if [[ $# -eq 1 ]]; then
		_ON_EXIT+=("$1")
	else
		_ON_EXIT+=("${*@Q}")
	fi
}

_run_on_exit() {
	local rc=$? i c
	set +eE
	trap - ERR
	for ((i = ${#_ON_EXIT[@]} - 1; i >= 0; i--)); do
		c=${_ON_EXIT[i]}
		echo "cleanup: $c"
		if ! eval "$c"; then
			echo "FAIL: cleanup '$c' failed" >&2
			[[ $rc -eq 0 ]] && rc=1
		fi
	done
	exit "$rc"
}

_on_error() {
	local rc=$?
	echo "FAIL: ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}: '$BASH_COMMAND' exited $rc" >&2
}

trap _run_on_exit EXIT
trap _on_error ERR
trap 'exit 143' TERM
trap 'exit 130' INT

# ---------------------------------------------------------------------------
# Requirements

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || skip "$c not installed"
	done
}

# require_disks N: skip unless at least N virtio disks are attached.
require_disks() {
	local -a d
	read -r -a d <<<"${DMROW_DISKS:-}"
	[[ ${#d[@]} -ge $1 ]] || skip "needs $1 disk(s), have ${#d[@]} (scripts/vm --disks)"
}

# disk N: print the N-th (from 0) virtio disk.
disk() {
	local -a d
	read -r -a d <<<"${DMROW_DISKS:-}"
	[[ $1 -lt ${#d[@]} ]] || fail "no disk $1 (have: ${DMROW_DISKS:-none})"
	echo "${d[$1]}"
}

# require_module NAME [PARAMS...]: modprobe a kernel module or skip.
require_module() {
	modprobe "$@" || skip "kernel module $1 not available"
}

# ---------------------------------------------------------------------------
# dm-row module

_dmrow_modname() {
	local n
	n=$(modinfo -F name "$DMROW_KO" 2>/dev/null || true)
	[[ -n $n ]] || n=$(basename "$DMROW_KO" .ko)
	echo "${n//-/_}"
}

# load_module [PARAMS...]: load dm-row.ko and what it depends on, unless it
# is loaded already.  Skips the test when no module was built for this kernel.
load_module() {
	local d deps
	[[ -n ${DMROW_KO:-} && -f ${DMROW_KO:-} ]] ||
		skip "no dm-row.ko built for $(uname -r)"
	[[ -d /sys/module/$(_dmrow_modname) ]] && return 0
	log_must modprobe -a dm-mod dm-bufio
	modprobe libcrc32c 2>/dev/null || true
	deps=$(modinfo -F depends "$DMROW_KO")
	for d in ${deps//,/ }; do
		log_must modprobe "$d"
	done
	log_must insmod "$DMROW_KO" "$@"
}

unload_module() {
	local m
	[[ -n ${DMROW_KO:-} ]] || return 0
	m=$(_dmrow_modname)
	[[ -d /sys/module/$m ]] || return 0
	log_must rmmod "$m"
}

# ---------------------------------------------------------------------------
# Device mapper

# dmsetup_create NAME TABLE [DMSETUP-ARGS...]: create a device, make sure its
# node exists and register its removal.
dmsetup_create() {
	local name=$1 table=$2
	shift 2
	log_must dmsetup create --noudevsync "$@" "$name" --table "$table"
	on_exit dmsetup_remove "$name"
	[[ -b /dev/mapper/$name ]] || dmsetup mknodes "$name"
	[[ -b /dev/mapper/$name ]] || fail "no /dev/mapper/$name after create"
}

# dmsetup_remove NAME: remove a device if it exists; retry while it is busy.
dmsetup_remove() {
	local name=$1 i
	for ((i = 0; i < 50; i++)); do
		dmsetup info "$name" >/dev/null 2>&1 || return 0
		dmsetup remove --noudevsync "$name" 2>/dev/null && return 0
		sleep 0.2
	done
	dmsetup remove --noudevsync "$name"
}

# dev_sectors DEV: size of a block device in 512-byte sectors.
dev_sectors() {
	blockdev --getsz "$1"
}

# ---------------------------------------------------------------------------
# Data

# sha256_of DEV|FILE [OFFSET_BYTES LEN_BYTES]: checksum of a range (default:
# all of it).  A block device's page cache is dropped first so the data is
# read from the device, not from a stale cache of an earlier read.
sha256_of() {
	local dev=$1 off=${2:-0} len=${3:-}
	[[ -b $dev ]] && blockdev --flushbufs "$dev"
	if [[ -n $len ]]; then
		dd if="$dev" bs=1M iflag=skip_bytes,count_bytes skip="$off" \
			count="$len" status=none | sha256sum | cut -d' ' -f1
	else
		dd if="$dev" bs=1M iflag=skip_bytes skip="$off" status=none |
			sha256sum | cut -d' ' -f1
	fi
}

# write_random DEV OFFSET_BYTES LEN_BYTES [SEED]: write reproducible
# pseudo-random data (same SEED, same bytes) with O_DIRECT, then print its
# sha256.
write_random() {
	local dev=$1 off=$2 len=$3 seed=${4:-$RANDOM}
	command -v openssl >/dev/null || fail "write_random needs openssl"
	head -c "$len" /dev/zero |
		openssl enc -aes-128-ctr -nosalt -pass "pass:$seed" -pbkdf2 |
		dd of="$dev" bs=1M iflag=fullblock oflag=direct,seek_bytes seek="$off" \
			conv=notrunc status=none
	sha256_of "$dev" "$off" "$len"
}

# zero_dev DEV [MIB]: zero the first MIB MiB (default all) of a device.
zero_dev() {
	if [[ -n ${2:-} ]]; then
		dd if=/dev/zero of="$1" bs=1M count="$2" oflag=direct conv=notrunc status=none
	else
		blkdiscard -z "$1" 2>/dev/null ||
			dd if=/dev/zero of="$1" bs=1M oflag=direct conv=notrunc status=none
	fi
}

# ---------------------------------------------------------------------------
# dm-row pools and disks

# pool_create NAME METADEV DATADEV [BLOCK_SECTORS [LOW_WATER [FEATURES...]]]:
# create a row-pool device over the two devices and register its removal.
pool_create() {
	local name=$1 meta=$2 data=$3 bs=${4:-8} lw=${5:-0}
	shift $(($# < 5 ? $# : 5))
	local features=""
	[[ $# -gt 0 ]] && features=" $# $*"
	dmsetup_create "$name" "0 $(dev_sectors "$data") row-pool $meta $data $bs $lw$features"
}

# pool_msg POOL WORDS...: send a message to a pool, print its answer.
pool_msg() {
	local pool=$1
	shift
	dmsetup message "$pool" 0 "$@"
}

# pool_field POOL FIELD: one key=value field of 'info pool'.
pool_field() {
	pool_msg "$1" info pool | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# disk_create POOL ID SIZE_SECTORS [NAME]: a disk in the pool and its device
# POOL-dID.
disk_create() {
	local pool=$1 id=$2 size=$3 name=${4:-}
	log_must pool_msg "$pool" create_disk "$id" "$size" $name
	dmsetup_create "$pool-d$id" "0 $size row /dev/mapper/$pool $id"
}

# snap_view POOL DISK SNAP SIZE_SECTORS: the read-only device POOL-dDISK-sSNAP.
snap_view() {
	dmsetup_create "$1-d$2-s$3" "0 $4 row /dev/mapper/$1 $2 $3" --readonly
}

# snapshot POOL DISK[,DISK...] [ATTRS...]: take a snapshot, print its id(s).
snapshot() {
	local pool=$1
	shift
	pool_msg "$pool" snapshot "$@"
}

# kernel_log_has REGEX: the guest kernel log contains a matching line.
# (grep reads it all: with -q it would stop at the first match, and under
# pipefail a long log would then fail through dmesg's SIGPIPE.)
kernel_log_has() {
	dmesg | grep -E "$1" >/dev/null
}

# pool_status_field POOL N [OPTION...]: the N-th word (from 1) of the pool's
# status after the target name: 1 transaction id, 2 metadata used/total,
# 3 data used/total, 4 mode, 5 needs_check, 6 no-space policy,
# 7 metadata_low.  OPTIONs go to dmsetup status (--noflush).
pool_status_field() {
	local -a w
	read -r -a w <<<"$(dmsetup status "${@:3}" "$1")"
	echo "${w[$(($2 + 2))]}"
}

# pool_data_used POOL [OPTION...]: data blocks in use, from the pool's status.
pool_data_used() {
	local f
	f=$(pool_status_field "$1" 3 "${@:2}")
	echo "${f%/*}"
}

# pool_space POOL snapshot|disk ID FIELD: one key=value field of 'space'.
pool_space() {
	local out re=" $4=([^[:space:]]*)"
	out=$(pool_msg "$1" space "$2" "$3")
	[[ " $out" =~ $re ]] || fail "no $4 in: $out"
	echo "${BASH_REMATCH[1]}"
}

# dmrow_io ARGS...: tests/vm/dmrow-io.py, for many small writes and messages
# from one process, and the ring writer and checker of snapshots under load.
dmrow_io() {
	python3 "$DMROW_SRC/tests/vm/dmrow-io.py" "$@"
}

# io_start: start one 'dmrow_io batch' for the test; io CMD...: send it a
# command and print its answer unless that is "ok" (see dmrow-io.py),
# failing on an error; io_get VAR CMD... puts the answer in VAR.  Writes
# and checksums then cost no process start.
io_start() {
	mkfifo "$TEST_TMP/io.in" "$TEST_TMP/io.out"
	dmrow_io batch <"$TEST_TMP/io.in" >"$TEST_TMP/io.out" &
	_IO_PID=$!
	exec {_IO_W}>"$TEST_TMP/io.in" {_IO_R}<"$TEST_TMP/io.out"
	on_exit io_stop
}

io() {
	local line
	io_get line "$@"
	[[ $line == ok ]] || echo "$line"
}

# io_get VAR CMD...: as io, but the answer goes into VAR, without the
# subshell of $(io ...): for loops that send many commands.
io_get() {
	local -n _io_var=$1
	shift
	kill -0 "$_IO_PID" 2>/dev/null || fail "dmrow_io is gone, before: $*"
	echo "$*" >&"$_IO_W"
	read -r _io_var <&"$_IO_R" || fail "dmrow_io died on: $*"
	[[ $_io_var != error:* ]] || fail "dmrow_io: $_io_var"
}

io_stop() {
	exec {_IO_W}>&- {_IO_R}<&-
	wait "$_IO_PID"
}

# random_stream LEN SEED: print the LEN bytes that write_random writes for
# SEED, e.g. to build the expected image of a device in a file.
random_stream() {
	head -c "$1" /dev/zero |
		openssl enc -aes-128-ctr -nosalt -pass "pass:$2" -pbkdf2
}

# ---------------------------------------------------------------------------
# snapctl

# Output of the last expect_exit: standard output and standard error, as
# files and as arrays of lines (CMD_OUT_LINES, CMD_ERR_LINES).
CMD_OUT=${TEST_TMP:-/tmp}/cmd.out
CMD_ERR=${TEST_TMP:-/tmp}/cmd.err
CMD_OUT_LINES=()
CMD_ERR_LINES=()

# expect_exit CODE CMD [ARGS...]: run CMD, fail unless it exits CODE.  Its
# output is echoed and kept for out_has and err_has.  (Builtins only: under
# emulation every process start costs.)
expect_exit() {
	local want=$1 rc=0 start=${EPOCHREALTIME/[.,]/} ms
	shift
	"$@" >"$CMD_OUT" 2>"$CMD_ERR" || rc=$?
	ms=$(((${EPOCHREALTIME/[.,]/} - start) / 1000))
	printf '+ %s [exit %d, expected %d; %d.%03ds]\n' "$*" $rc "$want" $((ms / 1000)) $((ms % 1000))
	mapfile -t CMD_OUT_LINES <"$CMD_OUT"
	mapfile -t CMD_ERR_LINES <"$CMD_ERR"
	[[ ${#CMD_OUT_LINES[@]} -eq 0 ]] || printf '  1| %s\n' "${CMD_OUT_LINES[@]:0:40}"
	[[ ${#CMD_ERR_LINES[@]} -eq 0 ]] || printf '  2| %s\n' "${CMD_ERR_LINES[@]:0:40}"
	[[ $rc -eq $want ]] || fail "'$*' exited $rc, expected $want"
}

# _lines_match REGEX LINE...: one of the lines matches the extended regex.
_lines_match() {
	local re=$1 line
	shift
	for line in "$@"; do
		[[ $line =~ $re ]] && return 0
	done
	return 1
}

# out_has REGEX, err_has REGEX: the last expect_exit printed a matching line.
out_has() {
	_lines_match "$1" "${CMD_OUT_LINES[@]}" || fail "no line matching '$1' on standard output"
}

err_has() {
	_lines_match "$1" "${CMD_ERR_LINES[@]}" || fail "no line matching '$1' on standard error"
}

# snapctl_contract "NOUN VERB" [ARGS...]: what every snapctl command keeps.
# '--help' prints its usage on standard output and exits 0; an unknown option
# (given after ARGS, so after valid arguments) exits 2 before doing anything,
# with one error line naming the option, then at most a hint to --help.
snapctl_contract() {
	local cmd=$1
	local -a words
	read -r -a words <<<"$cmd"
	shift
	expect_exit 0 snapctl "${words[@]}" "$@" --help
	out_has "^Usage:"
	out_has "^  snapctl $cmd "
	expect_exit 2 snapctl "${words[@]}" "$@" --no-such-option
	[[ ${#CMD_OUT_LINES[@]} -eq 0 ]] || fail "a usage error printed on standard output"
	[[ ${CMD_ERR_LINES[0]} == "snapctl: "*"'--no-such-option'"* ]] ||
		fail "the error does not name the option: '${CMD_ERR_LINES[0]}'"
	[[ ${#CMD_ERR_LINES[@]} -eq 1 ||
		(${#CMD_ERR_LINES[@]} -eq 2 && ${CMD_ERR_LINES[1]} == "Try 'snapctl $cmd --help'.") ]] ||
		fail "more than one line of error and a hint to --help"
}

# snapctl_pool NAME [METADEV DATADEV]: create a pool with snapctl (--force,
# whatever the devices held; default: the first two disks) and register its
# removal.  Pool definitions go to $TEST_TMP/pools (/etc is read-only), the
# policy store to $TEST_TMP/state and snapshot locks to $TEST_TMP/run.
snapctl_pool() {
	local name=$1 meta=${2:-$(disk 0)} data=${3:-$(disk 1)}
	export SNAPCTL_CONFIG_DIR=${SNAPCTL_CONFIG_DIR:-$TEST_TMP/pools}
	export SNAPCTL_STATE_DIR=${SNAPCTL_STATE_DIR:-$TEST_TMP/state}
	export SNAPCTL_RUN_DIR=${SNAPCTL_RUN_DIR:-$TEST_TMP/run}
	log_must snapctl pool create "$name" --metadata "$meta" --data "$data" --force
	on_exit snapctl_pool_remove "$name"
}

# snapctl_pool_remove NAME: deactivate and destroy a pool if it is defined.
snapctl_pool_remove() {
	[[ -f ${SNAPCTL_CONFIG_DIR:-/etc/dm-row/pools}/$1.conf ]] || return 0
	snapctl pool remove "$1" --yes
}

# mount_fs DEV DIR [MKFS-ARGS...]: make an ext4 filesystem on DEV, mount it
# on DIR and register the unmount.
mount_fs() {
	local dev=$1 dir=$2
	shift 2
	log_must mkfs.ext4 -q -F -E nodiscard "$@" "$dev"
	mkdir -p "$dir"
	log_must mount "$dev" "$dir"
	on_exit "! mountpoint -q '$dir' || umount '$dir'"
}

# ---------------------------------------------------------------------------
# snapctl daemon and its fake clock

# clock_at TIME: set the fake clock (SNAPCTL_FAKE_TIME_FILE, made on first
# use) to TIME (seconds since the epoch or YYYY-MM-DDTHH:MM[:SS], UTC).  The
# file is replaced, never rewritten in place, so a reader never sees it empty.
clock_at() {
	export SNAPCTL_FAKE_TIME_FILE=${SNAPCTL_FAKE_TIME_FILE:-$TEST_TMP/clock}
	echo "$1" >"$SNAPCTL_FAKE_TIME_FILE.new"
	mv "$SNAPCTL_FAKE_TIME_FILE.new" "$SNAPCTL_FAKE_TIME_FILE"
}

# epoch TIME: seconds since the epoch of a UTC time such as 2026-03-02T14:00.
epoch() {
	date -u -d "${1/T/ }" +%s
}

# daemon_start [ARGS...]: run 'snapctl daemon --interval 0.2 ARGS' in the
# background, its log (standard error) in $DAEMON_LOG; stopped at exit.
DAEMON_LOG=${TEST_TMP:-/tmp}/daemon.log
DAEMON_PID=
daemon_start() {
	echo "+ snapctl daemon --interval 0.2 $* &"
	snapctl daemon --interval 0.2 "$@" 2>>"$DAEMON_LOG" &
	DAEMON_PID=$!
	if [[ -z ${_DAEMON_CLEANUP:-} ]]; then
		on_exit _daemon_cleanup
		_DAEMON_CLEANUP=1
	fi
	wait_log "started \\(pid $DAEMON_PID\\)"
}

# Stop a daemon left running and show what the daemons logged.
_daemon_cleanup() {
	if [[ -n $DAEMON_PID ]]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	[[ ! -s $DAEMON_LOG ]] || sed 's/^/daemon| /' "$DAEMON_LOG"
	true
}

# daemon_stop: SIGTERM; the daemon must exit 0 within 10 s.
daemon_stop() {
	local rc=0 i
	[[ -n $DAEMON_PID ]] || fail "no daemon to stop"
	kill -TERM "$DAEMON_PID"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DAEMON_PID" 2>/dev/null && fail "the daemon did not stop within 10 s of SIGTERM"
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	[[ $rc -eq 0 ]] || fail "the daemon exited $rc after SIGTERM"
}

# wait_log REGEX [SECONDS]: wait (default 30 s) for a daemon log line matching REGEX.
wait_log() {
	local re=$1 limit=$((${2:-30} * 10)) i
	for ((i = 0; i < limit; i++)); do
		grep -Eq -- "$re" "$DAEMON_LOG" 2>/dev/null && return 0
		[[ -z $DAEMON_PID ]] || kill -0 "$DAEMON_PID" 2>/dev/null ||
			fail "the daemon died waiting for '$re'; log: $(tail -5 "$DAEMON_LOG")"
		sleep 0.1
	done
	fail "no daemon log line matching '$re' in ${2:-30} s; log: $(tail -5 "$DAEMON_LOG")"
}

# log_count REGEX: how many daemon log lines match REGEX.
log_count() {
	grep -Ec -- "$1" "$DAEMON_LOG" || true
}
