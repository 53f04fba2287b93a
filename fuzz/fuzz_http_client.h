/* SPDX-License-Identifier: MIT */
/*
 * What the HTTP listener harnesses share: the listener's loop, set up once
 * per process and torn down at exit, and the client side, which sends one
 * input as it is over a loopback connection to the listener, shuts the write
 * side and runs the loop until the server has answered (and closed, or gone
 * quiet). Property: an answer starts with an HTTP/1.x status line. A
 * harness defines fuzz_listener_start (make the server on the loop, return
 * its port) and fuzz_listener_free; this header defines the libFuzzer entry
 * points around them, unless FUZZ_HTTP_OWN_ENTRY is defined (a harness with
 * listeners of its own, calling fuzz_http_exchange itself).
 */
#ifndef XACCT_FUZZ_HTTP_CLIENT_H
#define XACCT_FUZZ_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "fuzz_util.h"

static inline void fuzz_http_exchange(uv_loop_t *loop, int port, const uint8_t *data, size_t size)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = -1;
    /* Hundreds of thousands of connections can run the machine out of
     * ephemeral ports for a moment: wait for one, that is not a finding. */
    for (int attempt = 0; fd < 0 && attempt < 200; attempt++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        FUZZ_ASSERT(fd >= 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            int e = errno;
            close(fd);
            fd = -1;
            if (e != EADDRNOTAVAIL && e != EAGAIN && e != ECONNREFUSED && e != EINTR) {
                fprintf(stderr, "connect: %s\n", strerror(e));
                abort();
            }
            uv_run(loop, UV_RUN_NOWAIT);
            usleep(10000);
        }
    }
    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);

    size_t sent = 0, got = 0;
    char head[16] = "";
    bool eof = false;
    int idle = 0;
    if (size == 0)
        shutdown(fd, SHUT_WR);
    /* Until the server closes, or has been quiet for a while once the input
     * is sent: a request cut short (no final CRLF) leaves libmicrohttpd
     * waiting for the rest until its idle timeout, which is its business. */
    while (!eof && idle < 50) {
        if (sent < size) {
            ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN)
                sent = size; /* the server closed: stop sending */
            if (sent == size)
                shutdown(fd, SHUT_WR);
        }
        uv_run(loop, UV_RUN_NOWAIT);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        idle++;
        if (poll(&p, 1, 0) > 0) {
            char buf[4096];
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r > 0) {
                idle = 0;
                for (ssize_t i = 0; i < r && got < sizeof(head) - 1; i++)
                    head[got++] = buf[i];
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                eof = true;
            }
        }
    }
    /* A reset, so the server drops a connection it still holds at once
     * instead of keeping a slot until its idle timeout. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    if (got >= 7)
        FUZZ_ASSERT(strncmp(head, "HTTP/1.", 7) == 0);
    /* Let the server notice the close before the next input. */
    for (int i = 0; i < 4; i++)
        uv_run(loop, UV_RUN_NOWAIT);
}

#ifndef FUZZ_HTTP_OWN_ENTRY
/* ---- the listener, one per process ---- */

static uv_loop_t fuzz_loop;
static int fuzz_port;

/* Defined by the harness: starts its server on loop and returns the port it
 * listens on (aborting with a reason on failure); frees it at exit. */
static int fuzz_listener_start(uv_loop_t *loop);
static void fuzz_listener_free(void);

static void fuzz_listener_stop(void)
{
    fuzz_listener_free();
    uv_run(&fuzz_loop, UV_RUN_DEFAULT);
    uv_loop_close(&fuzz_loop);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&fuzz_loop) != 0)
        abort();
    fuzz_port = fuzz_listener_start(&fuzz_loop);
    atexit(fuzz_listener_stop);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_http_exchange(&fuzz_loop, fuzz_port, data, size);
    return 0;
}
#endif /* FUZZ_HTTP_OWN_ENTRY */

#endif
