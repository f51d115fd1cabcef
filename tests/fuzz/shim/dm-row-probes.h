/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel API probes decide nothing the message code uses: see shim.h. */
