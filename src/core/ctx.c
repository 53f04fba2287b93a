/* SPDX-License-Identifier: MIT */
/*
 * The one context constructor for xacctd and xacct. Both build the same
 * clients from the same configuration; what differs (Redis reconnecting
 * forever or failing fast, how long AWS calls retry, metrics) follows from
 * XACCT_CTX_DAEMON. Subsystems start in one fixed order and are freed in
 * the reverse order, whatever subset a run started, so the daemon and every
 * CLI command tear down the same way: free while the loop is alive
 * (curl_multi_cleanup and redisAsyncDisconnect need it), close what is left,
 * run the loop dry, close it.
 */
#include "xacct/ctx.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xacct/endpoints.h"
#include "xacct/metrics.h"
#include "xacct/secret_file.h"

#define CLI_STORE_CONNECT_TIMEOUT_MS 3000
#define CLI_AWS_ATTEMPTS 3
#define CLI_AWS_BACKOFF_BASE_MS 200
#define CLI_AWS_BACKOFF_MAX_MS 2000

int xacct_ctx_new(xacct_config_t *cfg, unsigned flags, xacct_ctx_t **out, char *err, size_t errlen)
{
    *out = NULL;
    xacct_ctx_t *ctx = xacct_calloc(1, sizeof(*ctx));
    if (uv_loop_init(&ctx->_loop) != 0)
        abort(); /* only fails without memory or file descriptors */
    ctx->loop = &ctx->_loop;
    ctx->cfg = cfg;
    ctx->flags = flags & XACCT_CTX_DAEMON;
    ctx->started_at = (uint64_t)time(NULL);
    xacct_log_init(&ctx->log, cfg->log_level, cfg->log_format, stderr);
    char host[128] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(ctx->worker_id, sizeof(ctx->worker_id), "%s:%d", host, (int)getpid());
    if (flags & XACCT_CTX_DAEMON)
        ctx->metrics = xacct_metrics_new();
    xacct_aws_clock_init(&ctx->aws_clock, &ctx->log, ctx->metrics);
    int rc = xacct_ctx_start(ctx, flags, err, errlen);
    if (rc != 0) {
        (void)xacct_ctx_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

static int start_aws(xacct_ctx_t *ctx, char *err, size_t errlen)
{
    const char *ca = getenv("AWS_CA_BUNDLE");
    int rc;
    if (ctx->http == NULL) {
        xacct_http_options_t hopts = {
            .ca_bundle = (ca != NULL && ca[0] != '\0') ? ca : NULL,
            .max_host_connections = ctx->cfg->aws_max_host_connections,
            .max_total_connections = ctx->cfg->aws_max_connections,
            .metrics = ctx->metrics,
        };
        if ((rc = xacct_http_new(ctx->loop, &hopts, &ctx->http)) != 0) {
            snprintf(err, errlen, "cannot set up HTTPS (AWS_CA_BUNDLE=%s): %s", ca ? ca : "",
                     xacct_strerror(rc));
            return rc;
        }
    }
    if (ctx->endpoints == NULL &&
        (rc = xacct_endpoints_profile_new(NULL, NULL, &ctx->endpoints, err, errlen)) != 0)
        return rc;
    if (ctx->creds == NULL) {
        char why[512]; /* the longest reasons run to some 400 characters */
        xacct_creds_options_t copts = {.region = ctx->cfg->aws_region,
                                       .getenv = xacct_endpoints_profile_getenv,
                                       .getenv_arg = ctx->endpoints,
                                       .clock = &ctx->aws_clock};
        if ((rc = xacct_creds_new(ctx->loop, ctx->http, &copts, &ctx->creds, why, sizeof(why))) !=
            0) {
            snprintf(err, errlen, "AWS credentials: %s", why);
            return rc;
        }
    }
    if (ctx->aws == NULL) {
        const char *variant =
            xacct_endpoints_unsupported_variant(xacct_endpoints_profile_getenv, ctx->endpoints);
        if (variant != NULL) {
            snprintf(err, errlen,
                     "%s=true is not supported: give the endpoints to use with "
                     "AWS_ENDPOINT_URL_SQS, _STS, _SNS and _S3 (or AWS_ENDPOINT_URL)",
                     variant);
            return XACCT_ECONFIG;
        }
        bool daemon = (ctx->flags & XACCT_CTX_DAEMON) != 0;
        xacct_aws_options_t aopts = {
            .region = ctx->cfg->aws_region,
            .getenv = xacct_endpoints_profile_getenv,
            .getenv_arg = ctx->endpoints,
            .metrics = ctx->metrics,
            .clock = &ctx->aws_clock,
            /* An operator is waiting: a few quick retries, not the daemon's. */
            .max_attempts = daemon ? 0 : CLI_AWS_ATTEMPTS,
            .backoff_base_ms = daemon ? 0 : CLI_AWS_BACKOFF_BASE_MS,
            .backoff_max_ms = daemon ? 0 : CLI_AWS_BACKOFF_MAX_MS,
        };
        if ((rc = xacct_aws_new(ctx->loop, ctx->http, ctx->creds, &aopts, &ctx->aws)) != 0) {
            snprintf(err, errlen, "cannot set up the AWS client: %s", xacct_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static int start_store(xacct_ctx_t *ctx, char *err, size_t errlen)
{
    bool daemon = (ctx->flags & XACCT_CTX_DAEMON) != 0;
    char why[256];
    xacct_store_options_t sopts = {
        .url = ctx->cfg->redis_url,
        .prefix = ctx->cfg->redis_prefix,
        .reconnect = daemon ? 1 : 0,
        .connect_timeout_ms = daemon ? 0 : CLI_STORE_CONNECT_TIMEOUT_MS,
        .on_state = ctx->on_store_state,
        .state_arg = ctx,
        .command_timeout_ms = (long)ctx->cfg->redis_command_timeout * 1000,
        /* In the daemon a command waiting for a connection gets the same
         * time: the message is then retried by the pipeline, not held for
         * the whole outage. */
        .queue_timeout_ms = daemon ? (long)ctx->cfg->redis_command_timeout * 1000 : 0,
        .tls_ca_file = ctx->cfg->redis_tls_ca_file,
        .tls_cert_file = ctx->cfg->redis_tls_cert_file,
        .tls_key_file = ctx->cfg->redis_tls_key_file,
        .sentinels = (const char *const *)ctx->cfg->redis_sentinels.items,
        .nsentinels = ctx->cfg->redis_sentinels.n,
        .master_name = ctx->cfg->redis_master_name,
        .sentinel_password = ctx->cfg->redis_sentinel_password,
        .on_watch = ctx->on_store_watch,
    };
    int rc = xacct_secret_file_check(&ctx->log, "redis.tls_key_file", sopts.tls_key_file, err,
                                     errlen);
    if (rc != 0)
        return rc;
    rc = xacct_store_new(ctx->loop, &sopts, &ctx->store, why, sizeof(why));
    if (rc != 0)
        snprintf(err, errlen, "redis: %s", why);
    return rc;
}

int xacct_ctx_start(xacct_ctx_t *ctx, unsigned flags, char *err, size_t errlen)
{
    int rc = 0;
    if (errlen > 0)
        err[0] = '\0';
    if ((flags & (XACCT_CTX_AWS | XACCT_CTX_VERIFIER)) && (rc = start_aws(ctx, err, errlen)) != 0)
        return rc;
    if ((flags & XACCT_CTX_STORE) && ctx->store == NULL &&
        (rc = start_store(ctx, err, errlen)) != 0)
        return rc;
    if ((flags & XACCT_CTX_VERIFIER) && ctx->verifier == NULL)
        ctx->verifier = xacct_sns_verifier_new(ctx->http, 64);
    ctx->flags |= flags & (XACCT_CTX_AWS | XACCT_CTX_STORE | XACCT_CTX_VERIFIER);
    return 0;
}

struct xacct__ctx_later {
    uv_timer_t timer;              /* the struct is freed in its close callback */
    void (*fn)(void *arg);
    void *arg;
    xacct_ctx_t *ctx;
    struct xacct__ctx_later *next; /* ctx->_later list of pending calls */
};
typedef struct xacct__ctx_later later_t;

static void later_closed(uv_handle_t *h)
{
    free(xacct_container_of((uv_timer_t *)h, later_t, timer));
}

/* Unlinks l, closes its timer and runs its call. */
static void later_run(later_t *l)
{
    for (later_t **p = &l->ctx->_later; *p != NULL; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, later_closed);
    l->fn(l->arg);
}

static void later_fire(uv_timer_t *t)
{
    later_run(xacct_container_of(t, later_t, timer));
}

void xacct_ctx_later(xacct_ctx_t *ctx, uint64_t delay_ms, void (*fn)(void *arg), void *arg)
{
    later_t *l = xacct_calloc(1, sizeof(*l));
    l->fn = fn;
    l->arg = arg;
    l->ctx = ctx;
    l->next = ctx->_later;
    ctx->_later = l;
    uv_timer_init(ctx->loop, &l->timer);
    uv_timer_start(&l->timer, later_fire, delay_ms, 0);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int xacct_ctx_free(xacct_ctx_t *ctx)
{
    if (ctx == NULL)
        return 0;
    /* The reverse of xacct_ctx_start's order. */
    xacct_sns_verifier_free(ctx->verifier);
    ctx->verifier = NULL;
    /* Pending calls run now, before the clients they use go: each sees its
     * calls fail with XACCT_ECANCELED or XACCT_ESHUTDOWN and reports. */
    while (ctx->_later != NULL)
        later_run(ctx->_later);
    xacct_store_free(ctx->store);
    ctx->store = NULL;
    xacct_aws_free(ctx->aws);
    ctx->aws = NULL;
    xacct_creds_free(ctx->creds);
    ctx->creds = NULL;
    xacct_http_free(ctx->http);
    ctx->http = NULL;
    uv_run(ctx->loop, UV_RUN_DEFAULT);
    /* Handles embedded in ctx (the daemon's signals and timers) close here. */
    uv_walk(ctx->loop, close_walk, NULL);
    uv_run(ctx->loop, UV_RUN_DEFAULT);
    int closed = uv_loop_close(ctx->loop);
    /* Last: every callback that counts something has run by now. */
    xacct_metrics_free(ctx->metrics);
    xacct_endpoints_profile_free(ctx->endpoints);
    xacct_config_free(ctx->cfg);
    free(ctx->config_path);
    free(ctx);
    return closed;
}

/* The Redis URL without its password, for messages. */
static char *redis_url_safe(const char *url)
{
    CURLU *u = curl_url();
    char *out = NULL, *pw = NULL;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK)
            curl_url_set(u, CURLUPART_PASSWORD, "***", 0);
        char *s = NULL;
        if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
            out = xacct_strdup(s);
            curl_free(s);
        }
    }
    if (pw != NULL) {
        OPENSSL_cleanse(pw, strlen(pw));
        curl_free(pw);
    }
    curl_url_cleanup(u);
    return out ? out : xacct_strdup("(the configured redis.url)");
}

char *xacct_ctx_store_error(const xacct_ctx_t *ctx, int status, const char *detail,
                            const char *what)
{
    const char *d = detail ? detail : xacct_strerror(status);
    /* Reached, but the password or user was refused: saying it could not
     * be reached would send the operator after the network. */
    bool refused = strncmp(d, "authentication refused by redis", 31) == 0;
    if (refused || status == XACCT_EDISCONNECTED || status == XACCT_ETIMEOUT) {
        const char *url = ctx != NULL && ctx->cfg != NULL && ctx->cfg->redis_url != NULL
                              ? ctx->cfg->redis_url
                              : XACCT_STORE_DEFAULT_URL;
        char *safe = redis_url_safe(url);
        char *msg = xacct_asprintf("%s Redis at %s: %s", refused ? "cannot log in to" : "cannot reach",
                                   safe, d);
        free(safe);
        return msg;
    }
    return xacct_asprintf("%s: %s", what, d);
}

char *xacct_ctx_aws_error(int status, const char *detail, const char *what)
{
    const char *d = detail ? detail : xacct_strerror(status);
    switch (status) {
    case XACCT_EAGAIN:
    case XACCT_ETIMEOUT:
    case XACCT_ECONNREFUSED:
    case XACCT_EHTTP:
    case XACCT_ETLS:
        return xacct_asprintf("%s: cannot reach AWS: %s", what, d);
    case XACCT_ENOCREDS:
        return xacct_asprintf("%s: no AWS credentials: %s", what, d);
    default:
        return xacct_asprintf("%s: %s", what, d);
    }
}
