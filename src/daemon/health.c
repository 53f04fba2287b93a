/* SPDX-License-Identifier: MIT */
/*
 * Routes of the observability endpoint. Counters are incremented where
 * things happen (transport, pipeline, aws); what is a state rather than an event
 * is read here, at scrape time, so nothing has to be kept up to date.
 */
#include "xacct/health.h"

#include <stdio.h>
#include <string.h>

#include "xacct/cfn.h"
#include "xacct/check.h"
#include "xacct/metrics.h"
#include "xacct/metrics_http.h"
#include "xacct/worker.h"

/* Why the worker is not fetching messages as it should, or NULL. The gauge
 * xacct_polling and the readiness check say the same thing. */
static const char *polling_problem(const xacct_ctx_t *ctx, xacct_worker_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    if (ctx->worker != NULL)
        xacct_worker_get_stats(ctx->worker, st);
    if (ctx->state != XACCT_RUNNING)
        return "shutting down";
    if (ctx->worker == NULL)
        return "not started";
    if (st->quiet)
        return "quiet (SIGTSTP): not fetching messages";
    /* A full worker has no receive outstanding and is still doing its job. */
    if (!st->polling && st->in_flight < (unsigned)ctx->cfg->queue_max_in_flight)
        return "not polling (receives failing; retrying with backoff)";
    return NULL;
}

void xacct_health_collect(xacct_ctx_t *ctx)
{
    xacct_metrics_t *m = ctx->metrics;
    if (m == NULL)
        return;
    xacct_worker_stats_t st;
    bool polling = polling_problem(ctx, &st) == NULL;
    xacct_metrics_set(m, XACCT_M_IN_FLIGHT, NULL, NULL, st.in_flight);
    xacct_metrics_set(m, XACCT_M_MAX_IN_FLIGHT, NULL, NULL, ctx->cfg->queue_max_in_flight);
    xacct_metrics_set(m, XACCT_M_POLLING, NULL, NULL, polling);
    if (ctx->store != NULL) {
        uint64_t conns = xacct_store_connections(ctx->store);
        xacct_metrics_set(m, XACCT_M_REDIS_UP, NULL, NULL, xacct_store_is_up(ctx->store));
        xacct_metrics_set(m, XACCT_M_REDIS_ERRORS, NULL, NULL,
                          (double)xacct_store_errors(ctx->store));
        xacct_metrics_set(m, XACCT_M_REDIS_RECONNECTS, NULL, NULL,
                          conns > 0 ? (double)(conns - 1) : 0);
    }
    if (ctx->creds != NULL) {
        int64_t expiry = xacct_creds_expiry(ctx->creds);
        xacct_metrics_set(m, XACCT_M_CREDS_VALID, NULL, NULL,
                          xacct_creds_current(ctx->creds) != NULL);
        if (expiry < 0)
            xacct_metrics_unset(m, XACCT_M_CREDS_EXPIRY, NULL, NULL);
        else
            xacct_metrics_set(m, XACCT_M_CREDS_EXPIRY, NULL, NULL, (double)expiry / 1000.0);
    }
}

/* A body that does not fit is cut short; the status code still tells. */
static bool check(xacct_buf_t *out, const char *name, bool ok, const char *why)
{
    if (out != NULL && xacct_buf_printf(out, "%s %s\n", name, ok ? "ok" : why) != 0)
        xacct_buf_reset(out);
    return ok;
}

bool xacct_health_ready(xacct_ctx_t *ctx, xacct_buf_t *out)
{
    xacct_worker_stats_t st;
    const char *why = polling_problem(ctx, &st);
    bool ready = true;
    /* A refused password is no outage: say so, or operators wait for it. */
    const char *auth = ctx->store != NULL ? xacct_store_auth_refused(ctx->store) : NULL;
    char redis_why[200];
    snprintf(redis_why, sizeof(redis_why), "not connected%s%s", auth ? ": " : "",
             auth ? auth : "");
    ready &= check(out, "redis", ctx->store != NULL && xacct_store_is_up(ctx->store), redis_why);
    ready &= check(out, "credentials", ctx->creds != NULL && xacct_creds_current(ctx->creds) != NULL,
                   "no valid AWS credentials cached");
    ready &= check(out, "polling", why == NULL, why);
    return ready;
}

#define TEXT "text/plain; charset=utf-8"

