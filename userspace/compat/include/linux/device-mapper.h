/* SPDX-License-Identifier: GPL-2.0 */
/* Userspace stand-in for <linux/device-mapper.h>: the DMERR family, see userspace/compat/compat.h. */
#include "../../compat.h"
