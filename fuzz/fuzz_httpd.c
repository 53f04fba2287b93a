/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes HTTP requests to the portal API's listener (xacct_httpd:
 * libmicrohttpd on a libuv loop, request bodies read up to a cap): the input
 * goes over a real loopback connection, and the handler reads everything the
 * API's routes read (method, path, headers, query arguments, body) before
 * answering with headers of its own. Property: an answer is an HTTP/1.x
 * status line; ASan and UBSan watch the rest.
 */
#include "fuzz_http_client.h"
#include "xacct/httpd.h"

static void handler(void *arg, xacct_httpd_req_t *req)
{
    (void)arg;
    size_t len = 0;
    const char *body = xacct_httpd_req_body(req, &len);
    const char *method = xacct_httpd_req_method(req);
    const char *path = xacct_httpd_req_path(req);
    const char *auth = xacct_httpd_req_header(req, "Authorization");
    const char *ctype = xacct_httpd_req_header(req, "content-type");
    const char *limit = xacct_httpd_req_arg(req, "limit");
    const char *cursor = xacct_httpd_req_arg(req, "cursor");
    FUZZ_ASSERT(method != NULL && path != NULL);
    FUZZ_ASSERT(len == 0 || body != NULL);
    unsigned long sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += (unsigned char)body[i];
    char out[256];
    int n = snprintf(out, sizeof(out), "{\"path_len\":%zu,\"body\":%zu,\"sum\":%lu,\"auth\":%d,"
                     "\"type\":%zu,\"limit\":%zu,\"cursor\":%zu,\"big\":%d}",
                     strlen(path), len, sum, auth != NULL, ctype ? strlen(ctype) : 0,
                     limit ? strlen(limit) : 0, cursor ? strlen(cursor) : 0,
                     xacct_httpd_req_body_too_large(req));
    static const char *const headers[] = {"Cache-Control", "no-store", NULL};
    unsigned status = strcmp(path, "/v1/customers") == 0 ? 200 : 404;
    xacct_httpd_respond(req, status, "application/json", headers, out, (size_t)n);
}

static xacct_httpd_t *g_server;

static int fuzz_listener_start(uv_loop_t *loop)
{
    char err[256];
    xacct_httpd_options_t opt = {
        .listen = "127.0.0.1:0",
        .body_max = 4096,
        .max_connections = 64,
        .idle_timeout_s = 10,
        .handler = handler,
    };
    if (xacct_httpd_new(loop, &opt, &g_server, err, sizeof(err)) != 0) {
        fprintf(stderr, "API listener: %s\n", err);
        abort();
    }
    return xacct_httpd_port(g_server);
}

static void fuzz_listener_free(void)
{
    xacct_httpd_free(g_server);
}
