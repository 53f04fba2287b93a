/* SPDX-License-Identifier: MIT */
/*
 * The sd_notify wire protocol, written out here rather than linking
 * libsystemd: one datagram on an AF_UNIX socket. Abstract socket names start
 * with '@', which becomes a leading NUL byte in the address.
 */
#include "xacct/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int xacct_notify(const char *socket_path, const char *state)
{
    if (socket_path == NULL)
        socket_path = getenv("NOTIFY_SOCKET");
    if (socket_path == NULL || socket_path[0] == '\0')
        return 0;
    size_t plen = strlen(socket_path);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    if (plen >= sizeof(sa.sun_path) || (socket_path[0] != '/' && socket_path[0] != '@'))
        return XACCT_EINVAL;
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, socket_path, plen);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
    if (socket_path[0] == '/')
        salen++; /* include the terminating NUL for filesystem paths */

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return XACCT_EIO;
    int rc = 0;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    if (n < 0 || (size_t)n != strlen(state))
        rc = XACCT_EIO;
    close(fd);
    return rc;
}

int xacct_notifyf(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return XACCT_ETOOBIG;
    return xacct_notify(NULL, msg);
}

long xacct_notify_watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    if (usec == NULL)
        return 0;
    const char *pid = getenv("WATCHDOG_PID");
    if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(usec, &end, 10);
    if (errno != 0 || end == usec || *end != '\0' || v == 0)
        return 0;
    return (long)(v / 1000ULL);
}
