/* SPDX-License-Identifier: MIT */
/*
 * The re-verification loop of one worker: a timer takes due accounts from the
 * shared schedule as the token bucket allows, runs the three-probe check on
 * each and records the outcome. When nothing is due the timer sleeps until
 * the earliest due time (at most a minute, or one interval), so an idle
 * worker does not poll Redis. While a rotation is pending the check may get
 * in with the pending ID (the stack's update changed the role before its
 * Update message arrived): that is secure, and said in the log and the audit
 * trail; the IDs are swapped only by that Update.
 */
#include "xacct/reverifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"
#include "xacct/check.h"
#include "xacct/metrics.h"
#include "xacct/reverify.h"

#define IDLE_MAX_MS 60000         /* longest sleep: a reload or a new due time is seen by then */
#define OFF_RECHECK_MS 60000      /* interval 0: look at the configuration again after this */
#define STORE_DOWN_RETRY_MS 1000
#define STORE_ERROR_RETRY_MS 5000
#define CHECK_DEADLINE_MS 60000   /* transient STS failures are retried this long ... */
#define CHECK_DEADLINE_MIN_MS 5000 /* ... or half an interval, but at least this */
#define LEASE_MIN_MS 120000       /* a taken account is not taken again for this long */
#define PROPAGATION_MAX_MS 10000  /* a verified role that is denied is denied; retry briefly */
#define TRANSIENT_RETRY_MAX_S 300 /* transient outcome: next try within this (or the interval) */
#define SPREAD 0.1                /* due times are jittered by +-10 % of the interval */
#define ENROL_BATCH 500           /* customers looked at per enrolment script */

typedef struct job job_t;

struct xacct_reverifier {
    xacct_ctx_t *ctx;      /* borrowed */
    uv_timer_t timer;      /* next take; r is freed in its close callback (or after) */
    double tokens;         /* token bucket: starts allowed now */
    uint64_t refill_ms;    /* uv_now of the last refill */
    bool taking;           /* a take is in flight */
    bool enrolling;        /* an enrolment batch is in flight */
    bool enrolled;         /* the customers zset has been walked once */
    long long enrol_cursor; /* where the next enrolment batch starts */
    long long enrol_total; /* accounts this worker put on the schedule at start */
    bool stopped;          /* SIGTERM or free: nothing new starts */
    bool freeing;          /* free requested */
    bool timer_closed;     /* the timer's close callback has run */
    unsigned store_ops;    /* takes and records whose reply is outstanding */
    unsigned running;      /* jobs alive (check or record in flight) */
    job_t *jobs;           /* every job alive, doubly linked */
};

struct job {
    xacct_reverifier_t *r;
    job_t *prev, *next;
    char account[32];
    char *role_arn;        /* owned */
    char *external_id;     /* owned, secret */
    char *pending_id;      /* owned, secret: a rotation's pending ID, "" when none */
    xacct_customer_role_id_t trusted; /* the ID the check got in with */
    xacct_check_t *check;  /* in flight, or NULL */
};

static const xacct_config_t *cfg(const xacct_reverifier_t *r)
{
    return r->ctx->cfg;
}

static void maybe_free(xacct_reverifier_t *r)
{
    if (r->freeing && r->timer_closed && r->store_ops == 0 && r->running == 0)
        free(r);
}

static void job_free(job_t *j)
{
    xacct_reverifier_t *r = j->r;
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        r->jobs = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    free(j->role_arn);
    xacct_free_secret(j->external_id);
    xacct_free_secret(j->pending_id);
    free(j);
    r->running--;
}

/* The most checks in flight at once: enough for the rate while STS is slow,
 * bounded so that a stuck STS cannot grow memory. */
static unsigned max_running(const xacct_reverifier_t *r)
{
    long n = (long)cfg(r)->check_reverify_rate * 10;
    return (unsigned)(n < 8 ? 8 : n > 2000 ? 2000 : n);
}

/* A burst of a tenth of a second's worth: starts are spread out, never
 * bunched up after an idle spell. */
static double bucket_size(const xacct_reverifier_t *r)
{
    double b = cfg(r)->check_reverify_rate / 10.0;
    return b < 1.0 ? 1.0 : b;
}

static void refill(xacct_reverifier_t *r)
{
    uint64_t now = uv_now(r->ctx->loop);
    double add = (double)(now - r->refill_ms) * cfg(r)->check_reverify_rate / 1000.0;
    r->refill_ms = now;
    r->tokens += add;
    if (r->tokens > bucket_size(r))
        r->tokens = bucket_size(r);
}

static uint64_t ms_to_next_token(const xacct_reverifier_t *r)
{
    if (r->tokens >= 1.0)
        return 0;
    return (uint64_t)((1.0 - r->tokens) * 1000.0 / cfg(r)->check_reverify_rate) + 1;
}

