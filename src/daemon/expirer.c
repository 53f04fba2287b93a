/* SPDX-License-Identifier: MIT */
/*
 * The expiry job of one worker, on the shared sweeper (sweeper.h): a take
 * expires one bounded batch of due pending customers, releases one bounded
 * batch of reservations whose lease ended without a commit or release (a
 * process killed half-way through an onboarding or rotation), then takes due
 * cleanup entries (leased, so no other worker takes them meanwhile) and
 * starts their clean-ups, at most MAX_RUNNING at once. The sweeper sleeps
 * until the next onboarding would expire, reservation lapse or clean-up is
 * due.
 */
#include "xacct/expirer.h"

#include <stdio.h>
#include <stdlib.h>

#include "xacct/cancel.h"
#include "xacct/codec.h"
#include "xacct/customers.h"
#include "xacct/expiry.h"
#include "xacct/metrics.h"

#define BATCH 100                /* customers expired per script: a short script */
#define MAX_RUNNING 16           /* clean-ups in flight per worker */
#define CLEANUP_LEASE_MS 300000  /* a taken clean-up is not taken again for this long */
#define ENROL_BATCH 500          /* customers looked at per enrolment script */
#define AGAIN_MS 50              /* a full batch: the next one soon, after other work */

typedef struct expirer {
    xacct_ctx_t *ctx;        /* borrowed */
    xacct_sweeper_t *sw;     /* owned; frees e through release */
    bool more;               /* this take's expiry or reservation batch was full */
    int64_t next_ms;         /* when the next onboarding expires, reservation lapses or
                                clean-up is due (-1) */
    size_t want;             /* clean-ups this take may start */
} expirer_t;

static void keep_earliest(expirer_t *e, int64_t t)
{
    if (t >= 0 && (e->next_ms < 0 || t < e->next_ms))
        e->next_ms = t;
}

/* ---- clean-ups --------------------------------------------------------------- */

static void on_cleaned(int status, const char *detail, void *arg)
{
    expirer_t *e = arg;
    if (status != 0 && !xacct_sweeper_stopped(e->sw)) {
        xacct_metrics_inc(e->ctx->metrics, XACCT_M_EXPIRATIONS, "cleanup_failed", NULL);
        XACCT_LOG_WARN(&e->ctx->log, "expiry.cleanup_failed", "error", xacct_errname(status),
                       "detail", detail ? detail : "", "action", "retrying with backoff", NULL);
    } else if (status == 0) {
        xacct_metrics_inc(e->ctx->metrics, XACCT_M_EXPIRATIONS, "cleaned", NULL);
        XACCT_LOG_DEBUG(&e->ctx->log, "expiry.cleaned", NULL);
    }
    xacct_sweeper_job_done(e->sw);
}

static void on_cleanups(int status, const char *detail, const char *const *members, size_t n,
                        int64_t next_due_ms, void *arg)
{
    expirer_t *e = arg;
    if (status != 0 || xacct_sweeper_stopped(e->sw)) {
        xacct_sweeper_failed(e->sw, "expiry.take_failed", status, detail);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (xacct_cancel_cleanup(e->ctx, members[i], on_cleaned, e) == 0)
            xacct_sweeper_job_started(e->sw);
    }
    keep_earliest(e, next_due_ms);
    xacct_sweeper_done(e->sw, e->next_ms, e->more);
}

static void take_cleanups(expirer_t *e)
{
    if (e->want == 0) {
        /* Every slot is busy: the next finished clean-up arms the timer. */
        xacct_sweeper_done(e->sw, e->next_ms, e->more);
        return;
    }
    int64_t now = xacct_store_now_ms();
    if (xacct_expiry_cleanup_take(e->ctx->store, now, e->want, now + CLEANUP_LEASE_MS,
                                  on_cleanups, e) != 0)
        xacct_sweeper_failed(e->sw, NULL, 0, NULL);
}

/* ---- lapsed reservations ------------------------------------------------------ */

static void on_lapsed(int status, const char *detail, long long released, long long looked_at,
                      int64_t next_due_ms, void *arg)
{
    expirer_t *e = arg;
    if (status != 0 || xacct_sweeper_stopped(e->sw)) {
        xacct_sweeper_failed(e->sw, "expiry.release_failed", status, detail);
        return;
    }
    if (released > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%lld", released);
        XACCT_LOG_INFO(&e->ctx->log, "expiry.reservations_released", "reservations", n, NULL);
        xacct_metrics_add(e->ctx->metrics, XACCT_M_EXPIRATIONS, "released", NULL, (double)released);
    }
    e->more = e->more || looked_at >= BATCH;
    keep_earliest(e, next_due_ms);
    take_cleanups(e); /* what it queued is due now */
}

