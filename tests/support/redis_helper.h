/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for the Redis integration tests: run a libuv loop until a
 * condition holds (with a deadline), start and stop a private redis-server
 * (for restart and password tests) or a redis-sentinel on a free port, and
 * close a loop checking that uv_loop_close() returns 0. Header-only so each
 * test binary stays one file. The private server gets PR_SET_PDEATHSIG, so it dies with the test
 * even when an assertion or a sanitizer aborts the process.
 */
#ifndef XACCT_TEST_REDIS_HELPER_H
#define XACCT_TEST_REDIS_HELPER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static inline void th_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Runs the loop until *flag becomes non-zero or timeout_ms passes; returns the
 * flag. */
static inline int th_run_until(uv_loop_t *loop, const int *flag, long timeout_ms)
{
    uint64_t deadline = uv_now(loop) + (uint64_t)timeout_ms;
    while (!*flag) {
        uv_update_time(loop);
        if (uv_now(loop) >= deadline)
            break;
        uv_run(loop, UV_RUN_ONCE);
        if (!uv_loop_alive(loop) && !*flag) {
            /* nothing left that could set the flag */
            th_sleep_ms(5);
        }
    }
    return *flag;
}

static void th_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "open handle left: type %d\n", (int)h->type);
}

/* Lets pending close callbacks run, then closes the loop. Returns what
 * uv_loop_close returned. */
static inline int th_loop_close(uv_loop_t *loop)
{
    for (int i = 0; i < 100 && uv_loop_alive(loop); i++)
        uv_run(loop, UV_RUN_NOWAIT);
    int rc = uv_loop_close(loop);
    if (rc != 0)
        uv_walk(loop, th_walk_close, NULL);
    return rc;
}

static inline int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
        perror("free port");
        abort();
    }
    close(fd);
    return ntohs(a.sin_port);
}

static inline int th_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Runs argv (argv[0] found on PATH) as a child that dies with us, its output
 * thrown away, and returns its pid once port accepts connections; the test
 * aborts, naming what, if it exits first or is not listening in 10 s. */
static inline pid_t th_spawn_listening(const char *const *argv, int port, const char *what)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        if (th_port_open(port))
            return pid;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "%s exited early\n", what);
            abort();
        }
        th_sleep_ms(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "%s did not start\n", what);
    abort();
}

/* Starts redis-server on port (extra args, NULL-terminated, may be NULL);
 * returns its pid once it accepts connections. */
static inline pid_t th_redis_start(int port, const char *const *extra)
{
    const char *exe = getenv("XACCT_REDIS_SERVER");
    if (exe == NULL || exe[0] == '\0')
        exe = "redis-server";
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    const char *argv[64] = {exe, "--port", portstr, "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", "/tmp", "--logfile", ""};
    int n = 13;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return th_spawn_listening(argv, port, "redis-server");
}

/* Starts redis-sentinel with the config file conf (which it rewrites) and
 * returns its pid once port accepts connections. */
static inline pid_t th_sentinel_start(const char *conf, int port)
{
    const char *exe = getenv("XACCT_REDIS_SENTINEL");
    if (exe == NULL || exe[0] == '\0')
        exe = "redis-sentinel";
    const char *argv[] = {exe, conf, NULL};
    return th_spawn_listening(argv, port, "redis-sentinel");
}

static inline void th_redis_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 400; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        th_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A socket on 127.0.0.1 that listens (backlog) and never answers: it
 * accepts nothing and reads nothing. Its port goes to *port; -1 on failure.
 * With fill, its accept queue is first filled by three connections left in
 * fill[] (with backlog 0: Linux drops the SYN of a listener whose queue is
 * full, so a connect to it never completes). th_silent_close closes them. */
static inline int th_silent_listener(int backlog, int fill[3], int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    for (int i = 0; fill != NULL && i < 3; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fill[i] >= 0)
            (void)connect(fill[i], (struct sockaddr *)&a, sizeof(a)); /* EINPROGRESS */
    }
    return fd;
}

static inline void th_silent_close(int fd, const int fill[3])
{
    for (int i = 0; fill != NULL && i < 3; i++)
        if (fill[i] >= 0)
            close(fill[i]);
    close(fd);
}

#endif