static void on_tick(uv_timer_t *t);

static void arm(xacct_reverifier_t *r, uint64_t delay_ms)
{
    if (r->stopped)
        return;
    uv_timer_start(&r->timer, on_tick, delay_ms, 0);
}

/* ---- recording an outcome ---------------------------------------------- */

static void on_recorded(int status, const char *detail, xacct_reverify_result_t result,
                        void *arg)
{
    job_t *j = arg;
    xacct_reverifier_t *r = j->r;
    r->store_ops--;
    xacct_log_t *lg = &r->ctx->log;
    if (status != 0) {
        if (!r->stopped)
            XACCT_LOG_WARN(lg, "reverify.record_failed", "account", j->account, "error",
                           xacct_errname(status), "detail", detail ? detail : "", "action",
                           "the lease runs out and the account is checked again", NULL);
    } else if (result == XACCT_REVERIFY_DEGRADED || result == XACCT_REVERIFY_RECOVERED) {
        XACCT_LOG_INFO(lg, "reverify.state", "account", j->account, "role_arn", j->role_arn,
                       "result", xacct_reverify_result_name(result), NULL);
    } else {
        XACCT_LOG_DEBUG(lg, "reverify.recorded", "account", j->account, "result",
                        xacct_reverify_result_name(result), NULL);
    }
    bool was_full = r->running >= max_running(r);
    job_free(j);
    if (r->freeing)
        maybe_free(r);
    else if (was_full && !r->taking)
        arm(r, 0);
}

static void record(job_t *j, xacct_reverify_outcome_t outcome, const char *reason,
                   int64_t next_due_ms)
{
    xacct_reverifier_t *r = j->r;
    int64_t now = xacct_store_now_ms();
    xacct_event_t degraded = {
        .v = XACCT_CODEC_VERSION,
        .ts = now,
        .type = "degraded",
        .outcome = "failed",
        .reason = reason,
        .actor = r->ctx->worker_id,
    };
    xacct_event_t recovered = {
        .v = XACCT_CODEC_VERSION,
        .ts = now,
        .type = "recovered",
        .outcome = "success",
        .reason = "re-verified: assumable only with the external ID",
        .actor = r->ctx->worker_id,
    };
    xacct_event_t pending_trusted = {
        .v = XACCT_CODEC_VERSION,
        .ts = now,
        .type = "reverified",
        .outcome = "success",
        .reason = "re-verified with the pending external ID: the role already trusts it "
                  "instead of the current one; the IDs are swapped when the stack's Update "
                  "arrives",
        .actor = r->ctx->worker_id,
    };
    bool with_pending =
        outcome == XACCT_REVERIFY_SECURE && j->trusted == XACCT_CUSTOMER_ROLE_PENDING;
    xacct_reverify_record_t in = {
        .account_id = j->account,
        .role_arn = j->role_arn,
        .external_id = j->external_id,
        .pending_external_id = j->pending_id,
        .outcome = outcome,
        .reason = reason,
        .next_due_ms = next_due_ms > 0 ? next_due_ms : now,
        .degraded_event = &degraded,
        .recovered_event = &recovered,
        .pending_trusted_event = with_pending ? &pending_trusted : NULL,
        .now_ms = now,
    };
    if (xacct_reverify_record(r->ctx->store, &in, on_recorded, j) == 0) {
        r->store_ops++;
        return;
    }
    /* The store is going away; the lease brings the account back later. */
    job_free(j);
    if (r->freeing)
        maybe_free(r);
}

