# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034
#
# Crash tests with dm-log-writes, sourced after tests/vm/common.sh (not a
# test: no number).  Documentation/testing.rst, "Crash consistency",
# describes the method.
#
#   crash_init DATA_SECTORS [META_SECTORS]
#                               requirements, sizes and the replay ramdisks
#   crash_log_start [SECTORS]   the logged devices lw, lw-meta, lw-data (of
#                               SECTORS, default DATA_SECTORS: grown later
#                               by reloading it, the backing is big enough)
#   crash_log_mark TEXT         a MARK entry in the log
#   crash_log_stop              remove the logged devices
#   crash_read_log              list the log: E_FLAGS[n], E_MARK[n]
#   crash_find_states           the FLUSH/FUA entries and distinct states
#   crash_replay_states CHECK   replay each state, load the pool, call CHECK
#   crash_finish                fail if any state was wrong
#   crash_rowload_check STATE   find, replay and check every state of a
#                               rowload.py workload (instead of the three
#                               above but crash_finish)
#
# A test defines hooks the functions call:
#   crash_on_mark N             (crash_find_states) entry N is a MARK
#   crash_on_flush N            (crash_find_states) entry N is a FLUSH/FUA
#                               entry, GROUP[N] set (final only once
#                               crash_find_states returns: a state may be
#                               checked with the next one)
#   crash_md_checkable G        (crash_replay_states) whether the metadata
#                               of state G must be formatted (default yes)
#   crash_describe G            (crash_replay_states) what state G may hold,
#                               after a failure (default nothing)
#   CHECK G                     the devices of state G are up: CR_NAMES
#                               (d<disk id>, s<snapshot id>) and CR_PATHS;
#                               print what was found, return 1 when wrong
#
# CRASH_METADATA_LOW_OK=1 lets a replayed pool load read-only with
# metadata_low, for a test that runs the metadata down to its reserve.
# CRASH_ORIGIN=<dev> is the external origin the devices of a disk that
# has one are made with.

REPLAY=$DMROW_SRC/build/replay-log
BLOCKSUM=$DMROW_SRC/build/blocksum

# crash_init DATA_SECTORS [META_SECTORS]: skip unless everything is there;
# set the sizes (16 MiB of metadata by default), load brd for the replay
# and the overlay's changes.
crash_init() {
	[[ -x $REPLAY && -x $BLOCKSUM ]] || skip "build/replay-log or build/blocksum not built (make userspace)"
	require_cmd python3
	require_disks 2
	load_module
	require_module dm-log-writes
	require_module dm-snapshot
	[[ -d /sys/module/brd ]] && skip "brd is loaded already; its size cannot be set"

	logdev=$(disk 0)
	backing=$(disk 1)

	META_SECTORS=${2:-$((16 * 2048))}	# 16 MiB of metadata by default
	DATA_SECTORS=$1
	TOTAL_SECTORS=$((META_SECTORS + DATA_SECTORS))

	require_module brd rd_nr=2 rd_size=$((TOTAL_SECTORS / 2))
	on_exit 'rmmod brd'
	replay=/dev/ram0
	cow=/dev/ram1
}

crash_log_start() {
	local lw_data=${1:-$DATA_SECTORS}

	zero_dev "$logdev" 1
	blkdiscard -z -l $((TOTAL_SECTORS * 512)) "$backing" 2>/dev/null ||
		dd if=/dev/zero of="$backing" bs=1M count=$((TOTAL_SECTORS / 2048)) oflag=direct status=none
	dmsetup_create lw "0 $TOTAL_SECTORS log-writes $backing $logdev"
	dmsetup_create lw-meta "0 $META_SECTORS linear /dev/mapper/lw 0"
	dmsetup_create lw-data "0 $lw_data linear /dev/mapper/lw $META_SECTORS"
}

crash_log_mark() {
	dmsetup message lw 0 mark "$1"
}

crash_log_stop() {
	dmsetup_remove lw-data
	dmsetup_remove lw-meta
	log_must dmsetup_remove lw
}

# ---------------------------------------------------------------------------
# Which states to check

