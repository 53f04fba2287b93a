/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP/1.1 server on the daemon's loop for GET /metrics, /healthz and
 * /readyz. Request parsing is libmicrohttpd's; it runs without threads of its
 * own: its epoll descriptor is watched by a uv_poll_t and its timeouts by a
 * uv_timer_t, so every route callback runs on the loop like anything else.
 *
 * Only GET and HEAD are served (anything else: 405 with Allow). Bodies of
 * requests are not read. Connections are limited in number, time out when
 * idle, and a request must arrive whole within a few seconds, so a slow or
 * stuck client cannot hold the endpoint.
 */
#ifndef XACCT_METRICS_HTTP_H
#define XACCT_METRICS_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "xacct/buf.h"
#include "xacct/common.h"

typedef struct xacct_metrics_http xacct_metrics_http_t;

/*
 * Answers one GET/HEAD for path (without the query string). Appends the body
 * to body (an empty buffer with a hard maximum, owned and freed by the
 * server), sets *content_type to a string that stays valid after the call
 * (a literal; NULL means "text/plain; charset=utf-8") and returns the
 * HTTP status; 404 for unknown paths is the route's decision, and a status
 * outside 200..599 is answered as 500 with an empty body. The same call
 * serves HEAD; the body is then not sent. Runs on the loop, from inside the
 * server's poll or timer callback.
 */
typedef int (*xacct_metrics_http_route_fn)(void *arg, const char *path, xacct_buf_t *body,
                                           const char **content_type);

/*
 * Listens on listen ("host:port": host an IPv4 literal, an IPv6 literal in
 * brackets such as "[::1]:9464", or "localhost" for 127.0.0.1; no name is
 * resolved; port 0..65535, 0 picks a free one). route and arg are borrowed;
 * they are not used once xacct_metrics_http_free has returned.
 *
 * Returns 0 and the server in *out (free it with xacct_metrics_http_free),
 * XACCT_EINVAL for an unusable address, or XACCT_EIO when the socket cannot
 * be bound; err (may be NULL) then names the address and the reason, and
 * *out is NULL.
 */
int xacct_metrics_http_new(uv_loop_t *loop, const char *listen, xacct_metrics_http_route_fn route,
                           void *arg, xacct_metrics_http_t **out, char *err,
                           size_t errlen) XACCT_MUSTCHECK;

/* The bound port (useful with port 0); 0 for NULL. */
int xacct_metrics_http_port(const xacct_metrics_http_t *s);

/*
 * Stops serving at once and frees s once its two handles have closed: run the
 * loop afterwards. The listen socket and open connections are closed in the
 * last close callback (the epoll descriptor must outlive libuv's watch on
 * it), so until then new connections may queue in the backlog but are never
 * answered. May be called from inside the route callback (the daemon is
 * stopped only after MHD_run has returned); whether that request's response
 * still reaches its client is then up to how far MHD got. NULL is a no-op.
 */
void xacct_metrics_http_free(xacct_metrics_http_t *s);

#endif