static void on_check(xacct_check_result_t result, const char *detail, unsigned attempts,
                     void *arg)
{
    (void)attempts;
    job_t *j = arg;
    xacct_reverifier_t *r = j->r;
    j->check = NULL;
    int64_t now = xacct_store_now_ms();
    long interval = cfg(r)->check_reverify_interval;
    int64_t next = xacct_reverify_next_due(now, interval, SPREAD);
    char why[1024];
    if (result != XACCT_CHECK_CANCELED)
        xacct_metrics_inc(r->ctx->metrics, XACCT_M_REVERIFICATIONS,
                          xacct_check_result_name(result), NULL);
    switch (result) {
    case XACCT_CHECK_SECURE:
        if (j->trusted == XACCT_CUSTOMER_ROLE_PENDING)
            XACCT_LOG_INFO(&r->ctx->log, "reverify.pending_trusted", "account", j->account,
                           "role_arn", j->role_arn, "detail",
                           "the role already trusts the rotation's pending external ID instead "
                           "of the current one; the IDs are swapped when the stack's Update "
                           "arrives",
                           NULL);
        record(j, XACCT_REVERIFY_SECURE, "", next);
        return;
    case XACCT_CHECK_INSECURE:
        snprintf(why, sizeof(why), "re-verification: %s", detail ? detail : "insecure");
        record(j, XACCT_REVERIFY_DRIFTED, why, next);
        return;
    case XACCT_CHECK_NOT_ASSUMABLE:
        snprintf(why, sizeof(why), "%s%s",
                 "re-verification: the role can no longer be assumed with the external ID: "
                 "it was deleted, or its trust policy no longer allows the partner account "
                 "with this sts:ExternalId",
                 j->pending_id[0] ? " (nor with the rotation's pending one)" : "");
        record(j, XACCT_REVERIFY_DRIFTED, why, next);
        return;
    case XACCT_CHECK_ERROR:
    case XACCT_CHECK_TRANSIENT: {
        /* Nothing is known about the role: try again sooner than a whole
         * interval, and change nothing. */
        XACCT_LOG_WARN(&r->ctx->log, "reverify.unknown", "account", j->account, "result",
                       xacct_check_result_name(result), "detail", detail ? detail : "",
                       "action", "checking again later", NULL);
        long retry = interval < TRANSIENT_RETRY_MAX_S ? interval : TRANSIENT_RETRY_MAX_S;
        record(j, XACCT_REVERIFY_UNKNOWN, "", xacct_reverify_next_due(now, retry, 0.5));
        return;
    }
    case XACCT_CHECK_CANCELED:
        /* Shutting down: due now, for another worker. */
        record(j, XACCT_REVERIFY_UNKNOWN, "", now);
        return;
    }
}

static void start_job(xacct_reverifier_t *r, const xacct_reverify_item_t *it)
{
    job_t *j = xacct_calloc(1, sizeof(*j));
    j->r = r;
    snprintf(j->account, sizeof(j->account), "%s", it->account_id);
    j->role_arn = xacct_strdup(it->role_arn);
    j->external_id = xacct_strdup(it->external_id);
    j->pending_id = xacct_strdup(it->pending_external_id ? it->pending_external_id : "");
    j->next = r->jobs;
    if (r->jobs != NULL)
        r->jobs->prev = j;
    r->jobs = j;
    r->running++;

    uint64_t prop = (uint64_t)cfg(r)->check_propagation_timeout * 1000;
    uint64_t tenth = (uint64_t)cfg(r)->check_reverify_interval * 100;
    if (prop > tenth)
        prop = tenth;
    if (prop > PROPAGATION_MAX_MS)
        prop = PROPAGATION_MAX_MS;
    /* Nothing waits for a re-verification: when STS is unavailable, give up
     * soon and try again later rather than hold a check open. */
    uint64_t deadline = (uint64_t)cfg(r)->check_reverify_interval * 500;
    if (deadline > CHECK_DEADLINE_MS)
        deadline = CHECK_DEADLINE_MS;
    if (deadline < CHECK_DEADLINE_MIN_MS)
        deadline = CHECK_DEADLINE_MIN_MS;
    xacct_check_params_t p = {
        .role_arn = j->role_arn,
        .external_id = j->external_id,
        .region = xacct_region_valid(it->region) ? it->region : NULL,
        .session_name = "xacct-reverify",
        .propagation_timeout_ms = prop,
        .deadline_ms = uv_now(r->ctx->loop) + deadline,
        .pending_external_id = j->pending_id,
        .trusted = &j->trusted,
    };
    int rc = xacct_check_start(r->ctx->loop, r->ctx->aws, &p, on_check, j, &j->check);
    if (rc != 0) {
        j->check = NULL;
        on_check(XACCT_CHECK_ERROR, xacct_strerror(rc), 0, j);
    }
}

/* ---- taking due accounts ----------------------------------------------- */

static void on_taken(int status, const char *detail, const xacct_reverify_item_t *items,
                     size_t n, int64_t next_due_ms, void *arg)
{
    xacct_reverifier_t *r = arg;
    r->store_ops--;
    r->taking = false;
    if (r->stopped) {
        /* Taken just before the stop: their lease brings them back. */
        maybe_free(r);
        return;
    }
    if (status != 0) {
        XACCT_LOG_WARN(&r->ctx->log, "reverify.take_failed", "error", xacct_errname(status),
                       "detail", detail ? detail : "", NULL);
        arm(r, STORE_ERROR_RETRY_MS);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        r->tokens -= 1.0;
        start_job(r, &items[i]);
    }
    if (r->stopped)
        return;
    int64_t now = xacct_store_now_ms();
    if (next_due_ms >= 0 && next_due_ms <= now) {
        /* More are due: as soon as the bucket allows. */
        arm(r, ms_to_next_token(r));
        return;
    }
    uint64_t sleep = IDLE_MAX_MS;
    uint64_t interval_ms = (uint64_t)cfg(r)->check_reverify_interval * 1000;
    if (interval_ms > 0 && interval_ms < sleep)
        sleep = interval_ms;
    if (next_due_ms > now && (uint64_t)(next_due_ms - now) < sleep)
        sleep = (uint64_t)(next_due_ms - now);
    arm(r, sleep);
}

