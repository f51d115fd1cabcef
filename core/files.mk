# SPDX-License-Identifier: GPL-2.0
#
# The metadata core: one copy of the on-disk structures (btree, space maps,
# transaction manager, metadata, mapping cache) compiled into dm-row.ko by
# Kbuild and into userspace through the compat shim by
# userspace/Makefile.inc.  Its files include nothing of kernel/ and
# nothing of userspace/: only the kernel's API, which the shim provides.

# Compiled into both.
DMROW_CORE := \
	dm-row-btree \
	dm-row-delta-map \
	dm-row-map-cache \
	dm-row-metadata \
	dm-row-space-map \
	dm-row-transaction

# The offline checker (snapctl check and repair): userspace links it; the
# kernel build compiles it only for lint (make lint), so that sparse and
# -Werror see every core file.
DMROW_CORE_USER_ONLY := \
	dm-row-check
