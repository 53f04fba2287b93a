/* SPDX-License-Identifier: MIT */
/*
 * Keeps the customers-by-state gauge fresh: a timer counts the customers in
 * Redis every 30 seconds and sets one series per state, with 0 for the
 * states of SPEC §5 that have no customers right now, so a dashboard sees a
 * state empty out instead of a series vanishing. A state this build does
 * not know is shown while customers are in it, and its series removed once
 * none are (it would otherwise keep its last count for ever).
 */
#include "xacct/census_gauge.h"

#include <stdlib.h>
#include <string.h>

#include "xacct/census.h"
#include "xacct/metrics.h"

#define FIRST_MS 2000
#define EVERY_MS 30000
#define RETRY_MS 5000

static const char *const known_states[] = {
    "pending",  "active",     "degraded", "rejected", "offboarding",
    "offboarded", "expired",  "cancelled",
};

struct xacct_census_gauge {
    xacct_ctx_t *ctx;   /* borrowed */
    char **shown;       /* unknown states given a series by the last count */
    size_t nshown;
    uv_timer_t timer;   /* next count; g is freed after it closed */
    bool counting;      /* a count is in flight */
    bool stopped;
    bool freeing;
    bool timer_closed;
};

static void forget_shown(xacct_census_gauge_t *g)
{
    for (size_t i = 0; i < g->nshown; i++)
        free(g->shown[i]);
    free(g->shown);
    g->shown = NULL;
    g->nshown = 0;
}

static void maybe_free(xacct_census_gauge_t *g)
{
    if (g->freeing && g->timer_closed && !g->counting) {
        forget_shown(g);
        free(g);
    }
}

static bool known_state(const char *state)
{
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(known_states); i++)
        if (strcmp(state, known_states[i]) == 0)
            return true;
    return false;
}

/* Shows the counted states this build does not know, and removes the series
 * of those no customer is in any more. */
static void show_unknown(xacct_census_gauge_t *g, const xacct_census_count_t *counts, size_t n)
{
    xacct_metrics_t *m = g->ctx->metrics;
    for (size_t i = 0; i < g->nshown; i++) {
        bool still = false;
        for (size_t k = 0; k < n && !still; k++)
            still = strcmp(counts[k].state, g->shown[i]) == 0;
        if (!still)
            xacct_metrics_unset(m, XACCT_M_CUSTOMERS, g->shown[i], NULL);
    }
    forget_shown(g);
    g->shown = xacct_calloc(n ? n : 1, sizeof(*g->shown));
    for (size_t k = 0; k < n; k++) {
        if (known_state(counts[k].state))
            continue;
        xacct_metrics_set(m, XACCT_M_CUSTOMERS, counts[k].state, NULL, (double)counts[k].count);
        g->shown[g->nshown++] = xacct_strdup(counts[k].state);
    }
}

static void on_tick(uv_timer_t *t);

static void arm(xacct_census_gauge_t *g, uint64_t ms)
{
    if (!g->stopped)
        uv_timer_start(&g->timer, on_tick, ms, 0);
}

static void on_counted(int status, const char *detail, const xacct_census_count_t *counts,
                       size_t n, void *arg)
{
    xacct_census_gauge_t *g = arg;
    g->counting = false;
    if (g->stopped) {
        maybe_free(g);
        return;
    }
    if (status != 0) {
        XACCT_LOG_DEBUG(&g->ctx->log, "census.failed", "error", xacct_errname(status), "detail",
                        detail ? detail : "", NULL);
        arm(g, RETRY_MS);
        return;
    }
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(known_states); i++) {
        double v = 0;
        for (size_t k = 0; k < n; k++)
            if (strcmp(counts[k].state, known_states[i]) == 0)
                v = (double)counts[k].count;
        xacct_metrics_set(g->ctx->metrics, XACCT_M_CUSTOMERS, known_states[i], NULL, v);
    }
    /* A state this build does not know (a newer worker's) is shown too. */
    show_unknown(g, counts, n);
    arm(g, EVERY_MS);
}

static void on_tick(uv_timer_t *t)
{
    xacct_census_gauge_t *g = xacct_container_of(t, xacct_census_gauge_t, timer);
    if (g->stopped || g->counting)
        return;
    if (!xacct_store_is_up(g->ctx->store) ||
        xacct_census_count(g->ctx->store, on_counted, g) != 0) {
        arm(g, RETRY_MS);
        return;
    }
    g->counting = true;
}

int xacct_census_gauge_start(xacct_ctx_t *ctx, xacct_census_gauge_t **out)
{
    *out = NULL;
    if (ctx == NULL || ctx->store == NULL)
        return XACCT_EINVAL;
    xacct_census_gauge_t *g = xacct_calloc(1, sizeof(*g));
    g->ctx = ctx;
    uv_timer_init(ctx->loop, &g->timer);
    arm(g, FIRST_MS);
    *out = g;
    return 0;
}

void xacct_census_gauge_stop(xacct_census_gauge_t *g)
{
    if (g == NULL || g->stopped)
        return;
    g->stopped = true;
    uv_timer_stop(&g->timer);
}

static void on_closed(uv_handle_t *h)
{
    xacct_census_gauge_t *g = xacct_container_of((uv_timer_t *)h, xacct_census_gauge_t, timer);
    g->timer_closed = true;
    maybe_free(g);
}

void xacct_census_gauge_free(xacct_census_gauge_t *g)
{
    if (g == NULL || g->freeing)
        return;
    xacct_census_gauge_stop(g);
    g->freeing = true;
    uv_close((uv_handle_t *)&g->timer, on_closed);
}
