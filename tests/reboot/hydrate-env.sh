# SPDX-License-Identifier: GPL-2.0
#
# What both boots of the hydration test share, sourced after common.sh:
# snapctl's definitions and stores and the repository in the host's work
# directory, which outlives the guest; its runtime directory in the guest,
# as /run is.
. "$DMROW_SRC/tests/vm/origin/lib.sh"

export SNAPCTL_CONFIG_DIR=$VM_OUTDIR/hydrate-pools
export SNAPCTL_STATE_DIR=$VM_OUTDIR/hydrate-state
export SNAPCTL_RUN_DIR=$TEST_TMP/run
state=$VM_OUTDIR/hydrate
URL=file://$VM_OUTDIR/hydrate-repo
dev=/dev/mapper/tank-vm
