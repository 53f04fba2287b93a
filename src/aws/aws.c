/* SPDX-License-Identifier: MIT */
/*
 * The generic AWS call. A call is a small state machine: get credentials
 * (cached, or wait for the provider), sign with the current time, submit,
 * classify the outcome; transient failures go round again after a jittered
 * backoff, re-signed, until the attempts run out. Each call embeds a uv timer
 * for its retry delay, so its memory is released from the timer's close
 * callback; the client itself owns no handle and is freed at once.
 */
#include "xacct/aws.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xacct/buf.h"
#include "xacct/metrics.h"

#define DEFAULT_MAX_ATTEMPTS 5
#define DEFAULT_BACKOFF_BASE_MS 200
#define DEFAULT_BACKOFF_MAX_MS 20000
#define MAX_ATTEMPTS_LIMIT 100
#define MAX_URL_LEN 8192

struct xacct_aws {
    uv_loop_t *_loop;                 /* borrowed */
    xacct_http_t *_http;              /* borrowed */
    xacct_creds_t *_creds;            /* borrowed, may be NULL */
    xacct_getenv_fn _getenv;          /* environment lookup */
    void *_getenv_arg;                /* borrowed */
    char *_region;                    /* default region, owned, may be NULL */
    int _max_attempts;                /* default per call */
    uint64_t _backoff_base_ms;        /* retry delay parameters */
    uint64_t _backoff_max_ms;
    xacct_backoff_rand_fn _rand;      /* borrowed generator, may be NULL */
    void *_rand_arg;
    xacct_sigv4_cache_t *_sigv4;      /* signing keys, owned */
    xacct_metrics_t *_metrics;        /* borrowed, may be NULL */
    xacct_aws_clock_t *_clock;        /* signing clock: borrowed, or _own_clock */
    xacct_aws_clock_t _own_clock;     /* when the options give none */
    struct xacct_aws_call *_calls;    /* calls not yet completed (doubly linked) */
    size_t _ncalls;                   /* length of _calls */
    bool _freeing;                    /* xacct_aws_free began */
};

struct xacct_aws_call {
    xacct_aws_t *_aws;                /* owning client; NULL once completed */
    struct xacct_aws_call *_prev, *_next; /* in _aws->_calls */
    char *_service;                   /* signing name, owned; NULL when unsigned */
    char *_label;                     /* service label in metrics, owned */
    char *_region;                    /* signing region, owned */
    char *_method;                    /* owned */
    char *_url;                       /* full URL, owned */
    xacct_header_t *_headers;         /* owned array; each name and value owned */
    size_t _nheaders;
    char *_body;                      /* owned copy, or NULL */
    size_t _body_len;
    bool _unsigned;                   /* send without signing */
    bool _untrusted;                  /* URL from a message (http untrusted_url) */
    bool _s3;                         /* S3 signing rules */
    bool _explicit;                   /* _creds holds caller-given keys */
    xacct_sigv4_credentials_t _creds; /* explicit keys, owned strings, wiped */
    long _timeout_ms;                 /* per attempt */
    long _connect_timeout_ms;         /* 0 = the http default */
    size_t _max_body;                 /* response cap */
    int _max_attempts;                /* including the first */
    int _attempt;                     /* attempts started */
    xacct_backoff_t _backoff;         /* retry delays */
    uv_timer_t _timer;                /* retry delay / deferred completion */
    xacct_http_req_t *_req;           /* transfer in flight, or NULL */
    uint64_t _sent_ns;                /* uv_hrtime() when the attempt was submitted */
    int64_t _signed_offset_s;         /* the client's clock offset the attempt was signed with */
    bool _skew_retried;               /* the one re-send a clock correction earns was made */
    char _signed_akid[XACCT_AWS_ERROR_CODE_MAX]; /* key ID of the provider's keys the
                                         attempt was signed with ("" otherwise) */
    bool _signed_session;             /* ... and they were a session's (had a token) */
    bool _refresh_retried;            /* the one re-send refused keys earn was made */
    xacct_creds_waiter_t *_waiter;    /* credentials wait in progress, or NULL */
    int _deferred_status;             /* completion status when the timer defers one */
    bool _deferring;                  /* the timer fires a completion, not a retry */
    bool _done;                       /* the callback has fired */
    char _detail[XACCT_AWS_ERROR_MESSAGE_MAX + XACCT_AWS_ERROR_CODE_MAX + 64];
                                      /* detail of the last failure */
    xacct_aws_send_guard_fn _guard;   /* asked before each attempt, or NULL */
    xacct_aws_done_cb _cb;            /* completion */
    void *_arg;
};

