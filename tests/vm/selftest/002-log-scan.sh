#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: passes, but leaves a WARNING line in the kernel log
#
# The host's log scan must turn the run into a failure.  Debian's kernels
# have no LKDTM, so a real WARN() cannot be provoked safely; the scanner
# only sees the text anyway, so a line written to /dev/kmsg proves it.

. "$DMROW_SRC/tests/vm/common.sh"

echo "WARNING: CPU: 0 PID: $$ at selftest: harness self-test, not a real warning" >/dev/kmsg
log_note "wrote a fake WARNING to the kernel log"
