/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes HTTP requests to the metrics listener: the input is sent as it is
 * over a real loopback connection to xacct_metrics_http (libmicrohttpd on a
 * libuv loop, the daemon's setup), the write side is shut, and the loop runs
 * until the server has answered (and closed, or gone quiet). Property: an
 * answer is an HTTP/1.x status line; ASan and UBSan watch the rest.
 */
#include "fuzz_http_client.h"
#include "xacct/metrics_http.h"

static int route(void *arg, const char *path, xacct_buf_t *body, const char **content_type)
{
    (void)arg;
    *content_type = NULL;
    if (strcmp(path, "/metrics") == 0)
        return xacct_buf_puts(body, "# TYPE xacct_up gauge\nxacct_up 1\n") == 0 ? 200 : 500;
    if (strcmp(path, "/healthz") == 0)
        return xacct_buf_puts(body, "ok\n") == 0 ? 200 : 500;
    return xacct_buf_printf(body, "no route %s\n", path) == 0 ? 404 : 500;
}

static xacct_metrics_http_t *g_server;

static int fuzz_listener_start(uv_loop_t *loop)
{
    char err[256];
    if (xacct_metrics_http_new(loop, "127.0.0.1:0", route, NULL, &g_server, err,
                               sizeof(err)) != 0) {
        fprintf(stderr, "metrics listener: %s\n", err);
        abort();
    }
    return xacct_metrics_http_port(g_server);
}

static void fuzz_listener_free(void)
{
    xacct_metrics_http_free(g_server);
}
