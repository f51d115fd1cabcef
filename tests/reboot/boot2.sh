#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: second boot of the reboot test: activate, verify everything
. "$DMROW_SRC/tests/vm/common.sh"

export SNAPCTL_CONFIG_DIR=$VM_OUTDIR/pools
sums=$VM_OUTDIR/sums
load_module
log_must snapctl pool activate tank
while read -r what sum; do
	case $what in
	a | b | c)
		dev=/dev/mapper/tank-$what ;;
	*)
		log_must snapctl snapshot view tank "$what"
		dev=$(ls /dev/mapper/tank-*@"$what")
		on_exit "snapctl snapshot unview tank $what"
		;;
	esac
	assert_eq "$(sha256_of "$dev")" "$sum" "$what after reboot"
	echo "verified $what"
done <"$sums"
for what in $(cut -d' ' -f1 "$sums" | grep -v '^[abc]$'); do
	log_must snapctl snapshot unview tank "$what"
done
_ON_EXIT=()
log_must snapctl pool deactivate tank
log_must snapctl check /dev/vda
