/* SPDX-License-Identifier: GPL-2.0 */
/* Stand-in for <linux/kstrtox.h> in the message fuzzer: see ../shim.h. */
#include "../shim.h"
