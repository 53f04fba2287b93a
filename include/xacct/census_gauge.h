/* SPDX-License-Identifier: MIT */
/*
 * The xacct_customers{state} gauge of the daemon: refreshed from Redis
 * (census.h) every 30 seconds, so a scrape reads memory only.
 */
#ifndef XACCT_CENSUS_GAUGE_H
#define XACCT_CENSUS_GAUGE_H

#include "xacct/common.h"
#include "xacct/ctx.h"

typedef struct xacct_census_gauge xacct_census_gauge_t;

/* Starts the refresh timer on ctx's loop (ctx, its store and metrics are
 * borrowed and must outlive it). */
int xacct_census_gauge_start(xacct_ctx_t *ctx, xacct_census_gauge_t **out) XACCT_MUSTCHECK;

/* Stops refreshing (SIGTERM). */
void xacct_census_gauge_stop(xacct_census_gauge_t *g);

/* Stops and releases it once a count in flight has come back and the timer
 * has closed, so keep running the loop. NULL does nothing. */
void xacct_census_gauge_free(xacct_census_gauge_t *g);

#endif
