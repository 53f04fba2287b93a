/* SPDX-License-Identifier: MIT */
/*
 * AWS credentials provider: the standard chain, resolved once at creation in
 * this order — environment keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN); web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 * [+ AWS_ROLE_SESSION_NAME]) through STS AssumeRoleWithWebIdentity; the shared
 * config profile (AWS_PROFILE, else "default"; see aws_profile.h): role_arn +
 * source_profile through a signed STS AssumeRole (external_id,
 * role_session_name, duration_seconds), else static keys, else
 * credential_process (run without a shell, JSON Version 1 on stdout); container
 * credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI, with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN or _TOKEN_FILE); EC2 instance metadata
 * IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT; skipped when
 * AWS_EC2_METADATA_DISABLED=true).
 *
 * That is the order of the AWS SDKs' default chains (the Java SDK v2's
 * DefaultCredentialsProvider, the Go SDK v2's LoadDefaultConfig): whatever
 * the environment says outright comes before the files, and the files before
 * the endpoints a host or container provides. Within a profile the order is
 * botocore's: a role first, then static keys, then a process. A profile named
 * in AWS_PROFILE must exist and yield credentials; the implicit "default"
 * that yields none lets the chain go on.
 *
 * Temporary credentials are cached and refreshed from a timer before they
 * expire (at expiry minus a margin: 5 minutes, or half the lifetime if that
 * is shorter), with jittered backoff on failure while the still-valid ones stay
 * in use. Callers that find nothing valid cached queue as waiters and are
 * released by the next fetch that completes. Nothing blocks the loop except
 * reading the small token files.
 */
#ifndef XACCT_CREDS_H
#define XACCT_CREDS_H

#include <stdint.h>
#include <uv.h>

#include "xacct/aws_clock.h"
#include "xacct/backoff.h"
#include "xacct/common.h"
#include "xacct/endpoints.h"
#include "xacct/http.h"
#include "xacct/sigv4.h"

typedef struct xacct_creds xacct_creds_t;
typedef struct xacct_creds_waiter xacct_creds_waiter_t;

typedef enum xacct_creds_source {
    XACCT_CREDS_SOURCE_NONE = 0,      /* nothing configured: every wait fails */
    XACCT_CREDS_SOURCE_ENV,           /* static keys from the environment */
    XACCT_CREDS_SOURCE_WEB_IDENTITY,  /* STS AssumeRoleWithWebIdentity */
    XACCT_CREDS_SOURCE_PROFILE,       /* static keys from the shared config files */
    XACCT_CREDS_SOURCE_PROFILE_ROLE,  /* a profile's role_arn, AssumeRole with its
                                         source_profile's keys */
    XACCT_CREDS_SOURCE_PROCESS,       /* a profile's credential_process */
    XACCT_CREDS_SOURCE_CONTAINER,     /* ECS/EKS container endpoint */
    XACCT_CREDS_SOURCE_IMDS,          /* EC2 instance metadata, IMDSv2 */
} xacct_creds_source_t;

typedef struct xacct_creds_options {
    xacct_getenv_fn getenv;       /* NULL = xacct_endpoints_getenv */
    void *getenv_arg;             /* borrowed, passed to getenv */
    const char *region;           /* STS region for web identity; NULL = AWS_REGION,
                                     AWS_DEFAULT_REGION, then us-east-1. Copied. */
    uint64_t refresh_margin_ms;   /* refresh this long before expiry; 0 = 5 min
                                     (never more than half the lifetime) */
    uint64_t retry_base_ms;       /* backoff after a failed fetch; 0 = 1000 */
    uint64_t retry_max_ms;        /* 0 = 60000 */
    xacct_backoff_rand_fn rand;   /* NULL = RAND_bytes */
    void *rand_arg;               /* borrowed */
    long fetch_timeout_ms;        /* per HTTP request of a fetch; 0 = 5000 */
    long process_timeout_ms;      /* a credential_process run, which may wait for a
                                     person (an SSO login, an MFA code); 0 = 120000 */
    xacct_aws_clock_t *clock;     /* the signing clock of a profile's role's AssumeRole,
                                     borrowed (shared with the AWS client); NULL = the
                                     provider keeps its own */
} xacct_creds_options_t;

