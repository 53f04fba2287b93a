/* SPDX-License-Identifier: MIT */
/*
 * The generic AWS call every service client (sqs, sts, sns, s3, cfn) goes
 * through: resolve the endpoint for a service and region, sign with SigV4
 * (signing keys cached) using the provider's current credentials or waiting
 * for them, submit through xacct_http, retry transient failures (network
 * errors, timeouts, HTTP 5xx, 429 and throttling codes) with jittered
 * backoff, re-signing on every attempt, and finish with exactly one callback
 * carrying a clear status and the response for the client to parse. A
 * clock-skew refusal (the signing clock corrected from AWS's Date) and the
 * provider's keys refused as expired (the provider fetches new ones) are
 * each signed again once, at once, beyond max_attempts.
 *
 * Endpoints come from endpoints.h (real AWS unless the environment overrides
 * them); S3 is addressed path-style: <endpoint>/<bucket>/<key>.
 */
#ifndef XACCT_AWS_H
#define XACCT_AWS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "xacct/aws_clock.h"
#include "xacct/aws_error.h"
#include "xacct/backoff.h"
#include "xacct/common.h"
#include "xacct/creds.h"
#include "xacct/endpoints.h"
#include "xacct/http.h"
#include "xacct/sigv4.h"

typedef struct xacct_aws xacct_aws_t;           /* one per loop */
typedef struct xacct_aws_call xacct_aws_call_t; /* one call, all its attempts */

typedef struct xacct_aws_options {
    xacct_getenv_fn getenv;       /* NULL = xacct_endpoints_getenv */
    void *getenv_arg;             /* borrowed */
    const char *region;           /* default region; NULL = AWS_REGION / AWS_DEFAULT_REGION.
                                     Copied. */
    int max_attempts;             /* per call, including the first; 0 = 5 */
    uint64_t backoff_base_ms;     /* first retry delay ceiling; 0 = 200 */
    uint64_t backoff_max_ms;      /* 0 = 20000 */
    xacct_backoff_rand_fn rand;   /* NULL = RAND_bytes */
    void *rand_arg;               /* borrowed */
    struct xacct_metrics *metrics; /* borrowed, may be NULL: counts every attempt by
                                     service and status, and its latency */
    xacct_aws_clock_t *clock;     /* the signing clock, borrowed (shared with the
                                     credentials provider); NULL = the client keeps
                                     its own, with no log and the gauge in metrics */
} xacct_aws_options_t;

/*
 * Creates the client. loop, http and creds are borrowed and must outlive it;
 * creds may be NULL when only unsigned calls or calls with explicit
 * credentials are made. Returns 0, XACCT_EINVAL. Free with xacct_aws_free.
 */
int xacct_aws_new(uv_loop_t *loop, xacct_http_t *http, xacct_creds_t *creds,
                  const xacct_aws_options_t *opts, xacct_aws_t **out) XACCT_MUSTCHECK;

/*
 * Cancels every call in flight (each callback fires with XACCT_ECANCELED
 * before this returns); memory of calls with timers goes in their close
 * callbacks, so run the loop afterwards. Safe from inside a call's callback.
 * NULL is a no-op.
 */
void xacct_aws_free(xacct_aws_t *a);

/* The client's default region (borrowed), or NULL. */
const char *xacct_aws_region(const xacct_aws_t *a);

/* True when the client signs with temporary credentials of a role session
 * (instance, container, web identity, a profile's role, or keys with a
 * session token): an AssumeRole made with them is role chaining, which AWS
 * limits to one hour and whose console sign-in takes no SessionDuration. */
bool xacct_aws_role_session(xacct_aws_t *a);

/* Asked with the call's arg right before each attempt goes to the HTTP
 * client (the first one, every retry, and after a wait for credentials):
 * non-zero ends the call with that status and the attempt unsent, detail
 * "withheld by the caller". It may be asked from inside xacct_aws_call. For
 * a request that must not be sent once a condition of the caller's lapsed
 * (a lock's lease). */
typedef int (*xacct_aws_send_guard_fn)(void *arg);

