/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous HTTP client: libcurl's multi socket interface driven by one
 * libuv loop (a uv_poll_t per socket, one uv_timer_t). Requests are submitted
 * with everything copied, run concurrently with connection reuse, and end in
 * exactly one callback.
 *
 * Safety defaults for every transfer: TLS peer and host verification on (never
 * switched off), no redirects, only http and https, response bodies capped.
 * AWS_CA_BUNDLE (given in the options) adds trust anchors to the system ones.
 * Requests carry exactly the headers given (plus Host, User-Agent, Accept,
 * Content-Length): no "Expect: 100-continue", and no Content-Type unless the
 * request names one. The URL path is sent as given (no dot-segment
 * normalisation), so what SigV4 signed is what goes on the wire.
 *
 * The first transfer to an https host with no TLS session yet goes alone;
 * others to that host wait until its connection has a session (a TLS 1.3
 * ticket, or its answer; at most tls_gate_ms) and then resume it on their
 * new connections instead of each paying a full handshake.
 */
#ifndef XACCT_HTTP_H
#define XACCT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "xacct/common.h"

struct xacct_metrics;

/* The mmap threshold (mallopt M_MMAP_THRESHOLD) for a long-running process
 * using this client, as xacctd sets it: just above the upload buffer libcurl
 * allocates and frees for every request, so that one comes from the heap,
 * and below the buffers a connection or a handle keeps (src/aws/http_int.h
 * holds the sizes and checks them against it). */
#define XACCT_HTTP_MMAP_THRESHOLD (16 * 1024 + 32)

typedef struct xacct_http xacct_http_t;         /* one per loop */
typedef struct xacct_http_req xacct_http_req_t; /* one in-flight transfer */

typedef struct xacct_http_options {
    const char *ca_bundle;      /* extra PEM trust anchors (AWS_CA_BUNDLE), or NULL;
                                   read once by xacct_http_new */
    long max_host_connections;  /* per host; 0 = 64 */
    long max_total_connections; /* 0 = 256 */
    const char *user_agent;     /* NULL = "xacct/<version>" */
    const char *const *resolve; /* NULL-terminated "host:port:address" entries
                                   (CURLOPT_RESOLVE) pinning names to addresses,
                                   or NULL; copied. For tests. */
    long tls_gate_ms;              /* how long transfers to an https host with no TLS
                                      session yet wait for the first one's answer;
                                      0 = 1000 */
    long connection_ramp_ms;       /* how long transfers queue for a connection
                                      before their host may open more (see
                                      http_gate.c); 0 = 250 */
    struct xacct_metrics *metrics; /* counts connections opened, or NULL; borrowed,
                                      must outlive the client */
} xacct_http_options_t;

typedef struct xacct_http_request {
    const char *method;            /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *url;               /* absolute http(s) URL */
    const xacct_header_t *headers; /* extra request headers; a value of "" sends the
                                      header with an empty value */
    size_t nheaders;
    const void *body;              /* request body, copied; may be NULL; not allowed
                                      with GET or HEAD */
    size_t body_len;
    long timeout_ms;               /* whole transfer; 0 = 30000 */
    long connect_timeout_ms;       /* 0 = 10000 */
    size_t max_body;               /* response body cap; 0 = 8 MiB */
    bool cut_body;                 /* a body over max_body is cut there (the transfer
                                      ends, the connection is not reused) instead of
                                      failing the request: for callers that only need
                                      the status */
    bool status_is_answer;         /* once a final (not 1xx) status line has
                                      arrived, the request is answered with it
                                      even if the transfer then fails (the
                                      connection closed or reset before the
                                      body's end, the timeout while reading
                                      the rest): resp holds what came. For
                                      callers that act on the status alone;
                                      others need the whole answer and get the
                                      error */
    bool untrusted_url;            /* the URL came in a message (ResponseURL,
                                      SigningCertURL, SubscribeURL): never connect
                                      to a link-local or instance-metadata address,
                                      whatever the name resolves to */
} xacct_http_request_t;

typedef struct xacct_http_response {
    long status;                   /* HTTP status code */
    const xacct_header_t *headers; /* response headers, names lower-cased */
    size_t nheaders;
    const char *body;              /* NUL-terminated; "" when empty */
    size_t body_len;
    double total_seconds;          /* time the transfer took */
} xacct_http_response_t;

/*
 * Completion. status is 0 when an HTTP response arrived, whatever its code
 * (with status_is_answer, also when only its final status line and part of
 * the rest did); otherwise XACCT_ETIMEOUT, XACCT_ECONNREFUSED, XACCT_ETLS,
 * XACCT_ETOOBIG (body over max_body unless cut_body, or more than 256
 * headers / 256 KiB of headers), XACCT_EFORBIDDEN (untrusted_url and an
 * address it must not reach), XACCT_ECANCELED or XACCT_EHTTP (other transport
 * errors; detail has curl's text). resp is NULL unless status is 0. Both
 * detail and resp are borrowed and valid only during the callback. Fires
 * exactly once per submitted request, never from inside xacct_http_submit.
 */
typedef void (*xacct_http_done_cb)(int status, const char *detail,
                                   const xacct_http_response_t *resp, void *arg);

/* Creates the client on loop (opts may be NULL for the defaults). The proxy
 * variables libcurl honours (https_proxy, HTTPS_PROXY, http_proxy, all_proxy,
 * ALL_PROXY, with no_proxy/NO_PROXY) count when one of them is set at this
 * point; a client made without any goes direct for its whole life. *out is
 * freed with xacct_http_free. Returns XACCT_ECONFIG if opts->ca_bundle cannot
 * be read or holds no PEM certificate, XACCT_EINVAL for negative limits or
 * tls_gate_ms. */
int xacct_http_new(uv_loop_t *loop, const xacct_http_options_t *opts,
                   xacct_http_t **out) XACCT_MUSTCHECK;

/*
 * Cancels every transfer still in flight (each callback fires with
 * XACCT_ECANCELED before this returns), cleans up the multi handle while the
 * loop is alive, and closes the uv handles; the client's memory is released
 * from the last close callback, so run the loop afterwards. NULL is a no-op.
 */
void xacct_http_free(xacct_http_t *h);

/*
 * Starts a transfer. Everything in req is copied. *handle (optional) may be
 * passed to xacct_http_cancel until the callback has fired; it is invalid
 * afterwards. Returns 0, XACCT_EINVAL (bad method, URL or scheme, a header
 * name that is not a token or a value with CR/LF, a body on GET/HEAD, no cb),
 * XACCT_ESHUTDOWN after xacct_http_free began, or XACCT_EHTTP if libcurl
 * refuses the transfer. On any error the callback never fires.
 */
int xacct_http_submit(xacct_http_t *h, const xacct_http_request_t *req, xacct_http_done_cb cb,
                      void *arg, xacct_http_req_t **handle) XACCT_MUSTCHECK;

/* Cancels one transfer; its callback fires with XACCT_ECANCELED before this
 * returns. NULL, or the request whose callback is running, is a no-op. */
void xacct_http_cancel(xacct_http_req_t *r);

/* Number of transfers submitted and not yet completed. */
size_t xacct_http_in_flight(const xacct_http_t *h);

/* Looks up a response header by lower-case name; NULL if absent. */
const char *xacct_http_response_header(const xacct_http_response_t *resp, const char *name);

#endif
