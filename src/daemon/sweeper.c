/* SPDX-License-Identifier: MIT */
/*
 * The timer and lifecycle of a leaderless due-zset sweeper (sweeper.h): the
 * start-up enrolment walk, the take cycle (at most one take in flight), the
 * job-slot and start-rate (rate.h) accounting, the idle sleep until the
 * next due time, and the stop and deferred free. What is taken and what is
 * done with it belong to the owner.
 */
#include "xacct/sweeper.h"

#include <stdio.h>
#include <stdlib.h>

#include "xacct/rate.h"

#define FIRST_TICK_MS 1000        /* a starting worker answers its messages first */
#define IDLE_MAX_MS 60000         /* longest sleep: a reload or a new due time is seen by then */
#define STORE_DOWN_RETRY_MS 1000
#define STORE_ERROR_RETRY_MS 5000

struct xacct_sweeper {
    xacct_ctx_t *ctx;               /* borrowed */
    const xacct_sweeper_ops_t *ops; /* borrowed */
    void *owner;                    /* borrowed until release */
    uv_timer_t timer;               /* next tick; s is freed after its close callback */
    xacct_rate_t limit;             /* with a rate: the starts it allows (uv_now) */
    bool busy;                      /* a take is in flight */
    bool enrolling;                 /* an enrolment batch is in flight */
    bool enrolled;                  /* the customers zset has been walked since the
                                       start, or since it was last switched off */
    long long enrol_cursor;         /* where the next enrolment batch starts */
    bool stopped;                   /* SIGTERM or free: nothing new starts */
    bool freeing;                   /* free requested */
    bool timer_closed;              /* the timer's close callback has run */
    unsigned store_ops;             /* takes and enrolments whose reply is outstanding */
    unsigned running;               /* jobs in flight */
};

static void maybe_free(xacct_sweeper_t *s)
{
    if (s->freeing && s->timer_closed && s->store_ops == 0 && s->running == 0) {
        s->ops->release(s->owner);
        free(s);
    }
}

static void on_tick(uv_timer_t *t);

static void arm(xacct_sweeper_t *s, uint64_t delay_ms)
{
    if (s->stopped)
        return;
    uv_timer_start(&s->timer, on_tick, delay_ms, 0);
}

static unsigned cap(const xacct_sweeper_t *s)
{
    return s->ops->max_running(s->owner);
}

/* ---- the tick ------------------------------------------------------------- */

static void enrol_step(xacct_sweeper_t *s)
{
    if (s->ops->enrol(s->owner, s->enrol_cursor, s->ops->enrol_batch) != 0) {
        arm(s, STORE_DOWN_RETRY_MS);
        return;
    }
    s->enrolling = true;
    s->store_ops++;
}

static void on_tick(uv_timer_t *t)
{
    xacct_sweeper_t *s = xacct_container_of(t, xacct_sweeper_t, timer);
    if (s->stopped || s->busy || s->enrolling)
        return;
    uint64_t paused = s->ops->paused_ms != NULL ? s->ops->paused_ms(s->owner) : 0;
    if (paused > 0) {
        /* Switched off (a reload): what is activated meanwhile is not put on
         * the schedule, so the walk is done again once it is back on. */
        s->enrolled = false;
        s->enrol_cursor = 0;
        arm(s, paused);
        return;
    }
    if (!xacct_store_is_up(s->ctx->store)) {
        arm(s, STORE_DOWN_RETRY_MS);
        return;
    }
    if (s->ops->rewalk != NULL && s->ops->rewalk(s->owner)) {
        s->enrolled = false;
        s->enrol_cursor = 0;
    }
    if (!s->enrolled) {
        enrol_step(s); /* its reply arms the timer again */
        return;
    }
    size_t want = xacct_sweeper_room(s);
    if (s->ops->rate != NULL) {
        if (want == 0)
            return; /* the next finished job arms the timer */
        double rate = s->ops->rate(s->owner);
        want = xacct_rate_allowed(&s->limit, rate, uv_now(s->ctx->loop), want);
        if (want == 0) {
            arm(s, xacct_rate_wait_ms(&s->limit, rate));
            return;
        }
    }
    s->busy = true;
    s->store_ops++;
    if (s->ops->take(s->owner, want) != 0) {
        s->busy = false;
        s->store_ops--;
        arm(s, STORE_DOWN_RETRY_MS);
    }
}

/* ---- replies ---------------------------------------------------------------- */

bool xacct_sweeper_enrolled(xacct_sweeper_t *s, int status, const char *detail, long long next)
{
    s->store_ops--;
    s->enrolling = false;
    if (s->stopped) {
        maybe_free(s);
        return false;
    }
    if (status != 0) {
        char event[64];
        snprintf(event, sizeof(event), "%s.enrol_failed", s->ops->name);
        XACCT_LOG_WARN(&s->ctx->log, event, "error", xacct_errname(status), "detail",
                       detail ? detail : "", NULL);
        arm(s, STORE_ERROR_RETRY_MS);
        return false;
    }
    s->enrol_cursor = next;
    if (next == 0)
        s->enrolled = true;
    arm(s, 0);
    return true;
}

