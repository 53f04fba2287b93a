/* SPDX-License-Identifier: MIT */
/*
 * The expiry loop of one worker, shaped like the re-verifier's: a timer
 * expires one bounded batch of due pending customers, then takes due
 * cleanup entries (leased, so no other worker takes them meanwhile) and
 * starts their clean-ups, at most MAX_RUNNING at once. When nothing is due
 * the timer sleeps until the next onboarding would expire or the next
 * clean-up is due (at most a minute), so an idle worker does not poll Redis.
 */
#include "xacct/expirer.h"

#include <stdio.h>
#include <stdlib.h>

#include "xacct/cancel.h"
#include "xacct/codec.h"
#include "xacct/expiry.h"

#define FIRST_TICK_MS 1000       /* a starting worker answers its messages first */
#define IDLE_MAX_MS 60000        /* longest sleep: a reload or a cancel's left-over is seen */
#define STORE_DOWN_RETRY_MS 1000
#define STORE_ERROR_RETRY_MS 5000
#define BATCH 100                /* customers expired per script: a short script */
#define MAX_RUNNING 16           /* clean-ups in flight per worker */
#define CLEANUP_LEASE_MS 300000  /* a taken clean-up is not taken again for this long */
#define ENROL_BATCH 500          /* customers looked at per enrolment script */
#define AGAIN_MS 50              /* a full batch: the next one soon, after other work */

struct xacct_expirer {
    xacct_ctx_t *ctx;        /* borrowed */
    uv_timer_t timer;        /* next sweep; e is freed in its close callback (or after) */
    bool busy;               /* a sweep (expire, then take clean-ups) is in flight */
    bool more;               /* the last sweep found a full batch */
    int64_t next_ms;         /* when the next onboarding expires or clean-up is due (-1) */
    bool enrolling;          /* an enrolment batch is in flight */
    bool enrolled;           /* the customers zset has been walked once */
    long long enrol_cursor;  /* where the next enrolment batch starts */
    bool stopped;            /* SIGTERM or free: nothing new starts */
    bool freeing;            /* free requested */
    bool timer_closed;       /* the timer's close callback has run */
    unsigned store_ops;      /* replies outstanding */
    unsigned running;        /* clean-ups in flight */
};

static const xacct_config_t *cfg(const xacct_expirer_t *e)
{
    return e->ctx->cfg;
}

static void maybe_free(xacct_expirer_t *e)
{
    if (e->freeing && e->timer_closed && e->store_ops == 0 && e->running == 0)
        free(e);
}

static void on_tick(uv_timer_t *t);

static void arm(xacct_expirer_t *e, uint64_t delay_ms)
{
    if (e->stopped)
        return;
    uv_timer_start(&e->timer, on_tick, delay_ms, 0);
}

static void keep_earliest(xacct_expirer_t *e, int64_t t)
{
    if (t >= 0 && (e->next_ms < 0 || t < e->next_ms))
        e->next_ms = t;
}

/* After a sweep: at once when a batch was full, else until the next due
 * time, at most a minute. */
static void arm_next(xacct_expirer_t *e)
{
    if (e->more) {
        arm(e, AGAIN_MS);
        return;
    }
    uint64_t sleep = IDLE_MAX_MS;
    int64_t now = xacct_store_now_ms();
    if (e->next_ms >= 0) {
        int64_t d = e->next_ms - now;
        if (d < (int64_t)AGAIN_MS)
            d = AGAIN_MS;
        if ((uint64_t)d < sleep)
            sleep = (uint64_t)d;
    }
    arm(e, sleep);
}

/* ---- clean-ups --------------------------------------------------------------- */

static void on_cleaned(int status, const char *detail, void *arg)
{
    xacct_expirer_t *e = arg;
    bool was_full = e->running >= MAX_RUNNING;
    e->running--;
    if (status != 0 && !e->stopped)
        XACCT_LOG_WARN(&e->ctx->log, "expiry.cleanup_failed", "error", xacct_errname(status),
                       "detail", detail ? detail : "", "action", "retrying with backoff", NULL);
    else if (status == 0)
        XACCT_LOG_DEBUG(&e->ctx->log, "expiry.cleaned", NULL);
    if (e->freeing)
        maybe_free(e);
    else if (was_full && !e->busy)
        arm(e, 0);
}

static void on_cleanups(int status, const char *detail, const char *const *members, size_t n,
                        int64_t next_due_ms, void *arg)
{
    xacct_expirer_t *e = arg;
    e->store_ops--;
    e->busy = false;
    if (e->stopped) {
        /* Taken just before the stop: their lease brings them back. */
        maybe_free(e);
        return;
    }
    if (status != 0) {
        XACCT_LOG_WARN(&e->ctx->log, "expiry.take_failed", "error", xacct_errname(status),
                       "detail", detail ? detail : "", NULL);
        arm(e, STORE_ERROR_RETRY_MS);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (xacct_cancel_cleanup(e->ctx, members[i], on_cleaned, e) == 0)
            e->running++;
    }
    keep_earliest(e, next_due_ms);
    if (n > 0 && e->running >= MAX_RUNNING) {
        /* The last clean-up to finish of a full house arms the timer. */
        if (e->more || (next_due_ms >= 0 && next_due_ms <= xacct_store_now_ms()))
            return;
    }
    arm_next(e);
}

