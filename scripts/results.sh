# SPDX-License-Identifier: GPL-2.0
#
# scripts/results.sh - the one output convention of every test runner
# (scripts/vm and its guest runner, scripts/run-unit-tests, tests/s3/run,
# tests/reboot/run), sourced by the bash ones:
#
#   PASS <group>/<test> (<secs>s)
#   FAIL <group>/<test> (<why>)
#   SKIP <group>/<test> (<why>)
#   <N> passed, <N> failed[, <N> skipped]     the last line
#
# .ci/run and make check add up the last lines; scripts/vm durations reads
# the PASS lines' times.  The test binaries written in C (tests/s3/) print
# the same PASS and FAIL lines, without the time where a whole binary is
# timed as one test.

RESULTS_PASSED=0
RESULTS_FAILED=0
RESULTS_SKIPPED=0

# result_pass NAME SECS
result_pass() {
	echo "PASS $1 (${2}s)"
	RESULTS_PASSED=$((RESULTS_PASSED + 1))
}

# result_fail NAME WHY
result_fail() {
	echo "FAIL $1 ($2)"
	RESULTS_FAILED=$((RESULTS_FAILED + 1))
}

# result_skip NAME WHY
result_skip() {
	echo "SKIP $1 ($2)"
	RESULTS_SKIPPED=$((RESULTS_SKIPPED + 1))
}

# result_summary: the last line; false when anything failed.
result_summary() {
	if ((RESULTS_SKIPPED > 0)); then
		echo "$RESULTS_PASSED passed, $RESULTS_FAILED failed, $RESULTS_SKIPPED skipped"
	else
		echo "$RESULTS_PASSED passed, $RESULTS_FAILED failed"
	fi
	((RESULTS_FAILED == 0))
}

# results_add_up [FILE...]: the sum of every last line in FILEs (or standard
# input), as one last line with skips if any; false when anything failed or
# nothing passed.
results_add_up() {
	cat "$@" | awk '/^[0-9]+ passed, [0-9]+ failed/ { p += $1; f += $3; s += $5 }
		END { printf "%d passed, %d failed%s\n", p, f, s ? ", " s " skipped" : ""
		      exit f > 0 || p == 0 }'
}