/* Once per start, connected customers missing from the schedule (activated
 * before re-verification existed) are put on it, a batch at a time. */
static void on_enrolled(int status, const char *detail, long long n, long long next, void *arg)
{
    xacct_reverifier_t *r = arg;
    r->store_ops--;
    r->enrolling = false;
    if (r->stopped) {
        maybe_free(r);
        return;
    }
    if (status != 0) {
        XACCT_LOG_WARN(&r->ctx->log, "reverify.enrol_failed", "error", xacct_errname(status),
                       "detail", detail ? detail : "", NULL);
        arm(r, STORE_ERROR_RETRY_MS);
        return;
    }
    r->enrol_total += n;
    r->enrol_cursor = next;
    if (next == 0) {
        r->enrolled = true;
        char total[32];
        snprintf(total, sizeof(total), "%lld", r->enrol_total);
        XACCT_LOG_INFO(&r->ctx->log, "reverify.enrolled", "accounts", total, NULL);
    }
    arm(r, 0);
}

static bool enrol_step(xacct_reverifier_t *r)
{
    if (r->enrolled || r->enrolling)
        return false;
    if (xacct_reverify_enrol_missing(r->ctx->store, r->enrol_cursor, ENROL_BATCH,
                                     cfg(r)->check_reverify_interval, on_enrolled, r) != 0)
        return false;
    r->enrolling = true;
    r->store_ops++;
    return true;
}

static void on_tick(uv_timer_t *t)
{
    xacct_reverifier_t *r = xacct_container_of(t, xacct_reverifier_t, timer);
    if (r->stopped || r->taking)
        return;
    if (cfg(r)->check_reverify_interval <= 0) {
        arm(r, OFF_RECHECK_MS);
        return;
    }
    if (!xacct_store_is_up(r->ctx->store)) {
        arm(r, STORE_DOWN_RETRY_MS);
        return;
    }
    if (enrol_step(r) || r->enrolling)
        return; /* its reply arms the timer again */
    refill(r);
    unsigned cap = max_running(r);
    if (r->running >= cap)
        return; /* the next recorded outcome arms the timer */
    if (r->tokens < 1.0) {
        arm(r, ms_to_next_token(r));
        return;
    }
    size_t want = (size_t)r->tokens;
    if (want > cap - r->running)
        want = cap - r->running;
    int64_t now = xacct_store_now_ms();
    int64_t lease = (int64_t)cfg(r)->check_reverify_interval * 1000;
    if (lease < LEASE_MIN_MS)
        lease = LEASE_MIN_MS;
    int rc = xacct_reverify_take(r->ctx->store, now, want, now + lease, on_taken, r);
    if (rc != 0) {
        arm(r, STORE_DOWN_RETRY_MS);
        return;
    }
    r->taking = true;
    r->store_ops++;
}

/* ---- lifecycle ----------------------------------------------------------- */

int xacct_reverifier_start(xacct_ctx_t *ctx, xacct_reverifier_t **out)
{
    *out = NULL;
    if (ctx == NULL || ctx->store == NULL || ctx->aws == NULL)
        return XACCT_EINVAL;
    xacct_reverifier_t *r = xacct_calloc(1, sizeof(*r));
    r->ctx = ctx;
    r->refill_ms = uv_now(ctx->loop);
    r->tokens = 1.0;
    uv_timer_init(ctx->loop, &r->timer);
    /* The first take waits a moment so that a starting worker answers its
     * messages first. */
    arm(r, 1000);
    *out = r;
    return 0;
}

void xacct_reverifier_stop(xacct_reverifier_t *r)
{
    if (r == NULL || r->stopped)
        return;
    r->stopped = true;
    uv_timer_stop(&r->timer);
    /* Cancelling fires on_check at once, which hands the account back; a
     * job's record may also free it, so read next first. */
    job_t *next;
    for (job_t *j = r->jobs; j != NULL; j = next) {
        next = j->next;
        if (j->check != NULL) {
            xacct_check_t *c = j->check;
            j->check = NULL;
            xacct_check_cancel(c);
        }
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    xacct_reverifier_t *r = xacct_container_of((uv_timer_t *)h, xacct_reverifier_t, timer);
    r->timer_closed = true;
    maybe_free(r);
}

void xacct_reverifier_free(xacct_reverifier_t *r)
{
    if (r == NULL || r->freeing)
        return;
    xacct_reverifier_stop(r);
    r->freeing = true;
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

unsigned xacct_reverifier_running(const xacct_reverifier_t *r)
{
    return r != NULL ? r->running : 0;
}
