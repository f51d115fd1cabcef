/* SPDX-License-Identifier: GPL-2.0 */
/* Userspace stand-in for <linux/sort.h>: see userspace/compat/compat.h. */
#include "../../compat.h"
