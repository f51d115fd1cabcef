#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: dm-row.ko loads, registers row-pool and row, and unloads
#
# The module loads on the running kernel, `dmsetup targets` lists both target
# types with the version of include/uapi/linux/dm-row.h, and the module
# unloads cleanly when no device uses it.

. "$DMROW_SRC/tests/vm/common.sh"

load_module
major=$(sed -n 's/#define DM_ROW_VERSION_MAJOR[[:space:]]*//p' "$DMROW_SRC/include/uapi/linux/dm-row.h")
minor=$(sed -n 's/#define DM_ROW_VERSION_MINOR[[:space:]]*//p' "$DMROW_SRC/include/uapi/linux/dm-row.h")
patch=$(sed -n 's/#define DM_ROW_VERSION_PATCH[[:space:]]*//p' "$DMROW_SRC/include/uapi/linux/dm-row.h")
targets=$(dmsetup targets)
echo "$targets"
grep -Eq "^row-pool +v$major\.$minor\.$patch$" <<<"$targets" || fail "row-pool not registered"
grep -Eq "^row +v$major\.$minor\.$patch$" <<<"$targets" || fail "row not registered"
unload_module
dmsetup targets | grep -q '^row' && fail "targets still registered after unload"
load_module
unload_module
