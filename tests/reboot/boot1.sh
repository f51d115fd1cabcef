#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: first boot of the reboot test: build state, record checksums
. "$DMROW_SRC/tests/vm/common.sh"

# The pool definition lives on the work directory, like /etc on a host.
export SNAPCTL_CONFIG_DIR=$VM_OUTDIR/pools
sums=$VM_OUTDIR/sums
load_module
zero_dev /dev/vda 16
log_must snapctl pool create tank --metadata /dev/vda --data /dev/vdb --force
log_must snapctl disk create tank a --size 64M
log_must snapctl disk create tank b --size 32M
: >"$sums"
for gen in 1 2 3; do
	write_random /dev/mapper/tank-a $(((gen - 1) * 4 << 20)) $((4 << 20)) "a$gen" >/dev/null
	write_random /dev/mapper/tank-b 0 $((1 << 20)) "b$gen" >/dev/null
	log_must snapctl snapshot create tank a b --name "a$gen,b$gen"
	echo "a$gen $(sha256_of /dev/mapper/tank-a)" >>"$sums"
	echo "b$gen $(sha256_of /dev/mapper/tank-b)" >>"$sums"
done
write_random /dev/mapper/tank-a $((40 << 20)) $((2 << 20)) live >/dev/null
echo "a $(sha256_of /dev/mapper/tank-a)" >>"$sums"
echo "b $(sha256_of /dev/mapper/tank-b)" >>"$sums"
log_must snapctl snapshot delete tank a2 --yes
sed -i '/^a2 /d' "$sums"
log_must snapctl clone tank b1 c
echo "c $(sha256_of /dev/mapper/tank-c)" >>"$sums"
cat "$sums"
# No deactivation: the machine just goes down (the guest powers off).
sync
