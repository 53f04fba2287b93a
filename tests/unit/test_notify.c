/* SPDX-License-Identifier: MIT */
/* sd_notify datagrams reach a test-owned socket, by path and abstract name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xacct/notify.h"

static int bind_dgram(const char *name, int abstract)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(name);
    memcpy(sa.sun_path + (abstract ? 1 : 0), name, len);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, salen), 0);
    return fd;
}

static void recv_equals(int fd, const char *want)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_path_socket(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/xacct-notify-%d", (int)getpid());
    unlink(path);
    int fd = bind_dgram(path, 0);
    assert_int_equal(xacct_notify(path, "READY=1\nSTATUS=polling"), 0);
    recv_equals(fd, "READY=1\nSTATUS=polling");
    close(fd);
    unlink(path);
}

static void test_abstract_socket_via_env(void **state)
{
    (void)state;
    char name[64], env[66];
    snprintf(name, sizeof(name), "xacct-notify-abs-%d", (int)getpid());
    snprintf(env, sizeof(env), "@%s", name);
    int fd = bind_dgram(name, 1);
    setenv("NOTIFY_SOCKET", env, 1);
    assert_int_equal(xacct_notifyf("STATUS=in_flight=%d", 3), 0);
    recv_equals(fd, "STATUS=in_flight=3");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

static void test_no_socket_is_noop(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(xacct_notify(NULL, "READY=1"), 0);
    assert_int_equal(xacct_notify("relative/path", "READY=1"), XACCT_EINVAL);
}

static void test_watchdog_interval(void **state)
{
    (void)state;
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(xacct_notify_watchdog_ms(), 30000);
    setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
    assert_int_equal(xacct_notify_watchdog_ms(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "garbage", 1);
    assert_int_equal(xacct_notify_watchdog_ms(), 0);
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(xacct_notify_watchdog_ms(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket_via_env),
        cmocka_unit_test(test_no_socket_is_noop),
        cmocka_unit_test(test_watchdog_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