/*
 * Completion of a wait. status 0: creds are valid and borrowed until the
 * callback returns (copy what must outlive it). Otherwise creds is NULL and
 * status is XACCT_ENOCREDS (the chain has nothing: no source configured, or
 * the instance metadata service is absent or has no role), XACCT_ECANCELED
 * (xacct_creds_wait_cancel or xacct_creds_free), or the error of the fetch
 * that failed: XACCT_EAGAIN (network, timeout, 5xx, throttling),
 * XACCT_EACCESSDENIED / XACCT_EAWS (STS refused), XACCT_EPARSE (malformed
 * answer), XACCT_EIO (token file unreadable). detail is borrowed for the
 * callback; it never contains a secret.
 */
typedef void (*xacct_creds_wait_cb)(int status, const char *detail,
                                    const xacct_sigv4_credentials_t *creds, void *arg);

/*
 * Creates the provider and starts fetching at once when the source is remote.
 * loop and http are borrowed and must outlive it (http may be NULL when the
 * source is the environment or none). opts may be NULL. Returns 0,
 * XACCT_EINVAL, or XACCT_ECONFIG for an unusable configuration (partial keys,
 * a role ARN without a token file, a container full URI that is neither https
 * nor loopback http, ...) with a reason in err (may be NULL). *out is freed
 * with xacct_creds_free.
 */
int xacct_creds_new(uv_loop_t *loop, xacct_http_t *http, const xacct_creds_options_t *opts,
                    xacct_creds_t **out, char *err, size_t errlen) XACCT_MUSTCHECK;

/*
 * Cancels the fetch in flight, releases every waiter with XACCT_ECANCELED
 * (before returning), wipes the cached secrets and closes the timers; the
 * memory goes in the last close callback, so run the loop afterwards. Safe
 * from inside a wait callback. NULL is a no-op.
 */
void xacct_creds_free(xacct_creds_t *c);

/* The chain link in use. */
xacct_creds_source_t xacct_creds_source(const xacct_creds_t *c);
const char *xacct_creds_source_name(xacct_creds_source_t s);

/*
 * Valid cached credentials, or NULL. The pointer and its strings are owned by
 * c and stay valid only until control returns to the loop (a refresh may
 * replace them), so use them at once.
 */
const xacct_sigv4_credentials_t *xacct_creds_current(xacct_creds_t *c);

/* Expiry of the cached credentials in milliseconds since the epoch; 0 when
 * they never expire, -1 when nothing is cached. */
int64_t xacct_creds_expiry(const xacct_creds_t *c);

/*
 * AWS refused the keys whose ID is access_key_id as expired or invalid
 * (ExpiredToken, InvalidClientTokenId on a session): when they are still the
 * cached ones and come from a link that fetches, they are dropped and a fetch
 * starts on the next loop turn, so the next xacct_creds_current is NULL and a
 * wait gets fresh keys. Keys fetched less than the retry base (1 s) ago are
 * kept: fresh keys refused again would otherwise be fetched in a loop.
 * Returns true when a request signed again can get other keys (these were
 * dropped, or were replaced already), false otherwise (fixed keys, or kept).
 */
bool xacct_creds_invalidate(xacct_creds_t *c, const char *access_key_id);

/* Number of fetches that have succeeded so far (for tests and metrics). */
uint64_t xacct_creds_fetch_count(const xacct_creds_t *c);

/*
 * Calls cb exactly once with valid credentials, or with an error as
 * described above; never from inside this function. *handle (optional) can
 * be passed to xacct_creds_wait_cancel until cb has fired. Returns 0 or
 * XACCT_ESHUTDOWN once xacct_creds_free began (cb is then not called).
 */
int xacct_creds_wait(xacct_creds_t *c, xacct_creds_wait_cb cb, void *arg,
                     xacct_creds_waiter_t **handle) XACCT_MUSTCHECK;

/* cb fires with XACCT_ECANCELED before this returns. */
void xacct_creds_wait_cancel(xacct_creds_waiter_t *w);

