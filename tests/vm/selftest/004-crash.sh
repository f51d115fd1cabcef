#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crashes the guest kernel (sysrq c)
#
# The host must notice that no summary arrived, count this test as failed,
# report the panic from console.log and show the console's last lines.

. "$DMROW_SRC/tests/vm/common.sh"

sync
echo c >/proc/sysrq-trigger
sleep 30
fail "still running after sysrq c"