int xacct_health_route(void *arg, const char *path, xacct_buf_t *body, const char **content_type)
{
    xacct_ctx_t *ctx = arg;
    *content_type = TEXT;
    if (strcmp(path, "/metrics") == 0) {
        xacct_health_collect(ctx);
        if (xacct_metrics_render(ctx->metrics, body) != 0) {
            xacct_buf_reset(body);
            return 500;
        }
        *content_type = XACCT_METRICS_CONTENT_TYPE;
        return 200;
    }
    if (strcmp(path, "/healthz") == 0) {
        /* Only the loop answers requests: a reply means it is alive. */
        return xacct_buf_puts(body, "ok\n") == 0 ? 200 : 500;
    }
    if (strcmp(path, "/readyz") == 0)
        return xacct_health_ready(ctx, body) ? 200 : 503;
    if (xacct_buf_puts(body, "not found: try /metrics, /healthz or /readyz\n") != 0)
        xacct_buf_reset(body);
    return 404;
}

/* Every combination of the values l1 (n1) and l2 (n2; NULL: no second label). */
static void zero(xacct_metrics_t *m, xacct_metric_id_t id, const char *const *l1, size_t n1,
                 const char *const *l2, size_t n2)
{
    for (size_t i = 0; i < n1; i++)
        for (size_t k = 0; k < (l2 != NULL ? n2 : 1); k++)
            xacct_metrics_add(m, id, l1[i], l2 != NULL ? l2[k] : NULL, 0);
}

#define N(a) XACCT_ARRAY_SIZE(a)

/*
 * The counters whose label values are known in advance start at 0. One that
 * first appears at 1 shows Prometheus no increase(), so the first dead
 * message, refused answer or insecure role after a start would never alert.
 * (The values are the ones their modules count with.)
 */
static void zero_known_series(xacct_ctx_t *ctx)
{
    static const xacct_metric_id_t per_queue[] = {XACCT_M_MSG_RECEIVED, XACCT_M_MSG_ACKED,
                                                  XACCT_M_MSG_DEAD, XACCT_M_MSG_RELEASED};
    static const char *const outcomes[] = {"success", "failed", "ignored", "refused",
                                           "duplicate"};
    static const char *const statuses[] = {"SUCCESS", "FAILED"};
    static const char *const answers[] = {"delivered", "refused", "postponed"};
    static const char *const expirations[] = {"expired", "released", "cleaned", "cleanup_failed"};
    static const char *const deliveries[] = {"delivered", "rejected", "error", "dead"};
    const char *types[] = {xacct_cfn_type_name(XACCT_CFN_CREATE),
                           xacct_cfn_type_name(XACCT_CFN_UPDATE),
                           xacct_cfn_type_name(XACCT_CFN_DELETE)};
    const char *checks[XACCT_CHECK_CANCELED];
    xacct_metrics_t *m = ctx->metrics;
    const xacct_config_t *cfg = ctx->cfg;

    for (size_t i = 0; i < XACCT_ARRAY_SIZE(checks); i++)
        checks[i] = xacct_check_result_name((xacct_check_result_t)i);
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(per_queue); i++)
        zero(m, per_queue[i], (const char *const *)cfg->queue_urls.items, cfg->queue_urls.n,
             NULL, 0);
    zero(m, XACCT_M_REQUESTS, types, N(types), outcomes, N(outcomes));
    zero(m, XACCT_M_CFN_ANSWERS, statuses, N(statuses), answers, N(answers));
    zero(m, XACCT_M_SAFETY_CHECKS, checks, N(checks), NULL, 0);
    zero(m, XACCT_M_REVERIFICATIONS, checks, N(checks), NULL, 0);
    zero(m, XACCT_M_EXPIRATIONS, expirations, N(expirations), NULL, 0);
    if (cfg->events_webhook_url != NULL && cfg->events_webhook_url[0] != '\0')
        zero(m, XACCT_M_WEBHOOK_DELIVERIES, deliveries, N(deliveries), NULL, 0);
}

int xacct_health_start(xacct_ctx_t *ctx, char *err, size_t errlen)
{
    const char *listen = ctx->cfg->metrics_listen;
    xacct_metrics_set(ctx->metrics, XACCT_M_START_TIME, NULL, NULL, (double)ctx->started_at);
    xacct_metrics_set(ctx->metrics, XACCT_M_BUILD_INFO, XACCT_VERSION, NULL, 1);
    zero_known_series(ctx);
    if (listen == NULL || listen[0] == '\0')
        return 0;
    char why[256] = "";
    int rc = xacct_metrics_http_new(ctx->loop, listen, xacct_health_route, ctx,
                                    &ctx->metrics_http, why, sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, "metrics.listen %s: %s", listen, why);
        return rc;
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", xacct_metrics_http_port(ctx->metrics_http));
    XACCT_LOG_INFO(&ctx->log, "metrics.listening", "listen", listen, "port", port, NULL);
    return 0;
}

void xacct_health_stop(xacct_ctx_t *ctx)
{
    xacct_metrics_http_free(ctx->metrics_http);
    ctx->metrics_http = NULL;
}
