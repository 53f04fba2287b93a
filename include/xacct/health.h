/* SPDX-License-Identifier: MIT */
/*
 * The daemon's observability endpoint on metrics.listen:
 *   GET /metrics  the counters of ctx->metrics plus gauges read at scrape
 *                 time (in flight, Redis, credentials, polling);
 *   GET /healthz  200 while the loop runs (answering at all proves it);
 *   GET /readyz   200 when Redis is connected, valid AWS credentials are
 *                 cached and the worker is polling; 503 with the failing
 *                 checks otherwise (quiet, draining, Redis down, ...).
 */
#ifndef XACCT_HEALTH_H
#define XACCT_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/buf.h"
#include "xacct/ctx.h"

/* Listens on ctx->cfg->metrics_listen (nothing to do when it is empty) and
 * stores the server in ctx->metrics_http. Returns 0 or an error with err
 * set for the operator. */
int xacct_health_start(xacct_ctx_t *ctx, char *err, size_t errlen) XACCT_MUSTCHECK;

/* Stops listening (its handles close on the loop). */
void xacct_health_stop(xacct_ctx_t *ctx);

/* Sets the gauges that are read rather than counted. */
void xacct_health_collect(xacct_ctx_t *ctx);

/* Appends one "<check> ok|<why>" line per readiness check to out (may be
 * NULL) and returns whether all passed. */
bool xacct_health_ready(xacct_ctx_t *ctx, xacct_buf_t *out);

/* The route behind the endpoint (exposed for tests). */
int xacct_health_route(void *ctx, const char *path, xacct_buf_t *body, const char **content_type);

#endif
