/* SPDX-License-Identifier: GPL-2.0 */
/* Userspace stand-in for <linux/errno.h>: the system header plus the shim. */
#include_next <linux/errno.h>
#include "../../compat.h"
