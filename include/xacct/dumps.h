/* SPDX-License-Identifier: MIT */
/*
 * Keeping secrets out of core files (src/core/dumps.c).
 */
#ifndef XACCT_DUMPS_H
#define XACCT_DUMPS_H

/* Sets the core file size limit to 0 (soft and hard, so no child of ours
 * raises it again) and, outside sanitised builds, makes the process not
 * dumpable. Called first thing by xacctd and xacct. */
void xacct_forbid_core_dumps(void);

#endif