/* ------------------------------------------------------------------- client */

int xacct_aws_new(uv_loop_t *loop, xacct_http_t *http, xacct_creds_t *creds,
                  const xacct_aws_options_t *opts, xacct_aws_t **out)
{
    *out = NULL;
    if (loop == NULL || http == NULL)
        return XACCT_EINVAL;
    xacct_aws_options_t def = {0};
    if (opts == NULL)
        opts = &def;
    if (opts->max_attempts < 0 || opts->max_attempts > MAX_ATTEMPTS_LIMIT)
        return XACCT_EINVAL;

    xacct_aws_t *a = xacct_calloc(1, sizeof(*a));
    a->_loop = loop;
    a->_http = http;
    a->_creds = creds;
    a->_getenv = opts->getenv != NULL ? opts->getenv : xacct_endpoints_getenv;
    a->_getenv_arg = opts->getenv_arg;
    const char *region = opts->region != NULL && *opts->region != '\0'
                             ? opts->region
                             : xacct_endpoints_region_from_env(a->_getenv, a->_getenv_arg);
    a->_region = region != NULL ? xacct_strdup(region) : NULL;
    a->_max_attempts = opts->max_attempts ? opts->max_attempts : DEFAULT_MAX_ATTEMPTS;
    a->_backoff_base_ms = opts->backoff_base_ms ? opts->backoff_base_ms : DEFAULT_BACKOFF_BASE_MS;
    a->_backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
    a->_rand = opts->rand;
    a->_rand_arg = opts->rand_arg;
    a->_metrics = opts->metrics;
    if (opts->clock != NULL) {
        a->_clock = opts->clock;
    } else {
        xacct_aws_clock_init(&a->_own_clock, NULL, opts->metrics);
        a->_clock = &a->_own_clock;
    }
    a->_sigv4 = xacct_sigv4_cache_new();
    *out = a;
    return 0;
}

const char *xacct_aws_region(const xacct_aws_t *a)
{
    return a->_region;
}

bool xacct_aws_role_session(xacct_aws_t *a)
{
    if (a == NULL || a->_creds == NULL)
        return false;
    const xacct_sigv4_credentials_t *cur = xacct_creds_current(a->_creds);
    if (cur != NULL && cur->session_token != NULL)
        return true;
    switch (xacct_creds_source(a->_creds)) {
    case XACCT_CREDS_SOURCE_WEB_IDENTITY:
    case XACCT_CREDS_SOURCE_PROFILE_ROLE:
    case XACCT_CREDS_SOURCE_CONTAINER:
    case XACCT_CREDS_SOURCE_IMDS: return true;
    default: return false;
    }
}

int64_t xacct_aws_clock_offset(const xacct_aws_t *a)
{
    return a->_clock->offset_s;
}

size_t xacct_aws_in_flight(const xacct_aws_t *a)
{
    return a->_ncalls;
}

void xacct_aws_free(xacct_aws_t *a)
{
    if (a == NULL || a->_freeing)
        return;
    a->_freeing = true;
    /* Each cancel completes and unlinks the head call. */
    while (a->_calls != NULL)
        xacct_aws_cancel(a->_calls);
    xacct_sigv4_cache_free(a->_sigv4);
    free(a->_region);
    free(a);
}

/* --------------------------------------------------------------------- call */

static void attempt_start(struct xacct_aws_call *c);

