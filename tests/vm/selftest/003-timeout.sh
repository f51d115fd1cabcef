#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: hangs past its own 5 s timeout; cleanup runs after the kill
# TIMEOUT: 5
#
# The runner must kill it, report FAIL (timeout) and the test's on_exit
# cleanups must still run.

. "$DMROW_SRC/tests/vm/common.sh"

on_exit log_note "cleanup ran after the timeout"
log_note "sleeping past the timeout"
sleep 60
fail "not killed by the runner"