static void take_cleanups(xacct_expirer_t *e)
{
    if (e->running >= MAX_RUNNING) {
        e->busy = false;
        return; /* the next finished clean-up arms the timer */
    }
    int64_t now = xacct_store_now_ms();
    size_t want = MAX_RUNNING - e->running;
    if (xacct_expiry_cleanup_take(e->ctx->store, now, want, now + CLEANUP_LEASE_MS, on_cleanups,
                                  e) != 0) {
        e->busy = false;
        arm(e, STORE_DOWN_RETRY_MS);
        return;
    }
    e->store_ops++;
}

/* ---- expiry ---------------------------------------------------------------- */

static void on_expired(int status, const char *detail, long long expired, long long looked_at,
                       int64_t next_pending_ms, void *arg)
{
    xacct_expirer_t *e = arg;
    e->store_ops--;
    if (e->stopped) {
        e->busy = false;
        maybe_free(e);
        return;
    }
    if (status != 0) {
        e->busy = false;
        XACCT_LOG_WARN(&e->ctx->log, "expiry.expire_failed", "error", xacct_errname(status),
                       "detail", detail ? detail : "", NULL);
        arm(e, STORE_ERROR_RETRY_MS);
        return;
    }
    if (expired > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%lld", expired);
        XACCT_LOG_INFO(&e->ctx->log, "expiry.expired", "customers", n, NULL);
    }
    e->more = looked_at >= BATCH;
    long ttl = cfg(e)->onboard_pending_ttl;
    if (next_pending_ms >= 0 && ttl > 0)
        keep_earliest(e, next_pending_ms + (int64_t)ttl * 1000);
    take_cleanups(e);
}

static void expire_batch(xacct_expirer_t *e)
{
    long ttl = cfg(e)->onboard_pending_ttl;
    int64_t now = xacct_store_now_ms();
    int64_t cutoff = xacct_expiry_cutoff_ms(now, ttl);
    if (cutoff < 0) {
        take_cleanups(e); /* expiry is off; clean-ups left over still run */
        return;
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
    if (xacct_expiry_take(e->ctx->store, now, cutoff, BATCH, &ev, reason, on_expired, e) != 0) {
        e->busy = false;
        arm(e, STORE_DOWN_RETRY_MS);
        return;
    }
    e->store_ops++;
}

/* Once per start, pending customers onboarded before expiry existed are put
 * on the pending zset, a batch at a time. */
static void on_enrolled(int status, const char *detail, long long n, long long next, void *arg)
{
    xacct_expirer_t *e = arg;
    e->store_ops--;
    e->enrolling = false;
    if (e->stopped) {
        maybe_free(e);
        return;
    }
    if (status != 0) {
        XACCT_LOG_WARN(&e->ctx->log, "expiry.enrol_failed", "error", xacct_errname(status),
                       "detail", detail ? detail : "", NULL);
        arm(e, STORE_ERROR_RETRY_MS);
        return;
    }
    e->enrol_cursor = next;
    if (next == 0)
        e->enrolled = true;
    if (n > 0) {
        char c[24];
        snprintf(c, sizeof(c), "%lld", n);
        XACCT_LOG_INFO(&e->ctx->log, "expiry.enrolled", "customers", c, NULL);
    }
    arm(e, 0);
}

static void on_tick(uv_timer_t *t)
{
    xacct_expirer_t *e = xacct_container_of(t, xacct_expirer_t, timer);
    if (e->stopped || e->busy || e->enrolling)
        return;
    if (!xacct_store_is_up(e->ctx->store)) {
        arm(e, STORE_DOWN_RETRY_MS);
        return;
    }
    if (!e->enrolled) {
        if (xacct_expiry_enrol_missing(e->ctx->store, e->enrol_cursor, ENROL_BATCH, on_enrolled,
                                       e) == 0) {
            e->enrolling = true;
            e->store_ops++;
        } else {
            arm(e, STORE_DOWN_RETRY_MS);
        }
        return;
    }
    e->busy = true;
    e->more = false;
    e->next_ms = -1;
    expire_batch(e);
}

/* ---- lifecycle ----------------------------------------------------------------- */

int xacct_expirer_start(xacct_ctx_t *ctx, xacct_expirer_t **out)
{
    *out = NULL;
    if (ctx == NULL || ctx->store == NULL || ctx->aws == NULL)
        return XACCT_EINVAL;
    xacct_expirer_t *e = xacct_calloc(1, sizeof(*e));
    e->ctx = ctx;
    e->next_ms = -1;
    uv_timer_init(ctx->loop, &e->timer);
    arm(e, FIRST_TICK_MS);
    *out = e;
    return 0;
}

void xacct_expirer_stop(xacct_expirer_t *e)
{
    if (e == NULL || e->stopped)
        return;
    e->stopped = true;
    uv_timer_stop(&e->timer);
}

static void on_timer_closed(uv_handle_t *h)
{
    xacct_expirer_t *e = xacct_container_of((uv_timer_t *)h, xacct_expirer_t, timer);
    e->timer_closed = true;
    maybe_free(e);
}

void xacct_expirer_free(xacct_expirer_t *e)
{
    if (e == NULL || e->freeing)
        return;
    xacct_expirer_stop(e);
    e->freeing = true;
    uv_close((uv_handle_t *)&e->timer, on_timer_closed);
}
