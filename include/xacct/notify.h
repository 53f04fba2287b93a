/* SPDX-License-Identifier: MIT */
/*
 * sd_notify protocol: datagrams such as "READY=1" or "STATUS=..." sent to the
 * socket named by $NOTIFY_SOCKET (a path, or an abstract name starting with
 * '@'). Without $NOTIFY_SOCKET every call is a successful no-op.
 */
#ifndef XACCT_NOTIFY_H
#define XACCT_NOTIFY_H

#include "xacct/common.h"

/* Sends state (e.g. "READY=1\nSTATUS=polling") to socket_path (NULL: read
 * $NOTIFY_SOCKET). Returns 0, or XACCT_EIO / XACCT_EINVAL. */
int xacct_notify(const char *socket_path, const char *state);

/* printf-style convenience around xacct_notify with $NOTIFY_SOCKET. */
int xacct_notifyf(const char *fmt, ...) XACCT_PRINTF(1, 2);

/* The watchdog interval systemd asked for ($WATCHDOG_USEC, checked against
 * $WATCHDOG_PID), in milliseconds; 0 when no watchdog is configured. */
long xacct_notify_watchdog_ms(void);

#endif