/* Ends the take in flight; false when the sweeper was stopped meanwhile. */
static bool end_take(xacct_sweeper_t *s)
{
    s->busy = false;
    s->store_ops--;
    if (s->stopped) {
        /* Taken just before the stop: their lease brings them back. */
        maybe_free(s);
        return false;
    }
    return true;
}

void xacct_sweeper_done(xacct_sweeper_t *s, int64_t next_due_ms, bool more)
{
    if (!end_take(s))
        return;
    int64_t now = xacct_store_now_ms();
    if (more || (next_due_ms >= 0 && next_due_ms <= now)) {
        if (s->running >= cap(s)) {
            /* The next finished job arms the timer; this is a backstop. */
            arm(s, IDLE_MAX_MS);
            return;
        }
        uint64_t gap =
            s->ops->rate != NULL ? xacct_rate_wait_ms(&s->limit, s->ops->rate(s->owner)) : 0;
        arm(s, gap > s->ops->again_ms ? gap : s->ops->again_ms);
        return;
    }
    uint64_t sleep = IDLE_MAX_MS;
    uint64_t max = s->ops->max_sleep_ms != NULL ? s->ops->max_sleep_ms(s->owner) : 0;
    if (max > 0 && max < sleep)
        sleep = max;
    if (next_due_ms >= 0) {
        uint64_t d = (uint64_t)(next_due_ms - now);
        if (d < s->ops->again_ms)
            d = s->ops->again_ms;
        if (d < sleep)
            sleep = d;
    }
    arm(s, sleep);
}

void xacct_sweeper_failed(xacct_sweeper_t *s, const char *event, int status, const char *detail)
{
    if (!end_take(s))
        return;
    if (event == NULL) {
        arm(s, STORE_DOWN_RETRY_MS);
        return;
    }
    XACCT_LOG_WARN(&s->ctx->log, event, "error", xacct_errname(status), "detail",
                   detail ? detail : "", NULL);
    arm(s, STORE_ERROR_RETRY_MS);
}

void xacct_sweeper_job_started(xacct_sweeper_t *s)
{
    s->running++;
    if (s->ops->rate != NULL)
        xacct_rate_take(&s->limit);
}

void xacct_sweeper_job_done(xacct_sweeper_t *s)
{
    bool was_full = s->running >= cap(s);
    s->running--;
    if (s->freeing)
        maybe_free(s);
    else if (was_full && !s->busy)
        arm(s, 0);
}

bool xacct_sweeper_stopped(const xacct_sweeper_t *s)
{
    return s->stopped;
}

size_t xacct_sweeper_room(const xacct_sweeper_t *s)
{
    unsigned c = cap(s);
    return s->running >= c ? 0 : c - s->running;
}

unsigned xacct_sweeper_running(const xacct_sweeper_t *s)
{
    return s != NULL ? s->running : 0;
}

/* ---- lifecycle ---------------------------------------------------------------- */

int xacct_sweeper_new(xacct_ctx_t *ctx, const xacct_sweeper_ops_t *ops, void *owner,
                      xacct_sweeper_t **out)
{
    *out = NULL;
    if (ctx == NULL || ctx->store == NULL || ctx->aws == NULL || ops == NULL) {
        if (ops != NULL)
            ops->release(owner);
        return XACCT_EINVAL;
    }
    xacct_sweeper_t *s = xacct_calloc(1, sizeof(*s));
    s->ctx = ctx;
    s->ops = ops;
    s->owner = owner;
    xacct_rate_init(&s->limit, uv_now(ctx->loop));
    uv_timer_init(ctx->loop, &s->timer);
    arm(s, FIRST_TICK_MS);
    *out = s;
    return 0;
}

void xacct_sweeper_reconfigured(xacct_sweeper_t *s)
{
    /* A take or an enrolment in flight arms the timer itself when it
     * answers; the tick then returns at once. */
    if (s != NULL)
        arm(s, 0);
}

void xacct_sweeper_stop(xacct_sweeper_t *s)
{
    if (s == NULL || s->stopped)
        return;
    s->stopped = true;
    uv_timer_stop(&s->timer);
    if (s->ops->cancel != NULL)
        s->ops->cancel(s->owner);
}

static void on_timer_closed(uv_handle_t *h)
{
    xacct_sweeper_t *s = xacct_container_of((uv_timer_t *)h, xacct_sweeper_t, timer);
    s->timer_closed = true;
    maybe_free(s);
}

void xacct_sweeper_free(xacct_sweeper_t *s)
{
    if (s == NULL || s->freeing)
        return;
    xacct_sweeper_stop(s);
    s->freeing = true;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
