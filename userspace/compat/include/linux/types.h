/* SPDX-License-Identifier: GPL-2.0 */
/* Userspace stand-in for <linux/types.h>: the system header plus the shim. */
#include_next <linux/types.h>
#include "../../compat.h"