static void call_close_cb(uv_handle_t *h)
{
    struct xacct_aws_call *c = xacct_container_of(h, struct xacct_aws_call, _timer);
    free(c);
}

static void call_release(struct xacct_aws_call *c)
{
    free(c->_service);
    free(c->_label);
    free(c->_region);
    free(c->_method);
    /* A URL's query, and header values, may carry credentials. */
    xacct_free_secret(c->_url);
    for (size_t i = 0; i < c->_nheaders; i++) {
        free((char *)c->_headers[i].name);
        xacct_free_secret((char *)c->_headers[i].value);
    }
    free(c->_headers);
    xacct_freezero(c->_body, c->_body_len); /* e.g. AssumeRole's ExternalId */
    xacct_free_secret((char *)c->_creds.access_key_id);
    xacct_free_secret((char *)c->_creds.secret_access_key);
    xacct_free_secret((char *)c->_creds.session_token);
    memset(&c->_creds, 0, sizeof(c->_creds));
}

/* Fires the callback once, detaches from the client first (so the callback
 * may free the client), then closes the timer; memory goes in its close
 * callback. */
static void complete(struct xacct_aws_call *c, int status, const char *detail,
                     const xacct_http_response_t *resp, const xacct_aws_error_t *err)
{
    if (c->_done)
        return;
    c->_done = true;
    uv_timer_stop(&c->_timer);
    xacct_aws_t *a = c->_aws;
    if (c->_prev != NULL)
        c->_prev->_next = c->_next;
    else
        a->_calls = c->_next;
    if (c->_next != NULL)
        c->_next->_prev = c->_prev;
    a->_ncalls--;
    c->_aws = NULL;
    c->_prev = c->_next = NULL;
    c->_cb(status, status != 0 ? detail : NULL, resp, err, c->_arg);
    call_release(c);
    uv_close((uv_handle_t *)&c->_timer, call_close_cb);
}

static void on_timer(uv_timer_t *t)
{
    struct xacct_aws_call *c = xacct_container_of(t, struct xacct_aws_call, _timer);
    if (c->_deferring) {
        c->_deferring = false;
        complete(c, c->_deferred_status, c->_detail, NULL, NULL);
        return;
    }
    attempt_start(c);
}

/* A completion decided outside a callback of ours (inside xacct_aws_call or
 * attempt_start) is delivered from the timer, so it never fires from inside
 * xacct_aws_call. */
static void complete_later(struct xacct_aws_call *c, int status, const char *detail)
{
    if (detail != c->_detail)
        snprintf(c->_detail, sizeof(c->_detail), "%s", detail);
    c->_deferred_status = status;
    c->_deferring = true;
    uv_timer_start(&c->_timer, on_timer, 0, 0);
}

/* Retries after a backoff delay if attempts remain; otherwise completes with
 * status. */
static void retry_or_fail(struct xacct_aws_call *c, int status, const char *detail,
                          const xacct_http_response_t *resp, const xacct_aws_error_t *err)
{
    if (detail != c->_detail)
        snprintf(c->_detail, sizeof(c->_detail), "%s", detail);
    if (c->_attempt < c->_max_attempts && !c->_aws->_freeing) {
        uv_timer_start(&c->_timer, on_timer, xacct_backoff_next(&c->_backoff), 0);
        return;
    }
    complete(c, status, c->_detail, resp, err);
}

/* One attempt's outcome: its HTTP status, or "error" when no response
 * arrived. Transfers canceled by our own shutdown are not counted. */
