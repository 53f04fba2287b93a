/* SPDX-License-Identifier: MIT */
/*
 * Expiry in the daemon (SPEC §9.4): every worker, without a leader, expires
 * pending customers whose onboarding is older than onboard.pending_ttl (one
 * script per bounded batch, expiry.h) and works off the shared cleanup zset
 * (templates to delete, topic policies to rewrite: cancel.h), a few entries
 * at a time, on the same loop as the message pipeline and never in its way:
 * every step is asynchronous. onboard.pending_ttl 0 stops expiring (the
 * clean-ups still run); it is reloadable.
 */
#ifndef XACCT_EXPIRER_H
#define XACCT_EXPIRER_H

#include "xacct/common.h"
#include "xacct/ctx.h"

typedef struct xacct_expirer xacct_expirer_t;

/* Creates the expirer on ctx's loop (ctx, its store, AWS client and config
 * are borrowed and must outlive it) and starts its timer. */
int xacct_expirer_start(xacct_ctx_t *ctx, xacct_expirer_t **out) XACCT_MUSTCHECK;

/* SIGTERM: takes nothing more. Clean-ups in flight finish or fail on their
 * own; an unfinished one is taken again by any worker once its lease ends. */
void xacct_expirer_stop(xacct_expirer_t *e);

/* Stops (as above) and releases the expirer once its last store reply,
 * clean-up and handle close have come back, so keep running the loop. NULL
 * does nothing. */
void xacct_expirer_free(xacct_expirer_t *e);

#endif