/* ---- project-internal. Three layers, each calling only the ones below it:
 * the provider (creds.c) picks a link with creds_config.c (which asks
 * creds_profile.c for the profile link) and starts its fetches through a
 * table of the links' start functions (creds_imds.c, creds_container.c,
 * creds_webid.c, creds_assume.c, creds_process.c; the two STS links share
 * creds_sts.c); everything shares the helpers of creds_util.c. ---- */

/* Credentials as fetched, owning (and wiping on free) their strings. */
typedef struct xacct__creds_set {
    char *access_key_id;       /* owned */
    char *secret_access_key;   /* owned, secret */
    char *session_token;       /* owned, secret; NULL for long-term keys */
    int64_t expiry_ms;         /* ms since the epoch; 0 = never expires */
} xacct__creds_set_t;

void xacct__creds_set_free(xacct__creds_set_t *s); /* wipes; NULL is a no-op */

/* Whether s can be a credential: 1 or more printable ASCII characters, no
 * space. Keys and tokens go into HTTP headers (the Authorization's key ID,
 * X-Amz-Security-Token), where a CR, LF or other control character would
 * end the header and start another. NULL is not. */
bool xacct__creds_value_ok(const char *s);

/* Whether every credential of s passes xacct__creds_value_ok (a NULL
 * session token is fine). */
bool xacct__creds_set_ok(const xacct__creds_set_t *s);

/*
 * A fetch ends in exactly one callback, never from inside its start function.
 * On success (status 0) set is handed to the callee, who frees it; otherwise
 * set is NULL and detail (borrowed) says why. A fetch keeps one HTTP request
 * in flight at a time, so cancelling it cancels that request.
 */
typedef void (*xacct__creds_fetch_cb)(int status, const char *detail, xacct__creds_set_t *set,
                                      void *arg);

typedef struct xacct__creds_fetch {
    xacct_http_req_t *req;     /* the transfer in flight; NULL between steps */
    void (*cancel)(struct xacct__creds_fetch *f); /* non-HTTP fetches (a process);
                                  NULL = cancel req */
} xacct__creds_fetch_t;

/* Cancels the fetch: its callback fires with XACCT_ECANCELED before return. */
void xacct__creds_fetch_cancel(xacct__creds_fetch_t *f);

/* Parses the JSON document of IMDS and container endpoints (AccessKeyId,
 * SecretAccessKey, Token, Expiration; IMDS's Code must be "Success" when
 * present). Returns 0 and *out, or XACCT_EPARSE with a reason in detail. */
int xacct__creds_parse_json(const char *body, size_t len, xacct__creds_set_t **out,
                            char *detail, size_t detail_len) XACCT_MUSTCHECK;

/* ISO 8601 UTC ("2024-05-01T12:00:00Z", fractional seconds and "+00:00"
 * accepted) to ms since the epoch. */
int xacct__creds_parse_time(const char *s, int64_t *ms_out) XACCT_MUSTCHECK;

/* Maps a non-2xx HTTP status of a credentials endpoint to an error: 404
 * XACCT_ENOTFOUND, 401/403 XACCT_EACCESSDENIED, 429 and 5xx XACCT_EAGAIN,
 * others XACCT_EHTTP. */
int xacct__creds_http_error(long http_status);

/* The chain link chosen from the environment, with what it needs. */
typedef struct xacct__creds_config {
    xacct_creds_source_t source;  /* the link in use */
    xacct__creds_set_t *keys;     /* SOURCE_ENV: the static keys, owned */
    char *url;                    /* IMDS endpoint, container URL or STS endpoint, owned */
    char *token;                  /* container Authorization value, owned secret */
    char *token_file;             /* container or web identity token file, owned */
    char *role_arn;               /* web identity or profile role, owned */
    char *session_name;           /* web identity or profile role, owned */
    char *external_id;            /* profile role, owned (never logged) */
    int duration_s;               /* profile role; 0 = STS's default */
    char *sts_region;             /* profile role: the region STS is signed for, owned */
    char *process;                /* credential_process command line, owned */
    char *profile;                /* the profile the link came from, owned */
    long imds_timeout_ms;         /* IMDS: per request (AWS_METADATA_SERVICE_TIMEOUT, else
                                     the profile's metadata_service_timeout); 0 = the
                                     link's default */
    int imds_attempts;            /* IMDS: tries per request (AWS_METADATA_SERVICE_NUM_
                                     ATTEMPTS, else metadata_service_num_attempts); 0 = 1 */
} xacct__creds_config_t;