static void count_attempt(const struct xacct_aws_call *c, int status,
                          const xacct_http_response_t *resp)
{
    xacct_metrics_t *m = c->_aws->_metrics;
    if (m == NULL || status == XACCT_ECANCELED)
        return;
    char code[16] = "error";
    if (status == 0 && resp->status >= 100 && resp->status <= 999) {
        /* Three digits, as HTTP has them (the common case, without printf). */
        code[0] = (char)('0' + resp->status / 100);
        code[1] = (char)('0' + resp->status / 10 % 10);
        code[2] = (char)('0' + resp->status % 10);
        code[3] = '\0';
    } else if (status == 0) {
        snprintf(code, sizeof(code), "%ld", resp->status);
    }
    xacct_metrics_inc(m, XACCT_M_AWS_REQUESTS, c->_label, code);
    xacct_metrics_observe(m, XACCT_M_AWS_DURATION, c->_label, NULL,
                          (double)(uv_hrtime() - c->_sent_ns) / 1e9);
}

/* After a refusal for the signing time: the clock learns AWS's time from
 * the answer. True when the offset is now other than the one this attempt
 * was signed with (corrected here, or by a call answered before). */
static bool clock_corrected(struct xacct_aws_call *c, const xacct_http_response_t *resp)
{
    return xacct_aws_clock_learn(c->_aws->_clock, resp, c->_label) != c->_signed_offset_s;
}

/* AWS refused the keys themselves: expired, or (a session's only: long-term
 * keys do not come back) unknown or with a token it does not know. */
static bool keys_refused(const struct xacct_aws_call *c, const xacct_aws_error_t *err)
{
    if (xacct_aws_error_is(err, "ExpiredToken") || xacct_aws_error_is(err, "ExpiredTokenException"))
        return true;
    return c->_signed_session &&
           (xacct_aws_error_is(err, "InvalidClientTokenId") ||
            xacct_aws_error_is(err, "UnrecognizedClientException") ||
            xacct_aws_error_is(err, "InvalidToken"));
}

static void on_http_done(int status, const char *detail, const xacct_http_response_t *resp,
                         void *arg)
{
    struct xacct_aws_call *c = arg;
    c->_req = NULL;
    count_attempt(c, status, resp);
    if (status != 0) {
        switch (status) {
        case XACCT_ETIMEOUT:
        case XACCT_ECONNREFUSED:
        case XACCT_EHTTP:
        /* A handshake cut off by the network looks the same as one refused
         * by a trust store the operator got wrong; neither is the request's
         * fault, so both are retried (a check then waits for its deadline
         * rather than answering FAILED at once) and the detail says which. */
        case XACCT_ETLS:
            snprintf(c->_detail, sizeof(c->_detail), "%s: %s", xacct_strerror(status),
                     detail != NULL ? detail : "");
            retry_or_fail(c, XACCT_EAGAIN, c->_detail, NULL, NULL);
            return;
        default:
            complete(c, status, detail != NULL ? detail : xacct_strerror(status), NULL, NULL);
            return;
        }
    }
    if (resp->status >= 200 && resp->status <= 299) {
        complete(c, 0, NULL, resp, NULL);
        return;
    }

    xacct_aws_error_t err;
    bool named = xacct_aws_error_parse(resp, &err) == 0;
    if (named)
        snprintf(c->_detail, sizeof(c->_detail), "%s: %s", err.code,
                 err.message[0] ? err.message : "(no message)");
    else
        snprintf(c->_detail, sizeof(c->_detail), "HTTP %ld", resp->status);

    /* Signed with a clock AWS disagrees with: signed again at once with the
     * corrected time, as the SDKs do, once per call and outside its attempts
     * (a long poll has one). Only AWS's own answers move the clock: an
     * unsigned request may have gone to any host. */
    if (!c->_unsigned && !c->_skew_retried && xacct_aws_error_is_clock_skew(&err) &&
        clock_corrected(c, resp)) {
        c->_skew_retried = true;
        c->_attempt--;
        uv_timer_start(&c->_timer, on_timer, 0, 0);
        return;
    }
    if (resp->status == 429 || xacct_aws_error_is_throttling(&err)) {
        retry_or_fail(c, XACCT_ETHROTTLED, c->_detail, resp, &err);
        return;
    }
    if (xacct_aws_error_is_transient(&err)) {
        retry_or_fail(c, XACCT_EAGAIN, c->_detail, resp, &err);
        return;
    }
    /* The provider's keys refused as expired (run out in flight, or by a
     * clock behind AWS's) or, for a session's keys, as unknown (a session
     * ended early): the provider drops them and fetches new ones, and the
     * request is signed again with those at once, once per call and outside
     * its attempts, as the SDKs refresh and retry. */
    bool refused_keys = c->_signed_akid[0] != '\0' && keys_refused(c, &err);
    if (refused_keys && xacct_creds_invalidate(c->_aws->_creds, c->_signed_akid) &&
        !c->_refresh_retried) {
        c->_refresh_retried = true;
        c->_attempt--;
        uv_timer_start(&c->_timer, on_timer, 0, 0);
        return;
    }
    /* Or the request waited too long to be sent: the next attempt is signed
     * afresh with whatever the provider holds then. */
    if (!c->_unsigned && !c->_explicit &&
        (xacct_aws_error_is(&err, "ExpiredToken") ||
         xacct_aws_error_is(&err, "ExpiredTokenException") ||
         xacct_aws_error_is(&err, "RequestExpired"))) {
        retry_or_fail(c, XACCT_EAGAIN, c->_detail, resp, &err);
        return;
    }
    if (xacct_aws_error_is_access_denied(&err)) {
        complete(c, XACCT_EACCESSDENIED, c->_detail, resp, &err);
        return;
    }
    complete(c, XACCT_EAWS, c->_detail, resp, &err);
}