typedef struct xacct_aws_request {
    const char *service;           /* "sqs", "sts", "s3", "sns", "iam": endpoint and
                                      signing name; required unless unsigned with url,
                                      where it only names the call in metrics */
    const char *region;            /* NULL = the client's */
    const char *method;            /* "GET", "POST", "PUT", "DELETE", "HEAD" */
    const char *url;               /* absolute URL; NULL = endpoint + path */
    const char *path;              /* "/", "/bucket/key", with "?query" if any; used
                                      when url is NULL; NULL = "/" */
    const xacct_header_t *headers; /* extra headers (Content-Type, X-Amz-Target ...);
                                      all are signed */
    size_t nheaders;
    const void *body;              /* copied */
    size_t body_len;
    bool unsigned_request;         /* send as is: AssumeRoleWithWebIdentity,
                                      presigned URLs */
    const xacct_sigv4_credentials_t *credentials; /* sign with these instead of the
                                      provider's (e.g. assumed-role keys); copied and
                                      wiped */
    long timeout_ms;               /* per attempt; 0 = the http default */
    long connect_timeout_ms;       /* 0 = the http default */
    size_t max_body;               /* response cap; 0 = the http default */
    int max_attempts;              /* 0 = the client's */
    bool untrusted_url;            /* url came in a message: see xacct_http_request_t */
    xacct_aws_send_guard_fn guard; /* asked before each attempt is sent, or NULL */
} xacct_aws_request_t;

/*
 * Completion, exactly once, never from inside xacct_aws_call. status:
 *   0                    2xx; resp is the response
 *   XACCT_EACCESSDENIED  AccessDenied / AccessDeniedException
 *   XACCT_EAWS           any other AWS error; detail is "Code: message" (or
 *                        "HTTP <status>" when the body named no code)
 *   XACCT_ETHROTTLED     throttled on the last allowed attempt
 *   XACCT_EAGAIN         other transient failures outlasted the attempts
 *                        (network, timeout, 5xx, credentials temporarily
 *                        unavailable)
 *   XACCT_ECANCELED      xacct_aws_cancel or xacct_aws_free
 *   the guard's status   the request's guard withheld an attempt
 *   others               non-transient transport (XACCT_ETLS, XACCT_ETOOBIG),
 *                        credentials (XACCT_ENOCREDS, ...) or signing errors
 * resp is the last response when one arrived (also for error statuses), else
 * NULL; err is the parsed error when resp is not 2xx, else NULL. detail, resp
 * and err are borrowed for the callback.
 */
typedef void (*xacct_aws_done_cb)(int status, const char *detail,
                                  const xacct_http_response_t *resp,
                                  const xacct_aws_error_t *err, void *arg);

/*
 * Starts a call. Everything in req is copied. *handle (optional) may be
 * passed to xacct_aws_cancel until the callback has fired. Returns 0,
 * XACCT_EINVAL, XACCT_ECONFIG (endpoint override), XACCT_ENOCREDS (a signed
 * call and no provider nor explicit credentials) or XACCT_ESHUTDOWN.
 */
int xacct_aws_call(xacct_aws_t *a, const xacct_aws_request_t *req, xacct_aws_done_cb cb,
                   void *arg, xacct_aws_call_t **handle) XACCT_MUSTCHECK;

/* Cancels a call: its callback fires with XACCT_ECANCELED before return. */
void xacct_aws_cancel(xacct_aws_call_t *call);

/* Seconds AWS's clock is ahead of ours (negative: behind), as the client's
 * clock (aws_clock.h) learnt from the Date header of the last clock-skew
 * refusal (RequestTimeTooSkewed, SignatureDoesNotMatch "Signature expired"
 * ...); 0 until one. Every signing time is the local clock plus this, and the
 * refused request is signed again once, outside its max_attempts, as the AWS
 * SDKs correct clock skew. Presigned URLs are dated with it too. */
int64_t xacct_aws_clock_offset(const xacct_aws_t *a);

/* Calls started and not yet completed. */
size_t xacct_aws_in_flight(const xacct_aws_t *a);

#endif
