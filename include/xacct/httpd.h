/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP/1.1 server on the daemon's loop, for the endpoints xacctd
 * serves (the portal API). Request parsing is libmicrohttpd's; it runs
 * without threads of its own: its epoll descriptor is watched by a uv_poll_t
 * and its timeouts by a uv_timer_t, so every handler runs on the loop like
 * anything else.
 *
 * A handler sees one complete request (method, path, headers, query
 * arguments and a body of at most body_max bytes) and answers it with
 * xacct_httpd_respond, either before it returns or later, from any callback
 * on the loop: until then the connection is suspended and costs nothing.
 * Connections are limited in number, time out when idle, and are cut when a
 * request (or the sending of its answer) takes longer than its deadline.
 */
#ifndef XACCT_HTTPD_H
#define XACCT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "xacct/common.h"

typedef struct xacct_httpd xacct_httpd_t;
typedef struct xacct_httpd_req xacct_httpd_req_t;

/*
 * Called once per request when its headers and body are in. req stays valid
 * until xacct_httpd_respond(req, …) has been called, which the handler must
 * do exactly once, even when the server is being freed (the answer is then
 * dropped). Runs on the loop, from inside the server's callbacks.
 */
typedef void (*xacct_httpd_handler_fn)(void *arg, xacct_httpd_req_t *req);

typedef struct xacct_httpd_options {
    const char *listen;             /* "host:port": an IPv4 literal, "[v6]" or "localhost";
                                       port 0 picks a free one; no name is resolved */
    size_t body_max;                /* bytes of request body kept; a longer body sets
                                       xacct_httpd_req_body_too_large; 0: the handler is
                                       called on the headers and bodies are not read */
    unsigned max_connections;       /* at once; further clients wait in the backlog */
    unsigned idle_timeout_s;        /* an idle or slow connection is closed after this */
    unsigned request_timeout_s;     /* a request must arrive whole, and its answer be sent,
                                       each within this, however steadily the bytes trickle
                                       (slowloris); a handler's own time does not count;
                                       0: idle_timeout_s */
    size_t url_max;                 /* bytes of request-target (as sent: query and escapes
                                       included) over which xacct_httpd_req_oversize says
                                       414; 0: none */
    size_t headers_max;             /* bytes of header fields ("name: value" and CRLF each)
                                       over which it says 431; 0: none. Connections get
                                       memory for both (libmicrohttpd answers a request
                                       larger than its memory itself, with a page of its own) */
    bool share_port;                /* SO_REUSEPORT: processes of the same user listen on
                                       the same address and the kernel spreads the
                                       connections over them */
    xacct_httpd_handler_fn handler; /* required */
    xacct_httpd_handler_fn on_headers; /* optional; see below */
    void *arg;                      /* passed to handler and on_headers; borrowed */
} xacct_httpd_options_t;

/*
 * on_headers (with body_max > 0): called when the headers of a request that
 * announces a body (Content-Length above 0, or Transfer-Encoding) are in,
 * before any of the body is read. It may answer the request there, before it
 * returns, from the headers alone (a refusal): the body is then never read,
 * a client that sent "Expect: 100-continue" is not told to go on, and the
 * connection is closed after the answer. If it does not answer, the body is
 * read and handler is called as usual. A declared Content-Length over
 * body_max already sets xacct_httpd_req_body_too_large when it runs (a
 * chunked body is counted as it arrives).
 */

/*
 * Starts listening. Returns 0 and the server in *out (free it with
 * xacct_httpd_free), XACCT_EINVAL for an unusable address, or XACCT_EIO when
 * the socket cannot be bound; err (may be NULL) then names the address and
 * the reason, and *out is NULL.
 */
int xacct_httpd_new(uv_loop_t *loop, const xacct_httpd_options_t *opt, xacct_httpd_t **out,
                    char *err, size_t errlen) XACCT_MUSTCHECK;

/* The bound port (useful with port 0); 0 for NULL. */
int xacct_httpd_port(const xacct_httpd_t *s);

/*
 * Stops serving and frees s once its handles have closed (run the loop
 * afterwards). Requests whose handler has not answered yet stay valid for
 * that handler; their answers are dropped. NULL is a no-op.
 */
void xacct_httpd_free(xacct_httpd_t *s);

/* The request, valid until it is answered. Header names are
 * case-insensitive; a missing header or argument is NULL. The path has no
 * query string. The body is not NUL-terminated. */
const char *xacct_httpd_req_method(const xacct_httpd_req_t *req);
const char *xacct_httpd_req_path(const xacct_httpd_req_t *req);
const char *xacct_httpd_req_header(const xacct_httpd_req_t *req, const char *name);
const char *xacct_httpd_req_arg(const xacct_httpd_req_t *req, const char *name);
/* How many times the request carries header name (case-insensitive) or,
 * with arg, query argument name: the lookups above return the first, so a
 * caller that must not guess between two values can refuse more than one. */
size_t xacct_httpd_req_count(const xacct_httpd_req_t *req, bool arg, const char *name);
/* 414 when the request-target is longer than url_max, 431 when the header
 * fields are larger than headers_max, else 0: a caller answers these in its
 * own format (and closes the connection). */
unsigned xacct_httpd_req_oversize(const xacct_httpd_req_t *req);
/* Why the request's framing is ambiguous, or NULL (RFC 9112 3.2, 5.1, 6.1,
 * 6.3): a field name that is not a token, an HTTP/1.1 request without Host,
 * two Host, Content-Length or Transfer-Encoding lines, or Content-Length
 * beside Transfer-Encoding. A proxy in front may have framed the request
 * another way, so it is refused (400) and the connection closed: what
 * follows on it may be a body taken for a request. */
const char *xacct_httpd_req_framing(const xacct_httpd_req_t *req);
const char *xacct_httpd_req_body(const xacct_httpd_req_t *req, size_t *len);
bool xacct_httpd_req_body_too_large(const xacct_httpd_req_t *req);

/*
 * Answers req with status, content_type (NULL: text/plain) and body (len
 * bytes, copied; may be NULL when len is 0). headers is NULL or a
 * NULL-terminated list of name, value, name, value, … added to the response.
 * HEAD requests get the headers only. After the call req is gone.
 */
void xacct_httpd_respond(xacct_httpd_req_t *req, unsigned status, const char *content_type,
                         const char *const *headers, const char *body, size_t len);

/* "host:port" into a socket address, literals only (shared with the metrics
 * endpoint). Returns 0 or XACCT_EINVAL with err set. */
struct sockaddr_storage;
int xacct_httpd_parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6, char *err,
                             size_t errlen) XACCT_MUSTCHECK;

#endif