/* Signs (unless unsigned) and submits one attempt. Returns non-zero on a
 * failure to start, with c->_detail set. */
static int submit(struct xacct_aws_call *c, const xacct_sigv4_credentials_t *creds)
{
    int rc;
    if (c->_guard != NULL && (rc = c->_guard(c->_arg)) != 0) {
        snprintf(c->_detail, sizeof(c->_detail), "withheld by the caller");
        return rc;
    }
    xacct_sigv4_result_t sig = {0};
    xacct_header_t *hdrs = xacct_calloc(c->_nheaders + 4, sizeof(*hdrs));
    size_t n = 0;
    for (size_t i = 0; i < c->_nheaders; i++)
        hdrs[n++] = c->_headers[i];

    if (!c->_unsigned) {
        xacct_sigv4_request_t sreq = {
            .method = c->_method,
            .url = c->_url,
            .headers = c->_headers,
            .nheaders = c->_nheaders,
            .payload_hash = NULL,
            .body = c->_body,
            .body_len = c->_body_len,
            .region = c->_region,
            .service = c->_service,
            /* re-read on every attempt: the signature dates it */
            .now = xacct_aws_clock_now(c->_aws->_clock),
            .s3 = c->_s3,
        };
        c->_signed_offset_s = c->_aws->_clock->offset_s;
        c->_signed_akid[0] = '\0';
        c->_signed_session = false;
        if (!c->_explicit && creds->access_key_id != NULL &&
            strlen(creds->access_key_id) < sizeof(c->_signed_akid)) {
            memcpy(c->_signed_akid, creds->access_key_id, strlen(creds->access_key_id) + 1);
            c->_signed_session = creds->session_token != NULL;
        }
        if ((rc = xacct_sigv4_sign(c->_aws->_sigv4, &sreq, creds, &sig)) != 0) {
            snprintf(c->_detail, sizeof(c->_detail), "signing failed: %s", xacct_strerror(rc));
            goto out;
        }
        hdrs[n++] = (xacct_header_t){"X-Amz-Date", sig.amz_date};
        if (sig.security_token != NULL)
            hdrs[n++] = (xacct_header_t){"X-Amz-Security-Token", sig.security_token};
        if (sig.content_sha256 != NULL)
            hdrs[n++] = (xacct_header_t){"X-Amz-Content-Sha256", sig.content_sha256};
        hdrs[n++] = (xacct_header_t){"Authorization", sig.authorization};
    }

    xacct_http_request_t hreq = {
        .method = c->_method,
        .url = c->_url,
        .headers = hdrs,
        .nheaders = n,
        .body = c->_body,
        .body_len = c->_body_len,
        .timeout_ms = c->_timeout_ms,
        .connect_timeout_ms = c->_connect_timeout_ms,
        .max_body = c->_max_body,
        .untrusted_url = c->_untrusted,
    };
    c->_sent_ns = uv_hrtime();
    if ((rc = xacct_http_submit(c->_aws->_http, &hreq, on_http_done, c, &c->_req)) != 0)
        snprintf(c->_detail, sizeof(c->_detail), "submit failed: %s", xacct_strerror(rc));
out:
    /* The security token is a secret; the http layer has its own copy. */
    if (sig.security_token != NULL)
        OPENSSL_cleanse(sig.security_token, strlen(sig.security_token));
    xacct_sigv4_result_destroy(&sig);
    free(hdrs);
    return rc;
}

