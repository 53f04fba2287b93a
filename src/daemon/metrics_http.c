/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint on the shared HTTP server (httpd.c): GET and HEAD go
 * to the route callback, which builds the body in a capped buffer; anything
 * else is answered 405 on its headers, so a request body is never read.
 * Ambiguous framing is refused as the portal API refuses it.
 */
#include "xacct/metrics_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/httpd.h"

/* Connections served at once; further clients wait in the listen backlog. */
#define METRICS_HTTP_MAX_CONNS 32u
/* Seconds an idle (or slow) connection may stay open. */
#define METRICS_HTTP_IDLE_TIMEOUT 10u
/* Seconds a whole request may take to arrive (a scraper sends it at once):
 * a client trickling bytes cannot hold a connection slot for longer. */
#define METRICS_HTTP_REQUEST_TIMEOUT 5u
/* Hard cap on a response body the route may build. */
#define METRICS_HTTP_BODY_MAX (8u * 1024u * 1024u)

#define METRICS_HTTP_DEFAULT_TYPE "text/plain; charset=utf-8"

struct xacct_metrics_http {
    xacct_httpd_t *_httpd;              /* the server */
    xacct_metrics_http_route_fn _route; /* answers GET/HEAD */
    void *_route_arg;                   /* passed to _route */
    bool _closing;                      /* free() was called: call no route again */
};

static void on_request(void *arg, xacct_httpd_req_t *req)
{
    struct xacct_metrics_http *s = arg;
    const char *method = xacct_httpd_req_method(req);

    if (s->_closing) {
        xacct_httpd_respond(req, 503, NULL, NULL, NULL, 0);
        return;
    }
    const char *framing = xacct_httpd_req_framing(req);
    if (framing != NULL) {
        char body[96];
        snprintf(body, sizeof(body), "%s\n", framing);
        const char *headers[] = {"Connection", "close", NULL};
        xacct_httpd_respond(req, 400, METRICS_HTTP_DEFAULT_TYPE, headers, body, strlen(body));
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char body[] = "method not allowed\n";
        const char *headers[] = {"Allow", "GET, HEAD", NULL};
        xacct_httpd_respond(req, 405, METRICS_HTTP_DEFAULT_TYPE, headers, body,
                            sizeof(body) - 1);
        return;
    }
    xacct_buf_t body;
    const char *content_type = NULL;
    xacct_buf_init(&body, METRICS_HTTP_BODY_MAX);
    int status = s->_route(s->_route_arg, xacct_httpd_req_path(req), &body, &content_type);
    if (status < 200 || status > 599) {
        /* Not something we can put on a status line: the route is broken. */
        xacct_buf_reset(&body);
        status = 500;
        content_type = NULL;
    }
    xacct_httpd_respond(req, (unsigned)status,
                        content_type != NULL ? content_type : METRICS_HTTP_DEFAULT_TYPE, NULL,
                        body.data, body.len);
    xacct_buf_destroy(&body);
}

int xacct_metrics_http_new(uv_loop_t *loop, const char *listen, xacct_metrics_http_route_fn route,
                           void *arg, xacct_metrics_http_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (loop == NULL || listen == NULL || route == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "metrics_http: missing loop, address or route");
        return XACCT_EINVAL;
    }
    struct xacct_metrics_http *s = xacct_calloc(1, sizeof(*s));
    s->_route = route;
    s->_route_arg = arg;
    xacct_httpd_options_t opt = {
        .listen = listen,
        .body_max = 0,
        .max_connections = METRICS_HTTP_MAX_CONNS,
        .idle_timeout_s = METRICS_HTTP_IDLE_TIMEOUT,
        .request_timeout_s = METRICS_HTTP_REQUEST_TIMEOUT,
        .handler = on_request,
        .arg = s,
    };
    int rc = xacct_httpd_new(loop, &opt, &s->_httpd, err, errlen);
    if (rc != 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int xacct_metrics_http_port(const xacct_metrics_http_t *s)
{
    return s != NULL ? xacct_httpd_port(s->_httpd) : 0;
}

void xacct_metrics_http_free(xacct_metrics_http_t *s)
{
    if (s == NULL || s->_closing)
        return;
    s->_closing = true;
    xacct_httpd_free(s->_httpd);
    free(s);
}
