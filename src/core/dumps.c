/* SPDX-License-Identifier: MIT */
/*
 * No core dumps: a process holding AWS keys, session tokens, external IDs,
 * the webhook secret or a presigned ResponseURL must not write them to disk
 * when it crashes (the buffers it wipes on free are still live then).
 */
#include "xacct/dumps.h"

#include <sys/prctl.h>
#include <sys/resource.h>

/* LeakSanitizer stops the world by ptrace-attaching a helper to the
 * process's threads, which a process that is not dumpable refuses to a
 * caller without CAP_SYS_PTRACE: the sanitised builds keep the core limit
 * alone (they write no core files anyway). */
#if defined(__SANITIZE_ADDRESS__)
#define XACCT__SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XACCT__SANITIZED 1
#endif
#endif

void xacct_forbid_core_dumps(void)
{
    struct rlimit none = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &none);
#ifndef XACCT__SANITIZED
    /* Also makes /proc/<pid>/mem and environ readable by root alone. */
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}
