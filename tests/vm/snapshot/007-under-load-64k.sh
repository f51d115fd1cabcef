#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapshots under write load with 64 KiB pool blocks: every ring write is a sub-block write
#
# 001-under-load with a 64 KiB data block: each 4 KiB ring write and fio
# write covers part of a block, so the first write to a block after each
# snapshot copies the rest of it (kcopyd) while later writes to the block
# wait for that copy; every snapshot must still hold exactly the writes
# acknowledged before it.

UNDER_LOAD_BLOCK_SECTORS=128
. "$DMROW_SRC/tests/vm/snapshot/001-under-load.sh"
