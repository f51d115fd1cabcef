#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: fails on purpose; cleanups still run, in reverse order
#
# The runner must report FAIL with the tail of the output.

. "$DMROW_SRC/tests/vm/common.sh"

on_exit log_note "cleanup registered first, runs last"
on_exit log_note "cleanup registered second, runs first"
log_note "about to fail"
log_must false
log_note "not reached"
