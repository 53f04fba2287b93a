/* SPDX-License-Identifier: MIT */
/*
 * Re-verification in the daemon (SPEC §9.2): every worker takes due accounts
 * from the shared `reverify` schedule (reverify.h) and runs the three-probe
 * safety check (check.h) on each, at most check.reverify_rate starts per
 * second (a token bucket, so a schedule with thousands of accounts due at
 * once is worked off at that pace), on the same loop as the message pipeline
 * and never in its way: every step is asynchronous. The outcome is recorded
 * by the schedule's record script: secure -> verified_at (degraded ->
 * active), drifted -> degraded with last_error, transient -> nothing but a
 * sooner retry. check.reverify_interval 0 turns it off (reloadable).
 */
#ifndef XACCT_REVERIFIER_H
#define XACCT_REVERIFIER_H

#include "xacct/common.h"
#include "xacct/ctx.h"
#include "xacct/sweeper.h"

/* Starts the reverifier on ctx's loop (ctx, its store, AWS client, config
 * and metrics are borrowed and must outlive it): a sweeper (sweeper.h) whose
 * stop and free are the reverifier's, and xacct_sweeper_running its checks
 * in flight. Its stop cancels the checks in flight; each canceled account is
 * handed back to the schedule as due now (best effort: another worker takes
 * it; if Redis is gone its lease runs out instead). */
int xacct_reverifier_start(xacct_ctx_t *ctx, xacct_sweeper_t **out) XACCT_MUSTCHECK;

#endif