/*
 * Walks the chain over the environment (no I/O): env keys, web identity,
 * container, IMDS. region is the STS region for web identity (NULL = from
 * the environment, then us-east-1); now_s names the default session. Returns
 * 0, or XACCT_ECONFIG with a reason in err (may be NULL). Release with
 * xacct__creds_config_destroy, also after a failure.
 */
int xacct__creds_config_from_env(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *region,
                                 int64_t now_s, xacct__creds_config_t *cfg, char *err,
                                 size_t errlen) XACCT_MUSTCHECK;
void xacct__creds_config_destroy(xacct__creds_config_t *cfg);

/*
 * Set in the environment of every credential_process xacct runs, so an xacct
 * started underneath (a profile whose credential_process is `xacct
 * credentials`, selected again through an inherited AWS_PROFILE) refuses to
 * run a credential_process of its own instead of starting itself again
 * without end.
 */
#define XACCT__CREDS_PROCESS_MARKER "XACCT_CREDENTIAL_PROCESS"

/*
 * The profile link (creds_profile.c): fills cfg from the selected profile of
 * the shared config files and returns 0 with cfg->source set, or left
 * XACCT_CREDS_SOURCE_NONE when the implicit default profile yields nothing.
 * XACCT_ECONFIG (reason in err) when a named profile is missing or yields
 * nothing, a role lacks a usable source_profile, a file is malformed, or the
 * profile asks for a method xacct does not implement (SSO,
 * credential_source), or its credential_process would run inside one xacct
 * started (XACCT__CREDS_PROCESS_MARKER is set). Same arguments as
 * xacct__creds_config_from_env; cfg is zeroed by the caller.
 */
int xacct__creds_config_from_profile(xacct_getenv_fn getenv_fn, void *getenv_arg,
                                     const char *region, int64_t now_s,
                                     xacct__creds_config_t *cfg, char *err,
                                     size_t errlen) XACCT_MUSTCHECK;

/* Whether s is a valid STS RoleSessionName: 2-64 of [A-Za-z0-9_+=,.@-]. */
bool xacct__creds_session_name_ok(const char *s);
/* An AssumeRole ExternalId STS accepts: 2-1224 characters of [A-Za-z0-9_+=,.@:/-]. */
bool xacct__creds_external_id_ok(const char *s);

/* Parses a credential_process document (exposed for tests). */
int xacct__creds_parse_process_json(const char *body, size_t len, xacct__creds_set_t **out,
                                    char *detail, size_t detail_len) XACCT_MUSTCHECK;

/* Whether a container full URI is acceptable: https, or http to a loopback
 * address (127.0.0.0/8, ::1, localhost) or the ECS/EKS agent addresses
 * (169.254.170.2, 169.254.170.23, fd00:ec2::23). Parsed with CURLU. */
bool xacct__creds_container_uri_allowed(const char *uri);

/* The IMDSv2 session token kept between fetches, owned by the provider:
 * reused until shortly before its TTL runs out, as the SDKs' IMDS clients do,
 * and dropped when the metadata service answers 401 to it. */
typedef struct xacct__creds_imds_token {
    char *token;          /* owned secret, or NULL */
    uint64_t expires_ms;  /* uv_now() from which it is no longer reused */
} xacct__creds_imds_token_t;