static void on_creds(int status, const char *detail, const xacct_sigv4_credentials_t *creds,
                     void *arg)
{
    struct xacct_aws_call *c = arg;
    c->_waiter = NULL;
    if (status == 0) {
        int rc = submit(c, creds);
        if (rc != 0)
            complete(c, rc, c->_detail, NULL, NULL);
        return;
    }
    snprintf(c->_detail, sizeof(c->_detail), "credentials: %s", detail != NULL ? detail : "");
    if (status == XACCT_EAGAIN)
        retry_or_fail(c, XACCT_EAGAIN, c->_detail, NULL, NULL);
    else if (status == XACCT_ECANCELED || status == XACCT_ESHUTDOWN)
        complete(c, status, c->_detail, NULL, NULL);
    else
        /* Whatever the provider met (a metadata endpoint's 403, a token
         * file gone), the call was never made: its caller must not read the
         * provider's AccessDenied as the service's answer — the safety check
         * would take it for a role refusing access. */
        complete(c, XACCT_ENOCREDS, c->_detail, NULL, NULL);
}

static void attempt_start(struct xacct_aws_call *c)
{
    int rc;
    c->_attempt++;
    if (c->_unsigned || c->_explicit) {
        rc = submit(c, c->_unsigned ? NULL : &c->_creds);
    } else {
        const xacct_sigv4_credentials_t *cur = xacct_creds_current(c->_aws->_creds);
        if (cur != NULL) {
            rc = submit(c, cur);
        } else {
            rc = xacct_creds_wait(c->_aws->_creds, on_creds, c, &c->_waiter);
            if (rc != 0)
                snprintf(c->_detail, sizeof(c->_detail), "credentials: %s",
                         xacct_strerror(rc));
        }
    }
    if (rc != 0)
        complete_later(c, rc, c->_detail);
}

