#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapctl export from a pool named like an export verb: given after '--'
#
# After 'export', the words list, verify, delete and gc are the export
# noun's verbs.  A snapshot of a pool named 'list' is exported with the
# options first and '--' before the pool.  Without the '--' the command is
# 'export list', which refuses the extra argument (exit 2) saying how to
# give such a pool, and nothing is exported.  The export is listed, verified
# and restored into the same pool as any other.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

snapctl_pool list
MiB=$((1 << 20))
log_must snapctl disk create list vm1 --size 8M
sum=$(write_random /dev/mapper/list-vm1 0 $((2 * MiB)) 1)
log_must snapctl snapshot create list vm1 --name s1
repo=$TEST_TMP/repo

expect_exit 2 snapctl export list vm1/s1 "$repo"
err_has "'snapctl export \[<options>\] -- list vm1/s1 $repo'"
[[ ! -e $repo ]] || fail "'export list' with a snapshot made a repository"

expect_exit 0 snapctl export --name e1 -- list vm1/s1 "$repo"
expect_exit 0 snapctl --json export list "$repo"
jq -e 'length == 1 and .[0].name == "e1" and .[0].pool == "list" and .[0].snapshot == "s1"' \
	"$CMD_OUT" >/dev/null || fail "'export list' does not show the export of list's vm1/s1"
log_must snapctl export verify "$repo" e1
log_must snapctl import "$repo" e1 list restored
assert_eq "$(sha256_of /dev/mapper/list-restored 0 $((2 * MiB)))" "$sum" "the restored disk"