/*
 * What a link's fetch starts from, borrowed for the start call only (a fetch
 * copies what it keeps). The links read their parameters from cfg:
 *   imds       url (the endpoint, no trailing slash); imds_timeout_ms, else
 *              the fetch timeout, else 2 s; each request tried up to
 *              imds_attempts times while it fails in transit or with a 5xx;
 *              the session token kept in ctx->imds_token is reused
 *   container  url (validated), token or token_file (read at each fetch,
 *              since the agent rotates it)
 *   webid      url (STS, no path), role_arn, session_name, token_file (read
 *              at each fetch)
 *   assume     url (STS, no path), sts_region (signing), keys (the source
 *              profile's), role_arn, session_name, external_id (NULL = not
 *              sent), duration_s (0 = not sent)
 *   process    process: the credential_process line, split into words like
 *              a POSIX shell would (quotes, escapes) but never run by one; it
 *              must exit 0 with a JSON Version 1 document (AccessKeyId,
 *              SecretAccessKey, SessionToken?, Expiration?) on stdout; its
 *              stderr goes to ours, stdin is /dev/null; its environment is
 *              ours plus XACCT__CREDS_PROCESS_MARKER=1; killed after
 *              process_timeout_ms
 */
typedef struct xacct__creds_link_ctx {
    uv_loop_t *loop;                   /* borrowed */
    xacct_http_t *http;                /* borrowed; unused by process */
    const xacct__creds_config_t *cfg;  /* borrowed */
    long fetch_timeout_ms;             /* per HTTP request; 0 = the link's default (5 s) */
    long process_timeout_ms;           /* a credential_process run; 0 = 120 s */
    xacct__creds_imds_token_t *imds_token; /* imds: the provider's token, borrowed
                                          for the fetch's life; NULL = none kept */
    xacct_aws_clock_t *clock;          /* assume: the signing clock, borrowed for the
                                          fetch's life (it learns from STS's refusal) */
} xacct__creds_link_ctx_t;

/* A link's start function: 0 and *out, or an error with the callback not
 * called. XACCT_EINVAL when the configuration lacks what the link needs. */
typedef int (*xacct__creds_start_fn)(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                                     void *arg, xacct__creds_fetch_t **out);

int xacct__creds_imds_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                            void *arg, xacct__creds_fetch_t **out) XACCT_MUSTCHECK;
int xacct__creds_container_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                                 void *arg, xacct__creds_fetch_t **out) XACCT_MUSTCHECK;
int xacct__creds_webid_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                             void *arg, xacct__creds_fetch_t **out) XACCT_MUSTCHECK;
int xacct__creds_assume_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                              void *arg, xacct__creds_fetch_t **out) XACCT_MUSTCHECK;
int xacct__creds_process_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                               void *arg, xacct__creds_fetch_t **out) XACCT_MUSTCHECK;

/* ---- creds_sts.c: the STS query-protocol POST of the two role links ---- */

/* Turns a 2xx STS answer into *out, or says in detail why not (XACCT_EPARSE). */
typedef int (*xacct__creds_sts_parse_fn)(const char *body, size_t len, xacct__creds_set_t **out,
                                         char *detail, size_t detail_len);

/* Appends "name=value" (value URI-encoded, "&" between pairs) to a form. */
int xacct__creds_sts_param(struct xacct_buf *form, const char *name,
                           const char *value) XACCT_MUSTCHECK;

/* Submits req (copied by http) as one fetch: a transport failure ends it with
 * the transport's status, a 2xx answer goes through parse, an error answer
 * ends it with XACCT_EAGAIN (throttling, transient, 429, 5xx),
 * XACCT_EACCESSDENIED or XACCT_EAWS; details start with "STS". A signed
 * request passes its signing clock (borrowed until the callback), which
 * learns AWS's time from a refusal for the signing time; NULL otherwise. */
int xacct__creds_sts_post(xacct_http_t *http, const xacct_http_request_t *req,
                          xacct__creds_sts_parse_fn parse, xacct_aws_clock_t *clock,
                          xacct__creds_fetch_cb cb, void *arg,
                          xacct__creds_fetch_t **out) XACCT_MUSTCHECK;

/* Reads a small token file (at most 16 KiB), trimmed of surrounding
 * whitespace, into *out (caller frees with xacct_free_secret). XACCT_EIO,
 * XACCT_ETOOBIG or XACCT_EPARSE (empty). */
int xacct__creds_read_token_file(const char *path, char **out) XACCT_MUSTCHECK;

#endif