static int copy_request(struct xacct_aws_call *c, xacct_aws_t *a, const xacct_aws_request_t *req)
{
    int rc;
    const char *region = req->region != NULL ? req->region : a->_region;
    char *endpoint = NULL;

    if (req->url != NULL) {
        if (strlen(req->url) > MAX_URL_LEN)
            return XACCT_EINVAL;
        c->_url = xacct_strdup(req->url);
    } else {
        const char *path = req->path != NULL ? req->path : "/";
        if (req->service == NULL || region == NULL || path[0] != '/')
            return XACCT_EINVAL;
        if ((rc = xacct_endpoints_resolve(a->_getenv, a->_getenv_arg, req->service, region,
                                          &endpoint)) != 0)
            return rc;
        c->_url = xacct_strjoin(endpoint, path, (char *)NULL);
        free(endpoint);
        if (strlen(c->_url) > MAX_URL_LEN)
            return XACCT_EINVAL;
    }
    if (!c->_unsigned) {
        if (req->service == NULL || region == NULL || !xacct_endpoints_valid_id(req->service) ||
            !xacct_endpoints_valid_id(region))
            return XACCT_EINVAL;
        c->_service = xacct_strdup(req->service);
        c->_region = xacct_strdup(xacct_endpoints_signing_region(req->service, region));
        c->_s3 = strcmp(req->service, "s3") == 0;
    }
    c->_label = xacct_strdup(req->service != NULL ? req->service : "unsigned");
    c->_method = xacct_strdup(req->method);
    c->_headers = xacct_calloc(req->nheaders ? req->nheaders : 1, sizeof(*c->_headers));
    for (size_t i = 0; i < req->nheaders; i++) {
        if (req->headers[i].name == NULL || req->headers[i].value == NULL)
            return XACCT_EINVAL;
        c->_headers[i].name = xacct_strdup(req->headers[i].name);
        c->_headers[i].value = xacct_strdup(req->headers[i].value);
        c->_nheaders++;
    }
    if (req->body != NULL && req->body_len > 0) {
        c->_body = xacct_malloc(req->body_len);
        memcpy(c->_body, req->body, req->body_len);
        c->_body_len = req->body_len;
    }
    if (req->credentials != NULL && !c->_unsigned) {
        const xacct_sigv4_credentials_t *k = req->credentials;
        if (k->access_key_id == NULL || k->secret_access_key == NULL)
            return XACCT_EINVAL;
        c->_creds.access_key_id = xacct_strdup(k->access_key_id);
        c->_creds.secret_access_key = xacct_strdup(k->secret_access_key);
        c->_creds.session_token =
            k->session_token != NULL ? xacct_strdup(k->session_token) : NULL;
        c->_explicit = true;
    }
    return 0;
}

int xacct_aws_call(xacct_aws_t *a, const xacct_aws_request_t *req, xacct_aws_done_cb cb,
                   void *arg, xacct_aws_call_t **handle)
{
    int rc;
    if (handle != NULL)
        *handle = NULL;
    if (a == NULL || req == NULL || cb == NULL || req->method == NULL)
        return XACCT_EINVAL;
    if (a->_freeing)
        return XACCT_ESHUTDOWN;
    int max_attempts = req->max_attempts ? req->max_attempts : a->_max_attempts;
    if (max_attempts < 1 || max_attempts > MAX_ATTEMPTS_LIMIT)
        return XACCT_EINVAL;
    if (!req->unsigned_request && req->credentials == NULL && a->_creds == NULL)
        return XACCT_ENOCREDS;

    struct xacct_aws_call *c = xacct_calloc(1, sizeof(*c));
    c->_unsigned = req->unsigned_request;
    c->_untrusted = req->untrusted_url;
    if ((rc = copy_request(c, a, req)) != 0) {
        call_release(c);
        free(c);
        return rc;
    }
    c->_timeout_ms = req->timeout_ms;
    c->_connect_timeout_ms = req->connect_timeout_ms;
    c->_max_body = req->max_body;
    c->_max_attempts = max_attempts;
    c->_guard = req->guard;
    xacct_backoff_init(&c->_backoff, a->_backoff_base_ms, a->_backoff_max_ms, a->_rand,
                       a->_rand_arg);
    c->_cb = cb;
    c->_arg = arg;
    uv_timer_init(a->_loop, &c->_timer);

    c->_aws = a;
    c->_next = a->_calls;
    if (a->_calls != NULL)
        a->_calls->_prev = c;
    a->_calls = c;
    a->_ncalls++;

    /* Neither http nor the credentials provider calls back from inside
     * submit/wait, and failures here are deferred, so cb never fires before
     * this returns. */
    attempt_start(c);
    if (handle != NULL)
        *handle = c;
    return 0;
}

void xacct_aws_cancel(xacct_aws_call_t *c)
{
    if (c == NULL || c->_done)
        return;
    /* The http and credentials layers fire their callbacks synchronously on
     * cancel, and those complete the call. */
    if (c->_req != NULL) {
        xacct_http_cancel(c->_req);
    } else if (c->_waiter != NULL) {
        xacct_creds_wait_cancel(c->_waiter);
    }
    if (!c->_done)
        complete(c, XACCT_ECANCELED, xacct_strerror(XACCT_ECANCELED), NULL, NULL);
}
