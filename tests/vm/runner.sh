#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/vm.  PID 1 of the test VM runs this with stdout on
# the virtio console that the host streams, after mounting the work directory
# at /vm.  /vm/job.env (written by the host) says what to do:
#
#   VM_MODE=tests  run each test of VM_TESTS with a timeout, print
#                  PASS/FAIL/SKIP lines and a final "N passed, N failed"
#   VM_MODE=cmd    run the command in /vm/cmd, exit status to /vm/cmd-status
#   VM_MODE=shell  interactive shell on the console
#
# Results also go to /vm/results and each test's output to
# /vm/logs/<group>/<test>.log, so the host has them even if the guest dies.

set -uo pipefail

. /vm/job.env

VM_OUT=/vm
RESULTS=$VM_OUT/results

# ---------------------------------------------------------------------------
# Environment shared by tests, commands and the shell

kmsg() {
	echo "$*" >/dev/kmsg 2>/dev/null || true
}

# Virtio disks in the order of the serials the host gave them (dmrow0,
# dmrow1...), which is the order of the backing files.  Every process costs
# a noticeable fraction of a second under emulation: builtins only here.
list_disks() {
	local s serial dev
	local -a disks=()
	for s in /sys/block/vd*/serial; do
		[[ -r $s ]] || continue
		serial=$(<"$s")
		dev=${s%/serial}
		dev=/dev/${dev##*/}
		if [[ $serial =~ ^dmrow([0-9]+)$ ]]; then
			disks[BASH_REMATCH[1]]=$dev
		fi
	done
	echo "${disks[*]}"
}

setup_guest() {
	export DM_DISABLE_UDEV=1
	export DMROW_SRC=$VM_SRC
	export DMROW_KO=$VM_DMROW_KO
	export DMROW_DISKS
	DMROW_DISKS=$(list_disks)
	export VM_OUTDIR=$VM_OUT
	export VM_KVER
	export DMROW_TEST_SCALE=${VM_TEST_SCALE:-}

	if [[ -n $VM_SNAPCTL ]]; then
		mkdir -p /run/dm-row/bin
		ln -sf "$VM_SNAPCTL" /run/dm-row/bin/snapctl
		export PATH=/run/dm-row/bin:$PATH
	fi
	echo 1 >/proc/sys/kernel/sysrq
	echo dm-row-vm >/proc/sys/kernel/hostname
}

# ---------------------------------------------------------------------------
# Tests

# Remove what a test left behind and print a description of it.
collect_leftovers() {
	local tmp=$1 left="" m i devs
	local -a mounts=()

	while read -r _ m _; do
		[[ $m == "$tmp" || $m == "$tmp"/* ]] && mounts+=("$m")
	done </proc/mounts
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		left+=" mount:${mounts[i]}"
		umount -l "${mounts[i]}" 2>/dev/null
	done

	if [[ -d /sys/module/dm_mod ]]; then
		devs=$(dmsetup info -c --noheadings -o name 2>/dev/null)
		if [[ -n $devs && $devs != "No devices found" ]]; then
			left+=" dm:${devs//$'\n'/,}"
			dmsetup remove_all --force >/dev/null 2>&1
		fi
	fi
	echo "${left# }"
}

# The "# TIMEOUT: SECS" header line of a test, if any, else the run's
# timeout; times the run's factor (scripts/vm --timeout-factor).
test_timeout() {
	local line secs=$VM_TIMEOUT
	while IFS= read -r line; do
		[[ $line == "#"* || -z $line ]] || break
		if [[ $line =~ ^#\ TIMEOUT:\ *([0-9]+) ]]; then
			secs=${BASH_REMATCH[1]}
			break
		fi
	done <"$1"
	echo $((secs * ${VM_TIMEOUT_FACTOR:-1}))
}

run_one() {
	local t=$1 file="$VM_SRC/tests/vm/$1.sh"
	local log="$VM_OUT/logs/$t.log" tmp="/tmp/vmtest/$t"
	local start rc left secs reason limit

	limit=$(test_timeout "$file")
	mkdir -p "${log%/*}" "$tmp"
	kmsg "dm-row-test: start $t"
	start=$SECONDS
	(
		cd "$tmp" || exit 1
		export TEST_NAME=$t TEST_TMP=$tmp
		if [[ $VM_VERBOSE == 1 ]]; then
			timeout -k 10 "$limit" bash "$file" 2>&1 | tee "$log"
		else
			timeout -k 10 "$limit" bash "$file" >"$log" 2>&1
		fi
	) </dev/null
	rc=$?
	secs=$((SECONDS - start))
	kmsg "dm-row-test: end $t rc=$rc"

	if [[ $rc -eq 124 || $rc -eq 137 ]]; then
		echo "runner: timed out after ${limit}s" >>"$log"
		# Leave the blocked tasks' stacks in the kernel log.
		echo w >/proc/sysrq-trigger
	fi
	left=$(collect_leftovers "$tmp")
	rm -rf --one-file-system "$tmp" &
	if [[ -n $left && $rc -ne 124 && $rc -ne 137 ]]; then
		echo "runner: test left behind: $left" >>"$log"
		[[ $rc -eq 0 || $rc -eq 77 ]] && rc=1
	fi

	case $rc in
	0)
		result "PASS $t (${secs}s)"
		PASSED=$((PASSED + 1))
		;;
	77)
		reason=$(sed -n 's/^SKIP: //p' "$log")
		reason=${reason##*$'\n'}
		result "SKIP $t${reason:+ ($reason)}"
		SKIPPED=$((SKIPPED + 1))
		;;
	*)
		if [[ $rc -eq 124 || $rc -eq 137 ]]; then
			result "FAIL $t (timeout after ${limit}s)"
		else
			result "FAIL $t (exit $rc, ${secs}s)"
		fi
		FAILED=$((FAILED + 1))
		if [[ $VM_VERBOSE != 1 ]]; then
			tail -n 25 "$log" | sed 's/^/    | /'
		fi
		;;
	esac
}

result() {
	echo "$*"
	echo "$*" >>"$RESULTS"
}

# On a kernel with kmemleak (the debug kernel of scripts/debug-kernel), scan
# once every test has run and dm-row is still loaded, so that the backtraces
# of leaked objects name its functions.  The whole report is kept in the run
# directory; a leak allocated by dm-row is a finding in the kernel log.
kmemleak_report() {
	local report=$VM_OUT/kmemleak.log leaks
	[[ -e /sys/kernel/debug/kmemleak ]] ||
		mount -t debugfs none /sys/kernel/debug 2>/dev/null
	[[ -w /sys/kernel/debug/kmemleak ]] || return 0
	# Debian's kernels have kmemleak built in but switched off: writes fail.
	echo scan 2>/dev/null >/sys/kernel/debug/kmemleak || return 0
	kmsg "dm-row-test: start (kmemleak scan)"
	sleep 5
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >"$report"
	leaks=$(awk '/^unreferenced object/ { n++ } /dm_row|dmrow/ { if (n != last) { d++; last = n } }
		     END { print d + 0 }' "$report")
	echo "runner: kmemleak: $(grep -c '^unreferenced object' "$report") suspected leaks, $leaks from dm-row (kmemleak.log)"
	[[ $leaks -eq 0 ]] || kmsg "BUG: kmemleak: $leaks unreferenced objects allocated by dm-row"
}

run_tests() {
	local t
	PASSED=0 FAILED=0 SKIPPED=0
	: >"$RESULTS"
	for t in $VM_TESTS; do
		run_one "$t"
	done

	kmemleak_report

	# Unloading catches leaked objects (kmem_cache_destroy warns) and
	# teardown bugs that only show on rmmod.
	if [[ -d /sys/module/dm_row ]]; then
		kmsg "dm-row-test: start (rmmod dm_row)"
		rmmod dm_row || echo "runner: rmmod dm_row failed"
	fi

	# The host prints the verdict line (with the kernel log's findings);
	# the guest's count goes to the results file only.
	if [[ $SKIPPED -gt 0 ]]; then
		echo "$PASSED passed, $FAILED failed, $SKIPPED skipped" >>"$RESULTS"
	else
		echo "$PASSED passed, $FAILED failed" >>"$RESULTS"
	fi
}

# ---------------------------------------------------------------------------
# Command and shell

run_cmd() {
	local rc
	export TEST_TMP=/tmp/vmcmd
	mkdir -p "$TEST_TMP"
	kmsg "dm-row-test: start (command)"
	cd "$VM_SRC" || exit 1
	timeout -k 10 "$VM_TIMEOUT" bash -c "$(<"$VM_OUT/cmd")"
	rc=$?
	[[ $rc -eq 124 ]] && echo "vm: command timed out after ${VM_TIMEOUT}s" >&2
	echo "$rc" >"$VM_OUT/cmd-status"
}

run_shell() {
	export TEST_TMP=/tmp/vmshell
	mkdir -p "$TEST_TMP"
	if [[ -n $VM_TTY_SIZE ]]; then
		# shellcheck disable=SC2086
		set -- $VM_TTY_SIZE
		stty rows "$1" cols "$2" 2>/dev/null
	fi
	kmsg "dm-row-test: start (shell)"
	cd "$VM_SRC" || exit 1
	echo "dm-row test VM ($VM_KVER): disks $DMROW_DISKS; exit or Ctrl-D powers off"
	setsid -c -w bash -i
}

# The virtio consoles are ttys: make them transparent for tests and commands.
if [[ $VM_MODE != shell ]]; then
	[[ -t 1 ]] && stty raw -echo <&1
	[[ $VM_STDERR_CONSOLE == 1 && -t 2 ]] && stty raw -echo <&2
fi

setup_guest
case $VM_MODE in
tests) run_tests ;;
cmd) run_cmd ;;
shell) run_shell ;;
*) echo "runner: unknown mode $VM_MODE" >&2; exit 2 ;;
esac