/* Reservations whose holder died: their clean-up is queued by the same
 * script, so it is taken below in this same take. */
static void release_lapsed(expirer_t *e)
{
    int64_t now = xacct_store_now_ms();
    if (xacct_customers_release_lapsed(e->ctx->store, now, BATCH, on_lapsed, e) != 0)
        xacct_sweeper_failed(e->sw, NULL, 0, NULL);
}

/* ---- expiry ---------------------------------------------------------------- */

static void on_expired(int status, const char *detail, long long expired, long long looked_at,
                       int64_t next_pending_ms, void *arg)
{
    expirer_t *e = arg;
    if (status != 0 || xacct_sweeper_stopped(e->sw)) {
        xacct_sweeper_failed(e->sw, "expiry.expire_failed", status, detail);
        return;
    }
    if (expired > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%lld", expired);
        XACCT_LOG_INFO(&e->ctx->log, "expiry.expired", "customers", n, NULL);
        xacct_metrics_add(e->ctx->metrics, XACCT_M_EXPIRATIONS, "expired", NULL,
                          (double)expired);
    }
    e->more = looked_at >= BATCH;
    long ttl = e->ctx->cfg->onboard_pending_ttl;
    if (next_pending_ms >= 0 && ttl > 0)
        keep_earliest(e, next_pending_ms + (int64_t)ttl * 1000);
    release_lapsed(e);
}

static int take(void *owner, size_t want)
{
    expirer_t *e = owner;
    e->more = false;
    e->next_ms = -1;
    e->want = want;
    long ttl = e->ctx->cfg->onboard_pending_ttl;
    int64_t now = xacct_store_now_ms();
    int64_t cutoff = xacct_expiry_cutoff_ms(now, ttl);
    if (cutoff < 0) {
        release_lapsed(e); /* expiry is off; reservations and clean-ups still run */
        return 0;
    }
    char reason[128];
    snprintf(reason, sizeof(reason), "no stack connected within onboard.pending_ttl (%ld s)",
             ttl);
    xacct_event_t ev = {
        .v = XACCT_CODEC_VERSION,
        .ts = now,
        .type = "expired",
        .outcome = "ok",
        .reason = reason,
        .actor = e->ctx->worker_id,
    };
    return xacct_expiry_take(e->ctx->store, now, cutoff, BATCH, &ev, reason, on_expired, e);
}

/* Once per start, pending customers onboarded before expiry existed are put
 * on the pending zset, a batch at a time. */
static void on_enrolled(int status, const char *detail, long long n, long long next, void *arg)
{
    expirer_t *e = arg;
    if (!xacct_sweeper_enrolled(e->sw, status, detail, next) || n <= 0)
        return;
    char c[24];
    snprintf(c, sizeof(c), "%lld", n);
    XACCT_LOG_INFO(&e->ctx->log, "expiry.enrolled", "customers", c, NULL);
}

static int enrol(void *owner, long long cursor, size_t batch)
{
    expirer_t *e = owner;
    return xacct_expiry_enrol_missing(e->ctx->store, cursor, (long long)batch, on_enrolled, e);
}

static unsigned max_running(void *owner)
{
    (void)owner;
    return MAX_RUNNING;
}

static void release(void *owner)
{
    free(owner);
}

static const xacct_sweeper_ops_t ops = {
    .name = "expiry",
    .enrol = enrol,
    .take = take,
    .max_running = max_running,
    .release = release,
    .again_ms = AGAIN_MS,
    .enrol_batch = ENROL_BATCH,
};

/* ---- start ------------------------------------------------------------------ */

int xacct_expirer_start(xacct_ctx_t *ctx, xacct_sweeper_t **out)
{
    expirer_t *e = xacct_calloc(1, sizeof(*e));
    e->ctx = ctx;
    e->next_ms = -1;
    int rc = xacct_sweeper_new(ctx, &ops, e, out); /* on failure e is released */
    if (rc == 0)
        e->sw = *out;
    return rc;
}