crash_read_log() {
	local n flags sector nr mark

	E_FLAGS=() E_MARK=()
	"$REPLAY" --log "$logdev" --list >"$TEST_TMP/list" 2>"$TEST_TMP/list.err"
	cat "$TEST_TMP/list.err"
	# A FUA write is logged at once, a plain write that completed before it
	# only at the next flush: when they overlap, a replay puts the older data
	# over the FUA data, which no device does.  dm-row does that pattern on
	# purpose (a partial FUA write into a block kcopyd has just filled), so
	# the workload avoids it and the log must not show it.
	if grep -q "ambiguous order" "$TEST_TMP/list.err"; then
		fail "the workload made overlapping FUA and plain writes, which the log cannot order"
	fi
	while read -r n flags sector nr mark; do
		[[ $n == "#" ]] && continue
		E_FLAGS[n]=$flags
		E_MARK[n]=${mark:-}
		[[ $flags == *FUA* || $flags == *FLUSH* ]] && ((nr > 0)) && E_FLAGS[n]+=",DATA"
		[[ $flags != MARK ]] && ((nr > 0 && sector < META_SECTORS)) && E_FLAGS[n]+=",META"
		[[ $flags != MARK ]] && ((nr > 0 && sector < 16)) && E_FLAGS[n]+=",SB"
	done <"$TEST_TMP/list"
	nr_entries=${#E_FLAGS[@]}
}

# Entries with no write between them share a state: GROUP[entry] is the
# first entry of its group, STATES lists the groups, FLUSHES every
# FLUSH/FUA entry.  META_CHANGED[group] is set when the metadata device was
# written since the previous state.
#
# Unless DMROW_TEST_SCALE=full, a state is also checked together with the
# next one when all that was written between them is metadata blocks
# outside the two superblock slots (sectors 0-15): the first flush of a
# commit (its data) followed by the one that makes its new metadata blocks
# durable.  Both states load the same superblock, so the same tree, and
# have the same data device; the new blocks were free in that tree, or
# writing them was the bug, which the later state shows.  The earlier
# state's entries are checked, each with its own window, on the later
# state's replay.  Every FLUSH/FUA entry is still checked, on one state
# fewer per commit.
crash_find_states() {
	local n f dirty=1 meta_dirty=1 group=-1 other=1 prev merge=1 merged=0
	local -a flushes_of_group=()

	full_scale && merge=0
	FLUSHES=() GROUP=() STATES=() META_CHANGED=()
	for ((n = 0; n < nr_entries; n++)); do
		f=${E_FLAGS[n]}
		case $f in
		MARK)
			crash_on_mark "$n"
			continue ;;
		*FLUSH* | *FUA*)
			;;
		*)
			dirty=1
			[[ $f == *META* ]] && meta_dirty=1
			[[ $f == *META* && $f != *SB* ]] || other=1
			continue ;;
		esac
		if [[ $f == *DATA* ]]; then
			dirty=1
			[[ $f == *META* && $f != *SB* ]] || other=1
		fi
		[[ $f == *META* ]] && meta_dirty=1
		if ((dirty)); then
			if ((merge && !other && ${#STATES[@]} > 0)); then
				# Only metadata blocks since the previous state: check it here.
				prev=${STATES[-1]}
				unset 'STATES[-1]'
				for f in "${flushes_of_group[@]}"; do
					GROUP[f]=$n
				done
				((META_CHANGED[prev])) && meta_dirty=1
				unset 'META_CHANGED[prev]'
				merged=$((merged + 1))
			else
				flushes_of_group=()
			fi
			group=$n
			dirty=0
			other=0
			STATES+=("$n")
			META_CHANGED[n]=$meta_dirty
			meta_dirty=0
		fi
		FLUSHES+=("$n")
		flushes_of_group+=("$n")
		GROUP[n]=$group
		crash_on_flush "$n"
	done
	((${#STATES[@]} > 0)) || fail "no flush in the log"
	log_note "log: $nr_entries entries, ${#FLUSHES[@]} FLUSH/FUA, $((${#STATES[@]} + merged)) distinct states (workload took ${SECONDS}s)"
	((merged == 0)) ||
		log_note "$merged states checked on the next one, only metadata blocks written in between: ${#STATES[@]} replays"
}

# ---------------------------------------------------------------------------
# Replay and check

# Defaults of the hooks (a test's own definitions, made after sourcing this
# file, replace them).
crash_on_mark() { return 0; }
crash_on_flush() { return 0; }
crash_md_checkable() { return 0; }
crash_describe() { return 0; }

CR_DEVS=()
# cr_remove_all: remove the devices of a check, the last made first
# (through the dmrow_io process while there is one, else with dmsetup).
cr_remove_all() {
	local i reply
	local -a rev=()
	for ((i = ${#CR_DEVS[@]} - 1; i >= 0; i--)); do
		rev+=("${CR_DEVS[i]}")
	done
	CR_DEVS=()
	((${#rev[@]})) || return 0
	if [[ -n ${_IO_PID:-} ]] && kill -0 "$_IO_PID" 2>/dev/null; then
		io_get reply remove "${rev[@]}"
		[[ $reply == ok ]] && return 0
		echo "removing ${rev[*]}: $reply"
	fi
	for i in "${rev[@]}"; do
		dmsetup_remove "$i"
	done
}

# cr_create NAME MINOR|- rw|ro TABLE...: create a device with a one-target
# table through the dmrow_io process (a dmsetup per device would cost a
# process start each, several per state); its node is /dev/dm-$CR_MINOR.
# Returns 1, saying why, when the kernel refuses it.
cr_create() {
	local reply
	io_get reply create "$@"
	if [[ $reply != "ok "* ]]; then
		echo "creating $1 (${*:4}): $reply"
		return 1
	fi
	CR_DEVS+=("$1")
	CR_MINOR=${reply#ok }
}

# crash_replay_states CHECK: for each state, replay the log up to it onto
# the ramdisk, seen through a throw-away snapshot (so the check may write
# and the replay go on incrementally), split like the logged device; check
# the metadata offline (when snapctl has the verb), load the pool
# read-write on DATA_SECTORS of data, which must work and leave it in
# write mode without needs_check, make a row device of every disk
# (DISK_SECTORS long) and snapshot, and call CHECK.  With
# CRASH_METADATA_LOW_OK=1 it may also load read-only with metadata_low.
# Devices and messages go through one dmrow_io process.
crash_replay_states() {
	local check=$1 g i d s line rec reply replayed=-1 have_check=0 info mode_ok
	local dm_major MINOR OVL META DATA POOL
	local -a names paths disks snaps origin

	if command -v snapctl >/dev/null && snapctl check --help >/dev/null 2>&1; then
		have_check=1
	fi

	# The overlay, the split and the pool get fixed minors, so that the
	# tables above them can name them by major:minor.
	dm_major=$(sed -n 's/^ *\([0-9]*\) device-mapper$/\1/p' /proc/devices)
	MINOR=240
	for ((i = MINOR; i < MINOR + 4; i++)); do
		[[ -e /sys/dev/block/$dm_major:$i ]] && skip "device-mapper minor $i is taken"
	done
	OVL=$dm_major:$MINOR META=$dm_major:$((MINOR + 1)) DATA=$dm_major:$((MINOR + 2))
	POOL=$dm_major:$((MINOR + 3))
	io_start
	on_exit cr_remove_all

	failures=0
	checked=0
	for g in "${STATES[@]}"; do
		log_must "$REPLAY" --log "$logdev" --replay "$replay" --start $((replayed + 1)) --limit "$g"
		replayed=$g

		if ! cr_create cr-ovl $MINOR rw 0 "$TOTAL_SECTORS" snapshot "$replay" "$cow" N 8 ||
			! cr_create cr-meta $((MINOR + 1)) rw 0 "$META_SECTORS" linear "$OVL" 0 ||
			! cr_create cr-data $((MINOR + 2)) rw 0 "$DATA_SECTORS" linear "$OVL" "$META_SECTORS"; then
			fail "entry $g: cannot make the devices of the replay"
		fi
		# The checker reads the metadata as the crash left it, before the pool.
		if ((have_check && META_CHANGED[g])) && crash_md_checkable "$g"; then
			log_must snapctl check /dev/dm-$((MINOR + 1))
		fi
		if ! cr_create cr-pool $((MINOR + 3)) rw 0 "$DATA_SECTORS" row-pool "$META" "$DATA" 8 0; then
			echo "entry $g: the replayed pool does not load:"
			dmesg | tail -5
			crash_describe "$g"
			failures=$((failures + 1))
			cr_remove_all
			continue
		fi

		# What the pool holds, read through row devices.  Messages answer
		# "ok <records separated by ;>", or "refused <errno>", which no
		# record matches.
		names=()
		paths=()
		io_get reply try cr-pool list_disks
		IFS=';' read -r -a disks <<<"${reply#ok }"
		for line in "${disks[@]}"; do
			[[ $line =~ ^disk\ id=([0-9]+)\  && $line != *" removed=1"* ]] || continue
			d=${BASH_REMATCH[1]}
			origin=()
			[[ $line == *" external_origin=0 "* ]] ||
				origin=("external_origin=${CRASH_ORIGIN:?the disk has an external origin}")
			cr_create "cr-d$d" - rw 0 "$DISK_SECTORS" row "$POOL" "$d" "${origin[@]}" ||
				fail "entry $g: cannot make a device of disk $d"
			names+=("d$d")
			paths+=("/dev/dm-$CR_MINOR")
			io_get reply try cr-pool list_snapshots "$d"
			IFS=';' read -r -a snaps <<<"${reply#ok }"
			for rec in "${snaps[@]}"; do
				[[ $rec =~ ^snapshot\ id=([0-9]+)\  ]] || continue
				s=${BASH_REMATCH[1]}
				cr_create "cr-s$s" - ro 0 "$DISK_SECTORS" row "$POOL" "$d" "$s" "${origin[@]}" ||
					fail "entry $g: cannot make a device of snapshot $s"
				names+=("s$s")
				paths+=("/dev/dm-$CR_MINOR")
			done
		done
		CR_NAMES=("${names[@]}")
		CR_PATHS=("${paths[@]}")
		io_get info try cr-pool info pool
		mode_ok=0
		[[ $info == *" mode=rw "* ]] && mode_ok=1
		if ((${CRASH_METADATA_LOW_OK:-0})) && [[ $info == *" mode=ro "* &&
			$(dmsetup status cr-pool) == *" metadata_low"* ]]; then
			mode_ok=1
			echo "entry $g: the replayed pool loads with metadata_low"
		fi
		if ((!mode_ok)) || [[ $info != *"needs_check=0"* ]]; then
			echo "entry $g: the replayed pool is not healthy: $info"
			failures=$((failures + 1))
		fi
		"$check" "$g" || failures=$((failures + 1))
		checked=$((checked + 1))
		cr_remove_all
	done
}

crash_finish() {
	log_note "checked $checked states in ${SECONDS}s"
	((failures == 0)) || fail "$failures replayed state(s) wrong (the log is on $logdev: disk0.img)"
}

# ---------------------------------------------------------------------------
# Workloads of rowload.py (crash/003, crash/004)

# crash_rowload_check STATE: after crash_read_log, check every flush state
# of the log of a rowload.py workload whose run left STATE.  The metadata
# must be checkable once the "setup" mark is passed; one checker process
# (a process start costs) is given each state in turn, with the devices
# crash_replay_states made for it, and says what it found.
crash_rowload_check() {
	local state=$1

	SETUP_AT=$nr_entries
	declare -gA ENTRIES=()
	crash_on_mark() {
		[[ ${E_MARK[$1]} == setup ]] && ((SETUP_AT > $1)) && SETUP_AT=$1
		return 0
	}
	crash_find_states
	local n
	for n in "${FLUSHES[@]}"; do
		ENTRIES[${GROUP[n]}]+="$n,"
	done

	# Before the disks were made the metadata may not be formatted yet.
	crash_md_checkable() {
		(($1 > SETUP_AT))
	}

	mkfifo "$TEST_TMP/ck.in" "$TEST_TMP/ck.out"
	python3 "$DMROW_SRC/tests/vm/crash/rowload.py" checker "$state" "$TEST_TMP/list" \
		<"$TEST_TMP/ck.in" >"$TEST_TMP/ck.out" &
	CK_PID=$!
	exec {CK_W}>"$TEST_TMP/ck.in" {CK_R}<"$TEST_TMP/ck.out"
	on_exit "exec {CK_W}>&-; wait $CK_PID"
	crash_replay_states _crash_rowload_state
}

_crash_rowload_state() {
	local g=$1 i line
	local -a devs=()

	for ((i = 0; i < ${#CR_NAMES[@]}; i++)); do
		devs+=("${CR_NAMES[i]}=${CR_PATHS[i]}")
	done
	echo "$g ${ENTRIES[$g]%,} ${devs[*]}" >&"$CK_W"
	while read -r line <&"$CK_R"; do
		[[ $line == END* ]] && return "${line#END }"
		echo "$line"
	done
	fail "the checker died"
}
